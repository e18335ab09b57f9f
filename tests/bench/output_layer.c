/*
 * output_layer.c - time per training step of a many-class output layer: the full softmax
 * (sparse softmax cross-entropy over every class) against sampled softmax and NCE, which
 * compute the batch's candidates' columns alone. Not part of the test suite (timings depend on
 * the machine); the figures in README.md come from it.
 *
 *     build/tests/bench-output-layer [DEVICE] [CLASSES] [STEPS]   (cpu, 10000, 40)
 *
 * The model: 256 inputs -> 128 ReLU -> CLASSES logits, batch 128, Adam, 64 negatives a batch
 * for the sampled losses. Prints milliseconds per step (median of 3 runs) and the speed-up.
 */
#include "clann.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Median milliseconds per step of `steps` steps with `loss` (after one warm-up step), or a
 * negative number on failure (the message is printed). */
static double step_ms(struct clann_context *ctx, enum clann_loss loss, enum clann_sampler sampler,
                      size_t classes, size_t steps, const struct clann_matrix *x,
                      const struct clann_matrix *y)
{
    struct clann_model *m = NULL;
    struct clann_dense_params h = clann_dense_default_params(128, CLANN_ACTIVATION_RELU);
    struct clann_dense_params o = clann_dense_default_params(classes, CLANN_ACTIVATION_LINEAR);
    struct clann_compile_params cp = clann_compile_default_params(loss);
    cp.num_sampled = 64;
    cp.sampler = sampler;
    struct clann_fit_params fp = clann_fit_default_params();
    fp.max_steps = 1;
    fp.epochs = 1000000; /* max_steps ends each run */
    double runs[3];
    if (clann_model_create(ctx, x->cols, &m) || clann_model_add_dense(m, &h) ||
        clann_model_add_dense(m, &o) || clann_model_compile(m, &cp) ||
        clann_model_fit(m, x, y, NULL, NULL, &fp, NULL))
        goto fail;
    for (int r = 0; r < 3; r++) {
        fp.max_steps += steps;
        double t0 = now();
        if (clann_model_fit(m, x, y, NULL, NULL, &fp, NULL))
            goto fail;
        runs[r] = 1e3 * (now() - t0) / (double)steps;
    }
    clann_model_destroy(m);
    double lo = runs[0] < runs[1] ? runs[0] : runs[1], hi = runs[0] < runs[1] ? runs[1] : runs[0];
    return runs[2] < lo ? lo : runs[2] > hi ? hi : runs[2];
fail:
    fprintf(stderr, "bench-output-layer: %s\n", clann_last_error());
    clann_model_destroy(m);
    return -1.0;
}

int main(int argc, char **argv)
{
    struct clann_context_params cp = clann_context_default_params();
    cp.device = argc > 1 ? argv[1] : "cpu";
    size_t classes = argc > 2 ? strtoul(argv[2], NULL, 10) : 10000;
    size_t steps = argc > 3 ? strtoul(argv[3], NULL, 10) : 40;
    const size_t rows = 128 * 8, in = 256;
    struct clann_context *ctx;
    struct clann_matrix x, y;
    if (classes < 2 || steps == 0 || clann_context_create(&cp, &ctx) ||
        clann_matrix_create(rows, in, &x) || clann_matrix_create(rows, 1, &y)) {
        fprintf(stderr, "bench-output-layer: %s\n", classes < 2 || !steps ? "bad arguments"
                                                                          : clann_last_error());
        return 2;
    }
    srand(1);
    for (size_t i = 0; i < rows * in; i++)
        x.data[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    for (size_t i = 0; i < rows; i++)
        y.data[i] = (float)((size_t)rand() % classes);
    printf("%s, %zu classes, batch 128, 64 negatives: ms per step\n",
           clann_context_backend_name(ctx), classes);
    double full = step_ms(ctx, CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, CLANN_SAMPLER_UNIFORM,
                          classes, steps, &x, &y);
    printf("  full softmax                  %8.3f\n", full);
    static const struct {
        const char *name;
        enum clann_loss loss;
        enum clann_sampler sampler;
    } runs[] = {{"sampled softmax (uniform)", CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY,
                 CLANN_SAMPLER_UNIFORM},
                {"NCE (uniform)", CLANN_LOSS_NCE, CLANN_SAMPLER_UNIFORM},
                {"NCE (log-uniform)", CLANN_LOSS_NCE, CLANN_SAMPLER_LOG_UNIFORM}};
    int status = full < 0 ? 1 : 0;
    for (size_t i = 0; i < sizeof runs / sizeof *runs; i++) {
        double ms = step_ms(ctx, runs[i].loss, runs[i].sampler, classes, steps, &x, &y);
        status |= ms < 0;
        printf("  %-29s %8.3f  (%.1fx faster)\n", runs[i].name, ms, full / ms);
    }
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
    return status;
}
