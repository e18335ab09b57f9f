/*
 * embedding.cl - the feature layer (formulas: src/backend/backend.h): the numeric columns'
 * strided copy, embedding gathers combined per row (sum, mean, sqrtn; or indicator counts),
 * the deterministic scatter-add of their gradient (one work-item per distinct id and column,
 * summing that id's batch rows in the given order: no atomics), and the sparse optimizer step
 * on the rows a batch used.
 *
 * Ids are floats; a slot holds an id when its value is an integer in [0, n_ids), and anything
 * else (-1 pads) is skipped. Values read from index buffers are range-checked before use.
 *
 * Defines: none.
 */
#include "common.clh"
#include "optim.clh"


static int slot_id(float v, uint n_ids)
{
    return v >= 0.0f && v < (float)n_ids && v == floor(v) ? (int)v : -1;
}

/* The combiner's scale of one row of id slots. */
static float row_scale(__global const float *ids, uint width, uint n_ids, int comb)
{
    uint c = 0;
    for (uint s = 0; s < width; s++)
        c += slot_id(ids[s], n_ids) >= 0;
    if (c == 0)
        return 0.0f;
    return comb == COMB_SUM ? 1.0f : comb == COMB_MEAN ? 1.0f / (float)c : 1.0f / sqrt((float)c);
}

__kernel void copy_cols(__global const float *x, ulong xoff, uint ldx, __global float *y,
                        ulong yoff, uint ldy, uint rows, uint cols)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * cols)
        return;
    size_t r = i / cols, j = i % cols;
    y[yoff + r * ldy + j] = x[xoff + r * ldx + j];
}

/* One work-item per (row r, selected column j); see index_cols in backend.h. An index that is
 * no column is skipped (the host builds them). */
__kernel void index_cols(__global const float *src, ulong soff, __global float *dst, ulong doff,
                         uint rows, uint width, __global const float *idx, ulong ioff, uint n,
                         int scatter)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * n)
        return;
    size_t r = i / n, j = i % n;
    float v = idx[ioff + j];
    if (!(v >= 0.0f && v < (float)width))
        return;
    size_t c = (size_t)v;
    if (scatter)
        dst[doff + r * width + c] = src[soff + i];
    else
        dst[doff + i] = src[soff + r * width + c];
}

/* One work-item per (row, column k < dim). */
__kernel void embedding_forward(__global const float *ids, ulong ioff, uint ldi, uint width,
                                uint rows, __global const float *table, ulong toff,
                                int use_table, uint n_ids, uint dim, int comb,
                                __global float *y, ulong yoff, uint ldy)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)rows * dim)
        return;
    size_t r = i / dim, k = i % dim;
    __global const float *id = ids + ioff + r * ldi;
    float acc = 0.0f;
    for (uint s = 0; s < width; s++) {
        int v = slot_id(id[s], n_ids);
        if (v >= 0)
            acc += use_table ? table[toff + (size_t)v * dim + k] : ((size_t)v == k ? 1.0f : 0.0f);
    }
    y[yoff + r * ldy + k] = row_scale(id, width, n_ids, comb) * acc;
}

/* One work-item per (distinct id u, column k): grad[u, k] = sum over id u's rows, in order. */
__kernel void embedding_backward(__global const float *dy, ulong dyoff, uint ldy,
                                 __global const float *ids, ulong ioff, uint ldi, uint width,
                                 uint rows, uint n_ids, int comb, __global const float *offsets,
                                 ulong ooff, __global const float *occ, ulong occoff,
                                 uint n_occ, uint n_unique, uint dim, __global float *grad,
                                 ulong goff)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)n_unique * dim)
        return;
    size_t u = i / dim, k = i % dim;
    float lo = offsets[ooff + u], hi = offsets[ooff + u + 1];
    float acc = 0.0f;
    if (lo >= 0.0f && lo <= hi && hi <= (float)n_occ) {
        for (uint o = (uint)lo; o < (uint)hi; o++) {
            float rf = occ[occoff + o];
            if (!(rf >= 0.0f && rf < (float)rows))
                continue;
            size_t r = (size_t)rf;
            acc += row_scale(ids + ioff + r * ldi, width, n_ids, comb) * dy[dyoff + r * ldy + k];
        }
    }
    grad[goff + i] = acc;
}

/* One work-item per (distinct id u, column k): optimizer_step's formulas on row uniq[u]. */
__kernel void embedding_update(__global float *w, ulong woff, __global float *s1, ulong s1off,
                               __global float *s2, ulong s2off, uint n_ids, uint dim,
                               __global const float *uniq, ulong uoff,
                               __global const float *g, ulong goff, uint n_unique, int kind,
                               float lr, float momentum, int nesterov, float beta1, float beta2,
                               float eps, float rho, __global const float *guard, ulong guardoff,
                               int use_guard)
{
    size_t i = get_global_id(0);
    if (i >= (size_t)n_unique * dim || (use_guard && guard[guardoff] != 0.0f))
        return;
    size_t u = i / dim, k = i % dim;
    int row = slot_id(uniq[uoff + u], n_ids);
    if (row < 0)
        return;
    size_t p = (size_t)row * dim + k;
    struct opt_hyper h = {kind, lr, momentum, nesterov, beta1, beta2, eps, rho};
    w[woff + p] = opt_update(&h, w[woff + p], g[goff + i], s1 + s1off + p, s2 + s2off + p);
}
