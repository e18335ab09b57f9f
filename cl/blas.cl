/*
 * blas.cl - level-1 style kernels and reductions of the clann OpenCL backend, and the tiled
 * GEMM used when neither CLBlast nor cl/gemm_cpu.cl is.
 *
 * Kernels: fill, copy, scale_matrix (C = beta * C over an m x n block, beta = 0 writes zeros),
 * axpy, clip_by_value, clip_by_norm, reduce_partial / reduce_final (the two stages of sum,
 * sum_squares, sum_abs and count_zero; reduce_chunks replaces reduce_partial on CPU devices),
 * gemm (tiled, row-major, both transposes).
 *
 * Every buffer argument comes with an offset in floats. 1-D kernels guard i < n, so the global
 * size may be rounded up to a multiple of the work-group size.
 *
 * Reductions are deterministic for a given n and work-group size: stage 1 runs a fixed number
 * of work-groups, each work-item adds its strided elements in index order and the group adds
 * them with a fixed tree (on CPU devices: a fixed number of contiguous chunks, see
 * reduce_chunks); stage 2 is one work-group doing the same over the partial sums. No atomics.
 *
 * Defines:
 *   GEMM_TS  tile edge of the GEMM kernel; its work-group is GEMM_TS x GEMM_TS (default 16).
 */
#include "common.clh"

#ifndef GEMM_TS
#define GEMM_TS 16
#endif

/* Modes of reduce_partial: the values of enum reduce_mode in src/backend/opencl.c. */
#define REDUCE_PLAIN 0
#define REDUCE_SQUARES 1
#define REDUCE_ABS 2
#define REDUCE_ZEROS 3

__kernel void fill(__global float *x, ulong xoff, uint n, float value)
{
    size_t i = get_global_id(0);
    if (i < n)
        x[xoff + i] = value;
}

__kernel void copy(__global float *dst, ulong doff, __global const float *src, ulong soff,
                   uint n)
{
    size_t i = get_global_id(0);
    if (i < n)
        dst[doff + i] = src[soff + i];
}

/* 2-D: dimension 0 is the column, 1 the row. */
/* One work-item per element in a 1-D launch: a 2-D grid with the rows in its second dimension
 * fails beyond 65535 work-groups there on NVIDIA. */
__kernel void scale_matrix(__global float *c, ulong coff, uint ldc, uint rows, uint cols,
                           float beta)
{
    size_t e = get_global_id(0);
    if (e < (size_t)rows * cols) {
        size_t i = coff + (e / cols) * ldc + e % cols;
        c[i] = beta == 0.0f ? 0.0f : beta * c[i];
    }
}

__kernel void axpy(uint n, float a, __global const float *x, ulong xoff, __global float *y,
                   ulong yoff)
{
    size_t i = get_global_id(0);
    if (i < n)
        y[yoff + i] = a * x[xoff + i] + y[yoff + i];
}

__kernel void clip_by_value(__global float *x, ulong xoff, uint n, float limit)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    float v = x[xoff + i];
    x[xoff + i] = v > limit ? limit : v < -limit ? -limit : v; /* NaN stays NaN, as on the CPU */
}

/* x *= min(1, max_norm / sqrt(sumsq[0] + 1e-12)), sumsq read on the device. */
__kernel void clip_by_norm(__global float *x, ulong xoff, uint n, __global const float *sumsq,
                           ulong soff, float max_norm)
{
    size_t i = get_global_id(0);
    if (i < n) {
        float factor = fmin(1.0f, max_norm / sqrt(sumsq[soff] + 1e-12f));
        x[xoff + i] = x[xoff + i] * factor;
    }
}

/* f(v) of reduce_partial's modes for eight values at once. */
static float8 reduce_term8(int mode, float8 v)
{
    return mode == REDUCE_SQUARES ? v * v
           : mode == REDUCE_ABS   ? fabs(v)
           : mode == REDUCE_ZEROS ? select((float8)(0.0f), (float8)(1.0f), v == 0.0f)
                                  : v;
}

/* The same for one value. */
static float reduce_term(int mode, float v)
{
    return mode == REDUCE_SQUARES ? v * v
           : mode == REDUCE_ABS   ? fabs(v)
           : mode == REDUCE_ZEROS ? (v == 0.0f ? 1.0f : 0.0f)
                                  : v;
}

/* Stage 1: partials[group] = sum over this group's work-items of their strided elements,
 * taken as they are (mode REDUCE_PLAIN), squared, absolute, or counted when zero. The global
 * size is a multiple of the local size. */
__kernel void reduce_partial(__global const float *x, ulong xoff, uint n, int mode,
                             __global float *partials, __local float *scratch)
{
    size_t gid = get_global_id(0);
    size_t stride = get_global_size(0);
    float acc = 0.0f;
    for (size_t i = gid; i < n; i += stride)
        acc += reduce_term(mode, x[xoff + i]);
    scratch[get_local_id(0)] = acc;
    local_tree_sum(scratch);
    if (get_local_id(0) == 0)
        partials[get_group_id(0)] = scratch[0];
}

/* Stage 1 for CPU devices: work-item g (work-groups of one) sums the contiguous chunk
 * [g * chunk, (g + 1) * chunk) of x, chunk a multiple of 8, in eight vector lanes (lane l takes
 * the elements l mod 8 in order) that are then added in a fixed order with the scalar tail.
 * With one chunk (global size 1) it is the whole reduction: out[0] = beta * out[0] + scale *
 * sum, as reduce_final would give for that one partial; else partials[g] = sum. */
__kernel void reduce_chunks(__global const float *x, ulong xoff, uint n, int mode,
                            __global float *partials, uint chunk, __global float *out,
                            ulong ooff, float scale, float beta)
{
    size_t g = get_global_id(0);
    size_t i = g * chunk;
    size_t end = min(i + chunk, (size_t)n);
    float8 acc = (float8)(0.0f);
    float tail = 0.0f;
    x += xoff;
    for (; i + 8 <= end; i += 8)
        acc += reduce_term8(mode, vload8(0, x + i));
    for (; i < end; i++)
        tail += reduce_term(mode, x[i]);
    float4 h = acc.lo + acc.hi;
    float2 q = h.lo + h.hi;
    float sum = (q.lo + q.hi) + tail;
    if (get_global_size(0) > 1) {
        partials[g] = sum;
    } else {
        float r = scale * (0.0f + sum);
        out[ooff] = beta == 0.0f ? r : beta * out[ooff] + r;
    }
}

/* Stage 2 (one work-group): out[0] = beta * out[0] + scale * sum(partials[0..count)); beta = 0
 * overwrites without reading out. */
__kernel void reduce_final(__global const float *partials, uint count, __global float *out,
                           ulong ooff, float scale, float beta, __local float *scratch)
{
    size_t lid = get_local_id(0);
    float acc = 0.0f;
    for (size_t i = lid; i < count; i += get_local_size(0))
        acc += partials[i];
    scratch[lid] = acc;
    local_tree_sum(scratch);
    if (lid == 0) {
        float r = scale * scratch[0];
        out[ooff] = beta == 0.0f ? r : beta * out[ooff] + r;
    }
}

/* The NaN guard of a step in one launch after reduce_partial or reduce_chunks (one work-group;
 * the GPU forms' fusion of reduce_final, two guard_checks and accumulate_unless): sumsq[0] =
 * the sum of partials[0..count) (count 0: sumsq already holds it, from reduce_chunks); flag[0] =
 * value when batch[0] or sumsq[0] is not finite and flag[0] is 0; then, when use_loss,
 * loss[0] += batch[0] unless flag[0] != 0. */
__kernel void guard_final(__global const float *partials, uint count, __global float *sumsq,
                          ulong soff, __global const float *batch, ulong boff,
                          __global float *flag, ulong foff, float value, __global float *loss,
                          ulong loff, int use_loss, __local float *scratch)
{
    size_t lid = get_local_id(0);
    float acc = 0.0f;
    for (size_t i = lid; i < count; i += get_local_size(0))
        acc += partials[i];
    scratch[lid] = acc;
    local_tree_sum(scratch);
    if (lid != 0)
        return;
    float s = sumsq[soff];
    if (count > 0) {
        s = 1.0f * scratch[0]; /* as reduce_final with scale 1, beta 0 */
        sumsq[soff] = s;
    }
    float b = batch[boff];
    if ((!isfinite(s) || !isfinite(b)) && flag[foff] == 0.0f)
        flag[foff] = value;
    if (use_loss && flag[foff] == 0.0f)
        loss[loff] += b;
}

/* C = alpha * op(A) op(B) + beta * C, row-major; op(A) is m x k, op(B) k x n; lda/ldb/ldc are
 * the row strides of the stored matrices. 3-D launch, dimension 0 the column of C, 1 its row,
 * both rounded up to GEMM_TS, 2 the product group of a strided batch (gemm_batched): group z
 * writes C_z at c + z sc and sums the nsum products q = z nsum .. z nsum + nsum - 1 with A_q at
 * a + q sa and B_q at b + q sb (a plain GEMM: one group of one product). Tiles past the edges
 * are zero-padded, so every work-item reaches every barrier. The sum runs over the products,
 * then k, in index order. beta = 0 does not read C. */
__kernel void gemm(int trans_a, int trans_b, uint m, uint n, uint k, float alpha,
                   __global const float *a, ulong aoff, uint lda,
                   __global const float *b, ulong boff, uint ldb, float beta,
                   __global float *c, ulong coff, uint ldc, ulong sa, ulong sb, ulong sc,
                   uint nsum)
{
    __local float as[GEMM_TS][GEMM_TS];
    __local float bs[GEMM_TS][GEMM_TS + 1];
    size_t tx = get_local_id(0);
    size_t ty = get_local_id(1);
    size_t col = get_global_id(0);
    size_t row = get_global_id(1);
    size_t z = get_global_id(2);
    float acc = 0.0f;
    for (size_t q = z * nsum; q < (z + 1) * nsum; q++) {
        __global const float *aq = a + aoff + q * sa, *bq = b + boff + q * sb;
        for (size_t t = 0; t < k; t += GEMM_TS) {
            /* as[ty][tx] = op(A)[row, t + tx]; bs[ty][tx] = op(B)[t + ty, col] */
            size_t ak = t + tx;
            size_t bk = t + ty;
            float av = 0.0f, bv = 0.0f;
            if (row < m && ak < k)
                av = trans_a ? aq[ak * lda + row] : aq[row * lda + ak];
            if (col < n && bk < k)
                bv = trans_b ? bq[col * ldb + bk] : bq[bk * ldb + col];
            as[ty][tx] = av;
            bs[ty][tx] = bv;
            barrier(CLK_LOCAL_MEM_FENCE);
            for (size_t p = 0; p < GEMM_TS; p++)
                acc += as[ty][p] * bs[p][tx];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
    }
    if (row < m && col < n) {
        size_t i = coff + z * sc + row * ldc + col;
        float r = alpha * acc;
        c[i] = beta == 0.0f ? r : r + beta * c[i];
    }
}
