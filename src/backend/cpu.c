/*
 * cpu.c - the built-in CPU backend. It is the reference every other backend is tested against,
 * so each op is plain scalar C that computes the formula written in backend.h, with sums and
 * transcendental functions evaluated in double and rounded to float once at the end. The one
 * exception is FAST mode's GEMM, which goes through CBLAS (or a cache-blocked float loop when
 * the build has no CBLAS); every other op is memory-bound and shares the scalar code.
 *
 * FAST mode also runs the hot ops of a training step through loops written for the compiler
 * to vectorize (bias + ReLU, ReLU's backward pass, column sums, the optimizer update) that
 * compute bit for bit what the scalar code computes, and splits large GEMMs and the optimizer
 * update between the calling thread and one worker thread (see "Second thread" below).
 *
 * Ops run synchronously on the calling thread, so upload/download/finish need no queue.
 * Views, kinds and sizes arrive checked by the clann__op_ wrappers (ops.c): every view an op
 * reads or writes lies within its buffer.
 */
#include "backend/backend.h"
#include "backend/formulas.h"
#include "core/rng.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__SSE2__)
#include <immintrin.h>
#endif

#if CLANN_HAVE_CBLAS
#include <cblas.h>
#endif

/* Blocked GEMM panel of B: GEMM_KB rows by GEMM_NB columns (128 KiB, L2-sized). */
#define GEMM_KB 128
#define GEMM_NB 256

struct cpu_pool;

struct cpu_backend {
    struct clann_backend base;
    enum clann_cpu_mode mode;
    struct cpu_pool *pool; /* FAST mode with two threads; NULL otherwise */
    float pack[GEMM_KB * GEMM_NB]; /* B panel for the blocked GEMM, so that ops never allocate */
};

/* ---------------------------------------------------------------------------------------------
 * Views.
 */

static float *at(struct clann_view v)
{
    return (float *)v.buf->ptr + v.off;
}

static bool is_null(struct clann_view v)
{
    return v.buf == NULL;
}

/* A step the NaN guard skipped (guard[0] != 0; a null guard view: no guard) changes nothing. */
#define RETURN_IF_GUARDED(guard)                                                                  \
    do {                                                                                          \
        if (!is_null(guard) && at(guard)[0] != 0.0f)                                              \
            return CLANN_OK;                                                                      \
    } while (0)

static bool fast_mode(const struct clann_backend *be)
{
    return ((const struct cpu_backend *)be)->mode == CLANN_CPU_MODE_FAST;
}

/* out = beta * out + value, where beta = 0 never reads out (NaN there must not propagate). */
static float accumulate(float out, float beta, double value)
{
    return (float)(beta == 0.0f ? value : (double)beta * out + value);
}

/* ---------------------------------------------------------------------------------------------
 * Second thread. A training step of a small model is a chain of GEMMs of 20-500 us each, too
 * short for BLAS threading: OpenBLAS 0.3.21 with 2 threads is slower than with 1 on every
 * GEMM of the Fashion-MNIST MLP. FAST mode instead cuts a large op in two halves: the caller
 * posts the second half to one worker thread, runs the first, and then runs the second
 * itself if the worker has not picked it up yet - so a busy or descheduled worker never
 * leaves a half waiting, it only loses its share. Both sides spin briefly before sleeping,
 * because the gaps between the GEMMs of a step are tens of microseconds.
 *
 * The job word `state` is (sequence << 2) | phase; the worker takes a job with a
 * compare-and-swap from POSTED to TAKEN, the caller cancels it with one from POSTED to DONE,
 * so exactly one of them runs the second half.
 */

enum { JOB_POSTED = 1, JOB_TAKEN = 2, JOB_DONE = 3 };

#define POOL_SPIN_SECONDS 100e-6

/* Element-wise ops and reductions over fewer elements run on one thread (about 15 us). */
#define SPLIT_MIN_ELEMENTS 32768

struct cpu_pool {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the worker sleeps on it: a job was posted, or quit */
    pthread_cond_t done; /* the caller sleeps on it: the worker finished its half */
    atomic_uint state;
    atomic_bool worker_sleeping, caller_sleeping, quit;
    unsigned seq;
    void (*fn)(void *arg, int half);
    void *arg;
};

static double pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool job_posted(unsigned s)
{
    return (s & 3u) == JOB_POSTED;
}

/* Spins up to POOL_SPIN_SECONDS until `state` satisfies the test, then returns whether it
 * does. The clock is read every 64 polls: polls are cheaper than clock reads. */
static bool pool_spin(struct cpu_pool *p, bool posted, unsigned want)
{
    double t0 = pool_now();
    for (unsigned i = 1;; i++) {
        unsigned s = atomic_load(&p->state);
        if (posted ? job_posted(s) || atomic_load(&p->quit) : s == want)
            return true;
        if (i % 64 == 0 && pool_now() - t0 > POOL_SPIN_SECONDS)
            return false;
    }
}

/* The worker: the sleeping flag is set under the lock before the state is re-checked, and the
 * poster reads the flag after publishing the state, so a wake-up is never lost. */
static unsigned pool_wait_job(struct cpu_pool *p)
{
    if (!pool_spin(p, true, 0)) {
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->worker_sleeping, true);
        while (!job_posted(atomic_load(&p->state)) && !atomic_load(&p->quit))
            pthread_cond_wait(&p->wake, &p->lock);
        atomic_store(&p->worker_sleeping, false);
        pthread_mutex_unlock(&p->lock);
    }
    return atomic_load(&p->state);
}

static void *pool_main(void *arg)
{
    struct cpu_pool *p = arg;
    for (;;) {
        unsigned s = pool_wait_job(p);
        if (atomic_load(&p->quit))
            return NULL;
        unsigned base = s & ~3u;
        if (!job_posted(s) || !atomic_compare_exchange_strong(&p->state, &s, base | JOB_TAKEN))
            continue; /* the caller ran it itself */
        p->fn(p->arg, 1);
        atomic_store(&p->state, base | JOB_DONE);
        if (atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

/* Runs fn(arg, 0) and fn(arg, 1), the second on the worker when it is ready in time. */
static void pool_run(struct cpu_pool *p, void (*fn)(void *, int), void *arg)
{
    p->fn = fn;
    p->arg = arg;
    unsigned base = ++p->seq << 2, posted = base | JOB_POSTED;
    atomic_store(&p->state, posted);
    if (atomic_load(&p->worker_sleeping)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(arg, 0);
    if (atomic_compare_exchange_strong(&p->state, &posted, base | JOB_DONE)) {
        fn(arg, 1); /* the worker has not started: no point waiting for it */
        return;
    }
    if (pool_spin(p, false, base | JOB_DONE))
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->caller_sleeping, true);
    while (atomic_load(&p->state) != (base | JOB_DONE))
        pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->caller_sleeping, false);
    pthread_mutex_unlock(&p->lock);
}

static void pool_destroy(struct cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, true);
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    clann__free(p);
}

/* NULL when the thread cannot be started: FAST mode then runs on the calling thread alone. */
static struct cpu_pool *pool_create(void)
{
    struct cpu_pool *p = clann__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->state, 0);
    atomic_init(&p->worker_sleeping, false);
    atomic_init(&p->caller_sleeping, false);
    atomic_init(&p->quit, false);
    bool ok = pthread_mutex_init(&p->lock, NULL) == 0;
    ok = ok && pthread_cond_init(&p->wake, NULL) == 0;
    ok = ok && pthread_cond_init(&p->done, NULL) == 0;
    if (ok && pthread_create(&p->thread, NULL, pool_main, p) == 0)
        return p;
    clann__log(CLANN_LOG_LEVEL_WARN, "cpu backend: cannot start a worker thread; using one");
    clann__free(p); /* (a failed init leaves nothing to destroy that matters here) */
    return NULL;
}

/* Threads for FAST mode: CLANN_CPU_THREADS when set (1 turns the worker off), else 2 when the
 * machine has two or more cores. More than 2 leaves the splitting to the BLAS library. */
static long fast_threads(void)
{
    const char *env = clann__getenv("CLANN_CPU_THREADS");
    long n = env ? strtol(env, NULL, 10) : 0;
    if (n > 0)
        return n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 2 ? 2 : 1;
}

/* ---------------------------------------------------------------------------------------------
 * OpenBLAS setup for FAST mode.
 */

#if CLANN_HAVE_CBLAS && defined(OPENBLAS_VERSION)
/* Our own split replaces OpenBLAS threading for 1 or 2 threads (OpenBLAS' own pool spins
 * and yields between calls, and loses to one thread on small shapes); above that OpenBLAS
 * threads. The setting is process-wide. */
static void blas_setup(long threads)
{
    openblas_set_num_threads(threads > 2 ? (int)threads : 1);
}
#else
static void blas_setup(long threads)
{
    (void)threads;
}
#endif

/* ---------------------------------------------------------------------------------------------
 * Buffers and transfers.
 */

static void cpu_destroy(struct clann_backend *be)
{
    pool_destroy(((struct cpu_backend *)be)->pool);
    clann__free(be);
}

static enum clann_status cpu_buf_alloc(struct clann_backend *be, size_t n, struct clann_buf *buf)
{
    size_t bytes;
    /* One float at least: malloc(0) may return NULL, which would read as a failure. */
    if (!clann__mul_size(n ? n : 1, sizeof(float), &bytes))
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE, "cpu buf_alloc: %zu floats overflow",
                            n);
    buf->ptr = clann__malloc_large(bytes);
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
    if (n)
        memcpy(at(dst), src, n * sizeof(float));
    return CLANN_OK;
}

static enum clann_status cpu_download(struct clann_backend *be, float *dst,
                                      struct clann_view src, size_t n)
{
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
    for (size_t i = 0; i < n; i++)
        at(x)[i] = value;
    return CLANN_OK;
}

static enum clann_status cpu_copy(struct clann_backend *be, struct clann_view dst,
                                  struct clann_view src, size_t n)
{
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

static enum clann_status cpu_gemm(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
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

/* ---------------------------------------------------------------------------------------------
 * Random numbers: the shared Philox streams, with the affine map written exactly as the
 * OpenCL kernels write it (float arithmetic, no contraction), so results are bit-identical.
 */

static enum clann_status cpu_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                         struct clann_rng_key key, float lo, float hi)
{
    float *p = n ? at(x) : NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * clann__rng_uniform(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

static enum clann_status cpu_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_rng_key key, float mean, float stddev)
{
    float *p = n ? at(x) : NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = mean + stddev * clann__rng_normal(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Activations. The element and row formulas are in formulas.h (shared with the float64
 * gradient checks); the loops here feed them floats and round each result to float once.
 */

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

static bool act_reads_z(enum clann__act_kind kind)
{
    return kind != CLANN__ACT_LINEAR && kind != CLANN__ACT_SIGMOID && kind != CLANN__ACT_TANH &&
           kind != CLANN__ACT_SOFTMAX;
}

/* FAST mode's bias + ReLU (or + identity), the same float operations as the scalar path in
 * loops the compiler vectorizes. y may alias z (identity), so no restrict. */
static void bias_relu_fast(float *z, const float *bias, float *y, size_t rows, size_t cols,
                           bool relu)
{
    for (size_t r = 0; r < rows; r++) {
        float *zr = z + r * cols, *yr = y + r * cols;
        if (bias)
            for (size_t c = 0; c < cols; c++)
                zr[c] += bias[c];
        if (relu)
            for (size_t c = 0; c < cols; c++)
                yr[c] = zr[c] < 0.0f ? 0.0f : zr[c]; /* NaN and -0 pass through as before */
        else if (yr != zr)
            for (size_t c = 0; c < cols; c++)
                yr[c] = zr[c];
    }
}

/* dz = dy * relu'(z): a product by exactly 1 or 0, the same in float as in double. The
 * factor goes through a variable so that gcc keeps the product (it would otherwise branch
 * between dy and dy * 0, which does not vectorize). */
static void relu_backward_fast(const float *z, const float *dy, float *dz, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float slope = z[i] > 0.0f ? 1.0f : 0.0f;
        dz[i] = dy[i] * slope;
    }
}

static enum clann_status cpu_bias_act_forward(struct clann_backend *be,
                                              const struct clann_act *act, struct clann_view z,
                                              struct clann_view bias, struct clann_view prelu,
                                              struct clann_view y, size_t rows, size_t cols)
{
    size_t total = rows * cols;
    if (total == 0)
        return CLANN_OK;
    if (fast_mode(be) && (act->kind == CLANN__ACT_RELU || act->kind == CLANN__ACT_LINEAR)) {
        bias_relu_fast(at(z), is_null(bias) ? NULL : at(bias), at(y), rows, cols,
                       act->kind == CLANN__ACT_RELU);
        return CLANN_OK;
    }
    const float *a = act->kind == CLANN__ACT_PRELU ? at(prelu) : NULL;
    for (size_t r = 0; r < rows; r++) {
        float *zr = at(z) + r * cols, *yr = at(y) + r * cols;
        if (!is_null(bias))
            for (size_t c = 0; c < cols; c++)
                zr[c] += at(bias)[c];
        if (act->kind == CLANN__ACT_SOFTMAX) {
            clann__softmax_row(clann__row_f(zr), clann__out_f(yr), cols);
            continue;
        }
        for (size_t c = 0; c < cols; c++)
            yr[c] = (float)clann__act_value(act, zr[c], neg_slope(act, a, r, c, cols));
    }
    return CLANN_OK;
}

static enum clann_status cpu_act_backward(struct clann_backend *be, const struct clann_act *act,
                                          struct clann_view z, struct clann_view y,
                                          struct clann_view dy, struct clann_view prelu,
                                          struct clann_view dz, size_t rows, size_t cols)
{
    size_t total = rows * cols;
    /* Only the input the formula uses is read, so callers may pass a NULL view for the other. */
    bool reads_z = act_reads_z(act->kind);
    bool reads_y = act->kind != CLANN__ACT_LINEAR && !reads_z;
    if (total == 0)
        return CLANN_OK;
    if (fast_mode(be) && act->kind == CLANN__ACT_RELU) {
        relu_backward_fast(at(z), at(dy), at(dz), total);
        return CLANN_OK;
    }
    const float *a = act->kind == CLANN__ACT_PRELU ? at(prelu) : NULL;
    for (size_t r = 0; r < rows; r++) {
        const float *zr = reads_z ? at(z) + r * cols : NULL;
        const float *yr = reads_y ? at(y) + r * cols : NULL;
        const float *dyr = at(dy) + r * cols; /* may alias dzr: each element is read first */
        float *dzr = at(dz) + r * cols;
        if (act->kind == CLANN__ACT_SOFTMAX) {
            clann__softmax_backward_row(clann__row_f(yr), clann__row_f(dyr), clann__out_f(dzr),
                                        cols);
            continue;
        }
        for (size_t c = 0; c < cols; c++) {
            float zv = zr ? zr[c] : 0.0f, yv = yr ? yr[c] : 0.0f;
            double slope = neg_slope(act, a, r, c, cols);
            dzr[c] = (float)(dyr[c] * clann__act_derivative(act, zv, yv, slope));
        }
    }
    return CLANN_OK;
}

static enum clann_status cpu_prelu_grad(struct clann_backend *be, struct clann_view z,
                                        struct clann_view dy, struct clann_view dprelu,
                                        size_t rows, size_t cols, float beta)
{
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

/* Columns per block of FAST mode's column sums: the double accumulators stay on the stack. */
#define COL_BLOCK 256

/* Column sums row by row (unit stride, vectorizable) instead of column by column (stride
 * cols): each column still adds its rows in order 0, 1, ... in double, so the result is the
 * same to the bit. */
static void col_sum_fast(const float *x, size_t rows, size_t cols, float *out, float beta)
{
    double acc[COL_BLOCK];
    for (size_t c0 = 0; c0 < cols; c0 += COL_BLOCK) {
        size_t nc = cols - c0 < COL_BLOCK ? cols - c0 : COL_BLOCK;
        for (size_t c = 0; c < nc; c++)
            acc[c] = 0.0;
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols + c0;
            for (size_t c = 0; c < nc; c++)
                acc[c] += xr[c];
        }
        for (size_t c = 0; c < nc; c++)
            out[c0 + c] = accumulate(out[c0 + c], beta, acc[c]);
    }
}

static enum clann_status cpu_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                                     size_t cols, struct clann_view out, float beta)
{
    if (fast_mode(be) && rows && cols) {
        col_sum_fast(at(x), rows, cols, at(out), beta);
        return CLANN_OK;
    }
    for (size_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++)
            acc += at(x)[r * cols + c];
        at(out)[c] = accumulate(at(out)[c], beta, acc);
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Losses: the row formulas are in formulas.h (clann__loss_row).
 */

static enum clann_status cpu_loss(struct clann_backend *be, const struct clann__loss *loss,
                                  struct clann_view pred, struct clann_view labels, size_t rows,
                                  size_t cols, struct clann_view row_loss, struct clann_view grad,
                                  float grad_scale)
{
    size_t label_cols = loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : cols;
    if (cols == 0)
        rows = 0; /* an empty row has no loss to report */
    for (size_t r = 0; r < rows; r++) {
        float *g = is_null(grad) ? NULL : at(grad) + r * cols;
        double row = clann__loss_row(loss, clann__row_f(at(pred) + r * cols),
                                     clann__row_f(at(labels) + r * label_cols), cols,
                                     clann__out_f(g), grad_scale);
        at(row_loss)[r] = (float)row;
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
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += at(x)[i];
    at(out)[0] = accumulate(at(out)[0], beta, (double)scale * acc);
    return CLANN_OK;
}

/* FAST mode's sum of squares (the NaN guard runs it over every gradient each step): 8
 * partial sums, which the compiler vectorizes, combined in a fixed order - the same result
 * for a given n every run, as backend.h asks, though not always the reference's last bit. */
static double sum_squares_fast(const float *x, size_t n)
{
    double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; j++)
            acc[j] += (double)x[i + j] * x[i + j];
    for (; i < n; i++)
        acc[i % 8] += (double)x[i] * x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Two halves at a fixed cut, added in a fixed order: which thread ran which half does not
 * change the result. */
struct sumsq_job {
    const float *x;
    size_t n, cut;
    double part[2];
};

static void sumsq_half(void *arg, int half)
{
    struct sumsq_job *j = arg;
    j->part[half] = half ? sum_squares_fast(j->x + j->cut, j->n - j->cut)
                         : sum_squares_fast(j->x, j->cut);
}

static enum clann_status cpu_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                         struct clann_view out, float beta)
{
    if (fast_mode(be) && n) {
        /* Long vectors always in two halves, so that the thread count never changes it. */
        bool halves = n >= SPLIT_MIN_ELEMENTS;
        struct sumsq_job j = {at(x), n, halves ? (n / 2 + 15) & ~(size_t)15 : n, {0.0, 0.0}};
        struct cpu_pool *pool = ((struct cpu_backend *)be)->pool;
        if (pool && halves) {
            pool_run(pool, sumsq_half, &j);
        } else {
            sumsq_half(&j, 0);
            if (halves)
                sumsq_half(&j, 1);
        }
        at(out)[0] = accumulate(at(out)[0], beta, j.part[0] + j.part[1]);
        return CLANN_OK;
    }
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

/* FAST mode's update: one loop per kind over restrict pointers, so that the compiler
 * vectorizes it. Each element sees the same float operations in the same order as the scalar
 * loop in cpu_optimizer_step, so the weights are the same to the bit. The loops with sqrtf
 * do not vectorize while sqrtf may set errno (the build keeps -fmath-errno), so Adam's is
 * written with SSE2 intrinsics on x86-64: IEEE sqrt and division per lane, the same values. */
struct opt_job {
    const struct clann_opt *opt;
    float lr, eps;
    float *w, *s1, *s2;
    const float *g;
    size_t n, cut;
};

static void opt_sgd(float *restrict w, const float *restrict g, size_t n, float lr)
{
    for (size_t i = 0; i < n; i++)
        w[i] = w[i] - lr * g[i];
}

static void opt_momentum(float *restrict w, const float *restrict g, float *restrict a, size_t n,
                         float lr, float mu, bool nesterov)
{
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            a[i] = mu * a[i] + g[i];
            w[i] = w[i] - lr * (g[i] + mu * a[i]);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = mu * a[i] + g[i];
        w[i] = w[i] - lr * a[i];
    }
}

/* Adagrad (a += g^2) and RMSprop (a = rho a + (1 - rho) g^2). */
static void opt_scaled(float *restrict w, const float *restrict g, float *restrict a, size_t n,
                       float lr, float eps, float rho, bool rmsprop)
{
    float c = 1.0f - rho;
    if (rmsprop) {
        for (size_t i = 0; i < n; i++) {
            a[i] = rho * a[i] + c * g[i] * g[i];
            w[i] = w[i] - lr * g[i] / (sqrtf(a[i]) + eps);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = a[i] + g[i] * g[i];
        w[i] = w[i] - lr * g[i] / (sqrtf(a[i]) + eps);
    }
}

/* Adam's lanes: m = b1 m + c1 g; v = b2 v + (c2 g) g; w -= (lr m) / (sqrt(v) + eps), the
 * scalar loop's operations in its order (no contraction: the build has -ffp-contract=off). */
#define ADAM_LANES(VEC, SET1, LOAD, STORE, ADD, SUB, MUL, DIV, SQRT, WIDTH)                       \
    VEC vb1 = SET1(p->beta1), vb2 = SET1(p->beta2), vc1 = SET1(1.0f - p->beta1);                  \
    VEC vc2 = SET1(1.0f - p->beta2), vlr = SET1(lr), veps = SET1(eps);                            \
    size_t i = 0;                                                                                 \
    for (; i + (WIDTH) <= n; i += (WIDTH)) {                                                      \
        VEC gi = LOAD(g + i);                                                                     \
        VEC mi = ADD(MUL(vb1, LOAD(m + i)), MUL(vc1, gi));                                        \
        VEC vi = ADD(MUL(vb2, LOAD(v + i)), MUL(MUL(vc2, gi), gi));                               \
        VEC step = DIV(MUL(vlr, mi), ADD(SQRT(vi), veps));                                        \
        STORE(m + i, mi);                                                                         \
        STORE(v + i, vi);                                                                         \
        STORE(w + i, SUB(LOAD(w + i), step));                                                     \
    }                                                                                             \
    return i

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ADAM_WIDE 1
__attribute__((target("avx512f"))) static size_t
adam_avx512(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
            size_t n, const struct clann_opt *p, float lr, float eps)
{
    ADAM_LANES(__m512, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps,
               _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps, _mm512_sqrt_ps, 16);
}

__attribute__((target("avx"))) static size_t
adam_avx(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
         size_t n, const struct clann_opt *p, float lr, float eps)
{
    ADAM_LANES(__m256, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps,
               _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, _mm256_sqrt_ps, 8);
}
#endif

#if defined(__SSE2__)
static size_t adam_sse2(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, size_t n, const struct clann_opt *p, float lr,
                        float eps)
{
    ADAM_LANES(__m128, _mm_set1_ps, _mm_loadu_ps, _mm_storeu_ps, _mm_add_ps, _mm_sub_ps,
               _mm_mul_ps, _mm_div_ps, _mm_sqrt_ps, 4);
}
#endif

/* The widest lanes the CPU has (sqrt and division dominate: 16 lanes run 4x as fast as 4),
 * then scalar code for the tail. */
static void opt_adam(float *restrict w, const float *restrict g, float *restrict m,
                     float *restrict v, size_t n, const struct clann_opt *o, float lr, float eps)
{
    size_t i = 0;
#if defined(ADAM_WIDE)
    if (__builtin_cpu_supports("avx512f"))
        i = adam_avx512(w, g, m, v, n, o, lr, eps);
    else if (__builtin_cpu_supports("avx"))
        i = adam_avx(w, g, m, v, n, o, lr, eps);
#endif
#if defined(__SSE2__)
    i += adam_sse2(w + i, g + i, m + i, v + i, n - i, o, lr, eps);
#endif
    float b1 = o->beta1, b2 = o->beta2, c1 = 1.0f - o->beta1, c2 = 1.0f - o->beta2;
    for (; i < n; i++) {
        m[i] = b1 * m[i] + c1 * g[i];
        v[i] = b2 * v[i] + c2 * g[i] * g[i];
        w[i] = w[i] - lr * m[i] / (sqrtf(v[i]) + eps);
    }
}

static void opt_range(const struct opt_job *j, size_t lo, size_t hi)
{
    const struct clann_opt *o = j->opt;
    float *w = j->w + lo, *a = j->s1 ? j->s1 + lo : NULL;
    const float *g = j->g + lo;
    switch (o->kind) {
    case CLANN__OPT_SGD:
        opt_sgd(w, g, hi - lo, j->lr);
        break;
    case CLANN__OPT_MOMENTUM:
        opt_momentum(w, g, a, hi - lo, j->lr, o->momentum, o->nesterov);
        break;
    case CLANN__OPT_ADAGRAD:
        opt_scaled(w, g, a, hi - lo, j->lr, j->eps, 0.0f, false);
        break;
    case CLANN__OPT_ADAM:
        opt_adam(w, g, a, j->s2 + lo, hi - lo, o, j->lr, j->eps);
        break;
    default:
        opt_scaled(w, g, a, hi - lo, j->lr, j->eps, o->rho, true);
        break;
    }
}

static void opt_half(void *arg, int half)
{
    const struct opt_job *j = arg;
    if (half)
        opt_range(j, j->cut, j->n);
    else
        opt_range(j, 0, j->cut);
}

static enum clann_status cpu_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                            struct clann_view w, struct clann_view g,
                                            struct clann_view s1, struct clann_view s2, size_t n)
{
    RETURN_IF_GUARDED(opt->guard); /* a non-finite gradient: weights and state stay */
    if (n == 0)
        return CLANN_OK;
    float *wp = at(w), *a = opt->kind != CLANN__OPT_SGD ? at(s1) : NULL;
    const float *gp = at(g);
    float lr = opt->lr_t, eps = opt->eps_t; /* Adam's bias correction folded in (ops.c) */
    if (fast_mode(be)) {
        struct opt_job j = {opt, lr, eps, wp, a, opt->kind == CLANN__OPT_ADAM ? at(s2) : NULL,
                            gp, n, (n / 2 + 15) & ~(size_t)15};
        struct cpu_pool *pool = ((struct cpu_backend *)be)->pool;
        if (pool && n >= SPLIT_MIN_ELEMENTS)
            pool_run(pool, opt_half, &j);
        else
            opt_range(&j, 0, n);
        return CLANN_OK;
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
    for (size_t i = 0; i < n; i++) {
        float v = at(x)[i];
        at(x)[i] = v > limit ? limit : v < -limit ? -limit : v; /* NaN stays NaN */
    }
    return CLANN_OK;
}

static enum clann_status cpu_axpy(struct clann_backend *be, size_t n, float a,
                                  struct clann_view x, struct clann_view y)
{
    for (size_t i = 0; i < n; i++)
        at(y)[i] = a * at(x)[i] + at(y)[i];
    return CLANN_OK;
}

static enum clann_status cpu_dropout(struct clann_backend *be, struct clann_view x,
                                     struct clann_view y, size_t n, float rate,
                                     struct clann_rng_key key)
{
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
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += fabsf(at(x)[i]);
    at(out)[0] = accumulate(at(out)[0], beta, s);
    return CLANN_OK;
}

static enum clann_status cpu_soft_threshold(struct clann_backend *be, struct clann_view x,
                                            size_t n, float threshold, struct clann_view guard)
{
    RETURN_IF_GUARDED(guard);
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
                                       size_t rows, size_t cols, struct clann_view guard)
{
    RETURN_IF_GUARDED(guard);
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
                                               struct clann_view stats, struct clann_view running,
                                               float eps, bool training)
{
    for (size_t c = 0; c < cols; c++) {
        float m, is;
        if (training) {
            double mu, var;
            column_moments(at(x), rows, cols, c, &mu, &var);
            at(stats)[c] = m = (float)mu;
            at(stats)[cols + c] = (float)var;
            at(stats)[2 * cols + c] = is = (float)(1.0 / sqrt(var + eps));
        } else {
            m = at(running)[c];
            is = (float)(1.0 / sqrt(at(running)[cols + c] + eps));
        }
        for (size_t r = 0; r < rows; r++)
            at(y)[r * cols + c] = at(gamma)[c] * (at(x)[r * cols + c] - m) * is + at(beta)[c];
    }
    return CLANN_OK;
}

static enum clann_status cpu_moving_average(struct clann_backend *be, struct clann_view avg,
                                            struct clann_view x, size_t n, float momentum,
                                            struct clann_view guard)
{
    RETURN_IF_GUARDED(guard);
    for (size_t i = 0; i < n; i++)
        at(avg)[i] = (float)(momentum * (double)at(avg)[i] + (1.0 - momentum) * at(x)[i]);
    return CLANN_OK;
}

static enum clann_status cpu_batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                                struct clann_view dy, size_t rows, size_t cols,
                                                struct clann_view gamma, struct clann_view mean,
                                                struct clann_view invstd, struct clann_view dx,
                                                struct clann_view dgamma, struct clann_view dbeta)
{
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
    if (!isfinite(at(sumsq)[0]) && at(flag)[0] == 0.0f)
        at(flag)[0] = value;
    return CLANN_OK;
}

static enum clann_status cpu_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                               struct clann_view out, struct clann_view flag)
{
    if (at(flag)[0] == 0.0f)
        at(out)[0] += at(x)[0];
    return CLANN_OK;
}

static enum clann_status cpu_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view out, float beta)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += at(x)[i] == 0.0f;
    at(out)[0] = accumulate(at(out)[0], beta, (double)zeros);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Construction.
 */

/* ---------------------------------------------------------------------------------------------
 * Feature layer: the numeric columns' copy, embedding gathers, their deterministic scatter-add
 * and the sparse optimizer step (formulas in backend.h).
 */

/* The id in slot value v, or -1 when v is not an integer in [0, n_ids). */
static long slot_id(float v, size_t n_ids)
{
    return v >= 0.0f && v < (float)n_ids && v == floorf(v) ? (long)v : -1;
}

/* Asks for the cache lines of n floats at p ahead of use: the rows of a large table are far
 * apart, and fetching them early overlaps their misses instead of paying one latency after
 * another (a step's cost then stays flat as the table grows). */
static void prefetch_row(const float *p, size_t n)
{
#if defined(__GNUC__)
    for (size_t i = 0; i < n; i += 16)
        __builtin_prefetch(p + i, 1, 3);
#else
    (void)p, (void)n;
#endif
}

/* How many rows ahead of use the gathers prefetch. Issuing every row's prefetch up front does
 * not work: the core tracks only a few dozen misses, drops the rest, and the loop then waits on
 * one row after another (a 10^6-id table ran 20% slower than a 10^4-id one). A fixed distance
 * keeps that many rows in flight for the whole loop. */
enum { PREFETCH_ROWS_AHEAD = 8 };

/* Prefetches the table rows of the ids in row r of the id slots, when r is a row. */
static void prefetch_ids(struct clann_view ids, size_t ldi, size_t width, size_t rows, size_t r,
                         struct clann_view table, size_t n_ids, size_t dim)
{
    for (size_t s = 0; r < rows && s < width; s++) {
        long v = slot_id(at(ids)[r * ldi + s], n_ids);
        if (v >= 0)
            prefetch_row(at(table) + (size_t)v * dim, dim);
    }
}

/* The combiner's scale s_r of one row of id slots. */
static double row_scale(const float *ids, size_t width, size_t n_ids, enum clann_combiner comb)
{
    size_t c = 0;
    for (size_t s = 0; s < width; s++)
        c += slot_id(ids[s], n_ids) >= 0;
    if (c == 0)
        return 0.0;
    return comb == CLANN_COMBINER_SUM ? 1.0
           : comb == CLANN_COMBINER_MEAN ? 1.0 / (double)c : 1.0 / sqrt((double)c);
}

static enum clann_status cpu_index_cols(struct clann_backend *be, struct clann_view src,
                                        struct clann_view dst, size_t rows, size_t width,
                                        struct clann_view idx, size_t n, bool scatter)
{
    for (size_t j = 0; j < n; j++) {
        long c = slot_id(at(idx)[j], width);
        if (c < 0)
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu index_cols: index %g is "
                                "not a column below %zu", (double)at(idx)[j], width);
        for (size_t r = 0; r < rows; r++) {
            if (scatter)
                at(dst)[r * width + (size_t)c] = at(src)[r * n + j];
            else
                at(dst)[r * n + j] = at(src)[r * width + (size_t)c];
        }
    }
    return CLANN_OK;
}

static enum clann_status cpu_copy_cols(struct clann_backend *be, struct clann_view x, size_t ldx,
                                       struct clann_view y, size_t ldy, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows && cols; r++)
        memcpy(at(y) + r * ldy, at(x) + r * ldx, cols * sizeof(float));
    return CLANN_OK;
}

static enum clann_status cpu_embedding_forward(struct clann_backend *be, struct clann_view ids,
                                               size_t ldi, size_t width, size_t rows,
                                               struct clann_view table, size_t n_ids,
                                               size_t dim, enum clann_combiner comb,
                                               struct clann_view y, size_t ldy)
{
    for (size_t r = 0; r < PREFETCH_ROWS_AHEAD && !is_null(table); r++)
        prefetch_ids(ids, ldi, width, rows, r, table, n_ids, dim);
    for (size_t r = 0; r < rows; r++) {
        if (!is_null(table))
            prefetch_ids(ids, ldi, width, rows, r + PREFETCH_ROWS_AHEAD, table, n_ids, dim);
        const float *id = at(ids) + r * ldi;
        double scale = row_scale(id, width, n_ids, comb);
        for (size_t k = 0; k < dim; k++) {
            double acc = 0.0;
            for (size_t s = 0; s < width; s++) {
                long v = slot_id(id[s], n_ids);
                if (v >= 0)
                    acc += is_null(table) ? (double)((size_t)v == k)
                                          : (double)at(table)[(size_t)v * dim + k];
            }
            at(y)[r * ldy + k] = (float)(scale * acc);
        }
    }
    return CLANN_OK;
}

static enum clann_status cpu_embedding_backward(struct clann_backend *be, struct clann_view dy,
                                                size_t ldy, struct clann_view ids, size_t ldi,
                                                size_t width, size_t rows, size_t n_ids,
                                                enum clann_combiner comb,
                                                struct clann_view offsets, struct clann_view occ,
                                                size_t n_occ, size_t n_unique, size_t dim,
                                                struct clann_view grad)
{
    for (size_t u = 0; u < n_unique; u++) {
        float lo = at(offsets)[u], hi = at(offsets)[u + 1];
        if (!(lo >= 0.0f && lo <= hi && hi <= (float)n_occ))
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu embedding_backward: "
                                "offsets of id %zu out of range", u);
        for (size_t k = 0; k < dim; k++) {
            double acc = 0.0;
            for (size_t o = (size_t)lo; o < (size_t)hi; o++) {
                size_t r = (size_t)at(occ)[o];
                if (r >= rows)
                    return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu "
                                        "embedding_backward: row %zu out of range", r);
                acc += row_scale(at(ids) + r * ldi, width, n_ids, comb) *
                       (double)at(dy)[r * ldy + k];
            }
            at(grad)[u * dim + k] = (float)acc;
        }
    }
    return CLANN_OK;
}

static struct clann_view view_at(struct clann_view v, size_t off)
{
    v.off += off;
    return v;
}

/* The rows are checked here only as far as a hint needs: an id outside the table is skipped
 * (embedding_update reports it). */
static void cpu_embedding_prefetch(struct clann_backend *be, struct clann_view table,
                                   struct clann_view s1, struct clann_view s2, size_t n_ids,
                                   size_t dim, struct clann_view uniq, size_t n_unique)
{
    (void)be;
    for (size_t u = 0; u < n_unique; u++) {
        long row = slot_id(at(uniq)[u], n_ids);
        struct clann_view rows[] = {table, s1, s2};
        for (size_t i = 0; row >= 0 && i < 3; i++)
            if (!is_null(rows[i]) && rows[i].off + ((size_t)row + 1) * dim <= rows[i].buf->n)
                prefetch_row(at(rows[i]) + (size_t)row * dim, dim);
    }
}

static enum clann_status cpu_embedding_update(struct clann_backend *be,
                                              const struct clann_opt *opt,
                                              struct clann_view table, struct clann_view s1,
                                              struct clann_view s2, size_t n_ids, size_t dim,
                                              struct clann_view uniq, struct clann_view grad,
                                              size_t n_unique)
{
    for (size_t u = 0; u < n_unique; u++) {
        long row = slot_id(at(uniq)[u], n_ids);
        if (row < 0)
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu embedding_update: id %g "
                                "is not below %zu", (double)at(uniq)[u], n_ids);
        size_t off = (size_t)row * dim;
        struct clann_view a = is_null(s1) ? s1 : view_at(s1, off);
        struct clann_view b = is_null(s2) ? s2 : view_at(s2, off);
        /* The dense update's own code on one row: the same formulas and guard. */
        enum clann_status st = cpu_optimizer_step(be, opt, view_at(table, off),
                                                  view_at(grad, u * dim), a, b, dim);
        if (st != CLANN_OK)
            return st;
    }
    return CLANN_OK;
}

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
    .moving_average = cpu_moving_average,
    .batchnorm_backward = cpu_batchnorm_backward,
    .guard_check = cpu_guard_check,
    .accumulate_unless = cpu_accumulate_unless,
    .count_zero = cpu_count_zero,
    .copy_cols = cpu_copy_cols,
    .index_cols = cpu_index_cols,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .embedding_update = cpu_embedding_update,
    .embedding_prefetch = cpu_embedding_prefetch,
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
    clann__backend_init(&cb->base, &cpu_ops, ctx);
    cb->mode = mode;
    if (mode == CLANN_CPU_MODE_FAST) {
        long threads = fast_threads();
        blas_setup(threads);
        cb->pool = threads == 2 ? pool_create() : NULL;
    }
    *out = &cb->base;
    return CLANN_OK;
}
