/*
 * cpu_gemm.c - the CPU backend's GEMM: the double-accumulating reference, CBLAS (FAST mode,
 * split between two threads when large) or a cache-blocked float loop without CBLAS.
 */
#include "backend/cpu_impl.h"

#if CLANN_HAVE_CBLAS
#include <cblas.h>
#endif

#include <limits.h>

/* ---------------------------------------------------------------------------------------------
 * OpenBLAS setup for FAST mode.
 */

#if CLANN_HAVE_CBLAS && defined(OPENBLAS_VERSION)
/* Our own split replaces OpenBLAS threading for 1 or 2 threads (OpenBLAS' own pool spins
 * and yields between calls, and loses to one thread on small shapes); above that OpenBLAS
 * threads. The setting is process-wide. */
void blas_setup(long threads)
{
    openblas_set_num_threads(threads > 2 ? (int)threads : 1);
}
#else
void blas_setup(long threads)
{
    (void)threads;
}
#endif

/* ---------------------------------------------------------------------------------------------
 * GEMM.
 */

/* Element (i, p) of op(A) where A is stored row-major with stride ld. */
static float op_at(const float *a, bool trans, size_t ld, size_t i, size_t p)
{
    return trans ? a[p * ld + i] : a[i * ld + p];
}

/* C = beta * C, with beta = 0 writing zeros without reading C. */
static void scale_c(float *c, size_t ldc, size_t m, size_t n, float beta)
{
    if (beta == 1.0f)
        return;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

/* The reference: every dot product accumulated in double, rounded once. */
static void gemm_reference(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                           const float *a, size_t lda, const float *b, size_t ldb, float beta,
                           float *c, size_t ldc)
{
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (size_t p = 0; p < k; p++)
                acc += (double)op_at(a, ta, lda, i, p) * op_at(b, tb, ldb, p, j);
            c[i * ldc + j] = accumulate(c[i * ldc + j], beta, (double)alpha * acc);
        }
    }
}

/* FAST mode without CBLAS: C is scaled by beta, then each GEMM_KB x GEMM_NB panel of op(B) is
 * packed contiguously (transposes become unit-stride) and swept by every row of A, so that
 * the inner loop is a unit-stride float axpy the compiler vectorizes. */
static void gemm_blocked(struct cpu_backend *cb, bool ta, bool tb, size_t m, size_t n, size_t k,
                         float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                         float beta, float *c, size_t ldc)
{
    scale_c(c, ldc, m, n, beta);
    for (size_t j0 = 0; j0 < n; j0 += GEMM_NB) {
        size_t nb = n - j0 < GEMM_NB ? n - j0 : GEMM_NB;
        for (size_t p0 = 0; p0 < k; p0 += GEMM_KB) {
            size_t kb = k - p0 < GEMM_KB ? k - p0 : GEMM_KB;
            for (size_t p = 0; p < kb; p++)
                for (size_t j = 0; j < nb; j++)
                    cb->pack[p * nb + j] = op_at(b, tb, ldb, p0 + p, j0 + j);
            for (size_t i = 0; i < m; i++) {
                float *crow = c + i * ldc + j0;
                for (size_t p = 0; p < kb; p++) {
                    float aip = alpha * op_at(a, ta, lda, i, p0 + p);
                    const float *brow = cb->pack + p * nb;
                    for (size_t j = 0; j < nb; j++)
                        crow[j] += aip * brow[j];
                }
            }
        }
    }
}

#if CLANN_HAVE_CBLAS
static bool fits_int(size_t a, size_t b, size_t c)
{
    return a <= INT_MAX && b <= INT_MAX && c <= INT_MAX;
}

static void blas_gemm(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha,
                      const float *a, size_t lda, const float *b, size_t ldb, float beta,
                      float *c, size_t ldc)
{
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb, beta, c, (int)ldc);
}

/* GEMMs below this many multiply-adds (about 40 us on one core) stay on one thread: waking
 * the worker and packing the shared operand twice cost more than the second core saves. At
 * 2^20 a 33-256-1 model with batch 128 (three GEMMs of about 1.1M) trained 30% slower on two
 * threads than on one; at 2^22 it matches one thread, and the 784-256-128-10 benchmark is
 * unchanged (its large GEMMs still split). */
#define GEMM_SPLIT_MIN (1u << 22)

/* A GEMM cut in two along the longer side of C: columns [0, cut) and [cut, n) (split_n), or
 * rows [0, cut) and [cut, m). */
struct gemm_job {
    bool ta, tb, split_n;
    size_t m, n, k, cut, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
};

/* One half: the slice of op(B) (or op(A)) that starts `lo` columns (rows) in starts `lo`
 * stored rows down when that operand is transposed. */
static void gemm_half(void *arg, int half)
{
    const struct gemm_job *j = arg;
    size_t end = j->split_n ? j->n : j->m;
    size_t lo = half ? j->cut : 0, len = half ? end - j->cut : j->cut;
    if (j->split_n)
        blas_gemm(j->ta, j->tb, j->m, len, j->k, j->alpha, j->a, j->lda,
                  j->b + (j->tb ? lo * j->ldb : lo), j->ldb, j->beta, j->c + lo, j->ldc);
    else
        blas_gemm(j->ta, j->tb, len, j->n, j->k, j->alpha, j->a + (j->ta ? lo : lo * j->lda),
                  j->lda, j->b, j->ldb, j->beta, j->c + lo * j->ldc, j->ldc);
}

static void gemm_fast(struct cpu_backend *cb, bool ta, bool tb, size_t m, size_t n, size_t k,
                      float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                      float beta, float *c, size_t ldc)
{
    size_t longer = m > n ? m : n;
    if (!cb->pool || (double)m * (double)n * (double)k < GEMM_SPLIT_MIN || longer < 64) {
        blas_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* The cut is a multiple of 16 floats so that both halves keep 64-byte aligned rows. */
    struct gemm_job j = {ta, tb, n >= m, m, n, k, (longer / 2 + 15) & ~(size_t)15, lda, ldb,
                         ldc, alpha, beta, a, b, c};
    pool_run(cb->pool, gemm_half, &j);
}
#endif

enum clann_status cpu_gemm(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
                           size_t n, size_t k, float alpha, struct clann_view a,
                           size_t lda, struct clann_view b, size_t ldb, float beta,
                           struct clann_view c, size_t ldc)
{
    struct cpu_backend *cb = (struct cpu_backend *)be;
    if (m == 0 || n == 0)
        return CLANN_OK;
    if (k == 0 || alpha == 0.0f) { /* as in BLAS: A and B are not read */
        scale_c(at(c), ldc, m, n, beta);
        return CLANN_OK;
    }
    if (cb->mode == CLANN_CPU_MODE_REFERENCE) {
        gemm_reference(trans_a, trans_b, m, n, k, alpha, at(a), lda, at(b), ldb, beta, at(c), ldc);
        return CLANN_OK;
    }
#if CLANN_HAVE_CBLAS
    if (fits_int(m, n, k) && fits_int(lda, ldb, ldc)) {
        gemm_fast(cb, trans_a, trans_b, m, n, k, alpha, at(a), lda, at(b), ldb, beta, at(c), ldc);
        return CLANN_OK;
    }
#endif
    gemm_blocked(cb, trans_a, trans_b, m, n, k, alpha, at(a), lda, at(b), ldb, beta, at(c), ldc);
    return CLANN_OK;
}


/* A loop over cpu_gemm, each product through the path above (the images of a convolution are
 * large enough GEMMs on their own); the summed form adds product i into C with beta 1 after
 * the first. */
enum clann_status cpu_gemm_batched(struct clann_backend *be, bool trans_a, bool trans_b,
                                   size_t m, size_t n, size_t k, float alpha, struct clann_view a,
                                   size_t lda, struct clann_view b, size_t ldb, float beta,
                                   struct clann_view c, size_t ldc,
                                   const struct clann_gemm_batch *batch)
{
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < batch->count && st == CLANN_OK; i++)
        st = cpu_gemm(be, trans_a, trans_b, m, n, k, alpha,
                      clann__view(a.buf, a.off + i * batch->stride_a), lda,
                      clann__view(b.buf, b.off + i * batch->stride_b), ldb,
                      batch->stride_c == 0 && i ? 1.0f : beta,
                      clann__view(c.buf, c.off + i * batch->stride_c), ldc);
    return st;
}
