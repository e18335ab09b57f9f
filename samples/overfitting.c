/*
 * overfitting.c - the lectures' overfitting case study: a 500-unit network on 30 noisy
 * two-moons points memorizes them; each remedy (L2, dropout, input noise, a max-norm
 * constraint, early stopping) trades training accuracy for test accuracy. Prints a table.
 *
 *     ./overfitting [DEVICE]
 */
#include <clann.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Two interleaving half circles with Gaussian noise (scikit-learn's make_moons). */
static enum clann_status two_moons(size_t n, double noise, unsigned seed, struct clann_matrix *x,
                                   struct clann_matrix *y)
{
    enum clann_status st = clann_matrix_create(n, 2, x);
    if (st == CLANN_OK)
        st = clann_matrix_create(n, 1, y);
    srand(seed);
    for (size_t i = 0; st == CLANN_OK && i < n; i++) {
        double t = 3.14159265358979 * rand() / RAND_MAX;
        int cls = (int)(i % 2);
        double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = rand() / (RAND_MAX + 1.0);
        double g1 = sqrt(-2 * log(u1)) * cos(6.283185307 * u2);
        double g2 = sqrt(-2 * log(u1)) * sin(6.283185307 * u2);
        x->data[2 * i] = (float)((cls ? 1.0 - cos(t) : cos(t)) + noise * g1);
        x->data[2 * i + 1] = (float)((cls ? 0.5 - sin(t) : sin(t)) + noise * g2);
        y->data[i] = (float)cls;
    }
    return st;
}

struct variant {
    const char *name;
    float l2, dropout, noise, max_norm;
    size_t early_stop;
};

static enum clann_status run(struct clann_context *ctx, const struct variant *v,
                             const struct clann_matrix *data, double *train_acc,
                             double *test_acc, size_t *epochs)
{
    struct clann_model *m = NULL;
    enum clann_status st = clann_model_create(ctx, 2, &m);
    if (st == CLANN_OK && v->noise > 0.0f)
        st = clann_model_add_noise(m, v->noise);
    struct clann_dense_params d = clann_dense_default_params(500, CLANN_ACTIVATION_RELU);
    d.kernel_regularizer.l2 = v->l2;
    if (v->max_norm > 0.0f) {
        d.kernel_constraint.kind = CLANN_CONSTRAINT_MAX_NORM;
        d.kernel_constraint.max_value = v->max_norm;
    }
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &d);
    if (st == CLANN_OK && v->dropout > 0.0f)
        st = clann_model_add_dropout(m, v->dropout);
    d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &d);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_SIGMOID_CROSS_ENTROPY);
    cp.optimizer.learning_rate = 0.01f;
    cp.max_batch = 32;
    if (st == CLANN_OK)
        st = clann_model_compile(m, &cp);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 2000;
    fp.early_stopping.enabled = v->early_stop > 0;
    fp.early_stopping.patience = v->early_stop;
    /* Early stopping watches a validation split, never the test set. */
    const struct clann_matrix *val_x = v->early_stop ? &data[4] : NULL;
    const struct clann_matrix *val_y = v->early_stop ? &data[5] : NULL;
    struct clann_epoch_log log;
    if (st == CLANN_OK)
        st = clann_model_fit(m, &data[0], &data[1], val_x, val_y, &fp, &log);
    struct clann_metrics tr, te;
    if (st == CLANN_OK)
        st = clann_model_evaluate(m, &data[0], &data[1], &tr);
    if (st == CLANN_OK)
        st = clann_model_evaluate(m, &data[2], &data[3], &te);
    if (st == CLANN_OK) {
        *train_acc = tr.accuracy;
        *test_acc = te.accuracy;
        *epochs = log.epoch;
    }
    clann_model_destroy(m);
    return st;
}

int main(int argc, char **argv)
{
    struct clann_matrix data[6]; /* train x, y; test x, y; validation x, y */
    memset(data, 0, sizeof data);
    enum clann_status st = two_moons(30, 0.25, 1, &data[0], &data[1]);
    if (st == CLANN_OK)
        st = two_moons(2000, 0.25, 2, &data[2], &data[3]);
    if (st == CLANN_OK)
        st = two_moons(100, 0.25, 3, &data[4], &data[5]);
    struct clann_context *ctx = NULL;
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : NULL;
    if (st == CLANN_OK)
        st = clann_context_create(&cp, &ctx);
    const struct variant variants[] = {
        {"baseline (overfits)", 0, 0, 0, 0, 0}, {"L2 0.001", 0.001f, 0, 0, 0, 0},
        {"dropout 0.5", 0, 0.5f, 0, 0, 0},      {"input noise 0.2", 0, 0, 0.2f, 0, 0},
        {"max-norm 1", 0, 0, 0, 1.0f, 0},       {"early stopping (200)", 0, 0, 0, 0, 200},
    };
    if (st == CLANN_OK)
        printf("%-22s %8s %8s %7s\n", "model", "train", "test", "epochs");
    for (size_t i = 0; st == CLANN_OK && i < sizeof variants / sizeof *variants; i++) {
        double tr, te;
        size_t epochs;
        st = run(ctx, &variants[i], data, &tr, &te, &epochs);
        if (st == CLANN_OK)
            printf("%-22s %8.3f %8.3f %7zu\n", variants[i].name, tr, te, epochs);
    }
    if (st != CLANN_OK)
        fprintf(stderr, "overfitting: %s\n", clann_last_error());
    clann_context_destroy(ctx);
    for (int i = 0; i < 6; i++)
        clann_matrix_free(&data[i]);
    return st == CLANN_OK ? 0 : 1;
}
