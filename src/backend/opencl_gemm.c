/*
 * opencl_gemm.c - GEMM: CLBlast, the register-blocked kernels of cl/gemm_cpu.cl (CPU devices)
 * or the tiled kernel of cl/blas.cl.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * GEMM.
 */

/* C[0..m) x [0..n) = beta * C (beta = 0 writes zeros). */
static enum clann_status scale_matrix(struct cl_backend *be, struct clann_view c, size_t ldc,
                                      size_t m, size_t n, float beta)
{
    struct kargs a = ka_begin(be, K_SCALE_MATRIX);
    ka_view(&a, c);
    ka_u32(&a, ldc);
    ka_u32(&a, m);
    ka_u32(&a, n);
    ka_f32(&a, beta);
    size_t local = be->wgs[K_SCALE_MATRIX];
    size_t global = round_up(m * n, local); /* 1-D: see the kernel */
    return LAUNCH(&a, 1, &global, &local);
}

/* How the GEMM kernels cover a strided batch: `groups` product groups (launch dimension 2),
 * each summing `nsum` products; operand X of product q at q * sx floats, C of group z at z * sc
 * (the kernels' sa, sb, sc, nsum). A plain GEMM is one group of one product. */
struct kbatch {
    size_t groups, nsum, sa, sb, sc;
};

static const struct kbatch plain_batch = {1, 1, 0, 0, 0};

/* The arguments after the transpose flags, common to every GEMM kernel. */
static void ka_gemm_args(struct kargs *ka, size_t m, size_t n, size_t k, float alpha,
                         struct clann_view a, size_t lda, struct clann_view b, size_t ldb,
                         float beta, struct clann_view c, size_t ldc, const struct kbatch *kb)
{
    ka_u32(ka, m);
    ka_u32(ka, n);
    ka_u32(ka, k);
    ka_f32(ka, alpha);
    ka_view(ka, a);
    ka_u32(ka, lda);
    ka_view(ka, b);
    ka_u32(ka, ldb);
    ka_f32(ka, beta);
    ka_view(ka, c);
    ka_u32(ka, ldc);
    ka_u64(ka, kb->sa);
    ka_u64(ka, kb->sb);
    ka_u64(ka, kb->sc);
    ka_u32(ka, kb->nsum);
}

/* Blocks of C per work-item of the cl/gemm_cpu.cl kernels (their GEMM_* defines). */
enum { GEMM_MR = 8, GEMM_NV = 16 };

/* NN, TN and NT through cl/gemm_cpu.cl: one work-item per block of C and product group, the
 * work-group left to the runtime (results do not depend on it). */
static enum clann_status gemm_cpu(struct cl_backend *be, bool trans_a, bool trans_b, size_t m,
                                  size_t n, size_t k, float alpha, struct clann_view a,
                                  size_t lda, struct clann_view b, size_t ldb, float beta,
                                  struct clann_view c, size_t ldc, const struct kbatch *kb)
{
    enum kernel_id id = trans_b ? K_GEMM_NT : trans_a ? K_GEMM_TN : K_GEMM_NN;
    size_t rows = GEMM_MR, cols = GEMM_NV;
    struct kargs ka = ka_begin(be, id);
    ka_gemm_args(&ka, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, kb);
    size_t global[3] = {(n + cols - 1) / cols, (m + rows - 1) / rows, kb->groups};
    return LAUNCH(&ka, 3, global, NULL);
}

/* Any transposes through blas.cl's tiled kernel. */
static enum clann_status gemm_tiled(struct cl_backend *be, bool trans_a, bool trans_b, size_t m,
                                    size_t n, size_t k, float alpha, struct clann_view a,
                                    size_t lda, struct clann_view b, size_t ldb, float beta,
                                    struct clann_view c, size_t ldc, const struct kbatch *kb)
{
    struct kargs ka = ka_begin(be, K_GEMM);
    ka_i32(&ka, trans_a);
    ka_i32(&ka, trans_b);
    ka_gemm_args(&ka, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, kb);
    size_t local[3] = {be->gemm_ts, be->gemm_ts, 1};
    size_t global[3] = {round_up(n, be->gemm_ts), round_up(m, be->gemm_ts), kb->groups};
    return LAUNCH(&ka, 3, global, local);
}

#if CLANN_HAVE_CLBLAST
static enum clann_status gemm_clblast(struct cl_backend *be, bool trans_a, bool trans_b,
                                      size_t m, size_t n, size_t k, float alpha,
                                      struct clann_view a, size_t lda, struct clann_view b,
                                      size_t ldb, float beta, struct clann_view c, size_t ldc)
{
    /* CLBlast takes int sizes and offsets inside (its API's size_t notwithstanding). */
    size_t ext_a = (trans_a ? k : m) * lda, ext_b = (trans_b ? n : k) * ldb, ext_c = m * ldc;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || lda > INT32_MAX ||
        ldb > INT32_MAX || ldc > INT32_MAX || a.off + ext_a > INT32_MAX ||
        b.off + ext_b > INT32_MAX || c.off + ext_c > INT32_MAX)
        return clann__error(be->base.ctx, CLANN_ERR_TOO_LARGE,
                            "gemm through CLBlast: m %zu, n %zu, k %zu or an operand's offset "
                            "plus extent beyond INT32_MAX floats (use CLANN_GEMM=tiled)",
                            m, n, k);
    if (be->break_clblast == 1) /* a planted fault (CLANN_TEST_BREAK_CLBLAST=1) */
        return clann__error(be->base.ctx, CLANN_ERR_OPENCL,
                            "CLBlastSgemm: planted fault (CLANN_TEST_BREAK_CLBLAST=1)");
    if (be->break_clblast == 2) /* CLANN_TEST_BREAK_CLBLAST=2: results 0.1% off */
        alpha *= 1.001f;
    /* No clearing of C for beta = 0: CLBlast's kernels do not read C then, so NaN in it does
     * not leak through 0 * NaN (the parity tests and `clann check` fill C with NaN there). */
    CLBlastStatusCode s = CLBlastSgemm(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, (cl_mem)a.buf->ptr,
        a.off, lda, (cl_mem)b.buf->ptr, b.off, ldb, beta, (cl_mem)c.buf->ptr, c.off, ldc,
        &be->queue, NULL);
    be->base.launches++;
    if (s == CLBlastSuccess)
        return CLANN_OK;
    return clann__error(be->base.ctx, s > -1000 ? cl_status_of((cl_int)s) : CLANN_ERR_OPENCL,
                        "CLBlastSgemm(m %zu, n %zu, k %zu, trans_a %d, trans_b %d, lda %zu, "
                        "ldb %zu, ldc %zu) failed: %s (%d) at %s:%d",
                        m, n, k, (int)trans_a, (int)trans_b, lda, ldb, ldc,
                        clblast_error_name(s), (int)s, __FILE__, __LINE__);
}
#endif

enum clann_status op_gemm(struct clann_backend *be_, bool trans_a, bool trans_b, size_t m,
                          size_t n, size_t k, float alpha, struct clann_view a, size_t lda,
                          struct clann_view b, size_t ldb, float beta, struct clann_view c,
                          size_t ldc)
{
    struct cl_backend *be = cl_be(be_);
    struct clann_context *ctx = be_->ctx;
    if (m == 0 || n == 0)
        return CLANN_OK;
    if (m > UINT32_MAX || n > UINT32_MAX || k > UINT32_MAX || lda > UINT32_MAX ||
        ldb > UINT32_MAX || ldc > UINT32_MAX)
        return clann__error(ctx, CLANN_ERR_TOO_LARGE, "gemm: dimension beyond 2^32 - 1");
    if (k == 0 || alpha == 0.0f)
        return beta == 1.0f ? CLANN_OK : scale_matrix(be, c, ldc, m, n, beta);

#if CLANN_HAVE_CLBLAST
    if (be->gemm_impl == GEMM_IMPL_CLBLAST)
        return gemm_clblast(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
    if (be->gemm_impl == GEMM_IMPL_CPU && !(trans_a && trans_b))
        return gemm_cpu(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                        &plain_batch);
    return gemm_tiled(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                      &plain_batch);
}

/* ---------------------------------------------------------------------------------------------
 * Strided-batched GEMM.
 */

#if CLANN_HAVE_CLBLAST
static enum clann_status gemm_clblast_batched(struct cl_backend *be, bool trans_a, bool trans_b,
                                              size_t m, size_t n, size_t k, float alpha,
                                              struct clann_view a, size_t lda,
                                              struct clann_view b, size_t ldb, float beta,
                                              struct clann_view c, size_t ldc,
                                              const struct clann_gemm_batch *bt)
{
    size_t last = bt->count - 1;
    size_t end_a = a.off + last * bt->stride_a + (trans_a ? k : m) * lda,
           end_b = b.off + last * bt->stride_b + (trans_b ? n : k) * ldb,
           end_c = c.off + last * bt->stride_c + m * ldc;
    if (m > INT32_MAX || n > INT32_MAX || k > INT32_MAX || bt->count > INT32_MAX ||
        end_a > INT32_MAX || end_b > INT32_MAX || end_c > INT32_MAX)
        return clann__error(be->base.ctx, CLANN_ERR_TOO_LARGE,
                            "gemm_batched through CLBlast: m %zu, n %zu, k %zu, %zu products: "
                            "an operand ends beyond INT32_MAX floats (use CLANN_GEMM=tiled)",
                            m, n, k, bt->count);
    CLBlastStatusCode s = CLBlastSgemmStridedBatched(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, (cl_mem)a.buf->ptr,
        a.off, lda, bt->stride_a, (cl_mem)b.buf->ptr, b.off, ldb, bt->stride_b, beta,
        (cl_mem)c.buf->ptr, c.off, ldc, bt->stride_c, bt->count, &be->queue, NULL);
    be->base.launches++;
    if (s == CLBlastSuccess)
        return CLANN_OK;
    return clann__error(be->base.ctx, s > -1000 ? cl_status_of((cl_int)s) : CLANN_ERR_OPENCL,
                        "CLBlastSgemmStridedBatched(m %zu, n %zu, k %zu, %zu products, strides "
                        "%zu %zu %zu) failed: %s (%d) at %s:%d",
                        m, n, k, bt->count, bt->stride_a, bt->stride_b, bt->stride_c,
                        clblast_error_name(s), (int)s, __FILE__, __LINE__);
}
#endif

/* C_i = beta C_i for every C of the batch (k = 0 or alpha = 0: A and B are not read). */
static enum clann_status scale_batch(struct cl_backend *be, struct clann_view c, size_t ldc,
                                     size_t m, size_t n, float beta,
                                     const struct clann_gemm_batch *bt)
{
    size_t count = bt->stride_c ? bt->count : 1;
    for (size_t i = 0; i < count && beta != 1.0f; i++)
        CHECK(scale_matrix(be, clann__view(c.buf, c.off + i * bt->stride_c), ldc, m, n, beta));
    return CLANN_OK;
}

/* One launch: CLBlast's strided batch, or clann's kernels with a product group per matrix of C
 * (a group summing every product when stride_c = 0: CLBlast has no summed batch, and the
 * kernels' sum needs no scratch of count m n floats). */
enum clann_status op_gemm_batched(struct clann_backend *be_, bool trans_a, bool trans_b,
                                  size_t m, size_t n, size_t k, float alpha, struct clann_view a,
                                  size_t lda, struct clann_view b, size_t ldb, float beta,
                                  struct clann_view c, size_t ldc,
                                  const struct clann_gemm_batch *bt)
{
    struct cl_backend *be = cl_be(be_);
    if (bt->count == 1)
        return op_gemm(be_, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (m == 0 || n == 0 || bt->count == 0)
        return CLANN_OK;
    if (m > UINT32_MAX || n > UINT32_MAX || k > UINT32_MAX || lda > UINT32_MAX ||
        ldb > UINT32_MAX || ldc > UINT32_MAX || bt->count > UINT32_MAX)
        return clann__error(be_->ctx, CLANN_ERR_TOO_LARGE,
                            "gemm_batched: dimension or product count beyond 2^32 - 1");
    if (k == 0 || alpha == 0.0f)
        return scale_batch(be, c, ldc, m, n, beta, bt);
    bool sum = bt->stride_c == 0;
    struct kbatch kb = {sum ? 1 : bt->count, sum ? bt->count : 1, bt->stride_a, bt->stride_b,
                        bt->stride_c};
#if CLANN_HAVE_CLBLAST
    if (be->gemm_impl == GEMM_IMPL_CLBLAST && !sum)
        return gemm_clblast_batched(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta,
                                    c, ldc, bt);
#endif
    if (be->gemm_impl == GEMM_IMPL_CPU && !(trans_a && trans_b))
        return gemm_cpu(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &kb);
    return gemm_tiled(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, &kb);
}
