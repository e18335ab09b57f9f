/*
 * cnn_steps.c - training steps per second of the Fashion-MNIST CNN of tests/bench/cnn.sh
 * (conv 16 3x3 + ReLU + max pool 2, conv 32 3x3 + ReLU + max pool 2, dense 128, dense 10;
 * Adam 1e-3, batch 128) on one device, and with PROFILE=1 where the step time goes: the
 * library's per-op totals (clann_context_profile), which serialize the queue. Not part of the
 * test suite (timings depend on the machine); tests/bench/cnn.sh times whole epochs.
 *
 *     build/tests/bench-cnn-steps [DEVICE] [STEPS] [PROFILE]     (cpu, 100, 0)
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#endif

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

static enum clann_status build(struct clann_context *ctx, struct clann_model **out)
{
    struct clann_model *m = NULL;
    enum clann_status st = clann_model_create(ctx, 784, &m);
    if (st == CLANN_OK)
        st = clann_model_set_input_shape(m, 1, 28, 28);
    const size_t filters[2] = {16, 32};
    for (size_t i = 0; i < 2 && st == CLANN_OK; i++) {
        struct clann_conv2d_params cp =
            clann_conv2d_default_params(filters[i], 3, CLANN_ACTIVATION_RELU);
        st = clann_model_add_conv2d(m, &cp);
        if (st == CLANN_OK)
            st = clann_model_add_max_pool2d(m, 2, 2);
    }
    struct clann_dense_params hidden = clann_dense_default_params(128, CLANN_ACTIVATION_RELU);
    struct clann_dense_params logits = clann_dense_default_params(10, CLANN_ACTIVATION_LINEAR);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    if (st == CLANN_OK)
        st = clann_model_add_flatten(m);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &hidden);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &logits);
    if (st == CLANN_OK)
        st = clann_model_compile(m, &cp);
    *out = m;
    return st;
}

static void print_profile(const struct clann_context *ctx, size_t steps)
{
    const struct clann_op_profile *ops = NULL;
    size_t n = 0;
    double total = 0.0;
    if (clann_context_profile_ops(ctx, &ops, &n) != CLANN_OK)
        return;
    for (size_t i = 0; i < n; i++)
        total += ops[i].seconds;
    printf("%-24s %8s %10s %8s %6s\n", "op", "calls", "ms/step", "launch", "share");
    for (size_t i = 0; i < n; i++)
        printf("%-24s %8lu %10.3f %8lu %5.1f%%\n", ops[i].name, ops[i].calls,
               1e3 * ops[i].seconds / (double)steps, ops[i].launches,
               total > 0 ? 100.0 * ops[i].seconds / total : 0.0);
    printf("profiled: %.1f ms/step in ops\n", 1e3 * total / (double)steps);
}

int main(int argc, char **argv)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = argc > 1 ? argv[1] : "cpu";
    size_t steps = argc > 2 ? strtoul(argv[2], NULL, 10) : 100;
    int profile = argc > 3 && atoi(argv[3]) != 0;
    struct clann_context *ctx = NULL;
    struct clann_model *m = NULL;
    struct clann_matrix d[4] = {{0}};
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1000000; /* max_steps ends each run */
    fp.max_steps = 2;    /* warm-up: kernel builds, first allocations */
    enum clann_status st = steps ? clann_context_create(&p, &ctx) : CLANN_ERR_INVALID_ARG;
    if (st == CLANN_OK)
        st = clann_fashion_mnist_load(NULL, &d[0], &d[1], &d[2], &d[3]);
    if (st == CLANN_OK)
        st = build(ctx, &m);
    if (st == CLANN_OK)
        st = clann_model_fit(m, &d[0], &d[1], NULL, NULL, &fp, NULL);
    double t0 = now();
    fp.max_steps = steps; /* per call */
    if (st == CLANN_OK)
        st = clann_model_fit(m, &d[0], &d[1], NULL, NULL, &fp, NULL);
    double t = now() - t0;
    if (st == CLANN_OK)
        printf("%s: %zu steps in %.2f s: %.2f steps/s, %.1f ms/step\n", p.device, steps, t,
               (double)steps / t, 1e3 * t / (double)steps);
    if (st == CLANN_OK && profile) {
        st = clann_context_profile(ctx, true);
        if (st == CLANN_OK)
            st = clann_model_fit(m, &d[0], &d[1], NULL, NULL, &fp, NULL);
        if (st == CLANN_OK)
            print_profile(ctx, steps);
    }
    if (st != CLANN_OK)
        fprintf(stderr, "bench-cnn-steps: %s: %s\n", clann_status_name(st), clann_last_error());
    clann_model_destroy(m);
    for (int i = 0; i < 4; i++)
        clann_matrix_free(&d[i]);
    clann_context_destroy(ctx);
    return st == CLANN_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}
