/*
 * feature_selection.c - L1 regularization as feature selection: 200 features of which 10
 * carry signal. Without a penalty every weight is nonzero; with L1 (applied as a proximal step,
 * so weights reach exactly zero) the irrelevant features drop out. Prints a table per penalty.
 *
 *     ./feature_selection [DEVICE]
 */
#include <clann.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { ROWS = 2000, FEATURES = 200, INFORMATIVE = 10 };

static double gaussian(void)
{
    double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = rand() / (RAND_MAX + 1.0);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static enum clann_status make_data(struct clann_matrix *x, struct clann_matrix *y)
{
    enum clann_status st = clann_matrix_create(ROWS, FEATURES, x);
    if (st == CLANN_OK)
        st = clann_matrix_create(ROWS, 1, y);
    srand(7);
    for (size_t i = 0; st == CLANN_OK && i < ROWS; i++) {
        double t = 0.1 * gaussian();
        for (size_t j = 0; j < FEATURES; j++) {
            x->data[i * FEATURES + j] = (float)gaussian();
            if (j < INFORMATIVE)
                t += (j % 2 ? -1.0 : 1.0) * (0.5 + 0.1 * j) * x->data[i * FEATURES + j];
        }
        y->data[i] = (float)t;
    }
    return st;
}

static enum clann_status run(struct clann_context *ctx, float l1, const struct clann_matrix *x,
                             const struct clann_matrix *y)
{
    struct clann_model *m = NULL;
    enum clann_status st = clann_model_create(ctx, FEATURES, &m);
    struct clann_dense_params d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    d.kernel_regularizer.l1 = l1;
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &d);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.max_batch = 50;
    if (st == CLANN_OK)
        st = clann_model_compile(m, &cp);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 30;
    struct clann_epoch_log log;
    if (st == CLANN_OK)
        st = clann_model_fit(m, x, y, NULL, NULL, &fp, &log);
    size_t zeros = 0, total = 0, dropped = 0, kept_informative = 0;
    float w[FEATURES + 1];
    if (st == CLANN_OK)
        st = clann_model_layer_sparsity(m, 0, &zeros, &total);
    if (st == CLANN_OK)
        st = clann_model_dropped_inputs(m, NULL, 0, &dropped);
    if (st == CLANN_OK)
        st = clann_model_get_params(m, w, FEATURES + 1);
    for (size_t j = 0; st == CLANN_OK && j < INFORMATIVE; j++)
        kept_informative += w[j] != 0.0f;
    if (st == CLANN_OK)
        printf("%-8g %10.4f %8zu/%zu %12zu %10zu/%d\n", (double)l1, log.loss, zeros, total,
               dropped, kept_informative, INFORMATIVE);
    clann_model_destroy(m);
    return st;
}

int main(int argc, char **argv)
{
    struct clann_matrix x = {0}, y = {0};
    struct clann_context *ctx = NULL;
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : NULL;
    enum clann_status st = make_data(&x, &y);
    if (st == CLANN_OK)
        st = clann_context_create(&cp, &ctx);
    if (st == CLANN_OK)
        printf("%-8s %10s %10s %12s %12s\n", "l1", "loss", "zeros", "dropped", "informative");
    const float penalties[] = {0.0f, 0.01f, 0.05f, 0.1f, 0.3f};
    for (size_t i = 0; st == CLANN_OK && i < sizeof penalties / sizeof *penalties; i++)
        st = run(ctx, penalties[i], &x, &y);
    if (st != CLANN_OK)
        fprintf(stderr, "feature_selection: %s\n", clann_last_error());
    clann_context_destroy(ctx);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    return st == CLANN_OK ? 0 : 1;
}
