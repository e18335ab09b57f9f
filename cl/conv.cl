/*
 * conv.cl - convolution and pooling kernels of the clann OpenCL backend, over NCHW images with
 * the geometry of struct clann_conv_geom (src/backend/backend.h, where the formulas are). The
 * GEMMs between im2col and col2im are the backend's GEMM (CLBlast or clann's kernels).
 *
 * Kernels (one work-item per output element; every sum is one work-item's, in the order
 * backend.h gives, so results are deterministic and need no atomics):
 *   im2col           col[n][(c kh + i) kw + j][p] = x at the window element, 0 in the padding
 *   col2im           x[n][c][y][x'] = sum over (i, j) of the col elements read from there
 *   channel_bias     x[i][c][p] += bias[c]
 *   channel_sum      one work-item per channel: out[c] = beta out[c] + sum_i sum_p x[i][c][p]
 *   pool2d_forward   max (first argmax, NaN first) or average over the window's valid elements
 *   pool2d_backward  gather per input element over the windows holding it, row-major order
 *
 * Defines: none.
 */
#include "common.clh"

#define GEOM_ARGS                                                                                  \
    uint batch, uint channels, uint height, uint width, uint kh, uint kw, uint stride,             \
        uint dilation, uint pad_top, uint pad_left, uint out_h, uint out_w

/* Input coordinate of output o and window element k along one axis; -1 in the padding. */
static long window_pos(size_t o, size_t k, uint stride, uint dilation, uint pad, uint size)
{
    long p = (long)(o * stride + k * dilation) - (long)pad;
    return p >= 0 && p < (long)size ? p : -1;
}

/* The output whose window element k covers input coordinate pos; -1 when none. */
static long window_out(size_t pos, size_t k, uint stride, uint dilation, uint pad, uint out)
{
    long p = (long)(pos + pad) - (long)(k * dilation);
    if (p < 0 || p % stride != 0 || p / stride >= (long)out)
        return -1;
    return p / stride;
}

__kernel void im2col(__global const float *x, ulong xoff, __global float *col, ulong coff,
                     GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    size_t npos = (size_t)out_h * out_w, k = (size_t)channels * kh * kw;
    if (gid >= (size_t)batch * k * npos)
        return;
    size_t p = gid % npos, r = (gid / npos) % k, n = gid / (npos * k);
    size_t j = r % kw, i = (r / kw) % kh, c = r / (kw * kh);
    long y = window_pos(p / out_w, i, stride, dilation, pad_top, height);
    long xx = window_pos(p % out_w, j, stride, dilation, pad_left, width);
    float v = 0.0f;
    if (y >= 0 && xx >= 0)
        v = x[xoff + ((n * channels + c) * height + (size_t)y) * width + (size_t)xx];
    col[coff + gid] = v;
}

__kernel void col2im(__global const float *col, ulong coff, __global float *x, ulong xoff,
                     GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)batch * channels * height * width)
        return;
    size_t xx = gid % width, y = (gid / width) % height, c = (gid / ((size_t)width * height)) %
                                                             channels;
    size_t n = gid / ((size_t)width * height * channels);
    size_t npos = (size_t)out_h * out_w, k = (size_t)channels * kh * kw;
    __global const float *cn = col + coff + n * k * npos;
    float s = 0.0f;
    for (size_t i = 0; i < kh; i++) {
        long oy = window_out(y, i, stride, dilation, pad_top, out_h);
        if (oy < 0)
            continue;
        for (size_t j = 0; j < kw; j++) {
            long ox = window_out(xx, j, stride, dilation, pad_left, out_w);
            if (ox >= 0)
                s += cn[((c * kh + i) * kw + j) * npos + (size_t)oy * out_w + (size_t)ox];
        }
    }
    x[xoff + gid] = s;
}

__kernel void channel_bias(__global float *x, ulong xoff, __global const float *bias,
                           ulong boff, uint n, uint channels, uint hw)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)n * channels * hw)
        return;
    x[xoff + gid] += bias[boff + (gid / hw) % channels];
}

__kernel void channel_sum(__global const float *x, ulong xoff, uint n, uint channels, uint hw,
                          __global float *out, ulong ooff, float beta)
{
    size_t c = get_global_id(0);
    if (c >= channels)
        return;
    float s = 0.0f;
    for (size_t i = 0; i < n; i++) {
        __global const float *p = x + xoff + (i * channels + c) * hw;
        for (size_t q = 0; q < hw; q++)
            s += p[q];
    }
    out[ooff + c] = beta == 0.0f ? s : beta * out[ooff + c] + s;
}

/* The window at (oy, ox) of one plane: its argmax (index in the plane, -1 when empty) for max,
 * its sum for avg, and its count of valid elements. read = 0: the count alone (avg's backward
 * pass, where plane is not bound to x). */
static long scan_window(__global const float *plane, size_t oy, size_t ox, int max, int read,
                        float *sum,
                        uint *count, uint height, uint width, uint kh, uint kw, uint stride,
                        uint dilation, uint pad_top, uint pad_left)
{
    long best = -1;
    float s = 0.0f;
    uint cnt = 0;
    for (size_t i = 0; i < kh; i++) {
        long y = window_pos(oy, i, stride, dilation, pad_top, height);
        if (y < 0)
            continue;
        for (size_t j = 0; j < kw; j++) {
            long xx = window_pos(ox, j, stride, dilation, pad_left, width);
            if (xx < 0)
                continue;
            long idx = y * (long)width + xx;
            cnt++;
            if (!read)
                continue;
            float v = plane[idx];
            s += v;
            if (max && (best < 0 || v > plane[best] || (isnan(v) && !isnan(plane[best]))))
                best = idx;
        }
    }
    *sum = s;
    *count = cnt;
    return best;
}

__kernel void pool2d_forward(__global const float *x, ulong xoff, __global float *y, ulong yoff,
                             int max, GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    size_t npos = (size_t)out_h * out_w;
    if (gid >= (size_t)batch * channels * npos)
        return;
    size_t p = gid % npos, plane_no = gid / npos;
    __global const float *plane = x + xoff + plane_no * height * width;
    float s;
    uint cnt;
    long best = scan_window(plane, p / out_w, p % out_w, max, 1, &s, &cnt, height, width, kh, kw,
                            stride, dilation, pad_top, pad_left);
    float v = 0.0f;
    if (cnt > 0)
        v = max ? plane[best] : s / (float)cnt;
    y[yoff + gid] = v;
}

__kernel void pool2d_backward(__global const float *x, ulong xoff, __global const float *dy,
                              ulong dyoff, __global float *dx, ulong dxoff, int max, GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    size_t hw = (size_t)height * width, npos = (size_t)out_h * out_w;
    if (gid >= (size_t)batch * channels * hw)
        return;
    size_t q = gid % hw, plane_no = gid / hw, y = q / width, xx = q % width;
    __global const float *plane = x + xoff + plane_no * hw;
    __global const float *d = dy + dyoff + plane_no * npos;
    float s = 0.0f;
    /* window elements downwards visit the covering outputs in row-major order */
    for (size_t i = kh; i-- > 0;) {
        long oy = window_out(y, i, stride, dilation, pad_top, out_h);
        if (oy < 0)
            continue;
        for (size_t j = kw; j-- > 0;) {
            long ox = window_out(xx, j, stride, dilation, pad_left, out_w);
            if (ox < 0)
                continue;
            float ws;
            uint cnt;
            long best = scan_window(plane, (size_t)oy, (size_t)ox, max, max, &ws, &cnt, height, width,
                                    kh, kw, stride, dilation, pad_top, pad_left);
            float g = d[(size_t)oy * out_w + (size_t)ox];
            if (!max)
                s += g / (float)cnt;
            else if (best == (long)q)
                s += g;
        }
    }
    dx[dxoff + gid] = s;
}
