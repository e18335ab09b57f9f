/*
 * device_check.c - clann_device_check(), what `clann check` runs: the backend's op checks
 * (backend/check.c) on the device and on each GEMM path it can take, then a short training run
 * on the device and on the CPU reference from one seed, judged as the suite's whole-run parity
 * (docs/testing.md #14). It lives in train because the training run needs the trainer; the op
 * checks stay in the backend layer with the harness the backend tests share.
 */
#include "backend/check.h"
#include "clann.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run {
    float *initial, *final;
    size_t n;
    double loss;
};

static void run_free(struct run *r)
{
    clann__free(r->initial);
    clann__free(r->final);
    memset(r, 0, sizeof *r);
}

/* A small MLP with dropout and an RReLU layer (random draws on the device) on a fixed random
 * 5-class problem, trained for `steps` SGD-with-momentum steps (test-train.c's run). */
static enum clann_status build_small(struct clann_context *ctx, const struct clann_matrix *x,
                                     struct clann_model **out)
{
    struct clann_model *m = NULL;
    enum clann_status st = clann_model_create(ctx, x->cols, &m);
    struct clann_dense_params d = clann_dense_default_params(65, CLANN_ACTIVATION_RELU);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &d);
    if (st == CLANN_OK)
        st = clann_model_add_dropout(m, 0.2f);
    d = clann_dense_default_params(7, CLANN_ACTIVATION_RRELU);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &d);
    d = clann_dense_default_params(5, CLANN_ACTIVATION_LINEAR);
    if (st == CLANN_OK)
        st = clann_model_add_dense(m, &d);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_MOMENTUM);
    cp.max_batch = 32;
    cp.seed = 1234;
    if (st == CLANN_OK)
        st = clann_model_compile(m, &cp);
    if (st != CLANN_OK) {
        clann_model_destroy(m);
        m = NULL;
    }
    *out = m;
    return st;
}

static enum clann_status train_small(struct clann_context *ctx, const struct clann_matrix *x,
                                     const struct clann_matrix *y, size_t steps, struct run *r)
{
    struct clann_model *m;
    memset(r, 0, sizeof *r);
    enum clann_status st = build_small(ctx, x, &m);
    if (st != CLANN_OK)
        return st;
    r->n = clann_model_param_count(m);
    r->initial = clann__malloc(r->n * sizeof(float));
    r->final = clann__malloc(r->n * sizeof(float));
    if (!r->initial || !r->final)
        st = CLANN_ERR_NO_MEMORY;
    if (st == CLANN_OK)
        st = clann_model_get_params(m, r->initial, r->n);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1000;
    fp.max_steps = steps;
    struct clann_epoch_log log;
    if (st == CLANN_OK)
        st = clann_model_fit(m, x, y, NULL, NULL, &fp, &log);
    if (st == CLANN_OK)
        st = clann_model_get_params(m, r->final, r->n);
    struct clann_metrics mt;
    if (st == CLANN_OK)
        st = clann_model_evaluate(m, x, y, &mt);
    r->loss = st == CLANN_OK ? mt.loss : NAN;
    clann_model_destroy(m);
    if (st != CLANN_OK)
        run_free(r);
    return st;
}

static double nmse(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)a[i] * a[i];
    }
    return isfinite(num) ? (den > 0 ? num / den : num) : INFINITY;
}

static enum clann_status record(struct clann_check_report *rep, const char *op, const char *tag,
                                size_t steps, double error, double tolerance, const char *detail)
{
    struct clann_check_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.op, sizeof e.op, "%s%s", op, tag);
    snprintf(e.shape, sizeof e.shape, "MLP 20-65-7-5, %zu steps", steps);
    e.error = error;
    e.tolerance = tolerance;
    e.pass = error <= tolerance; /* false for NaN */
    if (!e.pass)
        snprintf(e.detail, sizeof e.detail, "%s", detail);
    return clann__check_record(rep, &e);
}

/* The training run on both contexts: bit-identical initial weights, final loss within a
 * relative 1e-3, parameters within NMSE 1e-5. */
static enum clann_status check_training(struct clann_context *ref, struct clann_context *dev,
                                        bool quick, const char *tag,
                                        struct clann_check_report *rep)
{
    const size_t rows = 256, in = 20, steps = quick ? 20 : 100;
    struct clann_matrix x, y;
    enum clann_status st = clann_matrix_create(rows, in, &x);
    if (st != CLANN_OK)
        return st;
    if ((st = clann_matrix_create(rows, 1, &y)) != CLANN_OK) {
        clann_matrix_free(&x);
        return st;
    }
    for (size_t i = 0; i < rows * in; i++)
        x.data[i] = clann__rng_normal(3, 1, i);
    for (size_t i = 0; i < rows; i++)
        y.data[i] = (float)((size_t)(x.data[i * in] > 0) + 2 * (x.data[i * in + 1] > 0.5f) +
                            (x.data[i * in + 2] > 1.0f));
    struct run a, b;
    st = train_small(ref, &x, &y, steps, &a);
    if (st == CLANN_OK) {
        enum clann_status dst = train_small(dev, &x, &y, steps, &b);
        if (dst != CLANN_OK) { /* a failing device is a finding */
            char why[192];
            snprintf(why, sizeof why, "%s: %s", clann_status_name(dst),
                     clann_context_last_error(dev));
            st = record(rep, "training run", tag, steps, INFINITY, 0, why);
        } else {
            size_t diff = 0;
            for (size_t i = 0; i < a.n; i++)
                diff += memcmp(&a.initial[i], &b.initial[i], sizeof(float)) != 0;
            double rel = fabs(b.loss - a.loss) / fabs(a.loss);
            char why[192];
            snprintf(why, sizeof why, "%zu of %zu initial weights differ", diff, a.n);
            st = record(rep, "training initial weights", tag, steps, (double)diff, 0, why);
            snprintf(why, sizeof why, "loss %.9g, reference %.9g", b.loss, a.loss);
            if (st == CLANN_OK)
                st = record(rep, "training loss (relative)", tag, steps, isnan(rel) ? INFINITY : rel,
                            1e-3, why);
            double e = nmse(a.final, b.final, a.n);
            snprintf(why, sizeof why, "parameter NMSE %.3g", e);
            if (st == CLANN_OK)
                st = record(rep, "training parameters", tag, steps, e, 1e-5, why);
            run_free(&b);
        }
        run_free(&a);
    }
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    return st;
}

/* The GEMM checks once more on each other path the device can take: clann's tiled kernel,
 * CLBlast when built in, and the CPU-device kernels on CPU devices. */
static enum clann_status check_gemm_paths(struct clann__check *ck,
                                          const struct clann_context_params *params)
{
    static const char *const paths[] = {"tiled", "clblast", "cpu"};
    static const char *const tags[] = {" [tiled]", " [clblast]", " [cpu kernels]"};
    for (size_t i = 0; i < 3; i++) {
        if ((i == 1 && !CLANN_HAVE_CLBLAST) ||
            (i == 2 && ck->dev->device.type != CLANN_DEVICE_TYPE_CPU))
            continue;
        struct clann_context_params p = *params;
        char sel[32];
        snprintf(sel, sizeof sel, "opencl:%d:%d", ck->dev->device.platform,
                 ck->dev->device.device);
        p.device = sel;
        p.gemm = paths[i];
        struct clann_context *ctx;
        enum clann_status st = clann_context_create(&p, &ctx);
        if (st != CLANN_OK)
            return st;
        struct clann__check pc = *ck;
        pc.dev = ctx;
        pc.tag = tags[i];
        st = clann__check_gemm(&pc);
        ck->draw = pc.draw;
        clann_context_destroy(ctx);
        if (st != CLANN_OK)
            return st;
    }
    return CLANN_OK;
}

/* Every op, the GEMM paths and the training run on the device under params, with `tag` on each
 * entry; gemm_paths: check every other GEMM path too. */
static enum clann_status check_device(struct clann_context *ref,
                                      const struct clann_context_params *params, const char *tag,
                                      bool gemm_paths, bool quick,
                                      struct clann_check_report *report)
{
    struct clann_context *dev = NULL;
    enum clann_status st = clann_context_create(params, &dev);
    if (st != CLANN_OK)
        return st;
    report->device = dev->device;
    struct clann__check ck = {.ref = ref, .dev = dev, .tag = tag, .quick = quick,
                              .report = report};
    st = clann__check_ops(&ck);
    char gemm_tag[64];
    snprintf(gemm_tag, sizeof gemm_tag, "%s [default]", tag);
    ck.tag = gemm_tag;
    if (st == CLANN_OK)
        st = clann__check_gemm(&ck);
    if (st == CLANN_OK && gemm_paths && dev->device.platform >= 0)
        st = check_gemm_paths(&ck, params);
    if (st == CLANN_OK)
        st = check_training(ref, dev, quick, tag, report);
    clann_context_destroy(dev);
    return st;
}

CLANN_API enum clann_status clann_device_check(const struct clann_context_params *params,
                                               bool quick, struct clann_check_report *report)
{
    if (!report)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_device_check: report is NULL");
    memset(report, 0, sizeof *report);
    double t0 = clann__now();
    struct clann_context_params p = params ? *params : clann_context_default_params();
    p.gemm = NULL;
    p.forms = NULL;
    struct clann_context_params rp = clann_context_default_params();
    rp.device = "cpu";
    rp.cpu_mode = CLANN_CPU_MODE_REFERENCE;
    struct clann_context *ref = NULL;
    enum clann_status st = clann_context_create(&rp, &ref);
    if (st == CLANN_OK)
        st = check_device(ref, &p, "", true, quick, report);
    /* A CPU device runs the CPU forms of the kernels; the GPU forms (work-group reductions,
     * CLBlast as the training GEMM) are checked on it too, so that they have run somewhere
     * before the first GPU. */
    if (st == CLANN_OK && report->device.type == CLANN_DEVICE_TYPE_CPU) {
        char sel[32];
        snprintf(sel, sizeof sel, "opencl:%d:%d", report->device.platform,
                 report->device.device);
        p.device = sel;
        p.forms = "gpu";
        st = check_device(ref, &p, " [gpu forms]", false, quick, report);
    }
    clann_context_destroy(ref);
    report->seconds = clann__now() - t0;
    if (st != CLANN_OK) {
        char msg[CLANN_ERROR_MAX];
        snprintf(msg, sizeof msg, "%s", clann_last_error());
        clann_check_report_free(report);
        return clann__error(NULL, st, "%s", msg);
    }
    return CLANN_OK;
}

CLANN_API void clann_check_report_free(struct clann_check_report *report)
{
    if (!report)
        return;
    clann__free(report->entries);
    memset(report, 0, sizeof *report);
}
