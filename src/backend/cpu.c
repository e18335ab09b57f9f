/*
 * cpu.c - the built-in CPU backend. It is the reference every other backend is tested against,
 * so each op is plain scalar C that computes the formula written in backend.h, with sums and
 * transcendental functions evaluated in double and rounded to float once at the end. The one
 * exception is FAST mode's GEMM, which goes through CBLAS (or a cache-blocked float loop when
 * the build has no CBLAS); every other op is memory-bound and shares the scalar code.
 *
 * Ops run synchronously on the calling thread, so upload/download/finish need no queue.
 * Every op checks its views against their buffers first and reports CLANN_ERR_INVALID_ARG
 * instead of touching memory outside them.
 */
#include "backend/backend.h"
#include "core/rng.h"

#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if CLANN_HAVE_CBLAS
#include <cblas.h>
#endif

/* Blocked GEMM panel of B: GEMM_KB rows by GEMM_NB columns (128 KiB, L2-sized). */
#define GEMM_KB 128
#define GEMM_NB 256

struct cpu_backend {
    struct clann_backend base;
    enum clann_cpu_mode mode;
    float pack[GEMM_KB * GEMM_NB]; /* B panel for the blocked GEMM, so that ops never allocate */
};

/* ---------------------------------------------------------------------------------------------
 * View checks.
 */

static float *at(struct clann_view v)
{
    return (float *)v.buf->ptr + v.off;
}

static bool is_null(struct clann_view v)
{
    return v.buf == NULL;
}

/* Floats spanned by a rows x cols matrix with row stride ld; SIZE_MAX on overflow, so that the
 * view check below fails instead of wrapping. */
static size_t extent(size_t rows, size_t cols, size_t ld)
{
    size_t e;
    if (rows == 0 || cols == 0)
        return 0;
    if (!clann__mul_size(rows - 1, ld, &e) || e > SIZE_MAX - cols)
        return SIZE_MAX;
    return e + cols;
}

/* A view must hold `need` floats from its offset; a view of zero extent may be NULL. */
static enum clann_status check_view(struct clann_backend *be, const char *op, const char *name,
                                    struct clann_view v, size_t need)
{
    if (need == 0)
        return CLANN_OK;
    if (!v.buf || !v.buf->ptr)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "%s: %s is a NULL view", op, name);
    if (v.off > v.buf->n || need > v.buf->n - v.off)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "%s: %s needs %zu floats at offset %zu of a %zu-float buffer", op,
                            name, need, v.off, v.buf->n);
    return CLANN_OK;
}

#define CHECK_VIEW(v, need)                                                                       \
    do {                                                                                          \
        enum clann_status st_ = check_view(be, __func__, #v, (v), (need));                        \
        if (st_ != CLANN_OK)                                                                      \
            return st_;                                                                           \
    } while (0)

/* out = beta * out + value, where beta = 0 never reads out (NaN there must not propagate). */
static float accumulate(float out, float beta, double value)
{
    return (float)(beta == 0.0f ? value : (double)beta * out + value);
}

/* ---------------------------------------------------------------------------------------------
 * Buffers and transfers.
 */

static void cpu_destroy(struct clann_backend *be)
{
    clann__free(be);
}

static enum clann_status cpu_buf_alloc(struct clann_backend *be, size_t n, struct clann_buf *buf)
{
    size_t bytes;
    /* One float at least: malloc(0) may return NULL, which would read as a failure. */
    if (!clann__mul_size(n ? n : 1, sizeof(float), &bytes))
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE, "cpu buf_alloc: %zu floats overflow",
                            n);
    buf->ptr = clann__malloc(bytes);
    if (!buf->ptr)
        return clann__error(be->ctx, CLANN_ERR_DEVICE_MEMORY,
                            "cpu buf_alloc: cannot allocate %zu bytes of host memory", bytes);
    buf->be = be;
    buf->n = n;
    return CLANN_OK;
}

static void cpu_buf_free(struct clann_backend *be, struct clann_buf *buf)
{
    clann__free(buf->ptr);
    buf->ptr = NULL;
    buf->n = 0;
}

static enum clann_status cpu_upload(struct clann_backend *be, struct clann_view dst,
                                    const float *src, size_t n, bool blocking)
{
    CHECK_VIEW(dst, n);
    if (n && !src)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu_upload: NULL source");
    if (n)
        memcpy(at(dst), src, n * sizeof(float));
    return CLANN_OK;
}

static enum clann_status cpu_download(struct clann_backend *be, float *dst,
                                      struct clann_view src, size_t n)
{
    CHECK_VIEW(src, n);
    if (n && !dst)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu_download: NULL destination");
    if (n)
        memcpy(dst, at(src), n * sizeof(float));
    return CLANN_OK;
}

static enum clann_status cpu_finish(struct clann_backend *be)
{
    return CLANN_OK; /* every op has completed when it returns */
}

static enum clann_status cpu_fill(struct clann_backend *be, struct clann_view x, size_t n,
                                  float value)
{
    CHECK_VIEW(x, n);
    for (size_t i = 0; i < n; i++)
        at(x)[i] = value;
    return CLANN_OK;
}

static enum clann_status cpu_copy(struct clann_backend *be, struct clann_view dst,
                                  struct clann_view src, size_t n)
{
    CHECK_VIEW(dst, n);
    CHECK_VIEW(src, n);
    if (n) /* memmove: an overlapping (invalid) call still gives a defined result */
        memmove(at(dst), at(src), n * sizeof(float));
    return CLANN_OK;
}

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
#endif

static enum clann_status cpu_gemm(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
                                  size_t n, size_t k, float alpha, struct clann_view a,
                                  size_t lda, struct clann_view b, size_t ldb, float beta,
                                  struct clann_view c, size_t ldc)
{
    struct cpu_backend *cb = (struct cpu_backend *)be;
    /* Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k). */
    size_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    size_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    if (m == 0 || n == 0)
        return CLANN_OK;
    if (lda < a_cols || ldb < b_cols || ldc < n)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "cpu gemm: leading dimensions lda %zu, ldb %zu, ldc %zu below the "
                            "stored widths %zu, %zu, %zu",
                            lda, ldb, ldc, a_cols, b_cols, n);
    CHECK_VIEW(c, extent(m, n, ldc));
    if (k == 0 || alpha == 0.0f) { /* as in BLAS: A and B are not read */
        scale_c(at(c), ldc, m, n, beta);
        return CLANN_OK;
    }
    CHECK_VIEW(a, extent(a_rows, a_cols, lda));
    CHECK_VIEW(b, extent(b_rows, b_cols, ldb));
    if (cb->mode == CLANN_CPU_MODE_REFERENCE) {
        gemm_reference(trans_a, trans_b, m, n, k, alpha, at(a), lda, at(b), ldb, beta, at(c), ldc);
        return CLANN_OK;
    }
#if CLANN_HAVE_CBLAS
    if (fits_int(m, n, k) && fits_int(lda, ldb, ldc)) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, at(a),
                    (int)lda, at(b), (int)ldb, beta, at(c), (int)ldc);
        return CLANN_OK;
    }
#endif
    gemm_blocked(cb, trans_a, trans_b, m, n, k, alpha, at(a), lda, at(b), ldb, beta, at(c), ldc);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers: the shared Philox streams, with the affine map written exactly as the
 * OpenCL kernels write it (float arithmetic, no contraction), so results are bit-identical.
 */

static enum clann_status cpu_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                         struct clann_rng_key key, float lo, float hi)
{
    CHECK_VIEW(x, n);
    float *p = n ? at(x) : NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * clann__rng_uniform(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

static enum clann_status cpu_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_rng_key key, float mean, float stddev)
{
    CHECK_VIEW(x, n);
    float *p = n ? at(x) : NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = mean + stddev * clann__rng_normal(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Activations. act_value and act_derivative hold the element formulas; the forward and
 * backward loops share them. ReLU-like functions take NaN through (z < 0 ? ... : z) so that a
 * NaN input is not silently turned into 0.
 */

static double sigmoid(double z)
{
    /* exp of a non-positive argument only: no overflow for large |z|. */
    if (z >= 0.0)
        return 1.0 / (1.0 + exp(-z));
    double e = exp(z);
    return e / (1.0 + e);
}

/* Slope on the z <= 0 side for the ReLU family; element (r, c) of a rows x cols matrix. */
static float neg_slope(const struct clann_act *act, const float *prelu, size_t r, size_t c,
                       size_t cols)
{
    switch (act->kind) {
    case CLANN__ACT_LEAKY_RELU:
        return act->alpha;
    case CLANN__ACT_PRELU:
        return prelu[c];
    case CLANN__ACT_RRELU:
        if (!act->training)
            return (act->lower + act->upper) / 2.0f;
        return act->lower + (act->upper - act->lower) *
                                clann__rng_uniform(act->rng.seed, act->rng.stream,
                                                   act->rng.offset + r * cols + c);
    default:
        return 0.0f;
    }
}

static double act_value(const struct clann_act *act, float z, float slope)
{
    switch (act->kind) {
    case CLANN__ACT_SIGMOID:
        return sigmoid(z);
    case CLANN__ACT_TANH:
        return tanh(z);
    case CLANN__ACT_RELU:
        return z < 0.0f ? 0.0 : z;
    case CLANN__ACT_LEAKY_RELU:
    case CLANN__ACT_PRELU:
    case CLANN__ACT_RRELU:
        return z < 0.0f ? (double)slope * z : z;
    case CLANN__ACT_RELU6:
        return z < 0.0f ? 0.0 : z > 6.0f ? 6.0 : z;
    case CLANN__ACT_ELU:
        return z > 0.0f ? z : act->alpha * expm1((double)z); /* expm1: exact near 0 */
    case CLANN__ACT_SOFTPLUS:
        /* log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, no cancellation. */
        return (z > 0.0f ? z : 0.0) + log1p(exp(-fabs((double)z)));
    default: /* linear; softmax is row-wise and handled by the callers */
        return z;
    }
}

/* d act / d z; sigmoid and tanh use y, since y may alias z for them. At the kinks the z <= 0
 * side is taken (0 for ReLU, the slope for leaky/PReLU/RReLU, alpha for ELU; 0 for ReLU6 at
 * z = 6). */
static double act_derivative(const struct clann_act *act, float z, float y, float slope)
{
    switch (act->kind) {
    case CLANN__ACT_SIGMOID:
        return (double)y * (1.0 - y);
    case CLANN__ACT_TANH:
        return 1.0 - (double)y * y;
    case CLANN__ACT_RELU:
        return z > 0.0f ? 1.0 : 0.0;
    case CLANN__ACT_LEAKY_RELU:
    case CLANN__ACT_PRELU:
    case CLANN__ACT_RRELU:
        return z > 0.0f ? 1.0 : slope;
    case CLANN__ACT_RELU6:
        return z > 0.0f && z < 6.0f ? 1.0 : 0.0;
    case CLANN__ACT_ELU:
        return z > 0.0f ? 1.0 : act->alpha * exp((double)z);
    case CLANN__ACT_SOFTPLUS:
        return sigmoid(z);
    default:
        return 1.0;
    }
}

static bool act_reads_z(enum clann__act_kind kind)
{
    return kind != CLANN__ACT_LINEAR && kind != CLANN__ACT_SIGMOID && kind != CLANN__ACT_TANH &&
           kind != CLANN__ACT_SOFTMAX;
}

/* Stable softmax of one row: exponents of z - max are <= 0. */
static void softmax_row(const float *z, float *y, size_t cols)
{
    float max = z[0];
    for (size_t c = 1; c < cols; c++)
        max = z[c] > max ? z[c] : max;
    double sum = 0.0;
    for (size_t c = 0; c < cols; c++)
        sum += exp((double)z[c] - max);
    for (size_t c = 0; c < cols; c++)
        y[c] = (float)(exp((double)z[c] - max) / sum);
}

static enum clann_status check_act(struct clann_backend *be, const struct clann_act *act,
                                   struct clann_view prelu, size_t cols)
{
    if (!act || (unsigned)act->kind >= CLANN__ACT_COUNT)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu activation: unknown kind %d",
                            act ? (int)act->kind : -1);
    if (act->kind == CLANN__ACT_PRELU)
        return check_view(be, "cpu activation", "prelu", prelu, cols);
    return CLANN_OK;
}

static enum clann_status cpu_bias_act_forward(struct clann_backend *be,
                                              const struct clann_act *act, struct clann_view z,
                                              struct clann_view bias, struct clann_view prelu,
                                              struct clann_view y, size_t rows, size_t cols)
{
    size_t total = extent(rows, cols, cols);
    enum clann_status st = check_act(be, act, prelu, cols);
    if (st != CLANN_OK)
        return st;
    CHECK_VIEW(z, total);
    CHECK_VIEW(y, total);
    if (!is_null(bias))
        CHECK_VIEW(bias, cols);
    if (total == 0)
        return CLANN_OK;
    const float *a = act->kind == CLANN__ACT_PRELU ? at(prelu) : NULL;
    for (size_t r = 0; r < rows; r++) {
        float *zr = at(z) + r * cols, *yr = at(y) + r * cols;
        if (!is_null(bias))
            for (size_t c = 0; c < cols; c++)
                zr[c] += at(bias)[c];
        if (act->kind == CLANN__ACT_SOFTMAX) {
            softmax_row(zr, yr, cols);
            continue;
        }
        for (size_t c = 0; c < cols; c++)
            yr[c] = (float)act_value(act, zr[c], neg_slope(act, a, r, c, cols));
    }
    return CLANN_OK;
}

static enum clann_status cpu_act_backward(struct clann_backend *be, const struct clann_act *act,
                                          struct clann_view z, struct clann_view y,
                                          struct clann_view dy, struct clann_view prelu,
                                          struct clann_view dz, size_t rows, size_t cols)
{
    size_t total = extent(rows, cols, cols);
    enum clann_status st = check_act(be, act, prelu, cols);
    if (st != CLANN_OK)
        return st;
    /* Only the input the formula uses is read, so callers may pass a NULL view for the other. */
    bool reads_z = act_reads_z(act->kind);
    bool reads_y = act->kind != CLANN__ACT_LINEAR && !reads_z;
    if (reads_z)
        CHECK_VIEW(z, total);
    if (reads_y)
        CHECK_VIEW(y, total);
    CHECK_VIEW(dy, total);
    CHECK_VIEW(dz, total);
    if (total == 0)
        return CLANN_OK;
    const float *a = act->kind == CLANN__ACT_PRELU ? at(prelu) : NULL;
    for (size_t r = 0; r < rows; r++) {
        const float *zr = reads_z ? at(z) + r * cols : NULL;
        const float *yr = reads_y ? at(y) + r * cols : NULL;
        const float *dyr = at(dy) + r * cols; /* may alias dzr: each element is read first */
        float *dzr = at(dz) + r * cols;
        if (act->kind == CLANN__ACT_SOFTMAX) {
            double dot = 0.0;
            for (size_t c = 0; c < cols; c++)
                dot += (double)dyr[c] * yr[c];
            for (size_t c = 0; c < cols; c++)
                dzr[c] = (float)(yr[c] * (dyr[c] - dot));
            continue;
        }
        for (size_t c = 0; c < cols; c++) {
            float zv = zr ? zr[c] : 0.0f, yv = yr ? yr[c] : 0.0f;
            dzr[c] = (float)(dyr[c] * act_derivative(act, zv, yv, neg_slope(act, a, r, c, cols)));
        }
    }
    return CLANN_OK;
}

static enum clann_status cpu_prelu_grad(struct clann_backend *be, struct clann_view z,
                                        struct clann_view dy, struct clann_view dprelu,
                                        size_t rows, size_t cols, float beta)
{
    CHECK_VIEW(z, extent(rows, cols, cols));
    CHECK_VIEW(dy, extent(rows, cols, cols));
    CHECK_VIEW(dprelu, cols);
    for (size_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++) {
            float zv = at(z)[r * cols + c];
            acc += (double)at(dy)[r * cols + c] * (zv < 0.0f ? zv : 0.0f);
        }
        at(dprelu)[c] = accumulate(at(dprelu)[c], beta, acc);
    }
    return CLANN_OK;
}

static enum clann_status cpu_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                                     size_t cols, struct clann_view out, float beta)
{
    CHECK_VIEW(x, extent(rows, cols, cols));
    CHECK_VIEW(out, cols);
    for (size_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++)
            acc += at(x)[r * cols + c];
        at(out)[c] = accumulate(at(out)[c], beta, acc);
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Losses. Elementwise kinds: loss_element gives the loss of one element and its derivative;
 * the row loss is their mean over the columns. Softmax kinds work on the whole row through
 * log-sum-exp.
 */

static double loss_element(const struct clann__loss *loss, double p, double y, double *d)
{
    double e = p - y, ae = fabs(e), sign = e > 0.0 ? 1.0 : e < 0.0 ? -1.0 : 0.0;
    double delta = loss->huber_delta;
    switch (loss->kind) {
    case CLANN__LOSS_MSE:
        *d = 2.0 * e;
        return e * e;
    case CLANN__LOSS_MAE:
        *d = sign;
        return ae;
    case CLANN__LOSS_HUBER:
        *d = ae <= delta ? e : delta * sign;
        return ae <= delta ? 0.5 * e * e : delta * (ae - 0.5 * delta);
    default: /* sigmoid CE on logit p; log1p(e^-|z|) keeps it finite for any z */
        *d = sigmoid(p) - y;
        return (p > 0.0 ? p : 0.0) - p * y + log1p(exp(-fabs(p)));
    }
}

/* log(sum_c exp(z_c)), computed around the row maximum. */
static double log_sum_exp(const float *z, size_t cols)
{
    float max = z[0];
    for (size_t c = 1; c < cols; c++)
        max = z[c] > max ? z[c] : max;
    double sum = 0.0;
    for (size_t c = 0; c < cols; c++)
        sum += exp((double)z[c] - max);
    return max + log(sum);
}

/* Sparse labels are class indices stored as floats: a label in [0, cols) is truncated to its
 * class; anything else (negative, >= cols, NaN) is invalid and gives cols. */
static size_t sparse_label(float label, size_t cols)
{
    if (!(label >= 0.0f && label < (float)cols))
        return cols;
    return (size_t)label;
}

/* Loss of one row; writes grad (grad_scale * d loss / d p) when g is not NULL. */
static float loss_row(const struct clann__loss *loss, const float *p, const float *y, size_t cols,
                      float *g, float grad_scale)
{
    if (loss->kind == CLANN__LOSS_SOFTMAX_CE || loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE) {
        bool sparse = loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE;
        size_t label = sparse ? sparse_label(y[0], cols) : 0;
        if (sparse && label == cols) {
            for (size_t c = 0; g && c < cols; c++)
                g[c] = 0.0f;
            return NAN;
        }
        double lse = log_sum_exp(p, cols), sum_y = 0.0, row = 0.0;
        for (size_t c = 0; c < cols; c++) {
            double yc = sparse ? (c == label ? 1.0 : 0.0) : y[c];
            sum_y += yc;
            if (yc != 0.0) /* skips 0 * log(0) when a logit is far below the maximum */
                row -= yc * (p[c] - lse);
        }
        /* d/dz_c of -sum_k y_k (z_k - lse) = softmax(z)_c * sum(y) - y_c */
        for (size_t c = 0; g && c < cols; c++) {
            double yc = sparse ? (c == label ? 1.0 : 0.0) : y[c];
            g[c] = (float)(grad_scale * (exp(p[c] - lse) * sum_y - yc));
        }
        return (float)row;
    }
    double row = 0.0;
    for (size_t c = 0; c < cols; c++) {
        double d;
        row += loss_element(loss, p[c], y[c], &d);
        if (g)
            g[c] = (float)(grad_scale * d / (double)cols);
    }
    return (float)(row / (double)cols);
}

static enum clann_status cpu_loss(struct clann_backend *be, const struct clann__loss *loss,
                                  struct clann_view pred, struct clann_view labels, size_t rows,
                                  size_t cols, struct clann_view row_loss, struct clann_view grad,
                                  float grad_scale)
{
    if (!loss || (unsigned)loss->kind >= CLANN__LOSS_COUNT)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu loss: unknown kind %d",
                            loss ? (int)loss->kind : -1);
    size_t label_cols = loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : cols;
    if (cols == 0)
        rows = 0; /* an empty row has no loss to report */
    CHECK_VIEW(pred, extent(rows, cols, cols));
    CHECK_VIEW(labels, extent(rows, label_cols, label_cols));
    CHECK_VIEW(row_loss, rows);
    if (!is_null(grad))
        CHECK_VIEW(grad, extent(rows, cols, cols));
    for (size_t r = 0; r < rows; r++) {
        float *g = is_null(grad) ? NULL : at(grad) + r * cols;
        at(row_loss)[r] = loss_row(loss, at(pred) + r * cols, at(labels) + r * label_cols, cols,
                                   g, grad_scale);
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reductions: one sequential pass in double, so the order (and the result) is fixed for a
 * given n.
 */

static enum clann_status cpu_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                 float scale, struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += at(x)[i];
    at(out)[0] = accumulate(at(out)[0], beta, (double)scale * acc);
    return CLANN_OK;
}

static enum clann_status cpu_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                         struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += (double)at(x)[i] * at(x)[i];
    at(out)[0] = accumulate(at(out)[0], beta, acc);
    return CLANN_OK;
}

/* Index of the largest value, the first one on ties (NaN never wins). */
static size_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

static enum clann_status cpu_count_correct(struct clann_backend *be, struct clann_view pred,
                                           struct clann_view labels, bool sparse_labels,
                                           size_t rows, size_t cols, struct clann_view correct,
                                           float beta)
{
    size_t label_cols = sparse_labels || cols == 1 ? 1 : cols;
    if (cols == 0)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu count_correct: cols is 0");
    CHECK_VIEW(pred, extent(rows, cols, cols));
    CHECK_VIEW(labels, extent(rows, label_cols, label_cols));
    CHECK_VIEW(correct, 1);
    double count = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float *p = at(pred) + r * cols, *y = at(labels) + r * label_cols;
        bool ok;
        if (cols == 1)
            ok = (p[0] > 0.0f) == (y[0] > 0.5f);
        else if (sparse_labels)
            ok = (float)argmax(p, cols) == y[0];
        else
            ok = argmax(p, cols) == argmax(y, cols);
        count += ok ? 1.0 : 0.0;
    }
    at(correct)[0] = accumulate(at(correct)[0], beta, count);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Optimizers: element updates in float, exactly as written in backend.h.
 */

static enum clann_status cpu_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                            struct clann_view w, struct clann_view g,
                                            struct clann_view s1, struct clann_view s2, size_t n)
{
    if (!opt || (unsigned)opt->kind >= CLANN__OPT_COUNT)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu optimizer_step: unknown kind %d",
                            opt ? (int)opt->kind : -1);
    if (opt->kind == CLANN__OPT_ADAM && opt->step == 0)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "cpu optimizer_step: Adam needs step >= 1 (bias correction)");
    CHECK_VIEW(w, n);
    CHECK_VIEW(g, n);
    if (opt->kind != CLANN__OPT_SGD)
        CHECK_VIEW(s1, n);
    if (opt->kind == CLANN__OPT_ADAM)
        CHECK_VIEW(s2, n);
    if (!is_null(opt->guard)) {
        CHECK_VIEW(opt->guard, 1);
        if (at(opt->guard)[0] != 0.0f)
            return CLANN_OK; /* a non-finite gradient: leave weights and state as they are */
    }
    if (n == 0)
        return CLANN_OK;
    float *wp = at(w), *a = opt->kind != CLANN__OPT_SGD ? at(s1) : NULL;
    const float *gp = at(g);
    float lr = opt->lr, eps = opt->eps;
    if (opt->kind == CLANN__OPT_ADAM) { /* bias correction folded into lr and eps (TF form) */
        double t = (double)opt->step, c2 = sqrt(1.0 - pow(opt->beta2, t));
        lr = (float)(opt->lr * c2 / (1.0 - pow(opt->beta1, t)));
        eps = (float)(opt->eps * c2);
    }
    for (size_t i = 0; i < n; i++) {
        float gi = gp[i];
        switch (opt->kind) {
        case CLANN__OPT_SGD:
            wp[i] = wp[i] - lr * gi;
            break;
        case CLANN__OPT_MOMENTUM:
            a[i] = opt->momentum * a[i] + gi;
            wp[i] = wp[i] - lr * (opt->nesterov ? gi + opt->momentum * a[i] : a[i]);
            break;
        case CLANN__OPT_ADAGRAD:
            a[i] = a[i] + gi * gi;
            wp[i] = wp[i] - lr * gi / (sqrtf(a[i]) + eps);
            break;
        case CLANN__OPT_ADAM: {
            float *v = at(s2);
            a[i] = opt->beta1 * a[i] + (1.0f - opt->beta1) * gi;
            v[i] = opt->beta2 * v[i] + (1.0f - opt->beta2) * gi * gi;
            wp[i] = wp[i] - lr * a[i] / (sqrtf(v[i]) + eps);
            break;
        }
        default: /* RMSprop */
            a[i] = opt->rho * a[i] + (1.0f - opt->rho) * gi * gi;
            wp[i] = wp[i] - lr * gi / (sqrtf(a[i]) + eps);
            break;
        }
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Element-wise helpers.
 */

static enum clann_status cpu_clip_by_norm(struct clann_backend *be, struct clann_view x, size_t n,
                                          struct clann_view sumsq, float max_norm)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(sumsq, 1);
    float factor = max_norm / sqrtf(at(sumsq)[0] + 1e-12f);
    if (!(factor < 1.0f)) /* min(1, factor); a NaN norm leaves x (already non-finite) alone */
        return CLANN_OK;
    for (size_t i = 0; i < n; i++)
        at(x)[i] *= factor;
    return CLANN_OK;
}

static enum clann_status cpu_clip_by_value(struct clann_backend *be, struct clann_view x, size_t n,
                                           float limit)
{
    CHECK_VIEW(x, n);
    for (size_t i = 0; i < n; i++) {
        float v = at(x)[i];
        at(x)[i] = v > limit ? limit : v < -limit ? -limit : v; /* NaN stays NaN */
    }
    return CLANN_OK;
}

static enum clann_status cpu_axpy(struct clann_backend *be, size_t n, float a,
                                  struct clann_view x, struct clann_view y)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(y, n);
    for (size_t i = 0; i < n; i++)
        at(y)[i] = a * at(x)[i] + at(y)[i];
    return CLANN_OK;
}

static enum clann_status cpu_dropout(struct clann_backend *be, struct clann_view x,
                                     struct clann_view y, size_t n, float rate,
                                     struct clann_rng_key key)
{
    if (!(rate >= 0.0f))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu dropout: rate %g is not >= 0",
                            (double)rate);
    CHECK_VIEW(x, n);
    CHECK_VIEW(y, n);
    for (size_t i = 0; i < n; i++) {
        bool keep = rate < 1.0f &&
                    clann__rng_uniform(key.seed, key.stream, key.offset + i) >= rate;
        at(y)[i] = keep ? at(x)[i] / (1.0f - rate) : 0.0f;
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Regularization: penalties, constraints, noise, batch normalization.
 */

static enum clann_status cpu_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                                     struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += fabsf(at(x)[i]);
    at(out)[0] = accumulate(at(out)[0], beta, s);
    return CLANN_OK;
}

static enum clann_status cpu_soft_threshold(struct clann_backend *be, struct clann_view x,
                                            size_t n, float threshold)
{
    CHECK_VIEW(x, n);
    for (size_t i = 0; i < n; i++) {
        float v = at(x)[i];
        at(x)[i] = v > threshold ? v - threshold : v < -threshold ? v + threshold : v * 0.0f;
    }
    return CLANN_OK;
}

/* The factor a column of norm n is scaled by (Keras' constraints, epsilon 1e-7). */
static float constraint_factor(const struct clann_constraint_op *c, float n)
{
    switch (c->kind) {
    case CLANN__CONSTRAINT_MAX_NORM:
        return (n > c->max_value ? c->max_value : n) / (1e-7f + n);
    case CLANN__CONSTRAINT_MIN_MAX_NORM: {
        float clipped = n < c->min_value ? c->min_value : n > c->max_value ? c->max_value : n;
        return (c->rate * clipped + (1.0f - c->rate) * n) / (1e-7f + n);
    }
    case CLANN__CONSTRAINT_UNIT_NORM:
        return 1.0f / (1e-7f + n);
    default:
        return 1.0f;
    }
}

static enum clann_status cpu_constrain(struct clann_backend *be,
                                       const struct clann_constraint_op *c, struct clann_view x,
                                       size_t rows, size_t cols)
{
    CHECK_VIEW(x, rows * cols);
    float *w = at(x);
    if (c->kind == CLANN__CONSTRAINT_NON_NEG) {
        for (size_t i = 0; i < rows * cols; i++)
            w[i] = w[i] < 0.0f ? 0.0f : w[i]; /* NaN stays NaN */
        return CLANN_OK;
    }
    for (size_t j = 0; j < cols; j++) {
        double ss = 0.0;
        for (size_t i = 0; i < rows; i++)
            ss += (double)w[i * cols + j] * w[i * cols + j];
        float factor = constraint_factor(c, (float)sqrt(ss));
        for (size_t i = 0; i < rows; i++)
            w[i * cols + j] *= factor;
    }
    return CLANN_OK;
}

static enum clann_status cpu_add_noise(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_rng_key key, float stddev)
{
    CHECK_VIEW(x, n);
    for (size_t i = 0; i < n; i++)
        at(x)[i] += stddev * clann__rng_normal(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

/* Mean and biased variance of column c of a rows x cols matrix, in double. */
static void column_moments(const float *x, size_t rows, size_t cols, size_t c, double *mean,
                           double *var)
{
    double s = 0.0, ss = 0.0;
    for (size_t r = 0; r < rows; r++)
        s += x[r * cols + c];
    *mean = s / (double)rows;
    for (size_t r = 0; r < rows; r++) {
        double d = x[r * cols + c] - *mean;
        ss += d * d;
    }
    *var = ss / (double)rows;
}

static enum clann_status cpu_batchnorm_forward(struct clann_backend *be, struct clann_view x,
                                               struct clann_view y, size_t rows, size_t cols,
                                               struct clann_view gamma, struct clann_view beta,
                                               struct clann_view mean, struct clann_view invstd,
                                               struct clann_view running_mean,
                                               struct clann_view running_var, float momentum,
                                               float eps, bool training)
{
    CHECK_VIEW(x, rows * cols);
    CHECK_VIEW(y, rows * cols);
    CHECK_VIEW(gamma, cols);
    CHECK_VIEW(beta, cols);
    CHECK_VIEW(running_mean, cols);
    CHECK_VIEW(running_var, cols);
    if (training) {
        CHECK_VIEW(mean, cols);
        CHECK_VIEW(invstd, cols);
    }
    for (size_t c = 0; c < cols; c++) {
        double mu, var;
        if (training) {
            column_moments(at(x), rows, cols, c, &mu, &var);
            at(mean)[c] = (float)mu;
            at(invstd)[c] = (float)(1.0 / sqrt(var + eps));
            at(running_mean)[c] = (float)(momentum * at(running_mean)[c] + (1.0 - momentum) * mu);
            at(running_var)[c] = (float)(momentum * at(running_var)[c] + (1.0 - momentum) * var);
        }
        float m = training ? at(mean)[c] : at(running_mean)[c];
        float is = training ? at(invstd)[c] : (float)(1.0 / sqrt(at(running_var)[c] + eps));
        for (size_t r = 0; r < rows; r++)
            at(y)[r * cols + c] = at(gamma)[c] * (at(x)[r * cols + c] - m) * is + at(beta)[c];
    }
    return CLANN_OK;
}

static enum clann_status cpu_batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                                struct clann_view dy, size_t rows, size_t cols,
                                                struct clann_view gamma, struct clann_view mean,
                                                struct clann_view invstd, struct clann_view dx,
                                                struct clann_view dgamma, struct clann_view dbeta)
{
    CHECK_VIEW(x, rows * cols);
    CHECK_VIEW(dy, rows * cols);
    CHECK_VIEW(dx, rows * cols);
    CHECK_VIEW(gamma, cols);
    CHECK_VIEW(mean, cols);
    CHECK_VIEW(invstd, cols);
    CHECK_VIEW(dgamma, cols);
    CHECK_VIEW(dbeta, cols);
    const float *xp = at(x), *dyp = at(dy);
    for (size_t c = 0; c < cols; c++) {
        double m = at(mean)[c], is = at(invstd)[c], sdy = 0.0, sdyx = 0.0;
        for (size_t r = 0; r < rows; r++) {
            double xhat = (xp[r * cols + c] - m) * is;
            sdy += dyp[r * cols + c];
            sdyx += dyp[r * cols + c] * xhat;
        }
        at(dbeta)[c] = (float)sdy;
        at(dgamma)[c] = (float)sdyx;
        double k = at(gamma)[c] * is / (double)rows;
        for (size_t r = 0; r < rows; r++) {
            double xhat = (xp[r * cols + c] - m) * is;
            at(dx)[r * cols + c] = (float)(k * ((double)rows * dyp[r * cols + c] - sdy -
                                                xhat * sdyx));
        }
    }
    return CLANN_OK;
}

static enum clann_status cpu_guard_check(struct clann_backend *be, struct clann_view sumsq,
                                         struct clann_view flag, float value)
{
    CHECK_VIEW(sumsq, 1);
    CHECK_VIEW(flag, 1);
    if (!isfinite(at(sumsq)[0]) && at(flag)[0] == 0.0f)
        at(flag)[0] = value;
    return CLANN_OK;
}

static enum clann_status cpu_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                               struct clann_view out, struct clann_view flag)
{
    CHECK_VIEW(x, 1);
    CHECK_VIEW(out, 1);
    CHECK_VIEW(flag, 1);
    if (at(flag)[0] == 0.0f)
        at(out)[0] += at(x)[0];
    return CLANN_OK;
}

static enum clann_status cpu_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += at(x)[i] == 0.0f;
    at(out)[0] = accumulate(at(out)[0], beta, (double)zeros);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Construction.
 */

static const struct clann_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .finish = cpu_finish,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .gemm = cpu_gemm,
    .rng_uniform = cpu_rng_uniform,
    .rng_normal = cpu_rng_normal,
    .bias_act_forward = cpu_bias_act_forward,
    .act_backward = cpu_act_backward,
    .prelu_grad = cpu_prelu_grad,
    .col_sum = cpu_col_sum,
    .loss = cpu_loss,
    .sum = cpu_sum,
    .sum_squares = cpu_sum_squares,
    .count_correct = cpu_count_correct,
    .optimizer_step = cpu_optimizer_step,
    .clip_by_norm = cpu_clip_by_norm,
    .clip_by_value = cpu_clip_by_value,
    .axpy = cpu_axpy,
    .dropout = cpu_dropout,
    .sum_abs = cpu_sum_abs,
    .soft_threshold = cpu_soft_threshold,
    .constrain = cpu_constrain,
    .add_noise = cpu_add_noise,
    .batchnorm_forward = cpu_batchnorm_forward,
    .batchnorm_backward = cpu_batchnorm_backward,
    .guard_check = cpu_guard_check,
    .accumulate_unless = cpu_accumulate_unless,
    .count_zero = cpu_count_zero,
};

enum clann_status clann__cpu_backend_create(struct clann_context *ctx, enum clann_cpu_mode mode,
                                            struct clann_backend **out)
{
    *out = NULL;
    if (mode != CLANN_CPU_MODE_FAST && mode != CLANN_CPU_MODE_REFERENCE)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "cpu backend: unknown cpu_mode %d",
                            (int)mode);
    struct cpu_backend *cb = clann__calloc(1, sizeof *cb);
    if (!cb)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "cpu backend: cannot allocate %zu bytes",
                            sizeof *cb);
    cb->base.ops = &cpu_ops;
    cb->base.ctx = ctx;
    cb->mode = mode;
    *out = &cb->base;
    return CLANN_OK;
}
