/*
 * regression.c - a DNN regressor on a CSV file the sample writes itself: y = sin(x1) * x2 +
 * 0.5 x3^2 + noise over three features. It shows the CSV reader, DNNRegressor-style training
 * with Adam and a held-out evaluation in the target's own units (RMSE).
 *
 *     ./regression [DEVICE]
 */
#include <clann.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Writes n rows "x1,x2,x3,y" with a header; returns false on a write error. */
static bool write_csv(const char *path, size_t n, unsigned seed)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    srand(seed);
    fprintf(f, "x1,x2,x3,y\n");
    for (size_t i = 0; i < n; i++) {
        double x1 = 6.0 * rand() / RAND_MAX - 3.0, x2 = 2.0 * rand() / RAND_MAX - 1.0;
        double x3 = 2.0 * rand() / RAND_MAX - 1.0, noise = 0.02 * (rand() / (double)RAND_MAX - 0.5);
        fprintf(f, "%.6f,%.6f,%.6f,%.6f\n", x1, x2, x3, sin(x1) * x2 + 0.5 * x3 * x3 + noise);
    }
    return fclose(f) == 0;
}

int main(int argc, char **argv)
{
    const char *train_path = "regression-train.csv", *test_path = "regression-test.csv";
    if (!write_csv(train_path, 4000, 1) || !write_csv(test_path, 1000, 2)) {
        fprintf(stderr, "regression: cannot write the CSV files here\n");
        return 1;
    }
    struct clann_csv_params csv = clann_csv_default_params();
    csv.label_column = "y";
    struct clann_matrix x = {0}, y = {0}, tx = {0}, ty = {0};
    struct clann_context *ctx = NULL;
    struct clann_model *model = NULL;
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : NULL;
    enum clann_status st = clann_csv_load(train_path, &csv, &x, &y);
    if (st == CLANN_OK)
        st = clann_csv_load(test_path, &csv, &tx, &ty);
    if (st == CLANN_OK)
        st = clann_context_create(&cp, &ctx);
    if (st == CLANN_OK) {
        struct clann_estimator_params ep = clann_estimator_default_params();
        size_t hidden[] = {64, 32};
        ep.hidden_units = hidden;
        ep.n_hidden = 2;
        ep.activation = CLANN_ACTIVATION_TANH;
        ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
        ep.optimizer.learning_rate = 0.003f;
        ep.max_batch = 32;
        st = clann_dnn_regressor_create(ctx, 3, 1, &ep, &model);
    }
    struct clann_metrics before, after;
    if (st == CLANN_OK)
        st = clann_model_evaluate(model, &tx, &ty, &before);
    if (st == CLANN_OK) {
        struct clann_fit_params fp = clann_fit_default_params();
        fp.epochs = 60;
        st = clann_model_fit(model, &x, &y, NULL, NULL, &fp, NULL);
    }
    if (st == CLANN_OK)
        st = clann_model_evaluate(model, &tx, &ty, &after);
    if (st == CLANN_OK) {
        printf("device: %s\n", clann_context_device(ctx)->name);
        printf("test RMSE before training %.4f, after %.4f (noise floor ~0.006)\n",
               sqrt(before.loss), sqrt(after.loss));
    } else {
        fprintf(stderr, "regression: %s\n", clann_last_error());
    }
    clann_model_destroy(model);
    clann_context_destroy(ctx);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_matrix_free(&tx);
    clann_matrix_free(&ty);
    return st == CLANN_OK ? 0 : 1;
}
