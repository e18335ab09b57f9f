/*
 * init.c - weight initialization on the device from the counter-based generator, so that the
 * same seed gives the same initial weights on every backend.
 */
#include "nn/model.h"
#include "core/rng.h"

#include <math.h>

static bool relu_family(enum clann__act_kind k)
{
    return k == CLANN__ACT_RELU || k == CLANN__ACT_LEAKY_RELU || k == CLANN__ACT_PRELU ||
           k == CLANN__ACT_RRELU || k == CLANN__ACT_RELU6 || k == CLANN__ACT_ELU;
}

static enum clann_status init_fill(struct clann_model *m, struct clann_view v, size_t n,
                                   struct clann_init init, size_t fan_in, size_t fan_out,
                                   struct clann_rng_key key)
{
    struct clann_backend *be = m->be;
    double fan_avg = (double)(fan_in + fan_out);
    switch (init.kind) {
    case CLANN_INIT_ZEROS:
        return clann__op_fill(be, v, n, 0.0f);
    case CLANN_INIT_CONSTANT:
        return clann__op_fill(be, v, n, init.a);
    case CLANN_INIT_UNIFORM:
        return clann__op_rng_uniform(be, v, n, key, init.a, init.b);
    case CLANN_INIT_NORMAL:
        return clann__op_rng_normal(be, v, n, key, init.a, init.b);
    case CLANN_INIT_GLOROT_UNIFORM: {
        float l = (float)sqrt(6.0 / fan_avg);
        return clann__op_rng_uniform(be, v, n, key, -l, l);
    }
    case CLANN_INIT_GLOROT_NORMAL:
        return clann__op_rng_normal(be, v, n, key, 0.0f, (float)sqrt(2.0 / fan_avg));
    case CLANN_INIT_HE_UNIFORM: {
        float l = (float)sqrt(6.0 / (double)fan_in);
        return clann__op_rng_uniform(be, v, n, key, -l, l);
    }
    case CLANN_INIT_HE_NORMAL:
        return clann__op_rng_normal(be, v, n, key, 0.0f, (float)sqrt(2.0 / (double)fan_in));
    case CLANN_INIT_DEFAULT:
        break;
    }
    return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "unknown initializer %d", (int)init.kind);
}

/* Batch normalization starts as the identity on standardized data: gamma 1, beta 0, running
 * mean 0, running variance 1. */
static enum clann_status init_batchnorm(struct clann_model *m, const struct clann_layer *l)
{
    const float values[4] = {1.0f, 0.0f, 0.0f, 1.0f};
    size_t c = clann__layer_channels(l);
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < 4 && st == CLANN_OK; k++)
        st = clann__op_fill(m->be, clann__view(&m->params, l->w_off + k * c), c, values[k]);
    return st;
}

enum clann_status clann__model_init_params(struct clann_model *m)
{
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (l->kind == CLANN__LAYER_BATCHNORM)
            st = init_batchnorm(m, l);
        if (l->kind != CLANN__LAYER_DENSE && l->kind != CLANN__LAYER_CONV2D)
            continue;
        /* a convolution's fans count its window: C kh kw in, filters kh kw out (Keras) */
        size_t window = l->kind == CLANN__LAYER_CONV2D ? l->geom.kernel_h * l->geom.kernel_w : 1;
        size_t fan_in = l->kind == CLANN__LAYER_CONV2D ? l->geom.channels * window : l->in;
        size_t fan_out = l->dense.units * window, n_kernel = fan_in * l->dense.units;
        struct clann_init kinit = l->dense.kernel_init;
        if (kinit.kind == CLANN_INIT_DEFAULT)
            kinit.kind = relu_family(l->act.kind) ? CLANN_INIT_HE_UNIFORM
                                                  : CLANN_INIT_GLOROT_UNIFORM;
        struct clann_rng_key key = {m->cp.seed,
                                    clann__rng_stream(CLANN__RNG_STREAM_INIT, (uint32_t)i), 0};
        st = init_fill(m, clann__view(&m->params, l->w_off), n_kernel, kinit, fan_in, fan_out,
                       key);
        if (st == CLANN_OK && l->dense.use_bias) {
            struct clann_init binit = l->dense.bias_init;
            if (binit.kind == CLANN_INIT_DEFAULT)
                binit.kind = CLANN_INIT_ZEROS;
            key.offset = (uint64_t)n_kernel; /* continue the layer's stream */
            st = init_fill(m, clann__view(&m->params, l->b_off), l->dense.units, binit, fan_in,
                           fan_out, key);
        }
        if (st == CLANN_OK && l->act.kind == CLANN__ACT_PRELU)
            st = clann__op_fill(m->be, clann__view(&m->params, l->prelu_off), l->out,
                                  l->act.alpha);
    }
    return st;
}
