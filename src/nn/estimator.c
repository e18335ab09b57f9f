/*
 * estimator.c - TensorFlow-style estimators as compiled models in one call.
 */
#include "nn/model.h"

#include <string.h>

CLANN_API struct clann_estimator_params clann_estimator_default_params(void)
{
    struct clann_estimator_params p;
    memset(&p, 0, sizeof p);
    p.activation = CLANN_ACTIVATION_RELU;
    /* The one default of clann (the CLI's too): Adam at twice Keras' rate, paired with
     * clann_fit_default_params()'s decaying schedule (chosen there, on a dev split). */
    p.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    p.optimizer.learning_rate = 0.002f;
    p.max_batch = 128;
    p.seed = 42;
    p.pool = 2;
    return p;
}

/* A dense layer with the estimator's regularizer and constraint on its kernel. */
static struct clann_dense_params dense_layer(const struct clann_estimator_params *p, size_t units,
                                             enum clann_activation act)
{
    struct clann_dense_params dp = clann_dense_default_params(units, act);
    dp.kernel_regularizer = p->regularizer;
    if (p->max_norm > 0.0f) {
        dp.kernel_constraint.kind = CLANN_CONSTRAINT_MAX_NORM;
        dp.kernel_constraint.max_value = p->max_norm;
    }
    return dp;
}

/* The convolutional front: the input shape, each convolution with its pooling, a flatten. */
static enum clann_status add_conv_front(struct clann_model *m,
                                        const struct clann_estimator_params *p)
{
    enum clann_status st = clann_model_set_input_shape(m, p->input_shape[0], p->input_shape[1],
                                                       p->input_shape[2]);
    for (size_t i = 0; i < p->n_conv && st == CLANN_OK; i++) {
        /* with batch normalization, as the hidden layers: conv (no bias) -> norm -> activation */
        struct clann_conv2d_params cp = clann_conv2d_default_params(
            p->conv_filters[i], p->conv_kernels[i],
            p->batchnorm ? CLANN_ACTIVATION_LINEAR : p->activation);
        cp.use_bias = !p->batchnorm;
        st = clann_model_add_conv2d(m, &cp);
        if (st == CLANN_OK && p->batchnorm)
            st = clann_model_add_batchnorm(m, 0.0f, 0.0f);
        if (st == CLANN_OK && p->batchnorm)
            st = clann_model_add_activation(m, p->activation, 0.0f);
        if (st == CLANN_OK && p->pool > 1)
            st = clann_model_add_max_pool2d(m, p->pool, p->pool);
        if (st == CLANN_OK && p->spatial_dropout > 0.0f)
            st = clann_model_add_spatial_dropout(m, p->spatial_dropout);
    }
    return st == CLANN_OK ? clann_model_add_flatten(m) : st;
}

/* Builds the convolutional front (when asked), hidden layers (each followed by dropout when
 * asked), the output layer and compiles. */
CLANN_API enum clann_status clann_dnn_create(struct clann_context *ctx, size_t n_inputs,
                                             size_t n_outputs, enum clann_loss loss,
                                             const struct clann_estimator_params *ep,
                                             struct clann_model **out)
{
    struct clann_estimator_params p = ep ? *ep : clann_estimator_default_params();
    if (!out)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "estimator: out is NULL");
    *out = NULL;
    if (n_outputs == 0 || (p.n_hidden && !p.hidden_units) ||
        (p.n_conv && (!p.conv_filters || !p.conv_kernels || p.features)))
        return clann__error(ctx, CLANN_ERR_INVALID_ARG,
                            "estimator: need >= 1 output, a hidden_units list, and conv lists "
                            "(without feature columns) for convolutions");
    struct clann_model *m = NULL;
    enum clann_status st = p.features ? clann_model_create_with_features(ctx, p.features, &m)
                                      : clann_model_create(ctx, n_inputs, &m);
    if (st == CLANN_OK && p.n_conv)
        st = add_conv_front(m, &p);
    for (size_t i = 0; i < p.n_hidden && st == CLANN_OK; i++) {
        /* With batch normalization the layer is dense (no bias: beta replaces it) -> batch
         * norm -> activation. */
        enum clann_activation act = p.batchnorm ? CLANN_ACTIVATION_LINEAR : p.activation;
        struct clann_dense_params dp = dense_layer(&p, p.hidden_units[i], act);
        dp.use_bias = !p.batchnorm;
        st = clann_model_add_dense(m, &dp);
        if (st == CLANN_OK && p.batchnorm)
            st = clann_model_add_batchnorm(m, 0.0f, 0.0f);
        if (st == CLANN_OK && p.batchnorm)
            st = clann_model_add_activation(m, p.activation, 0.0f);
        if (st == CLANN_OK && p.dropout > 0.0f)
            st = clann_model_add_dropout(m, p.dropout);
    }
    if (st == CLANN_OK) {
        struct clann_dense_params dp = dense_layer(&p, n_outputs, CLANN_ACTIVATION_LINEAR);
        st = clann_model_add_dense(m, &dp);
    }
    if (st == CLANN_OK) {
        struct clann_compile_params cp = clann_compile_default_params(loss);
        cp.optimizer = p.optimizer;
        cp.max_batch = p.max_batch;
        cp.seed = p.seed;
        st = clann_model_compile(m, &cp);
    }
    if (st != CLANN_OK) {
        clann_model_destroy(m);
        return st;
    }
    *out = m;
    return CLANN_OK;
}

/* The four shortcuts: linear models drop p's hidden layers; classifiers with 2 classes use one
 * logit and sigmoid cross-entropy, with more one logit per class and sparse softmax. */
static enum clann_status estimator(struct clann_context *ctx, size_t n_inputs, size_t n_outputs,
                                   enum clann_loss loss, const struct clann_estimator_params *p,
                                   bool deep, struct clann_model **out)
{
    struct clann_estimator_params q = p ? *p : clann_estimator_default_params();
    if (!deep) {
        q.n_hidden = 0;
        q.hidden_units = NULL;
        q.n_conv = 0;
    }
    return clann_dnn_create(ctx, n_inputs, n_outputs, loss, &q, out);
}

static enum clann_status classifier(struct clann_context *ctx, size_t n_inputs, size_t n_classes,
                                    const struct clann_estimator_params *p, bool deep,
                                    struct clann_model **out)
{
    if (n_classes < 2) {
        if (out)
            *out = NULL;
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "classifier: need >= 2 classes");
    }
    bool binary = n_classes == 2;
    return estimator(ctx, n_inputs, binary ? 1 : n_classes,
                     binary ? CLANN_LOSS_SIGMOID_CROSS_ENTROPY
                            : CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY,
                     p, deep, out);
}

CLANN_API enum clann_status clann_linear_regressor_create(struct clann_context *ctx, size_t n_inputs,
                                                          size_t n_outputs,
                                                          const struct clann_estimator_params *p,
                                                          struct clann_model **out)
{
    return estimator(ctx, n_inputs, n_outputs, CLANN_LOSS_MSE, p, false, out);
}

CLANN_API enum clann_status clann_dnn_regressor_create(struct clann_context *ctx, size_t n_inputs,
                                                       size_t n_outputs,
                                                       const struct clann_estimator_params *p,
                                                       struct clann_model **out)
{
    return estimator(ctx, n_inputs, n_outputs, CLANN_LOSS_MSE, p, true, out);
}

CLANN_API enum clann_status clann_linear_classifier_create(struct clann_context *ctx,
                                                           size_t n_inputs, size_t n_classes,
                                                           const struct clann_estimator_params *p,
                                                           struct clann_model **out)
{
    return classifier(ctx, n_inputs, n_classes, p, false, out);
}

CLANN_API enum clann_status clann_dnn_classifier_create(struct clann_context *ctx, size_t n_inputs,
                                                        size_t n_classes,
                                                        const struct clann_estimator_params *p,
                                                        struct clann_model **out)
{
    return classifier(ctx, n_inputs, n_classes, p, true, out);
}
