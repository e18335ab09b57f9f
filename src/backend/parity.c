/*
 * parity.c - the op-parity harness (parity.h): shared by `clann check` and tests/test-backend.c
 * so that a device is judged by the same code in the field as in the suite.
 */
#include "backend/parity.h"

#include "backend/ops.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float canary_value(void)
{
    float f;
    uint32_t u = CLANN__PARITY_CANARY_BITS;
    memcpy(&f, &u, sizeof f);
    return f;
}

void clann__parity_free(float **res, size_t nt)
{
    for (size_t t = 0; t < nt; t++) {
        clann__free(res[t]);
        res[t] = NULL;
    }
}

/* Whether a guard-zone float of host (PRE + n + POST floats) is not the canary; *at gets its
 * position relative to the view. */
static bool broken_canary(const float *host, size_t n, long *at)
{
    size_t total = CLANN__PARITY_PRE + n + CLANN__PARITY_POST;
    for (size_t i = 0; i < total; i++) {
        uint32_t u;
        memcpy(&u, &host[i], sizeof u);
        bool guard = i < CLANN__PARITY_PRE || i >= CLANN__PARITY_PRE + n;
        if (guard && u != CLANN__PARITY_CANARY_BITS) {
            *at = (long)i - CLANN__PARITY_PRE;
            return true;
        }
    }
    return false;
}

/* Uploads tensor t of c with its guard zones into a fresh buffer. */
static enum clann_status upload_tensor(struct clann_backend *be, const struct clann__parity_case *c,
                                       size_t t, float *host, struct clann_buf *buf)
{
    size_t total = CLANN__PARITY_PRE + c->n[t] + CLANN__PARITY_POST;
    const float canary = canary_value();
    for (size_t i = 0; i < total; i++)
        host[i] = canary;
    memcpy(host + CLANN__PARITY_PRE, c->init[t], c->n[t] * sizeof(float));
    enum clann_status st = clann__buf_create(be, total, buf);
    if (st == CLANN_OK)
        st = clann__op_upload(be, clann__view(buf, 0), host, total, true);
    return st;
}

enum clann_status clann__parity_run(struct clann_backend *be, const struct clann__parity_case *c,
                                    clann__parity_op op, const void *arg, float **res,
                                    size_t *canary, long *at)
{
    struct clann_buf bufs[CLANN__PARITY_MAX_TENSORS];
    struct clann_view views[CLANN__PARITY_MAX_TENSORS];
    float *host[CLANN__PARITY_MAX_TENSORS];
    enum clann_status st = CLANN_OK;
    memset(bufs, 0, sizeof bufs);
    memset(host, 0, sizeof host);
    *canary = c->nt;
    *at = 0;
    for (size_t t = 0; t < c->nt; t++) {
        res[t] = NULL;
        views[t] = clann__view(NULL, 0);
        if (!c->init[t] || st != CLANN_OK)
            continue;
        host[t] = clann__malloc((CLANN__PARITY_PRE + c->n[t] + CLANN__PARITY_POST) * sizeof(float));
        if (!host[t])
            st = clann__error(be->ctx, CLANN_ERR_NO_MEMORY, "parity: no memory for tensor %zu", t);
        else
            st = upload_tensor(be, c, t, host[t], &bufs[t]);
        views[t] = clann__view(&bufs[t], CLANN__PARITY_PRE);
    }
    if (st == CLANN_OK)
        st = op(be, views, arg);
    for (size_t t = 0; t < c->nt && st == CLANN_OK; t++) {
        if (!c->init[t])
            continue;
        size_t total = CLANN__PARITY_PRE + c->n[t] + CLANN__PARITY_POST;
        st = clann__op_download(be, host[t], clann__view(&bufs[t], 0), total);
        res[t] = st == CLANN_OK ? clann__malloc((c->n[t] ? c->n[t] : 1) * sizeof(float)) : NULL;
        if (st == CLANN_OK && !res[t])
            st = clann__error(be->ctx, CLANN_ERR_NO_MEMORY, "parity: no memory for a result");
        if (st != CLANN_OK)
            break;
        memcpy(res[t], host[t] + CLANN__PARITY_PRE, c->n[t] * sizeof(float));
        if (*canary == c->nt && broken_canary(host[t], c->n[t], at))
            *canary = t;
    }
    for (size_t t = 0; t < c->nt; t++) {
        clann__free(host[t]);
        clann__buf_destroy(&bufs[t]);
    }
    if (st != CLANN_OK)
        clann__parity_free(res, c->nt);
    return st;
}

bool clann__parity_special_match(float ref, float got)
{
    if (isnan(ref) || isnan(got))
        return isnan(ref) && isnan(got);
    if (isinf(ref) || isinf(got))
        return ref == got;
    return fabs((double)ref - got) <= 1e-5 * (1.0 + fabs((double)ref));
}

size_t clann__parity_first_mismatch(enum clann__parity_match how, const float *ref,
                                    const float *got, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool ok = how == CLANN__MATCH_BITS      ? memcmp(&ref[i], &got[i], sizeof(float)) == 0
                  : how == CLANN__MATCH_SPECIAL ? clann__parity_special_match(ref[i], got[i])
                                                : !isnan(ref[i]) && !isnan(got[i]);
        if (!ok)
            return i;
    }
    return n;
}

double clann__parity_nmse(enum clann__parity_match how, const float *ref, const float *got,
                          size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        bool finite = isfinite(ref[i]) && isfinite(got[i]);
        if (how == CLANN__MATCH_NMSE && (isnan(ref[i]) || isnan(got[i])))
            return INFINITY;
        if (how != CLANN__MATCH_NMSE && !finite)
            continue;
        double d = (double)ref[i] - got[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? num / den : num;
}
