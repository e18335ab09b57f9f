/*
 * test-backend.c - cross-backend parity (docs/testing.md #8-#12): every op of backend.h on
 * every OpenCL device against the CPU backend in REFERENCE mode, from the same inputs
 * (U(-1, 1) from the Philox test stream under SEED unless an op needs another range).
 *
 * - Every op, shapes built from 1, 7, 64, 65, 257 (and larger 1-D sizes for the reductions):
 *   NMSE <= 1e-7 per output; any NaN fails; every buffer has a NaN-pattern canary before and
 *   after its view, which must stay bitwise intact; inputs must come back unchanged.
 * - GEMM: all four transposes, M, N, K over {1, 7, 64, 65, 257, 784} (sampled so that every
 *   value appears in every position) and M = 70000 (past NVIDIA's 65535 grid limit), alpha, beta over {0, 1, 2.5}, leading dimensions larger
 *   than needed with NaN padding, nonzero offsets: NMSE <= 1e-7 against a double reference;
 *   beta = 0 over a NaN-filled C must give no NaN. Run through every GEMM path: the device's
 *   default and, on the first device, CLANN_GEMM=clblast and CLANN_GEMM=tiled (only the
 *   forced path where CLANN_GEMM is set in the environment).
 * - RNG: uniform and normal streams bit-identical with the CPU for 10^6 values under several
 *   seeds, streams and offsets (some not multiples of 4); mean and variance within 6 sigma.
 * - Special values: activations forward and backward, clip_by_value, soft_threshold and the
 *   non-negative constraint on NaN, +-Inf, +-0 and values past every kink: NaN exactly where
 *   the CPU has NaN (and wherever the input is NaN), the same signed infinities.
 * - Regularization: sum_abs (beta 0 over NaN, and 1), soft_threshold, constrain (every kind),
 *   batch normalization forward (training; inference with and without the stats view), its
 *   moving averages, and backward over rows/cols of 1, 7, 65, 257, 1031; soft_threshold,
 *   constrain and moving_average with no NaN-guard flag, a clear one and a set one; add_noise
 *   bit-identical with the CPU.
 *
 * - The feature layer: embedding gathers (each combiner, the indicator form), their gradient's
 *   scatter-add (each combiner), the sparse update (each optimizer, a set guard), copy_cols.
 *
 * CLANN_TEST_SMALL=1 keeps the small shapes only (sizes up to 65, GEMMs up to 30000
 * multiply-adds, 1027 random values); CLANN_TEST_SMALL=2 (tiny) one odd shape per op, GEMMs of a
 * few hundred multiply-adds and the device's default GEMM path on one shape per transpose beside
 * the forced one: tests/oclgrind.sh runs the suite so on Oclgrind, a simulator thousands of
 * times slower than a device, and checks that every kernel ran.
 *
 * OpenCL does not survive fork (docs/testing.md, "Conventions"), so the suite runs with
 * CK_NOFORK and creates every context in this one process. Exits 77 (skip) when there is no
 * OpenCL device, or when the library is built without OpenCL (then only main is compiled).
 */
#include "backend/op_cases.h"
#include "backend/ops.h"
#include "backend/parity.h"
#include "core/rng.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 42u
#define NMSE_MAX CLANN__PARITY_NMSE_MAX
#define POST CLANN__PARITY_POST /* canary floats after a GEMM operand, as in CLBlast */
#define CANARY_BITS CLANN__PARITY_CANARY_BITS
#define MAX_TENSORS CLANN__PARITY_MAX_TENSORS
#define MAX_CL 9

/* Everything but main needs OpenCL; a CPU-only build compiles main alone, which skips. */
#if CLANN_HAVE_OPENCL

static struct clann_context *g_cpu;       /* CPU backend, REFERENCE mode */
static struct clann_context *g_cl[MAX_CL]; /* every OpenCL device, + the other GEMM paths */
static char g_cl_name[MAX_CL][200];
static size_t g_ncl;
static uint64_t g_draw;
/* CLANN_TEST_SMALL: 1, the first, small entries of each shape list; 2 (tiny), one odd shape per
 * op (tests/oclgrind.sh) */
static int g_small;
#define TINY (g_small >= 2)

/* ---------------------------------------------------------------------------------------------
 * Inputs and the per-group NMSE report.
 */
static float canary_value(void)
{
    float f;
    uint32_t u = CANARY_BITS;
    memcpy(&f, &u, sizeof f);
    return f;
}

static float *rand_array(size_t n, float lo, float hi)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * clann__rng_uniform(SEED, CLANN__RNG_STREAM_TEST, g_draw++);
    return a;
}

static struct {
    const char *group;
    double max_nmse;
    unsigned cases;
} g_report[32];

static void report(const char *group, double nmse)
{
    size_t i = 0;
    while (i < 32 && g_report[i].group && strcmp(g_report[i].group, group) != 0)
        i++;
    if (i == 32)
        return;
    g_report[i].group = group;
    g_report[i].cases++;
    if (nmse > g_report[i].max_nmse)
        g_report[i].max_nmse = nmse;
}

/* ---------------------------------------------------------------------------------------------
 * The harness is the library's (backend/parity.h, shared with `clann check`): run one op on a
 * backend over canary-guarded buffers, then match the outputs. Here a failure is an assert.
 */
typedef clann__parity_op op_fn;
#define op_case clann__parity_case

enum match {
    MATCH_NMSE = CLANN__MATCH_NMSE,
    MATCH_BITS = CLANN__MATCH_BITS,
    MATCH_SPECIAL = CLANN__MATCH_SPECIAL,
};

/* Runs fn on ctx's backend; res[t] gets tensor t after the op (NULL for a NULL view). */
static void run_on(struct clann_context *ctx, const char *label, const struct op_case *c,
                   op_fn fn, const void *arg, float **res)
{
    size_t canary;
    long at;
    enum clann_status st = clann__parity_run(ctx->be, c, fn, arg, res, &canary, &at);
    ck_assert_msg(st == CLANN_OK, "%s on %s: %s", label, ctx->device.name,
                  clann_context_last_error(ctx));
    ck_assert_msg(canary == c->nt, "%s on %s: canary of tensor %zu overwritten at %ld", label,
                  ctx->device.name, canary, at);
}

static size_t first_mismatch(enum match how, const float *ref, const float *got, size_t n)
{
    return clann__parity_first_mismatch((enum clann__parity_match)how, ref, got, n);
}

/* Runs the case on the CPU reference and on every OpenCL context; every tensor must match as
 * `how` says. */
static void compare_as(enum match how, const char *group, const char *label,
                       const struct op_case *c, op_fn fn, const void *arg)
{
    float *ref[MAX_TENSORS], *got[MAX_TENSORS];
    run_on(g_cpu, label, c, fn, arg, ref);
    for (size_t d = 0; d < g_ncl; d++) {
        run_on(g_cl[d], label, c, fn, arg, got);
        for (size_t t = 0; t < c->nt; t++) {
            if (!c->init[t])
                continue;
            size_t i = first_mismatch(how, ref[t], got[t], c->n[t]);
            ck_assert_msg(i == c->n[t], "%s on %s: tensor %zu differs at %zu (cpu %.9g, cl %.9g)",
                          label, g_cl_name[d], t, i, (double)ref[t][i], (double)got[t][i]);
            double e = clann__parity_nmse((enum clann__parity_match)how, ref[t], got[t], c->n[t]);
            report(group, e);
            ck_assert_msg(e <= NMSE_MAX, "%s on %s: tensor %zu NMSE %.3g > %g", label,
                          g_cl_name[d], t, e, NMSE_MAX);
        }
        for (size_t t = 0; t < c->nt; t++)
            free(got[t]);
    }
    for (size_t t = 0; t < c->nt; t++)
        free(ref[t]);
}

static void compare(const char *group, const char *label, const struct op_case *c, op_fn fn,
                    const void *arg)
{
    compare_as(MATCH_NMSE, group, label, c, fn, arg);
}

static void free_case(struct op_case *c)
{
    for (size_t t = 0; t < c->nt; t++)
        free(c->init[t]);
}

static const size_t sizes_1d[] = {1, 7, 64, 65, 257, 1024, 100003};
static const size_t shapes[][2] = {{1, 1},  {1, 7},   {7, 65},  {64, 64}, {65, 7},
                                   {257, 10}, {3, 257}, {257, 65}};
/* Tiny: 65 (a tail past every work-group and vector width), and for the reductions also 16411,
 * past two of the CPU forms' 8192-float chunks, so that their final stages run. */
static const size_t sizes_tiny[] = {65, 16411};
#define N_1D (TINY ? 1 : g_small ? 4 : sizeof sizes_1d / sizeof sizes_1d[0])
#define N_1D_REDUCE (TINY ? 2 : N_1D)
#define SIZE_1D(s) (TINY ? sizes_tiny[s] : sizes_1d[s])
#define SHAPE0 (TINY ? 2 : 0) /* tiny: 7 x 65 alone */
#define N_SHAPES (g_small ? 3 : sizeof shapes / sizeof shapes[0])

/* ---------------------------------------------------------------------------------------------
 * Small ops.
 */
START_TEST(test_blas1)
{
    char label[128];
    for (size_t s = 0; s < N_1D; s++) {
        size_t n = SIZE_1D(s);
        struct scalar_args a = {n, 0.75f, 0.0f, {0, 0, 0}};
        struct op_case c = {1, {n}, {rand_array(n, -1, 1)}};
        snprintf(label, sizeof label, "fill n=%zu", n);
        compare("fill/copy", label, &c, clann__case_fill, &a);
        free_case(&c);

        struct op_case c2 = {2, {n, n}, {rand_array(n, -1, 1), rand_array(n, -1, 1)}};
        snprintf(label, sizeof label, "copy n=%zu", n);
        compare("fill/copy", label, &c2, clann__case_copy, &a);
        a.a = -2.5f;
        snprintf(label, sizeof label, "axpy n=%zu", n);
        compare("axpy", label, &c2, clann__case_axpy, &a);
        free_case(&c2);

        struct op_case c3 = {1, {n}, {rand_array(n, -3, 3)}};
        a.a = 0.5f;
        snprintf(label, sizeof label, "clip_by_value n=%zu", n);
        compare("clip", label, &c3, clann__case_clip_value, &a);
        free_case(&c3);

        for (int big = 0; big < 2; big++) {
            struct op_case c4 = {2, {n, 1}, {rand_array(n, -1, 1), malloc(sizeof(float))}};
            c4.init[1][0] = big ? 9.0f : 0.25f; /* factor 1/3, or 1 */
            a.a = 1.0f;
            snprintf(label, sizeof label, "clip_by_norm n=%zu big=%d", n, big);
            compare("clip", label, &c4, clann__case_clip_norm, &a);
            free_case(&c4);
        }
    }
}
END_TEST

START_TEST(test_reductions)
{
    char label[128];
    const float betas[] = {0.0f, 1.0f, 2.5f};
    for (size_t s = 0; s < N_1D_REDUCE; s++) {
        for (size_t b = 0; b < 3; b++) {
            size_t n = SIZE_1D(s);
            struct op_case c = {2, {n, 1}, {rand_array(n, -1, 1), rand_array(1, -1, 1)}};
            if (betas[b] == 0.0f)
                c.init[1][0] = NAN; /* beta = 0 must overwrite */
            struct scalar_args a = {n, 0.5f, betas[b], {0, 0, 0}};
            snprintf(label, sizeof label, "sum n=%zu beta=%g", n, (double)betas[b]);
            compare("sum", label, &c, clann__case_sum, &a);
            snprintf(label, sizeof label, "sum_squares n=%zu beta=%g", n, (double)betas[b]);
            compare("sum", label, &c, clann__case_sum_squares, &a);
            free_case(&c);
        }
    }
}
END_TEST

START_TEST(test_dropout)
{
    char label[128];
    const float rates[] = {0.0f, 0.3f, 0.9f, 1.0f};
    for (size_t s = 0; s < N_1D; s++) {
        for (size_t r = 0; r < 4; r++) {
            size_t n = SIZE_1D(s);
            struct op_case c = {2, {n, n}, {rand_array(n, -1, 1), rand_array(n, -1, 1)}};
            struct scalar_args a = {n, rates[r], 0, {7, CLANN__RNG_STREAM_DROPOUT, 13 + s}};
            snprintf(label, sizeof label, "dropout n=%zu rate=%g", n, (double)rates[r]);
            compare("dropout", label, &c, clann__case_dropout, &a);
            free_case(&c);
        }
    }
    /* spatial dropout: rows x channels x positions, one draw per row and channel */
    static const size_t spatial_shapes[][3] = {{3, 5, 7}, {1, 1, 1}, {9, 16, 49}, {2, 3, 257}};
    for (size_t s = 0; s < 4; s++) {
        size_t spatial = spatial_shapes[s][2];
        size_t n = spatial_shapes[s][0] * spatial_shapes[s][1] * spatial;
        struct op_case c = {2, {n, n}, {rand_array(n, -1, 1), rand_array(n, -1, 1)}};
        struct spatial_dropout_args a = {{n, 0.4f, 0, {7, CLANN__RNG_STREAM_DROPOUT, 29 + s}},
                                         spatial};
        snprintf(label, sizeof label, "spatial dropout n=%zu spatial=%zu", n, spatial);
        compare("dropout", label, &c, clann__case_spatial_dropout, &a);
        free_case(&c);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Layer ops.
 */

START_TEST(test_activations)
{
    char label[160];
    for (int kind = 0; kind < CLANN__ACT_COUNT; kind++) {
        for (size_t s = SHAPE0; s < N_SHAPES; s++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
            for (int variant = 0; variant < 2; variant++) {
                /* variant 0: bias, RReLU training; variant 1: no bias, inference */
                struct act_args a = {clann__case_act(kind, variant == 0), rows, cols, 0};
                float scale = kind == CLANN__ACT_RELU6 ? 8.0f : 3.0f;
                struct op_case f = {4,
                                    {n, cols, cols, n},
                                    {rand_array(n, -scale, scale),
                                     variant == 0 ? rand_array(cols, -1, 1) : NULL,
                                     kind == CLANN__ACT_PRELU ? rand_array(cols, 0, 0.5f) : NULL,
                                     rand_array(n, -1, 1)}};
                snprintf(label, sizeof label, "bias_act_forward kind=%d %zux%zu variant=%d", kind,
                         rows, cols, variant);
                compare("bias_act_forward", label, &f, clann__case_forward, &a);
                free_case(&f);

                struct op_case b = {5,
                                    {n, n, n, cols, n},
                                    {rand_array(n, -scale, scale), rand_array(n, 0.01f, 0.99f),
                                     rand_array(n, -1, 1),
                                     kind == CLANN__ACT_PRELU ? rand_array(cols, 0, 0.5f) : NULL,
                                     rand_array(n, -1, 1)}};
                snprintf(label, sizeof label, "act_backward kind=%d %zux%zu variant=%d", kind,
                         rows, cols, variant);
                compare("act_backward", label, &b, clann__case_backward, &a);
                free_case(&b);
            }
        }
    }
}
END_TEST

/* Special values: NaN, infinities, signed zeros and values past every kink, cycled so that the
 * softmax rows of a 12 x 5 case each get a different mix (some rows all finite). */
static const float special_cycle[] = {NAN,  INFINITY, -INFINITY, 0.0f,  -0.0f, 0.5f,
                                      -0.5f, 6.0f,    7.0f,      -3.0f, 1e30f, -1e30f};
#define N_SPECIAL (sizeof special_cycle / sizeof special_cycle[0])

static float *special_array(size_t n, size_t phase)
{
    float *a = malloc((n ? n : 1) * sizeof *a);
    ck_assert_ptr_nonnull(a);
    for (size_t i = 0; i < n; i++)
        a[i] = special_cycle[(i + phase) % N_SPECIAL];
    return a;
}

/* On the CPU and every OpenCL context: tensor `out` is NaN wherever the input `in` is NaN. */
static void check_nan_maps(const char *label, const struct op_case *c, op_fn fn, const void *arg,
                           size_t in, size_t out)
{
    for (size_t d = 0; d <= g_ncl; d++) {
        struct clann_context *ctx = d == 0 ? g_cpu : g_cl[d - 1];
        float *res[MAX_TENSORS];
        run_on(ctx, label, c, fn, arg, res);
        size_t i = 0;
        while (i < c->n[in] && (!isnan(c->init[in][i]) || isnan(res[out][i])))
            i++;
        ck_assert_msg(i == c->n[in], "%s on %s: NaN input at %zu gave %g", label,
                      ctx->device.name, i, (double)res[out][i]);
        for (size_t t = 0; t < c->nt; t++)
            free(res[t]);
    }
}

/* NaN gives NaN and infinities keep their sign on both backends, for every activation forward
 * and backward (z, y and dy special) and the clamping element-wise ops. */
START_TEST(test_special_values)
{
    char label[160];
    const size_t rows = 12, cols = 5, n = rows * cols;
    for (int kind = 0; kind < CLANN__ACT_COUNT; kind++) {
        for (int variant = 0; variant < 2; variant++) {
            /* variant 0: no bias, RReLU training, finite dy; variant 1: bias, special dy */
            struct act_args a = {clann__case_act(kind, variant == 0), rows, cols, 0};
            struct op_case f = {4,
                                {n, cols, cols, n},
                                {special_array(n, 0), variant ? rand_array(cols, -1, 1) : NULL,
                                 kind == CLANN__ACT_PRELU ? rand_array(cols, 0, 0.5f) : NULL,
                                 rand_array(n, -1, 1)}};
            snprintf(label, sizeof label, "bias_act_forward special kind=%d variant=%d", kind,
                     variant);
            compare_as(MATCH_SPECIAL, "special values", label, &f, clann__case_forward, &a);
            check_nan_maps(label, &f, clann__case_forward, &a, 0, 3);
            free_case(&f);

            struct op_case b = {5,
                                {n, n, n, cols, n},
                                {special_array(n, 0), special_array(n, 5),
                                 variant ? special_array(n, 3) : rand_array(n, -1, 1),
                                 kind == CLANN__ACT_PRELU ? rand_array(cols, 0, 0.5f) : NULL,
                                 rand_array(n, -1, 1)}};
            snprintf(label, sizeof label, "act_backward special kind=%d variant=%d", kind,
                     variant);
            compare_as(MATCH_SPECIAL, "special values", label, &b, clann__case_backward, &a);
            if (variant == 1) /* NaN in dy reaches dz whatever the derivative */
                check_nan_maps(label, &b, clann__case_backward, &a, 2, 4);
            free_case(&b);
        }
    }
    struct scalar_args a = {n, 0.5f, 0, {0, 0, 0}};
    struct op_case c = {1, {n}, {special_array(n, 0)}};
    compare_as(MATCH_SPECIAL, "special values", "clip_by_value special", &c,
               clann__case_clip_value, &a);
    check_nan_maps("clip_by_value special", &c, clann__case_clip_value, &a, 0, 0);
    free_case(&c);
}
END_TEST

START_TEST(test_column_sums)
{
    char label[160];
    const float betas[] = {0.0f, 1.0f, 2.5f};
    for (size_t s = SHAPE0; s < N_SHAPES; s++) {
        for (size_t bi = 0; bi < 3; bi++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
            struct act_args a = {clann__case_act(0, false), rows, cols, betas[bi]};
            struct op_case c = {2, {n, cols}, {rand_array(n, -1, 1), rand_array(cols, -1, 1)}};
            snprintf(label, sizeof label, "col_sum %zux%zu beta=%g", rows, cols,
                     (double)betas[bi]);
            compare("col_sum/prelu_grad", label, &c, clann__case_col_sum, &a);
            free_case(&c);
            struct op_case p = {3,
                                {n, n, cols},
                                {rand_array(n, -1, 1), rand_array(n, -1, 1),
                                 rand_array(cols, -1, 1)}};
            snprintf(label, sizeof label, "prelu_grad %zux%zu beta=%g", rows, cols,
                     (double)betas[bi]);
            compare("col_sum/prelu_grad", label, &p, clann__case_prelu_grad, &a);
            free_case(&p);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Convolution and pooling (#8, #12): odd sizes, stride 2, dilation, same and valid padding.
 */
/* {N, C, H, W, kh, kw, stride, dilation, same} */
static const size_t conv_shapes[][9] = {
    {1, 1, 1, 1, 1, 1, 1, 1, 0},   {2, 3, 7, 5, 3, 3, 1, 1, 1},  {2, 2, 6, 6, 2, 2, 2, 1, 0},
    {3, 2, 9, 8, 3, 2, 2, 1, 1},   {2, 4, 11, 13, 5, 5, 2, 2, 1}, {2, 3, 7, 5, 3, 3, 2, 1, 0},
    {1, 3, 5, 5, 4, 4, 1, 1, 0},   {3, 1, 9, 9, 3, 3, 2, 1, 1},  {5, 2, 28, 28, 3, 3, 1, 1, 1},
    {2, 5, 7, 7, 2, 2, 2, 1, 1}};
#define CONV0 (TINY ? 1 : 0) /* tiny: an odd image, both paddings, stride 1 and 2, and disjoint
                              * pooling windows (their own backward kernel on CPU devices) */
#define N_CONV (g_small ? 3 : sizeof conv_shapes / sizeof conv_shapes[0])

static struct conv_args conv_case(size_t i)
{
    const size_t *s = conv_shapes[i];
    struct conv_args a = {.beta = 0.0f};
    clann__conv_geom_init(&a.g, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8] != 0);
    return a;
}

static size_t conv_in(const struct clann_conv_geom *g)
{
    return g->batch * g->channels * g->height * g->width;
}

static size_t conv_out(const struct clann_conv_geom *g, size_t channels)
{
    return g->batch * channels * g->out_h * g->out_w;
}

static void conv_label(char *out, size_t cap, const char *op, const struct conv_args *a)
{
    const struct clann_conv_geom *g = &a->g;
    snprintf(out, cap, "%s N%zu C%zu %zux%zu k%zux%zu s%zu d%zu pad %zu,%zu out %zux%zu%s", op,
             g->batch, g->channels, g->height, g->width, g->kernel_h, g->kernel_w, g->stride,
             g->dilation, g->pad_top, g->pad_left, g->out_h, g->out_w,
             a->max ? " max" : "");
}

START_TEST(test_conv)
{
    char label[200];
    for (size_t i = CONV0; i < N_CONV; i++) {
        struct conv_args a = conv_case(i);
        size_t nx = conv_in(&a.g), k = a.g.channels * a.g.kernel_h * a.g.kernel_w;
        size_t ncol = conv_out(&a.g, k);
        struct op_case im = {2, {nx, ncol}, {rand_array(nx, -1, 1), rand_array(ncol, -1, 1)}};
        conv_label(label, sizeof label, "im2col", &a);
        compare("conv", label, &im, clann__case_im2col, &a);
        free_case(&im);
        struct op_case ci = {2, {ncol, nx}, {rand_array(ncol, -1, 1), rand_array(nx, -1, 1)}};
        conv_label(label, sizeof label, "col2im", &a);
        compare("conv", label, &ci, clann__case_col2im, &a);
        free_case(&ci);
        struct op_case cb = {2,
                             {nx, a.g.channels},
                             {rand_array(nx, -1, 1), rand_array(a.g.channels, -1, 1)}};
        conv_label(label, sizeof label, "channel_bias", &a);
        compare("conv", label, &cb, clann__case_channel_bias, &a);
        free_case(&cb);
        for (a.beta = 0.0f; a.beta < 3.0f; a.beta += 2.5f) {
            struct op_case cs = {2,
                                 {nx, a.g.channels},
                                 {rand_array(nx, -1, 1), rand_array(a.g.channels, -1, 1)}};
            conv_label(label, sizeof label, "channel_sum", &a);
            compare("conv", label, &cs, clann__case_channel_sum, &a);
            free_case(&cs);
        }
    }
}
END_TEST

START_TEST(test_pool)
{
    char label[200];
    for (size_t i = CONV0; i < N_CONV; i++) {
        for (int max = 0; max < 2; max++) {
            struct conv_args a = conv_case(i);
            a.max = max;
            size_t nx = conv_in(&a.g), ny = conv_out(&a.g, a.g.channels);
            struct op_case f = {2, {nx, ny}, {rand_array(nx, -1, 1), rand_array(ny, -1, 1)}};
            conv_label(label, sizeof label, "pool2d_forward", &a);
            compare("pool", label, &f, clann__case_pool_forward, &a);
            free_case(&f);
            struct op_case b = {3,
                                {nx, ny, nx},
                                {max ? rand_array(nx, -1, 1) : NULL, rand_array(ny, -1, 1),
                                 rand_array(nx, -1, 1)}};
            conv_label(label, sizeof label, "pool2d_backward", &a);
            compare("pool", label, &b, clann__case_pool_backward, &a);
            free_case(&b);
        }
    }
}
END_TEST

/* v: src, dst, idx */
/* Sampled softmax's column gather and scatter: n distinct columns of width (every 3rd, from
 * the far end), both ways; a scatter leaves the other columns of dst as they were. */
START_TEST(test_index_cols)
{
    char label[160];
    const size_t dims[][2] = {{1, 1}, {1, 7}, {7, 65}, {64, 257}, {257, 1031}};
    for (size_t s = TINY ? 2 : 0; s < (g_small ? 3 : sizeof dims / sizeof *dims); s++) {
        size_t rows = dims[s][0], width = dims[s][1], n = (width + 2) / 3;
        float *idx = malloc(n * sizeof *idx);
        ck_assert_ptr_nonnull(idx);
        for (size_t j = 0; j < n; j++)
            idx[j] = (float)(width - 1 - 3 * j);
        for (int scatter = 0; scatter < 2; scatter++) {
            struct index_args a = {rows, width, n, scatter != 0};
            size_t ns = rows * (scatter ? n : width), nd = rows * (scatter ? width : n);
            struct op_case c = {3, {ns, nd, n}, {rand_array(ns, -1, 1), rand_array(nd, -1, 1),
                                                 malloc(n * sizeof(float))}};
            memcpy(c.init[2], idx, n * sizeof *idx);
            snprintf(label, sizeof label, "index_cols %s %zux%zu n=%zu",
                     scatter ? "scatter" : "gather", rows, width, n);
            compare("index_cols", label, &c, clann__case_index_cols, &a);
            free_case(&c);
        }
        free(idx);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * The feature layer: embedding gathers (every combiner, and the indicator form), the gradient's
 * scatter-add (every combiner), the sparse update (every optimizer; a set NaN guard changes
 * nothing), the numeric columns' copy. Ids: every 4th slot a pad (-1), others from
 * U(-1.5, n_ids + 2) floored, so that some are past the table (skipped).
 */
static float *embed_ids(size_t n, size_t n_ids)
{
    float *ids = rand_array(n, -1.5f, (float)n_ids + 2);
    for (size_t i = 0; i < n; i++)
        ids[i] = i % 4 == 3 ? -1.0f : floorf(ids[i]);
    return ids;
}

/* A batch's index for a (clann__case_embedding_index); the caller frees the four arrays. */
static void embed_batch(struct embed_args *a, float **ids, float **uniq, float **offsets,
                        float **occ)
{
    size_t slots = a->rows * a->width;
    *ids = embed_ids(slots, a->n_ids);
    *uniq = malloc(slots * sizeof(float));
    *offsets = malloc((slots + 1) * sizeof(float));
    *occ = malloc(slots * sizeof(float));
    ck_assert(*uniq && *offsets && *occ);
    a->n_unique = clann__case_embedding_index(*ids, a->rows, a->width, a->n_ids, *uniq, *offsets,
                                              *occ, &a->n_occ);
    ck_assert_uint_gt(a->n_unique, 0);
}

static void embedding_updates(size_t rows, size_t width, size_t n_ids, size_t dim)
{
    char label[160];
    for (int kind = 0; kind < CLANN__OPT_COUNT; kind++) {
        for (int variant = 0; variant < 3; variant++) { /* plain, nesterov, guard set */
            if ((variant == 1 && kind != CLANN__OPT_MOMENTUM) ||
                (variant == 2 && kind != CLANN__OPT_ADAM))
                continue;
            struct embed_args a = {.rows = rows, .width = width, .n_ids = n_ids, .dim = dim};
            a.opt = (struct clann_opt){.kind = (enum clann__opt_kind)kind, .lr = 0.05f,
                                       .momentum = 0.9f, .nesterov = variant == 1,
                                       .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f,
                                       .rho = 0.9f, .initial_accumulator = 0.1f, .step = 3};
            float *ids, *uniq, *offsets, *occ;
            embed_batch(&a, &ids, &uniq, &offsets, &occ);
            size_t nt = n_ids * dim;
            float *guard = malloc(sizeof *guard);
            ck_assert_ptr_nonnull(guard);
            guard[0] = variant == 2 ? 1.0f : 0.0f;
            struct op_case c = {6,
                                {nt, nt, nt, a.n_unique, a.n_unique * dim, 1},
                                {rand_array(nt, -1, 1),
                                 kind == CLANN__OPT_SGD ? NULL : rand_array(nt, 0, 1),
                                 kind == CLANN__OPT_ADAM ? rand_array(nt, 0, 1) : NULL, uniq,
                                 rand_array(a.n_unique * dim, -1, 1), guard}};
            snprintf(label, sizeof label, "embedding_update kind=%d variant=%d rows=%zu", kind,
                     variant, rows);
            compare("embedding_update", label, &c, clann__case_embedding_update, &a);
            free_case(&c);
            free(ids);
            free(offsets);
            free(occ);
        }
    }
}

START_TEST(test_embedding)
{
    static const size_t rows_list[] = {1, 7, 65, 257};
    const size_t width = 5, dim = 7, few = 37; /* few ids: they repeat within and across rows */
    char label[160];
    for (size_t s = TINY ? 2 : 0; s < (g_small ? 3 : 4); s++) {
        size_t rows = rows_list[s], slots = rows * width;
        for (int table = 0; table < 2; table++) {
            for (int comb = 0; comb < 3; comb++) {
                size_t n_ids = table ? 1031 : few, d = table ? dim : n_ids;
                struct embed_args a = {.rows = rows, .width = width, .n_ids = n_ids,
                                       .dim = d, .combiner = (enum clann_combiner)comb};
                struct op_case c = {3, {slots, n_ids * d, rows * d},
                                    {embed_ids(slots, n_ids),
                                     table ? rand_array(n_ids * d, -1, 1) : NULL,
                                     rand_array(rows * d, -1, 1)}};
                snprintf(label, sizeof label, "embedding_forward comb=%d table=%d rows=%zu",
                         comb, table, rows);
                compare("embedding_forward", label, &c, clann__case_embedding_forward, &a);
                free_case(&c);
            }
        }
        for (int comb = 0; comb < 3; comb++) {
            struct embed_args a = {.rows = rows, .width = width, .n_ids = few,
                                   .dim = dim, .combiner = (enum clann_combiner)comb};
            float *ids, *uniq, *offsets, *occ;
            embed_batch(&a, &ids, &uniq, &offsets, &occ);
            struct op_case c = {5,
                                {rows * dim, slots, a.n_unique + 1, a.n_occ, a.n_unique * dim},
                                {rand_array(rows * dim, -1, 1), ids, offsets, occ,
                                 rand_array(a.n_unique * dim, -1, 1)}};
            snprintf(label, sizeof label, "embedding_backward comb=%d rows=%zu", comb, rows);
            compare("embedding_backward", label, &c, clann__case_embedding_backward, &a);
            free_case(&c);
            free(uniq);
        }
        embedding_updates(rows, width, few, dim);
        struct embed_args a = {.rows = rows, .width = 2 * dim + 1, .n_ids = 0, .dim = dim};
        struct op_case c = {2, {rows * (2 * dim + 1), rows * dim},
                            {rand_array(rows * (2 * dim + 1), -1, 1),
                             rand_array(rows * dim, -1, 1)}};
        snprintf(label, sizeof label, "copy_cols rows=%zu", rows);
        compare("copy_cols", label, &c, clann__case_copy_cols, &a);
        free_case(&c);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Losses and metrics.
 */
/* v: pred, labels, row_loss, grad */
/* v: pred, labels, correct */
/* Labels for a loss kind: one class index per row (sparse; NCE, then a 0/1 flag per column), a
 * distribution per row (softmax CE), 0..1 (sigmoid CE), else U(-1, 1). */
static float *make_labels(int kind, size_t rows, size_t cols)
{
    if (kind == CLANN__LOSS_SPARSE_SOFTMAX_CE || kind == CLANN__LOSS_NCE) {
        bool nce = kind == CLANN__LOSS_NCE;
        float *l = rand_array(nce ? rows + cols : rows, 0, 1);
        for (size_t r = 0; r < rows; r++) {
            size_t k = (size_t)(l[r] * (float)cols);
            l[r] = (float)(k < cols ? k : cols - 1);
        }
        for (size_t c = 0; nce && c < cols; c++)
            l[rows + c] = l[rows + c] > 0.5f ? 1.0f : 0.0f;
        return l;
    }
    if (kind == CLANN__LOSS_SOFTMAX_CE) {
        float *l = rand_array(rows * cols, 0.01f, 1);
        for (size_t r = 0; r < rows; r++) {
            double s = 0;
            for (size_t c = 0; c < cols; c++)
                s += l[r * cols + c];
            for (size_t c = 0; c < cols; c++)
                l[r * cols + c] = (float)(l[r * cols + c] / s);
        }
        return l;
    }
    if (kind == CLANN__LOSS_SIGMOID_CE)
        return rand_array(rows * cols, 0, 1);
    return rand_array(rows * cols, -1, 1);
}

START_TEST(test_losses)
{
    char label[160];
    for (int kind = 0; kind < CLANN__LOSS_COUNT; kind++) {
        if (!clann__loss_computed(kind))
            continue;
        for (size_t s = SHAPE0; s < N_SHAPES; s++) {
            for (int with_grad = 0; with_grad < 2; with_grad++) {
                size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
                bool sparse = kind == CLANN__LOSS_SPARSE_SOFTMAX_CE;
                size_t n_labels = sparse ? rows : kind == CLANN__LOSS_NCE ? rows + cols : n;
                struct loss_args a = {{(enum clann__loss_kind)kind, 0.5f}, rows, cols,
                                      1.0f / (float)rows, clann__case_count_rule(kind), 0.0f};
                struct op_case c = {4,
                                    {n, n_labels, rows, n},
                                    {rand_array(n, -4, 4), make_labels(kind, rows, cols),
                                     rand_array(rows, -1, 1),
                                     with_grad ? rand_array(n, -1, 1) : NULL}};
                snprintf(label, sizeof label, "loss kind=%d %zux%zu grad=%d", kind, rows, cols,
                         with_grad);
                compare("loss", label, &c, clann__case_loss, &a);
                free_case(&c);
                /* the fused batch loss: row losses, gradient, their sum (over NaN with beta
                 * 0, accumulated with 1) and the classification count, as the three ops */
                a.sum_beta = with_grad ? 0.0f : 1.0f;
                uint64_t draw = g_draw; /* drawn apart: later tests keep their inputs */
                g_draw += UINT64_C(1) << 40;
                bool counted = kind == CLANN__LOSS_SPARSE_SOFTMAX_CE || kind == CLANN__LOSS_NCE ||
                               kind == CLANN__LOSS_SOFTMAX_CE || kind == CLANN__LOSS_SIGMOID_CE;
                float *sum0 = rand_array(1, -1, 1), *cnt0 = rand_array(1, 0, 0);
                if (with_grad)
                    sum0[0] = NAN;
                cnt0[0] = 3.0f;
                struct op_case b = {6,
                                    {n, n_labels, rows, n, 1, 1},
                                    {rand_array(n, -4, 4), make_labels(kind, rows, cols),
                                     rand_array(rows, -1, 1),
                                     with_grad ? rand_array(n, -1, 1) : NULL, sum0,
                                     counted ? cnt0 : NULL}};
                if (!counted)
                    free(cnt0);
                snprintf(label, sizeof label, "loss_batch kind=%d %zux%zu grad=%d", kind, rows,
                         cols, with_grad);
                compare("loss_batch", label, &b, clann__case_loss_batch, &a);
                free_case(&b);
                g_draw = draw;
            }
        }
    }
}
END_TEST

/* The fused NaN guard against its composition (guard_check, sum_squares, guard_check,
 * accumulate_unless): finite and non-finite gradients and batch losses, a flag already set,
 * with and without the loss accumulation. */
START_TEST(test_guard_grads)
{
    char label[160];
    uint64_t draw = g_draw; /* drawn apart: later tests keep their inputs */
    g_draw += UINT64_C(1) << 41;
    for (size_t s = 0; s < N_1D_REDUCE; s++) {
        size_t n = SIZE_1D(s);
        for (int k = 0; k < 8; k++) {
            bool bad_x = k & 1, bad_batch = k & 2, preset = k & 4;
            float *x = rand_array(n, -1, 1), *batch = rand_array(1, 0, 2);
            float *flag = rand_array(1, 0, 0), *loss = rand_array(1, 0, 5);
            if (bad_x)
                x[n / 2] = NAN;
            if (bad_batch)
                batch[0] = INFINITY;
            flag[0] = preset ? 4.0f : 0.0f;
            struct scalar_args a = {n, 17.0f, 0, {0, 0, 0}};
            struct op_case c = {5, {n, 1, 1, 1, 1},
                                {x, rand_array(1, -1, 1), batch, flag, s % 2 ? NULL : loss}};
            if (s % 2)
                free(loss);
            snprintf(label, sizeof label, "guard_grads n=%zu bad_x=%d bad_batch=%d preset=%d", n,
                     bad_x, bad_batch, preset);
            compare_as(MATCH_SPECIAL, "guard_grads", label, &c, clann__case_guard_grads, &a);
            free_case(&c);
        }
    }
    g_draw = draw;
}
END_TEST

/* The guard's unfused parts: a non-finite sum flags the step (a flag already set stays), a
 * flagged step is not accumulated, a third skip in a row passes the limit 2 and marks the stop,
 * a clean step resets the run. */
START_TEST(test_guard_parts)
{
    char label[96];
    for (int k = 0; k < 4; k++) {
        bool bad = k & 1, preset = k & 2;
        struct scalar_args ga = {1, 17.0f, 0, {0, 0, 0}};
        struct op_case g = {2, {1, 1}, {rand_array(1, 0, 2), rand_array(1, 0, 0)}};
        g.init[0][0] = bad ? INFINITY : g.init[0][0];
        g.init[1][0] = preset ? 4.0f : 0.0f;
        snprintf(label, sizeof label, "guard_check bad=%d preset=%d", bad, preset);
        compare_as(MATCH_SPECIAL, "guard parts", label, &g, clann__case_guard_check, &ga);
        free_case(&g);
        struct op_case u = {3, {1, 1, 1}, {rand_array(1, 0, 2), rand_array(1, 0, 5),
                                           rand_array(1, 0, 0)}};
        u.init[2][0] = bad ? 1.0f : 0.0f;
        snprintf(label, sizeof label, "accumulate_unless flagged=%d", bad);
        compare_as(MATCH_SPECIAL, "guard parts", label, &u, clann__case_accumulate_unless, &ga);
        free_case(&u);
        struct scalar_args sk = {1, 2.0f, 17.0f, {0, 0, 0}};
        struct op_case r = {3, {1, 1, 1}, {rand_array(1, 0, 0), rand_array(1, 0, 0),
                                           rand_array(1, 0, 0)}};
        r.init[0][0] = bad ? 1.0f : 0.0f;
        r.init[1][0] = preset ? 2.0f : 0.0f;
        snprintf(label, sizeof label, "guard_skip flagged=%d run=%d", bad, preset ? 2 : 0);
        compare_as(MATCH_SPECIAL, "guard parts", label, &r, clann__case_guard_skip, &sk);
        free_case(&r);
    }
}
END_TEST

START_TEST(test_count_correct)
{
    char label[160];
    const float betas[] = {0.0f, 1.0f, 2.5f};
    for (size_t s = SHAPE0; s < N_SHAPES; s++) {
        for (int mode = 0; mode < 4; mode++) {
            size_t rows = shapes[s][0], cols = mode == 2 ? 1 : shapes[s][1], n = rows * cols;
            int rule = mode == 0 ? CLANN__COUNT_SPARSE
                       : mode == 3 ? CLANN__COUNT_MULTILABEL : CLANN__COUNT_ARGMAX;
            struct loss_args a = {{CLANN__LOSS_MSE, 0}, rows, cols, betas[(s + mode) % 3],
                                  rule, 0.0f};
            float *labels;
            if (mode == 1) {
                labels = rand_array(n, -1, 1); /* argmax of a dense row */
            } else if (mode == 3) { /* multi-label: 0/1 in every column */
                labels = rand_array(n, 0, 1);
                for (size_t i = 0; i < n; i++)
                    labels[i] = labels[i] > 0.5f ? 1.0f : 0.0f;
            } else if (mode == 2) {
                labels = rand_array(rows, 0, 1);
                for (size_t r = 0; r < rows; r++)
                    labels[r] = labels[r] > 0.5f ? 1.0f : 0.0f;
            } else {
                labels = make_labels(CLANN__LOSS_SPARSE_SOFTMAX_CE, rows, cols);
            }
            float *pred = rand_array(n, -1, 1);
            if (mode == 0) /* make some rows right */
                for (size_t r = 0; r < rows; r += 2)
                    pred[r * cols + (size_t)labels[r]] = 2.0f;
            for (size_t i = 0; mode == 3 && i < n; i++) /* even rows exactly right */
                if ((i / cols) % 2 == 0)
                    pred[i] = labels[i] > 0.5f ? fabsf(pred[i]) + 0.5f : -fabsf(pred[i]) - 0.5f;
            struct op_case c = {3, {n, (mode == 1 || mode == 3) ? n : rows, 1},
                                {pred, labels, rand_array(1, 0, 10)}};
            snprintf(label, sizeof label, "count_correct mode=%d %zux%zu", mode, rows, cols);
            compare("count_correct", label, &c, clann__case_count, &a);
            free_case(&c);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Optimizers.
 */
START_TEST(test_optimizers)
{
    char label[160];
    for (int kind = 0; kind < CLANN__OPT_COUNT; kind++) {
        for (int nesterov = 0; nesterov < 2; nesterov++) {
            if (nesterov && kind != CLANN__OPT_MOMENTUM)
                continue;
            for (size_t s = 0; s < N_1D; s++) {
                size_t n = SIZE_1D(s);
                struct opt_args a;
                memset(&a, 0, sizeof a);
                a.opt.kind = (enum clann__opt_kind)kind;
                a.opt.lr = 0.05f;
                a.opt.momentum = 0.9f;
                a.opt.nesterov = nesterov;
                a.opt.beta1 = 0.9f;
                a.opt.beta2 = 0.999f;
                a.opt.eps = 1e-7f;
                a.opt.rho = 0.9f;
                a.opt.initial_accumulator = 0.1f;
                a.opt.step = 3;
                a.n = n;
                struct op_case c = {4,
                                    {n, n, n, n},
                                    {rand_array(n, -1, 1), rand_array(n, -1, 1),
                                     kind == CLANN__OPT_SGD ? NULL : rand_array(n, 0, 1),
                                     kind == CLANN__OPT_ADAM ? rand_array(n, 0, 1) : NULL}};
                snprintf(label, sizeof label, "optimizer kind=%d nesterov=%d n=%zu", kind,
                         nesterov, n);
                compare("optimizer_step", label, &c, clann__case_opt, &a);
                free_case(&c);
            }
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Regularization: penalties, constraints, noise, batch normalization.
 */
static const size_t reg_shapes[][2] = {{1, 1},   {1, 7},    {7, 1},    {7, 65},
                                       {65, 7},  {257, 1},  {1, 257},  {65, 257},
                                       {257, 65}, {1031, 7}};
#define REG0 (TINY ? 3 : 0) /* tiny: 7 x 65 and 65 x 7 */
#define N_REG_SHAPES (g_small ? 5 : sizeof reg_shapes / sizeof reg_shapes[0])

/* The NaN guard's flag for the ops that honour it: none (a NULL view), clear, set. */
#define N_GUARDS 3
static const char *const guard_names[N_GUARDS] = {"none", "clear", "set"};

static float *guard_array(size_t mode)
{
    if (mode == 0)
        return NULL;
    float *g = malloc(sizeof *g);
    ck_assert_ptr_nonnull(g);
    g[0] = mode == 2 ? 1.0f : 0.0f;
    return g;
}

START_TEST(test_penalties)
{
    char label[128];
    const float betas[] = {0.0f, 1.0f}, thresholds[] = {0.0f, 0.25f};
    for (size_t s = 0; s < N_1D; s++) {
        size_t n = SIZE_1D(s);
        for (size_t b = 0; b < 2; b++) {
            struct op_case c = {2, {n, 1}, {rand_array(n, -1, 1), rand_array(1, -1, 1)}};
            if (betas[b] == 0.0f)
                c.init[1][0] = NAN; /* beta = 0 must overwrite */
            struct scalar_args a = {n, 0, betas[b], {0, 0, 0}};
            snprintf(label, sizeof label, "sum_abs n=%zu beta=%g", n, (double)betas[b]);
            compare("sum_abs", label, &c, clann__case_sum_abs, &a);
            free_case(&c);
        }
        for (size_t t = 0; t < 2 * N_GUARDS; t++) {
            struct op_case c = {2, {n, 1}, {rand_array(n, -1, 1), guard_array(t / 2)}};
            /* the band's edges and a zero of each sign */
            c.init[0][n / 2] = thresholds[t % 2];
            c.init[0][n - 1] = -thresholds[t % 2];
            c.init[0][n / 3] = -0.0f;
            struct scalar_args a = {n, thresholds[t % 2], 0, {0, 0, 0}};
            snprintf(label, sizeof label, "soft_threshold n=%zu t=%g guard=%s", n,
                     (double)thresholds[t % 2], guard_names[t / 2]);
            compare("soft_threshold", label, &c, clann__case_soft_threshold, &a);
            free_case(&c);
            /* per weight: thresholds from 2e-4 / (sqrt(v + delta) + eps) reach past 0.02 */
            struct op_case cv = {3, {n, n, 1}, {rand_array(n, -1, 1), rand_array(n, 0, 1e-4f),
                                                guard_array(t / 2)}};
            struct scalar_args av = {n, 2e-4f * (float)(t % 2), 1e-6f, {0, 0, 0}};
            snprintf(label, sizeof label, "soft_threshold per weight n=%zu guard=%s", n,
                     guard_names[t / 2]);
            compare("soft_threshold", label, &cv, clann__case_soft_threshold_v, &av);
            free_case(&cv);
        }
    }
    struct scalar_args a = {N_SPECIAL, 0.25f, 0, {0, 0, 0}};
    struct op_case c = {2, {N_SPECIAL, 1}, {special_array(N_SPECIAL, 0), NULL}};
    compare_as(MATCH_SPECIAL, "special values", "soft_threshold special", &c,
               clann__case_soft_threshold, &a);
    check_nan_maps("soft_threshold special", &c, clann__case_soft_threshold, &a, 0, 0);
    free_case(&c);
}
END_TEST

START_TEST(test_add_noise)
{
    char label[128];
    const float stddevs[] = {0.0f, 0.1f, 2.5f};
    for (size_t s = 0; s < N_1D; s++) {
        for (size_t k = 0; k < 3; k++) {
            size_t n = SIZE_1D(s);
            /* offsets that are not multiples of the Philox block, and one past 2^32 */
            uint64_t offset = k == 2 ? UINT64_C(0x100000003) : 13 + s;
            struct scalar_args a = {n, stddevs[k], 0,
                                    {1234 + k, CLANN__RNG_STREAM_NOISE + 16 * (uint32_t)k,
                                     offset}};
            struct op_case c = {1, {n}, {rand_array(n, -1, 1)}};
            snprintf(label, sizeof label, "add_noise n=%zu stddev=%g", n, (double)stddevs[k]);
            compare_as(MATCH_BITS, "add_noise (bit-identical)", label, &c,
                       clann__case_add_noise, &a);
            free_case(&c);
        }
    }
}
END_TEST

static enum clann_status do_constrain(struct clann_backend *be, struct clann_view *v,
                                      const void *p)
{
    const struct constrain_args *a = p;
    return clann__op_constrain(be, &a->op, v[0], a->rows, a->cols, v[1]); /* v[1]: guard */
}

/* U(-1, 1) with column c scaled so that the column norms spread from about 0.06 to 1.2 (below,
 * inside and above [0.3, 0.9]); column 1 is all zeros (n = 0, the epsilon case). */
static float *constraint_input(size_t rows, size_t cols)
{
    float *x = rand_array(rows * cols, -1, 1);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            x[r * cols + c] *= c == 1 ? 0.0f : (0.1f + 0.5f * (float)(c % 5)) / sqrtf((float)rows);
    return x;
}

START_TEST(test_constrain)
{
    char label[160];
    const struct clann_constraint_op ops[] = {
        {CLANN__CONSTRAINT_NONE, 0, 0, 0},
        {CLANN__CONSTRAINT_MAX_NORM, 0, 0.9f, 0},
        {CLANN__CONSTRAINT_MIN_MAX_NORM, 0.3f, 0.9f, 1.0f},
        {CLANN__CONSTRAINT_MIN_MAX_NORM, 0.3f, 0.9f, 0.5f},
        {CLANN__CONSTRAINT_UNIT_NORM, 0, 0, 0},
        {CLANN__CONSTRAINT_NON_NEG, 0, 0, 0}};
    for (size_t s = REG0; s < N_REG_SHAPES; s++) {
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            size_t rows = reg_shapes[s][0], cols = reg_shapes[s][1];
            struct constrain_args a = {ops[k], rows, cols};
            size_t g = (s + k) % N_GUARDS; /* every guard state meets every kind */
            struct op_case c = {2, {rows * cols, 1}, {constraint_input(rows, cols),
                                                      guard_array(g)}};
            snprintf(label, sizeof label, "constrain kind=%d rate=%g %zux%zu guard=%s",
                     (int)ops[k].kind, (double)ops[k].rate, rows, cols, guard_names[g]);
            compare("constrain", label, &c, do_constrain, &a);
            free_case(&c);
        }
    }
    struct constrain_args a = {ops[5], 3, 4};
    struct op_case c = {2, {12, 1}, {special_array(12, 0), NULL}};
    compare_as(MATCH_SPECIAL, "special values", "constrain non_neg special", &c, do_constrain,
               &a);
    check_nan_maps("constrain non_neg special", &c, do_constrain, &a, 0, 0);
    free_case(&c);
}
END_TEST

/* v: x, y, gamma, beta, stats (mean | var | invstd), running (mean | var) */
/* v: avg, x, guard */
/* v: x, dy, gamma, mean, invstd, dx, dgamma, dbeta */
/* Batch normalization across ranks: the per-channel sums and dx from given sums, per column
 * (spatial 1) and per channel over several values (spatial 4), CPU against OpenCL. */
START_TEST(test_batchnorm_dist)
{
    char label[160];
    static const size_t spatials[] = {1, 4};
    for (size_t s = 0; s < N_REG_SHAPES; s++)
        for (size_t k = 0; k < 2; k++) {
            size_t rows = reg_shapes[s][0], ch = reg_shapes[s][1], sp = spatials[k];
            size_t n = rows * ch * sp;
            for (int centered = 0; centered < 2; centered++) {
                struct bn_dist_args a = {rows, ch, sp, 0.0f, centered};
                struct op_case c = {3, {n, ch, ch},
                                    {rand_array(n, 1, 3), rand_array(ch, 1.5f, 2.5f),
                                     rand_array(ch, -1, 1)}};
                snprintf(label, sizeof label, "batchnorm_sums centered=%d %zux%zux%zu", centered,
                         rows, ch, sp);
                compare("batchnorm_sums", label, &c, clann__case_bn_sums, &a);
                free_case(&c);
            }
            /* dgamma and dbeta of the size of count * dy: an error in any term of dx shows */
            float count = (float)(3 * rows * sp);
            struct bn_dist_args a = {rows, ch, sp, count, false};
            struct op_case b = {8,
                                {n, n, ch, ch, ch, ch, ch, n},
                                {rand_array(n, 1, 3), rand_array(n, -1, 1),
                                 rand_array(ch, 0.5f, 1.5f), rand_array(ch, 1.8f, 2.2f),
                                 rand_array(ch, 1, 2), rand_array(ch, -count, count),
                                 rand_array(ch, -count, count), rand_array(n, -1, 1)}};
            snprintf(label, sizeof label, "batchnorm_dx %zux%zux%zu", rows, ch, sp);
            compare("batchnorm_dx", label, &b, clann__case_bn_dx, &a);
            free_case(&b);
        }
}
END_TEST

START_TEST(test_batchnorm)
{
    char label[160];
    for (size_t s = REG0; s < N_REG_SHAPES; s++) {
        size_t rows = reg_shapes[s][0], cols = reg_shapes[s][1], n = rows * cols;
        /* mode 0: training (running given, must stay as it is); 1: inference, stats given
         * (must stay as they are); 2: inference with a NULL stats view */
        for (int mode = 0; mode < 3; mode++) {
            struct bn_args a = {rows, cols, 0.9f, 1e-3f, mode == 0};
            float *running = rand_array(2 * cols, 1.5f, 2.5f);
            for (size_t i = cols; i < 2 * cols; i++)
                running[i] -= 1.3f; /* variances in [0.2, 1.2] */
            struct op_case c = {6,
                                {n, n, cols, cols, 3 * cols, 2 * cols},
                                {rand_array(n, 1, 3), rand_array(n, -1, 1),
                                 rand_array(cols, 0.5f, 1.5f), rand_array(cols, -1, 1),
                                 mode == 2 ? NULL : rand_array(3 * cols, 0.5f, 2), running}};
            snprintf(label, sizeof label, "batchnorm_forward mode=%d %zux%zu", mode, rows, cols);
            compare("batchnorm_forward", label, &c, clann__case_bn_forward, &a);
            free_case(&c);
        }
        for (size_t g = 0; g < N_GUARDS; g++) {
            struct bn_args a = {rows, cols, 0.9f, 1e-3f, true};
            struct op_case c = {3, {n, n, 1}, {rand_array(n, -1, 1), rand_array(n, 0, 2),
                                               guard_array(g)}};
            snprintf(label, sizeof label, "moving_average n=%zu guard=%s", n, guard_names[g]);
            compare("moving_average", label, &c, clann__case_moving_average, &a);
            free_case(&c);
        }
        struct bn_args a = {rows, cols, 0.9f, 1e-3f, true};
        struct op_case b = {8,
                            {n, n, cols, cols, cols, n, cols, cols},
                            {rand_array(n, 1, 3), rand_array(n, -1, 1),
                             rand_array(cols, 0.5f, 1.5f), rand_array(cols, 1.8f, 2.2f),
                             rand_array(cols, 1, 2), rand_array(n, -1, 1),
                             rand_array(cols, -1, 1), rand_array(cols, -1, 1)}};
        snprintf(label, sizeof label, "batchnorm_backward %zux%zu", rows, cols);
        compare("batchnorm_backward", label, &b, clann__case_bn_backward, &a);
        free_case(&b);
    }
}
END_TEST

/* Channel batch norm: rows x channels x positions (odd sizes, one image, a single position). */
START_TEST(test_channel_batchnorm)
{
    static const size_t bn_shapes[][3] = {{3, 5, 7}, {1, 3, 9}, {4, 1, 1}, {16, 8, 49},
                                          {2, 3, 300}};
    char label[160];
    for (size_t s = 0; s < 5; s++) {
        size_t rows = bn_shapes[s][0], cols = bn_shapes[s][1], spatial = bn_shapes[s][2];
        size_t n = rows * cols * spatial;
        for (int training = 0; training < 2; training++) {
            struct spatial_bn_args a = {{rows, cols, 0.9f, 1e-3f, training != 0}, spatial};
            float *running = rand_array(2 * cols, 0.2f, 1.2f);
            struct op_case c = {6,
                                {n, n, cols, cols, 3 * cols, 2 * cols},
                                {rand_array(n, 1, 3), rand_array(n, -1, 1),
                                 rand_array(cols, 0.5f, 1.5f), rand_array(cols, -1, 1),
                                 rand_array(3 * cols, 0.5f, 2), running}};
            snprintf(label, sizeof label, "channel batchnorm_forward training=%d %zux%zux%zu",
                     training, rows, cols, spatial);
            compare("batchnorm_forward", label, &c, clann__case_spatial_bn_forward, &a);
            free_case(&c);
        }
        struct spatial_bn_args a = {{rows, cols, 0.9f, 1e-3f, true}, spatial};
        struct op_case b = {8,
                            {n, n, cols, cols, cols, n, cols, cols},
                            {rand_array(n, 1, 3), rand_array(n, -1, 1),
                             rand_array(cols, 0.5f, 1.5f), rand_array(cols, 1.8f, 2.2f),
                             rand_array(cols, 1, 2), rand_array(n, -1, 1),
                             rand_array(cols, -1, 1), rand_array(cols, -1, 1)}};
        snprintf(label, sizeof label, "channel batchnorm_backward %zux%zux%zu", rows, cols,
                 spatial);
        compare("batchnorm_backward", label, &b, clann__case_spatial_bn_backward, &a);
        free_case(&b);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * GEMM against a double reference.
 */
static const size_t gemm_dims[] = {1, 7, 64, 65, 257, 784};
static const float gemm_scalars[] = {0.0f, 1.0f, 2.5f};

static void gemm_case(struct clann_context *ctx, const char *dev, bool ta, bool tb, size_t m,
                      size_t n, size_t k, float alpha, float beta, size_t off)
{
    if (g_small && m * n * k > 30000)
        return;
    struct clann_backend *be = ctx->be;
    size_t a_rows = ta ? k : m, a_cols = ta ? m : k;
    size_t b_rows = tb ? n : k, b_cols = tb ? k : n;
    size_t lda = a_cols + 3, ldb = b_cols + 1, ldc = n + 2;
    size_t na = off + a_rows * lda + POST, nb = off + b_rows * ldb + POST,
           nc = off + m * ldc + POST;
    float *a = rand_array(na, -1, 1), *b = rand_array(nb, -1, 1), *c = rand_array(nc, -1, 1);
    float *out = malloc(nc * sizeof(float));
    double *ref = malloc(m * n * sizeof(double));
    const float canary = canary_value();
    ck_assert_ptr_nonnull(out);
    ck_assert_ptr_nonnull(ref);
    /* padding and canaries of C are NaN patterns; beta = 0 also fills C itself with NaN */
    for (size_t i = 0; i < nc; i++) {
        size_t r = (i - off) / ldc, col = (i - off) % ldc;
        bool inside = i >= off && r < m && col < n;
        if (!inside || beta == 0.0f)
            c[i] = canary;
    }
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double s = 0;
            for (size_t p = 0; p < k; p++) {
                double av = ta ? a[off + p * lda + i] : a[off + i * lda + p];
                double bv = tb ? b[off + j * ldb + p] : b[off + p * ldb + j];
                s += av * bv;
            }
            double cv = beta == 0.0f ? 0.0 : (double)c[off + i * ldc + j];
            ref[i * n + j] = (double)alpha * s + (double)beta * cv;
        }
    struct clann_buf ba, bb, bc;
    ck_assert_int_eq(clann__buf_create(be, na, &ba), CLANN_OK);
    ck_assert_int_eq(clann__buf_create(be, nb, &bb), CLANN_OK);
    ck_assert_int_eq(clann__buf_create(be, nc, &bc), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&ba, 0), a, na, true), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&bb, 0), b, nb, true), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&bc, 0), c, nc, true), CLANN_OK);
    enum clann_status st = clann__op_gemm(be, ta, tb, m, n, k, alpha, clann__view(&ba, off), lda,
                                         clann__view(&bb, off), ldb, beta, clann__view(&bc, off),
                                         ldc);
    ck_assert_msg(st == CLANN_OK, "gemm on %s: %s", dev, clann_context_last_error(ctx));
    ck_assert_int_eq(clann__op_download(be, out, clann__view(&bc, 0), nc), CLANN_OK);
    double num = 0, den = 0;
    size_t bad_canary = nc, bad_nan = nc;
    for (size_t i = 0; i < nc; i++) {
        size_t r = (i - off) / ldc, col = (i - off) % ldc;
        bool inside = i >= off && r < m && col < n;
        if (!inside) {
            if (memcmp(&out[i], &c[i], sizeof(float)) != 0 && bad_canary == nc)
                bad_canary = i;
            continue;
        }
        if (isnan(out[i]) && bad_nan == nc)
            bad_nan = i;
        double d = out[i] - ref[r * n + col];
        num += d * d;
        den += ref[r * n + col] * ref[r * n + col];
    }
    ck_assert_msg(bad_canary == nc,
                  "gemm on %s ta=%d tb=%d m=%zu n=%zu k=%zu: C padding/canary overwritten at %zu",
                  dev, ta, tb, m, n, k, bad_canary);
    ck_assert_msg(bad_nan == nc, "gemm on %s ta=%d tb=%d m=%zu n=%zu k=%zu a=%g b=%g: NaN at %zu",
                  dev, ta, tb, m, n, k, (double)alpha, (double)beta, bad_nan);
    double e = den > 0 ? num / den : num;
    report("gemm", e);
    ck_assert_msg(e <= NMSE_MAX,
                  "gemm on %s ta=%d tb=%d m=%zu n=%zu k=%zu alpha=%g beta=%g: NMSE %.3g", dev,
                  ta, tb, m, n, k, (double)alpha, (double)beta, e);
    clann__buf_destroy(&ba);
    clann__buf_destroy(&bb);
    clann__buf_destroy(&bc);
    free(a);
    free(b);
    free(c);
    free(out);
    free(ref);
}

/* Tiny (CLANN_TEST_SMALL=2, tests/oclgrind.sh): every transpose over the tiled kernel's tile
 * edges and tails (16: 17 and 33 cross them), alpha = 0 and k = 0 (scale_matrix alone), on
 * every context; then the device's default GEMM (CLBlast beside the GPU forms, cl/gemm_cpu.cl
 * beside the CPU forms) on one shape a transpose, whose 8 x 16 blocks it leaves with edges:
 * interpreted, CLBlast's kernels are slow. */
static struct clann_context *g_gemm_default;

static void gemm_tiny(void)
{
    static const size_t dims[][3] = {{17, 7, 33}, {7, 17, 5}, {1, 1, 1}, {7, 9, 0}, {9, 7, 5}};
    for (size_t d = 0; d < g_ncl; d++)
        for (int t = 0; t < 4; t++)
            for (size_t i = 0; i < sizeof dims / sizeof *dims; i++)
                gemm_case(g_cl[d], g_cl_name[d], t & 1, t & 2, dims[i][0], dims[i][1],
                          dims[i][2], i == 4 ? 0.0f : gemm_scalars[(i + 1) % 3],
                          gemm_scalars[(i + (size_t)t) % 3], i % 2 ? 10 : 3);
    for (int t = 0; g_gemm_default && t < 4; t++)
        gemm_case(g_gemm_default, "the default GEMM", t & 1, t & 2, 9, 17, 5, 1.0f,
                  t % 2 ? 2.5f : 0.0f, 3);
}

/* Strided-batched GEMM (conv2d's forward, data and weight gradients): each transpose, a shared
 * A (stride 0) and gapped strides, per-product C and the summed form (stride_c 0), against
 * the CPU reference's loop over its GEMM. */
START_TEST(test_gemm_batched)
{
    /* tiny first: the only shape under CLANN_TEST_SMALL (Oclgrind interprets every item) */
    static const size_t dims[][4] = {{5, 7, 3, 3}, {16, 49, 9, 5}, {7, 65, 3, 3}, {9, 16, 49, 4},
                                     {3, 5, 2, 1}};
    char label[160];
    for (size_t d = 0; d < (g_small ? 1 : sizeof dims / sizeof dims[0]); d++)
        for (int t = 0; t < 8; t++) {
            bool ta = t & 1, tb = (t >> 1) & 1, sum = (t >> 2) & 1;
            size_t m = dims[d][0], n = dims[d][1], k = dims[d][2], count = dims[d][3];
            struct gemm_batch_args a = {ta, tb, m, n, k, (ta ? m : k) + 1, (tb ? k : n) + 2,
                                        n + 1, 1.5f, sum ? 2.5f : (float)(d % 2),
                                        {count, 0, 0, 0}};
            size_t one_a = (ta ? k : m) * a.lda, one_b = (tb ? n : k) * a.ldb, one_c = m * a.ldc;
            a.batch.stride_a = d % 2 ? one_a + 3 : 0; /* shared A, as a convolution's W */
            a.batch.stride_b = one_b + 1;
            a.batch.stride_c = sum ? 0 : one_c + 2;
            size_t na = one_a + (count - 1) * a.batch.stride_a,
                   nb = one_b + (count - 1) * a.batch.stride_b,
                   nc = one_c + (count - 1) * a.batch.stride_c;
            struct op_case c = {3,
                                {na, nb, nc},
                                {rand_array(na, -1, 1), rand_array(nb, -1, 1),
                                 rand_array(nc, -1, 1)}};
            snprintf(label, sizeof label, "gemm_batched ta=%d tb=%d m=%zu n=%zu k=%zu x%zu%s", ta,
                     tb, m, n, k, count, sum ? " summed" : "");
            compare("gemm_batched", label, &c, clann__case_gemm_batched, &a);
            free_case(&c);
        }
}
END_TEST

START_TEST(test_gemm)
{
    if (TINY) {
        gemm_tiny();
        return;
    }
    for (size_t d = 0; d < g_ncl; d++) {
        for (int t = 0; t < 4; t++) {
            bool ta = t & 1, tb = (t >> 1) & 1;
            /* every M x N x K of the dimension list (but the largest cubes, to keep the double
             * reference quick), alpha and beta cycling through their values */
            for (size_t i = 0; i < 216; i++) {
                size_t m = gemm_dims[i / 36], n = gemm_dims[(i / 6) % 6], k = gemm_dims[i % 6];
                if (m * n * k > 60000000u)
                    continue;
                float alpha = gemm_scalars[(i + (size_t)t) % 3];
                float beta = gemm_scalars[(i / 3 + (size_t)t) % 3];
                gemm_case(g_cl[d], g_cl_name[d], ta, tb, m, n, k, alpha, beta, i % 2 ? 10 : 3);
            }
            /* every alpha x beta pair on an odd shape */
            for (size_t s = 0; s < 9; s++)
                gemm_case(g_cl[d], g_cl_name[d], ta, tb, 65, 7, 257, gemm_scalars[s / 3],
                          gemm_scalars[s % 3], 10);
            /* degenerate sizes */
            gemm_case(g_cl[d], g_cl_name[d], ta, tb, 1, 1, 1, 2.5f, 0.0f, 1);
            gemm_case(g_cl[d], g_cl_name[d], ta, tb, 7, 64, 0, 1.0f, 2.5f, 1);
            gemm_case(g_cl[d], g_cl_name[d], ta, tb, 784, 65, 7, 1.0f, 1.0f, 10);
            /* more rows than NVIDIA's 65535 work-groups in a grid's second dimension: the
             * product, and alpha = 0 (C = beta C alone, scale_matrix's 1-D launch) */
            gemm_case(g_cl[d], g_cl_name[d], ta, tb, 70000, 3, 5, 1.0f, 0.0f, 3);
            gemm_case(g_cl[d], g_cl_name[d], ta, tb, 70000, 3, 5, 0.0f, 2.5f, 3);
        }
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * RNG: bit-identical streams and their statistics.
 */
START_TEST(test_rng)
{
    const size_t n = g_small ? 1027 : 1000000;
    const struct clann_rng_key keys[] = {
        {0, 0, 0}, {42, 1, 5}, {UINT64_C(0xdeadbeefcafef00d), 3, 1003}, {7, 15, UINT64_C(0x100000003)}};
    float *ref = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(ref);
    ck_assert_ptr_nonnull(got);
    for (size_t d = 0; d < g_ncl; d++) {
        struct clann_backend *be = g_cl[d]->be;
        struct clann_buf buf;
        ck_assert_int_eq(clann__buf_create(be, n, &buf), CLANN_OK);
        for (size_t ki = 0; ki < sizeof keys / sizeof keys[0]; ki++) {
            for (int normal = 0; normal < 2; normal++) {
                struct clann_rng_key key = keys[ki];
                float lo = normal ? 0.0f : (ki == 2 ? -2.0f : 0.0f);
                float hi = normal ? 1.0f : (ki == 2 ? 3.0f : 1.0f);
                enum clann_status st =
                    normal ? clann__op_rng_normal(be, clann__view(&buf, 0), n, key, lo, hi)
                           : clann__op_rng_uniform(be, clann__view(&buf, 0), n, key, lo, hi);
                ck_assert_msg(st == CLANN_OK, "%s", clann_context_last_error(g_cl[d]));
                ck_assert_int_eq(clann__op_download(be, got, clann__view(&buf, 0), n), CLANN_OK);
                double sum = 0, sq = 0;
                for (size_t i = 0; i < n; i++) {
                    ref[i] = normal ? lo + hi * clann__rng_normal(key.seed, key.stream,
                                                                   key.offset + i)
                                    : lo + (hi - lo) * clann__rng_uniform(key.seed, key.stream,
                                                                          key.offset + i);
                    sum += got[i];
                    sq += (double)got[i] * got[i];
                }
                size_t i = 0;
                while (i < n && memcmp(&ref[i], &got[i], sizeof(float)) == 0)
                    i++;
                if (i < n)
                    ck_abort_msg("%s: %s value %zu (seed %llu stream %u offset %llu) differs: "
                                  "cpu %.9g, opencl %.9g",
                                  g_cl_name[d], normal ? "normal" : "uniform", i,
                                  (unsigned long long)key.seed, (unsigned)key.stream,
                                  (unsigned long long)key.offset, (double)ref[i], (double)got[i]);
                /* statistics of the standardized stream: within 6 sigma */
                double w = normal ? 1.0 : (double)(hi - lo);
                double mean = (sum / (double)n - (normal ? 0.0 : lo)) / w;
                double var = (sq / (double)n - (sum / (double)n) * (sum / (double)n)) / (w * w);
                double em = normal ? 0.0 : 0.5, ev = normal ? 1.0 : 1.0 / 12.0;
                double sm = sqrt(ev / (double)n);
                double sv = normal ? sqrt(2.0 / (double)n) : sqrt(1.0 / 180.0 / (double)n);
                ck_assert_msg(fabs(mean - em) < 6 * sm, "%s: mean %g", g_cl_name[d], mean);
                ck_assert_msg(fabs(var - ev) < 6 * sv, "%s: variance %g", g_cl_name[d], var);
                report(normal ? "rng_normal (bit-identical)" : "rng_uniform (bit-identical)",
                       0.0);
            }
        }
        clann__buf_destroy(&buf);
    }
    free(ref);
    free(got);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Runner.
 */
static struct clann_context *make_context(const char *device, enum clann_cpu_mode mode)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = device;
    p.cpu_mode = mode;
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    struct clann_context *ctx = NULL;
    if (clann_context_create(&p, &ctx) != CLANN_OK) {
        fprintf(stderr, "context on %s: %s\n", device, clann_last_error());
        return NULL;
    }
    return ctx;
}
#endif /* CLANN_HAVE_OPENCL */

int main(void)
{
#if !CLANN_HAVE_OPENCL
    printf("built without OpenCL: skipped\n");
    return 77;
#else
    const char *small = getenv("CLANN_TEST_SMALL");
    g_small = !small || strcmp(small, "0") == 0 ? 0 : strcmp(small, "2") == 0 ? 2 : 1;
    struct clann_device_info *list = NULL;
    size_t count = 0, pick = 0;
    const char *why = NULL;
    if (clann_devices_list(&list, &count, &pick, &why) != CLANN_OK) {
        fprintf(stderr, "clann_devices_list: %s\n", clann_last_error());
        return EXIT_FAILURE;
    }
    if (count < 2) {
        fprintf(stderr, "no OpenCL device (%s)\n", why ? why : "none");
        clann_devices_free(list);
        return test_skip_status("test-backend");
    }
    g_cpu = make_context("cpu", CLANN_CPU_MODE_REFERENCE);
    if (!g_cpu)
        return EXIT_FAILURE;
    for (size_t i = 1; i < count && g_ncl + 1 < MAX_CL; i++) {
        char sel[32];
        snprintf(sel, sizeof sel, "opencl:%d:%d", list[i].platform, list[i].device);
        g_cl[g_ncl] = make_context(sel, CLANN_CPU_MODE_FAST);
        if (!g_cl[g_ncl])
            return EXIT_FAILURE;
        snprintf(g_cl_name[g_ncl], sizeof g_cl_name[g_ncl], "%s (%s)", sel, list[i].name);
        printf("device %s\n", g_cl_name[g_ncl]);
        g_ncl++;
    }
    /* The first device once more with each other GEMM path (the device's default is the
     * register-tiled kernel on CPU devices, CLBlast on GPUs): CLBlast and the tiled kernel;
     * CLANN_GEMM in the environment forces one path, and the suite runs that one alone. */
    static const char *const gemm_paths[] = {
#if CLANN_HAVE_CLBLAST
        "clblast",
#endif
        "tiled"};
    size_t n_paths = getenv("CLANN_GEMM") ? 0 : sizeof gemm_paths / sizeof *gemm_paths;
    for (size_t k = 0; k < n_paths && g_ncl < MAX_CL; k++) {
        char sel[32];
        snprintf(sel, sizeof sel, "opencl:%d:%d", list[1].platform, list[1].device);
        setenv("CLANN_GEMM", gemm_paths[k], 1);
        g_cl[g_ncl] = make_context(sel, CLANN_CPU_MODE_FAST);
        unsetenv("CLANN_GEMM");
        if (!g_cl[g_ncl])
            return EXIT_FAILURE;
        snprintf(g_cl_name[g_ncl], sizeof g_cl_name[g_ncl], "%s (%s, GEMM %s)", sel,
                 list[1].name, gemm_paths[k]);
        g_ncl++;
    }
    /* Tiny, with CLANN_GEMM forcing a path for everything: the device's default path beside
     * it, for gemm_tiny's few cases. */
    const char *forced = getenv("CLANN_GEMM");
    if (TINY && forced) {
        char sel[32], keep[32];
        snprintf(sel, sizeof sel, "opencl:%d:%d", list[1].platform, list[1].device);
        snprintf(keep, sizeof keep, "%s", forced);
        unsetenv("CLANN_GEMM");
        g_gemm_default = make_context(sel, CLANN_CPU_MODE_FAST);
        setenv("CLANN_GEMM", keep, 1);
        if (!g_gemm_default)
            return EXIT_FAILURE;
    }
    clann_devices_free(list);

    Suite *s = suite_create("backend");
    const struct {
        const char *name;
        const TTest *test;
    } cases[] = {{"blas1", test_blas1},           {"reductions", test_reductions},
                 {"dropout", test_dropout},       {"activations", test_activations},
                 {"column_sums", test_column_sums}, {"index_cols", test_index_cols},
                 {"losses", test_losses},
                 {"count_correct", test_count_correct}, {"guard_grads", test_guard_grads},
                 {"guard_parts", test_guard_parts}, {"optimizers", test_optimizers},
                 {"special_values", test_special_values}, {"penalties", test_penalties},
                 {"add_noise", test_add_noise},   {"constrain", test_constrain},
                 {"batchnorm", test_batchnorm},   {"channel_batchnorm", test_channel_batchnorm},
                 {"rng", test_rng},
                 {"batchnorm_dist", test_batchnorm_dist},
                 {"gemm", test_gemm},             {"gemm_batched", test_gemm_batched},
                 {"conv", test_conv},             {"pool", test_pool},
                 {"embedding", test_embedding}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 600);
        tcase_add_test(tc, cases[i].test);
        suite_add_tcase(s, tc);
    }
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    printf("max NMSE per op group (CPU REFERENCE vs %zu OpenCL context(s)):\n", g_ncl);
    for (size_t i = 0; i < 32 && g_report[i].group; i++)
        printf("  %-28s %5u comparisons  max NMSE %.3g\n", g_report[i].group, g_report[i].cases,
               g_report[i].max_nmse);
    for (size_t d = 0; d < g_ncl; d++)
        clann_context_destroy(g_cl[d]);
    clann_context_destroy(g_gemm_default);
    clann_context_destroy(g_cpu);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
#endif
}
