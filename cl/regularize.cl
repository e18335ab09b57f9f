/*
 * regularize.cl - regularization kernels of the clann OpenCL backend: the L1 proximal step,
 * weight constraints, Gaussian noise and batch normalization. Formulas: src/backend/backend.h;
 * the reference is the "Regularization" section of src/backend/cpu.c, whose float expressions
 * these kernels repeat in the same order. (sum_abs is the two-stage reduction of blas.cl.)
 *
 * Kernels:
 *   soft_threshold      x = sign(x) max(|x| - t, 0), element-wise (t per weight with v)
 *   constrain_non_neg   x = max(x, 0), element-wise (NaN stays NaN)
 *   constrain_columns   one work-group per column: n = ||x[:, c]||, x[:, c] *= factor(n)
 *   add_noise           x += stddev * n(offset + i), n the shared Philox normal stream
 *   batchnorm_train     one work-group per feature: mean, biased variance and invstd, then y
 *   moving_average      the running statistics, element-wise, unless the NaN guard is set
 *   batchnorm_infer     y from the running statistics, element-wise
 *   batchnorm_backward  one work-group per feature: dbeta, dgamma, then dx
 *
 * Column reductions are deterministic: work-item l of a group adds rows l, l + L, l + 2L, ...
 * in that order and the group adds the L partial sums with the fixed tree of common.clh. The
 * host picks the local size L (a power of two) from rows and the device alone. No atomics.
 * The column kernels take the local scratch (L floats) as their last argument. Batch
 * normalization's feature c of a rows x (cols spatial) matrix (spatial = 1: column c; H W: a
 * channel of NCHW images) is a column of rows spatial values, its j-th at feature_at(j).
 *
 * Defines: none.
 */
#include "common.clh"
#include "philox.clh"

/* The group's total of every work-item's `partial`, returned to all of them. The trailing
 * barrier lets the caller reuse scratch for its next column sum. */
static float column_total(float partial, __local float *scratch)
{
    scratch[get_local_id(0)] = partial;
    local_tree_sum(scratch);
    float total = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);
    return total;
}

/* With use_guard, a nonzero guard[0] (the NaN guard's flag) makes the kernels below that take
 * it change nothing, as the optimizer kernels: a skipped step leaves every weight as it was. */
#define GUARDED(guard, goff, use_guard) ((use_guard) && (guard)[goff] != 0.0f)

/* With use_v, the threshold is per weight: threshold / (sqrt(v[i] + delta) + eps). */
__kernel void soft_threshold(__global float *x, ulong xoff, uint n, float threshold,
                             __global const float *v2, ulong voff, int use_v, float delta,
                             float eps, __global const float *guard, ulong goff, int use_guard)
{
    size_t i = get_global_id(0);
    if (i >= n || GUARDED(guard, goff, use_guard))
        return;
    float v = x[xoff + i];
    float t = use_v ? threshold / (sqrt(v2[voff + i] + delta) + eps) : threshold;
    /* v * 0 inside the band: a zero of v's sign, and NaN stays NaN */
    x[xoff + i] = v > t ? v - t : v < -t ? v + t : v * 0.0f;
}

__kernel void constrain_non_neg(__global float *x, ulong xoff, uint n,
                                __global const float *guard, ulong goff, int use_guard)
{
    size_t i = get_global_id(0);
    if (i >= n || GUARDED(guard, goff, use_guard))
        return;
    float v = x[xoff + i];
    x[xoff + i] = v < 0.0f ? 0.0f : v; /* NaN stays NaN */
}

/* The factor a column of norm n is scaled by (Keras' constraints, epsilon 1e-7). */
static float constraint_factor(int kind, float n, float min_value, float max_value, float rate)
{
    switch (kind) {
    case CONSTRAINT_MAX_NORM:
        return (n > max_value ? max_value : n) / (1e-7f + n);
    case CONSTRAINT_MIN_MAX_NORM: {
        float clipped = n < min_value ? min_value : n > max_value ? max_value : n;
        return (rate * clipped + (1.0f - rate) * n) / (1e-7f + n);
    }
    case CONSTRAINT_UNIT_NORM:
        return 1.0f / (1e-7f + n);
    default:
        return 1.0f;
    }
}

/* Global size cols * L: group c rescales column c of the rows x cols matrix x. */
__kernel void constrain_columns(__global float *x, ulong xoff, uint rows, uint cols, int kind,
                                float min_value, float max_value, float rate,
                                __global const float *guard, ulong goff, int use_guard,
                                __local float *scratch)
{
    if (GUARDED(guard, goff, use_guard))
        return; /* the same for the whole group: no barrier is left half-reached */
    size_t step = get_local_size(0);
    __global float *col = x + xoff + get_group_id(0);
    float ss = 0.0f;
    for (size_t r = get_local_id(0); r < rows; r += step) {
        float v = col[r * cols];
        ss += v * v;
    }
    float norm = sqrt(column_total(ss, scratch));
    float factor = constraint_factor(kind, norm, min_value, max_value, rate);
    for (size_t r = get_local_id(0); r < rows; r += step)
        col[r * cols] = col[r * cols] * factor;
}

__kernel void add_noise(__global float *x, ulong xoff, uint n, ulong seed, uint stream,
                        ulong offset, float stddev)
{
    size_t i = get_global_id(0);
    if (i < n)
        x[xoff + i] = x[xoff + i] + stddev * philox_normal(seed, stream, offset + i);
}

/* The j-th value of feature c: row j / spatial, place j % spatial within the feature's
 * spatial block of that row (with spatial = 1, row j of column c). */
static size_t feature_at(size_t j, size_t c, uint cols, uint spatial)
{
    size_t r = j / spatial;
    return (r * cols + c) * spatial + (j - r * spatial);
}

/* Global size cols * L: group c normalizes feature c. y may alias x: every read of the
 * feature happens before the barriers of the second sum, and each work-item then reads and
 * writes only its own values. */
__kernel void batchnorm_train(__global const float *x, ulong xoff, __global float *y, ulong yoff,
                              uint rows, uint cols, uint spatial, __global const float *gamma,
                              ulong goff, __global const float *beta, ulong boff,
                              __global float *stats, ulong soff, float eps,
                              __local float *scratch)
{
    size_t c = get_group_id(0), lid = get_local_id(0), step = get_local_size(0);
    size_t count = (size_t)rows * spatial;
    __global const float *xp = x + xoff;
    float s = 0.0f;
    for (size_t j = lid; j < count; j += step)
        s += xp[feature_at(j, c, cols, spatial)];
    float mu = column_total(s, scratch) / (float)count;
    /* two passes, as the CPU: no cancellation of E[x^2] - E[x]^2 */
    float ss = 0.0f;
    for (size_t j = lid; j < count; j += step) {
        float d = xp[feature_at(j, c, cols, spatial)] - mu;
        ss += d * d;
    }
    float var = column_total(ss, scratch) / (float)count;
    float is = 1.0f / sqrt(var + eps);
    if (lid == 0) { /* stats = [mean | var | invstd] */
        stats[soff + c] = mu;
        stats[soff + cols + c] = var;
        stats[soff + 2 * (size_t)cols + c] = is;
    }
    float g = gamma[goff + c], b = beta[boff + c];
    for (size_t j = lid; j < count; j += step) {
        size_t i = feature_at(j, c, cols, spatial);
        y[yoff + i] = g * (xp[i] - mu) * is + b;
    }
}

/* avg = momentum avg + (1 - momentum) x: the running statistics, after the NaN guard. */
__kernel void moving_average(__global float *avg, ulong aoff, __global const float *x,
                             ulong xoff, uint n, float momentum, __global const float *guard,
                             ulong goff, int use_guard)
{
    size_t i = get_global_id(0);
    if (i < n && !GUARDED(guard, goff, use_guard))
        avg[aoff + i] = momentum * avg[aoff + i] + (1.0f - momentum) * x[xoff + i];
}

__kernel void batchnorm_infer(__global const float *x, ulong xoff, __global float *y, ulong yoff,
                              uint rows, uint cols, uint spatial, __global const float *gamma,
                              ulong goff, __global const float *beta, ulong boff,
                              __global const float *rmean, ulong rmoff,
                              __global const float *rvar, ulong rvoff, float eps)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols * spatial)
        return;
    size_t c = i / spatial % cols;
    float is = 1.0f / sqrt(rvar[rvoff + c] + eps);
    y[yoff + i] = gamma[goff + c] * (x[xoff + i] - rmean[rmoff + c]) * is + beta[boff + c];
}

/* Global size cols * L: group c differentiates feature c. */
__kernel void batchnorm_backward(__global const float *x, ulong xoff, __global const float *dy,
                                 ulong dyoff, uint rows, uint cols, uint spatial,
                                 __global const float *gamma, ulong goff,
                                 __global const float *mean, ulong moff,
                                 __global const float *invstd, ulong isoff, __global float *dx,
                                 ulong dxoff, __global float *dgamma, ulong dgoff,
                                 __global float *dbeta, ulong dboff, __local float *scratch)
{
    size_t c = get_group_id(0), lid = get_local_id(0), step = get_local_size(0);
    size_t count = (size_t)rows * spatial;
    float m = mean[moff + c], is = invstd[isoff + c];
    float sdy = 0.0f, sdyx = 0.0f;
    for (size_t j = lid; j < count; j += step) {
        size_t i = feature_at(j, c, cols, spatial);
        float g = dy[dyoff + i];
        sdy += g;
        sdyx += g * ((x[xoff + i] - m) * is);
    }
    sdy = column_total(sdy, scratch);
    sdyx = column_total(sdyx, scratch);
    if (lid == 0) {
        dbeta[dboff + c] = sdy;
        dgamma[dgoff + c] = sdyx;
    }
    float k = gamma[goff + c] * is / (float)count;
    for (size_t j = lid; j < count; j += step) {
        size_t i = feature_at(j, c, cols, spatial);
        float xhat = (x[xoff + i] - m) * is;
        dx[dxoff + i] = k * ((float)count * dy[dyoff + i] - sdy - xhat * sdyx);
    }
}

/* Batch normalization across ranks (backend.h): x is rows x (channels * spatial); group c
 * works on channel c, whose value j of rows * spatial sits at (r * channels + c) * spatial + s
 * for r = j / spatial, s = j % spatial. */
static size_t bn_index(size_t j, uint channels, uint spatial, size_t c)
{
    return ((j / spatial) * channels + c) * spatial + j % spatial;
}

/* Global size channels * L: out[c] = sum x, or with use_center sum (x - center[c])^2. */
__kernel void batchnorm_sums(__global const float *x, ulong xoff, uint rows, uint channels,
                             uint spatial, __global const float *center, ulong coff,
                             uint use_center, __global float *out, ulong ooff,
                             __local float *scratch)
{
    size_t c = get_group_id(0), lid = get_local_id(0), step = get_local_size(0);
    size_t values = (size_t)rows * spatial;
    float m = use_center ? center[coff + c] : 0.0f, s = 0.0f;
    for (size_t j = lid; j < values; j += step) {
        float v = x[xoff + bn_index(j, channels, spatial, c)];
        s += use_center ? (v - m) * (v - m) : v;
    }
    s = column_total(s, scratch);
    if (lid == 0)
        out[ooff + c] = s;
}

/* Global size channels * L: dx = gamma invstd / count (count dy - dbeta - xhat dgamma). */
__kernel void batchnorm_dx(__global const float *x, ulong xoff, __global const float *dy,
                           ulong dyoff, uint rows, uint channels, uint spatial,
                           __global const float *gamma, ulong goff, __global const float *mean,
                           ulong moff, __global const float *invstd, ulong isoff,
                           __global const float *dgamma, ulong dgoff,
                           __global const float *dbeta, ulong dboff, float count,
                           __global float *dx, ulong dxoff, __local float *scratch)
{
    size_t c = get_group_id(0), lid = get_local_id(0), step = get_local_size(0);
    size_t values = (size_t)rows * spatial;
    float m = mean[moff + c], is = invstd[isoff + c];
    float sdy = dbeta[dboff + c], sdyx = dgamma[dgoff + c], k = gamma[goff + c] * is / count;
    (void)scratch;
    for (size_t j = lid; j < values; j += step) {
        size_t i = bn_index(j, channels, spatial, c);
        float xhat = (x[xoff + i] - m) * is;
        dx[dxoff + i] = k * (count * dy[dyoff + i] - sdy - xhat * sdyx);
    }
}
