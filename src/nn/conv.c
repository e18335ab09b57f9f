/*
 * conv.c - image layers: conv2d, max and average pooling, flatten.
 *
 * conv2d is im2col + a GEMM per image, all in one strided-batched GEMM: with K = C kh kw and
 * P = out_h out_w, image n's window matrix col_n (K x P, acts at col_off) gives z_n = W col_n
 * (F x P, already NCHW), then the per-channel bias and the fused activation over the whole row.
 * Backward: dz = dy act'(z), db = channel sums of dz, dW = sum_n dz_n col_n^T (the summed
 * batch, images in order, so the sum is deterministic), dcol_n = W^T dz_n (dacts at col_off)
 * and dx = col2im(dcol). A layer costs a fixed number of launches a step, whatever the batch
 * (a GEMM per image was 3 x batch launches, which dominated on OpenCL). Pooling is one op
 * each way; flatten copies. Each layer's geometry is fixed when it is added, from the shape of
 * the layer before (docs/architecture.md, "Adding things").
 */
#include "nn/conv.h"
#include "nn/embedding.h"
#include "backend/ops.h"
#include "core/rng.h"

#include <string.h>

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

static struct clann_view none(void)
{
    return clann__view(NULL, 0);
}

/* ---------------------------------------------------------------------------------------------
 * Building.
 */

CLANN_API enum clann_status clann_model_set_input_shape(struct clann_model *m, size_t channels,
                                                        size_t height, size_t width)
{
    size_t hw, chw;
    if (!m)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "set_input_shape: model is NULL");
    if (m->n_layers || m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE,
                            "set_input_shape: the input shape comes before the first layer");
    if (!clann__mul_size(height, width, &hw) || !clann__mul_size(channels, hw, &chw) ||
        chw != m->n_inputs || chw == 0)
        return clann__error(m->ctx, CLANN_ERR_SHAPE,
                            "set_input_shape: %zu x %zu x %zu is not the model's %zu inputs",
                            channels, height, width, m->n_inputs);
    m->in_shape[0] = channels;
    m->in_shape[1] = height;
    m->in_shape[2] = width;
    return CLANN_OK;
}

CLANN_API struct clann_conv2d_params clann_conv2d_default_params(size_t filters, size_t kernel,
                                                                 enum clann_activation activation)
{
    struct clann_conv2d_params p;
    memset(&p, 0, sizeof p);
    p.filters = filters;
    p.kernel_h = p.kernel_w = kernel;
    p.stride = p.dilation = 1;
    p.same = true;
    p.activation = activation;
    p.use_bias = true;
    p.kernel_init.kind = CLANN_INIT_DEFAULT;
    p.bias_init.kind = CLANN_INIT_ZEROS;
    return p;
}

/* The input image of the next layer, or an error naming `op` when the model's output so far is
 * flat. */
static enum clann_status input_image(struct clann_model *m, const char *op, size_t shape[3])
{
    const size_t *s = clann__model_shape(m);
    if (s[0] == 0)
        return clann__error(m->ctx, CLANN_ERR_SHAPE,
                            "%s: its input is not an image (call clann_model_set_input_shape() "
                            "first, and put image layers before flatten and dense)",
                            op);
    memcpy(shape, s, 3 * sizeof *shape);
    return CLANN_OK;
}

/* Output sizes (out_h, out_w >= 1) that fit the activation sizes in size_t; fills l's shape,
 * in and out. */
static enum clann_status set_output(struct clann_model *m, const char *op, struct clann_layer *l,
                                    size_t channels)
{
    const struct clann_conv_geom *g = &l->geom;
    size_t hw, out, col;
    if (g->out_h == 0 || g->out_w == 0)
        return clann__error(m->ctx, CLANN_ERR_SHAPE,
                            "%s: a %zux%zu window (dilation %zu) does not fit the %zux%zu input",
                            op, g->kernel_h, g->kernel_w, g->dilation, g->height, g->width);
    if (!clann__mul_size(g->out_h, g->out_w, &hw) || !clann__mul_size(hw, channels, &out) ||
        !clann__mul_size(g->channels * g->kernel_h, g->kernel_w, &col) ||
        !clann__mul_size(col, hw, &col) || out > UINT32_MAX || col > UINT32_MAX)
        return clann__error(m->ctx, CLANN_ERR_TOO_LARGE, "%s: the layer's output is too large",
                            op);
    l->in = clann__model_width(m);
    l->out = out;
    l->shape[0] = channels;
    l->shape[1] = g->out_h;
    l->shape[2] = g->out_w;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_add_conv2d(struct clann_model *m,
                                                   const struct clann_conv2d_params *p)
{
    if (!m || !p)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "add_conv2d: NULL argument");
    size_t stride = p->stride ? p->stride : 1, dilation = p->dilation ? p->dilation : 1;
    if (p->filters == 0 || p->kernel_h == 0 || p->kernel_w == 0 || p->kernel_h > 1024 ||
        p->kernel_w > 1024 || stride > 1024 || dilation > 1024 ||
        (unsigned)p->activation >= CLANN__ACT_COUNT || p->activation == CLANN_ACTIVATION_PRELU ||
        p->activation == CLANN_ACTIVATION_SOFTMAX)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG,
                            "add_conv2d: need filters and kernel sizes >= 1 (kernel, stride and "
                            "dilation <= 1024) and an element-wise activation (not PReLU or "
                            "softmax)");
    size_t in[3];
    enum clann_status st = input_image(m, "add_conv2d", in);
    if (st != CLANN_OK)
        return st;
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_CONV2D;
    l.same = p->same;
    clann__conv_geom_init(&l.geom, 0, in[0], in[1], in[2], p->kernel_h, p->kernel_w, stride,
                          dilation, p->same);
    st = set_output(m, "add_conv2d", &l, p->filters);
    if (st != CLANN_OK)
        return st;
    l.dense = clann_dense_default_params(p->filters, p->activation);
    l.dense.alpha = p->alpha;
    l.dense.use_bias = p->use_bias;
    l.dense.kernel_init = p->kernel_init;
    l.dense.bias_init = p->bias_init;
    l.act.kind = (enum clann__act_kind)p->activation;
    l.act.alpha = p->alpha != 0.0f                                 ? p->alpha
                  : p->activation == CLANN_ACTIVATION_LEAKY_RELU ? 0.01f
                  : p->activation == CLANN_ACTIVATION_ELU        ? 1.0f
                                                                 : 0.0f;
    l.act.lower = l.dense.rrelu_lower;
    l.act.upper = l.dense.rrelu_upper;
    return clann__model_push_layer(m, &l);
}

static enum clann_status add_pool(struct clann_model *m, enum clann__layer_kind kind,
                                  const char *op, size_t size, size_t stride)
{
    if (!m)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: model is NULL", op);
    if (size == 0 || size > 1024 || stride > 1024)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG,
                            "%s: the window size must be in 1..1024 and the stride <= 1024", op);
    size_t in[3];
    enum clann_status st = input_image(m, op, in);
    if (st != CLANN_OK)
        return st;
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = kind;
    clann__conv_geom_init(&l.geom, 0, in[0], in[1], in[2], size, size, stride ? stride : size,
                          1, false);
    st = set_output(m, op, &l, in[0]);
    return st != CLANN_OK ? st : clann__model_push_layer(m, &l);
}

CLANN_API enum clann_status clann_model_add_max_pool2d(struct clann_model *m, size_t size,
                                                       size_t stride)
{
    return add_pool(m, CLANN__LAYER_MAX_POOL2D, "add_max_pool2d", size, stride);
}

CLANN_API enum clann_status clann_model_add_avg_pool2d(struct clann_model *m, size_t size,
                                                       size_t stride)
{
    return add_pool(m, CLANN__LAYER_AVG_POOL2D, "add_avg_pool2d", size, stride);
}

CLANN_API enum clann_status clann_model_add_flatten(struct clann_model *m)
{
    if (!m)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "add_flatten: model is NULL");
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_FLATTEN;
    l.in = l.out = clann__model_width(m);
    return clann__model_push_layer(m, &l); /* shape stays 0: flat */
}

CLANN_API enum clann_status clann_model_layer_shape(const struct clann_model *m, size_t i,
                                                    size_t *width, size_t shape[3],
                                                    size_t *params, size_t *trainable)
{
    if (!m || i >= m->n_layers || !width)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "layer_shape: no layer %zu", i);
    const struct clann_layer *l = &m->layers[i];
    *width = l->out;
    if (shape)
        memcpy(shape, l->shape, 3 * sizeof *shape);
    /* before compile the offsets are not laid out: count what layout() will */
    size_t k = l->geom.channels * l->geom.kernel_h * l->geom.kernel_w, n = 0, t = 0;
    if (l->kind == CLANN__LAYER_DENSE || l->kind == CLANN__LAYER_CONV2D) {
        size_t units = l->dense.units;
        n = t = (l->kind == CLANN__LAYER_DENSE ? l->in : k) * units +
                (l->dense.use_bias ? units : 0) + (l->act.kind == CLANN__ACT_PRELU ? units : 0);
    } else if (l->kind == CLANN__LAYER_BATCHNORM) { /* per channel of an image */
        n = 4 * clann__layer_channels(l);
        t = 2 * clann__layer_channels(l);
    } else if (l->kind == CLANN__LAYER_FEATURES && m->features) {
        for (size_t j = 0; j < clann__features_n_tables(m->features); j++) {
            const struct clann__feature *c = clann__features_table(m->features, j);
            n += c->n_ids * c->dim;
            t += c->trainable ? c->n_ids * c->dim : 0; /* frozen tables are not trained */
        }
    }
    if (params)
        *params = n;
    if (trainable)
        *trainable = l->frozen ? 0 : t;
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Passes.
 */

/* The layer's random stream for RReLU, as layers.c keys it (stream per layer, offset per step). */
static struct clann_act conv_act(const struct clann_model *m, size_t i, bool training,
                                 uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_act act = l->act;
    act.training = training;
    act.rng.seed = m->cp.seed;
    act.rng.stream = clann__rng_stream(CLANN__RNG_STREAM_RRELU, (uint32_t)i);
    act.rng.offset = step * (uint64_t)m->cp.max_batch * l->out;
    return act;
}

static enum clann_status conv2d_forward(struct clann_model *m, size_t i, struct clann_view x,
                                        size_t rows, bool training, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    struct clann_conv_geom g = l->geom;
    g.batch = rows;
    size_t f = l->dense.units, k = g.channels * g.kernel_h * g.kernel_w, p = g.out_h * g.out_w;
    struct clann_view z = at(&m->acts, l->z_off), w = at(&m->params, l->w_off);
    struct clann_gemm_batch per_image = {rows, 0, k * p, f * p}; /* W shared */
    enum clann_status st = clann__op_im2col(be, &g, x, at(&m->acts, l->col_off));
    if (st == CLANN_OK)
        st = clann__op_gemm_batched(be, false, false, f, p, k, 1.0f, w, k,
                                    at(&m->acts, l->col_off), p, 0.0f, z, p, &per_image);
    if (st == CLANN_OK && l->dense.use_bias)
        st = clann__op_channel_bias(be, z, at(&m->params, l->b_off), rows, f, p);
    struct clann_act act = conv_act(m, i, training, step);
    if (st == CLANN_OK)
        st = clann__op_bias_act_forward(be, &act, z, none(), none(), at(&m->acts, l->y_off),
                                        rows, l->out);
    return st;
}

static enum clann_status conv2d_backward(struct clann_model *m, size_t i, struct clann_view dx,
                                         size_t rows, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    struct clann_conv_geom g = l->geom;
    g.batch = rows;
    size_t f = l->dense.units, k = g.channels * g.kernel_h * g.kernel_w, p = g.out_h * g.out_w;
    struct clann_view dy = at(&m->dacts, l->y_off), dz = at(&m->dacts, l->z_off);
    struct clann_act act = conv_act(m, i, true, step);
    enum clann_status st = CLANN_OK;
    if (act.kind != CLANN__ACT_LINEAR)
        st = clann__op_act_backward(be, &act, at(&m->acts, l->z_off), at(&m->acts, l->y_off),
                                    dy, none(), dz, rows, l->out);
    else
        dz = dy;
    bool grads = !l->frozen; /* a frozen layer passes the gradient on, computing none */
    if (st == CLANN_OK && grads && l->dense.use_bias)
        st = clann__op_channel_sum(be, dz, rows, f, p, at(&m->grads, l->b_off), 0.0f);
    struct clann_gemm_batch summed = {rows, f * p, k * p, 0}, per_image = {rows, 0, f * p, k * p};
    if (st == CLANN_OK && grads)
        st = clann__op_gemm_batched(be, false, true, f, k, p, 1.0f, dz, p,
                                    at(&m->acts, l->col_off), p, 0.0f, at(&m->grads, l->w_off),
                                    k, &summed);
    if (!dx.buf)
        return st;
    if (st == CLANN_OK)
        st = clann__op_gemm_batched(be, true, false, k, p, f, 1.0f, at(&m->params, l->w_off), k,
                                    dz, p, 0.0f, at(&m->dacts, l->col_off), p, &per_image);
    return st == CLANN_OK ? clann__op_col2im(be, &g, at(&m->dacts, l->col_off), dx) : st;
}

enum clann_status clann__conv_forward(struct clann_model *m, size_t i, struct clann_view x,
                                      size_t rows, bool training, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_view y = at(&m->acts, l->y_off);
    struct clann_conv_geom g = l->geom;
    g.batch = rows;
    switch (l->kind) {
    case CLANN__LAYER_CONV2D: return conv2d_forward(m, i, x, rows, training, step);
    case CLANN__LAYER_MAX_POOL2D: return clann__op_pool2d_forward(m->be, &g, true, x, y);
    case CLANN__LAYER_AVG_POOL2D: return clann__op_pool2d_forward(m->be, &g, false, x, y);
    default: return clann__op_copy(m->be, y, x, rows * l->out); /* flatten */
    }
}

enum clann_status clann__conv_backward(struct clann_model *m, size_t i, struct clann_view x,
                                       struct clann_view dx, size_t rows, uint64_t step)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_view dy = at(&m->dacts, l->y_off);
    struct clann_conv_geom g = l->geom;
    g.batch = rows;
    if (l->kind == CLANN__LAYER_CONV2D)
        return conv2d_backward(m, i, dx, rows, step);
    if (!dx.buf)
        return CLANN_OK; /* nothing upstream needs this gradient */
    switch (l->kind) {
    case CLANN__LAYER_MAX_POOL2D: return clann__op_pool2d_backward(m->be, &g, true, x, dy, dx);
    case CLANN__LAYER_AVG_POOL2D: return clann__op_pool2d_backward(m->be, &g, false, x, dy, dx);
    default: return clann__op_copy(m->be, dx, dy, rows * l->out); /* flatten */
    }
}
