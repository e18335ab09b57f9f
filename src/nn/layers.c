/*
 * layers.c - the forward and backward passes of every layer kind, as sequences of backend ops.
 *
 * Dense: z = x W (+ b fused with the activation), y = act(z); backward: dz = dy act'(z),
 * db = sum_rows dz, dW = x^T dz, dx = dz W^T. Activation layers read their input as z.
 * Dropout and noise draw from the layer's own random stream at an offset set by the optimizer
 * step, so the backward pass regenerates the same mask and every device draws the same one.
 * Batch normalization keeps the batch mean and inverse deviation for its backward pass.
 */
#include "nn/model.h"
#include "nn/conv.h"
#include "nn/embedding.h"
#include "nn/sampled.h"
#include "core/rng.h"

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

static struct clann_view none(void)
{
    return clann__view(NULL, 0);
}

struct clann_view clann__layer_y(struct clann_model *m, size_t i)
{
    return at(&m->acts, m->layers[i].y_off);
}

struct clann_view clann__layer_dy(struct clann_model *m, size_t i)
{
    return at(&m->dacts, m->layers[i].y_off);
}

/* The random stream of layer i at a step: stream per layer and purpose, offset per step so
 * that no two steps share numbers, and by the batch's first global row (data parallelism) so
 * that a row draws the same numbers whichever rank computes it. */
static struct clann_rng_key layer_key(const struct clann_model *m, size_t i,
                                      enum clann__rng_stream purpose, uint64_t step)
{
    struct clann_rng_key key;
    key.seed = m->cp.seed;
    key.stream = clann__rng_stream(purpose, (uint32_t)i);
    const struct clann_layer *l = &m->layers[i];
    size_t draws = l->spatial ? clann__layer_channels(l) : l->out; /* per row */
    key.offset = (step * (uint64_t)m->cp.max_batch + m->batch_row0) * draws;
    return key;
}

static struct clann_act layer_act(const struct clann_model *m, size_t i, bool training,
                                  uint64_t step)
{
    struct clann_act act = m->layers[i].act;
    act.training = training;
    act.rng = layer_key(m, i, CLANN__RNG_STREAM_RRELU, step);
    return act;
}

static enum clann_status dense_forward(struct clann_model *m, size_t i, struct clann_view x,
                                       size_t rows, bool training, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    struct clann_view z = at(&m->acts, l->z_off), y = at(&m->acts, l->y_off);
    enum clann_status st = clann__op_gemm(be, false, false, rows, l->out, l->in, 1.0f, x, l->in,
                                         at(&m->params, l->w_off), l->out, 0.0f, z, l->out);
    if (st != CLANN_OK)
        return st;
    struct clann_act act = layer_act(m, i, training, step);
    struct clann_view bias = l->dense.use_bias ? at(&m->params, l->b_off) : none();
    struct clann_view prelu = act.kind == CLANN__ACT_PRELU ? at(&m->params, l->prelu_off) : none();
    return clann__op_bias_act_forward(be, &act, z, bias, prelu, y, rows, l->out);
}

static enum clann_status batchnorm_forward(struct clann_model *m, size_t i, struct clann_view x,
                                           size_t rows, bool training)
{
    const struct clann_layer *l = &m->layers[i];
    size_t c = clann__layer_channels(l);
    if (training && clann__batchnorm_dist(m)) /* the global batch's statistics */
        return clann__batchnorm_dist_forward(m, i, x, rows);
    return clann__op_batchnorm_forward(m->be, x, at(&m->acts, l->y_off), rows, c,
                                       clann__layer_spatial(l), at(&m->params, l->w_off),
                                       at(&m->params, l->b_off), at(&m->acts, l->bn_off),
                                       at(&m->params, l->b_off + c), l->eps, training);
}

/* The values a dropout draw keeps or drops together: a channel's H W (spatial dropout) or one. */
static size_t dropout_spatial(const struct clann_layer *l)
{
    return l->spatial ? clann__layer_spatial(l) : 1;
}

/* Dropout and noise layers: random in training, the identity at inference. */
static enum clann_status random_forward(struct clann_model *m, size_t i, struct clann_view x,
                                        size_t rows, bool training, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    struct clann_view y = at(&m->acts, l->y_off);
    size_t n = rows * l->out;
    if (!training || l->rate == 0.0f)
        return clann__op_copy(be, y, x, n);
    if (l->kind == CLANN__LAYER_DROPOUT)
        return clann__op_dropout(be, x, y, n, dropout_spatial(l), l->rate,
                                layer_key(m, i, CLANN__RNG_STREAM_DROPOUT, step));
    enum clann_status st = clann__op_copy(be, y, x, n);
    struct clann_rng_key key = layer_key(m, i, CLANN__RNG_STREAM_NOISE, step);
    return st ? st : clann__op_add_noise(be, y, n, key, l->rate);
}

enum clann_status clann__model_forward(struct clann_model *m, size_t rows, bool training,
                                       uint64_t step, struct clann_view *out)
{
    struct clann_backend *be = m->be;
    struct clann_view x = at(&m->input, 0);
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        struct clann_view y = at(&m->acts, l->y_off);
        if (l->kind == CLANN__LAYER_FEATURES) {
            st = clann__features_forward(m, i, x, rows);
        } else if (i + 1 == m->n_layers && clann__sampled_active(m, training)) {
            st = clann__sampled_forward(m, i, x, rows);
        } else if (l->kind == CLANN__LAYER_DENSE) {
            st = dense_forward(m, i, x, rows, training, step);
        } else if (clann__is_image_layer(l->kind)) {
            st = clann__conv_forward(m, i, x, rows, training, step);
        } else if (l->kind == CLANN__LAYER_ACTIVATION) {
            struct clann_act act = layer_act(m, i, training, step);
            st = clann__op_bias_act_forward(be, &act, x, none(), none(), y, rows, l->out);
        } else if (l->kind == CLANN__LAYER_BATCHNORM) {
            st = batchnorm_forward(m, i, x, rows, training && !l->frozen); /* Keras' semantics */
        } else {
            st = random_forward(m, i, x, rows, training, step);
        }
        x = y;
    }
    *out = x;
    return st;
}

/* dx = dz W^T */
static enum clann_status dense_dx(struct clann_model *m, const struct clann_layer *l,
                                  struct clann_view dz, struct clann_view dx, size_t rows)
{
    return clann__op_gemm(m->be, false, true, rows, l->in, l->out, 1.0f, dz, l->out,
                          at(&m->params, l->w_off), l->out, 0.0f, dx, l->in);
}

static enum clann_status dense_backward(struct clann_model *m, size_t i, struct clann_view x,
                                        struct clann_view dx, size_t rows, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    struct clann_view z = at(&m->acts, l->z_off), y = at(&m->acts, l->y_off);
    struct clann_view dy = at(&m->dacts, l->y_off), dz = at(&m->dacts, l->z_off);
    struct clann_act act = layer_act(m, i, true, step);
    struct clann_view prelu = act.kind == CLANN__ACT_PRELU ? at(&m->params, l->prelu_off) : none();
    enum clann_status st = CLANN_OK;
    if (act.kind != CLANN__ACT_LINEAR)
        st = clann__op_act_backward(be, &act, z, y, dy, prelu, dz, rows, l->out);
    else
        dz = dy;
    if (l->frozen) /* only the gradient of the input, for the trained layers below */
        return st == CLANN_OK && dx.buf ? dense_dx(m, l, dz, dx, rows) : st;
    if (st == CLANN_OK && act.kind == CLANN__ACT_PRELU)
        st = clann__op_prelu_grad(be, z, dy, at(&m->grads, l->prelu_off), rows, l->out, 0.0f);
    if (st == CLANN_OK && l->dense.use_bias)
        st = clann__op_col_sum(be, dz, rows, l->out, at(&m->grads, l->b_off), 0.0f);
    if (st == CLANN_OK)
        st = clann__op_gemm(be, true, false, l->in, l->out, rows, 1.0f, x, l->in, dz, l->out,
                           0.0f, at(&m->grads, l->w_off), l->out);
    if (st == CLANN_OK && dx.buf)
        st = dense_dx(m, l, dz, dx, rows);
    return st;
}

/* A frozen batch norm runs in inference mode, an affine map per column: dx = dy gamma /
 * sqrt(running variance + eps). That is its inference forward pass applied to dy with a zero
 * mean and a zero beta, laid out in its (unused) batch-statistics slots. */
static enum clann_status frozen_batchnorm_backward(struct clann_model *m,
                                                   const struct clann_layer *l,
                                                   struct clann_view dx, size_t rows)
{
    size_t c = clann__layer_channels(l);
    struct clann_view zeros_var = at(&m->acts, l->bn_off), zeros = at(&m->acts, l->bn_off + 2 * c);
    enum clann_status st = clann__op_fill(m->be, zeros_var, 3 * c, 0.0f);
    if (st == CLANN_OK)
        st = clann__op_copy(m->be, at(&m->acts, l->bn_off + c), at(&m->params, l->b_off + 2 * c), c);
    if (st == CLANN_OK)
        st = clann__op_batchnorm_forward(m->be, at(&m->dacts, l->y_off), dx, rows, c,
                                         clann__layer_spatial(l), at(&m->params, l->w_off),
                                         zeros, zeros_var, zeros_var, l->eps, false);
    return st;
}

size_t clann__model_first_trained(const struct clann_model *m)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (clann__layer_trains(l))
            return i;
        for (size_t k = 0; l->kind == CLANN__LAYER_FEATURES && !l->frozen && k < m->n_emb; k++)
            if (m->emb[k].f->trainable)
                return i;
    }
    return m->n_layers;
}

enum clann_status clann__model_backward(struct clann_model *m, size_t rows, uint64_t step)
{
    struct clann_backend *be = m->be;
    enum clann_status st = CLANN_OK;
    size_t first = clann__model_first_trained(m); /* frozen layers below it need nothing */
    for (size_t i = m->n_layers; i-- > first && st == CLANN_OK;) {
        const struct clann_layer *l = &m->layers[i];
        struct clann_view x = i ? at(&m->acts, m->layers[i - 1].y_off) : at(&m->input, 0);
        struct clann_view dx = i > first ? at(&m->dacts, m->layers[i - 1].y_off) : none();
        if (l->kind == CLANN__LAYER_BATCHNORM && !dx.buf) /* the op needs somewhere to write it */
            dx = i ? at(&m->dacts, m->layers[i - 1].y_off) : at(&m->dacts, m->dinput_off);
        struct clann_view y = at(&m->acts, l->y_off), dy = at(&m->dacts, l->y_off);
        if (l->kind == CLANN__LAYER_FEATURES) {
            st = clann__features_backward(m, i, rows); /* always first: no dx */
        } else if (i + 1 == m->n_layers && clann__sampled_active(m, true)) {
            st = clann__sampled_backward(m, i, x, dx, rows);
        } else if (l->kind == CLANN__LAYER_DENSE) {
            st = dense_backward(m, i, x, dx, rows, step);
        } else if (clann__is_image_layer(l->kind)) {
            st = clann__conv_backward(m, i, x, dx, rows, step);
        } else if (l->kind == CLANN__LAYER_BATCHNORM && l->frozen) {
            st = frozen_batchnorm_backward(m, l, dx, rows);
        } else if (l->kind == CLANN__LAYER_BATCHNORM && clann__batchnorm_dist(m)) {
            st = clann__batchnorm_dist_backward(m, i, x, dx, rows);
        } else if (l->kind == CLANN__LAYER_BATCHNORM) {
            size_t c = clann__layer_channels(l);
            st = clann__op_batchnorm_backward(
                be, x, dy, rows, c, clann__layer_spatial(l), at(&m->params, l->w_off),
                at(&m->acts, l->bn_off), at(&m->acts, l->bn_off + 2 * c), dx,
                at(&m->grads, l->w_off), at(&m->grads, l->b_off));
        } else if (!dx.buf) {
            continue; /* nothing upstream needs this gradient */
        } else if (l->kind == CLANN__LAYER_ACTIVATION) {
            struct clann_act act = layer_act(m, i, true, step);
            st = clann__op_act_backward(be, &act, x, y, dy, none(), dx, rows, l->out);
        } else if (l->kind == CLANN__LAYER_DROPOUT && l->rate > 0.0f) {
            st = clann__op_dropout(be, dy, dx, rows * l->out, dropout_spatial(l), l->rate,
                                  layer_key(m, i, CLANN__RNG_STREAM_DROPOUT, step));
        } else {
            st = clann__op_copy(be, dx, dy, rows * l->out); /* noise: identity gradient */
        }
        if (st == CLANN_OK && m->grads_ready)
            st = m->grads_ready(m, i, m->grads_ready_user);
    }
    return st;
}
