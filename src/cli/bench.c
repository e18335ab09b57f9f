/*
 * bench.c - `clann bench`: training throughput of the Fashion-MNIST MLP 784-256-128-10 (ReLU,
 * Adam, sparse softmax cross-entropy) on one device, with the step time split into GEMM, other
 * kernels, transfers and host work, the time to the first step with a cold and a warm kernel
 * cache, and the peak resident memory.
 *
 * The split comes from a profiling run in which the backend's ops table is swapped for
 * wrappers that time each op and wait for it (finish) before returning, so that an OpenCL op
 * is charged its own execution and no other. Waiting serializes the queue, so the profiled run
 * is slower than the timed runs; samples/s always comes from the unprofiled runs. This reaches
 * into the library's internal structures (context -> backend -> ops), which is why the bench
 * is a developer tool and not part of the public API.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT, to ask OpenBLAS which kernels it runs */

#include "cli.h"

#include "backend/backend.h"
#include "core/internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Op profiling: a wrapped copy of the ops table.
 */

enum op_kind { OP_GEMM = 0, OP_OTHER = 1, OP_TRANSFER = 2, OP_KINDS = 3 };

#define MAX_OPS 24

/* Seconds and calls per op kind and per op name. */
static struct {
    const struct clann_backend_ops *real;
    struct clann_backend_ops wrapped;
    double seconds[OP_KINDS];
    unsigned long calls[OP_KINDS];
    double gemm_flops;
    const char *op_name[MAX_OPS];
    double op_seconds[MAX_OPS];
    unsigned long op_calls[MAX_OPS];
    size_t n_ops;
} prof;

static void prof_add(const char *name, enum op_kind kind, double seconds)
{
    size_t i = 0;
    while (i < prof.n_ops && strcmp(prof.op_name[i], name) != 0)
        i++;
    if (i == prof.n_ops && prof.n_ops < MAX_OPS)
        prof.op_name[prof.n_ops++] = name;
    if (i < prof.n_ops) {
        prof.op_seconds[i] += seconds;
        prof.op_calls[i]++;
    }
    prof.seconds[kind] += seconds;
    prof.calls[kind]++;
}

static enum clann_status prof_done(struct clann_backend *be, const char *name,
                                   enum op_kind kind, double t0, enum clann_status st)
{
    if (st == CLANN_OK)
        st = prof.real->finish(be); /* charge an asynchronous op its execution time */
    prof_add(name, kind, cli_now() - t0);
    return st;
}

#define TIMED(kind, call)                                                                         \
    do {                                                                                          \
        double t0_ = cli_now();                                                                   \
        return prof_done(be, __func__ + 2, (kind), t0_, prof.real->call);                        \
    } while (0)

static enum clann_status p_upload(struct clann_backend *be, struct clann_view dst,
                                  const float *src, size_t n, bool blocking)
{
    TIMED(OP_TRANSFER, upload(be, dst, src, n, blocking));
}

static enum clann_status p_download(struct clann_backend *be, float *dst, struct clann_view src,
                                    size_t n)
{
    TIMED(OP_TRANSFER, download(be, dst, src, n));
}

static enum clann_status p_fill(struct clann_backend *be, struct clann_view x, size_t n,
                                float value)
{
    TIMED(OP_OTHER, fill(be, x, n, value));
}

static enum clann_status p_copy(struct clann_backend *be, struct clann_view dst,
                                struct clann_view src, size_t n)
{
    TIMED(OP_OTHER, copy(be, dst, src, n));
}

static enum clann_status p_gemm(struct clann_backend *be, bool ta, bool tb, size_t m, size_t n,
                                size_t k, float alpha, struct clann_view a, size_t lda,
                                struct clann_view b, size_t ldb, float beta, struct clann_view c,
                                size_t ldc)
{
    prof.gemm_flops += 2.0 * (double)m * (double)n * (double)k;
    TIMED(OP_GEMM, gemm(be, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}

static enum clann_status p_bias_act_forward(struct clann_backend *be, const struct clann_act *act,
                                            struct clann_view z, struct clann_view bias,
                                            struct clann_view prelu, struct clann_view y,
                                            size_t rows, size_t cols)
{
    TIMED(OP_OTHER, bias_act_forward(be, act, z, bias, prelu, y, rows, cols));
}

static enum clann_status p_act_backward(struct clann_backend *be, const struct clann_act *act,
                                        struct clann_view z, struct clann_view y,
                                        struct clann_view dy, struct clann_view prelu,
                                        struct clann_view dz, size_t rows, size_t cols)
{
    TIMED(OP_OTHER, act_backward(be, act, z, y, dy, prelu, dz, rows, cols));
}

static enum clann_status p_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                                   size_t cols, struct clann_view out, float beta)
{
    TIMED(OP_OTHER, col_sum(be, x, rows, cols, out, beta));
}

static enum clann_status p_loss(struct clann_backend *be, const struct clann__loss *loss,
                                struct clann_view pred, struct clann_view labels, size_t rows,
                                size_t cols, struct clann_view row_loss, struct clann_view grad,
                                float grad_scale)
{
    TIMED(OP_OTHER, loss(be, loss, pred, labels, rows, cols, row_loss, grad, grad_scale));
}

static enum clann_status p_sum(struct clann_backend *be, struct clann_view x, size_t n,
                               float scale, struct clann_view out, float beta)
{
    TIMED(OP_OTHER, sum(be, x, n, scale, out, beta));
}

static enum clann_status p_count_correct(struct clann_backend *be, struct clann_view pred,
                                         struct clann_view labels, bool sparse, size_t rows,
                                         size_t cols, struct clann_view correct, float beta)
{
    TIMED(OP_OTHER, count_correct(be, pred, labels, sparse, rows, cols, correct, beta));
}

static enum clann_status p_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                          struct clann_view w, struct clann_view g,
                                          struct clann_view s1, struct clann_view s2, size_t n)
{
    TIMED(OP_OTHER, optimizer_step(be, opt, w, g, s1, s2, n));
}

static enum clann_status p_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_view out, float beta)
{
    TIMED(OP_OTHER, sum_squares(be, x, n, out, beta));
}

static enum clann_status p_guard_check(struct clann_backend *be, struct clann_view sumsq,
                                       struct clann_view flag, float value)
{
    TIMED(OP_OTHER, guard_check(be, sumsq, flag, value));
}

static enum clann_status p_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                             struct clann_view out, struct clann_view flag)
{
    TIMED(OP_OTHER, accumulate_unless(be, x, out, flag));
}

static enum clann_status p_axpy(struct clann_backend *be, size_t n, float a, struct clann_view x,
                                struct clann_view y)
{
    TIMED(OP_OTHER, axpy(be, n, a, x, y));
}

/* Wraps the ops a plain training step of the benchmark model calls; any other op runs
 * unwrapped and lands in the host share. */
static void prof_install(struct clann_context *ctx)
{
    memset(&prof, 0, sizeof prof);
    prof.real = ctx->be->ops;
    prof.wrapped = *prof.real;
    prof.wrapped.upload = p_upload;
    prof.wrapped.download = p_download;
    prof.wrapped.fill = p_fill;
    prof.wrapped.copy = p_copy;
    prof.wrapped.gemm = p_gemm;
    prof.wrapped.bias_act_forward = p_bias_act_forward;
    prof.wrapped.act_backward = p_act_backward;
    prof.wrapped.col_sum = p_col_sum;
    prof.wrapped.loss = p_loss;
    prof.wrapped.sum = p_sum;
    prof.wrapped.count_correct = p_count_correct;
    prof.wrapped.optimizer_step = p_optimizer_step;
    prof.wrapped.sum_squares = p_sum_squares;
    prof.wrapped.guard_check = p_guard_check;
    prof.wrapped.accumulate_unless = p_accumulate_unless;
    prof.wrapped.axpy = p_axpy;
    ctx->be->ops = &prof.wrapped;
}

static void prof_remove(struct clann_context *ctx)
{
    ctx->be->ops = prof.real;
}

/* ---------------------------------------------------------------------------------------------
 * The run.
 */

struct bench_args {
    const char *device, *steps, *batch, *threads, *repeat, *warmup, *data;
    bool json, help;
};

struct bench_cfg {
    size_t steps, batch, repeat, warmup;
    unsigned long long threads;
};

struct first_step {
    double total, context, model, step, build;
    bool from_cache;
};

struct bench_result {
    double load_s;
    struct first_step cold, warm;
    double runs[16];
    double samples_per_s;
    /* Profiled run, per step: GEMM, other kernels, transfers, host; and GEMM flops. */
    double prof_step, split[OP_KINDS + 1], gemm_flops;
    unsigned long calls[OP_KINDS];
    double peak_rss_mib;
    char device[128], backend[16], blas[64];
};

struct bench_data {
    struct clann_matrix x, y, tx, ty;
};

static int create_model(struct clann_context *ctx, size_t batch, struct clann_model **m)
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {256, 128};
    ep.hidden_units = hidden;
    ep.n_hidden = 2;
    ep.activation = CLANN_ACTIVATION_RELU;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.max_batch = batch;
    enum clann_status st = clann_dnn_classifier_create(ctx, 784, 10, &ep, m);
    return st == CLANN_OK ? CLI_OK : cli_fail("model", st);
}

/* Trains `steps` optimizer steps (shuffled epochs, no validation); *seconds is the wall time
 * of the whole fit call, its data checks and shuffles included. */
static int train(struct clann_model *m, const struct bench_data *d, size_t batch, size_t steps,
                 double *seconds)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.batch_size = batch;
    fp.max_steps = steps;
    fp.epochs = steps * batch / d->x.rows + 2;
    double t0 = cli_now();
    enum clann_status st = clann_model_fit(m, &d->x, &d->y, NULL, NULL, &fp, NULL);
    *seconds = cli_now() - t0;
    return st == CLANN_OK ? CLI_OK : cli_fail("train", st);
}

/* Context creation, model creation and one training step, with the kernel cache in dir. */
static int first_step(const char *device, const char *dir, const struct bench_data *d,
                      size_t batch, struct first_step *fs, struct clann_context **ctx_out)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = device;
    p.cache_dir = dir;
    struct clann_context *ctx = NULL;
    struct clann_model *m = NULL;
    double t0 = cli_now();
    enum clann_status st = clann_context_create(&p, &ctx);
    if (st != CLANN_OK)
        return cli_fail("device", st);
    double t1 = cli_now();
    int rc = create_model(ctx, batch, &m);
    double t2 = cli_now();
    if (rc == CLI_OK)
        rc = train(m, d, batch, 1, &fs->step);
    fs->total = cli_now() - t0;
    fs->context = t1 - t0;
    fs->model = t2 - t1;
    fs->build = clann_context_build_seconds(ctx, &fs->from_cache);
    clann_model_destroy(m);
    if (rc == CLI_OK && ctx_out)
        *ctx_out = ctx;
    else
        clann_context_destroy(ctx);
    return rc;
}

/* Removes the kernel cache folder the bench created (flat: *.clbin entries). */
static void remove_cache(const char *dir)
{
    DIR *dp = opendir(dir);
    struct dirent *e;
    char path[4096];
    while (dp && (e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    }
    if (dp)
        closedir(dp);
    rmdir(dir);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The timed runs: warm-up, then `repeat` runs of `steps` steps; median samples/s. */
static int timed_runs(struct clann_model *m, const struct bench_data *d,
                      const struct bench_cfg *c, struct bench_result *r)
{
    double s, sorted[16];
    int rc = c->warmup ? train(m, d, c->batch, c->warmup, &s) : CLI_OK;
    for (size_t i = 0; i < c->repeat && rc == CLI_OK; i++) {
        rc = train(m, d, c->batch, c->steps, &s);
        r->runs[i] = (double)(c->steps * c->batch) / s;
        sorted[i] = r->runs[i];
    }
    qsort(sorted, c->repeat, sizeof *sorted, cmp_double);
    r->samples_per_s = sorted[c->repeat / 2];
    return rc;
}

static int profiled_run(struct clann_context *ctx, struct clann_model *m,
                        const struct bench_data *d, const struct bench_cfg *c,
                        struct bench_result *r)
{
    double s;
    prof_install(ctx);
    int rc = train(m, d, c->batch, c->steps, &s);
    prof_remove(ctx);
    double timed = 0.0;
    for (int k = 0; k < OP_KINDS; k++) {
        r->split[k] = prof.seconds[k] / (double)c->steps;
        r->calls[k] = prof.calls[k];
        timed += prof.seconds[k];
    }
    r->split[OP_KINDS] = (s - timed) / (double)c->steps;
    r->prof_step = s / (double)c->steps;
    r->gemm_flops = prof.gemm_flops / (double)c->steps;
    return rc;
}

/* A function of the process by name, or NULL; memcpy because ISO C has no cast from an object
 * pointer to a function pointer. */
static void *find_symbol(const char *name, size_t fn_size, void *fn)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym)
        memcpy(fn, &sym, fn_size);
    return sym;
}

static void blas_name(char *out, size_t cap)
{
    const char *(*corename)(void) = NULL;
    int (*threads)(void) = NULL;
    if (find_symbol("openblas_get_corename", sizeof corename, &corename) &&
        find_symbol("openblas_get_num_threads", sizeof threads, &threads))
        snprintf(out, cap, "OpenBLAS %s, %d threads", corename(), threads());
    else
        snprintf(out, cap, "%s", "none found");
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

static int run_bench(const struct bench_args *a, const struct bench_cfg *c,
                     struct bench_result *r, const struct bench_data *d)
{
    char dir[] = "/tmp/clann-bench-XXXXXX";
    if (!mkdtemp(dir))
        return cli_usage("bench: cannot create a temporary kernel cache folder");
    struct clann_context *ctx = NULL;
    struct clann_model *m = NULL;
    int rc = first_step(a->device, dir, d, c->batch, &r->cold, NULL);
    if (rc == CLI_OK)
        rc = first_step(a->device, dir, d, c->batch, &r->warm, &ctx);
    remove_cache(dir);
    if (rc == CLI_OK) {
        snprintf(r->device, sizeof r->device, "%s", clann_context_device(ctx)->name);
        snprintf(r->backend, sizeof r->backend, "%s", clann_context_backend_name(ctx));
        if (strcmp(r->backend, "cpu") == 0)
            blas_name(r->blas, sizeof r->blas);
        else
            snprintf(r->blas, sizeof r->blas, "%s", "not used");
        rc = create_model(ctx, c->batch, &m);
    }
    if (rc == CLI_OK)
        rc = timed_runs(m, d, c, r);
    if (rc == CLI_OK)
        rc = profiled_run(ctx, m, d, c, r);
    r->peak_rss_mib = peak_rss_mib();
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    return rc;
}

/* ---------------------------------------------------------------------------------------------
 * Output.
 */

static void print_text(const struct bench_cfg *c, const struct bench_result *r)
{
    double step = (double)c->batch / r->samples_per_s;
    double gemm_limit = (double)c->batch / r->split[OP_GEMM];
    printf("device      %s (%s backend); BLAS: %s\n", r->device, r->backend, r->blas);
    printf("model       784-256-128-10 ReLU, Adam, batch %zu, %zu steps x %zu runs\n", c->batch,
           c->steps, c->repeat);
    printf("throughput  %.0f samples/s (median; runs:", r->samples_per_s);
    for (size_t i = 0; i < c->repeat; i++)
        printf(" %.0f", r->runs[i]);
    printf("), %.3f ms/step\n", step * 1e3);
    printf("profiled    %.3f ms/step (each op waited for): GEMM %.3f (%.1f GFLOP/s), other "
           "kernels %.3f, transfers %.3f, host %.3f\n",
           r->prof_step * 1e3, r->split[OP_GEMM] * 1e3, r->gemm_flops / r->split[OP_GEMM] * 1e-9,
           r->split[OP_OTHER] * 1e3, r->split[OP_TRANSFER] * 1e3, r->split[OP_KINDS] * 1e3);
    for (size_t i = 0; i < prof.n_ops; i++)
        printf("  %-18s %8.1f us/step %5.1f calls/step\n", prof.op_name[i],
               prof.op_seconds[i] / (double)c->steps * 1e6,
               (double)prof.op_calls[i] / (double)c->steps);
    printf("gemm bound  %.0f samples/s if only GEMM took time: %.0f%% reached\n", gemm_limit,
           100.0 * r->samples_per_s / gemm_limit);
    printf("first step  cold cache %.3f s (context %.3f, build %.3f, model %.3f, step %.3f); "
           "warm %.3f s (context %.3f, %s)\n",
           r->cold.total, r->cold.context, r->cold.build, r->cold.model, r->cold.step,
           r->warm.total, r->warm.context,
           strcmp(r->backend, "cpu") == 0 ? "no kernels to build"
           : r->warm.from_cache           ? "from cache"
                                          : "rebuilt");
    printf("data load   %.3f s\npeak RSS    %.1f MiB\n", r->load_s, r->peak_rss_mib);
}

static void print_first_step(const char *name, const struct first_step *f)
{
    printf("  \"%s\": {\"total_s\": %.6f, \"context_s\": %.6f, \"build_s\": %.6f, "
           "\"from_cache\": %s, \"model_s\": %.6f, \"step_s\": %.6f},\n",
           name, f->total, f->context, f->build, f->from_cache ? "true" : "false", f->model,
           f->step);
}

static void print_json(const struct bench_cfg *c, const struct bench_result *r)
{
    double gemm_limit = (double)c->batch / r->split[OP_GEMM];
    printf("{\n  \"device\": \"%s\",\n  \"backend\": \"%s\",\n  \"blas\": \"%s\",\n", r->device,
           r->backend, r->blas);
    printf("  \"batch\": %zu,\n  \"steps\": %zu,\n  \"threads\": %llu,\n  \"samples_per_s\": "
           "%.1f,\n  \"runs\": [",
           c->batch, c->steps, c->threads, r->samples_per_s);
    for (size_t i = 0; i < c->repeat; i++)
        printf("%s%.1f", i ? ", " : "", r->runs[i]);
    printf("],\n  \"step_ms\": %.6f,\n", 1e3 * (double)c->batch / r->samples_per_s);
    printf("  \"profiled\": {\"step_ms\": %.6f, \"gemm_ms\": %.6f, \"other_ms\": %.6f, "
           "\"transfer_ms\": %.6f, \"host_ms\": %.6f, \"gemm_gflops\": %.3f, \"gemm_calls\": "
           "%lu, \"other_calls\": %lu, \"transfer_calls\": %lu},\n",
           r->prof_step * 1e3, r->split[OP_GEMM] * 1e3, r->split[OP_OTHER] * 1e3,
           r->split[OP_TRANSFER] * 1e3, r->split[OP_KINDS] * 1e3,
           r->gemm_flops / r->split[OP_GEMM] * 1e-9, r->calls[OP_GEMM], r->calls[OP_OTHER],
           r->calls[OP_TRANSFER]);
    printf("  \"ops_us_per_step\": {");
    for (size_t i = 0; i < prof.n_ops; i++)
        printf("%s\"%s\": %.3f", i ? ", " : "", prof.op_name[i],
               prof.op_seconds[i] / (double)c->steps * 1e6);
    printf("},\n");
    printf("  \"gemm_bound_samples_per_s\": %.1f,\n  \"gemm_bound_fraction\": %.4f,\n",
           gemm_limit, r->samples_per_s / gemm_limit);
    print_first_step("first_step_cold", &r->cold);
    print_first_step("first_step_warm", &r->warm);
    printf("  \"data_load_s\": %.6f,\n  \"peak_rss_mib\": %.1f\n}\n", r->load_s,
           r->peak_rss_mib);
}

/* ---------------------------------------------------------------------------------------------
 * The command.
 */

static int parse_cfg(const struct bench_args *a, struct bench_cfg *c)
{
    size_t v;
    c->steps = 1000;
    c->batch = 128;
    c->repeat = 3;
    c->warmup = 20;
    c->threads = 0;
    if (a->steps && !cli_size("steps", a->steps, &c->steps))
        return CLI_USAGE;
    if (a->batch && !cli_size("batch", a->batch, &c->batch))
        return CLI_USAGE;
    if (a->warmup && !cli_size("warmup", a->warmup, &c->warmup))
        return CLI_USAGE;
    if (a->repeat && !cli_size("repeat", a->repeat, &v))
        return CLI_USAGE;
    c->repeat = a->repeat ? v : c->repeat;
    if (a->threads && !cli_u64("threads", a->threads, &c->threads))
        return CLI_USAGE;
    if (c->steps == 0 || c->batch == 0 || c->repeat == 0 || c->repeat > 16)
        return cli_usage("bench: --steps and --batch must be > 0, --repeat in 1..16");
    return CLI_OK;
}

int cli_bench(int argc, char **argv)
{
    struct bench_args a;
    memset(&a, 0, sizeof a);
    const struct cli_option opts[] = {
        {"device", true, &a.device, NULL, "cpu, opencl, opencl:P:D, a name, or auto (default)"},
        {"steps", true, &a.steps, NULL, "training steps per timed run (default 1000)"},
        {"batch", true, &a.batch, NULL, "batch size (default 128)"},
        {"threads", true, &a.threads, NULL, "CPU backend threads (default: its own choice)"},
        {"repeat", true, &a.repeat, NULL, "timed runs; the median is reported (default 3)"},
        {"warmup", true, &a.warmup, NULL, "untimed steps before the timed runs (default 20)"},
        {"data", true, &a.data, NULL, "Fashion-MNIST folder (default: the Debian package's)"},
        {"json", false, NULL, &a.json, "print one JSON object instead of text"},
    };
    size_t n_opts = sizeof opts / sizeof *opts;
    int rc = cli_parse("bench", argc, argv, opts, n_opts);
    if (rc < 0) {
        cli_print_help("bench", "[OPTIONS]", opts, n_opts);
        return CLI_OK;
    }
    struct bench_cfg c;
    if (rc != CLI_OK || (rc = parse_cfg(&a, &c)) != CLI_OK)
        return rc;
    if (a.threads) /* read by the CPU backend when a context is created */
        setenv("CLANN_CPU_THREADS", a.threads, 1);
    struct bench_result r;
    struct bench_data d;
    memset(&r, 0, sizeof r);
    memset(&d, 0, sizeof d);
    double t0 = cli_now();
    enum clann_status st = clann_fashion_mnist_load(a.data, &d.x, &d.y, &d.tx, &d.ty);
    r.load_s = cli_now() - t0;
    rc = st == CLANN_OK ? run_bench(&a, &c, &r, &d) : cli_fail("fashion-mnist", st);
    if (rc == CLI_OK && a.json)
        print_json(&c, &r);
    else if (rc == CLI_OK)
        print_text(&c, &r);
    clann_matrix_free(&d.x);
    clann_matrix_free(&d.y);
    clann_matrix_free(&d.tx);
    clann_matrix_free(&d.ty);
    return rc;
}
