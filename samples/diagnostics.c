/*
 * diagnostics.c - the training monitors on two classic failures:
 *   1. vanishing gradients: 6 sigmoid (or tanh) layers on two circles - the gradient norm
 *      shrinks layer by layer toward the input - against the same net with ReLU;
 *   2. dead ReLUs: a learning rate far too high leaves a ReLU layer outputting zeros for every
 *      input (zero fraction near 1), while a sensible one keeps the fraction low.
 *
 *     ./diagnostics [DEVICE]
 */
#include <clann.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 512, LAYERS = 6 };

static enum clann_status circles(struct clann_matrix *x, struct clann_matrix *y)
{
    enum clann_status st = clann_matrix_create(ROWS, 2, x);
    if (st == CLANN_OK)
        st = clann_matrix_create(ROWS, 1, y);
    srand(5);
    for (size_t i = 0; st == CLANN_OK && i < ROWS; i++) {
        double a = 6.283185307 * rand() / RAND_MAX, r = (i % 2 ? 1.0 : 0.5);
        r += 0.05 * (rand() / (double)RAND_MAX - 0.5);
        x->data[2 * i] = (float)(r * cos(a));
        x->data[2 * i + 1] = (float)(r * sin(a));
        y->data[i] = (float)(i % 2);
    }
    return st;
}

/* The last monitor sample of a run. */
struct last_sample {
    struct clann_layer_monitor layers[LAYERS + 1];
    size_t n;
};

static void keep_last(uint64_t step, const struct clann_layer_monitor *l, size_t n, void *user)
{
    (void)step;
    struct last_sample *s = user;
    s->n = n < LAYERS + 1 ? n : LAYERS + 1;
    memcpy(s->layers, l, s->n * sizeof *l);
}

static enum clann_status run(struct clann_context *ctx, const struct clann_matrix *x,
                             const struct clann_matrix *y, enum clann_activation act,
                             size_t layers, float lr, struct last_sample *s,
                             struct clann_metrics *mt)
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[LAYERS];
    for (size_t i = 0; i < layers; i++)
        hidden[i] = 32;
    ep.hidden_units = hidden;
    ep.n_hidden = layers;
    ep.activation = act;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    ep.optimizer.learning_rate = lr;
    ep.max_batch = 32;
    struct clann_model *m = NULL;
    enum clann_status st = clann_dnn_classifier_create(ctx, 2, 2, &ep, &m);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 30;
    fp.monitor_every = 16;
    fp.on_monitor = keep_last;
    fp.user = s;
    fp.nan_policy = CLANN_NAN_SKIP; /* the too-high rate may overflow now and then */
    fp.max_skips = 16;
    if (st == CLANN_OK)
        st = clann_model_fit(m, x, y, NULL, NULL, &fp, NULL);
    if (st == CLANN_OK)
        st = clann_model_evaluate(m, x, y, mt);
    clann_model_destroy(m);
    return st;
}

static enum clann_status vanishing(struct clann_context *ctx, const struct clann_matrix *x,
                                   const struct clann_matrix *y)
{
    const enum clann_activation acts[3] = {CLANN_ACTIVATION_SIGMOID, CLANN_ACTIVATION_TANH,
                                           CLANN_ACTIVATION_RELU};
    printf("1. gradient L2 norm per layer, input (layer 0) to output, after 30 epochs\n");
    printf("%-8s", "");
    for (int i = 0; i <= LAYERS; i++)
        printf("  layer %d ", i);
    printf(" accuracy\n");
    enum clann_status st = CLANN_OK;
    for (int k = 0; k < 3 && st == CLANN_OK; k++) {
        struct last_sample s = {{{0}}, 0};
        struct clann_metrics mt;
        st = run(ctx, x, y, acts[k], LAYERS, 0.1f, &s, &mt);
        if (st != CLANN_OK)
            break;
        printf("%-8s", clann_activation_name(acts[k]));
        for (size_t i = 0; i < s.n; i++)
            printf("  %.2e", s.layers[i].grad_norm);
        printf("  %.3f\n", mt.accuracy);
    }
    return st;
}

static enum clann_status dead_relu(struct clann_context *ctx, const struct clann_matrix *x,
                                   const struct clann_matrix *y)
{
    printf("\n2. zero-output fraction of each hidden ReLU layer (dead units)\n");
    const float rates[2] = {0.05f, 10.0f};
    enum clann_status st = CLANN_OK;
    for (int k = 0; k < 2 && st == CLANN_OK; k++) {
        struct last_sample s = {{{0}}, 0};
        struct clann_metrics mt;
        st = run(ctx, x, y, CLANN_ACTIVATION_RELU, 2, rates[k], &s, &mt);
        if (st != CLANN_OK)
            break;
        printf("learning rate %-5g  hidden 0: %.2f  hidden 1: %.2f  accuracy %.3f\n",
               (double)rates[k], s.layers[0].zero_fraction, s.layers[1].zero_fraction,
               mt.accuracy);
    }
    return st;
}

int main(int argc, char **argv)
{
    struct clann_matrix x = {0}, y = {0};
    struct clann_context *ctx = NULL;
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : NULL;
    enum clann_status st = circles(&x, &y);
    if (st == CLANN_OK)
        st = clann_context_create(&cp, &ctx);
    if (st == CLANN_OK)
        st = vanishing(ctx, &x, &y);
    if (st == CLANN_OK)
        st = dead_relu(ctx, &x, &y);
    if (st != CLANN_OK)
        fprintf(stderr, "diagnostics: %s\n", clann_last_error());
    clann_context_destroy(ctx);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    return st == CLANN_OK ? 0 : 1;
}
