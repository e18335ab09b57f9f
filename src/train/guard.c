/*
 * guard.c - the NaN trap guard and the per-layer training monitors.
 *
 * The guard needs no host round trip: each step sums the batch loss and the squared gradients
 * on the device, guard_check raises a device flag when either is not finite, and the
 * optimizer step reads that flag and changes nothing. The host reads the flag once per epoch.
 * Monitors are written into a device buffer every N steps and read once per epoch as well.
 */
#include "train/guard.h"
#include "train/runlog.h"
#include "core/kinds.h"
#include "nn/batch.h"
#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/sampled.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

enum clann_status clann__monitors_setup(struct clann_model *m, struct clann_trainer *t,
                                        size_t every, size_t steps)
{
    t->monitor_used = 0;
    size_t cap = steps / every + 1;
    if (t->monitor_buf.ptr && t->monitor_cap >= cap)
        return CLANN_OK;
    clann__buf_destroy(&t->monitor_buf);
    clann__free(t->monitor_steps);
    clann__free(t->monitor_rows);
    t->monitor_cap = cap;
    t->monitor_steps = clann__malloc(cap * sizeof *t->monitor_steps);
    t->monitor_rows = clann__malloc(cap * sizeof *t->monitor_rows);
    if (!t->monitor_steps || !t->monitor_rows)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "monitors: out of memory");
    enum clann_status st = clann__buf_create(m->be, cap * 4 * m->n_layers, &t->monitor_buf);
    if (st == CLANN_OK && !t->backup.ptr)
        st = clann__buf_create(m->be, m->params.n, &t->backup);
    return st;
}

bool clann__monitor_due(const struct clann_trainer *t, size_t every)
{
    return every && t->monitor_buf.ptr && (t->step + 1) % every == 0 &&
           t->monitor_used < t->monitor_cap;
}

/* The four floats of layer i in the current sample. */
static size_t sample_slot(const struct clann_model *m, const struct clann_trainer *t, size_t i)
{
    return (t->monitor_used * m->n_layers + i) * 4;
}

enum clann_status clann__monitor_before_update(struct clann_model *m, struct clann_trainer *t,
                                               size_t rows)
{
    struct clann_backend *be = m->be;
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        size_t s = sample_slot(m, t, i);
        /* Sampled softmax's output layer holds the candidates' logits alone: no zero count. */
        if (i + 1 == m->n_layers && clann__sampled_active(m, true))
            st = clann__op_fill(be, at(&t->monitor_buf, s), 1, NAN);
        else
            st = clann__op_count_zero(be, at(&m->acts, l->y_off), rows * l->out,
                                     at(&t->monitor_buf, s), 0.0f);
        if (st == CLANN_OK && l->n_trainable)
            st = clann__op_sum_squares(be, at(&m->grads, l->w_off), l->n_trainable,
                                      at(&t->monitor_buf, s + 1), 0.0f);
        if (st == CLANN_OK && l->n_trainable)
            st = clann__op_sum_squares(be, at(&m->params, l->w_off), l->n_trainable,
                                      at(&t->monitor_buf, s + 2), 0.0f);
    }
    if (st == CLANN_OK)
        st = clann__op_copy(be, at(&t->backup, 0), at(&m->params, 0), m->n_params);
    t->monitor_steps[t->monitor_used] = t->step + 1;
    t->monitor_rows[t->monitor_used] = rows;
    return st;
}

enum clann_status clann__monitor_after_update(struct clann_model *m, struct clann_trainer *t)
{
    struct clann_backend *be = m->be;
    /* backup = w_before - w_after, then its norm per layer. */
    enum clann_status st = clann__op_axpy(be, m->n_params, -1.0f, at(&m->params, 0),
                                         at(&t->backup, 0));
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (l->n_trainable)
            st = clann__op_sum_squares(be, at(&t->backup, l->w_off), l->n_trainable,
                                      at(&t->monitor_buf, sample_slot(m, t, i) + 3), 0.0f);
    }
    t->monitor_used++;
    return st;
}

static void sample_to_layers(const struct clann_model *m, const float *raw, size_t rows,
                             struct clann_layer_monitor *out)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct clann_layer *l = &m->layers[i];
        const float *v = raw + 4 * i;
        out[i].layer = i;
        out[i].zero_fraction = v[0] / (double)(rows * l->out);
        out[i].grad_norm = l->n_trainable ? sqrt(v[1]) : NAN;
        out[i].weight_norm = l->n_trainable ? sqrt(v[2]) : NAN;
        out[i].update_ratio = l->n_trainable && v[2] > 0 ? sqrt(v[3]) / sqrt(v[2]) : NAN;
    }
}

enum clann_status clann__monitor_flush(struct clann_model *m, struct clann_trainer *t,
                                       size_t epoch, clann_monitor_fn fn, void *user,
                                       struct clann_runlog *log)
{
    size_t n = t->monitor_used * m->n_layers * 4;
    if (n == 0)
        return CLANN_OK;
    float *raw = clann__malloc(n * sizeof *raw);
    struct clann_layer_monitor *layers = clann__malloc(m->n_layers * sizeof *layers);
    enum clann_status st = raw && layers ? clann__op_download(m->be, raw, at(&t->monitor_buf, 0), n)
                                         : clann__error(m->ctx, CLANN_ERR_NO_MEMORY,
                                                        "monitors: out of memory");
    for (size_t k = 0; k < t->monitor_used && st == CLANN_OK; k++) {
        uint64_t step = t->monitor_steps[k];
        sample_to_layers(m, raw + k * m->n_layers * 4, t->monitor_rows[k], layers);
        if (fn)
            fn(step, layers, m->n_layers, user);
        if (log)
            st = clann__runlog_monitor(log, epoch, step, layers);
    }
    t->monitor_used = 0;
    clann__free(raw);
    clann__free(layers);
    return st;
}

/* The batch variance of a batch normalization layer (after its mean in acts): a value that
 * overflowed to infinity leaves the loss and gradients finite (1/stddev becomes 0) but would
 * make the running variance infinite for good. Summed as absolute values: squares of a large
 * but finite variance could overflow where the variance itself does not. */
static enum clann_status guard_batchnorm(struct clann_model *m, const struct clann_layer *l,
                                         struct clann_view flag, float mark)
{
    struct clann_view scratch = at(&m->scalars, CLANN__SCALAR_SCRATCH);
    size_t c = clann__layer_channels(l);
    enum clann_status st = clann__op_sum_abs(m->be, at(&m->acts, l->bn_off + c), c, scratch,
                                             0.0f);
    return st == CLANN_OK ? clann__op_guard_check(m->be, scratch, flag, mark) : st;
}

enum clann_status clann__guard_step(struct clann_model *m, struct clann_trainer *t, size_t rows,
                                    bool skip)
{
    struct clann_backend *be = m->be;
    struct clann_view flag = at(&m->scalars, CLANN__SCALAR_GUARD);
    struct clann_view scratch = at(&m->scalars, CLANN__SCALAR_SCRATCH);
    struct clann_view batch = at(&m->scalars, CLANN__SCALAR_BATCH);
    float mark = skip ? 1.0f : (float)(t->step + 1);
    (void)rows; /* the batch loss is already summed by clann__batch_loss */
    /* With no embedding or batch-norm checks to follow, the batch loss joins the epoch's in the
     * same call (two launches for the whole guard on OpenCL instead of five). */
    bool more = m->n_emb > 0;
    for (size_t i = 0; i < m->n_layers; i++)
        more = more || m->layers[i].kind == CLANN__LAYER_BATCHNORM;
    struct clann_view loss = at(&m->scalars, CLANN__SCALAR_LOSS), none = {NULL, 0};
    /* Skip mode marks each step afresh, except that once the skips in a row passed the
     * allowance (the stop mark) every later step is skipped too: training ends at that step. */
    enum clann_status st = skip ? clann__op_copy(be, flag, at(&m->scalars, CLANN__SCALAR_SKIP_STOP),
                                                 1)
                                : CLANN_OK;
    if (st == CLANN_OK)
        st = clann__op_guard_grads(be, at(&m->grads, 0), m->n_params, scratch, batch, flag, mark,
                                   more ? none : loss);
    struct clann_view g;
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0 &&
            (st = clann__op_sum_squares(be, g, n, scratch, 0.0f)) == CLANN_OK)
            st = clann__op_guard_check(be, scratch, flag, mark);
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++)
        if (m->layers[i].kind == CLANN__LAYER_BATCHNORM)
            st = guard_batchnorm(m, &m->layers[i], flag, mark);
    if (st == CLANN_OK && more)
        st = clann__op_accumulate_unless(be, batch, loss, flag);
    t->guard = flag;
    return st;
}

enum clann_status clann__guard_skip_count(struct clann_model *m, struct clann_trainer *t,
                                          size_t allowed)
{
    return clann__op_guard_skip(m->be, at(&m->scalars, CLANN__SCALAR_GUARD),
                                at(&m->scalars, CLANN__SCALAR_SKIPS),
                                at(&m->scalars, CLANN__SCALAR_SKIP_STOP), (float)allowed,
                                (float)t->step);
}

enum clann_status clann__guard_read(struct clann_model *m, uint64_t *bad_step,
                                    uint64_t *skip_stop)
{
    float v[4]; /* guard, skips in a row, batch loss, skip stop */
    struct clann_view flags = at(&m->scalars, CLANN__SCALAR_GUARD);
    enum clann_status st = clann__op_download(m->be, v, flags, 4);
    if (st == CLANN_OK)
        st = clann__op_fill(m->be, flags, 4, 0.0f);
    *bad_step = st == CLANN_OK ? (uint64_t)v[0] : 0;
    *skip_stop = st == CLANN_OK ? (uint64_t)v[3] : 0;
    return st;
}

/* The first non-finite value among n floats of view v, or false. */
static bool has_nonfinite(struct clann_model *m, struct clann_view v, size_t n, float *buf)
{
    if (clann__op_download(m->be, buf, v, n) != CLANN_OK)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(buf[i]))
            return true;
    }
    return false;
}

/* The name of the first embedding table whose gradient rows hold a non-finite value, or NULL. */
static const char *nonfinite_table(struct clann_model *m)
{
    const char *bad = NULL;
    struct clann_view g;
    for (size_t k = 0, n; k < m->n_emb && !bad; k++) {
        if ((n = clann__embedding_grad(m, k, &g)) == 0)
            continue;
        float *buf = clann__malloc(n * sizeof *buf);
        if (buf && has_nonfinite(m, g, n, buf))
            bad = m->emb[k].f->name;
        clann__free(buf);
    }
    return bad;
}

/* The L2 norm of n floats at v (downloaded into buf), in double: it stays finite where the
 * float sum of squares the guard computes overflows. */
static double norm_of(struct clann_model *m, struct clann_view v, size_t n, float *buf)
{
    if (clann__op_download(m->be, buf, v, n) != CLANN_OK)
        return NAN;
    double ss = 0.0;
    for (size_t i = 0; i < n; i++)
        ss += (double)buf[i] * buf[i];
    return sqrt(ss);
}

/* Every value finite, yet a sum the guard takes overflowed: the batch loss, or the squared
 * norm of the gradients (past FLT_MAX, about 1.8e19 for a norm). Names the exploding part: the
 * loss with the output layer, or the gradient of the first layer (from the output back) whose
 * own squared norm overflows, else the layer with the largest gradient norm. */
static bool name_explosion(struct clann_model *m, float *tmp, char *buf, size_t size)
{
    float batch;
    size_t last = m->n_layers - 1;
    if (clann__op_download(m->be, &batch, at(&m->scalars, CLANN__SCALAR_BATCH), 1) == CLANN_OK &&
        !isfinite(batch)) {
        snprintf(buf, size, "the loss summed over the batch overflows: the outputs of layer %zu "
                 "(%s) are far too large for the labels", last,
                 clann__kind_name(&clann__layer_kinds, m->layers[last].kind));
        return true;
    }
    size_t largest = SIZE_MAX;
    double largest_norm = 0.0;
    for (size_t i = m->n_layers; i-- > 0;) {
        const struct clann_layer *l = &m->layers[i];
        double n = l->n_trainable ? norm_of(m, at(&m->grads, l->w_off), l->n_trainable, tmp) : 0;
        if ((float)(n * n) == INFINITY) {
            snprintf(buf, size, "the gradient of layer %zu (%s) explodes: norm %.3g, beyond "
                     "float range when squared", i,
                     clann__kind_name(&clann__layer_kinds, l->kind), n);
            return true;
        }
        if (n > largest_norm)
            largest = i, largest_norm = n;
    }
    if (largest == SIZE_MAX)
        return false;
    snprintf(buf, size, "the gradients' global norm overflows; the largest is layer %zu's (%s), "
             "norm %.3g", largest, clann__kind_name(&clann__layer_kinds, m->layers[largest].kind),
             largest_norm);
    return true;
}

/* Replays the bad step's batch at the weights before it, layer by layer: first the outputs,
 * then the loss, then the gradients from the output back. */
void clann__guard_diagnose(struct clann_model *m, const struct clann_matrix *x,
                           const struct clann_matrix *y, const size_t *order, size_t first,
                           size_t rows, uint64_t bad_step, char *buf, size_t size)
{
    size_t widest = m->n_inputs;
    for (size_t i = 0; i < m->n_layers; i++)
        widest = m->layers[i].out > widest ? m->layers[i].out : widest;
    float *tmp = clann__malloc(rows * widest * sizeof *tmp + m->n_params * sizeof *tmp + 4);
    snprintf(buf, size, "no layer could be named");
    uint64_t step = bad_step - 1; /* the same dropout masks and noise as the bad step */
    struct clann_view pred;
    if (!tmp || clann__upload_batch(m, x, y, order, first, rows) != CLANN_OK ||
        (clann__sampled_active(m, true) &&
         clann__sampled_prepare(m, rows, NULL, 0, step) != CLANN_OK) ||
        clann__model_forward(m, rows, true, step, &pred) != CLANN_OK)
        goto out;
    if (has_nonfinite(m, at(&m->input, 0), rows * m->n_inputs, tmp)) {
        snprintf(buf, size, "the batch's input features");
        goto out;
    }
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (l->kind == CLANN__LAYER_BATCHNORM &&
            has_nonfinite(m, at(&m->acts, l->bn_off), 2 * clann__layer_channels(l), tmp)) {
            snprintf(buf, size, "the batch mean or variance of layer %zu (batchnorm): its "
                     "input is too large", i);
            goto out;
        }
        size_t width = i + 1 == m->n_layers && clann__sampled_active(m, true) ? m->n_cand
                                                                                : l->out;
        if (has_nonfinite(m, clann__layer_y(m, i), rows * width, tmp)) {
            snprintf(buf, size, "the output of layer %zu (%s)", i,
                     clann__kind_name(&clann__layer_kinds, l->kind));
            goto out;
        }
    }
    if (clann__batch_loss(m, pred, rows, clann__layer_dy(m, m->n_layers - 1)) != CLANN_OK ||
        clann__model_backward(m, rows, step) != CLANN_OK)
        goto out;
    if (has_nonfinite(m, at(&m->row_loss, 0), rows, tmp)) {
        snprintf(buf, size, "the loss (labels or outputs out of range)");
        goto out;
    }
    for (size_t i = m->n_layers; i-- > 0;) {
        const struct clann_layer *l = &m->layers[i];
        const char *table = l->kind == CLANN__LAYER_FEATURES ? nonfinite_table(m) : NULL;
        if (table) {
            snprintf(buf, size, "the gradient of embedding table '%s' (layer %zu)", table, i);
            goto out;
        }
        if (l->n_trainable && has_nonfinite(m, at(&m->grads, l->w_off), l->n_trainable, tmp)) {
            snprintf(buf, size, "the gradient of layer %zu (%s)", i,
                     clann__kind_name(&clann__layer_kinds, l->kind));
            goto out;
        }
    }
    name_explosion(m, tmp, buf, size);
out:
    clann__free(tmp);
}
