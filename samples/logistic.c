/*
 * logistic.c - logistic regression on a generated coin-flip-like problem: each example is a
 * biased coin whose probability of heads is sigmoid(2 x1 - x2 + 0.5), and the label is one flip.
 * No model can be certain here; a good one is calibrated: when it says 0.7, heads come up about
 * 70% of the time. The sample prints predicted vs observed rates per probability bucket.
 *
 *     ./logistic [DEVICE]
 */
#include <clann.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double true_probability(double x1, double x2)
{
    return 1.0 / (1.0 + exp(-(2.0 * x1 - x2 + 0.5)));
}

static enum clann_status make_data(size_t n, unsigned seed, struct clann_matrix *x,
                                   struct clann_matrix *y)
{
    enum clann_status st = clann_matrix_create(n, 2, x);
    if (st == CLANN_OK)
        st = clann_matrix_create(n, 1, y);
    srand(seed);
    for (size_t i = 0; st == CLANN_OK && i < n; i++) {
        double x1 = 4.0 * rand() / RAND_MAX - 2.0, x2 = 4.0 * rand() / RAND_MAX - 2.0;
        x->data[2 * i] = (float)x1;
        x->data[2 * i + 1] = (float)x2;
        y->data[i] = rand() / (double)RAND_MAX < true_probability(x1, x2) ? 1.0f : 0.0f;
    }
    return st;
}

static void print_calibration(const struct clann_matrix *p, const struct clann_matrix *y)
{
    double predicted[10] = {0}, observed[10] = {0};
    size_t count[10] = {0};
    for (size_t i = 0; i < p->rows; i++) {
        size_t b = (size_t)(p->data[i] * 10.0f);
        b = b > 9 ? 9 : b;
        predicted[b] += p->data[i];
        observed[b] += y->data[i];
        count[b]++;
    }
    printf("bucket      rows  mean predicted  observed heads\n");
    for (size_t b = 0; b < 10; b++) {
        if (count[b])
            printf("%.1f-%.1f  %6zu  %14.3f  %14.3f\n", b / 10.0, (b + 1) / 10.0, count[b],
                   predicted[b] / count[b], observed[b] / count[b]);
    }
}

int main(int argc, char **argv)
{
    struct clann_matrix x = {0}, y = {0}, tx = {0}, ty = {0}, p = {0};
    struct clann_context *ctx = NULL;
    struct clann_model *model = NULL;
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : NULL;
    enum clann_status st = make_data(20000, 1, &x, &y);
    if (st == CLANN_OK)
        st = make_data(20000, 2, &tx, &ty);
    if (st == CLANN_OK)
        st = clann_context_create(&cp, &ctx);
    if (st == CLANN_OK) {
        struct clann_estimator_params ep = clann_estimator_default_params();
        ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
        ep.optimizer.learning_rate = 0.01f;
        st = clann_linear_classifier_create(ctx, 2, 2, &ep, &model);
    }
    if (st == CLANN_OK) {
        struct clann_fit_params fp = clann_fit_default_params();
        fp.epochs = 20;
        st = clann_model_fit(model, &x, &y, NULL, NULL, &fp, NULL);
    }
    float w[3];
    if (st == CLANN_OK)
        st = clann_model_get_params(model, w, 3);
    if (st == CLANN_OK)
        st = clann_model_predict(model, &tx, &p);
    if (st == CLANN_OK) {
        printf("device: %s\n", clann_context_device(ctx)->name);
        printf("learned logit = %.3f x1 + %.3f x2 + %.3f (true: 2 x1 - 1 x2 + 0.5)\n", w[0], w[1],
               w[2]);
        print_calibration(&p, &ty);
    } else {
        fprintf(stderr, "logistic: %s\n", clann_last_error());
    }
    clann_matrix_free(&p);
    clann_model_destroy(model);
    clann_context_destroy(ctx);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_matrix_free(&tx);
    clann_matrix_free(&ty);
    return st == CLANN_OK ? 0 : 1;
}
