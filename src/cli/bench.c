/*
 * bench.c - `clann bench`: training throughput of the Fashion-MNIST MLP 784-256-128-10 (ReLU,
 * Adam, sparse softmax cross-entropy) on one device, with the step time split into GEMM, other
 * kernels, transfers and host work, the time to the first step with a cold and a warm kernel
 * cache, and the peak resident memory.
 *
 * The split comes from a profiling run (clann_context_profile): the library times each op
 * and waits for the device before and after it, so that an OpenCL op is charged its own
 * execution and no other. Waiting serializes the queue, so the profiled run is slower than the
 * timed runs; samples/s always comes from the unprofiled runs.
 */
#define _GNU_SOURCE /* RTLD_DEFAULT, to ask OpenBLAS which kernels it runs */

#include "cli.h"

#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Op profiling: the library's per-op totals (clann_context_profile), summed per class.
 */

enum op_kind { OP_GEMM = 0, OP_OTHER = 1, OP_TRANSFER = 2, OP_KINDS = 3 };

#define MAX_OPS 64

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
    unsigned long launches; /* device kernel launches, all ops */
    struct clann_op_profile ops[MAX_OPS]; /* per op, in the order of first call */
    size_t n_ops;
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

/* The class an op's time is charged to in the split. */
static enum op_kind kind_of(enum clann_op_class c)
{
    return c == CLANN_OP_GEMM ? OP_GEMM : c == CLANN_OP_TRANSFER ? OP_TRANSFER : OP_OTHER;
}

static int profiled_run(struct clann_context *ctx, struct clann_model *m,
                        const struct bench_data *d, const struct bench_cfg *c,
                        struct bench_result *r)
{
    double s;
    const struct clann_op_profile *ops = NULL;
    size_t n = 0;
    enum clann_status st = clann_context_profile(ctx, true);
    if (st != CLANN_OK)
        return cli_fail("profile", st);
    int rc = train(m, d, c->batch, c->steps, &s);
    clann_context_profile(ctx, false);
    st = clann_context_profile_ops(ctx, &ops, &n);
    if (st != CLANN_OK)
        return cli_fail("profile", st);
    double seconds[OP_KINDS] = {0.0, 0.0, 0.0}, timed = 0.0;
    r->n_ops = n < MAX_OPS ? n : MAX_OPS;
    for (size_t i = 0; i < n; i++) {
        enum op_kind k = kind_of(ops[i].op_class);
        seconds[k] += ops[i].seconds;
        r->calls[k] += ops[i].calls;
        r->launches += ops[i].launches;
        r->gemm_flops += ops[i].flops;
        if (i < r->n_ops)
            r->ops[i] = ops[i];
    }
    for (int k = 0; k < OP_KINDS; k++) {
        r->split[k] = seconds[k] / (double)c->steps;
        timed += seconds[k];
    }
    r->split[OP_KINDS] = (s - timed) / (double)c->steps;
    r->prof_step = s / (double)c->steps;
    r->gemm_flops /= (double)c->steps;
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
    for (size_t i = 0; i < r->n_ops; i++)
        printf("  %-18s %8.1f us/step %5.1f calls/step %5.1f launches/step\n", r->ops[i].name,
               r->ops[i].seconds / (double)c->steps * 1e6,
               (double)r->ops[i].calls / (double)c->steps,
               (double)r->ops[i].launches / (double)c->steps);
    printf("launches    %.1f kernel launches/step (a CLBlast call counts as one)\n",
           (double)r->launches / (double)c->steps);
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
           "%lu, \"other_calls\": %lu, \"transfer_calls\": %lu, \"launches_per_step\": %.2f},\n",
           r->prof_step * 1e3, r->split[OP_GEMM] * 1e3, r->split[OP_OTHER] * 1e3,
           r->split[OP_TRANSFER] * 1e3, r->split[OP_KINDS] * 1e3,
           r->gemm_flops / r->split[OP_GEMM] * 1e-9, r->calls[OP_GEMM], r->calls[OP_OTHER],
           r->calls[OP_TRANSFER], (double)r->launches / (double)c->steps);
    printf("  \"ops_us_per_step\": {");
    for (size_t i = 0; i < r->n_ops; i++)
        printf("%s\"%s\": %.3f", i ? ", " : "", r->ops[i].name,
               r->ops[i].seconds / (double)c->steps * 1e6);
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
