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
 *                    (CPU form); channel_sum_wg, a work-group per channel with a fixed tree
 *                    (GPU form)
 *   pool2d_forward   max (first argmax, NaN first) or average over the window's valid elements
 *   pool2d_backward  gather per input element over the windows holding it, row-major order;
 *                    on CPU devices with disjoint windows (stride >= size: the usual pooling)
 *                    pool2d_backward_disjoint, a scatter per window over the inputs it owns
 * The element-wise kernels come in two forms with the same arithmetic: 1-D over every element
 * (GPUs: coalesced, no grid-dimension limits), and *_cpu, 3-D over (column, row, plane) with
 * exact global sizes, for CPU devices, where the 1-D form's 64-bit divisions per element cost
 * more than the work (im2col took 17x the CPU backend's time on PoCL).
 *
 * Defines: none.
 */
#include "common.clh"

#define GEOM_ARGS                                                                                  \
    uint batch, uint channels, uint height, uint width, uint kh, uint kw, uint stride,             \
        uint dilation, uint pad_top, uint pad_left, uint out_h, uint out_w

#define GEOM_PASS                                                                                  \
    batch, channels, height, width, kh, kw, stride, dilation, pad_top, pad_left, out_h, out_w

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
    if (p < 0)
        return -1;
    if (p <= UINT_MAX) { /* 32-bit division: a 64-bit one per window element cost more than
                          * the rest of the pooling gather on CPU devices */
        uint q = stride == 1 ? (uint)p : (uint)p / stride;
        return q * stride != (uint)p || q >= out ? -1 : (long)q;
    }
    if (p % stride != 0 || p / stride >= (long)out)
        return -1;
    return p / stride;
}

/* col element (plane, oy, ox), plane = n K + r: the input under window element r of output
 * position (oy, ox) of image n, 0 in the padding. */
static void im2col_at(__global const float *x, __global float *col, size_t plane, size_t oy,
                      size_t ox, GEOM_ARGS)
{
    size_t k = (size_t)channels * kh * kw;
    size_t r = plane % k, n = plane / k;
    size_t j = r % kw, i = (r / kw) % kh, c = r / (kw * kh);
    long y = window_pos(oy, i, stride, dilation, pad_top, height);
    long xx = window_pos(ox, j, stride, dilation, pad_left, width);
    float v = 0.0f;
    if (y >= 0 && xx >= 0)
        v = x[((n * channels + c) * height + (size_t)y) * width + (size_t)xx];
    col[(plane * out_h + oy) * out_w + ox] = v;
}

__kernel void im2col(__global const float *x, ulong xoff, __global float *col, ulong coff,
                     GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    size_t npos = (size_t)out_h * out_w, k = (size_t)channels * kh * kw;
    if (gid >= (size_t)batch * k * npos)
        return;
    size_t p = gid % npos;
    im2col_at(x + xoff, col + coff, gid / npos, p / out_w, p % out_w, GEOM_PASS);
}

/* CPU form: 3-D (ox, oy, plane), exact global sizes, no division per element. */
__kernel void im2col_cpu(__global const float *x, ulong xoff, __global float *col, ulong coff,
                         GEOM_ARGS)
{
    im2col_at(x + xoff, col + coff, get_global_id(2), get_global_id(1), get_global_id(0),
              GEOM_PASS);
}

/* x element (plane, y, xx), plane = n C + c: the sum of the col elements read from there. */
static void col2im_at(__global const float *col, __global float *x, size_t plane, size_t y,
                      size_t xx, GEOM_ARGS)
{
    size_t c = plane % channels, n = plane / channels;
    size_t npos = (size_t)out_h * out_w, k = (size_t)channels * kh * kw;
    __global const float *cn = col + n * k * npos;
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
    x[(plane * height + y) * width + xx] = s;
}

__kernel void col2im(__global const float *col, ulong coff, __global float *x, ulong xoff,
                     GEOM_ARGS)
{
    size_t gid = get_global_id(0), hw = (size_t)height * width;
    if (gid >= (size_t)batch * channels * hw)
        return;
    size_t q = gid % hw;
    col2im_at(col + coff, x + xoff, gid / hw, q / width, q % width, GEOM_PASS);
}

/* CPU form: 3-D (x, y, plane). */
__kernel void col2im_cpu(__global const float *col, ulong coff, __global float *x, ulong xoff,
                         GEOM_ARGS)
{
    col2im_at(col + coff, x + xoff, get_global_id(2), get_global_id(1), get_global_id(0),
              GEOM_PASS);
}

__kernel void channel_bias(__global float *x, ulong xoff, __global const float *bias,
                           ulong boff, uint n, uint channels, uint hw)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)n * channels * hw)
        return;
    x[xoff + gid] += bias[boff + (gid / hw) % channels];
}

/* CPU form: 3-D (p, c, i), exact global sizes. */
__kernel void channel_bias_cpu(__global float *x, ulong xoff, __global const float *bias,
                               ulong boff, uint n, uint channels, uint hw)
{
    size_t c = get_global_id(1);
    x[xoff + (get_global_id(2) * channels + c) * hw + get_global_id(0)] += bias[boff + c];
}

/* CPU form: one work-item per channel, the images and then the positions in order. */
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

/* GPU form: a work-group per channel (group c); item t adds elements t, t + items, ... of the
 * channel's n hw values (image-major), then the group adds its items with a fixed tree, so the
 * result depends on the work-group size alone. */
__kernel void channel_sum_wg(__global const float *x, ulong xoff, uint n, uint channels, uint hw,
                             __global float *out, ulong ooff, float beta,
                             __local float *part)
{
    size_t c = get_group_id(0), t = get_local_id(0), items = get_local_size(0);
    float s = 0.0f;
    for (size_t e = t; e < (size_t)n * hw; e += items)
        s += x[xoff + ((e / hw) * channels + c) * hw + e % hw];
    part[t] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (size_t w = items / 2; w > 0; w /= 2) {
        if (t < w)
            part[t] += part[t + w];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (t == 0)
        out[ooff + c] = beta == 0.0f ? part[0] : beta * out[ooff + c] + part[0];
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

/* y element (plane, oy, ox), plane = n C + c. */
static void pool2d_forward_at(__global const float *x, __global float *y, int max, size_t plane,
                              size_t oy, size_t ox, GEOM_ARGS)
{
    __global const float *pl = x + plane * height * width;
    float s;
    uint cnt;
    long best = scan_window(pl, oy, ox, max, 1, &s, &cnt, height, width, kh, kw, stride,
                            dilation, pad_top, pad_left);
    float v = 0.0f;
    if (cnt > 0)
        v = max ? pl[best] : s / (float)cnt;
    y[(plane * out_h + oy) * out_w + ox] = v;
}

__kernel void pool2d_forward(__global const float *x, ulong xoff, __global float *y, ulong yoff,
                             int max, GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    size_t npos = (size_t)out_h * out_w;
    if (gid >= (size_t)batch * channels * npos)
        return;
    size_t p = gid % npos;
    pool2d_forward_at(x + xoff, y + yoff, max, gid / npos, p / out_w, p % out_w, GEOM_PASS);
}

/* CPU form: 3-D (ox, oy, plane). */
__kernel void pool2d_forward_cpu(__global const float *x, ulong xoff, __global float *y,
                                 ulong yoff, int max, GEOM_ARGS)
{
    pool2d_forward_at(x + xoff, y + yoff, max, get_global_id(2), get_global_id(1),
                      get_global_id(0), GEOM_PASS);
}

/* dx element (plane, y, xx): the gather over the windows holding it. */
static void pool2d_backward_at(__global const float *x, __global const float *dy,
                               __global float *dx, int max, size_t plane, size_t y, size_t xx,
                               GEOM_ARGS)
{
    size_t hw = (size_t)height * width, npos = (size_t)out_h * out_w, q = y * width + xx;
    __global const float *pl = x + plane * hw;
    __global const float *d = dy + plane * npos;
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
            long best = scan_window(pl, (size_t)oy, (size_t)ox, max, max, &ws, &cnt, height,
                                    width, kh, kw, stride, dilation, pad_top, pad_left);
            float g = d[(size_t)oy * out_w + (size_t)ox];
            if (!max)
                s += g / (float)cnt;
            else if (best == (long)q)
                s += g;
        }
    }
    dx[plane * hw + q] = s;
}

__kernel void pool2d_backward(__global const float *x, ulong xoff, __global const float *dy,
                              ulong dyoff, __global float *dx, ulong dxoff, int max, GEOM_ARGS)
{
    size_t gid = get_global_id(0);
    size_t hw = (size_t)height * width;
    if (gid >= (size_t)batch * channels * hw)
        return;
    size_t q = gid % hw;
    pool2d_backward_at(x + xoff, dy + dyoff, dx + dxoff, max, gid / hw, q / width, q % width,
                       GEOM_PASS);
}

/* CPU form: 3-D (x, y, plane). */
__kernel void pool2d_backward_cpu(__global const float *x, ulong xoff, __global const float *dy,
                                  ulong dyoff, __global float *dx, ulong dxoff, int max,
                                  GEOM_ARGS)
{
    pool2d_backward_at(x + xoff, dy + dyoff, dx + dxoff, max, get_global_id(2), get_global_id(1),
                       get_global_id(0), GEOM_PASS);
}

/* The input rows (or columns) [*lo, *hi) that output o owns when windows are disjoint (stride
 * >= kernel, dilation 1): from its window's start to the next one's, the first output's range
 * reaching back to 0 and the last one's on to the end, clipped to [0, size). */
static void owned_range(size_t o, uint stride, uint pad, uint out, uint size, size_t *lo,
                        size_t *hi)
{
    long a = o == 0 ? 0 : (long)(o * stride) - (long)pad;
    long b = o + 1 == out ? (long)size : (long)((o + 1) * stride) - (long)pad;
    *lo = a < 0 ? 0 : (size_t)a;
    *hi = b < 0 ? 0 : b > (long)size ? size : (size_t)b;
}

/* CPU form of pool2d_backward for disjoint windows, 3-D over (ox, oy, plane): each output
 * writes the inputs it owns, its gradient at the argmax (max) or over its window's valid
 * elements divided by their count (avg), 0 elsewhere: what the gather gives, as each input is
 * in one window at most. */
__kernel void pool2d_backward_disjoint(__global const float *x, ulong xoff,
                                       __global const float *dy, ulong dyoff, __global float *dx,
                                       ulong dxoff, int max, GEOM_ARGS)
{
    size_t ox = get_global_id(0), oy = get_global_id(1), plane = get_global_id(2);
    size_t hw = (size_t)height * width;
    __global const float *pl = x + xoff + plane * hw;
    __global float *d = dx + dxoff + plane * hw;
    float ws;
    uint cnt;
    long best = scan_window(pl, oy, ox, max, max, &ws, &cnt, height, width, kh, kw, stride, 1,
                            pad_top, pad_left);
    float g = dy[dyoff + (plane * out_h + oy) * out_w + ox];
    float share = max ? g : g / (float)cnt;
    long y0 = (long)(oy * stride) - (long)pad_top, x0 = (long)(ox * stride) - (long)pad_left;
    size_t ylo, yhi, xlo, xhi;
    owned_range(oy, stride, pad_top, out_h, height, &ylo, &yhi);
    owned_range(ox, stride, pad_left, out_w, width, &xlo, &xhi);
    for (size_t y = ylo; y < yhi; y++)
        for (size_t xx = xlo; xx < xhi; xx++) {
            bool in = (long)y >= y0 && (long)y < y0 + (long)kh && (long)xx >= x0 &&
                      (long)xx < x0 + (long)kw;
            bool hit = max ? best == (long)(y * width + xx) : in;
            d[y * width + xx] = hit ? share : 0.0f;
        }
}
