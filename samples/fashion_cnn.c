/*
 * fashion_cnn.c - a small convolutional network on Fashion-MNIST, built layer by layer: two
 * 3x3 convolutions, each followed by batch normalization over its channels, ReLU and 2x2 max
 * pooling, then a dense layer of 128 (batch-normalized too) and the 10-class output, trained as
 * `clann train --data fashion-mnist --conv 16x3,32x3 --hidden 128` trains it: standardized
 * pixels, Adam from 0.002 decaying by 0.75 every 400 steps, batch 128 (the defaults a dev split
 * chose for CNNs: README "Convolutional networks"). Prints each layer's output shape, then
 * per-epoch test accuracy, and saves the model (clann info shows its layers).
 *
 *     ./fashion_cnn [DEVICE] [EPOCHS] [OUT.safetensors]
 */
#include <clann.h>

#include <stdio.h>
#include <stdlib.h>

/* Batch normalization, then ReLU: after a layer without bias and activation (beta is the
 * bias), per channel after a convolution and per unit after a dense layer. */
static enum clann_status normalize_relu(struct clann_model *m)
{
    enum clann_status st = clann_model_add_batchnorm(m, 0.0f, 0.0f); /* default momentum, eps */
    return st == CLANN_OK ? clann_model_add_activation(m, CLANN_ACTIVATION_RELU, 0.0f) : st;
}

static enum clann_status build(struct clann_context *ctx, struct clann_model **out)
{
    struct clann_model *m = NULL;
    enum clann_status st = clann_model_create(ctx, 784, &m);
    if (st == CLANN_OK) /* each row of the data is one 1 x 28 x 28 image */
        st = clann_model_set_input_shape(m, 1, 28, 28);
    const size_t filters[2] = {16, 32};
    for (size_t i = 0; i < 2 && st == CLANN_OK; i++) {
        struct clann_conv2d_params cp =
            clann_conv2d_default_params(filters[i], 3, CLANN_ACTIVATION_LINEAR);
        cp.use_bias = false;
        st = clann_model_add_conv2d(m, &cp); /* stride 1, same padding */
        if (st == CLANN_OK)
            st = normalize_relu(m);
        if (st == CLANN_OK)
            st = clann_model_add_max_pool2d(m, 2, 2);
    }
    if (st == CLANN_OK)
        st = clann_model_add_flatten(m);
    struct clann_dense_params hidden = clann_dense_default_params(128, CLANN_ACTIVATION_LINEAR);
    struct clann_dense_params logits = clann_dense_default_params(10, CLANN_ACTIVATION_LINEAR);
    hidden.use_bias = false;
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &hidden);
    if (st == CLANN_OK)
        st = normalize_relu(m);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &logits);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.optimizer.learning_rate = 0.002f; /* Adam from the CLI's rate; the fit decays it */
    if (st == CLANN_OK)
        st = clann_model_compile(m, &cp);
    if (st != CLANN_OK) {
        clann_model_destroy(m);
        m = NULL;
    }
    *out = m;
    return st;
}

static void print_shapes(const struct clann_model *m)
{
    for (size_t i = 0; i < clann_model_layer_count(m); i++) {
        size_t width, shape[3], params;
        if (clann_model_layer_shape(m, i, &width, shape, &params, NULL) != CLANN_OK)
            return;
        if (shape[0])
            printf("layer %zu: %zu x %zu x %zu, %zu parameters\n", i, shape[0], shape[1],
                   shape[2], params);
        else
            printf("layer %zu: %zu values, %zu parameters\n", i, width, params);
    }
}

int main(int argc, char **argv)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = argc > 1 ? argv[1] : NULL;
    size_t epochs = argc > 2 ? strtoul(argv[2], NULL, 10) : 10;
    const char *out = argc > 3 ? argv[3] : "fashion-cnn.safetensors";
    struct clann_context *ctx = NULL;
    struct clann_model *m = NULL;
    struct clann_matrix d[4] = {{0}};
    enum clann_status st = clann_context_create(&p, &ctx);
    if (st == CLANN_OK)
        st = clann_fashion_mnist_load(NULL, &d[0], &d[1], &d[2], &d[3]);
    if (st == CLANN_OK)
        st = build(ctx, &m);
    struct clann_scaler_params sp = {CLANN_SCALE_STANDARD, 0.0f, 0.0f};
    if (st == CLANN_OK) /* standardized pixels, fitted on the training images (the CLI's) */
        st = clann_model_scale_inputs(m, &sp, &d[0]);
    if (st == CLANN_OK)
        print_shapes(m);
    for (size_t e = 1; st == CLANN_OK && e <= epochs; e++) {
        struct clann_fit_params fp = clann_fit_default_params();
        fp.epochs = 1; /* one call per epoch; the model (and the decay) continues */
        struct clann_epoch_log log;
        struct clann_metrics mt;
        st = clann_model_fit(m, &d[0], &d[1], NULL, NULL, &fp, &log);
        if (st == CLANN_OK)
            st = clann_model_evaluate(m, &d[2], &d[3], &mt);
        if (st == CLANN_OK)
            printf("epoch %2zu: loss %.4f  test accuracy %.4f  (%.1f s)\n", e, log.loss,
                   mt.accuracy, log.seconds);
    }
    if (st == CLANN_OK)
        st = clann_model_save(m, out);
    if (st == CLANN_OK)
        printf("saved %s\n", out);
    else
        fprintf(stderr, "fashion_cnn: %s: %s\n", clann_status_name(st), clann_last_error());
    clann_model_destroy(m);
    for (int i = 0; i < 4; i++)
        clann_matrix_free(&d[i]);
    clann_context_destroy(ctx);
    return st == CLANN_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
