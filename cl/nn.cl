/*
 * nn.cl - layer kernels of the clann OpenCL backend: the dense epilogue (bias + activation),
 * activation backward, softmax forward/backward by rows, PReLU slope gradients, column sums
 * (bias gradients) and inverted dropout. Formulas: src/backend/backend.h.
 *
 * Kernels:
 *   bias_act_forward   z[r,c] += bias[c] (when has_bias), y = act(z); element-wise kinds
 *   softmax_forward    one work-item per row: y = exp(z - max) / sum(exp(z - max))
 *   act_backward       dz = dy * act'(z, y); element-wise kinds
 *   softmax_backward   one work-item per row: dz = y * (dy - sum_c dy * y)
 *   prelu_grad         one work-item per column: dp[c] = beta dp[c] + sum_r dy * min(z, 0)
 *   col_sum            one work-item per column: out[c] = beta out[c] + sum_r x[r,c]
 *   dropout            y = u >= rate ? x / (1 - rate) : 0, u from the shared Philox stream
 *                      (one u per spatial values: spatial dropout)
 * Column and row sums run in index order, so results are deterministic. RReLU draws its
 * training slope for element (r, c) from stream value offset + r * cols + c.
 *
 * Defines: none.
 */
#include "common.clh"
#include "philox.clh"

static float act_slope(int kind, __global const float *prelu, ulong poff, size_t c, size_t i,
                       float lower, float upper, int training, ulong seed, uint stream,
                       ulong rngoff)
{
    if (kind == ACT_PRELU)
        return prelu[poff + c];
    if (kind == ACT_RRELU) {
        if (training)
            return lower + (upper - lower) * philox_uniform(seed, stream, rngoff + i);
        return (lower + upper) * 0.5f;
    }
    return 0.0f;
}

__kernel void bias_act_forward(__global float *z, ulong zoff, __global const float *bias,
                               ulong boff, int has_bias, __global const float *prelu,
                               ulong poff, __global float *y, ulong yoff, uint rows,
                               uint cols, int kind, float alpha, float lower, float upper,
                               int training, ulong seed, uint stream, ulong rngoff)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols)
        return;
    size_t c = i % cols;
    float v = z[zoff + i];
    if (has_bias) {
        v = v + bias[boff + c];
        z[zoff + i] = v;
    }
    float slope = act_slope(kind, prelu, poff, c, i, lower, upper, training, seed, stream,
                            rngoff);
    y[yoff + i] = act_value(kind, v, alpha, slope);
}

__kernel void softmax_forward(__global const float *z, ulong zoff, __global float *y,
                              ulong yoff, uint rows, uint cols)
{
    size_t r = get_global_id(0);
    if (r >= rows)
        return;
    __global const float *zr = z + zoff + r * cols;
    __global float *yr = y + yoff + r * cols;
    float mx = zr[0];
    for (uint c = 1; c < cols; c++)
        mx = zr[c] > mx ? zr[c] : mx;
    float sum = 0.0f;
    for (uint c = 0; c < cols; c++) {
        float e = exp(zr[c] - mx);
        yr[c] = e;
        sum += e;
    }
    for (uint c = 0; c < cols; c++)
        yr[c] = yr[c] / sum;
}

/* z is read only by kinds that need it, y only by sigmoid and tanh. */
__kernel void act_backward(__global const float *z, ulong zoff, __global const float *y,
                           ulong yoff, __global const float *dy, ulong dyoff,
                           __global const float *prelu, ulong poff, __global float *dz,
                           ulong dzoff, uint rows, uint cols, int kind, float alpha,
                           float lower, float upper, int training, ulong seed, uint stream,
                           ulong rngoff)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols)
        return;
    size_t c = i % cols;
    int uses_y = kind == ACT_SIGMOID || kind == ACT_TANH;
    int uses_z = !uses_y && kind != ACT_LINEAR;
    float zv = uses_z ? z[zoff + i] : 0.0f;
    float yv = uses_y ? y[yoff + i] : 0.0f;
    float slope = act_slope(kind, prelu, poff, c, i, lower, upper, training, seed, stream,
                            rngoff);
    dz[dzoff + i] = dy[dyoff + i] * act_derivative(kind, zv, yv, alpha, slope);
}

__kernel void softmax_backward(__global const float *y, ulong yoff, __global const float *dy,
                               ulong dyoff, __global float *dz, ulong dzoff, uint rows,
                               uint cols)
{
    size_t r = get_global_id(0);
    if (r >= rows)
        return;
    __global const float *yr = y + yoff + r * cols;
    __global const float *dyr = dy + dyoff + r * cols;
    __global float *dzr = dz + dzoff + r * cols;
    float dot = 0.0f;
    for (uint c = 0; c < cols; c++)
        dot += dyr[c] * yr[c];
    for (uint c = 0; c < cols; c++)
        dzr[c] = yr[c] * (dyr[c] - dot);
}

__kernel void prelu_grad(__global const float *z, ulong zoff, __global const float *dy,
                         ulong dyoff, __global float *dp, ulong dpoff, uint rows, uint cols,
                         float beta)
{
    size_t c = get_global_id(0);
    if (c >= cols)
        return;
    float s = 0.0f;
    for (size_t r = 0; r < rows; r++) {
        size_t i = r * cols + c;
        s += dy[dyoff + i] * fmin(z[zoff + i], 0.0f);
    }
    dp[dpoff + c] = beta == 0.0f ? s : beta * dp[dpoff + c] + s;
}

__kernel void col_sum(__global const float *x, ulong xoff, uint rows, uint cols,
                      __global float *out, ulong ooff, float beta)
{
    size_t c = get_global_id(0);
    if (c >= cols)
        return;
    float s = 0.0f;
    for (size_t r = 0; r < rows; r++)
        s += x[xoff + r * cols + c];
    out[ooff + c] = beta == 0.0f ? s : beta * out[ooff + c] + s;
}

/* spatial values in a row share a draw (spatial dropout drops channels). */
__kernel void dropout(__global const float *x, ulong xoff, __global float *y, ulong yoff,
                      uint n, uint spatial, float rate, ulong seed, uint stream, ulong offset)
{
    size_t i = get_global_id(0);
    if (i >= n)
        return;
    float v = 0.0f;
    if (rate < 1.0f && philox_uniform(seed, stream, offset + i / spatial) >= rate)
        v = x[xoff + i] / (1.0f - rate);
    y[yoff + i] = v;
}
