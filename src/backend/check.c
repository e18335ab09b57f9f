/*
 * check.c - the op half of the device self-check (check.h): each case runs on the CPU reference
 * and on the device under test through the op-parity harness (parity.h) and becomes one entry
 * of the report. Inputs are U(-1, 1) from the Philox test stream unless an op needs another
 * range, so a failure reproduces; shapes are odd on purpose (1, 7, 65, 257, 1031, 100003: not
 * multiples of any work-group size) and every view sits at a nonzero offset.
 */
#include "backend/check.h"

#include "backend/op_cases.h"
#include "backend/ops.h"
#include "backend/parity.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 42u

enum clann_status clann__check_record(struct clann_check_report *r,
                                      const struct clann_check_entry *e)
{
    if ((r->count & (r->count + 1)) == 0 || r->count == 0) { /* grow at 0, 1, 3, 7, ... */
        size_t cap = 2 * r->count + 2;
        struct clann_check_entry *n = clann__realloc(r->entries, cap * sizeof *n);
        if (!n)
            return clann__error(NULL, CLANN_ERR_NO_MEMORY, "check: out of memory");
        r->entries = n;
    }
    r->entries[r->count++] = *e;
    if (!e->pass)
        r->failed++;
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Inputs: each case's arrays live in ck->pool until the case is compared.
 */
static float *pooled(struct clann__check *ck, size_t n)
{
    float *a = ck->npool < CLANN__CHECK_POOL ? clann__malloc((n ? n : 1) * sizeof *a) : NULL;
    if (!a) {
        ck->oom = true;
        return NULL;
    }
    ck->pool[ck->npool++] = a;
    return a;
}

static float *rnd(struct clann__check *ck, size_t n, float lo, float hi)
{
    float *a = pooled(ck, n);
    for (size_t i = 0; a && i < n; i++)
        a[i] = lo + (hi - lo) * clann__rng_uniform(SEED, CLANN__RNG_STREAM_TEST, ck->draw++);
    return a;
}

static float *constant(struct clann__check *ck, size_t n, float value)
{
    float *a = pooled(ck, n);
    for (size_t i = 0; a && i < n; i++)
        a[i] = value;
    return a;
}

/* NaN, infinities, signed zeros and values past every kink, cycled with a phase. */
static const float special_cycle[] = {NAN,  INFINITY, -INFINITY, 0.0f,  -0.0f, 0.5f,
                                      -0.5f, 6.0f,    7.0f,      -3.0f, 1e30f, -1e30f};
#define N_SPECIAL (sizeof special_cycle / sizeof special_cycle[0])

static float *special(struct clann__check *ck, size_t n, size_t phase)
{
    float *a = pooled(ck, n);
    for (size_t i = 0; a && i < n; i++)
        a[i] = special_cycle[(i + phase) % N_SPECIAL];
    return a;
}

static void pool_release(struct clann__check *ck)
{
    for (size_t i = 0; i < ck->npool; i++)
        clann__free(ck->pool[i]);
    ck->npool = 0;
}

/* ---------------------------------------------------------------------------------------------
 * One case: the reference, the device, one entry (the worst tensor).
 */
static void judge(enum clann__parity_match how, const struct clann__parity_case *c, float **ref,
                  float **got, struct clann_check_entry *e)
{
    for (size_t t = 0; t < c->nt && e->pass; t++) {
        if (!c->init[t])
            continue;
        size_t i = clann__parity_first_mismatch(how, ref[t], got[t], c->n[t]);
        if (i < c->n[t]) {
            size_t diff = 0;
            for (size_t j = i; j < c->n[t]; j++)
                diff += clann__parity_first_mismatch(how, ref[t] + j, got[t] + j, 1) == 0;
            e->error = how == CLANN__MATCH_BITS ? (double)diff : INFINITY;
            e->pass = false;
            snprintf(e->detail, sizeof e->detail,
                     "tensor %zu differs at %zu: reference %.9g, device %.9g (%zu values)", t, i,
                     (double)ref[t][i], (double)got[t][i], diff);
            return;
        }
        if (how == CLANN__MATCH_BITS)
            continue;
        double err = clann__parity_nmse(how, ref[t], got[t], c->n[t]);
        if (err > e->error)
            e->error = err;
        if (err > e->tolerance) {
            e->pass = false;
            snprintf(e->detail, sizeof e->detail, "tensor %zu: NMSE %.3g > %.3g", t, err,
                     e->tolerance);
        }
    }
}

static enum clann_status compare(struct clann__check *ck, enum clann__parity_match how,
                                 const char *op, const char *shape,
                                 const struct clann__parity_case *c, clann__parity_op fn,
                                 const void *arg)
{
    struct clann_check_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.op, sizeof e.op, "%s%s", op, ck->tag);
    snprintf(e.shape, sizeof e.shape, "%s", shape);
    e.tolerance = how == CLANN__MATCH_BITS ? 0.0 : CLANN__PARITY_NMSE_MAX;
    e.pass = true;
    if (ck->oom) {
        pool_release(ck);
        ck->oom = false;
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "check: out of memory");
    }
    float *ref[CLANN__PARITY_MAX_TENSORS], *got[CLANN__PARITY_MAX_TENSORS];
    size_t canary;
    long at;
    enum clann_status st = clann__parity_run(ck->ref->be, c, fn, arg, ref, &canary, &at);
    if (st != CLANN_OK) {
        pool_release(ck);
        return st;
    }
    st = clann__parity_run(ck->dev->be, c, fn, arg, got, &canary, &at);
    if (st != CLANN_OK) { /* a device error is a finding, not the end of the check */
        e.pass = false;
        e.error = INFINITY;
        snprintf(e.detail, sizeof e.detail, "%s: %s", clann_status_name(st),
                 clann_context_last_error(ck->dev));
    } else if (canary < c->nt) {
        e.pass = false;
        e.error = INFINITY;
        snprintf(e.detail, sizeof e.detail, "tensor %zu written outside its view at %ld",
                 canary, at);
    } else {
        judge(how, c, ref, got, &e);
    }
    clann__parity_free(ref, c->nt);
    clann__parity_free(got, c->nt);
    pool_release(ck);
    return clann__check_record(ck->report, &e);
}

#define TRY(x)                                                                                    \
    do {                                                                                          \
        enum clann_status try_st_ = (x);                                                          \
        if (try_st_ != CLANN_OK)                                                                  \
            return try_st_;                                                                       \
    } while (0)

static const size_t sizes_full[] = {1, 7, 64, 65, 257, 1031, 100003};
static const size_t sizes_quick[] = {7, 65, 1031};
static const size_t shapes_full[][2] = {{1, 1}, {1, 7},  {7, 65},  {65, 7},
                                        {257, 10}, {3, 257}, {257, 65}};
static const size_t shapes_quick[][2] = {{7, 65}, {65, 7}};

#define FOR_SIZES(ck, n)                                                                          \
    for (size_t si_ = 0, n;                                                                       \
         si_ < ((ck)->quick ? sizeof sizes_quick : sizeof sizes_full) / sizeof(size_t) &&         \
         ((n = (ck)->quick ? sizes_quick[si_] : sizes_full[si_]), 1);                            \
         si_++)
#define FOR_SHAPES(ck, rows, cols)                                                                \
    for (size_t sh_ = 0, rows, cols;                                                              \
         sh_ < ((ck)->quick ? sizeof shapes_quick : sizeof shapes_full) / sizeof(size_t[2]) &&    \
         ((rows = (ck)->quick ? shapes_quick[sh_][0] : shapes_full[sh_][0]),                      \
          (cols = (ck)->quick ? shapes_quick[sh_][1] : shapes_full[sh_][1]), 1);                  \
         sh_++)

/* ---------------------------------------------------------------------------------------------
 * Element-wise ops and reductions.
 */
static enum clann_status do_count_zero(struct clann_backend *be, struct clann_view *v,
                                       const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_count_zero(be, v[0], a->n, v[1], a->b);
}
static enum clann_status do_uniform(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_rng_uniform(be, v[0], a->n, a->key, a->a, a->b);
}
static enum clann_status do_normal(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_rng_normal(be, v[0], a->n, a->key, a->a, a->b);
}
static enum clann_status check_elementwise(struct clann__check *ck)
{
    char shape[48];
    FOR_SIZES(ck, n) {
        struct scalar_args a = {n, 0.75f, 0.0f, {0, 0, 0}};
        snprintf(shape, sizeof shape, "n=%zu", n);
        struct clann__parity_case c1 = {1, {n}, {rnd(ck, n, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "fill", shape, &c1, clann__case_fill, &a));
        struct clann__parity_case c2 = {2, {n, n}, {rnd(ck, n, -1, 1), rnd(ck, n, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "copy", shape, &c2, clann__case_copy, &a));
        a.a = -2.5f;
        struct clann__parity_case c3 = {2, {n, n}, {rnd(ck, n, -1, 1), rnd(ck, n, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "axpy", shape, &c3, clann__case_axpy, &a));
        a.a = 0.5f;
        struct clann__parity_case c4 = {1, {n}, {rnd(ck, n, -3, 3)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "clip_by_value", shape, &c4,
                    clann__case_clip_value, &a));
        a.a = 1.0f;
        struct clann__parity_case c5 = {2, {n, 1}, {rnd(ck, n, -1, 1), constant(ck, 1, 9.0f)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "clip_by_norm", shape, &c5, clann__case_clip_norm, &a));
        /* reductions: beta 0 over NaN must overwrite, beta 2.5 accumulates */
        static const struct {
            const char *name;
            clann__parity_op fn;
        } reductions[] = {{"sum", clann__case_sum}, {"sum_squares", clann__case_sum_squares},
                          {"sum_abs", clann__case_sum_abs}, {"count_zero", do_count_zero}};
        for (size_t r = 0; r < sizeof reductions / sizeof *reductions; r++) {
            for (int b = 0; b < 2; b++) {
                struct scalar_args ra = {n, 0.5f, b ? 2.5f : 0.0f, {0, 0, 0}};
                float *x = rnd(ck, n, -1, 1);
                for (size_t i = 0; x && i < n; i += 3)
                    x[i] = r == 3 ? 0.0f : x[i]; /* zeros to count */
                struct clann__parity_case c = {2, {n, 1}, {x, constant(ck, 1, b ? 0.5f : NAN)}};
                char op[48];
                snprintf(op, sizeof op, "%s beta=%g", reductions[r].name, b ? 2.5 : 0.0);
                TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, reductions[r].fn, &ra));
            }
        }
        struct scalar_args da = {n, 0.3f, 0, {7, CLANN__RNG_STREAM_DROPOUT, 13}};
        struct clann__parity_case c6 = {2, {n, n}, {rnd(ck, n, -1, 1), rnd(ck, n, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "dropout rate=0.3", shape, &c6,
                    clann__case_dropout, &da));
        struct scalar_args ta = {n, 0.25f, 0, {0, 0, 0}};
        struct clann__parity_case c7 = {2, {n, 1}, {rnd(ck, n, -1, 1), constant(ck, 1, 0)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "soft_threshold", shape, &c7,
                    clann__case_soft_threshold, &ta));
        struct scalar_args tv = {n, 2e-4f, 1e-6f, {0, 0, 0}};
        struct clann__parity_case c7v = {3, {n, n, 1}, {rnd(ck, n, -1, 1), rnd(ck, n, 0, 1e-4f),
                                                        constant(ck, 1, 0)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "soft_threshold per weight", shape, &c7v,
                    clann__case_soft_threshold_v, &tv));
        struct scalar_args na = {n, 0.1f, 0, {1234, CLANN__RNG_STREAM_NOISE, UINT64_C(0x100000003)}};
        struct clann__parity_case c8 = {1, {n}, {rnd(ck, n, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_BITS, "add_noise", shape, &c8, clann__case_add_noise, &na));
    }
    struct scalar_args sa = {N_SPECIAL, 0.5f, 0, {0, 0, 0}};
    struct clann__parity_case cs = {1, {N_SPECIAL}, {special(ck, N_SPECIAL, 0)}};
    TRY(compare(ck, CLANN__MATCH_SPECIAL, "clip_by_value special", "n=12", &cs,
                clann__case_clip_value, &sa));
    struct clann__parity_case ct = {2, {N_SPECIAL, 1}, {special(ck, N_SPECIAL, 0), NULL}};
    TRY(compare(ck, CLANN__MATCH_SPECIAL, "soft_threshold special", "n=12", &ct,
                clann__case_soft_threshold, &sa));
    /* the NaN guard: a non-finite sum flags the step once; a flagged step is not accumulated */
    for (int bad = 0; bad < 2; bad++) {
        struct scalar_args ga = {1, 17.0f, 0, {0, 0, 0}};
        struct clann__parity_case g = {2, {1, 1}, {constant(ck, 1, bad ? INFINITY : 3.0f),
                                                   constant(ck, 1, 0)}};
        TRY(compare(ck, CLANN__MATCH_SPECIAL, bad ? "guard_check inf" : "guard_check finite",
                    "n=1", &g, clann__case_guard_check, &ga));
        struct clann__parity_case u = {3, {1, 1, 1}, {constant(ck, 1, 2.5f),
                                                      constant(ck, 1, 4.0f),
                                                      constant(ck, 1, bad ? 1.0f : 0.0f)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, bad ? "accumulate_unless flagged" : "accumulate_unless",
                    "n=1", &u, clann__case_accumulate_unless, &ga));
        /* a third skip in a row passes the limit 2 and marks the stop; a clean step resets */
        struct scalar_args sk = {1, 2.0f, 17.0f, {0, 0, 0}};
        struct clann__parity_case k = {3, {1, 1, 1}, {constant(ck, 1, bad ? 1.0f : 0.0f),
                                                      constant(ck, 1, 2.0f),
                                                      constant(ck, 1, 0.0f)}};
        TRY(compare(ck, CLANN__MATCH_SPECIAL, bad ? "guard_skip flagged" : "guard_skip clean",
                    "n=1", &k, clann__case_guard_skip, &sk));
        /* the fused guard of a step: the squares' sum, both checks, the loss accumulation */
        FOR_SIZES(ck, n) {
            struct scalar_args fa = {n, 17.0f, 0, {0, 0, 0}};
            float *x = rnd(ck, n, -1, 1);
            if (x && bad)
                x[n / 2] = NAN;
            struct clann__parity_case f = {5, {n, 1, 1, 1, 1},
                                           {x, constant(ck, 1, 0), constant(ck, 1, 2.5f),
                                            constant(ck, 1, 0), constant(ck, 1, 4.0f)}};
            snprintf(shape, sizeof shape, "n=%zu", n);
            TRY(compare(ck, CLANN__MATCH_SPECIAL, bad ? "guard_grads nan" : "guard_grads", shape,
                        &f, clann__case_guard_grads, &fa));
        }
    }
    return CLANN_OK;
}

/* The random streams bit for bit: offsets that are not multiples of the Philox block and one
 * past 2^32 (the device compilers must honour FP_CONTRACT OFF). */
static enum clann_status check_rng(struct clann__check *ck)
{
    static const struct clann_rng_key keys[] = {
        {0, 0, 0}, {42, 1, 5}, {UINT64_C(0xdeadbeefcafef00d), 3, 1003},
        {7, 15, UINT64_C(0x100000003)}};
    size_t n = ck->quick ? 65537 : 1000003;
    char shape[48];
    snprintf(shape, sizeof shape, "n=%zu", n);
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        for (int normal = 0; normal < 2; normal++) {
            struct scalar_args a = {n, normal ? 0.0f : -2.0f, normal ? 1.0f : 3.0f, keys[k]};
            struct clann__parity_case c = {1, {n}, {constant(ck, n, 0)}};
            char op[64];
            snprintf(op, sizeof op, "rng_%s seed=%llx offset=%llu", normal ? "normal" : "uniform",
                     (unsigned long long)keys[k].seed, (unsigned long long)keys[k].offset);
            TRY(compare(ck, CLANN__MATCH_BITS, op, shape, &c, normal ? do_normal : do_uniform,
                        &a));
        }
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Layer ops: activations forward and backward, column sums, column gathers.
 */

/* Forward (with bias, training) and backward of one activation kind on a rows x cols batch;
 * special: z, y and dy cycle through NaN, infinities and the kinks. */
static enum clann_status check_act(struct clann__check *ck, int kind, size_t rows, size_t cols,
                                   bool special_values)
{
    char op[64], shape[48];
    const char *name = clann__kind_name(&clann__activation_kinds, (size_t)kind);
    size_t n = rows * cols;
    enum clann__parity_match how = special_values ? CLANN__MATCH_SPECIAL : CLANN__MATCH_NMSE;
    float scale = kind == CLANN__ACT_RELU6 ? 8.0f : 3.0f;
    struct act_args a = {clann__case_act(kind, true), rows, cols, 0};
    snprintf(shape, sizeof shape, "%zux%zu", rows, cols);
    struct clann__parity_case f = {
        4, {n, cols, cols, n},
        {special_values ? special(ck, n, 0) : rnd(ck, n, -scale, scale), rnd(ck, cols, -1, 1),
         kind == CLANN__ACT_PRELU ? rnd(ck, cols, 0, 0.5f) : NULL, rnd(ck, n, -1, 1)}};
    snprintf(op, sizeof op, "bias_act_forward %s%s", name, special_values ? " special" : "");
    TRY(compare(ck, how, op, shape, &f, clann__case_forward, &a));
    struct clann__parity_case b = {
        5, {n, n, n, cols, n},
        {special_values ? special(ck, n, 0) : rnd(ck, n, -scale, scale),
         special_values ? special(ck, n, 5) : rnd(ck, n, 0.01f, 0.99f),
         special_values ? special(ck, n, 3) : rnd(ck, n, -1, 1),
         kind == CLANN__ACT_PRELU ? rnd(ck, cols, 0, 0.5f) : NULL, rnd(ck, n, -1, 1)}};
    snprintf(op, sizeof op, "act_backward %s%s", name, special_values ? " special" : "");
    return compare(ck, how, op, shape, &b, clann__case_backward, &a);
}

static enum clann_status check_layers(struct clann__check *ck)
{
    char shape[48];
    for (int kind = 0; kind < CLANN__ACT_COUNT; kind++) {
        FOR_SHAPES(ck, rows, cols)
            TRY(check_act(ck, kind, rows, cols, false));
        TRY(check_act(ck, kind, 12, 5, true));
    }
    FOR_SHAPES(ck, rows, cols) {
        size_t n = rows * cols;
        struct act_args a = {clann__case_act(0, false), rows, cols, 2.5f};
        snprintf(shape, sizeof shape, "%zux%zu", rows, cols);
        struct clann__parity_case c = {2, {n, cols}, {rnd(ck, n, -1, 1), rnd(ck, cols, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "col_sum", shape, &c, clann__case_col_sum, &a));
        struct clann__parity_case p = {3, {n, n, cols}, {rnd(ck, n, -1, 1), rnd(ck, n, -1, 1),
                                                         rnd(ck, cols, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "prelu_grad", shape, &p, clann__case_prelu_grad, &a));
    }
    return CLANN_OK;
}

/* Sampled softmax's column gather and scatter: every 3rd column from the far end. */
static enum clann_status check_index_cols(struct clann__check *ck)
{
    static const size_t dims[][2] = {{1, 7}, {7, 65}, {64, 257}, {257, 1031}};
    char op[48], shape[48];
    for (size_t s = ck->quick ? 2 : 0; s < sizeof dims / sizeof *dims; s++) {
        size_t rows = dims[s][0], width = dims[s][1], n = (width + 2) / 3;
        for (int scatter = 0; scatter < 2; scatter++) {
            struct index_args a = {rows, width, n, scatter != 0};
            size_t ns = rows * (scatter ? n : width), nd = rows * (scatter ? width : n);
            float *idx = pooled(ck, n);
            for (size_t j = 0; idx && j < n; j++)
                idx[j] = (float)(width - 1 - 3 * j);
            struct clann__parity_case c = {3, {ns, nd, n}, {rnd(ck, ns, -1, 1),
                                                            rnd(ck, nd, -1, 1), idx}};
            snprintf(op, sizeof op, "index_cols %s", scatter ? "scatter" : "gather");
            snprintf(shape, sizeof shape, "%zux%zu n=%zu", rows, width, n);
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_index_cols, &a));
        }
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Losses, accuracy counts and optimizers.
 */
/* Labels for a loss kind: a class index per row (sparse; NCE, then a 0/1 flag per column), a
 * distribution per row (softmax CE), 0..1 (sigmoid CE), else U(-1, 1). */
static float *labels_for(struct clann__check *ck, int kind, size_t rows, size_t cols)
{
    if (kind == CLANN__LOSS_SPARSE_SOFTMAX_CE || kind == CLANN__LOSS_NCE) {
        float *l = rnd(ck, kind == CLANN__LOSS_NCE ? rows + cols : rows, 0, 1);
        for (size_t r = 0; l && r < rows; r++) {
            size_t k = (size_t)(l[r] * (float)cols);
            l[r] = (float)(k < cols ? k : cols - 1);
        }
        for (size_t c = 0; l && kind == CLANN__LOSS_NCE && c < cols; c++)
            l[rows + c] = l[rows + c] > 0.5f ? 1.0f : 0.0f;
        return l;
    }
    float *l = rnd(ck, rows * cols, kind == CLANN__LOSS_SOFTMAX_CE ? 0.01f : 0.0f, 1);
    if (kind == CLANN__LOSS_SOFTMAX_CE) {
        for (size_t r = 0; l && r < rows; r++) {
            double s = 0;
            for (size_t c = 0; c < cols; c++)
                s += l[r * cols + c];
            for (size_t c = 0; c < cols; c++)
                l[r * cols + c] = (float)(l[r * cols + c] / s);
        }
    } else if (kind != CLANN__LOSS_SIGMOID_CE) {
        for (size_t i = 0; l && i < rows * cols; i++)
            l[i] = 2 * l[i] - 1;
    }
    return l;
}

static enum clann_status check_losses(struct clann__check *ck)
{
    char op[64], shape[48];
    for (int kind = 0; kind < CLANN__LOSS_COUNT; kind++) {
        if (!clann__loss_computed(kind))
            continue;
        FOR_SHAPES(ck, rows, cols) {
            size_t n = rows * cols;
            bool sparse = kind == CLANN__LOSS_SPARSE_SOFTMAX_CE;
            size_t n_labels = sparse ? rows : kind == CLANN__LOSS_NCE ? rows + cols : n;
            struct loss_args a = {{(enum clann__loss_kind)kind, 0.5f}, rows, cols,
                                  1.0f / (float)rows, clann__case_count_rule(kind), 0.0f};
            struct clann__parity_case c = {4, {n, n_labels, rows, n},
                                           {rnd(ck, n, -4, 4), labels_for(ck, kind, rows, cols),
                                            rnd(ck, rows, -1, 1), rnd(ck, n, -1, 1)}};
            snprintf(op, sizeof op, "loss %s", clann__kind_name(&clann__loss_kinds, (size_t)kind));
            snprintf(shape, sizeof shape, "%zux%zu", rows, cols);
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_loss, &a));
            /* the fused form a training step takes: sum over NaN (beta 0) and the count */
            struct clann__parity_case b = {6, {n, n_labels, rows, n, 1, 1},
                                           {rnd(ck, n, -4, 4), labels_for(ck, kind, rows, cols),
                                            rnd(ck, rows, -1, 1), rnd(ck, n, -1, 1),
                                            constant(ck, 1, NAN), constant(ck, 1, 3.0f)}};
            snprintf(op, sizeof op, "loss_batch %s",
                     clann__kind_name(&clann__loss_kinds, (size_t)kind));
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &b, clann__case_loss_batch, &a));
        }
    }
    static const char *const modes[] = {"sparse", "dense", "binary", "multilabel"};
    static const int rules[] = {CLANN__COUNT_SPARSE, CLANN__COUNT_ARGMAX, CLANN__COUNT_ARGMAX,
                                CLANN__COUNT_MULTILABEL};
    FOR_SHAPES(ck, rows, cols0) {
        for (int mode = 0; mode < 4; mode++) {
            size_t cols = mode == 2 ? 1 : cols0, n = rows * cols;
            bool dense = mode == 1 || mode == 3;
            struct loss_args a = {{CLANN__LOSS_MSE, 0}, rows, cols, 1.0f, rules[mode], 0.0f};
            float *labels = mode == 0 ? labels_for(ck, CLANN__LOSS_SPARSE_SOFTMAX_CE, rows, cols)
                                      : rnd(ck, dense ? n : rows, -1, 1);
            for (size_t i = 0; mode >= 2 && labels && i < (dense ? n : rows); i++)
                labels[i] = labels[i] > 0 ? 1.0f : 0.0f;
            float *pred = rnd(ck, n, -1, 1);
            for (size_t r = 0; mode == 0 && pred && labels && r < rows; r += 2)
                pred[r * cols + (size_t)labels[r]] = 2.0f; /* some rows right */
            for (size_t i = 0; mode == 3 && pred && labels && i < n; i++)
                if ((i / cols) % 2 == 0) /* even rows exactly right */
                    pred[i] = labels[i] > 0.5f ? fabsf(pred[i]) + 0.5f : -fabsf(pred[i]) - 0.5f;
            struct clann__parity_case c = {3, {n, dense ? n : rows, 1},
                                           {pred, labels, constant(ck, 1, 3.0f)}};
            snprintf(op, sizeof op, "count_correct %s", modes[mode]);
            snprintf(shape, sizeof shape, "%zux%zu", rows, cols);
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_count, &a));
        }
    }
    return CLANN_OK;
}

static enum clann_status check_optimizers(struct clann__check *ck)
{
    char op[64], shape[48];
    for (int kind = 0; kind < CLANN__OPT_COUNT; kind++) {
        for (int nesterov = 0; nesterov < 2; nesterov++) {
            if (nesterov && kind != CLANN__OPT_MOMENTUM)
                continue;
            FOR_SIZES(ck, n) {
                struct opt_args a;
                memset(&a, 0, sizeof a);
                a.opt = (struct clann_opt){.kind = (enum clann__opt_kind)kind, .lr = 0.05f,
                                           .momentum = 0.9f, .nesterov = nesterov, .beta1 = 0.9f,
                                           .beta2 = 0.999f, .eps = 1e-7f, .rho = 0.9f,
                                           .initial_accumulator = 0.1f, .step = 3};
                a.n = n;
                struct clann__parity_case c = {
                    4, {n, n, n, n},
                    {rnd(ck, n, -1, 1), rnd(ck, n, -1, 1),
                     kind == CLANN__OPT_SGD ? NULL : rnd(ck, n, 0, 1),
                     kind == CLANN__OPT_ADAM ? rnd(ck, n, 0, 1) : NULL}};
                snprintf(op, sizeof op, "optimizer_step %s%s",
                         clann__kind_name(&clann__optimizer_kinds, (size_t)kind),
                         nesterov ? " nesterov" : "");
                snprintf(shape, sizeof shape, "n=%zu", n);
                TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_opt, &a));
            }
        }
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Constraints, batch normalization, the feature layer's gathers.
 */
static enum clann_status do_constrain(struct clann_backend *be, struct clann_view *v,
                                      const void *p)
{
    const struct constrain_args *a = p;
    return clann__op_constrain(be, &a->op, v[0], a->rows, a->cols, v[1]);
}

/* Channel batch norm and spatial dropout: rows images of cols channels of 5 positions. */
static enum clann_status check_channel_ops(struct clann__check *ck, size_t rows, size_t cols)
{
    enum { SPATIAL = 5 };
    size_t n = rows * cols * SPATIAL;
    char shape[48];
    snprintf(shape, sizeof shape, "%zux%zux%d", rows, cols, (int)SPATIAL);
    struct spatial_bn_args a = {{rows, cols, 0.9f, 1e-3f, true}, SPATIAL};
    struct clann__parity_case c = {6, {n, n, cols, cols, 3 * cols, 2 * cols},
                                   {rnd(ck, n, 1, 3), rnd(ck, n, -1, 1),
                                    rnd(ck, cols, 0.5f, 1.5f), rnd(ck, cols, -1, 1),
                                    rnd(ck, 3 * cols, 0.5f, 2), rnd(ck, 2 * cols, 0.2f, 1.2f)}};
    TRY(compare(ck, CLANN__MATCH_NMSE, "batchnorm_forward channels", shape, &c,
                clann__case_spatial_bn_forward, &a));
    struct clann__parity_case b = {8, {n, n, cols, cols, cols, n, cols, cols},
                                   {rnd(ck, n, 1, 3), rnd(ck, n, -1, 1),
                                    rnd(ck, cols, 0.5f, 1.5f), rnd(ck, cols, 1.8f, 2.2f),
                                    rnd(ck, cols, 1, 2), rnd(ck, n, -1, 1),
                                    rnd(ck, cols, -1, 1), rnd(ck, cols, -1, 1)}};
    TRY(compare(ck, CLANN__MATCH_NMSE, "batchnorm_backward channels", shape, &b,
                clann__case_spatial_bn_backward, &a));
    struct spatial_dropout_args da = {{n, 0.3f, 0, {7, CLANN__RNG_STREAM_DROPOUT, 13}}, SPATIAL};
    struct clann__parity_case d = {2, {n, n}, {rnd(ck, n, -1, 1), rnd(ck, n, -1, 1)}};
    return compare(ck, CLANN__MATCH_NMSE, "dropout spatial", shape, &d,
                   clann__case_spatial_dropout, &da);
}

/* Batch norm across ranks (nn/batchnorm_dist.c), dense (spatial 1) and per channel (spatial 5):
 * this rank's sums, plain (no center) and centered, and dx from sums over a batch three times
 * this rank's rows (count), as when two other ranks hold the rest. */
static enum clann_status check_bn_dist(struct clann__check *ck, size_t rows, size_t ch)
{
    static const size_t spatials[] = {1, 5};
    char op[64], shape[48];
    for (size_t k = 0; k < sizeof spatials / sizeof *spatials; k++) {
        size_t sp = spatials[k], n = rows * ch * sp;
        const char *form = sp > 1 ? " channels" : "";
        int len = snprintf(shape, sizeof shape, "%zux%zu", rows, ch);
        if (sp > 1)
            snprintf(shape + len, sizeof shape - (size_t)len, "x%zu", sp);
        for (int centered = 0; centered < 2; centered++) {
            struct bn_dist_args a = {rows, ch, sp, 0.0f, centered != 0};
            struct clann__parity_case c = {3, {n, ch, ch},
                                           {rnd(ck, n, 1, 3),
                                            centered ? rnd(ck, ch, 1.5f, 2.5f) : NULL,
                                            rnd(ck, ch, -1, 1)}};
            snprintf(op, sizeof op, "batchnorm_sums%s%s", centered ? " centered" : "", form);
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_bn_sums, &a));
        }
        /* dgamma and dbeta of the size of count * dy, so that an error in any of the three
         * terms of dx shows */
        float count = (float)(3 * rows * sp);
        struct bn_dist_args a = {rows, ch, sp, count, false};
        struct clann__parity_case b = {8, {n, n, ch, ch, ch, ch, ch, n},
                                       {rnd(ck, n, 1, 3), rnd(ck, n, -1, 1),
                                        rnd(ck, ch, 0.5f, 1.5f), rnd(ck, ch, 1.8f, 2.2f),
                                        rnd(ck, ch, 1, 2), rnd(ck, ch, -count, count),
                                        rnd(ck, ch, -count, count), rnd(ck, n, -1, 1)}};
        snprintf(op, sizeof op, "batchnorm_dx%s", form);
        TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &b, clann__case_bn_dx, &a));
    }
    return CLANN_OK;
}

static enum clann_status check_regularize(struct clann__check *ck)
{
    static const struct clann_constraint_op kinds[] = {
        {CLANN__CONSTRAINT_MAX_NORM, 0, 0.9f, 0},
        {CLANN__CONSTRAINT_MIN_MAX_NORM, 0.3f, 0.9f, 0.5f},
        {CLANN__CONSTRAINT_UNIT_NORM, 0, 0, 0},
        {CLANN__CONSTRAINT_NON_NEG, 0, 0, 0}};
    char op[64], shape[48];
    FOR_SHAPES(ck, rows, cols) {
        size_t n = rows * cols;
        snprintf(shape, sizeof shape, "%zux%zu", rows, cols);
        for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
            struct constrain_args a = {kinds[k], rows, cols};
            struct clann__parity_case c = {2, {n, 1}, {rnd(ck, n, -1, 1), constant(ck, 1, 0)}};
            snprintf(op, sizeof op, "constrain %s",
                     clann__kind_name(&clann__constraint_kinds, (size_t)kinds[k].kind));
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, do_constrain, &a));
        }
        for (int training = 0; training < 2; training++) {
            struct bn_args a = {rows, cols, 0.9f, 1e-3f, training != 0};
            float *running = rnd(ck, 2 * cols, 0.2f, 1.2f);
            struct clann__parity_case c = {6, {n, n, cols, cols, 3 * cols, 2 * cols},
                                           {rnd(ck, n, 1, 3), rnd(ck, n, -1, 1),
                                            rnd(ck, cols, 0.5f, 1.5f), rnd(ck, cols, -1, 1),
                                            rnd(ck, 3 * cols, 0.5f, 2), running}};
            snprintf(op, sizeof op, "batchnorm_forward %s", training ? "training" : "inference");
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_bn_forward, &a));
        }
        struct bn_args a = {rows, cols, 0.9f, 1e-3f, true};
        struct clann__parity_case m = {3, {n, n, 1}, {rnd(ck, n, -1, 1), rnd(ck, n, 0, 2),
                                                      constant(ck, 1, 0)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "moving_average", shape, &m,
                    clann__case_moving_average, &a));
        struct clann__parity_case b = {8, {n, n, cols, cols, cols, n, cols, cols},
                                       {rnd(ck, n, 1, 3), rnd(ck, n, -1, 1),
                                        rnd(ck, cols, 0.5f, 1.5f), rnd(ck, cols, 1.8f, 2.2f),
                                        rnd(ck, cols, 1, 2), rnd(ck, n, -1, 1),
                                        rnd(ck, cols, -1, 1), rnd(ck, cols, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "batchnorm_backward", shape, &b,
                    clann__case_bn_backward, &a));
        TRY(check_channel_ops(ck, rows, cols));
        TRY(check_bn_dist(ck, rows, cols));
    }
    TRY(check_bn_dist(ck, 65, 1)); /* one channel (the shapes have it only in full, of 1 row) */
    struct constrain_args na = {kinds[3], 3, 4};
    struct clann__parity_case s = {2, {12, 1}, {special(ck, 12, 0), NULL}};
    return compare(ck, CLANN__MATCH_SPECIAL, "constrain non_neg special", "3x4", &s,
                   do_constrain, &na);
}

/* Ids for rows x width slots from U(-1.5, n_ids + 2) floored: every 4th slot a pad (-1), some
 * past the table's end; both are skipped. */
static float *embed_ids(struct clann__check *ck, size_t n, size_t n_ids)
{
    float *ids = rnd(ck, n, -1.5f, (float)n_ids + 2);
    for (size_t i = 0; ids && i < n; i++)
        ids[i] = i % 4 == 3 ? -1.0f : floorf(ids[i]);
    return ids;
}

/* A batch of ids and its index (clann__case_embedding_index) into a's sizes; out of memory,
 * an empty index (compare reports the failure). */
static void embed_batch(struct clann__check *ck, struct embed_args *a, float **ids, float **uniq,
                        float **offsets, float **occ)
{
    size_t slots = a->rows * a->width;
    *ids = embed_ids(ck, slots, a->n_ids);
    *uniq = pooled(ck, slots);
    *offsets = pooled(ck, slots + 1);
    *occ = pooled(ck, slots);
    a->n_unique = a->n_occ = 0;
    if (*ids && *uniq && *offsets && *occ)
        a->n_unique = clann__case_embedding_index(*ids, a->rows, a->width, a->n_ids, *uniq,
                                                  *offsets, *occ, &a->n_occ);
}

/* The gradient's scatter-add with a's combiner. */
static enum clann_status embed_backward(struct clann__check *ck, struct embed_args *a,
                                        const char *shape)
{
    static const char *const combiners[] = {"mean", "sum", "sqrtn"};
    size_t slots = a->rows * a->width;
    float *ids, *uniq, *offsets, *occ;
    embed_batch(ck, a, &ids, &uniq, &offsets, &occ);
    struct clann__parity_case c = {5, {a->rows * a->dim, slots, a->n_unique + 1, a->n_occ,
                                       a->n_unique * a->dim},
                                   {rnd(ck, a->rows * a->dim, -1, 1), ids, offsets, occ,
                                    rnd(ck, a->n_unique * a->dim, -1, 1)}};
    char op[64];
    snprintf(op, sizeof op, "embedding_backward %s", combiners[a->combiner]);
    return compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_embedding_backward, a);
}

/* The sparse update of the rows a batch used, with every optimizer (the others untouched); a
 * set NaN guard must leave table and state as they were. */
static enum clann_status embed_update(struct clann__check *ck, struct embed_args *a,
                                      const char *shape)
{
    for (int kind = 0; kind < CLANN__OPT_COUNT; kind++) {
        for (int variant = 0; variant < 3; variant++) { /* nesterov (momentum), guard set */
            if (variant == 1 && kind != CLANN__OPT_MOMENTUM)
                continue;
            if (variant == 2 && kind != CLANN__OPT_ADAM)
                continue;
            a->opt = (struct clann_opt){.kind = (enum clann__opt_kind)kind, .lr = 0.05f,
                                        .momentum = 0.9f, .nesterov = variant == 1,
                                        .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f,
                                        .rho = 0.9f, .initial_accumulator = 0.1f, .step = 3};
            size_t nt = a->n_ids * a->dim;
            float *ids, *uniq, *offsets, *occ;
            embed_batch(ck, a, &ids, &uniq, &offsets, &occ);
            struct clann__parity_case c = {
                6, {nt, nt, nt, a->n_unique, a->n_unique * a->dim, 1},
                {rnd(ck, nt, -1, 1), kind == CLANN__OPT_SGD ? NULL : rnd(ck, nt, 0, 1),
                 kind == CLANN__OPT_ADAM ? rnd(ck, nt, 0, 1) : NULL, uniq,
                 rnd(ck, a->n_unique * a->dim, -1, 1), constant(ck, 1, variant == 2 ? 1.0f : 0)}};
            char op[64];
            snprintf(op, sizeof op, "embedding_update %s%s",
                     clann__kind_name(&clann__optimizer_kinds, (size_t)kind),
                     variant == 1 ? " nesterov" : variant == 2 ? " guard set" : "");
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_embedding_update, a));
        }
    }
    return CLANN_OK;
}

/* The feature layer: embedding gathers with every combiner (ids with pads and out-of-range
 * values, which are skipped) and the indicator form, the gradient's scatter-add with every
 * combiner, the sparse update with every optimizer, and the column copy of numeric features. */
static enum clann_status check_embedding(struct clann__check *ck)
{
    static const char *const combiners[] = {"mean", "sum", "sqrtn"};
    const size_t rows = ck->quick ? 65 : 257, width = 5, n_ids = 1031, dim = 7;
    char op[64], shape[48];
    snprintf(shape, sizeof shape, "%zux%zu ids=%zu dim=%zu", rows, width, n_ids, dim);
    for (int table = 0; table < 2; table++) {
        for (int comb = 0; comb < 3; comb++) {
            size_t d = table ? dim : n_ids;
            struct embed_args a = {.rows = rows, .width = width, .n_ids = n_ids,
                                   .dim = d, .combiner = (enum clann_combiner)comb};
            struct clann__parity_case c = {3, {rows * width, n_ids * dim, rows * d},
                                           {embed_ids(ck, rows * width, n_ids),
                                            table ? rnd(ck, n_ids * dim, -1, 1) : NULL,
                                            rnd(ck, rows * d, -1, 1)}};
            snprintf(op, sizeof op, "embedding_forward %s%s", combiners[comb],
                     table ? "" : " indicator");
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &c, clann__case_embedding_forward,
                        &a));
        }
    }
    /* a small table, so that ids repeat within and across rows */
    const size_t few = 37;
    snprintf(shape, sizeof shape, "%zux%zu ids=%zu dim=%zu", rows, width, few, dim);
    for (int comb = 0; comb < 3; comb++) {
        struct embed_args a = {.rows = rows, .width = width, .n_ids = few,
                               .dim = dim, .combiner = (enum clann_combiner)comb};
        TRY(embed_backward(ck, &a, shape));
    }
    struct embed_args u = {.rows = rows, .width = width, .n_ids = few, .dim = dim};
    TRY(embed_update(ck, &u, shape));
    struct embed_args a = {.rows = rows, .width = 2 * dim + 1, .n_ids = 0, .dim = dim};
    struct clann__parity_case c = {2, {rows * (2 * dim + 1), rows * dim},
                                   {rnd(ck, rows * (2 * dim + 1), -1, 1),
                                    rnd(ck, rows * dim, -1, 1)}};
    snprintf(shape, sizeof shape, "%zux%zu of %zu", rows, dim, 2 * dim + 1);
    return compare(ck, CLANN__MATCH_NMSE, "copy_cols", shape, &c, clann__case_copy_cols, &a);
}

/* ---------------------------------------------------------------------------------------------
 * Convolution and pooling: im2col, col2im, the channel bias and sum, pooling forward and
 * backward (max and average) over odd images, strides, dilation and both paddings.
 */
static enum clann_status check_conv(struct clann__check *ck)
{
    /* {N, C, H, W, kh, kw, stride, dilation, same}: test-backend's shapes, the quick ones first */
    static const size_t shapes[][9] = {{2, 3, 7, 5, 3, 3, 1, 1, 1}, {3, 2, 9, 8, 3, 2, 2, 1, 1},
                                       {2, 4, 11, 13, 5, 5, 2, 2, 1}, {1, 1, 1, 1, 1, 1, 1, 1, 0},
                                       {2, 2, 6, 6, 2, 2, 2, 1, 0}, {5, 2, 28, 28, 3, 3, 1, 1, 1}};
    char op[64], shape[96];
    for (size_t i = 0; i < (ck->quick ? 3 : sizeof shapes / sizeof *shapes); i++) {
        const size_t *s = shapes[i];
        struct conv_args a = {.beta = 0.0f};
        clann__conv_geom_init(&a.g, s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8] != 0);
        const struct clann_conv_geom *g = &a.g;
        size_t nx = g->batch * g->channels * g->height * g->width, c = g->channels;
        size_t k = c * g->kernel_h * g->kernel_w, p = g->out_h * g->out_w;
        size_t ncol = g->batch * k * p, ny = g->batch * c * p;
        snprintf(shape, sizeof shape, "%zux%zux%zux%zu k%zux%zu s%zu d%zu %s", g->batch, c,
                 g->height, g->width, g->kernel_h, g->kernel_w, g->stride, g->dilation,
                 s[8] ? "same" : "valid");
        struct clann__parity_case im = {2, {nx, ncol}, {rnd(ck, nx, -1, 1), rnd(ck, ncol, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "im2col", shape, &im, clann__case_im2col, &a));
        struct clann__parity_case ci = {2, {ncol, nx}, {rnd(ck, ncol, -1, 1), rnd(ck, nx, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "col2im", shape, &ci, clann__case_col2im, &a));
        struct clann__parity_case cb = {2, {nx, c}, {rnd(ck, nx, -1, 1), rnd(ck, c, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "channel_bias", shape, &cb, clann__case_channel_bias,
                    &a));
        a.beta = 2.5f;
        struct clann__parity_case cs = {2, {nx, c}, {rnd(ck, nx, -1, 1), rnd(ck, c, -1, 1)}};
        TRY(compare(ck, CLANN__MATCH_NMSE, "channel_sum beta=2.5", shape, &cs,
                    clann__case_channel_sum, &a));
        for (int max = 0; max < 2; max++) {
            a.max = max != 0;
            struct clann__parity_case f = {2, {nx, ny}, {rnd(ck, nx, -1, 1), rnd(ck, ny, -1, 1)}};
            snprintf(op, sizeof op, "pool2d_forward %s", max ? "max" : "avg");
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &f, clann__case_pool_forward, &a));
            struct clann__parity_case b = {3, {nx, ny, nx}, {max ? rnd(ck, nx, -1, 1) : NULL,
                                                             rnd(ck, ny, -1, 1),
                                                             rnd(ck, nx, -1, 1)}};
            snprintf(op, sizeof op, "pool2d_backward %s", max ? "max" : "avg");
            TRY(compare(ck, CLANN__MATCH_NMSE, op, shape, &b, clann__case_pool_backward, &a));
        }
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * GEMM.
 */
struct gemm_args {
    bool ta, tb;
    size_t m, n, k, lda, ldb;
    float alpha, beta;
};

/* v: a, b, c (ldc = n) */
static enum clann_status do_gemm(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct gemm_args *g = p;
    return clann__op_gemm(be, g->ta, g->tb, g->m, g->n, g->k, g->alpha, v[0], g->lda, v[1],
                          g->ldb, g->beta, v[2], g->n);
}

static enum clann_status gemm_case(struct clann__check *ck, bool ta, bool tb, size_t m, size_t n,
                                   size_t k, float alpha, float beta)
{
    size_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    struct gemm_args g = {ta, tb, m, n, k, a_cols + 3, b_cols + 1, alpha, beta};
    size_t na = a_rows * g.lda, nb = b_rows * g.ldb;
    /* beta = 0 must overwrite C without reading it: a NaN-filled C shows when it does not */
    struct clann__parity_case c = {3, {na, nb, m * n},
                                   {rnd(ck, na, -1, 1), rnd(ck, nb, -1, 1),
                                    beta == 0.0f ? constant(ck, m * n, NAN)
                                                 : rnd(ck, m * n, -1, 1)}};
    char op[64], shape[48];
    snprintf(op, sizeof op, "gemm %c%c alpha=%g beta=%g", ta ? 'T' : 'N', tb ? 'T' : 'N',
             (double)alpha, (double)beta);
    snprintf(shape, sizeof shape, "m=%zu n=%zu k=%zu", m, n, k);
    return compare(ck, CLANN__MATCH_NMSE, op, shape, &c, do_gemm, &g);
}

enum clann_status clann__check_gemm(struct clann__check *ck)
{
    static const size_t dims_full[][3] = {{1, 1, 1},   {7, 65, 257}, {65, 7, 64},
                                          {257, 65, 7}, {128, 256, 784}, {257, 10, 129}};
    static const size_t dims_quick[][3] = {{7, 65, 257}, {65, 7, 64}};
    static const float scalars[][2] = {{1.0f, 0.0f}, {2.5f, 1.0f}, {1.0f, 2.5f}};
    size_t nd = ck->quick ? 2 : sizeof dims_full / sizeof *dims_full;
    for (int t = 0; t < 4; t++) {
        for (size_t i = 0; i < nd; i++) {
            const size_t *d = ck->quick ? dims_quick[i] : dims_full[i];
            const float *s = scalars[(i + (size_t)t) % 3];
            TRY(gemm_case(ck, t & 1, t & 2, d[0], d[1], d[2], s[0], s[1]));
        }
    }
    if (!ck->quick) /* more rows than NVIDIA's 65535 work-groups in a grid dimension */
        TRY(gemm_case(ck, false, false, 70000, 3, 5, 1.0f, 0.0f));
    /* a convolution's three batched GEMMs (F 6, K 27, P 50, 5 images): forward (W shared),
     * weight gradient (summed, onto beta 2.5 C) and data gradient */
    static const struct gemm_batch_args conv[] = {
        {false, false, 6, 50, 27, 27, 50, 50, 1.0f, 0.0f, {5, 0, 27 * 50, 6 * 50}},
        {false, true, 6, 27, 50, 50, 50, 27, 1.0f, 2.5f, {5, 6 * 50, 27 * 50, 0}},
        {true, false, 27, 50, 6, 27, 50, 50, 1.0f, 0.0f, {5, 0, 6 * 50, 27 * 50}}};
    static const char *const names[] = {"gemm_batched NN shared A", "gemm_batched NT summed",
                                         "gemm_batched TN shared A"};
    for (size_t i = 0; i < sizeof conv / sizeof *conv; i++) {
        const struct gemm_batch_args *g = &conv[i];
        size_t na = (g->ta ? g->k : g->m) * g->lda + (g->batch.count - 1) * g->batch.stride_a,
               nb = (g->tb ? g->n : g->k) * g->ldb + (g->batch.count - 1) * g->batch.stride_b,
               nc = g->m * g->ldc + (g->batch.count - 1) * g->batch.stride_c;
        struct clann__parity_case c = {3, {na, nb, nc},
                                       {rnd(ck, na, -1, 1), rnd(ck, nb, -1, 1),
                                        g->beta == 0.0f ? constant(ck, nc, NAN)
                                                        : rnd(ck, nc, -1, 1)}};
        char shape[48];
        snprintf(shape, sizeof shape, "m=%zu n=%zu k=%zu x%zu", g->m, g->n, g->k, g->batch.count);
        TRY(compare(ck, CLANN__MATCH_NMSE, names[i], shape, &c, clann__case_gemm_batched, g));
    }
    return CLANN_OK;
}

enum clann_status clann__check_ops(struct clann__check *ck)
{
    TRY(check_elementwise(ck));
    TRY(check_rng(ck));
    TRY(check_layers(ck));
    TRY(check_index_cols(ck));
    TRY(check_losses(ck));
    TRY(check_optimizers(ck));
    TRY(check_regularize(ck));
    TRY(check_conv(ck));
    return check_embedding(ck);
}

/* ---------------------------------------------------------------------------------------------
 * Auto's warm-up check (context.c): what a training step leans on, at small odd shapes, in
 * milliseconds: sigmoid forward and backward, ELU's backward mostly left of 0 (where exp sets
 * every value, so an exp 0.1% off shows with a margin), the sparse softmax cross-entropy (exp,
 * log, row reductions) and a GEMM of each training class (NN forward, NT and TN backward).
 */
enum clann_status clann__check_warmup(struct clann__check *ck)
{
    TRY(check_act(ck, CLANN__ACT_SIGMOID, 7, 65, false));
    size_t m = 65 * 7;
    struct act_args e = {clann__case_act(CLANN__ACT_ELU, true), 65, 7, 0};
    struct clann__parity_case b = {5, {m, m, m, 7, m},
                                   {rnd(ck, m, -2, 0.5f), rnd(ck, m, 0.01f, 0.99f),
                                    rnd(ck, m, -1, 1), NULL, rnd(ck, m, -1, 1)}};
    TRY(compare(ck, CLANN__MATCH_NMSE, "act_backward elu", "65x7", &b, clann__case_backward,
                &e));
    int kind = CLANN__LOSS_SPARSE_SOFTMAX_CE;
    size_t rows = 7, cols = 10, n = rows * cols;
    struct loss_args a = {{(enum clann__loss_kind)kind, 0.5f}, rows, cols, 1.0f / (float)rows,
                          clann__case_count_rule(kind), 0.0f};
    struct clann__parity_case c = {4, {n, rows, rows, n},
                                   {rnd(ck, n, -4, 4), labels_for(ck, kind, rows, cols),
                                    rnd(ck, rows, -1, 1), rnd(ck, n, -1, 1)}};
    TRY(compare(ck, CLANN__MATCH_NMSE, "loss sparse_softmax_cross_entropy", "7x10", &c,
                clann__case_loss, &a));
    TRY(gemm_case(ck, false, false, 7, 65, 33, 1.0f, 0.0f));
    TRY(gemm_case(ck, false, true, 7, 33, 65, 1.0f, 0.0f));
    return gemm_case(ck, true, false, 65, 33, 7, 1.0f, 1.0f);
}
