/*
 * test-conv.c - the CPU reference's convolution and pooling ops against their definitions
 * (backend.h): convolution through im2col + GEMM against a direct convolution in double,
 * col2im as im2col's exact adjoint, pooling on hand-computed values, pooling's backward pass
 * against central differences (#1, #2, #7: inputs kept apart so no argmax flips), and the
 * same/valid geometry rules; and the conv2d, pooling and flatten layers' parameter and input
 * gradients in a whole model against central differences of its loss (#2). Channel batch norm
 * and spatial dropout: their statistics, masks, gradients, files and a learning run. OpenCL
 * parity is in test-backend.c (#8).
 */
#include "backend/ops.h"
#include "nn/model.h"
#include "testutil.h"

#include <unistd.h>

static struct clann_context *g_ctx;
static struct clann_backend *g_be;
static unsigned g_seed = 1;

static float urand(float lo, float hi)
{
    g_seed = g_seed * 1103515245u + 12345u;
    return lo + (hi - lo) * (float)((g_seed >> 8) & 0xffffff) / 16777216.0f;
}

static void setup(void)
{
    g_ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    g_be = g_ctx->be;
}

static void teardown(void)
{
    clann_context_destroy(g_ctx);
}

/* A device buffer of n floats holding host[0..n) (host NULL: uninitialized). */
static struct clann_buf upload(const float *host, size_t n)
{
    struct clann_buf b;
    ck_assert_int_eq(clann__buf_create(g_be, n ? n : 1, &b), CLANN_OK);
    if (n && host)
        ck_assert_int_eq(clann__op_upload(g_be, clann__view(&b, 0), host, n, true), CLANN_OK);
    return b;
}

static float *download(struct clann_buf *b, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    ck_assert_ptr_nonnull(h);
    ck_assert_int_eq(clann__op_download(g_be, h, clann__view(b, 0), n), CLANN_OK);
    return h;
}

static float *rand_host(size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < n; i++)
        h[i] = urand(-1, 1);
    return h;
}

/* {N, C, H, W, kh, kw, stride, dilation, same, filters} */
static const size_t shapes[][10] = {{2, 3, 7, 5, 3, 3, 1, 1, 1, 4},  {2, 3, 7, 5, 3, 3, 2, 1, 0, 2},
                                    {1, 2, 9, 8, 3, 2, 2, 1, 1, 3},  {2, 1, 11, 13, 5, 5, 2, 2, 1, 2},
                                    {1, 1, 1, 1, 1, 1, 1, 1, 0, 1}, {1, 2, 6, 6, 4, 4, 1, 1, 0, 5}};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static struct clann_conv_geom geom(size_t i)
{
    const size_t *s = shapes[i];
    struct clann_conv_geom g;
    clann__conv_geom_init(&g, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8] != 0);
    return g;
}

/* y[n][f][oy][ox] = sum_{c,i,j} w[f][c][i][j] x[n][c][iy][ix], straight from the definition. */
static double direct_conv(const struct clann_conv_geom *g, const float *x, const float *w,
                          size_t n, size_t f, size_t oy, size_t ox)
{
    double s = 0.0;
    for (size_t c = 0; c < g->channels; c++)
        for (size_t i = 0; i < g->kernel_h; i++)
            for (size_t j = 0; j < g->kernel_w; j++) {
                long iy = (long)(oy * g->stride + i * g->dilation) - (long)g->pad_top;
                long ix = (long)(ox * g->stride + j * g->dilation) - (long)g->pad_left;
                if (iy < 0 || ix < 0 || iy >= (long)g->height || ix >= (long)g->width)
                    continue;
                s += (double)w[((f * g->channels + c) * g->kernel_h + i) * g->kernel_w + j] *
                     x[((n * g->channels + c) * g->height + (size_t)iy) * g->width + (size_t)ix];
            }
    return s;
}

START_TEST(test_conv_by_gemm)
{
    for (size_t t = 0; t < N_SHAPES; t++) {
        struct clann_conv_geom g = geom(t);
        size_t f = shapes[t][9], k = g.channels * g.kernel_h * g.kernel_w;
        size_t npos = g.out_h * g.out_w, nx = g.batch * g.channels * g.height * g.width;
        float *xh = rand_host(nx), *wh = rand_host(f * k);
        struct clann_buf x = upload(xh, nx), w = upload(wh, f * k);
        struct clann_buf col = upload(NULL, g.batch * k * npos);
        struct clann_buf y = upload(NULL, g.batch * f * npos);
        ck_assert_int_eq(clann__op_im2col(g_be, &g, clann__view(&x, 0), clann__view(&col, 0)),
                         CLANN_OK);
        for (size_t n = 0; n < g.batch; n++)
            ck_assert_int_eq(clann__op_gemm(g_be, false, false, f, npos, k, 1.0f,
                                            clann__view(&w, 0), k,
                                            clann__view(&col, n * k * npos), npos, 0.0f,
                                            clann__view(&y, n * f * npos), npos),
                             CLANN_OK);
        float *yh = download(&y, g.batch * f * npos);
        for (size_t n = 0; n < g.batch; n++)
            for (size_t ff = 0; ff < f; ff++)
                for (size_t p = 0; p < npos; p++) {
                    double want = direct_conv(&g, xh, wh, n, ff, p / g.out_w, p % g.out_w);
                    ck_assert_msg(fabs(yh[(n * f + ff) * npos + p] - want) <= 1e-5,
                                  "shape %zu (n %zu, f %zu, p %zu): %g, want %g", t, n, ff, p,
                                  (double)yh[(n * f + ff) * npos + p], want);
                }
        free(xh), free(wh), free(yh);
        clann__buf_destroy(&x), clann__buf_destroy(&w), clann__buf_destroy(&col),
            clann__buf_destroy(&y);
    }
}
END_TEST

/* <im2col(x), c> == <x, col2im(c)>: col2im is the adjoint that conv's data gradient needs. */
START_TEST(test_col2im_adjoint)
{
    for (size_t t = 0; t < N_SHAPES; t++) {
        struct clann_conv_geom g = geom(t);
        size_t nx = g.batch * g.channels * g.height * g.width;
        size_t ncol = g.batch * g.channels * g.kernel_h * g.kernel_w * g.out_h * g.out_w;
        float *xh = rand_host(nx), *ch = rand_host(ncol);
        struct clann_buf x = upload(xh, nx), c = upload(ch, ncol);
        struct clann_buf col = upload(NULL, ncol), back = upload(NULL, nx);
        ck_assert_int_eq(clann__op_im2col(g_be, &g, clann__view(&x, 0), clann__view(&col, 0)),
                         CLANN_OK);
        ck_assert_int_eq(clann__op_col2im(g_be, &g, clann__view(&c, 0), clann__view(&back, 0)),
                         CLANN_OK);
        float *colh = download(&col, ncol), *backh = download(&back, nx);
        double lhs = 0.0, rhs = 0.0;
        for (size_t i = 0; i < ncol; i++)
            lhs += (double)colh[i] * ch[i];
        for (size_t i = 0; i < nx; i++)
            rhs += (double)xh[i] * backh[i];
        ck_assert_msg(fabs(lhs - rhs) <= 1e-5 * (1.0 + fabs(lhs)), "shape %zu: %g vs %g", t, lhs,
                      rhs);
        free(xh), free(ch), free(colh), free(backh);
        clann__buf_destroy(&x), clann__buf_destroy(&c), clann__buf_destroy(&col),
            clann__buf_destroy(&back);
    }
}
END_TEST

START_TEST(test_geometry)
{
    struct clann_conv_geom g;
    clann__conv_geom_init(&g, 1, 1, 28, 28, 3, 3, 1, 1, true);
    ck_assert(g.out_h == 28 && g.out_w == 28 && g.pad_top == 1 && g.pad_left == 1);
    clann__conv_geom_init(&g, 1, 1, 7, 5, 3, 3, 2, 1, true);
    ck_assert(g.out_h == 4 && g.out_w == 3 && g.pad_top == 1 && g.pad_left == 1);
    clann__conv_geom_init(&g, 1, 1, 7, 5, 3, 3, 2, 1, false);
    ck_assert(g.out_h == 3 && g.out_w == 2 && g.pad_top == 0);
    clann__conv_geom_init(&g, 1, 1, 5, 5, 2, 2, 2, 1, true); /* odd padding goes after */
    ck_assert(g.out_h == 3 && g.pad_top == 0);
    clann__conv_geom_init(&g, 1, 1, 11, 11, 5, 5, 2, 2, false); /* span 9 */
    ck_assert(g.out_h == 2);
    clann__conv_geom_init(&g, 1, 1, 3, 3, 5, 5, 1, 1, false);
    ck_assert(g.out_h == 0);
    /* a geometry whose last window starts past the image is rejected, not read out of bounds */
    clann__conv_geom_init(&g, 1, 1, 4, 4, 2, 2, 2, 1, false);
    g.out_h = 3;
    struct clann_buf a = upload(NULL, 64), b = upload(NULL, 64);
    ck_assert_int_eq(clann__op_pool2d_forward(g_be, &g, true, clann__view(&a, 0),
                                              clann__view(&b, 0)),
                     CLANN_ERR_INVALID_ARG);
    clann__buf_destroy(&a), clann__buf_destroy(&b);
}
END_TEST

/* 4x4 input, 2x2 windows with stride 2 and stride 1, hand-computed. */
START_TEST(test_pool_values)
{
    const float x[16] = {1, 5, 2, 2, 3, 4, 8, 0, -1, -2, 7, 7, 0, -3, 6, 9};
    struct clann_buf xb = upload(x, 16), yb = upload(NULL, 16), dyb, dxb = upload(NULL, 16);
    struct clann_conv_geom g;
    clann__conv_geom_init(&g, 1, 1, 4, 4, 2, 2, 2, 1, false);
    const float want_max[4] = {5, 8, 0, 9}, want_avg[4] = {3.25f, 3, -1.5f, 7.25f};
    for (int max = 0; max < 2; max++) {
        ck_assert_int_eq(clann__op_pool2d_forward(g_be, &g, max, clann__view(&xb, 0),
                                                  clann__view(&yb, 0)),
                         CLANN_OK);
        float *y = download(&yb, 4);
        for (int i = 0; i < 4; i++)
            ck_assert_float_eq(y[i], max ? want_max[i] : want_avg[i]);
        free(y);
    }
    /* stride 1, overlapping windows: 7 is the max of two windows; ties go to the first (7, 7) */
    clann__conv_geom_init(&g, 1, 1, 4, 4, 2, 2, 1, 1, false);
    const float dy[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    dyb = upload(dy, 9);
    ck_assert_int_eq(clann__op_pool2d_backward(g_be, &g, true, clann__view(&xb, 0),
                                               clann__view(&dyb, 0), clann__view(&dxb, 0)),
                     CLANN_OK);
    float *dx = download(&dxb, 16);
    /* windows' argmax: (0,0)->5@1 (0,1)->8@6 (0,2)->8@6 (1,0)->4@5 (1,1)->8@6 (1,2)->8@6
     * (2,0)->0@12 (2,1)->7@10 (2,2)->9@15 */
    const float want_dx[16] = {0, 1, 0, 0, 0, 4, 2 + 3 + 5 + 6, 0, 0, 0, 8, 0, 7, 0, 0, 9};
    for (int i = 0; i < 16; i++)
        ck_assert_msg(dx[i] == want_dx[i], "dx[%d] = %g, want %g", i, (double)dx[i],
                      (double)want_dx[i]);
    free(dx);
    clann__buf_destroy(&xb), clann__buf_destroy(&yb), clann__buf_destroy(&dyb),
        clann__buf_destroy(&dxb);
}
END_TEST

/* L = sum dy * pool(x): dL/dx from the backward op against central differences, with x a
 * permutation of well-separated values so that no argmax changes within eps. */
START_TEST(test_pool_gradcheck)
{
    for (size_t t = 0; t < N_SHAPES; t++) {
        struct clann_conv_geom g = geom(t);
        size_t nx = g.batch * g.channels * g.height * g.width, ny = nx / (g.height * g.width) *
                                                                     g.out_h * g.out_w;
        float *xh = malloc(nx * sizeof *xh), *dyh = rand_host(ny);
        for (size_t i = 0; i < nx; i++)
            xh[i] = (float)((i * 7919u) % nx) * 0.1f; /* distinct, 0.1 apart */
        for (int max = 0; max < 2; max++) {
            struct clann_buf x = upload(xh, nx), y = upload(NULL, ny), dy = upload(dyh, ny),
                             dx = upload(NULL, nx);
            ck_assert_int_eq(clann__op_pool2d_backward(g_be, &g, max, clann__view(&x, 0),
                                                       clann__view(&dy, 0), clann__view(&dx, 0)),
                             CLANN_OK);
            float *a = download(&dx, nx);
            double num2 = 0.0, err2 = 0.0;
            const float eps = 1e-2f;
            for (size_t i = 0; i < nx; i++) {
                double l[2];
                for (int side = 0; side < 2; side++) {
                    float v = xh[i] + (side ? eps : -eps);
                    ck_assert_int_eq(clann__op_upload(g_be, clann__view(&x, i), &v, 1, true),
                                     CLANN_OK);
                    ck_assert_int_eq(clann__op_pool2d_forward(g_be, &g, max, clann__view(&x, 0),
                                                              clann__view(&y, 0)),
                                     CLANN_OK);
                    float *yh = download(&y, ny);
                    l[side] = 0.0;
                    for (size_t o = 0; o < ny; o++)
                        l[side] += (double)dyh[o] * yh[o];
                    free(yh);
                }
                ck_assert_int_eq(clann__op_upload(g_be, clann__view(&x, i), &xh[i], 1, true),
                                 CLANN_OK);
                double n = (l[1] - l[0]) / (2.0 * eps);
                ck_assert_msg(fabs(a[i] - n) <= 1e-3 + 1e-2 * fabs(n),
                              "shape %zu %s: dx[%zu] = %g, numeric %g", t, max ? "max" : "avg",
                              i, (double)a[i], n);
                num2 += n * n;
                err2 += (a[i] - n) * (a[i] - n);
            }
            ck_assert(sqrt(err2) <= 1e-3 * sqrt(num2) + 1e-12);
            free(a);
            clann__buf_destroy(&x), clann__buf_destroy(&y), clann__buf_destroy(&dy),
                clann__buf_destroy(&dx);
        }
        free(xh), free(dyh);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Layers: a small model's gradients against central differences of its summed loss (#2).
 */
enum { GC_ROWS = 3 };

/* L = sum over rows of the MSE loss for the model's current parameters; with grads, also
 * the backward pass into m->grads. training: the training pass (batch statistics, dropout
 * masks of step 0, the same in every call). */
static double model_loss(struct clann_model *m, bool grads, bool training)
{
    struct clann_view out;
    size_t cols = m->layers[m->n_layers - 1].out;
    ck_assert_int_eq(clann__model_forward(m, GC_ROWS, training, 0, &out), CLANN_OK);
    ck_assert_int_eq(clann__op_loss(m->be, &m->loss, out, clann__view(&m->labels, 0), GC_ROWS,
                                    cols, clann__view(&m->row_loss, 0),
                                    clann__layer_dy(m, m->n_layers - 1), 1.0f),
                     CLANN_OK);
    if (grads)
        ck_assert_int_eq(clann__model_backward(m, GC_ROWS, 0), CLANN_OK);
    float rl[GC_ROWS];
    ck_assert_int_eq(clann__op_download(m->be, rl, clann__view(&m->row_loss, 0), GC_ROWS),
                     CLANN_OK);
    return (double)rl[0] + rl[1] + rl[2];
}

/* Every parameter's gradient against central differences of the loss. The layers' input
 * gradients (col2im, pooling's backward pass, flatten) are checked through the parameters of
 * the layers before them. */
static void gradcheck_model(struct clann_model *m, const char *what, bool training)
{
    size_t np = m->n_params, nin = GC_ROWS * m->n_inputs;
    size_t cols = m->layers[m->n_layers - 1].out;
    float *x = rand_host(nin), *y = rand_host(GC_ROWS * cols);
    ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->input, 0), x, nin, true), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->labels, 0), y, GC_ROWS * cols, true),
                     CLANN_OK);
    model_loss(m, true, training);
    float *w = download(&m->params, np), *g = download(&m->grads, np);
    const float eps = 1e-2f;
    double num2 = 0.0, err2 = 0.0;
    for (size_t i = 0; i < np; i++) {
        double l[2];
        for (int side = 0; side < 2; side++) {
            float v = w[i] + (side ? eps : -eps);
            ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->params, i), &v, 1, true),
                             CLANN_OK);
            l[side] = model_loss(m, false, training);
        }
        ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->params, i), &w[i], 1, true),
                         CLANN_OK);
        double n = (l[1] - l[0]) / (2.0 * eps);
        ck_assert_msg(fabs(g[i] - n) <= 1e-3 + 1e-2 * fabs(n), "%s: grad[%zu] = %g, numeric %g",
                      what, i, (double)g[i], n);
        num2 += n * n;
        err2 += (g[i] - n) * (g[i] - n);
    }
    ck_assert_msg(sqrt(err2) <= 1e-3 * sqrt(num2), "%s: relative L2 error %g", what,
                  sqrt(err2 / num2));
    free(x), free(y), free(w), free(g);
}

static struct clann_model *image_model(size_t c, size_t h, size_t w)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(g_ctx, c * h * w, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_set_input_shape(m, c, h, w), CLANN_OK);
    return m;
}

static void compile_mse(struct clann_model *m)
{
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = GC_ROWS;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
}

START_TEST(test_layer_gradients)
{
    /* conv (same, stride 2, odd sizes) -> avg pool -> conv (valid, dilation 2) -> max pool
     * -> flatten -> dense: every image layer's backward pass feeds a parameter gradient. Max
     * pooling sits late, where a weight's eps moves its windows least: a central difference
     * across an argmax change measures neither side (#7). */
    struct clann_model *m = image_model(2, 9, 7);
    struct clann_conv2d_params p = clann_conv2d_default_params(3, 3, CLANN_ACTIVATION_TANH);
    p.stride = 2; /* 9x7 -> 5x4 */
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    ck_assert_int_eq(clann_model_add_avg_pool2d(m, 2, 1), CLANN_OK); /* 4x3 */
    p = clann_conv2d_default_params(4, 2, CLANN_ACTIVATION_ELU);
    p.same = false;
    p.kernel_w = 1;
    p.dilation = 2; /* span 3x1: 2x3 */
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    ck_assert_int_eq(clann_model_add_max_pool2d(m, 2, 1), CLANN_OK); /* 1x2 */
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_uint_eq(m->layers[0].out, 3 * 5 * 4);
    ck_assert_uint_eq(m->layers[1].out, 3 * 4 * 3);
    ck_assert_uint_eq(m->layers[2].out, 4 * 2 * 3);
    ck_assert_uint_eq(m->layers[3].out, 4 * 1 * 2);
    compile_mse(m);
    gradcheck_model(m, "conv/pool model", false);
    clann_model_destroy(m);

    /* a linear conv without bias behind a valid conv: the input gradient of the second
     * conv (col2im) reaches the first one's kernel */
    m = image_model(1, 6, 5);
    p = clann_conv2d_default_params(2, 3, CLANN_ACTIVATION_LINEAR);
    p.use_bias = false;
    p.same = false;
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    p = clann_conv2d_default_params(2, 2, CLANN_ACTIVATION_SIGMOID);
    p.stride = 2;
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    compile_mse(m); /* the output is the image itself, flattened in NCHW order */
    gradcheck_model(m, "conv/conv model", false);
    clann_model_destroy(m);
}
END_TEST

START_TEST(test_layer_errors)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(g_ctx, 12, &m), CLANN_OK);
    struct clann_conv2d_params p = clann_conv2d_default_params(2, 3, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_ERR_SHAPE); /* no input shape */
    ck_assert_int_eq(clann_model_set_input_shape(m, 1, 3, 5), CLANN_ERR_SHAPE);
    ck_assert_int_eq(clann_model_set_input_shape(m, 1, 3, 4), CLANN_OK);
    p.activation = CLANN_ACTIVATION_SOFTMAX;
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_ERR_INVALID_ARG);
    p = clann_conv2d_default_params(2, 5, CLANN_ACTIVATION_RELU);
    p.same = false; /* 5x5 does not fit 3x4 */
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_ERR_SHAPE);
    ck_assert_int_eq(clann_model_add_max_pool2d(m, 2, 0), CLANN_OK); /* 1x2 */
    ck_assert_uint_eq(m->layers[0].out, 2);
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    ck_assert_int_eq(clann_model_add_avg_pool2d(m, 1, 1), CLANN_ERR_SHAPE); /* flat input */
    clann_model_destroy(m);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Channel batch norm and spatial dropout (#16).
 */

/* A batch norm on a 3x5x7 input image normalizes each channel over rows x 35 values: mean 0
 * and variance v / (v + eps) per channel with gamma 1, beta 0, its statistics and tensors
 * per channel. */
START_TEST(test_channel_batchnorm_values)
{
    enum { C = 3, HW = 35 };
    struct clann_model *m = image_model(C, 5, 7);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.0f, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(2, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    size_t width, shape[3], params, trainable;
    ck_assert_int_eq(clann_model_layer_shape(m, 0, &width, shape, &params, &trainable), CLANN_OK);
    ck_assert_uint_eq(width, C * HW);
    ck_assert_uint_eq(shape[0], C);
    ck_assert_uint_eq(params, 4 * C); /* gamma, beta, running mean and variance per channel */
    ck_assert_uint_eq(trainable, 2 * C);
    compile_mse(m);
    ck_assert_uint_eq(m->layers[0].n_params, 4 * C);
    size_t n = GC_ROWS * C * HW;
    float *x = rand_host(n);
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] * (float)(1 + i / HW % C) + (float)(i / HW % C); /* channels differ */
    ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->input, 0), x, n, true), CLANN_OK);
    struct clann_view out;
    ck_assert_int_eq(clann__model_forward(m, GC_ROWS, true, 0, &out), CLANN_OK);
    float y[GC_ROWS * C * HW], stats[3 * C];
    ck_assert_int_eq(clann__op_download(m->be, y, clann__layer_y(m, 0), n), CLANN_OK);
    ck_assert_int_eq(clann__op_download(m->be, stats, clann__view(&m->acts, m->layers[0].bn_off),
                                        3 * C), CLANN_OK);
    for (size_t c = 0; c < C; c++) {
        double sx = 0, sxx = 0, sy = 0, syy = 0;
        for (size_t r = 0; r < GC_ROWS; r++)
            for (size_t k = 0; k < HW; k++) {
                size_t i = (r * C + c) * HW + k;
                sx += x[i], sy += y[i];
            }
        double mx = sx / (GC_ROWS * HW), my = sy / (GC_ROWS * HW);
        for (size_t r = 0; r < GC_ROWS; r++)
            for (size_t k = 0; k < HW; k++) {
                size_t i = (r * C + c) * HW + k;
                sxx += (x[i] - mx) * (x[i] - mx), syy += (y[i] - my) * (y[i] - my);
            }
        double vx = sxx / (GC_ROWS * HW), vy = syy / (GC_ROWS * HW);
        ck_assert_double_eq_tol(stats[c], mx, 1e-5 * (1 + fabs(mx)));
        ck_assert_double_eq_tol(stats[C + c], vx, 1e-5 * vx);
        ck_assert_double_eq_tol(my, 0.0, 1e-5);
        ck_assert_double_eq_tol(vy, vx / (vx + 1e-3), 1e-5);
    }
    free(x);
    clann_model_destroy(m);
}
END_TEST

/* conv (odd sizes, linear, no bias) -> channel batch norm -> tanh -> spatial dropout ->
 * flatten -> dense, in training mode: the batch norm's gamma and beta, and through its input
 * gradient and the dropout mask's the convolution's kernel, against central differences. */
START_TEST(test_channel_batchnorm_gradients)
{
    struct clann_model *m = image_model(2, 5, 7);
    struct clann_conv2d_params p = clann_conv2d_default_params(3, 3, CLANN_ACTIVATION_LINEAR);
    p.use_bias = false;
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.0f, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_activation(m, CLANN_ACTIVATION_TANH, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_spatial_dropout(m, 0.4f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(2, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    compile_mse(m);
    ck_assert_uint_eq(m->layers[1].n_params, 4 * 3);
    /* gamma and beta move off 1 and 0, so that their gradients are not a special case */
    float gb[6] = {1.3f, 0.7f, 1.1f, 0.2f, -0.3f, 0.1f};
    ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->params, m->layers[1].w_off), gb, 6,
                                      true), CLANN_OK);
    gradcheck_model(m, "conv/channel batchnorm/spatial dropout model", true);
    clann_model_destroy(m);
}
END_TEST

/* Spatial dropout drops whole channels (about rate of them), scales the kept ones by
 * 1 / (1 - rate), is the identity at inference, draws by the global row (a rank that starts
 * at row 4 draws rows 4.. as one that computes them all), and wants an image. */
START_TEST(test_spatial_dropout_layer)
{
    enum { ROWS = 64, C = 4, HW = 30 };
    const float rate = 0.5f;
    struct clann_model *m = image_model(C, 6, 5);
    ck_assert_int_eq(clann_model_add_spatial_dropout(m, rate), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = ROWS;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    size_t n = ROWS * C * HW;
    float *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *y2 = malloc(n * sizeof *y2);
    for (size_t i = 0; i < n; i++)
        x[i] = urand(0.5f, 1.5f);
    ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->input, 0), x, n, true), CLANN_OK);
    struct clann_view out;
    ck_assert_int_eq(clann__model_forward(m, ROWS, true, 3, &out), CLANN_OK);
    ck_assert_int_eq(clann__op_download(m->be, y, out, n), CLANN_OK);
    size_t dropped = 0;
    for (size_t g = 0; g < ROWS * C; g++) {
        bool drop = y[g * HW] == 0.0f;
        dropped += drop;
        for (size_t k = 0; k < HW; k++) {
            float want = drop ? 0.0f : x[g * HW + k] / (1.0f - rate);
            ck_assert_msg(y[g * HW + k] == want, "channel %zu value %zu: %g, want %g", g, k,
                          (double)y[g * HW + k], (double)want);
        }
    }
    double frac = (double)dropped / (ROWS * C);
    printf("spatial dropout: %zu of %d channels dropped (rate %g)\n", dropped, ROWS * C,
           (double)rate);
    ck_assert_msg(fabs(frac - rate) <= 4 * sqrt(rate * (1 - rate) / (ROWS * C)),
                  "dropped fraction %g", frac);
    /* the same rows from a batch that starts at global row 4 draw the same channels */
    ck_assert_int_eq(clann__op_upload(m->be, clann__view(&m->input, 0), x + 4 * C * HW,
                                      n - 4 * C * HW, true), CLANN_OK);
    m->batch_row0 = 4;
    ck_assert_int_eq(clann__model_forward(m, ROWS - 4, true, 3, &out), CLANN_OK);
    ck_assert_int_eq(clann__op_download(m->be, y2, out, n - 4 * C * HW), CLANN_OK);
    ck_assert_int_eq(memcmp(y2, y + 4 * C * HW, (n - 4 * C * HW) * sizeof *y), 0);
    m->batch_row0 = 0;
    ck_assert_int_eq(clann__model_forward(m, ROWS - 4, false, 3, &out), CLANN_OK);
    ck_assert_int_eq(clann__op_download(m->be, y2, out, n - 4 * C * HW), CLANN_OK);
    ck_assert_int_eq(memcmp(y2, x + 4 * C * HW, (n - 4 * C * HW) * sizeof *y), 0);
    clann_model_destroy(m);
    free(x), free(y), free(y2);

    ck_assert_int_eq(clann_model_create(g_ctx, 12, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_add_spatial_dropout(m, 0.2f), CLANN_ERR_SHAPE);
    ck_assert_int_eq(clann_model_set_input_shape(m, 3, 2, 2), CLANN_OK);
    ck_assert_int_eq(clann_model_add_spatial_dropout(m, 1.5f), CLANN_ERR_INVALID_ARG);
    clann_model_destroy(m);
}
END_TEST

/* A small CNN: conv 4 3x3 relu, max pool 2, conv 6 3x3 stride 2 valid relu, flatten, dense 3. */
static struct clann_model *small_cnn(struct clann_context *ctx, uint64_t seed)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 1 * 12 * 10, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_set_input_shape(m, 1, 12, 10), CLANN_OK);
    struct clann_conv2d_params p = clann_conv2d_default_params(4, 3, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    ck_assert_int_eq(clann_model_add_max_pool2d(m, 2, 0), CLANN_OK);
    p = clann_conv2d_default_params(6, 3, CLANN_ACTIVATION_RELU);
    p.stride = 2;
    p.same = false;
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.max_batch = 16;
    cp.seed = seed;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    return m;
}

/* Images of three classes, told apart by where a bright bar lies (left, middle, right), on
 * noise: a task a convolution with pooling learns from few examples. */
static void bar_images(size_t rows, struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(rows, 120, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(rows, 1, y), CLANN_OK);
    for (size_t r = 0; r < rows; r++) {
        size_t cls = r % 3, col = 1 + cls * 3 + (size_t)urand(0, 2);
        for (size_t i = 0; i < 120; i++)
            x->data[r * 120 + i] = urand(0, 0.5f);
        for (size_t row = 2; row < 10; row++)
            x->data[r * 120 + row * 10 + col] += 1.0f;
        y->data[r] = (float)cls;
    }
}

/* Trains m on 300 bar images for `epochs` and checks >= 0.95 accuracy on 90 others. */
static void fit_bars(struct clann_model *m, size_t epochs, struct clann_matrix *x,
                     struct clann_matrix *y, struct clann_matrix *tx, struct clann_matrix *ty)
{
    bar_images(300, x, y);
    bar_images(90, tx, ty);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = epochs;
    ck_assert_msg(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    struct clann_metrics met;
    ck_assert_int_eq(clann_model_evaluate(m, tx, ty, &met), CLANN_OK);
    printf("bars (%zu layers): test accuracy %.4f\n", clann_model_layer_count(m), met.accuracy);
    ck_assert_msg(met.accuracy >= 0.95, "test accuracy %g", met.accuracy);
}

/* Saves m to a temporary file (passed to check, when given, before it is read back), loads it
 * and checks that the loaded model predicts tx bit for bit as m does; returns it. */
static struct clann_model *round_trip(struct clann_model *m, const struct clann_matrix *tx,
                                      void (*check)(const char *path))
{
    char path[] = "/tmp/clann-test-conv-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    if (check)
        check(path);
    struct clann_model *back;
    ck_assert_msg(clann_model_load(g_ctx, path, &back) == CLANN_OK, "%s", clann_last_error());
    unlink(path);
    struct clann_matrix p1, p2;
    ck_assert_int_eq(clann_model_predict(m, tx, &p1), CLANN_OK);
    ck_assert_int_eq(clann_model_predict(back, tx, &p2), CLANN_OK);
    ck_assert_int_eq(memcmp(p1.data, p2.data, p1.rows * p1.cols * sizeof(float)), 0);
    clann_matrix_free(&p1), clann_matrix_free(&p2);
    return back;
}

START_TEST(test_cnn_learns_and_round_trips)
{
    struct clann_model *m = small_cnn(g_ctx, 7);
    struct clann_matrix x, y, tx, ty;
    fit_bars(m, 20, &x, &y, &tx, &ty);
    /* the model file keeps the image layers and their weights: predictions bit for bit */
    struct clann_model *back = round_trip(m, &tx, NULL);
    ck_assert_uint_eq(back->layers[0].geom.out_h, 12);
    ck_assert_uint_eq(back->layers[2].out, 6 * 2 * 2);
    clann_model_destroy(back);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&tx), clann_matrix_free(&ty);
}
END_TEST

/* small_cnn's first block as --batchnorm --spatial-dropout builds it: conv 4 3x3 linear without
 * bias, channel batch norm (momentum 0.9), relu, max pool 2, spatial dropout 0.1; then flatten,
 * dense 3. */
static struct clann_model *small_cnn_bn(struct clann_context *ctx, uint64_t seed)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 1 * 12 * 10, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_set_input_shape(m, 1, 12, 10), CLANN_OK);
    struct clann_conv2d_params p = clann_conv2d_default_params(4, 3, CLANN_ACTIVATION_LINEAR);
    p.use_bias = false;
    ck_assert_int_eq(clann_model_add_conv2d(m, &p), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.9f, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_activation(m, CLANN_ACTIVATION_RELU, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_max_pool2d(m, 2, 0), CLANN_OK);
    ck_assert_int_eq(clann_model_add_spatial_dropout(m, 0.1f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.max_batch = 16;
    cp.seed = seed;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    return m;
}

/* small_cnn_bn (a channel batch norm, and spatial dropout after its pooling) learns the bars;
 * its file keeps per-channel tensors, the dropout's "spatial" and the predictions bit for bit;
 * a frozen batch norm keeps its running statistics through fit. */
static void check_bn_file(const char *path)
{
    struct clann_model_file_info *info;
    ck_assert_int_eq(clann_model_file_info(path, &info), CLANN_OK);
    size_t bn_tensors = 0;
    for (size_t t = 0; t < info->n_tensors; t++) {
        if (strncmp(info->tensors[t].name, "layers.1.", 9) != 0)
            continue;
        ck_assert_uint_eq(info->tensors[t].rank, 1);
        ck_assert_uint_eq(info->tensors[t].shape[0], 4); /* one per channel */
        bn_tensors++;
    }
    ck_assert_uint_eq(bn_tensors, 4);
    ck_assert_ptr_nonnull(strstr(info->spec_json, "\"spatial\":true"));
    clann_model_file_info_free(info);
}

START_TEST(test_cnn_batchnorm_learns_and_round_trips)
{
    struct clann_model *m = small_cnn_bn(g_ctx, 5);
    struct clann_matrix x, y, tx, ty;
    fit_bars(m, 10, &x, &y, &tx, &ty);
    struct clann_model *back = round_trip(m, &tx, check_bn_file);
    ck_assert(back->layers[4].spatial);

    /* frozen: the running mean and variance stay as they are through another fit */
    ck_assert_int_eq(clann_model_set_trainable(back, 1, false), CLANN_OK);
    size_t run_off = back->layers[1].b_off + 4;
    float *before = download(&back->params, back->n_params);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1;
    ck_assert_msg(clann_model_fit(back, &x, &y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    float *after = download(&back->params, back->n_params);
    ck_assert_int_eq(memcmp(before + back->layers[1].w_off, after + back->layers[1].w_off,
                            4 * 4 * sizeof(float)), 0);
    ck_assert(before[run_off + 4] != 1.0f); /* the variances were learned, not the initial 1 */
    free(before), free(after);
    clann_model_destroy(back);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&tx), clann_matrix_free(&ty);
}
END_TEST

/* #14 for image layers: 100 steps from one seed on the CPU reference and every OpenCL device,
 * the whole-run tolerances of testing.md. */
static void cnn_training_parity(struct clann_model *(*build)(struct clann_context *, uint64_t),
                                const char *what)
{
    char sel[8][32];
    size_t n_dev = test_opencl_devices(sel);
    struct clann_matrix x, y;
    bar_images(160, &x, &y); /* 10 steps of 16 per epoch */
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 10;
    struct clann_model *ref = build(g_ctx, 3);
    struct clann_epoch_log lref, ld;
    ck_assert_int_eq(clann_model_fit(ref, &x, &y, NULL, NULL, &fp, &lref), CLANN_OK);
    float *wref = download(&ref->params, ref->n_params);
    for (size_t d = 0; d < n_dev; d++) {
        struct clann_context *ctx = test_context(sel[d], CLANN_CPU_MODE_FAST);
        struct clann_model *m = build(ctx, 3);
        ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &ld) == CLANN_OK, "%s: %s",
                      sel[d], clann_last_error());
        float *w = malloc(m->n_params * sizeof *w);
        ck_assert_int_eq(clann__op_download(m->be, w, clann__view(&m->params, 0), m->n_params),
                         CLANN_OK);
        double rel = fabs(ld.loss - lref.loss) / fabs(lref.loss);
        double nmse = test_nmse(wref, w, m->n_params);
        printf("%s parity %s: loss %.6g vs %.6g (rel %.2g), params NMSE %.2g\n", what, sel[d],
               ld.loss, lref.loss, rel, nmse);
        ck_assert_msg(rel <= 1e-3, "%s: final loss %g vs %g", sel[d], ld.loss, lref.loss);
        ck_assert_msg(nmse <= 1e-5, "%s: parameter NMSE %g", sel[d], nmse);
        free(w);
        clann_model_destroy(m);
        clann_context_destroy(ctx);
    }
    free(wref);
    clann_model_destroy(ref);
    clann_matrix_free(&x), clann_matrix_free(&y);
}

START_TEST(test_cnn_training_parity)
{
    cnn_training_parity(small_cnn, "cnn");
    cnn_training_parity(small_cnn_bn, "cnn with channel batch norm and spatial dropout");
}
END_TEST

/* The first n rows of m, in place. */
static void keep_rows(struct clann_matrix *m, size_t n)
{
    m->rows = m->rows < n ? m->rows : n;
}

/* Test accuracy of an estimator trained on the subset (#20). */
static double fashion_accuracy(struct clann_context *ctx, const struct clann_estimator_params *ep,
                               const struct clann_matrix *x, const struct clann_matrix *y,
                               const struct clann_matrix *tx, const struct clann_matrix *ty)
{
    struct clann_model *m;
    ck_assert_msg(clann_dnn_classifier_create(ctx, 784, 10, ep, &m) == CLANN_OK, "%s",
                  clann_last_error());
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 3;
    ck_assert_int_eq(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL), CLANN_OK);
    struct clann_metrics met;
    ck_assert_int_eq(clann_model_evaluate(m, tx, ty, &met), CLANN_OK);
    clann_model_destroy(m);
    return met.accuracy;
}

/* A small CNN through the estimator's convolutional front beats the dense default on a
 * Fashion-MNIST subset, with the same optimizer, epochs and data. */
START_TEST(test_fashion_cnn_beats_dense)
{
    struct clann_matrix x, y, tx, ty;
    if (clann_fashion_mnist_load(NULL, &x, &y, &tx, &ty) != CLANN_OK) {
        ck_assert_msg(!test_strict(), "Fashion-MNIST is missing: %s", clann_last_error());
        fprintf(stderr, "Fashion-MNIST is missing: learning test skipped\n");
        return;
    }
    keep_rows(&x, 4000), keep_rows(&y, 4000), keep_rows(&tx, 2000), keep_rows(&ty, 2000);
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_estimator_params ep = clann_estimator_default_params();
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.max_batch = 64;
    size_t hidden[] = {256, 128}, filters[] = {16, 32}, kernels[] = {3, 3};
    ep.hidden_units = hidden;
    ep.n_hidden = 2;
    double dense = fashion_accuracy(ctx, &ep, &x, &y, &tx, &ty);
    size_t cnn_hidden[] = {128};
    ep.hidden_units = cnn_hidden;
    ep.n_hidden = 1;
    ep.conv_filters = filters;
    ep.conv_kernels = kernels;
    ep.n_conv = 2;
    ep.input_shape[0] = 1;
    ep.input_shape[1] = ep.input_shape[2] = 28;
    double cnn = fashion_accuracy(ctx, &ep, &x, &y, &tx, &ty);
    printf("Fashion-MNIST 4000/2000 rows, 3 epochs: dense 256,128 %.4f, cnn 16x3,32x3 + 128 %.4f\n",
           dense, cnn);
    ck_assert_msg(cnn > dense, "cnn %.4f does not beat dense %.4f", cnn, dense);
    /* the CLI's --batchnorm --spatial-dropout: channel batch norms learn as well */
    ep.batchnorm = true;
    ep.spatial_dropout = 0.1f;
    double cnn_bn = fashion_accuracy(ctx, &ep, &x, &y, &tx, &ty);
    printf("  cnn with channel batch norm and spatial dropout 0.1: %.4f\n", cnn_bn);
    ck_assert_msg(cnn_bn > dense, "cnn with batch norm %.4f does not beat dense %.4f", cnn_bn,
                  dense);
    clann_context_destroy(ctx);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&tx), clann_matrix_free(&ty);
}
END_TEST

/* Runs op `which` (0 im2col, 1 col2im, 2 max pool fwd, 3 avg pool fwd, 4 max pool bwd, 5 avg
 * pool bwd) on ctx's backend; returns the output (malloc'ed, *n floats). */
static float *run_op(struct clann_context *ctx, int which, const struct clann_conv_geom *g,
                     const float *a, const float *b, size_t *n)
{
    struct clann_backend *be = ctx->be;
    size_t nx = g->batch * g->channels * g->height * g->width;
    size_t ny = g->batch * g->channels * g->out_h * g->out_w;
    size_t ncol = ny * g->kernel_h * g->kernel_w;
    size_t n_in = which == 1 ? ncol : nx, n_out = which == 0 ? ncol : which < 2 || which > 3 ? nx : ny;
    struct clann_buf in, in2, out;
    ck_assert_int_eq(clann__buf_create(be, n_in, &in), CLANN_OK);
    ck_assert_int_eq(clann__buf_create(be, ny, &in2), CLANN_OK);
    ck_assert_int_eq(clann__buf_create(be, n_out, &out), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&in, 0), a, n_in, true), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&in2, 0), b, ny, true), CLANN_OK);
    struct clann_view vi = clann__view(&in, 0), v2 = clann__view(&in2, 0), vo = clann__view(&out, 0);
    enum clann_status st = which == 0   ? clann__op_im2col(be, g, vi, vo)
                           : which == 1 ? clann__op_col2im(be, g, vi, vo)
                           : which < 4  ? clann__op_pool2d_forward(be, g, which == 2, vi, vo)
                                        : clann__op_pool2d_backward(be, g, which == 4, vi, v2, vo);
    ck_assert_int_eq(st, CLANN_OK);
    float *h = malloc(n_out * sizeof *h);
    ck_assert_int_eq(clann__op_download(be, h, vo, n_out), CLANN_OK);
    clann__buf_destroy(&in), clann__buf_destroy(&in2), clann__buf_destroy(&out);
    *n = n_out;
    return h;
}

/* FAST mode's loops (stride-1 im2col/col2im, disjoint pooling windows) compute the reference's
 * bits; the other geometries share the reference code. */
START_TEST(test_fast_mode_bitwise)
{
    struct clann_context *fast = test_context("cpu", CLANN_CPU_MODE_FAST);
    /* {N, C, H, W, k, stride, dilation, same} */
    static const size_t geoms[][8] = {{2, 3, 28, 28, 3, 1, 1, 1}, {2, 2, 7, 300, 3, 1, 1, 1},
                                      {1, 2, 9, 8, 5, 1, 2, 1},   {2, 3, 8, 8, 2, 2, 1, 0},
                                      {1, 2, 7, 9, 2, 2, 1, 1},   {1, 2, 9, 9, 3, 3, 1, 0},
                                      {1, 2, 9, 9, 3, 2, 1, 0},   {2, 1, 6, 5, 3, 1, 1, 0}};
    for (size_t t = 0; t < sizeof geoms / sizeof *geoms; t++) {
        const size_t *q = geoms[t];
        struct clann_conv_geom g;
        clann__conv_geom_init(&g, q[0], q[1], q[2], q[3], q[4], q[4], q[5], q[6], q[7] != 0);
        size_t big = g.batch * g.channels * g.height * g.width * g.kernel_h * g.kernel_w * 4;
        float *a = rand_host(big), *b = rand_host(big);
        for (int which = 0; which < 6; which++) {
            size_t n1, n2;
            float *r = run_op(g_ctx, which, &g, a, b, &n1), *f = run_op(fast, which, &g, a, b, &n2);
            ck_assert_uint_eq(n1, n2);
            ck_assert_msg(memcmp(r, f, n1 * sizeof *r) == 0, "geometry %zu op %d differs", t,
                          which);
            free(r), free(f);
        }
        free(a), free(b);
    }
    clann_context_destroy(fast);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("conv");
    TCase *tc = tcase_create("cpu");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_conv_by_gemm);
    tcase_add_test(tc, test_col2im_adjoint);
    tcase_add_test(tc, test_geometry);
    tcase_add_test(tc, test_pool_values);
    tcase_add_test(tc, test_pool_gradcheck);
    tcase_add_test(tc, test_fast_mode_bitwise);
    tcase_add_test(tc, test_layer_gradients);
    tcase_add_test(tc, test_layer_errors);
    tcase_add_test(tc, test_cnn_learns_and_round_trips);
    tcase_add_test(tc, test_channel_batchnorm_values);
    tcase_add_test(tc, test_channel_batchnorm_gradients);
    tcase_add_test(tc, test_spatial_dropout_layer);
    tcase_add_test(tc, test_cnn_batchnorm_learns_and_round_trips);
    tcase_add_test(tc, test_cnn_training_parity);
    tcase_add_test(tc, test_fashion_cnn_beats_dense);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
