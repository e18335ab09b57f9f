/*
 * cpu_conv.c - the CPU backend's convolution and pooling ops (backend.h): im2col and its
 * adjoint col2im, per-channel bias and sums, max and average pooling. Scalar reference code;
 * the GEMMs between im2col and col2im are cpu_gemm's, so FAST mode speeds convolutions up
 * through it. Sums run in double and round once, in the orders backend.h specifies.
 *
 * FAST mode adds loops for the common geometries that compute the same bits as the scalar
 * code: im2col and col2im with stride 1 (row by row, col2im's double sums kept per row in the
 * same (i, j) order), and pooling whose windows do not overlap (stride >= size, dilation 1),
 * where each input value belongs to at most one window.
 */
#include "backend/cpu_impl.h"

/* Input coordinate of output position o and window element k along one axis; false when it
 * falls in the padding. */
static bool window_pos(size_t o, size_t k, size_t stride, size_t dilation, size_t pad,
                       size_t size, size_t *pos)
{
    size_t p = o * stride + k * dilation;
    if (p < pad || p - pad >= size)
        return false;
    *pos = p - pad;
    return true;
}

/* The output position whose window element k covers input coordinate pos, if one exists:
 * the inverse of window_pos along one axis. */
static bool window_out(size_t pos, size_t k, size_t stride, size_t dilation, size_t pad,
                       size_t out, size_t *o)
{
    size_t p = pos + pad;
    if (p < k * dilation || (p - k * dilation) % stride != 0)
        return false;
    *o = (p - k * dilation) / stride;
    return *o < out;
}

/* ---------------------------------------------------------------------------------------------
 * FAST mode.
 */

/* Columns per block of fast col2im's double accumulators (on the stack). */
#define ROW_BLOCK 256

/* The output columns [*lo, *hi) whose window element j reads an input column inside the image,
 * for stride 1: ox + j d - pad in [0, width). */
static void stride1_range(const struct clann_conv_geom *g, size_t j, size_t *lo, size_t *hi)
{
    long off = (long)(j * g->dilation) - (long)g->pad_left;
    long a = off < 0 ? -off : 0, b = (long)g->width - off;
    if (b > (long)g->out_w)
        b = (long)g->out_w;
    *lo = (size_t)a;
    *hi = b > a ? (size_t)b : (size_t)a;
}

static void im2col_stride1(const struct clann_conv_geom *g, const float *x, float *col)
{
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    size_t k = g->channels * g->kernel_h * g->kernel_w;
    for (size_t n = 0; n < g->batch; n++)
        for (size_t c = 0; c < g->channels; c++)
            for (size_t i = 0; i < g->kernel_h; i++)
                for (size_t j = 0; j < g->kernel_w; j++) {
                    float *row = col + n * k * npos +
                                 ((c * g->kernel_h + i) * g->kernel_w + j) * npos;
                    size_t lo, hi;
                    stride1_range(g, j, &lo, &hi);
                    for (size_t oy = 0; oy < g->out_h; oy++) {
                        float *dst = row + oy * g->out_w;
                        size_t y;
                        if (!window_pos(oy, i, 1, g->dilation, g->pad_top, g->height, &y) ||
                            lo >= hi) {
                            memset(dst, 0, g->out_w * sizeof *dst);
                            continue;
                        }
                        const float *src = x + (n * g->channels + c) * hw + y * g->width +
                                           lo + j * g->dilation - g->pad_left;
                        memset(dst, 0, lo * sizeof *dst);
                        memcpy(dst + lo, src, (hi - lo) * sizeof *dst);
                        memset(dst + hi, 0, (g->out_w - hi) * sizeof *dst);
                    }
                }
}

/* One block of input columns [x0, x0 + nx) of input row y: the sums of col2im_one, in the same
 * (i, j) order, vectorizable along the row. */
static void col2im_row_block(const struct clann_conv_geom *g, const float *cn, size_t c, size_t y,
                             size_t x0, size_t nx, float *out)
{
    size_t npos = g->out_h * g->out_w;
    double acc[ROW_BLOCK];
    for (size_t t = 0; t < nx; t++)
        acc[t] = 0.0;
    for (size_t i = 0; i < g->kernel_h; i++) {
        size_t oy;
        if (!window_out(y, i, 1, g->dilation, g->pad_top, g->out_h, &oy))
            continue;
        for (size_t j = 0; j < g->kernel_w; j++) {
            /* input column xx reads output column xx + pad - j d */
            long shift = (long)g->pad_left - (long)(j * g->dilation);
            const float *src = cn + ((c * g->kernel_h + i) * g->kernel_w + j) * npos +
                               oy * g->out_w;
            for (size_t t = 0; t < nx; t++) {
                long ox = (long)(x0 + t) + shift;
                if (ox >= 0 && ox < (long)g->out_w)
                    acc[t] += src[ox];
            }
        }
    }
    for (size_t t = 0; t < nx; t++)
        out[t] = (float)acc[t];
}

static void col2im_stride1(const struct clann_conv_geom *g, const float *col, float *x)
{
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    size_t k = g->channels * g->kernel_h * g->kernel_w;
    for (size_t n = 0; n < g->batch; n++)
        for (size_t c = 0; c < g->channels; c++)
            for (size_t y = 0; y < g->height; y++)
                for (size_t x0 = 0; x0 < g->width; x0 += ROW_BLOCK) {
                    size_t nx = g->width - x0 < ROW_BLOCK ? g->width - x0 : ROW_BLOCK;
                    col2im_row_block(g, col + n * k * npos, c, y, x0,  nx,
                                     x + (n * g->channels + c) * hw + y * g->width + x0);
                }
}

enum clann_status cpu_im2col(struct clann_backend *be, const struct clann_conv_geom *g,
                             struct clann_view x, struct clann_view col)
{
    if (fast_mode(be) && g->stride == 1) {
        im2col_stride1(g, at(x), at(col));
        return CLANN_OK;
    }
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    size_t k = g->channels * g->kernel_h * g->kernel_w;
    for (size_t n = 0; n < g->batch; n++) {
        const float *xn = at(x) + n * g->channels * hw;
        float *cn = at(col) + n * k * npos;
        for (size_t c = 0; c < g->channels; c++)
            for (size_t i = 0; i < g->kernel_h; i++)
                for (size_t j = 0; j < g->kernel_w; j++) {
                    float *row = cn + ((c * g->kernel_h + i) * g->kernel_w + j) * npos;
                    for (size_t oy = 0; oy < g->out_h; oy++) {
                        size_t y, xx;
                        bool in_y = window_pos(oy, i, g->stride, g->dilation, g->pad_top,
                                               g->height, &y);
                        for (size_t ox = 0; ox < g->out_w; ox++) {
                            bool in = in_y && window_pos(ox, j, g->stride, g->dilation,
                                                         g->pad_left, g->width, &xx);
                            row[oy * g->out_w + ox] = in ? xn[c * hw + y * g->width + xx] : 0.0f;
                        }
                    }
                }
    }
    return CLANN_OK;
}

/* Sum of the col elements im2col copied from input position (c, y, xx) of one image. */
static double col2im_one(const struct clann_conv_geom *g, const float *cn, size_t c, size_t y,
                         size_t xx)
{
    size_t npos = g->out_h * g->out_w;
    double s = 0.0;
    for (size_t i = 0; i < g->kernel_h; i++) {
        size_t oy, ox;
        if (!window_out(y, i, g->stride, g->dilation, g->pad_top, g->out_h, &oy))
            continue;
        for (size_t j = 0; j < g->kernel_w; j++)
            if (window_out(xx, j, g->stride, g->dilation, g->pad_left, g->out_w, &ox))
                s += cn[((c * g->kernel_h + i) * g->kernel_w + j) * npos + oy * g->out_w + ox];
    }
    return s;
}

enum clann_status cpu_col2im(struct clann_backend *be, const struct clann_conv_geom *g,
                             struct clann_view col, struct clann_view x)
{
    if (fast_mode(be) && g->stride == 1) {
        col2im_stride1(g, at(col), at(x));
        return CLANN_OK;
    }
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    size_t k = g->channels * g->kernel_h * g->kernel_w;
    for (size_t n = 0; n < g->batch; n++)
        for (size_t c = 0; c < g->channels; c++)
            for (size_t y = 0; y < g->height; y++)
                for (size_t xx = 0; xx < g->width; xx++)
                    at(x)[(n * g->channels + c) * hw + y * g->width + xx] =
                        (float)col2im_one(g, at(col) + n * k * npos, c, y, xx);
    return CLANN_OK;
}

enum clann_status cpu_channel_bias(struct clann_backend *be, struct clann_view x,
                                   struct clann_view bias, size_t n, size_t channels, size_t hw)
{
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < channels; c++) {
            float *p = at(x) + (i * channels + c) * hw, b = at(bias)[c];
            for (size_t q = 0; q < hw; q++)
                p[q] += b;
        }
    return CLANN_OK;
}

enum clann_status cpu_channel_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                  size_t channels, size_t hw, struct clann_view out, float beta)
{
    for (size_t c = 0; c < channels; c++) {
        double s = 0.0;
        for (size_t i = 0; i < n; i++) {
            const float *p = at(x) + (i * channels + c) * hw;
            for (size_t q = 0; q < hw; q++)
                s += p[q];
        }
        at(out)[c] = accumulate(at(out)[c], beta, s);
    }
    return CLANN_OK;
}

/* A pooling window of one channel plane: its argmax (max), or its sum and count (avg). */
struct window {
    size_t argmax; /* index in the plane; valid when count > 0 */
    size_t count;
    double sum;
};

static struct window scan_window(const struct clann_conv_geom *g, const float *plane, size_t oy,
                                 size_t ox, bool max)
{
    struct window w = {0, 0, 0.0};
    for (size_t i = 0; i < g->kernel_h; i++) {
        size_t y, xx;
        if (!window_pos(oy, i, g->stride, g->dilation, g->pad_top, g->height, &y))
            continue;
        for (size_t j = 0; j < g->kernel_w; j++) {
            if (!window_pos(ox, j, g->stride, g->dilation, g->pad_left, g->width, &xx))
                continue;
            size_t idx = y * g->width + xx;
            w.count++;
            if (!plane) /* avg's backward pass needs the count alone */
                continue;
            w.sum += plane[idx];
            if (!max)
                continue;
            float v = plane[idx], best = plane[w.argmax];
            /* strictly greater keeps the first maximum; the first NaN wins and stays */
            if (w.count == 1 || v > best || (v != v && best == best))
                w.argmax = idx;
        }
    }
    return w;
}

/* Pooling windows that do not overlap: each input value is in at most one window. */
static bool disjoint_windows(const struct clann_conv_geom *g)
{
    return g->dilation == 1 && g->stride >= g->kernel_h && g->stride >= g->kernel_w;
}

/* Backward pass of disjoint windows: zero, then each window writes its own inputs - what the
 * gather computes when each input sees one window (0.0 + d rounds to d; d / count in double
 * rounds once as there). */
static void pool_backward_disjoint(const struct clann_conv_geom *g, bool max, const float *x,
                                   const float *dy, float *dx)
{
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    memset(dx, 0, g->batch * g->channels * hw * sizeof *dx);
    for (size_t p = 0; p < g->batch * g->channels; p++) {
        const float *plane = max ? x + p * hw : NULL;
        float *dplane = dx + p * hw;
        for (size_t oy = 0; oy < g->out_h; oy++)
            for (size_t ox = 0; ox < g->out_w; ox++) {
                struct window w = scan_window(g, plane, oy, ox, max);
                double d = dy[p * npos + oy * g->out_w + ox];
                if (max) {
                    dplane[w.argmax] = (float)d;
                    continue;
                }
                for (size_t i = 0; i < g->kernel_h; i++)
                    for (size_t j = 0; j < g->kernel_w; j++) {
                        size_t y, xx;
                        if (window_pos(oy, i, g->stride, 1, g->pad_top, g->height, &y) &&
                            window_pos(ox, j, g->stride, 1, g->pad_left, g->width, &xx))
                            dplane[y * g->width + xx] = (float)(d / (double)w.count);
                    }
            }
    }
}

enum clann_status cpu_pool2d_forward(struct clann_backend *be, const struct clann_conv_geom *g,
                                     bool max, struct clann_view x, struct clann_view y)
{
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    for (size_t p = 0; p < g->batch * g->channels; p++) {
        const float *plane = at(x) + p * hw;
        for (size_t oy = 0; oy < g->out_h; oy++)
            for (size_t ox = 0; ox < g->out_w; ox++) {
                struct window w = scan_window(g, plane, oy, ox, max);
                float v = w.count == 0 ? 0.0f
                          : max        ? plane[w.argmax]
                                       : (float)(w.sum / (double)w.count);
                at(y)[p * npos + oy * g->out_w + ox] = v;
            }
    }
    return CLANN_OK;
}

/* dx at one input position of one plane: the gather of backend.h. Window element (i, j)
 * covers the position from output (oy, ox) = window_out(...); taking i and j downwards visits
 * those outputs in row-major order. */
static double pool_grad_one(const struct clann_conv_geom *g, bool max, const float *plane,
                            const float *dy, size_t y, size_t xx)
{
    double s = 0.0;
    for (size_t i = g->kernel_h; i-- > 0;) {
        size_t oy, ox;
        if (!window_out(y, i, g->stride, g->dilation, g->pad_top, g->out_h, &oy))
            continue;
        for (size_t j = g->kernel_w; j-- > 0;) {
            if (!window_out(xx, j, g->stride, g->dilation, g->pad_left, g->out_w, &ox))
                continue;
            double d = dy[oy * g->out_w + ox];
            struct window w = scan_window(g, plane, oy, ox, max);
            if (!max)
                s += d / (double)w.count;
            else if (w.argmax == y * g->width + xx)
                s += d;
        }
    }
    return s;
}

enum clann_status cpu_pool2d_backward(struct clann_backend *be, const struct clann_conv_geom *g,
                                      bool max, struct clann_view x, struct clann_view dy,
                                      struct clann_view dx)
{
    if (fast_mode(be) && disjoint_windows(g)) {
        pool_backward_disjoint(g, max, max ? at(x) : NULL, at(dy), at(dx));
        return CLANN_OK;
    }
    size_t hw = g->height * g->width, npos = g->out_h * g->out_w;
    for (size_t p = 0; p < g->batch * g->channels; p++) {
        const float *plane = max ? at(x) + p * hw : NULL;
        for (size_t y = 0; y < g->height; y++)
            for (size_t xx = 0; xx < g->width; xx++)
                at(dx)[p * hw + y * g->width + xx] =
                    (float)pool_grad_one(g, max, plane, at(dy) + p * npos, y, xx);
    }
    return CLANN_OK;
}
