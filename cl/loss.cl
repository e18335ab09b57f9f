/*
 * loss.cl - losses and classification counts of the clann OpenCL backend (formulas:
 * src/backend/backend.h).
 *
 * Kernels:
 *   loss           one work-item per row: row_loss[r] and, when has_grad, grad[r, :] =
 *                  grad_scale * d row_loss[r] / d pred[r, :]. Kinds: MSE, MAE, Huber,
 *                  sigmoid cross-entropy (logits), softmax cross-entropy (logits, label
 *                  distributions), sparse softmax cross-entropy (one class index per row; an
 *                  index outside [0, cols) gives NaN loss and a zero gradient row), NCE (the
 *                  row's true column, then one flag per column after the rows' labels).
 *   loss_batch     one work-group: loss, the sum of the row losses and count_correct in one
 *                  launch (the GPU forms, for batches up to LOSS_BATCH_MAX_ROWS rows).
 *   count_correct  one work-group: correct[0] = beta * correct[0] + number of rows whose
 *                  argmax (first on ties) equals the label (rule 0: the label row's argmax,
 *                  1: a class index), or (rule 2, multi-label) whose logits' signs all agree
 *                  with their 0/1 labels; cols == 1 is binary (logit > 0 against label >
 *                  0.5). Counts are exact integers in float, so the sum does not depend on
 *                  order.
 *
 * Defines: none.
 */
#include "common.clh"

/* Row r of the loss kernel: writes row_loss[r] (and the gradient row) and returns it. */
static float loss_row(__global const float *pred, ulong poff, __global const float *labels,
                      ulong loff, uint rows, uint cols, int kind, float delta,
                      __global float *row_loss,
                      ulong rloff, __global float *grad, ulong goff, int has_grad,
                      float grad_scale, size_t r)
{
    __global const float *p = pred + poff + r * cols;
    __global float *g = grad + goff + r * cols;
    float fc = (float)cols;
    float total = 0.0f;

    if (kind == LOSS_SOFTMAX_CE || kind == LOSS_SPARSE_SOFTMAX_CE) {
        float mx = p[0];
        for (uint c = 1; c < cols; c++)
            mx = p[c] > mx ? p[c] : mx;
        float se = 0.0f;
        for (uint c = 0; c < cols; c++)
            se += exp(p[c] - mx);
        float lse = mx + log(se);
        if (kind == LOSS_SPARSE_SOFTMAX_CE) {
            float lab = labels[loff + r];
            int valid = lab >= 0.0f && lab < fc;
            uint k = valid ? (uint)lab : 0u;
            total = valid ? lse - p[k] : NAN;
            if (has_grad) {
                for (uint c = 0; c < cols; c++) {
                    float d = exp(p[c] - lse) - (c == k ? 1.0f : 0.0f);
                    g[c] = valid ? grad_scale * d : 0.0f;
                }
            }
        } else {
            __global const float *y = labels + loff + r * cols;
            float ysum = 0.0f;
            for (uint c = 0; c < cols; c++) {
                total -= y[c] * (p[c] - lse);
                ysum += y[c];
            }
            if (has_grad) {
                for (uint c = 0; c < cols; c++)
                    g[c] = grad_scale * (exp(p[c] - lse) * ysum - y[c]);
            }
        }
        row_loss[rloff + r] = total;
        return total;
    }

    if (kind == LOSS_NCE) {
        float lab = labels[loff + r];
        int valid = lab >= 0.0f && lab < fc;
        uint k = valid ? (uint)lab : 0u;
        __global const float *flags = labels + loff + rows;
        for (uint c = 0; c < cols; c++) {
            float pv = p[c], yv = c == k ? 1.0f : 0.0f;
            int counted = valid && (c == k || flags[c] != 0.0f);
            if (counted)
                total += fmax(pv, 0.0f) - pv * yv + log1p(exp(-fabs(pv)));
            if (has_grad)
                g[c] = counted ? grad_scale * (stable_sigmoid(pv) - yv) : 0.0f;
        }
        total = valid ? total : NAN;
        row_loss[rloff + r] = total;
        return total;
    }

    __global const float *y = labels + loff + r * cols;
    for (uint c = 0; c < cols; c++) {
        float pv = p[c];
        float yv = y[c];
        float e = pv - yv;
        float l, d;
        switch (kind) {
        case LOSS_MAE:
            l = fabs(e);
            d = e > 0.0f ? 1.0f : e < 0.0f ? -1.0f : 0.0f;
            break;
        case LOSS_HUBER:
            if (fabs(e) <= delta) {
                l = 0.5f * e * e;
                d = e;
            } else {
                l = delta * (fabs(e) - 0.5f * delta);
                d = e > 0.0f ? delta : -delta;
            }
            break;
        case LOSS_SIGMOID_CE:
            l = fmax(pv, 0.0f) - pv * yv + log1p(exp(-fabs(pv)));
            d = stable_sigmoid(pv) - yv;
            break;
        default: /* MSE */
            l = e * e;
            d = 2.0f * e;
            break;
        }
        total += l;
        if (has_grad)
            g[c] = grad_scale * d / fc;
    }
    row_loss[rloff + r] = total / fc;
    return total / fc;
}

__kernel void loss(__global const float *pred, ulong poff, __global const float *labels,
                   ulong loff, uint rows, uint cols, int kind, float delta,
                   __global float *row_loss, ulong rloff, __global float *grad, ulong goff,
                   int has_grad, float grad_scale)
{
    size_t r = get_global_id(0);
    if (r < rows)
        loss_row(pred, poff, labels, loff, rows, cols, kind, delta, row_loss, rloff, grad, goff,
                 has_grad, grad_scale, r);
}

static uint row_argmax(__global const float *x, uint cols)
{
    uint best = 0;
    for (uint c = 1; c < cols; c++)
        if (x[c] > x[best])
            best = c;
    return best;
}

/* Whether row r's prediction is right by count_correct's rule (0 argmax, 1 sparse, 2 multilabel:
 * every logit's sign agrees with its 0/1 label). */
static int row_correct(__global const float *pred, ulong poff, __global const float *labels,
                       ulong loff, int rule, uint cols, size_t r)
{
    __global const float *p = pred + poff + r * cols;
    if (cols == 1)
        return (p[0] > 0.0f) == (labels[loff + r] > 0.5f);
    if (rule == 2) {
        __global const float *y = labels + loff + r * cols;
        int ok = 1;
        for (uint c = 0; c < cols; c++)
            ok = ok && (p[c] > 0.0f) == (y[c] > 0.5f);
        return ok;
    }
    if (rule == 1)
        return (float)row_argmax(p, cols) == labels[loff + r];
    return row_argmax(p, cols) == row_argmax(labels + loff + r * cols, cols);
}

__kernel void count_correct(__global const float *pred, ulong poff, __global const float *labels,
                            ulong loff, int rule, uint rows, uint cols,
                            __global float *correct, ulong coff, float beta,
                            __local float *scratch)
{
    size_t lid = get_local_id(0);
    uint count = 0;
    for (size_t r = lid; r < rows; r += get_local_size(0))
        count += row_correct(pred, poff, labels, loff, rule, cols, r) ? 1u : 0u;
    scratch[lid] = (float)count;
    local_tree_sum(scratch);
    if (lid == 0)
        correct[coff] = beta == 0.0f ? scratch[0] : beta * correct[coff] + scratch[0];
}

/* A batch's loss, its sum and its count in one launch (one work-group; the GPU forms' fusion of
 * loss, sum and count_correct): every row as the loss kernel; sum[0] = sum_beta * sum[0] + the
 * row losses summed by the fixed tree; when count, correct[0] += the rows count_correct counts. */
__kernel void loss_batch(__global const float *pred, ulong poff, __global const float *labels,
                         ulong loff, uint rows, uint cols, int kind, float delta,
                         __global float *row_loss, ulong rloff, __global float *grad, ulong goff,
                         int has_grad, float grad_scale, __global float *sum, ulong soff,
                         float sum_beta, int count, int rule, __global float *correct,
                         ulong coff, __local float *scratch)
{
    size_t lid = get_local_id(0);
    float acc = 0.0f;
    uint right = 0;
    for (size_t r = lid; r < rows; r += get_local_size(0)) {
        acc += loss_row(pred, poff, labels, loff, rows, cols, kind, delta, row_loss, rloff, grad,
                        goff, has_grad, grad_scale, r);
        if (count)
            right += row_correct(pred, poff, labels, loff, rule, cols, r) ? 1u : 0u;
    }
    scratch[lid] = acc;
    local_tree_sum(scratch);
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE); /* every item has read scratch[0] before it is reused */
    scratch[lid] = (float)right;
    local_tree_sum(scratch);
    if (lid == 0) {
        sum[soff] = sum_beta == 0.0f ? total : sum_beta * sum[soff] + total;
        if (count)
            correct[coff] += scratch[0];
    }
}
