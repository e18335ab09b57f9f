/*
 * test-check.c - the device self-check behind `clann check` (clann_device_check()):
 * - the CPU backend's fast mode and every OpenCL device pass in quick mode, with every op
 *   group, every GEMM path the device can take, the RNG streams and the training run present;
 * - a planted fault (a kernel folder in which exp is off by 0.1%) fails the check, in the ops
 *   that use exp and nowhere else (GEMM, the RNG streams);
 * - under auto, the planted kernels fail the warm-up check and the context lands on the CPU
 *   backend, naming the failed check;
 * - a selector that matches nothing and an unknown GEMM path are errors with an empty report.
 * OpenCL does not survive fork: every context is created in a test body (docs/testing.md).
 */
#include "testutil.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How many entries' op names start with prefix (and contain `also` when given). */
static size_t count_ops(const struct clann_check_report *r, const char *prefix, const char *also,
                        bool failed_only)
{
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++)
        n += strncmp(r->entries[i].op, prefix, strlen(prefix)) == 0 &&
             (!also || strstr(r->entries[i].op, also)) && (!failed_only || !r->entries[i].pass);
    return n;
}

static void print_failures(const struct clann_check_report *r)
{
    for (size_t i = 0; i < r->count; i++)
        if (!r->entries[i].pass)
            printf("  FAIL %s %s: %s\n", r->entries[i].op, r->entries[i].shape,
                   r->entries[i].detail);
}

static struct clann_check_report check(const char *device, const char *kernel_dir)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = device;
    p.kernel_dir = kernel_dir;
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    struct clann_check_report r;
    enum clann_status st = clann_device_check(&p, true, &r);
    ck_assert_msg(st == CLANN_OK, "check on %s: %s", device, clann_last_error());
    printf("%s (%s): %zu checks, %zu failed, %.1f s\n", device, r.device.name, r.count, r.failed,
           r.seconds);
    return r;
}

/* Every op group is in the report (names as the ops table's). */
static void assert_complete(const struct clann_check_report *r)
{
    static const char *const ops[] = {
        "fill", "copy", "axpy", "clip_by_value", "clip_by_norm", "sum ", "sum_squares",
        "sum_abs", "count_zero", "dropout", "soft_threshold", "add_noise", "guard_check",
        "accumulate_unless", "guard_skip", "rng_uniform", "rng_normal", "bias_act_forward",
        "act_backward", "col_sum", "prelu_grad", "index_cols", "loss", "count_correct",
        "optimizer_step",
        "constrain", "batchnorm_forward", "batchnorm_backward", "moving_average",
        "batchnorm_sums", "batchnorm_sums centered", "batchnorm_sums channels", "batchnorm_dx",
        "batchnorm_dx channels",
        "embedding_forward", "copy_cols", "gemm", "training loss", "training parameters",
        "training initial weights"};
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        ck_assert_msg(count_ops(r, ops[i], NULL, false) > 0, "no %s check", ops[i]);
    ck_assert_uint_gt(r->count, 200);
}

START_TEST(test_cpu_fast_mode)
{
    struct clann_check_report r = check("cpu", NULL);
    print_failures(&r);
    assert_complete(&r);
    ck_assert_uint_eq(r.failed, 0);
    ck_assert_int_eq(r.device.platform, -1);
    clann_check_report_free(&r);
    ck_assert_ptr_null(r.entries);
}
END_TEST

START_TEST(test_every_opencl_device)
{
    char devices[8][32];
    size_t n = test_opencl_devices(devices);
    for (size_t d = 0; d < n; d++) {
        struct clann_check_report r = check(devices[d], NULL);
        print_failures(&r);
        assert_complete(&r);
        ck_assert_uint_eq(r.failed, 0);
        /* every GEMM path: the default, the tiled kernel, CLBlast, the CPU-device kernels */
        ck_assert_uint_gt(count_ops(&r, "gemm", "[default]", false), 0);
        ck_assert_uint_gt(count_ops(&r, "gemm", "[tiled]", false), 0);
        ck_assert_uint_eq(count_ops(&r, "gemm", "[clblast]", false) > 0, CLANN_HAVE_CLBLAST);
        if (r.device.type == CLANN_DEVICE_TYPE_CPU) { /* and every op in the GPU forms */
            ck_assert_uint_gt(count_ops(&r, "gemm", "[cpu kernels]", false), 0);
            ck_assert_uint_gt(count_ops(&r, "sum ", "[gpu forms]", false), 0);
            ck_assert_uint_gt(count_ops(&r, "count_correct", "[gpu forms]", false), 0);
            ck_assert_uint_gt(count_ops(&r, "batchnorm_dx", "[gpu forms]", false), 0);
            ck_assert_uint_gt(count_ops(&r, "training parameters", "[gpu forms]", false), 0);
        }
        for (size_t i = 0; i < r.count; i++) /* an error, never above its tolerance */
            ck_assert_msg(r.entries[i].error <= r.entries[i].tolerance, "%s %s: %g > %g",
                          r.entries[i].op, r.entries[i].shape, r.entries[i].error,
                          r.entries[i].tolerance);
        clann_check_report_free(&r);
    }
}
END_TEST

/* Writes text to out with every call exp(...) made 1.001f * exp(...) (a whole identifier only:
 * expm1 and log1p stay as they are). */
static void plant(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        bool ident_before = p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '_');
        if (!ident_before && strncmp(p, "exp(", 4) == 0)
            fputs("1.001f * ", out);
        fputc(*p, out);
    }
}

/* The kernel sources with exp() off by 0.1%, into a fresh folder. */
static void planted_kernels(char *dir, size_t cap)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, cap, "%s/clann-planted-XXXXXX", base && *base ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *src = CLANN_SOURCE_ROOT "/cl";
    DIR *d = opendir(src);
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    char from[4400], to[4400];
    static char text[1 << 20];
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".cl") != 0 && strcmp(dot, ".clh") != 0))
            continue;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
        ck_assert_msg(in && out, "copying %s", from);
        size_t n = fread(text, 1, sizeof text - 1, in);
        ck_assert_uint_lt(n, sizeof text - 1);
        text[n] = 0;
        plant(out, text);
        fclose(in);
        fclose(out);
    }
    closedir(d);
}

static void remove_planted(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4400];
    while (d && (e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            remove(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static char g_warning[1024];

static void keep_warning(enum clann_log_level level, const char *message, void *user)
{
    (void)user;
    if (level >= CLANN_LOG_LEVEL_WARN && !g_warning[0])
        snprintf(g_warning, sizeof g_warning, "%s", message);
}

/* #57, issue 14: under auto (OpenCL CPU devices admitted by CLANN_AUTO_OPENCL_CPU=1), the planted
 * kernels build but fail the warm-up check: the context lands on the CPU backend, the log and
 * the device's note name the failed check. The intact kernels pass it and stay on OpenCL. */
static void check_auto_falls_back(const char *dir)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "auto";
    p.kernel_dir = dir;
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    setenv("CLANN_AUTO_OPENCL_CPU", "1", 1);
    clann_log_set(keep_warning, CLANN_LOG_LEVEL_WARN, NULL);
    g_warning[0] = '\0';
    struct clann_context *ctx = NULL;
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
    const struct clann_device_info *d = clann_context_device(ctx);
    printf("auto with the planted kernels: %s (%s)\nlog: %s\n", d->name, d->note, g_warning);
    ck_assert_int_eq(d->type, CLANN_DEVICE_TYPE_CPU_BACKEND);
    ck_assert_msg(strstr(d->note, "auto passed over") && strstr(d->note, "warm-up check"), "%s",
                  d->note);
    ck_assert_msg(strstr(g_warning, "warm-up check act_backward elu") ||
                      strstr(g_warning, "warm-up check bias_act_forward sigmoid") ||
                      strstr(g_warning, "warm-up check loss"),
                  "log: %s", g_warning);
    ck_assert_ptr_nonnull(strstr(g_warning, "NMSE"));
    clann_context_destroy(ctx);
    p.kernel_dir = NULL;
    g_warning[0] = '\0';
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
    ck_assert_int_ne(clann_context_device(ctx)->type, CLANN_DEVICE_TYPE_CPU_BACKEND);
    ck_assert_str_eq(g_warning, "");
    clann_context_destroy(ctx);
    clann_log_set(NULL, CLANN_LOG_LEVEL_INFO, NULL);
    unsetenv("CLANN_AUTO_OPENCL_CPU");
}

START_TEST(test_planted_fault)
{
    char devices[8][32], dir[4096];
    if (test_opencl_devices(devices) == 0)
        return;
    planted_kernels(dir, sizeof dir);
    struct clann_check_report r = check(devices[0], dir);
    print_failures(&r);
    ck_assert_uint_gt(r.failed, 0);
    /* found where exp is used (ELU, softplus, sigmoid, the losses), and only there */
    ck_assert_uint_gt(count_ops(&r, "act_backward", "elu", true) +
                          count_ops(&r, "bias_act_forward", "softplus", true) +
                          count_ops(&r, "bias_act_forward", "sigmoid", true),
                      0);
    ck_assert_uint_eq(count_ops(&r, "gemm", NULL, true), 0);
    ck_assert_uint_eq(count_ops(&r, "rng_", NULL, true), 0);
    ck_assert_uint_eq(count_ops(&r, "fill", NULL, true), 0);
    ck_assert_uint_eq(count_ops(&r, "batchnorm_sums", NULL, true), 0);
    ck_assert_uint_eq(count_ops(&r, "batchnorm_dx", NULL, true), 0);
    clann_check_report_free(&r);
    check_auto_falls_back(dir);
    remove_planted(dir);
}
END_TEST

START_TEST(test_errors)
{
    struct clann_context_params p = clann_context_default_params();
    struct clann_check_report r;
    p.device = "no-such-device-anywhere";
    ck_assert_int_eq(clann_device_check(&p, true, &r), CLANN_ERR_NO_DEVICE);
    ck_assert_uint_eq(r.count, 0);
    ck_assert_ptr_null(r.entries);
    clann_check_report_free(&r);
    ck_assert_int_eq(clann_device_check(&p, true, NULL), CLANN_ERR_INVALID_ARG);
    /* the gemm parameter of a context takes the known paths only */
    struct clann_context *ctx = NULL;
    p.device = "cpu";
    p.gemm = "fastest";
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "fastest"));
    p.gemm = "tiled"; /* ignored by the CPU backend */
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
    clann_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("check");
    TCase *tc = tcase_create("check");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_cpu_fast_mode);
    tcase_add_test(tc, test_every_opencl_device);
    tcase_add_test(tc, test_planted_fault);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
