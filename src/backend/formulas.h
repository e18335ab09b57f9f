/*
 * formulas.h - the element and row formulas of the activations and losses, in double. The CPU
 * reference backend reads its float buffers through them and rounds each result to float once;
 * the float64 gradient checks (tests/test-grad64.c) run the same code on double rows, so what
 * those checks verify is what the reference computes. The formulas themselves are written in
 * backend.h next to the kinds.
 *
 * A float read as double is exact, and each formula compares and computes in double only, so
 * calling these with float data gives the results cpu.c has always given, bit for bit.
 */
#ifndef CLANN_BACKEND_FORMULAS_H
#define CLANN_BACKEND_FORMULAS_H

#include "backend/backend.h"

#include <math.h>
#include <stdbool.h>
#include <stddef.h>

/* ---------------------------------------------------------------------------------------------
 * Rows. A row function reads a float row (the backends' storage) or a double row (the float64
 * checks) through one code path; exactly one pointer of a row is set. An output row with no
 * pointer set means "not wanted".
 */

struct clann__row {
    const float *f;
    const double *d;
};

struct clann__row_out {
    float *f;
    double *d;
};

static inline struct clann__row clann__row_f(const float *f)
{
    struct clann__row r = {f, NULL};
    return r;
}

static inline struct clann__row clann__row_d(const double *d)
{
    struct clann__row r = {NULL, d};
    return r;
}

static inline struct clann__row_out clann__out_f(float *f)
{
    struct clann__row_out o = {f, NULL};
    return o;
}

static inline struct clann__row_out clann__out_d(double *d)
{
    struct clann__row_out o = {NULL, d};
    return o;
}

static inline double clann__row_get(struct clann__row r, size_t i)
{
    return r.f ? (double)r.f[i] : r.d[i];
}

static inline bool clann__out_wanted(struct clann__row_out o)
{
    return o.f || o.d;
}

/* A float output is rounded here, once. */
static inline void clann__out_set(struct clann__row_out o, size_t i, double v)
{
    if (o.f)
        o.f[i] = (float)v;
    else if (o.d)
        o.d[i] = v;
}

/* ---------------------------------------------------------------------------------------------
 * Activations. ReLU-like functions take NaN through (z < 0 ? ... : z) so that a NaN input is
 * not silently turned into 0. `slope` is the z <= 0 slope of leaky ReLU, PReLU and RReLU,
 * chosen by the caller (alpha, the learned a[col], or the drawn or mean RReLU slope).
 */

static inline double clann__sigmoid(double z)
{
    /* exp of a non-positive argument only: no overflow for large |z|. */
    if (z >= 0.0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

static inline double clann__act_value(const struct clann_act *act, double z, double slope)
{
    switch (act->kind) {
    case CLANN__ACT_SIGMOID:
        return clann__sigmoid(z);
    case CLANN__ACT_TANH:
        return tanh(z);
    case CLANN__ACT_RELU:
        return z < 0.0 ? 0.0 : z;
    case CLANN__ACT_LEAKY_RELU:
    case CLANN__ACT_PRELU:
    case CLANN__ACT_RRELU:
        return z < 0.0 ? slope * z : z;
    case CLANN__ACT_RELU6:
        return z < 0.0 ? 0.0 : z > 6.0 ? 6.0 : z;
    case CLANN__ACT_ELU:
        return z > 0.0 ? z : act->alpha * expm1(z); /* expm1: exact near 0 */
    case CLANN__ACT_SOFTPLUS:
        /* log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, no cancellation. */
        return (z > 0.0 ? z : 0.0) + log1p(exp(-fabs(z)));
    default: /* linear; softmax is row-wise (clann__softmax_row) */
        return z;
    }
}

/* d act / d z; sigmoid and tanh use y, since y may alias z for them. At the kinks the z <= 0
 * side is taken (0 for ReLU, the slope for leaky/PReLU/RReLU, alpha for ELU; 0 for ReLU6 at
 * z = 6). */
static inline double clann__act_derivative(const struct clann_act *act, double z, double y,
                                           double slope)
{
    switch (act->kind) {
    case CLANN__ACT_SIGMOID:
        return y * (1.0 - y);
    case CLANN__ACT_TANH:
        return 1.0 - y * y;
    case CLANN__ACT_RELU:
        return z > 0.0 ? 1.0 : 0.0;
    case CLANN__ACT_LEAKY_RELU:
    case CLANN__ACT_PRELU:
    case CLANN__ACT_RRELU:
        return z > 0.0 ? 1.0 : slope;
    case CLANN__ACT_RELU6:
        return z > 0.0 && z < 6.0 ? 1.0 : 0.0;
    case CLANN__ACT_ELU:
        return z > 0.0 ? 1.0 : act->alpha * exp(z);
    case CLANN__ACT_SOFTPLUS:
        return clann__sigmoid(z);
    default: /* linear; softmax is row-wise (clann__softmax_backward_row) */
        return 1.0;
    }
}

/* Row maximum; a NaN after the first element is skipped, as the kernels do. */
static inline double clann__row_max(struct clann__row z, size_t cols)
{
    double max = clann__row_get(z, 0);
    for (size_t c = 1; c < cols; c++) {
        double v = clann__row_get(z, c);
        max = v > max ? v : max;
    }
    return max;
}

/* sum_c exp(z_c - max): every exponent is <= 0, so nothing overflows. */
static inline double clann__exp_sum(struct clann__row z, size_t cols, double max)
{
    double sum = 0.0;
    for (size_t c = 0; c < cols; c++)
        sum += exp(clann__row_get(z, c) - max);
    return sum;
}

/* Stable softmax of one row (cols >= 1). y may alias z: each z_c is read before y_c is set. */
static inline void clann__softmax_row(struct clann__row z, struct clann__row_out y, size_t cols)
{
    double max = clann__row_max(z, cols);
    double sum = clann__exp_sum(z, cols, max);
    for (size_t c = 0; c < cols; c++)
        clann__out_set(y, c, exp(clann__row_get(z, c) - max) / sum);
}

/* dz_c = y_c * (dy_c - sum_k dy_k y_k), the softmax Jacobian applied to dy. dz may alias dy. */
static inline void clann__softmax_backward_row(struct clann__row y, struct clann__row dy,
                                               struct clann__row_out dz, size_t cols)
{
    double dot = 0.0;
    for (size_t c = 0; c < cols; c++)
        dot += clann__row_get(dy, c) * clann__row_get(y, c);
    for (size_t c = 0; c < cols; c++)
        clann__out_set(dz, c, clann__row_get(y, c) * (clann__row_get(dy, c) - dot));
}

/* ---------------------------------------------------------------------------------------------
 * Losses. Elementwise kinds: clann__loss_element gives the loss of one element and its
 * derivative; the row loss is their mean over the columns. Softmax kinds work on the whole row
 * through log-sum-exp.
 */

static inline double clann__loss_element(const struct clann__loss *loss, double p, double y,
                                         double *d)
{
    double e = p - y, ae = fabs(e), sign = e > 0.0 ? 1.0 : e < 0.0 ? -1.0 : 0.0;
    double delta = loss->huber_delta;
    switch (loss->kind) {
    case CLANN__LOSS_MSE:
        *d = 2.0 * e;
        return e * e;
    case CLANN__LOSS_MAE:
        *d = sign;
        return ae;
    case CLANN__LOSS_HUBER:
        *d = ae <= delta ? e : delta * sign;
        return ae <= delta ? 0.5 * e * e : delta * (ae - 0.5 * delta);
    default: /* sigmoid CE on logit p; log1p(e^-|z|) keeps it finite for any z */
        *d = clann__sigmoid(p) - y;
        return (p > 0.0 ? p : 0.0) - p * y + log1p(exp(-fabs(p)));
    }
}

/* log(sum_c exp(z_c)), computed around the row maximum. */
static inline double clann__log_sum_exp(struct clann__row z, size_t cols)
{
    double max = clann__row_max(z, cols);
    return max + log(clann__exp_sum(z, cols, max));
}

/* Sparse labels are class indices stored as numbers: a label in [0, cols) is truncated to its
 * class; anything else (negative, >= cols, NaN) is invalid and gives cols. The bound is cols
 * rounded to float, the comparison the float kernels make. */
static inline size_t clann__sparse_label(double label, size_t cols)
{
    if (!(label >= 0.0 && label < (double)(float)cols))
        return cols;
    return (size_t)label;
}

/* Softmax cross-entropy of one row, one-hot (sparse) or soft labels; see clann__loss_row. */
static inline double clann__softmax_ce_row(bool sparse, struct clann__row p, struct clann__row y,
                                           size_t cols, struct clann__row_out g, double grad_scale)
{
    size_t label = sparse ? clann__sparse_label(clann__row_get(y, 0), cols) : 0;
    if (sparse && label == cols) {
        for (size_t c = 0; clann__out_wanted(g) && c < cols; c++)
            clann__out_set(g, c, 0.0);
        return NAN;
    }
    double lse = clann__log_sum_exp(p, cols), sum_y = 0.0, row = 0.0;
    for (size_t c = 0; c < cols; c++) {
        double yc = sparse ? (c == label ? 1.0 : 0.0) : clann__row_get(y, c);
        sum_y += yc;
        if (yc != 0.0) /* skips 0 * log(0) when a logit is far below the maximum */
            row -= yc * (clann__row_get(p, c) - lse);
    }
    /* d/dz_c of -sum_k y_k (z_k - lse) = softmax(z)_c * sum(y) - y_c */
    for (size_t c = 0; clann__out_wanted(g) && c < cols; c++) {
        double yc = sparse ? (c == label ? 1.0 : 0.0) : clann__row_get(y, c);
        clann__out_set(g, c, grad_scale * (exp(clann__row_get(p, c) - lse) * sum_y - yc));
    }
    return row;
}

/* NCE over one row of candidate logits p (backend.h): the sigmoid cross-entropy of the true
 * column `label` (target 1) plus those of the flagged columns (target 0), summed; the other
 * columns (other rows' true classes) take no part. Writes g as clann__loss_row does. */
static inline double clann__nce_row(struct clann__row p, double label, struct clann__row flags,
                                    size_t cols, struct clann__row_out g, double grad_scale)
{
    size_t k = clann__sparse_label(label, cols);
    double row = k == cols ? NAN : 0.0;
    for (size_t c = 0; c < cols; c++) {
        bool counted = k != cols && (c == k || clann__row_get(flags, c) != 0.0);
        struct clann__loss sigmoid = {CLANN__LOSS_SIGMOID_CE, 1.0f};
        double d = 0.0;
        if (counted)
            row += clann__loss_element(&sigmoid, clann__row_get(p, c), c == k ? 1.0 : 0.0, &d);
        clann__out_set(g, c, grad_scale * d);
    }
    return row;
}

/* Loss of one row of predictions p against labels y (one label per row for sparse softmax CE);
 * writes g_c = grad_scale * d loss / d p_c when g is wanted. g may alias p. An invalid sparse
 * label gives NaN and a zero gradient. NCE reads labels of two places: clann__nce_row. */
static inline double clann__loss_row(const struct clann__loss *loss, struct clann__row p,
                                     struct clann__row y, size_t cols, struct clann__row_out g,
                                     double grad_scale)
{
    if (loss->kind == CLANN__LOSS_SOFTMAX_CE || loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE)
        return clann__softmax_ce_row(loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE, p, y, cols, g,
                                     grad_scale);
    double row = 0.0;
    for (size_t c = 0; c < cols; c++) {
        double d;
        row += clann__loss_element(loss, clann__row_get(p, c), clann__row_get(y, c), &d);
        clann__out_set(g, c, grad_scale * d / (double)cols);
    }
    return row / (double)cols;
}

#endif /* CLANN_BACKEND_FORMULAS_H */
