/*
 * step.c - weight penalties, gradient noise, clipping, L1's proximal step and constraints, as
 * ops on the collated parameter and gradient buffers (no host round trip inside a step).
 */
#include "train/step.h"
#include "nn/embedding.h"
#include "core/rng.h"

#include <string.h>

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

static size_t layer_tensors(const struct clann_layer *l, struct tensor t[2])
{
    if (!clann__layer_is_dense(l))
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

/* The noise stream of the gradients or weights at this step: a stream per purpose, an offset
 * per step, so that every device adds the same noise. */
static struct clann_rng_key step_key(const struct clann_model *m, uint32_t which)
{
    struct clann_rng_key key = {m->cp.seed, clann__rng_stream(CLANN__RNG_STREAM_STEP_NOISE, which),
                                m->step * (uint64_t)m->n_params};
    return key;
}

static enum clann_status add_noise_trainable(struct clann_model *m, struct clann_buf *buf,
                                             float stddev, uint32_t which)
{
    struct clann_rng_key key = step_key(m, which);
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        key.offset = m->step * (uint64_t)m->n_params + l->w_off;
        if (l->n_trainable)
            st = m->be->ops->add_noise(m->be, at(buf, l->w_off), l->n_trainable, key, stddev);
    }
    return st;
}

enum clann_status clann__step_perturb_weights(struct clann_model *m, float stddev)
{
    return add_noise_trainable(m, &m->params, stddev, 1);
}

static enum clann_status add_l2_grads(struct clann_model *m)
{
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n && st == CLANN_OK; k++) {
            if (t[k].reg.l2 > 0.0f)
                st = m->be->ops->axpy(m->be, t[k].rows * t[k].cols, t[k].reg.l2,
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
    enum clann_status st = m->be->ops->sum_squares(m->be, g, n, scratch, 0.0f);
    return st ? st : m->be->ops->clip_by_norm(m->be, g, n, scratch, max_norm);
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
    enum clann_status st = be->ops->sum_squares(be, at(&m->grads, 0), m->n_params, scratch, 0.0f);
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = be->ops->sum_squares(be, g, n, scratch, 1.0f);
    if (st == CLANN_OK)
        st = be->ops->clip_by_norm(be, at(&m->grads, 0), m->n_params, scratch, max_norm);
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = be->ops->clip_by_norm(be, g, n, scratch, max_norm);
    return st;
}

/* Clipping by value, per tensor (each kernel, bias, batch-norm vector and embedding table) and
 * by global norm, in that order when combined. */
static enum clann_status clip_grads(struct clann_model *m, const struct clann_fit_params *p)
{
    enum clann_status st = CLANN_OK;
    struct clann_view g;
    if (p->clip_value > 0.0f)
        st = m->be->ops->clip_by_value(m->be, at(&m->grads, 0), m->n_params, p->clip_value);
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK && p->clip_value > 0.0f; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = m->be->ops->clip_by_value(m->be, g, n, p->clip_value);
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK && p->clip_norm > 0.0f; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (clann__layer_is_dense(l)) {
            st = clip_range(m, l->w_off, l->in * l->out, p->clip_norm);
            if (st == CLANN_OK && l->n_trainable > l->in * l->out)
                st = clip_range(m, l->b_off, l->n_trainable - l->in * l->out, p->clip_norm);
        } else if (l->n_trainable) {
            st = clip_range(m, l->w_off, l->out, p->clip_norm);
            if (st == CLANN_OK)
                st = clip_range(m, l->b_off, l->out, p->clip_norm);
        }
    }
    for (size_t k = 0, n; k < m->n_emb && st == CLANN_OK && p->clip_norm > 0.0f; k++)
        if ((n = clann__embedding_grad(m, k, &g)) > 0)
            st = clip_view(m, g, n, p->clip_norm);
    if (st == CLANN_OK && p->clip_global_norm > 0.0f)
        st = clip_global(m, p->clip_global_norm);
    return st;
}

enum clann_status clann__step_prepare_grads(struct clann_model *m,
                                            const struct clann_fit_params *p)
{
    enum clann_status st = add_l2_grads(m);
    if (st == CLANN_OK && p->gradient_noise > 0.0f)
        st = add_noise_trainable(m, &m->grads, p->gradient_noise, 2);
    return st ? st : clip_grads(m, p);
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
static enum clann_status batchnorm_commit(struct clann_model *m, const struct clann_layer *l)
{
    return m->be->ops->moving_average(m->be, at(&m->params, l->b_off + l->out),
                                      at(&m->acts, l->bn_off), 2 * l->out, l->momentum,
                                      m->opt.guard);
}

enum clann_status clann__step_after_update(struct clann_model *m)
{
    struct clann_backend *be = m->be;
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        if (m->layers[i].kind == CLANN__LAYER_BATCHNORM)
            st = batchnorm_commit(m, &m->layers[i]);
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n && st == CLANN_OK; k++) {
            struct clann_view w = at(&m->params, t[k].off);
            if (t[k].reg.l1 > 0.0f)
                st = be->ops->soft_threshold(be, w, t[k].rows * t[k].cols,
                                             m->opt.lr * t[k].reg.l1, m->opt.guard);
            if (st == CLANN_OK && t[k].con.kind != CLANN_CONSTRAINT_NONE) {
                struct clann_constraint_op op = constraint_op(&t[k].con);
                st = be->ops->constrain(be, &op, w, t[k].rows, t[k].cols, m->opt.guard);
            }
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
            st = m->be->ops->sum_squares(m->be, w, count, at(&m->scalars, slot), 0.0f);
            if (st == CLANN_OK)
                st = m->be->ops->sum_abs(m->be, w, count, at(&m->scalars, slot + 1), 0.0f);
        }
    }
    float *sums = clann__calloc(4 * m->n_layers, sizeof *sums);
    if (!sums)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "penalty: out of memory");
    if (st == CLANN_OK)
        st = m->be->ops->download(m->be, sums, at(&m->scalars, base), 4 * m->n_layers);
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        struct tensor t[2];
        for (size_t k = 0, n = layer_tensors(&m->layers[i], t); k < n; k++)
            *out += 0.5 * t[k].reg.l2 * sums[4 * i + 2 * k] + t[k].reg.l1 * sums[4 * i + 2 * k + 1];
    }
    clann__free(sums);
    return st;
}
