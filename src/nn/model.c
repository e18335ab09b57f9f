/*
 * model.c - building a model: layers, compile (device memory and initialization), parameter
 * access, and the name lookups of activations and optimizers (tables: core/kinds.h).
 */
#include "nn/model.h"
#include "core/kinds.h"
#include "nn/embedding.h"
#include "nn/sampled.h"

#include <math.h>
#include <string.h>

CLANN_API const char *clann_activation_name(enum clann_activation a)
{
    return clann__kind_name(&clann__activation_kinds, (size_t)a);
}

CLANN_API bool clann_activation_from_name(const char *name, enum clann_activation *out)
{
    size_t v;
    if (!clann__kind_parse(&clann__activation_kinds, name, &v))
        return false;
    *out = (enum clann_activation)v;
    return true;
}

CLANN_API bool clann_optimizer_from_name(const char *name, enum clann_optimizer *out)
{
    size_t v;
    if (clann__kind_parse(&clann__optimizer_kinds, name, &v)) {
        *out = (enum clann_optimizer)v;
        return true;
    }
    if (name && strcmp(name, "nesterov") == 0) {
        *out = CLANN_OPTIMIZER_MOMENTUM;
        return true;
    }
    return false;
}

CLANN_API struct clann_optimizer_params clann_optimizer_default_params(enum clann_optimizer kind)
{
    struct clann_optimizer_params p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.learning_rate = kind == CLANN_OPTIMIZER_SGD || kind == CLANN_OPTIMIZER_MOMENTUM ? 0.01f
                                                                                      : 0.001f;
    p.momentum = kind == CLANN_OPTIMIZER_MOMENTUM ? 0.9f : 0.0f;
    p.beta1 = 0.9f;
    p.beta2 = 0.999f;
    p.epsilon = 1e-7f;
    p.rho = 0.9f;
    p.initial_accumulator = 0.1f;
    return p;
}

CLANN_API struct clann_compile_params clann_compile_default_params(enum clann_loss loss)
{
    struct clann_compile_params p;
    memset(&p, 0, sizeof p);
    p.loss = loss;
    p.huber_delta = 1.0f;
    p.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    p.max_batch = 128;
    p.seed = 42;
    p.num_sampled = 64;
    return p;
}

CLANN_API struct clann_dense_params clann_dense_default_params(size_t units,
                                                               enum clann_activation activation)
{
    struct clann_dense_params p;
    memset(&p, 0, sizeof p);
    p.units = units;
    p.activation = activation;
    p.use_bias = true;
    p.kernel_init.kind = CLANN_INIT_DEFAULT;
    p.bias_init.kind = CLANN_INIT_ZEROS;
    p.rrelu_lower = 1.0f / 8.0f;
    p.rrelu_upper = 1.0f / 3.0f;
    return p;
}

/* The activation constant a user left at 0 takes its documented default. */
static float default_alpha(enum clann_activation a, float alpha)
{
    if (alpha != 0.0f)
        return alpha;
    switch (a) {
    case CLANN_ACTIVATION_LEAKY_RELU: return 0.01f;
    case CLANN_ACTIVATION_PRELU: return 0.25f;
    case CLANN_ACTIVATION_ELU: return 1.0f;
    default: return 0.0f;
    }
}

CLANN_API enum clann_status clann_model_create(struct clann_context *ctx, size_t n_inputs,
                                               struct clann_model **out)
{
    if (!out)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "clann_model_create: out is NULL");
    *out = NULL;
    if (!ctx || n_inputs == 0)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG,
                            "clann_model_create: need a context and at least one input");
    struct clann_model *m = clann__calloc(1, sizeof *m);
    if (!m)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "model: out of memory");
    m->ctx = ctx;
    m->be = ctx->be;
    clann__context_retain(ctx); /* the context outlives its models (clann_context_destroy) */
    m->n_inputs = n_inputs;
    *out = m;
    return CLANN_OK;
}

CLANN_API void clann_model_destroy(struct clann_model *m)
{
    if (!m)
        return;
    /* Batches upload from the staging ring without waiting (batch.c): a step that failed after
     * its upload was queued leaves the copy in flight, so wait before freeing the ring. A
     * failure here leaves nothing better to do than to go on freeing. */
    if (m->be)
        (void)clann__op_finish(m->be);
    struct clann_buf *bufs[] = {&m->params,   &m->grads,   &m->state1, &m->state2,
                                &m->acts,     &m->dacts,   &m->input,  &m->labels,
                                &m->row_loss, &m->scalars};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        clann__buf_destroy(bufs[i]);
    clann__embedding_free(m);
    clann__free(m->in_scaler.a);
    clann__free(m->out_scaler.a);
    clann__sampled_free(m);
    if (m->trainer_free)
        m->trainer_free(m->trainer);
    clann__columns_free(m->columns);
    for (size_t i = 0; i < m->n_layers; i++)
        clann__free(m->layers[i].source_file);
    clann__training_free(&m->training);
    clann__free(m->staging_x_ring);
    clann__free(m->staging_y_ring);
    clann__free(m->layers);
    struct clann_context *ctx = m->ctx;
    clann__free(m);
    clann__context_release(ctx); /* last, after every buffer went back to the backend */
}

static enum clann_status push_layer(struct clann_model *m, const struct clann_layer *layer);

static size_t model_width(const struct clann_model *m)
{
    return m->n_layers ? m->layers[m->n_layers - 1].out : m->n_inputs;
}

size_t clann__model_width(const struct clann_model *m)
{
    return model_width(m);
}

const size_t *clann__model_shape(const struct clann_model *m)
{
    return m->n_layers ? m->layers[m->n_layers - 1].shape : m->in_shape;
}

size_t clann__layer_channels(const struct clann_layer *l)
{
    return l->shape[0] ? l->shape[0] : l->out;
}

size_t clann__layer_spatial(const struct clann_layer *l)
{
    return l->out / clann__layer_channels(l);
}

/* Element-wise layers keep the shape of their input (an image stays an image). */
static bool keeps_shape(enum clann__layer_kind k)
{
    return k == CLANN__LAYER_ACTIVATION || k == CLANN__LAYER_DROPOUT ||
           k == CLANN__LAYER_NOISE || k == CLANN__LAYER_BATCHNORM;
}

enum clann_status clann__model_push_layer(struct clann_model *m, const struct clann_layer *layer)
{
    return push_layer(m, layer);
}

static enum clann_status push_layer(struct clann_model *m, const struct clann_layer *layer)
{
    if (m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE, "layers cannot be added after compile");
    if (m->n_layers == m->cap_layers) {
        size_t cap = m->cap_layers ? 2 * m->cap_layers : 8;
        struct clann_layer *l = clann__realloc(m->layers, cap * sizeof *l);
        if (!l)
            return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "model: out of memory");
        m->layers = l;
        m->cap_layers = cap;
    }
    struct clann_layer *l = &m->layers[m->n_layers];
    *l = *layer;
    if (keeps_shape(l->kind))
        memcpy(l->shape, clann__model_shape(m), sizeof l->shape);
    m->n_layers++;
    return CLANN_OK;
}

static struct clann_act make_act(enum clann_activation a, float alpha, float lower, float upper)
{
    struct clann_act act;
    memset(&act, 0, sizeof act);
    act.kind = (enum clann__act_kind)a;
    act.alpha = default_alpha(a, alpha);
    act.lower = lower;
    act.upper = upper;
    return act;
}

static bool activation_valid(enum clann_activation a)
{
    return (unsigned)a < CLANN__ACT_COUNT;
}

CLANN_API enum clann_status clann_model_add_dense(struct clann_model *m,
                                                  const struct clann_dense_params *p)
{
    if (!m || !p || p->units == 0 || !activation_valid(p->activation))
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "add_dense: need units >= 1 and a known activation");
    if (p->activation == CLANN_ACTIVATION_RRELU &&
        !(p->rrelu_lower >= 0.0f && p->rrelu_lower <= p->rrelu_upper))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG,
                            "add_dense: RReLU needs 0 <= lower <= upper (got %g, %g)",
                            p->rrelu_lower, p->rrelu_upper);
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_DENSE;
    l.in = model_width(m);
    l.out = p->units;
    l.dense = *p;
    l.act = make_act(p->activation, p->alpha, p->rrelu_lower, p->rrelu_upper);
    return push_layer(m, &l);
}

CLANN_API enum clann_status clann_model_add_activation(struct clann_model *m,
                                                       enum clann_activation a, float alpha)
{
    if (!m || !activation_valid(a))
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "add_activation: unknown activation %d", (int)a);
    if (a == CLANN_ACTIVATION_PRELU)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG,
                            "add_activation: PReLU has parameters; use it as a dense layer's "
                            "activation");
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_ACTIVATION;
    l.in = l.out = model_width(m);
    l.act = make_act(a, alpha, 1.0f / 8.0f, 1.0f / 3.0f);
    return push_layer(m, &l);
}

CLANN_API enum clann_status clann_model_add_dropout(struct clann_model *m, float rate)
{
    if (!m || !(rate >= 0.0f && rate <= 1.0f))
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "add_dropout: rate is the drop probability and must be in [0, 1] "
                            "(got %g)", rate);
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_DROPOUT;
    l.in = l.out = model_width(m);
    l.rate = rate;
    return push_layer(m, &l);
}

CLANN_API enum clann_status clann_model_add_spatial_dropout(struct clann_model *m, float rate)
{
    if (m && clann__model_shape(m)[0] == 0)
        return clann__error(m->ctx, CLANN_ERR_SHAPE,
                            "add_spatial_dropout: its input is not an image (it drops channels; "
                            "put it after a conv2d or pooling layer)");
    enum clann_status st = clann_model_add_dropout(m, rate);
    if (st == CLANN_OK)
        m->layers[m->n_layers - 1].spatial = true;
    return st;
}

CLANN_API enum clann_status clann_model_add_noise(struct clann_model *m, float stddev)
{
    if (!m || !(stddev >= 0.0f) || !isfinite(stddev))
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "add_noise: the standard deviation must be >= 0 (got %g)", stddev);
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_NOISE;
    l.in = l.out = model_width(m);
    l.rate = stddev;
    return push_layer(m, &l);
}

CLANN_API enum clann_status clann_model_add_batchnorm(struct clann_model *m, float momentum,
                                                      float epsilon)
{
    if (!m || !(momentum >= 0.0f && momentum < 1.0f) || !(epsilon >= 0.0f))
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "add_batchnorm: need 0 <= momentum < 1 and epsilon >= 0 (got %g, %g)",
                            momentum, epsilon);
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_BATCHNORM;
    l.in = l.out = model_width(m);
    l.momentum = momentum > 0.0f ? momentum : 0.99f;
    l.eps = epsilon > 0.0f ? epsilon : 1e-3f;
    return push_layer(m, &l);
}

enum clann_status clann__model_add_features_layer(struct clann_model *m)
{
    struct clann_layer l;
    memset(&l, 0, sizeof l);
    l.kind = CLANN__LAYER_FEATURES;
    l.in = m->n_inputs;
    l.out = m->features->out_width;
    return push_layer(m, &l);
}

bool clann__loss_is_sparse(enum clann_loss loss)
{
    return loss == CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY ||
           loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_NCE;
}

bool clann__loss_is_classification(enum clann_loss loss)
{
    return loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY || loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY ||
           clann__loss_is_sparse(loss);
}

size_t clann__model_label_cols(const struct clann_model *m)
{
    return clann__loss_is_sparse(m->cp.loss) ? 1 : model_width(m);
}

/* Whether the backward pass of an activation needs its input z (else y suffices, and y can
 * overwrite z in place). */
static bool act_needs_z(enum clann__act_kind k)
{
    return !(k == CLANN__ACT_LINEAR || k == CLANN__ACT_SIGMOID || k == CLANN__ACT_TANH ||
             k == CLANN__ACT_SOFTMAX);
}

/* Lays out parameters and activations: offsets in floats, totals in m->n_params, m->n_acts. */
static void layout(struct clann_model *m)
{
    size_t p = 0, a = 0, rows = m->cp.max_batch;
    for (size_t i = 0; i < m->n_layers; i++) {
        struct clann_layer *l = &m->layers[i];
        l->w_off = p;
        if (l->kind == CLANN__LAYER_DENSE) {
            p += l->in * l->out;
            l->b_off = p;
            p += l->dense.use_bias ? l->out : 0;
            l->prelu_off = p;
            p += l->act.kind == CLANN__ACT_PRELU ? l->out : 0;
            l->n_trainable = p - l->w_off;
            /* z keeps the pre-activation only when the backward pass needs it. */
            l->z_off = a;
            a += act_needs_z(l->act.kind) ? rows * l->out : 0;
        } else if (l->kind == CLANN__LAYER_CONV2D) {
            size_t k = l->geom.channels * l->geom.kernel_h * l->geom.kernel_w;
            p += l->dense.units * k;
            l->b_off = p;
            p += l->dense.use_bias ? l->dense.units : 0;
            l->n_trainable = p - l->w_off;
            l->col_off = a;
            a += rows * k * l->geom.out_h * l->geom.out_w;
            l->z_off = a;
            a += act_needs_z(l->act.kind) ? rows * l->out : 0;
        } else if (l->kind == CLANN__LAYER_BATCHNORM) {
            size_t c = clann__layer_channels(l);
            l->b_off = p + c;
            p += 4 * c; /* gamma, beta, running mean, running variance */
            l->n_trainable = 2 * c;
            l->bn_off = a;
            a += 3 * c; /* the batch's mean, variance and 1 / stddev */
        }
        l->n_params = p - l->w_off;
        if (l->kind != CLANN__LAYER_DENSE && l->kind != CLANN__LAYER_CONV2D)
            l->z_off = a; /* activation-like layers read their input (the previous y) as z */
        l->y_off = a;
        a += rows * l->out;
    }
    m->dinput_off = a;
    if (m->layers[0].kind == CLANN__LAYER_BATCHNORM)
        a += rows * m->n_inputs;
    m->n_params = p;
    m->n_acts = a;
}

static struct clann_opt make_opt(const struct clann_optimizer_params *o)
{
    struct clann_opt opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = (enum clann__opt_kind)o->kind;
    /* opt.lr: the trainer's (train/trainer.h), from o->learning_rate at its start. */
    opt.momentum = o->momentum;
    opt.nesterov = o->nesterov;
    opt.beta1 = o->beta1;
    opt.beta2 = o->beta2;
    opt.eps = o->epsilon;
    opt.rho = o->rho;
    opt.initial_accumulator = o->initial_accumulator;
    return opt;
}

static enum clann_status check_compile_params(struct clann_model *m,
                                              const struct clann_compile_params *p)
{
    if (m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE, "model is already compiled");
    if (m->n_layers == 0)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "compile: the model has no layers");
    if ((unsigned)p->loss > CLANN_LOSS_NCE ||
        (unsigned)p->optimizer.kind > CLANN_OPTIMIZER_RMSPROP)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "compile: unknown loss or optimizer");
    if ((unsigned)p->sampler > CLANN_SAMPLER_LOG_UNIFORM)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "compile: unknown sampler %d",
                            (int)p->sampler);
    /* NCE and log-uniform draws correct logits by -log E(class), and E is 0 without draws. */
    bool corrected = p->loss == CLANN_LOSS_NCE ||
                     (p->loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY &&
                      p->sampler != CLANN_SAMPLER_UNIFORM);
    if (corrected && p->num_sampled == 0)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "compile: %s needs num_sampled >= 1",
                            p->loss == CLANN_LOSS_NCE ? "NCE" : "log-uniform sampling");
    if (p->max_batch == 0)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "compile: max_batch must be >= 1");
    if (!(p->optimizer.learning_rate > 0.0f) || !isfinite(p->optimizer.learning_rate))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG,
                            "compile: learning rate must be a positive number (got %g)",
                            p->optimizer.learning_rate);
    size_t width = model_width(m);
    if ((p->loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY ||
         clann__loss_is_sparse(p->loss)) && width < 2)
        return clann__error(m->ctx, CLANN_ERR_SHAPE,
                            "compile: softmax cross-entropy needs >= 2 outputs (the model has "
                            "%zu); use sigmoid cross-entropy for a binary task", width);
    const struct clann_layer *last = &m->layers[m->n_layers - 1];
    if (clann__loss_is_classification(p->loss) && last->act.kind != CLANN__ACT_LINEAR)
        return clann__error(m->ctx, CLANN_ERR_SHAPE,
                            "compile: cross-entropy losses take logits; the last layer has "
                            "activation '%s' (use a linear output layer)",
                            clann_activation_name((enum clann_activation)last->act.kind));
    return CLANN_OK;
}

static enum clann_status alloc_buffers(struct clann_model *m)
{
    struct clann_backend *be = m->be;
    size_t rows = m->cp.max_batch, label_cols = clann__model_label_cols(m);
    size_t np = m->n_params ? m->n_params : 1;
    enum clann_status st;
    if ((st = clann__buf_create(be, np, &m->params)) || (st = clann__buf_create(be, np, &m->grads)) ||
        (st = clann__buf_create(be, np, &m->state1)) ||
        (st = clann__buf_create(be, np, &m->state2)) ||
        (st = clann__buf_create(be, m->n_acts, &m->acts)) ||
        (st = clann__buf_create(be, m->n_acts, &m->dacts)) ||
        (st = clann__buf_create(be, rows * m->n_inputs, &m->input)) ||
        (st = clann__buf_create(be, rows * label_cols, &m->labels)) ||
        (st = clann__buf_create(be, rows, &m->row_loss)) ||
        (st = clann__buf_create(be, CLANN__SCALAR_COUNT + 4 * m->n_layers, &m->scalars)))
        return st;
    m->staging_x_ring = clann__calloc(CLANN__STAGING_SLOTS * rows * m->n_inputs, sizeof(float));
    m->staging_y_ring = clann__calloc(CLANN__STAGING_SLOTS * rows * label_cols, sizeof(float));
    m->staging_x = m->staging_x_ring;
    m->staging_y = m->staging_y_ring;
    if (!m->staging_x || !m->staging_y)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "compile: out of host memory");
    return CLANN_OK;
}

/* Optimizer state starts at 0, except Adagrad's accumulator. */
static enum clann_status reset_optimizer_state(struct clann_model *m)
{
    float s1 = m->opt.kind == CLANN__OPT_ADAGRAD ? m->opt.initial_accumulator : 0.0f;
    /* Gradients start (and for batch-norm statistics stay) at zero. */
    enum clann_status st = clann__op_fill(m->be, clann__view(&m->state1, 0), m->params.n, s1);
    if (st == CLANN_OK)
        st = clann__op_fill(m->be, clann__view(&m->state2, 0), m->params.n, 0.0f);
    if (st == CLANN_OK)
        st = clann__op_fill(m->be, clann__view(&m->grads, 0), m->params.n, 0.0f);
    if (st == CLANN_OK)
        st = clann__op_fill(m->be, clann__view(&m->scalars, 0), m->scalars.n, 0.0f);
    return st;
}

CLANN_API enum clann_status clann_model_compile(struct clann_model *m,
                                                const struct clann_compile_params *p)
{
    if (!m || !p)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "compile: NULL argument");
    enum clann_status st = check_compile_params(m, p);
    if (st != CLANN_OK)
        return st;
    m->cp = *p;
    /* Sampled softmax is the sparse loss over the candidates (src/nn/sampled.c); NCE evaluates
     * as the sparse loss too (the full softmax) and trains with its own kind (nn/loss.c). */
    m->loss.kind = clann__loss_is_sparse(p->loss) ? CLANN__LOSS_SPARSE_SOFTMAX_CE
                                                   : (enum clann__loss_kind)p->loss;
    m->loss.huber_delta = p->huber_delta > 0.0f ? p->huber_delta : 1.0f;
    m->opt = make_opt(&p->optimizer);
    layout(m);
    if ((st = alloc_buffers(m)) || (st = clann__model_init_params(m)) ||
        (st = reset_optimizer_state(m)) || (st = clann__embedding_setup(m)) ||
        (st = clann__sampled_setup(m)))
        return st;
    m->compiled = true;
    return clann__op_finish(m->be);
}

CLANN_API size_t clann_model_input_count(const struct clann_model *m)
{
    return m ? m->n_inputs : 0;
}

CLANN_API size_t clann_model_output_count(const struct clann_model *m)
{
    return m ? model_width(m) : 0;
}

CLANN_API uint64_t clann_model_seed(const struct clann_model *m)
{
    return m ? m->cp.seed : 0;
}

CLANN_API size_t clann_model_layer_count(const struct clann_model *m)
{
    return m ? m->n_layers : 0;
}

CLANN_API enum clann_loss clann_model_loss(const struct clann_model *m)
{
    return m ? m->cp.loss : CLANN_LOSS_MSE;
}

CLANN_API size_t clann_model_param_count(const struct clann_model *m)
{
    return m && m->compiled ? m->n_params : 0;
}

static enum clann_status check_param_io(struct clann_model *m, const void *p, size_t n)
{
    if (!m || !p)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "params: NULL argument");
    if (!m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE, "params: the model is not compiled");
    if (n != m->n_params)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "params: the model has %zu parameters, "
                            "not %zu", m->n_params, n);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_get_params(struct clann_model *m, float *dst, size_t n)
{
    enum clann_status st = check_param_io(m, dst, n);
    if (st != CLANN_OK || n == 0)
        return st;
    return clann__op_download(m->be, dst, clann__view(&m->params, 0), n);
}

CLANN_API enum clann_status clann_model_set_params(struct clann_model *m, const float *src,
                                                   size_t n)
{
    enum clann_status st = check_param_io(m, src, n);
    if (st != CLANN_OK || n == 0)
        return st;
    return clann__op_upload(m->be, clann__view(&m->params, 0), src, n, true);
}

/* Downloads a dense layer's kernel (in x out) into a new host array. */
static enum clann_status download_kernel(struct clann_model *m, size_t layer, float **out)
{
    *out = NULL;
    if (!m || !m->compiled || layer >= m->n_layers ||
        m->layers[layer].kind != CLANN__LAYER_DENSE)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "layer %zu is not a dense layer of a compiled model", layer);
    const struct clann_layer *l = &m->layers[layer];
    float *w = clann__malloc(l->in * l->out * sizeof *w);
    if (!w)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    enum clann_status st = clann__op_download(m->be, w, clann__view(&m->params, l->w_off),
                                                l->in * l->out);
    if (st != CLANN_OK) {
        clann__free(w);
        return st;
    }
    *out = w;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_layer_sparsity(struct clann_model *m, size_t layer,
                                                       size_t *zeros, size_t *total)
{
    float *w;
    enum clann_status st = download_kernel(m, layer, &w);
    if (st != CLANN_OK)
        return st;
    size_t n = m->layers[layer].in * m->layers[layer].out, z = 0;
    for (size_t i = 0; i < n; i++)
        z += w[i] == 0.0f;
    clann__free(w);
    if (zeros)
        *zeros = z;
    if (total)
        *total = n;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_dropped_inputs(struct clann_model *m, size_t *indices,
                                                       size_t cap, size_t *count)
{
    size_t first = 0;
    while (m && first < m->n_layers && m->layers[first].kind != CLANN__LAYER_DENSE)
        first++;
    float *w;
    enum clann_status st = download_kernel(m, first, &w);
    if (st != CLANN_OK)
        return st;
    const struct clann_layer *l = &m->layers[first];
    size_t dropped = 0;
    for (size_t i = 0; i < l->in; i++) {
        size_t j = 0;
        while (j < l->out && w[i * l->out + j] == 0.0f)
            j++;
        if (j == l->out) {
            if (indices && dropped < cap)
                indices[dropped] = i;
            dropped++;
        }
    }
    clann__free(w);
    *count = dropped;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_grad_norms(struct clann_model *m, double *out, size_t n)
{
    if (!m || !m->compiled || !out || n != m->n_layers)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "grad_norms: need a compiled model and one slot per layer");
    size_t base = CLANN__SCALAR_COUNT;
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        struct clann_view slot = clann__view(&m->scalars, base + i);
        st = l->n_trainable ? clann__op_sum_squares(m->be, clann__view(&m->grads, l->w_off),
                                                      l->n_trainable, slot, 0.0f)
                            : clann__op_fill(m->be, slot, 1, 0.0f);
    }
    float *sums = clann__malloc(n * sizeof *sums);
    if (!sums)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "grad_norms: out of memory");
    if (st == CLANN_OK)
        st = clann__op_download(m->be, sums, clann__view(&m->scalars, base), n);
    for (size_t i = 0; i < n && st == CLANN_OK; i++)
        out[i] = sqrt(sums[i]);
    clann__free(sums);
    return st;
}

CLANN_API enum clann_status clann_model_set_trainable(struct clann_model *m, size_t layer,
                                                      bool trainable)
{
    if (!m || layer >= m->n_layers)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "set_trainable: the model has no layer %zu (it has %zu)", layer,
                            m ? m->n_layers : 0);
    struct clann_layer *l = &m->layers[layer];
    l->frozen = !trainable;
    /* A layer trained before and frozen now keeps its last gradient in grads, which global-norm
     * clipping and the NaN guard would still read: a frozen layer's gradient is zero. */
    if (!m->compiled || trainable || l->n_params == 0)
        return CLANN_OK;
    return clann__op_fill(m->be, clann__view(&m->grads, l->w_off), l->n_params, 0.0f);
}

CLANN_API bool clann_model_layer_trainable(const struct clann_model *m, size_t layer)
{
    return m && layer < m->n_layers && !m->layers[layer].frozen;
}

enum clann_status clann__model_set_source(struct clann_model *m, size_t layer, const char *file,
                                          size_t src_layer)
{
    char *copy = NULL;
    if (file) {
        size_t n = strlen(file) + 1;
        if (!(copy = clann__malloc(n)))
            return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "out of memory");
        memcpy(copy, file, n);
    }
    clann__free(m->layers[layer].source_file);
    m->layers[layer].source_file = copy;
    m->layers[layer].source_layer = src_layer;
    return CLANN_OK;
}
