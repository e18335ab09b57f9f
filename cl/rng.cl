/*
 * rng.cl - fills buffers from the shared counter-based generator (cl/philox.clh, the same code
 * the CPU backend runs), so every device draws bit-identical numbers.
 *
 * Kernels: rng_uniform (x[i] = lo + (hi - lo) * u(offset + i)), rng_normal (x[i] = mean +
 * stddev * n(offset + i)); u and n are values of stream `stream` under key `seed`.
 *
 * Defines: none.
 */
#include "common.clh"
#include "philox.clh"

__kernel void rng_uniform(__global float *x, ulong xoff, uint n, ulong seed, uint stream,
                          ulong offset, float lo, float hi)
{
    size_t i = get_global_id(0);
    if (i < n)
        x[xoff + i] = lo + (hi - lo) * philox_uniform(seed, stream, offset + i);
}

__kernel void rng_normal(__global float *x, ulong xoff, uint n, ulong seed, uint stream,
                         ulong offset, float mean, float stddev)
{
    size_t i = get_global_id(0);
    if (i < n)
        x[xoff + i] = mean + stddev * philox_normal(seed, stream, offset + i);
}
