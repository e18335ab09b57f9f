/*
 * gemm_cpu.cl - GEMM for CPU-type OpenCL devices (PoCL and the like), where CLBlast's kernels
 * stay far from the cores' peak: C = alpha * op(A) op(B) + beta * C, row-major, with the
 * row strides lda/ldb/ldc of the stored matrices and offsets in floats (the contract of
 * gemm in src/backend/backend.h).
 *
 * No local memory and no barriers: each work-item computes one register block of C on its own
 * and sums k in index order (the products of a summed batch in order, each over k), so a
 * result does not depend on the work-group size. CPU compilers turn the explicit vectors into
 * SIMD registers; the caches do the blocking.
 *
 * Kernels gemm_nn, gemm_tn, gemm_nt (the transposes; TT goes to blas.cl's gemm): 3-D launch,
 * dimension 0 over blocks of GEMM_NV columns, 1 over blocks of GEMM_MR rows, 2 over the
 * matrices of a strided batch (gemm_batched; 1 for a plain GEMM), global sizes exact. A work-item keeps its GEMM_MR x GEMM_NV block in GEMM_MR vectors and, for each k in
 * index order, adds op(A)'s value (broadcast) times the row of op(B) (one vector load, or for
 * gemm_nt a gather of one value from each of GEMM_NV rows of B). Blocks that cross the edge
 * of C take a scalar path (block_edge), k in index order too. beta = 0 does not read C.
 *
 * Defines:
 *   GEMM_MR   rows of C per work-item in gemm_nn/gemm_tn (default 8)
 *   GEMM_NV   columns per work-item in gemm_nn/gemm_tn, the vector width: 4, 8 or 16 (16)
 *   GEMM_FMA  1: multiply-add with fma() (one rounding, only where the device has hardware
 *             FMA), 0: a separate multiply and add (default 0)
 */
#include "common.clh"

#ifndef GEMM_MR
#define GEMM_MR 8
#endif
#ifndef GEMM_NV
#define GEMM_NV 16
#endif
#ifndef GEMM_FMA
#define GEMM_FMA 0
#endif

#define GEMM_CAT_(a, b) a##b
#define GEMM_CAT(a, b) GEMM_CAT_(a, b)
#define floatv GEMM_CAT(float, GEMM_NV)
#define vloadv GEMM_CAT(vload, GEMM_NV)
#define vstorev GEMM_CAT(vstore, GEMM_NV)

/* acc + x * y */
#if GEMM_FMA
#define MAC(acc, x, y) fma((x), (y), (acc))
#else
#define MAC(acc, x, y) ((acc) + (x) * (y))
#endif

/* The stored element of op(X)[r, c] for a row-major X with row stride ld. */
static float op_elem(__global const float *x, uint ld, int trans, size_t r, size_t c)
{
    return trans ? x[c * ld + r] : x[r * ld + c];
}

/* alpha * acc + beta * c, with beta = 0 not reading c. */
static void store_one(__global float *c, float alpha, float acc, float beta)
{
    float r = alpha * acc;
    *c = beta == 0.0f ? r : r + beta * *c;
}

/* The block [i0, i0 + nr) x [j0, j0 + nc) of C, nr <= GEMM_MR and nc <= GEMM_NV, at the edge
 * of C. The loops have fixed bounds, padded with zeros,
 * so that the per-element sums are independent chains rather than one serial chain. */
static void block_edge(int ta, int tb, uint k, float alpha, __global const float *a, uint lda,
                       __global const float *b, uint ldb, float beta, __global float *c,
                       uint ldc, size_t i0, size_t nr, size_t j0, size_t nc, uint nsum,
                       ulong sa, ulong sb)
{
    float acc[GEMM_MR][GEMM_NV];
    for (int r = 0; r < GEMM_MR; r++)
        for (int s = 0; s < GEMM_NV; s++)
            acc[r][s] = 0.0f;
    for (uint q = 0; q < nsum; q++, a += sa, b += sb) {
        for (size_t p = 0; p < k; p++) {
            float av[GEMM_MR], bv[GEMM_NV];
            for (int r = 0; r < GEMM_MR; r++)
                av[r] = r < nr ? op_elem(a, lda, ta, i0 + r, p) : 0.0f;
            for (int s = 0; s < GEMM_NV; s++)
                bv[s] = s < nc ? op_elem(b, ldb, tb, p, j0 + s) : 0.0f;
            for (int r = 0; r < GEMM_MR; r++)
                for (int s = 0; s < GEMM_NV; s++)
                    acc[r][s] = MAC(acc[r][s], av[r], bv[s]);
        }
    }
    for (size_t r = 0; r < nr; r++)
        for (size_t s = 0; s < nc; s++)
            store_one(c + (i0 + r) * ldc + j0 + s, alpha, acc[r][s], beta);
}

/* acc += op(A) op(B) over the full GEMM_MR x GEMM_NV block at (i0, j0), k in index order; not
 * both ta and tb. */
static void add_block(floatv *acc, int ta, int tb, uint k, __global const float *a, uint lda,
                      __global const float *b, uint ldb, size_t i0, size_t j0)
{
    __global const float *bp = b + j0;
    if (tb) {
        /* op(B)[p, j0 + s] = B[(j0 + s) * ldb + p]: gather the GEMM_NV values (each from its
         * own row of B, read in order) into a vector */
        __global const float *ap = a + i0 * lda;
        __global const float *bt = b + j0 * ldb;
        for (uint p = 0; p < k; p++) {
            float g[GEMM_NV];
            for (int s = 0; s < GEMM_NV; s++)
                g[s] = bt[s * ldb + p];
            floatv bv = vloadv(0, g);
            for (int r = 0; r < GEMM_MR; r++)
                acc[r] = MAC(acc[r], (floatv)(ap[r * lda + p]), bv);
        }
    } else if (ta) {
        __global const float *ap = a + i0;
        for (uint p = 0; p < k; p++, ap += lda, bp += ldb) {
            floatv bv = vloadv(0, bp);
            for (int r = 0; r < GEMM_MR; r++)
                acc[r] = MAC(acc[r], (floatv)(ap[r]), bv);
        }
    } else {
        __global const float *ap = a + i0 * lda;
        for (uint p = 0; p < k; p++, bp += ldb) {
            floatv bv = vloadv(0, bp);
            for (int r = 0; r < GEMM_MR; r++)
                acc[r] = MAC(acc[r], (floatv)(ap[r * lda + p]), bv);
        }
    }
}

/* One full GEMM_MR x GEMM_NV block at (i0, j0) over nsum products, in product order. */
static void block_rows(int ta, int tb, uint k, float alpha, __global const float *a, uint lda,
                       __global const float *b, uint ldb, float beta, __global float *c,
                       uint ldc, size_t i0, size_t j0, uint nsum, ulong sa, ulong sb)
{
    floatv acc[GEMM_MR];
    for (int r = 0; r < GEMM_MR; r++)
        acc[r] = (floatv)(0.0f);
    for (uint q = 0; q < nsum; q++)
        add_block(acc, ta, tb, k, a + q * sa, lda, b + q * sb, ldb, i0, j0);
    for (int r = 0; r < GEMM_MR; r++) {
        __global float *cp = c + (i0 + r) * ldc + j0;
        floatv v = (floatv)(alpha) * acc[r];
        if (beta != 0.0f)
            v = v + (floatv)(beta) * vloadv(0, cp);
        vstorev(v, 0, cp);
    }
}

/* Product group z = get_global_id(2): C_z (c + z sc) = alpha sum over the nsum products
 * q = z nsum .. z nsum + nsum - 1 (A_q = a + q sa, B_q = b + q sb) + beta C_z, the products
 * and then k in index order. A plain GEMM: nsum 1, one group; a strided batch: nsum 1, a group
 * per product; a summed batch: nsum products, one group. */
static void gemm_rows(int ta, int tb, uint m, uint n, uint k, float alpha, __global const float *a,
                      uint lda, __global const float *b, uint ldb, float beta, __global float *c,
                      uint ldc, ulong sa, ulong sb, ulong sc, uint nsum)
{
    size_t j0 = get_global_id(0) * GEMM_NV;
    size_t i0 = get_global_id(1) * GEMM_MR;
    size_t z = get_global_id(2);
    if (i0 >= m || j0 >= n)
        return;
    a += z * nsum * sa;
    b += z * nsum * sb;
    c += z * sc;
    if (i0 + GEMM_MR <= m && j0 + GEMM_NV <= n)
        block_rows(ta, tb, k, alpha, a, lda, b, ldb, beta, c, ldc, i0, j0, nsum, sa, sb);
    else
        block_edge(ta, tb, k, alpha, a, lda, b, ldb, beta, c, ldc, i0, min((size_t)GEMM_MR, m - i0),
                   j0, min((size_t)GEMM_NV, n - j0), nsum, sa, sb);
}

#define GEMM_CPU_ARGS                                                                              \
    uint m, uint n, uint k, float alpha, __global const float *a, ulong aoff, uint lda,            \
        __global const float *b, ulong boff, uint ldb, float beta, __global float *c, ulong coff,  \
        uint ldc, ulong sa, ulong sb, ulong sc, uint nsum

__kernel void gemm_nn(GEMM_CPU_ARGS)
{
    gemm_rows(0, 0, m, n, k, alpha, a + aoff, lda, b + boff, ldb, beta, c + coff, ldc, sa, sb,
              sc, nsum);
}

__kernel void gemm_tn(GEMM_CPU_ARGS)
{
    gemm_rows(1, 0, m, n, k, alpha, a + aoff, lda, b + boff, ldb, beta, c + coff, ldc, sa, sb,
              sc, nsum);
}

__kernel void gemm_nt(GEMM_CPU_ARGS)
{
    gemm_rows(0, 1, m, n, k, alpha, a + aoff, lda, b + boff, ldb, beta, c + coff, ldc, sa, sb,
              sc, nsum);
}
