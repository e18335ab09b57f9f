/*
 * batchnorm.c - batch normalization in a deep network: 8 hidden sigmoid layers on Fashion-MNIST
 * train slowly (their gradients shrink layer by layer); the same network with batch
 * normalization before each activation learns in a few epochs. Prints per-epoch test accuracy
 * of both, and the first and last layers' gradient norms.
 *
 *     ./batchnorm [DEVICE] [EPOCHS]
 */
#include <clann.h>

#include <stdio.h>
#include <stdlib.h>

static enum clann_status run(struct clann_context *ctx, bool batchnorm, size_t epochs,
                             struct clann_matrix d[4])
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {64, 64, 64, 64, 64, 64, 64, 64};
    ep.hidden_units = hidden;
    ep.n_hidden = 8;
    ep.activation = CLANN_ACTIVATION_SIGMOID;
    ep.batchnorm = batchnorm;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    ep.optimizer.learning_rate = 0.1f;
    struct clann_model *m = NULL;
    enum clann_status st = clann_dnn_classifier_create(ctx, 784, 10, &ep, &m);
    printf("%s batch normalization:\n", batchnorm ? "with" : "without");
    for (size_t e = 1; st == CLANN_OK && e <= epochs; e++) {
        struct clann_fit_params fp = clann_fit_default_params();
        fp.epochs = 1;
        struct clann_epoch_log log;
        struct clann_metrics mt;
        st = clann_model_fit(m, &d[0], &d[1], NULL, NULL, &fp, &log);
        if (st == CLANN_OK)
            st = clann_model_evaluate(m, &d[2], &d[3], &mt);
        double norms[64];
        size_t layers = clann_model_layer_count(m);
        if (st == CLANN_OK)
            st = clann_model_grad_norms(m, norms, layers);
        if (st == CLANN_OK)
            printf("  epoch %zu  loss %.4f  test accuracy %.4f  |grad| first %.2e last %.2e\n", e,
                   log.loss, mt.accuracy, norms[0], norms[layers - 1]);
    }
    clann_model_destroy(m);
    return st;
}

int main(int argc, char **argv)
{
    struct clann_matrix d[4] = {{0}};
    struct clann_context *ctx = NULL;
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : NULL;
    size_t epochs = argc > 2 ? (size_t)strtoul(argv[2], NULL, 10) : 3;
    enum clann_status st = clann_fashion_mnist_load(NULL, &d[0], &d[1], &d[2], &d[3]);
    if (st == CLANN_OK)
        st = clann_context_create(&cp, &ctx);
    if (st == CLANN_OK)
        st = run(ctx, false, epochs, d);
    if (st == CLANN_OK)
        st = run(ctx, true, epochs, d);
    if (st != CLANN_OK)
        fprintf(stderr, "batchnorm: %s\n", clann_last_error());
    clann_context_destroy(ctx);
    for (int i = 0; i < 4; i++)
        clann_matrix_free(&d[i]);
    return st == CLANN_OK ? 0 : 1;
}
