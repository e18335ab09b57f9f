/*
 * regularize.c - the network's weight penalties (L1, L2), gradient clipping, L1's proximal
 * step and weight constraints, as ops on the collated parameter and gradient buffers (no host
 * round trip inside a step). The trainer (src/train) decides when each runs.
 */
#include "nn/regularize.h"
#include "nn/batch.h"
#include "nn/embedding.h"

#include <math.h>

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

/* Each dense layer's two regularized tensors: the kernel and the bias. */
struct tensor {
    size_t off, rows, cols;
    struct clann_regularizer reg;
    struct clann_constraint_params con;
};

/* A frozen layer has none: its weights take no penalty, proximal step or constraint. */
static size_t layer_tensors(const struct clann_layer *l, struct tensor t[2])
{
    if (!clann__layer_is_dense(l) || l->frozen)
        return 0;
    t[0] = (struct tensor){l->w_off, l->in, l->out, l->dense.kernel_regularizer,
                           l->dense.kernel_constraint};
    if (!l->dense.use_bias)
        return 1;
    t[1] = (struct tensor){l->b_off, l->out, 1, l->dense.bias_regularizer,
                           l->dense.bias_constraint};
    return 2;
}

bool clann__has_penalty(const struct clann_model *m)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n; k++) {
            if (t[k].reg.l1 > 0.0f || t[k].reg.l2 > 0.0f)
                return true;
        }
    }
    return false;
}

enum clann_status clann__penalty_grads(struct clann_model *m)
{
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n && st == CLANN_OK; k++) {
            if (t[k].reg.l2 > 0.0f)
                st = clann__op_axpy(m->be, t[k].rows * t[k].cols, t[k].reg.l2,
                                      at(&m->params, t[k].off), at(&m->grads, t[k].off));
        }
    }
    return st;
}

/* Clips n gradients at g to L2 norm max_norm, through a device scalar. */
static enum clann_status clip_view(struct clann_model *m, struct clann_view g, size_t n,
                                   float max_norm)
{
    struct clann_view scratch = at(&m->scalars, CLANN__SCALAR_SCRATCH);
    enum clann_status st = clann__op_sum_squares(m->be, g, n, scratch, 0.0f);
    return st ? st : clann__op_clip_by_norm(m->be, g, n, scratch, max_norm);
}

static enum clann_status clip_range(struct clann_model *m, size_t off, size_t n, float max_norm)
{
    return clip_view(m, at(&m->grads, off), n, max_norm);
}

/* Global-norm clipping over the dense gradients and every table's. */
static enum clann_status clip_global(struct clann_model *m, float max_norm)
{
    struct clann_backend *be = m->be;
    struct clann_view scratch = at(&m->scalars, CLANN__SCALAR_SCRATCH), g;
    enum clann_status st = clann__op_sum_squares(be, at(&m->grads, 0), m->n_params, scratch, 0.0f);
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = clann__op_sum_squares(be, g, n, scratch, 1.0f);
    if (st == CLANN_OK)
        st = clann__op_clip_by_norm(be, at(&m->grads, 0), m->n_params, scratch, max_norm);
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = clann__op_clip_by_norm(be, g, n, scratch, max_norm);
    return st;
}

enum clann_status clann__clip_grads(struct clann_model *m, const struct clann__clip *p)
{
    enum clann_status st = CLANN_OK;
    struct clann_view g;
    if (p->value > 0.0f)
        st = clann__op_clip_by_value(m->be, at(&m->grads, 0), m->n_params, p->value);
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK && p->value > 0.0f; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = clann__op_clip_by_value(m->be, g, n, p->value);
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK && p->norm > 0.0f; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (l->frozen) {
            continue; /* its gradient is zero */
        } else if (clann__layer_is_dense(l)) {
            st = clip_range(m, l->w_off, l->in * l->out, p->norm);
            if (st == CLANN_OK && l->n_trainable > l->in * l->out)
                st = clip_range(m, l->b_off, l->n_trainable - l->in * l->out, p->norm);
        } else if (l->n_trainable) {
            st = clip_range(m, l->w_off, l->out, p->norm);
            if (st == CLANN_OK)
                st = clip_range(m, l->b_off, l->out, p->norm);
        }
    }
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK && p->norm > 0.0f; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = clip_view(m, g, n, p->norm);
    if (st == CLANN_OK && p->global_norm > 0.0f)
        st = clip_global(m, p->global_norm);
    return st;
}

static struct clann_constraint_op constraint_op(const struct clann_constraint_params *c)
{
    struct clann_constraint_op op = {(enum clann__constraint_kind)c->kind, c->min_value,
                                     c->max_value, c->rate};
    if (op.kind == CLANN__CONSTRAINT_MAX_NORM && op.max_value == 0.0f)
        op.max_value = 2.0f;
    if (op.kind == CLANN__CONSTRAINT_MIN_MAX_NORM && op.rate == 0.0f)
        op.rate = 1.0f;
    return op;
}

/* Folds the batch's mean and variance (adjacent in acts) into the running mean and variance
 * (adjacent in params) of a batch normalization layer. */
static enum clann_status batchnorm_commit(struct clann_model *m, const struct clann_layer *l,
                                          struct clann_view guard)
{
    size_t c = clann__layer_channels(l);
    return clann__op_moving_average(m->be, at(&m->params, l->b_off + c), at(&m->acts, l->bn_off),
                                    2 * c, l->momentum, guard);
}

/* L1's proximal step on the n weights at off, in the optimizer's own metric. Adaptive
 * optimizers scale each weight's step by 1 / (sqrt(v) + eps), v its second-moment estimate,
 * so a step of lr * l1 would be tiny next to theirs (Adam's steps are about lr whatever the
 * gradient's size). The step is instead lr * l1 / (sqrt(v + delta) + eps) per weight: the
 * proximal step in the preconditioned metric, delta counting the penalty's own squared
 * subgradient l1^2 in v as a Keras-style L1 gradient would be (so no weight moves further than
 * the optimizer's step bound, about lr, and a weight with no gradient still goes to 0 at that
 * rate). Adam: v bias-corrected as the update's (lr sqrt(1 - b2^t), eps_t; delta =
 * (1 - b2^t) l1^2; the step is not divided by 1 - b1^t: it does not go through m);
 * RMSprop: delta = l1^2; Adagrad's sum of squares: delta = t l1^2. SGD and momentum: lr * l1. */
static enum clann_status l1_step(struct clann_model *m, const struct clann_opt *o, size_t off,
                                 size_t n, float l1)
{
    struct clann_view w = at(&m->params, off), v = clann__view(NULL, 0);
    float threshold = o->lr * l1, delta = 0.0f, eps = o->eps;
    if (o->kind == CLANN__OPT_ADAM) {
        double c2 = 1.0 - pow((double)o->beta2, (double)o->step);
        v = at(&m->state2, off);
        threshold = (float)((double)o->lr * sqrt(c2)) * l1;
        delta = (float)(c2 * l1 * l1);
        eps = (float)((double)o->eps * sqrt(c2)); /* eps_t, as the update's */
    } else if (o->kind == CLANN__OPT_RMSPROP || o->kind == CLANN__OPT_ADAGRAD) {
        v = at(&m->state1, off);
        delta = (o->kind == CLANN__OPT_ADAGRAD ? (float)o->step : 1.0f) * l1 * l1;
    }
    return clann__op_soft_threshold(m->be, w, n, threshold, v, delta, eps, o->guard);
}

enum clann_status clann__model_after_update(struct clann_model *m, const struct clann_opt *opt)
{
    struct clann_backend *be = m->be;
    struct clann_view guard = opt->guard;
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        if (m->layers[i].kind == CLANN__LAYER_BATCHNORM && !m->layers[i].frozen)
            st = batchnorm_commit(m, &m->layers[i], guard);
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n && st == CLANN_OK; k++) {
            struct clann_view w = at(&m->params, t[k].off);
            if (t[k].reg.l1 > 0.0f)
                st = l1_step(m, opt, t[k].off, t[k].rows * t[k].cols, t[k].reg.l1);
            if (st == CLANN_OK && t[k].con.kind != CLANN_CONSTRAINT_NONE) {
                struct clann_constraint_op op = constraint_op(&t[k].con);
                st = clann__op_constrain(be, &op, w, t[k].rows, t[k].cols, guard);
            }
        }
    }
    return st;
}

/* A batch norm that trains: a frozen one runs in inference mode and keeps its statistics. */
static bool trained_batchnorm(const struct clann_layer *l)
{
    return l->kind == CLANN__LAYER_BATCHNORM && !l->frozen;
}

static bool has_batchnorm(const struct clann_model *m)
{
    for (size_t i = 0; i < m->n_layers; i++)
        if (trained_batchnorm(&m->layers[i]))
            return true;
    return false;
}

enum clann_status clann__batchnorm_refresh(struct clann_model *m, const struct clann_matrix *x,
                                           const size_t *order, size_t batch,
                                           size_t max_batches, uint64_t step)
{
    if (!has_batchnorm(m))
        return CLANN_OK;
    /* full batches only (a short one would weigh as much), unless there is none */
    size_t batches = x->rows >= batch ? x->rows / batch : 1;
    batches = batches < max_batches ? batches : max_batches;
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < batches && st == CLANN_OK; k++) {
        size_t rows = x->rows < batch ? x->rows : batch;
        struct clann_view pred;
        st = clann__upload_batch(m, x, NULL, order, k * batch, rows);
        if (st == CLANN_OK)
            st = clann__model_forward(m, rows, true, step, &pred);
        /* a batch with a non-finite mean or variance in any layer is left out */
        struct clann_view bad = at(&m->scalars, CLANN__SCALAR_REFRESH);
        struct clann_view sum = at(&m->scalars, CLANN__SCALAR_SCRATCH);
        if (st == CLANN_OK)
            st = clann__op_fill(m->be, bad, 1, 0.0f);
        for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
            const struct clann_layer *l = &m->layers[i];
            if (trained_batchnorm(l) &&
                (st = clann__op_sum_abs(m->be, at(&m->acts, l->bn_off),
                                        2 * clann__layer_channels(l), sum, 0.0f)) == CLANN_OK)
                st = clann__op_guard_check(m->be, sum, bad, 1.0f);
        }
        /* running = k/(k+1) running + 1/(k+1) batch: the mean over the batches so far */
        for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
            const struct clann_layer *l = &m->layers[i];
            size_t c = clann__layer_channels(l);
            if (trained_batchnorm(l))
                st = clann__op_moving_average(m->be, at(&m->params, l->b_off + c),
                                              at(&m->acts, l->bn_off), 2 * c,
                                              (float)k / (float)(k + 1), bad);
        }
    }
    return st;
}

enum clann_status clann__penalty(struct clann_model *m, double *out)
{
    *out = 0.0;
    if (!clann__has_penalty(m))
        return CLANN_OK;
    size_t base = CLANN__SCALAR_COUNT;
    enum clann_status st = CLANN_OK;
    /* Sums of squares and of |w| per tensor into the per-layer slots, then one download. */
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n && st == CLANN_OK; k++) {
            struct clann_view w = at(&m->params, t[k].off);
            size_t count = t[k].rows * t[k].cols, slot = base + 4 * i + 2 * k;
            st = clann__op_sum_squares(m->be, w, count, at(&m->scalars, slot), 0.0f);
            if (st == CLANN_OK)
                st = clann__op_sum_abs(m->be, w, count, at(&m->scalars, slot + 1), 0.0f);
        }
    }
    float *sums = clann__calloc(4 * m->n_layers, sizeof *sums);
    if (!sums)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "penalty: out of memory");
    if (st == CLANN_OK)
        st = clann__op_download(m->be, sums, at(&m->scalars, base), 4 * m->n_layers);
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n; k++)
            *out += 0.5 * t[k].reg.l2 * sums[4 * i + 2 * k] + t[k].reg.l1 * sums[4 * i + 2 * k + 1];
    }
    clann__free(sums);
    return st;
}
