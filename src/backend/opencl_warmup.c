/*
 * opencl_warmup.c - CLBlast's safety net: at backend creation, a tiny GEMM of each shape class
 * training uses (NN forward, NT and TN backward), with and without beta, at odd sizes, padded
 * leading dimensions and offsets into the buffers, through CLBlast and checked on the host
 * against a double-precision product (NMSE <= 1e-7, docs/testing.md). CLBlast compiles its
 * kernels at its first call of each kind, outside clann's program cache; the warm-up moves that
 * compile to context creation (where it is timed and reported) and catches a CLBlast that
 * errs or computes wrongly on this device before training depends on it.
 */
#include "backend/opencl_impl.h"
#include "backend/ops.h"
#include "backend/parity.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#if CLANN_HAVE_CLBLAST

/* One warm-up product: C (m x n, ldc = n + 1) = alpha op(A) op(B) + beta C. */
struct warm_case {
    bool ta, tb;
    size_t m, n, k;
    float beta;
};

/* Odd sizes (no multiple of a tile or a vector width); beta = 0 over a NaN-filled C shows a C
 * that is read when it must not be. */
static const struct warm_case warm_cases[] = {
    {false, false, 7, 13, 9, 0.0f}, {false, false, 5, 3, 17, 1.5f},
    {false, true, 9, 7, 11, 0.0f},  {false, true, 3, 11, 5, 1.5f},
    {true, false, 11, 5, 7, 0.0f},  {true, false, 6, 9, 13, 1.5f},
};

enum { WARM_OFF = 3, WARM_MAX = 17 * 19 + WARM_OFF }; /* offset, floats per operand at most */

/* A deterministic value in [-1, 1) for element i of operand `which`. */
static float warm_value(size_t which, size_t i)
{
    uint32_t h = (uint32_t)(which * 2654435761u) ^ (uint32_t)(i * 40503u + 17u);
    h ^= h >> 13;
    h *= 0x5bd1e995u;
    h ^= h >> 15;
    return (float)(h & 0xffffu) / 32768.0f - 1.0f;
}

/* The host reference of one case over the host copies (offsets included). */
static void warm_reference(const struct warm_case *w, float alpha, const float *a, size_t lda,
                           const float *b, size_t ldb, const float *c0, size_t ldc, float *ref)
{
    for (size_t i = 0; i < w->m; i++)
        for (size_t j = 0; j < w->n; j++) {
            double s = 0;
            for (size_t p = 0; p < w->k; p++)
                s += (double)a[WARM_OFF + (w->ta ? p * lda + i : i * lda + p)] *
                     b[WARM_OFF + (w->tb ? j * ldb + p : p * ldb + j)];
            double c = w->beta == 0.0f ? 0.0 : (double)w->beta * c0[WARM_OFF + i * ldc + j];
            ref[i * w->n + j] = (float)(alpha * s + c);
        }
}

/* Runs one case through op_gemm (the backend's current path) and compares; why gets the
 * finding when the result is wrong (status OK), the status says when the GEMM failed. */
static enum clann_status warm_one(struct cl_backend *be, const struct warm_case *w,
                                  struct clann_buf bufs[3], char *why, size_t cap)
{
    float a[WARM_MAX], b[WARM_MAX], c[WARM_MAX], got[WARM_MAX], ref[WARM_MAX];
    const float alpha = 1.25f;
    size_t lda = (w->ta ? w->m : w->k) + 2, ldb = (w->tb ? w->k : w->n) + 1, ldc = w->n + 1;
    for (size_t i = 0; i < WARM_MAX; i++) {
        a[i] = warm_value(0, i);
        b[i] = warm_value(1, i);
        c[i] = w->beta == 0.0f ? NAN : warm_value(2, i);
    }
    warm_reference(w, alpha, a, lda, b, ldb, c, ldc, ref);
    struct clann_backend *base = &be->base;
    CHECK(clann__op_upload(base, clann__view(&bufs[0], 0), a, WARM_MAX, false));
    CHECK(clann__op_upload(base, clann__view(&bufs[1], 0), b, WARM_MAX, false));
    CHECK(clann__op_upload(base, clann__view(&bufs[2], 0), c, WARM_MAX, false));
    CHECK(op_gemm(base, w->ta, w->tb, w->m, w->n, w->k, alpha, clann__view(&bufs[0], WARM_OFF),
                  lda, clann__view(&bufs[1], WARM_OFF), ldb, w->beta,
                  clann__view(&bufs[2], WARM_OFF), ldc));
    CHECK(clann__op_download(base, got, clann__view(&bufs[2], 0), WARM_MAX));
    for (size_t i = 0; i < w->m; i++) /* C's rows, packed as the reference's */
        memmove(&got[i * w->n], &got[WARM_OFF + i * ldc], w->n * sizeof(float));
    double nmse = clann__parity_nmse(CLANN__MATCH_NMSE, ref, got, w->m * w->n);
    if (!(nmse <= CLANN__PARITY_NMSE_MAX))
        snprintf(why, cap, "gemm %c%c m=%zu n=%zu k=%zu beta=%g: NMSE %.3g > %.0e",
                 w->ta ? 'T' : 'N', w->tb ? 'T' : 'N', w->m, w->n, w->k, (double)w->beta, nmse,
                 CLANN__PARITY_NMSE_MAX);
    return CLANN_OK;
}

/* Every case in turn; why gets the first finding or error. */
static enum clann_status warm_all(struct cl_backend *be, char *why, size_t cap)
{
    struct clann_buf bufs[3];
    memset(bufs, 0, sizeof bufs);
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < 3 && st == CLANN_OK; i++)
        st = clann__buf_create(&be->base, WARM_MAX, &bufs[i]);
    for (size_t i = 0; i < sizeof warm_cases / sizeof *warm_cases && st == CLANN_OK && !why[0];
         i++)
        st = warm_one(be, &warm_cases[i], bufs, why, cap);
    if (st != CLANN_OK)
        snprintf(why, cap, "%s: %.100s", clann_status_name(st), be->base.ctx->error);
    for (size_t i = 0; i < 3; i++)
        clann__buf_destroy(&bufs[i]);
    return st;
}

enum clann_status gemm_warmup(struct cl_backend *be, bool forced)
{
    struct clann_context *ctx = be->base.ctx;
    char why[sizeof ctx->gemm_note - 64] = "";
    double t0 = clann__now();
    unsigned long launches = be->base.launches;
    enum clann_status st = warm_all(be, why, sizeof why);
    be->base.launches = launches; /* the op profile counts training's launches only */
    ctx->gemm_warmup_seconds = clann__now() - t0;
    if (!why[0]) {
        snprintf(ctx->gemm_note, sizeof ctx->gemm_note, "CLBlast, warm-up %.2f s",
                 ctx->gemm_warmup_seconds);
        return CLANN_OK;
    }
    if (forced) { /* CLANN_GEMM=clblast or the gemm parameter: the caller wants CLBlast */
        snprintf(ctx->gemm_note, sizeof ctx->gemm_note, "CLBlast (forced; failed its warm-up: %s)",
                 why);
        clann__log(CLANN_LOG_LEVEL_WARN, "CLBlast on %s failed its warm-up (%s); kept: forced",
                   be->device_name, why);
        return CLANN_OK;
    }
    if (be->wgs[K_GEMM] < (size_t)be->gemm_ts * be->gemm_ts)
        return clann__error(ctx, st != CLANN_OK ? st : CLANN_ERR_OPENCL,
                            "CLBlast failed its warm-up on %s (%s) and the tiled kernel cannot "
                            "run there", be->device_name, why);
    be->gemm_impl = GEMM_IMPL_TILED;
    snprintf(ctx->gemm_note, sizeof ctx->gemm_note, "clann tiled kernel (CLBlast failed its "
             "warm-up: %s)", why);
    clann__log(CLANN_LOG_LEVEL_WARN, "CLBlast on %s failed its warm-up (%s); GEMM takes clann's "
               "tiled kernel for this run", be->device_name, why);
    ctx->error[0] = '\0'; /* the warm-up's error is handled, not the caller's */
    return CLANN_OK;
}

#endif
