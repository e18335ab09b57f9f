/*
 * context.c - the context object: one device's backend, chosen and created through the
 * registry (registry.c), its lifetime shared with the models built on it, and the op profile
 * behind clann_context_profile().
 *
 * Lifetime: every model holds its context (clann__context_retain at model creation, release
 * at its destruction). clann_context_destroy() on a context that models still use only marks
 * it; the last model's destruction then releases it. So destroying in either order is safe.
 */
#include "backend/check.h"
#include "backend/ops.h"
#include "backend/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

CLANN_API struct clann_context_params clann_context_default_params(void)
{
    struct clann_context_params p;
    memset(&p, 0, sizeof p);
    p.device = NULL; /* CLANN_DEVICE, else "auto" */
    p.cpu_mode = CLANN_CPU_MODE_FAST;
    p.use_cache = true;
    return p;
}

/* Auto's warm-up check of ctx's OpenCL device (backend/check.c) against the CPU reference:
 * *why gets the first failing check ("" when all pass). A status other than OK means the check
 * could not run (no memory, a device error outside a case). */
static enum clann_status warmup_check(struct clann_context *ctx, char *why, size_t cap)
{
    struct clann_context_params rp = clann_context_default_params();
    rp.device = "cpu";
    rp.cpu_mode = CLANN_CPU_MODE_REFERENCE;
    struct clann_context *ref = NULL;
    enum clann_status st = clann_context_create(&rp, &ref);
    if (st != CLANN_OK)
        return st;
    struct clann_check_report report;
    memset(&report, 0, sizeof report);
    struct clann__check ck = {.ref = ref, .dev = ctx, .tag = "", .quick = true,
                              .report = &report};
    unsigned long launches = ctx->be->launches;
    st = clann__check_warmup(&ck);
    ctx->be->launches = launches; /* the op profile counts the caller's launches only */
    why[0] = '\0';
    for (size_t i = 0; i < report.count && !why[0]; i++)
        if (!report.entries[i].pass)
            snprintf(why, cap, "warm-up check %s %s: %s", report.entries[i].op,
                     report.entries[i].shape, report.entries[i].detail);
    clann__free(report.entries);
    clann_context_destroy(ref);
    return st;
}

/* Creates auto's candidate dev on ctx and, for an OpenCL device, runs the warm-up check; a
 * device that fails it is destroyed and the status says so (the message names the check). */
static enum clann_status create_checked(struct clann_context *ctx,
                                        const struct clann_context_params *p)
{
    ctx->gemm_note[0] = '\0';
    ctx->gemm_warmup_seconds = 0;
    enum clann_status st = clann__registry_create(ctx, &ctx->device, p, &ctx->be);
    if (st != CLANN_OK || ctx->device.type == CLANN_DEVICE_TYPE_CPU_BACKEND)
        return st;
    char why[sizeof ctx->error / 16];
    st = warmup_check(ctx, why, sizeof why);
    if (st == CLANN_OK && !why[0])
        return CLANN_OK;
    if (st == CLANN_OK)
        st = clann__error(ctx, CLANN_ERR_NO_DEVICE, "%s", why);
    clann__op_destroy(ctx->be);
    ctx->be = NULL;
    return st;
}

/* "auto": each candidate in rank order until one's backend is created and passes the warm-up
 * check (a device whose kernels fail to build or that computes wrongly falls back to the next,
 * finally the CPU backend), logging why; the device's note then says what auto passed over. */
static enum clann_status create_auto(struct clann_context *ctx,
                                     const struct clann_context_params *p)
{
    struct clann_device_info *order;
    size_t n;
    enum clann_status st = clann__registry_auto_order(&order, &n);
    if (st != CLANN_OK)
        return st;
    char passed[sizeof ctx->device.note] = "";
    st = CLANN_ERR_NO_DEVICE;
    for (size_t i = 0; i < n && st != CLANN_OK; i++) {
        ctx->device = order[i];
        st = create_checked(ctx, p);
        if (st == CLANN_OK)
            break;
        clann__log(CLANN_LOG_LEVEL_WARN, "device auto: %s failed (%s: %s); trying the next",
                   order[i].name, clann_status_name(st), clann_context_last_error(ctx));
        if (!passed[0])
            snprintf(passed, sizeof passed, "auto passed over %.40s: %.68s", order[i].name,
                     clann_context_last_error(ctx));
    }
    if (st == CLANN_OK && passed[0])
        snprintf(ctx->device.note, sizeof ctx->device.note, "%s", passed);
    if (st == CLANN_OK)
        clann__log(CLANN_LOG_LEVEL_INFO, "device auto: %s (%s)", ctx->device.name,
                   ctx->device.note);
    clann__free(order);
    return st;
}

CLANN_API enum clann_status clann_context_create(const struct clann_context_params *params,
                                                 struct clann_context **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_context_create: out is NULL");
    *out = NULL;
    struct clann_context_params p = params ? *params : clann_context_default_params();
    const char *sel = p.device ? p.device : clann__getenv("CLANN_DEVICE");
    if (!sel)
        sel = "auto";
    if (!p.kernel_dir)
        p.kernel_dir = clann__getenv("CLANN_KERNEL_DIR");
    if (p.gemm && strcmp(p.gemm, "auto") != 0 && strcmp(p.gemm, "clblast") != 0 &&
        strcmp(p.gemm, "tiled") != 0 && strcmp(p.gemm, "cpu") != 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "unknown GEMM path '%s' (auto, clblast, tiled or cpu)", p.gemm);
    if (p.forms && strcmp(p.forms, "auto") != 0 && strcmp(p.forms, "gpu") != 0 &&
        strcmp(p.forms, "cpu") != 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "unknown kernel forms '%s' (auto, gpu or cpu)", p.forms);

    char one[256];
    enum clann_status st = clann__registry_local_entry(&sel, one, sizeof one);
    if (st != CLANN_OK)
        return st;
    struct clann_device_info dev;
    bool is_auto = strcmp(sel, "auto") == 0;
    st = is_auto ? CLANN_OK : clann__registry_select(sel, &dev);
    if (st != CLANN_OK)
        return st;
    struct clann_context *ctx = clann__calloc(1, sizeof *ctx);
    if (!ctx)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "context: out of memory");
    ctx->device = dev;

    double t0 = clann__now();
    st = is_auto ? create_auto(ctx, &p) : clann__registry_create(ctx, &ctx->device, &p, &ctx->be);
    if (st != CLANN_OK) {
        clann__error_to_context(NULL);
        clann__free(ctx);
        return st;
    }
    if (ctx->device.type == CLANN_DEVICE_TYPE_CPU_BACKEND)
        ctx->build_seconds = clann__now() - t0;
    clann__log(CLANN_LOG_LEVEL_DEBUG, "context on %s (%s)", ctx->device.name, ctx->be->ops->name);
    *out = ctx;
    return CLANN_OK;
}

static void context_free(struct clann_context *ctx)
{
    clann__op_destroy(ctx->be);
    clann__free(ctx);
}

void clann__context_retain(struct clann_context *ctx)
{
    ctx->models++;
}

void clann__context_release(struct clann_context *ctx)
{
    if (ctx && ctx->models > 0 && --ctx->models == 0 && ctx->destroy_pending)
        context_free(ctx);
}

CLANN_API void clann_context_destroy(struct clann_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->models > 0) {
        ctx->destroy_pending = true; /* the last model's destruction frees it */
        return;
    }
    context_free(ctx);
}

CLANN_API const char *clann_context_last_error(const struct clann_context *ctx)
{
    return ctx ? ctx->error : "";
}

CLANN_API const struct clann_device_info *clann_context_device(const struct clann_context *ctx)
{
    return ctx ? &ctx->device : NULL;
}

CLANN_API const char *clann_context_backend_name(const struct clann_context *ctx)
{
    return ctx && ctx->be ? ctx->be->ops->name : "";
}

CLANN_API double clann_context_build_seconds(const struct clann_context *ctx, bool *from_cache)
{
    if (from_cache)
        *from_cache = ctx ? ctx->build_from_cache : false;
    return ctx ? ctx->build_seconds : 0.0;
}

CLANN_API const char *clann_context_gemm(const struct clann_context *ctx,
                                         double *warmup_seconds)
{
    if (warmup_seconds)
        *warmup_seconds = ctx ? ctx->gemm_warmup_seconds : 0.0;
    return ctx ? ctx->gemm_note : "";
}

/* ---------------------------------------------------------------------------------------------
 * Op profile: the backend's profiler hook adds each op to one entry per op name.
 */

static void profile_add(void *user, const char *op, enum clann__op_class cls, double seconds,
                        double flops, unsigned long launches)
{
    struct clann_context *ctx = user;
    size_t i = 0;
    while (i < ctx->n_profile && strcmp(ctx->profile[i].name, op) != 0)
        i++;
    if (i == ctx->n_profile) {
        if (i == CLANN__PROFILE_MAX)
            return; /* more op names than the table has: cannot happen with today's table */
        ctx->profile[i].name = op;
        ctx->profile[i].op_class = (enum clann_op_class)cls;
        ctx->n_profile++;
    }
    ctx->profile[i].calls++;
    ctx->profile[i].seconds += seconds;
    ctx->profile[i].flops += flops;
    ctx->profile[i].launches += launches;
}

CLANN_API enum clann_status clann_context_profile(struct clann_context *ctx, bool on)
{
    if (!ctx || !ctx->be)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "clann_context_profile: NULL context");
    if (on) {
        memset(ctx->profile, 0, sizeof ctx->profile);
        ctx->n_profile = 0;
    }
    clann__backend_set_profiler(ctx->be, on ? profile_add : NULL, on ? ctx : NULL);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_context_profile_ops(const struct clann_context *ctx,
                                                      const struct clann_op_profile **ops,
                                                      size_t *count)
{
    if (!ctx || !ops || !count)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "clann_context_profile_ops: NULL argument");
    *ops = ctx->profile;
    *count = ctx->n_profile;
    return CLANN_OK;
}
