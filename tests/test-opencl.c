/*
 * test-opencl.c - OpenCL fault handling (docs/testing.md, "OpenCL faults"):
 *   #42 no ICD: with OCL_ICD_VENDORS pointing at an empty folder (set before the process makes
 *       its first OpenCL call, so in a re-executed child), "auto" falls back to the CPU backend
 *       and "opencl" fails with CLANN_ERR_NO_DEVICE and a message naming the cause;
 *   #36 build failure: a broken kernel loaded through kernel_dir gives CLANN_ERR_KERNEL_BUILD
 *       with the program name, device name, options and the compiler's log in the message;
 *   #44 binary cache: a second context on the device loads every program from the cache (cold
 *       and warm times printed); truncated or corrupted entries are rebuilt silently; no
 *       temporary files are left; use_cache = false writes nothing.
 *
 * Check forks every test; the parent process never calls OpenCL (docs/testing.md,
 * "Conventions"): each test body runs in its own child, and the skip probe runs in a forked
 * child too. A build without OpenCL compiles only main, which exits 77 (skip).
 */
#include "backend/cl_cache.h"
#include "backend/ops.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLANN_SOURCE_ROOT
#define CLANN_SOURCE_ROOT "."
#endif

/* Everything but main needs OpenCL; a CPU-only build compiles main alone, which skips. */
#if CLANN_HAVE_OPENCL
static char g_self[4096]; /* this executable, for re-running it as a child */

/* ---------------------------------------------------------------------------------------------
 * Files.
 */
static void make_temp_dir(char *out, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/clann-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    ck_assert_ptr_nonnull(mkdtemp(out));
}

/* Removes a folder and the plain files in it (the tests create nothing deeper). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char path[4400];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        remove(path);
    }
    closedir(d);
    rmdir(dir);
}

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb");
    ck_assert_msg(in != NULL, "cannot open %s", from);
    FILE *out = fopen(to, "wb");
    ck_assert_msg(out != NULL, "cannot create %s", to);
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

/* Copies every .cl and .clh file of the source tree's cl/ into dir. */
static void copy_kernels(const char *dir)
{
    const char *src = CLANN_SOURCE_ROOT "/cl";
    DIR *d = opendir(src);
    ck_assert_msg(d != NULL, "cannot open %s", src);
    struct dirent *e;
    int copied = 0;
    char from[4400], to[4400];
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".cl") != 0 && strcmp(dot, ".clh") != 0))
            continue;
        snprintf(from, sizeof from, "%s/%s", src, e->d_name);
        snprintf(to, sizeof to, "%s/%s", dir, e->d_name);
        copy_file(from, to);
        copied++;
    }
    closedir(d);
    ck_assert_int_gt(copied, 1);
}

/* Names of the files in dir into names[] (at most max); returns the count. */
static size_t list_dir(const char *dir, char names[][256], size_t max)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && n < max) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    return n;
}

/* The first OpenCL device as "opencl:P:D"; fails the test when there is none. */
static void first_device(char sel[32])
{
    char all[8][32];
    size_t n = test_opencl_devices(all);
    ck_assert_msg(n > 0, "no OpenCL device");
    memcpy(sel, all[0], 32);
}

static enum clann_status create(const char *device, const char *kernel_dir, const char *cache_dir,
                                bool use_cache, struct clann_context **out)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = device;
    p.kernel_dir = kernel_dir;
    p.cache_dir = cache_dir;
    p.use_cache = use_cache;
    *out = NULL;
    return clann_context_create(&p, out);
}

/* ---------------------------------------------------------------------------------------------
 * #42: no ICD. The checks run in a re-executed child whose environment points the ICD loader
 * at an empty folder; it reports through its exit status and stdout.
 */
static int no_icd_child(void)
{
    int failures = 0;
#define EXPECT(cond, ...)                                                                         \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            printf("no-icd child: " __VA_ARGS__);                                                 \
            printf("\n");                                                                         \
            failures++;                                                                           \
        }                                                                                         \
    } while (0)
    struct clann_device_info *list = NULL;
    size_t count = 0, pick = 99;
    const char *why = NULL;
    enum clann_status st = clann_devices_list(&list, &count, &pick, &why);
    EXPECT(st == CLANN_OK, "clann_devices_list: %s", clann_last_error());
    EXPECT(count == 1 && pick == 0, "expected the CPU backend alone, got %zu devices", count);
    EXPECT(why != NULL && *why != '\0', "no reason given for the auto choice");
    printf("devices: %zu, auto reason: %s\n", count, why ? why : "(null)");
    clann_devices_free(list);

    struct clann_context *ctx = NULL;
    st = create("auto", NULL, NULL, false, &ctx);
    EXPECT(st == CLANN_OK, "auto: %s", clann_last_error());
    if (ctx) {
        EXPECT(strcmp(clann_context_backend_name(ctx), "cpu") == 0, "auto picked %s",
               clann_context_backend_name(ctx));
        clann_context_destroy(ctx);
    }

    st = create("opencl", NULL, NULL, false, &ctx);
    const char *msg = clann_last_error();
    printf("device 'opencl' without an ICD: %s: %s\n", clann_status_name(st), msg);
    EXPECT(st == CLANN_ERR_NO_DEVICE, "opencl gave %s, not ERR_NO_DEVICE", clann_status_name(st));
    EXPECT(ctx == NULL, "opencl returned a context");
    EXPECT(strstr(msg, "platform") != NULL || strstr(msg, "ICD") != NULL,
           "the message does not name the cause: %s", msg);
#undef EXPECT
    return failures == 0 ? 0 : 1;
}

START_TEST(test_no_icd)
{
    char empty[4096];
    make_temp_dir(empty, sizeof empty, "no-icd");
    fflush(stdout);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        setenv("OCL_ICD_VENDORS", empty, 1);
        unsetenv("OCL_ICD_FILENAMES");
        unsetenv("CLANN_DEVICE");
        char *argv[] = {g_self, "--no-icd-child", NULL};
        execv(g_self, argv);
        _exit(127);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    remove_dir(empty);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the no-ICD child failed (status %d); see its output above", status);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * #36: build failure through kernel_dir.
 */
START_TEST(test_build_failure)
{
    char sel[32], dir[4096], path[4400];
    first_device(sel);
    make_temp_dir(dir, sizeof dir, "kernels");
    copy_kernels(dir);

    /* the intact copy builds */
    struct clann_context *ctx = NULL;
    enum clann_status st = create(sel, dir, NULL, false, &ctx);
    ck_assert_msg(st == CLANN_OK, "intact kernels from %s: %s", dir, clann_last_error());
    char device_name[128];
    snprintf(device_name, sizeof device_name, "%s", clann_context_device(ctx)->name);
    clann_context_destroy(ctx);

    snprintf(path, sizeof path, "%s/nn.cl", dir);
    FILE *f = fopen(path, "ab");
    ck_assert_ptr_nonnull(f);
    fputs("\n__kernel void clann_broken(__global float *x)\n{\n"
          "    x[0] = clann_undefined_function(1.0f);\n}\n",
          f);
    fclose(f);
    st = create(sel, dir, NULL, false, &ctx);
    const char *msg = clann_last_error();
    printf("broken kernel: %s\n%s\n", clann_status_name(st), msg);
    ck_assert_int_eq(st, CLANN_ERR_KERNEL_BUILD);
    ck_assert_ptr_null(ctx);
    ck_assert_msg(strstr(msg, "nn.cl") != NULL, "no program name in: %s", msg);
    ck_assert_msg(strstr(msg, device_name) != NULL, "no device name in: %s", msg);
    ck_assert_msg(strstr(msg, "-cl-std=CL1.2") != NULL, "no build options in: %s", msg);
    ck_assert_msg(strstr(msg, "clann_undefined_function") != NULL, "no build log in: %s", msg);
    remove_dir(dir);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * #44: binary cache.
 */

/* A whole file, malloc'd. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = malloc(*len ? *len : 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A context that works: fill + download gives the value back. */
static void check_context_works(struct clann_context *ctx)
{
    struct clann_backend *be = ctx->be;
    struct clann_buf buf;
    float out[65];
    ck_assert_int_eq(clann__buf_create(be, 65, &buf), CLANN_OK);
    ck_assert_int_eq(clann__op_fill(be, clann__view(&buf, 0), 65, 3.5f), CLANN_OK);
    ck_assert_int_eq(clann__op_sum(be, clann__view(&buf, 0), 64, 1.0f, clann__view(&buf, 64), 0),
                     CLANN_OK);
    ck_assert_int_eq(clann__op_download(be, out, clann__view(&buf, 0), 65), CLANN_OK);
    ck_assert_float_eq(out[0], 3.5f);
    ck_assert_float_eq(out[64], 224.0f);
    clann__buf_destroy(&buf);
}

static double timed_create(const char *sel, const char *cache, bool use_cache, bool *from_cache,
                           struct clann_context **ctx)
{
    enum clann_status st = create(sel, NULL, cache, use_cache, ctx);
    ck_assert_msg(st == CLANN_OK, "context: %s", clann_last_error());
    return clann_context_build_seconds(*ctx, from_cache);
}

START_TEST(test_binary_cache)
{
    char sel[32], cache[4096], names[64][256], path[4400];
    bool from_cache = true;
    struct clann_context *ctx;
    first_device(sel);
    make_temp_dir(cache, sizeof cache, "cache");

    double cold = timed_create(sel, cache, true, &from_cache, &ctx);
    ck_assert_msg(!from_cache, "cold build reported from_cache");
    check_context_works(ctx);
    clann_context_destroy(ctx);
    size_t n = list_dir(cache, names, 64);
    ck_assert_msg(n >= 5, "expected one cache entry per program, found %zu", n);

    double warm = timed_create(sel, cache, true, &from_cache, &ctx);
    ck_assert_msg(from_cache, "second context did not load from the cache");
    check_context_works(ctx);
    clann_context_destroy(ctx);
    printf("program build on %s: cold %.3f s, warm (cache) %.3f s\n", sel, cold, warm);

    /* corrupt two entries: truncate one, flip a byte in another */
    snprintf(path, sizeof path, "%s/%s", cache, names[0]);
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(truncate(path, sb.st_size / 2), 0);
    snprintf(path, sizeof path, "%s/%s", cache, names[1]);
    ck_assert_int_eq(stat(path, &sb), 0);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, (long)(sb.st_size / 2), SEEK_SET), 0);
    int c = fgetc(f);
    ck_assert_int_eq(fseek(f, (long)(sb.st_size / 2), SEEK_SET), 0);
    fputc(c ^ 0x5a, f);
    fclose(f);

    double rebuilt = timed_create(sel, cache, true, &from_cache, &ctx);
    ck_assert_msg(!from_cache, "corrupt entries were reported as cache hits");
    check_context_works(ctx);
    clann_context_destroy(ctx);
    double again = timed_create(sel, cache, true, &from_cache, &ctx);
    ck_assert_msg(from_cache, "rebuilt entries were not written back");
    clann_context_destroy(ctx);
    printf("after corrupting two entries: rebuild %.3f s, then cache %.3f s\n", rebuilt, again);

    /* no temporary file survives */
    size_t m = list_dir(cache, names, 64);
    ck_assert_uint_eq(m, n);
    for (size_t i = 0; i < m; i++)
        ck_assert_msg(strstr(names[i], ".clbin") != NULL &&
                          strlen(strstr(names[i], ".clbin")) == strlen(".clbin"),
                      "stray file %s in the cache", names[i]);
    remove_dir(cache);

    /* use_cache = false neither reads nor writes */
    make_temp_dir(cache, sizeof cache, "nocache");
    timed_create(sel, cache, false, &from_cache, &ctx);
    ck_assert(!from_cache);
    clann_context_destroy(ctx);
    ck_assert_uint_eq(list_dir(cache, names, 64), 0);
    remove_dir(cache);
}
END_TEST

START_TEST(test_binary_cache_wrong_entries)
{
    /* Entries that are well formed but wrong: another entry's file under this one's name, and
     * an entry written with this program's key but another program's binary (valid header,
     * key and checksum). Both must fall back to the source, and the cache heal. */
    char sel[32], cache[4096], names[64][256], a_path[4400], b_path[4400];
    bool from_cache = true;
    struct clann_context *ctx;
    first_device(sel);
    make_temp_dir(cache, sizeof cache, "cache-wrong");
    timed_create(sel, cache, true, &from_cache, &ctx);
    clann_context_destroy(ctx);
    size_t n = list_dir(cache, names, 64);
    ck_assert_uint_ge(n, 3);
    snprintf(a_path, sizeof a_path, "%s/%s", cache, names[0]);
    snprintf(b_path, sizeof b_path, "%s/%s", cache, names[1]);
    size_t a_len, b_len;
    unsigned char *a = slurp(a_path, &a_len), *b = slurp(b_path, &b_len);
    ck_assert_uint_gt(a_len, 40);
    ck_assert_uint_gt(b_len, 40);
    /* B's key with A's binary, through the cache's own writer. */
    size_t b_key = (size_t)le64(b + 16), a_key = (size_t)le64(a + 16);
    ck_assert(clann__cl_cache_store(cache, b + 40, b_key, a + 40 + a_key, a_len - 40 - a_key));
    /* A third entry replaced by a copy of A's file. */
    char c_path[4400];
    snprintf(c_path, sizeof c_path, "%s/%s", cache, names[2]);
    FILE *f = fopen(c_path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(a, 1, a_len, f), a_len);
    fclose(f);
    free(a);
    free(b);

    timed_create(sel, cache, true, &from_cache, &ctx);
    ck_assert_msg(!from_cache, "wrong entries were reported as cache hits");
    check_context_works(ctx);
    clann_context_destroy(ctx);
    timed_create(sel, cache, true, &from_cache, &ctx);
    ck_assert_msg(from_cache, "rebuilt entries were not written back");
    check_context_works(ctx);
    clann_context_destroy(ctx);
    remove_dir(cache);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Runner.
 */

/* 0 when an OpenCL device exists, 77 (a strict run: 1) when none; probed in a child so that this process never
 * initializes OpenCL before Check forks. */
static int probe_devices(void)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        struct clann_device_info *list = NULL;
        size_t count = 0, pick = 0;
        const char *why = NULL;
        if (clann_devices_list(&list, &count, &pick, &why) != CLANN_OK)
            _exit(1);
        if (count < 2)
            fprintf(stderr, "no OpenCL device (%s)\n", why ? why : "none");
        _exit(count < 2 ? test_skip_status("test-opencl") : 0);
    }
    int status = 0;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 1;
    return WEXITSTATUS(status);
}

/* Lazy builds: a context whose GEMM path is not the CPU-device kernels (a GPU; here CLANN_GEMM
 * forcing CLBlast or the tiled kernel) builds, and caches, one program fewer than one that uses
 * them, and still computes. */
START_TEST(test_lazy_gemm_cpu)
{
    char sel[32], cache[4096], names[64][256];
    bool from_cache = true;
    struct clann_context *ctx;
    first_device(sel);
    make_temp_dir(cache, sizeof cache, "lazy");
    setenv("CLANN_GEMM", "cpu", 1);
    timed_create(sel, cache, true, &from_cache, &ctx);
    clann_context_destroy(ctx);
    size_t with = list_dir(cache, names, 64);
    remove_dir(cache);
    make_temp_dir(cache, sizeof cache, "lazy");
    setenv("CLANN_GEMM", "tiled", 1);
    timed_create(sel, cache, true, &from_cache, &ctx);
    unsetenv("CLANN_GEMM");
    check_context_works(ctx);
    clann_context_destroy(ctx);
    size_t without = list_dir(cache, names, 64);
    remove_dir(cache);
    ck_assert_msg(with >= 5 && without + 1 == with,
                  "programs built: %zu with the CPU-device GEMM, %zu without", with, without);
}
END_TEST

/* Issue 14: the default MLP (784-256-128-10 ReLU, Adam, batch 128) takes at most 20 kernel
 * launches a step in the GPU forms (loss, sum and count fused; the NaN guard in two), counted
 * by the op profile over 10 steps on the first OpenCL device. */
START_TEST(test_launches_per_step)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "opencl";
    p.forms = "gpu";
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    struct clann_context *ctx = NULL;
    ck_assert_msg(clann_context_create(&p, &ctx) == CLANN_OK, "%s", clann_last_error());
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {256, 128};
    ep.hidden_units = hidden;
    ep.n_hidden = 2;
    ep.activation = CLANN_ACTIVATION_RELU;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.max_batch = 128;
    struct clann_model *m = NULL;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 784, 10, &ep, &m), CLANN_OK);
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(1280, 784, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(1280, 1, &y), CLANN_OK);
    for (size_t i = 0; i < x.rows * x.cols; i++)
        x.data[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t r = 0; r < y.rows; r++)
        y.data[r] = (float)(r % 10);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.batch_size = 128;
    fp.epochs = 1; /* 10 steps */
    ck_assert_int_eq(clann_context_profile(ctx, true), CLANN_OK);
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    clann_context_profile(ctx, false);
    const struct clann_op_profile *ops = NULL;
    size_t n = 0;
    ck_assert_int_eq(clann_context_profile_ops(ctx, &ops, &n), CLANN_OK);
    unsigned long launches = 0, opt_steps = 0;
    for (size_t i = 0; i < n; i++) {
        launches += ops[i].launches;
        if (strcmp(ops[i].name, "optimizer_step") == 0)
            opt_steps = ops[i].calls;
    }
    ck_assert_uint_eq(opt_steps, 10);
    double per_step = (double)launches / 10.0;
    printf("default MLP, GPU forms: %.1f launches/step\n", per_step);
    /* 20 a step, plus the epoch's one read-back and reset of the metrics */
    ck_assert_msg(per_step >= 15.0 && per_step <= 20.5, "%.1f launches per step", per_step);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * #57, issue 14: CLBlast's safety net. In the GPU forms (CLBlast the default GEMM) the context's
 * warm-up checks CLBlast; with a planted fault (CLANN_TEST_BREAK_CLBLAST: 1 an error, 2 results
 * 0.1% off) it takes the tiled kernel, says why through the log, and training then equals a
 * run on the tiled kernel bit for bit.
 */
static char g_log[1024];

static void keep_warning(enum clann_log_level level, const char *message, void *user)
{
    (void)user;
    if (level >= CLANN_LOG_LEVEL_WARN && !g_log[0])
        snprintf(g_log, sizeof g_log, "%s", message);
}

/* Trains a small classifier 3 epochs on a GPU-forms context with the given GEMM path; *note
 * gets the context's GEMM note; returns the predictions (caller frees). */
static struct clann_matrix train_small(const char *gemm, char *note, size_t cap)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "opencl";
    p.forms = "gpu";
    p.gemm = gemm;
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    struct clann_context *ctx = NULL;
    ck_assert_msg(clann_context_create(&p, &ctx) == CLANN_OK, "%s", clann_last_error());
    double warm = -1;
    snprintf(note, cap, "%s", clann_context_gemm(ctx, &warm));
    ck_assert(warm >= 0);
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {33};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.max_batch = 16;
    struct clann_model *m = NULL;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 19, 3, &ep, &m), CLANN_OK);
    struct clann_matrix x, y, out;
    ck_assert_int_eq(clann_matrix_create(200, 19, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(200, 1, &y), CLANN_OK);
    for (size_t i = 0; i < x.rows * x.cols; i++)
        x.data[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    for (size_t r = 0; r < y.rows; r++)
        y.data[r] = (float)((x.data[r * 19] > 0) + (x.data[r * 19 + 1] > 0.2f));
    struct clann_fit_params fp = clann_fit_default_params();
    fp.batch_size = 16;
    fp.epochs = 3;
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_int_eq(clann_model_predict(m, &x, &out), CLANN_OK);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    return out;
}

START_TEST(test_clblast_safety_net)
{
#if CLANN_HAVE_CLBLAST
    char note[256];
    struct clann_matrix tiled = train_small("tiled", note, sizeof note);
    ck_assert_str_eq(note, "clann tiled kernel");
    struct clann_matrix ok = train_small(NULL, note, sizeof note);
    printf("GPU forms, default GEMM: %s\n", note);
    ck_assert_msg(strncmp(note, "CLBlast, warm-up ", 17) == 0, "%s", note);
    clann_matrix_free(&ok);
    clann_log_set(keep_warning, CLANN_LOG_LEVEL_WARN, NULL);
    for (int fault = 1; fault <= 2; fault++) {
        setenv("CLANN_TEST_BREAK_CLBLAST", fault == 1 ? "1" : "2", 1);
        g_log[0] = '\0';
        struct clann_matrix fell = train_small(NULL, note, sizeof note);
        printf("CLANN_TEST_BREAK_CLBLAST=%d: %s\nlog: %s\n", fault, note, g_log);
        ck_assert_msg(strstr(note, "tiled kernel (CLBlast failed its warm-up: ") != NULL, "%s",
                      note);
        ck_assert_ptr_nonnull(strstr(note, fault == 1 ? "planted fault" : "NMSE"));
        ck_assert_msg(strstr(g_log, "failed its warm-up") && strstr(g_log, "tiled kernel"),
                      "log: %s", g_log);
        /* the whole run took the tiled kernel: bit-identical to the tiled run */
        ck_assert_uint_eq(fell.rows * fell.cols, tiled.rows * tiled.cols);
        ck_assert_int_eq(memcmp(fell.data, tiled.data, tiled.rows * tiled.cols * sizeof(float)),
                         0);
        clann_matrix_free(&fell);
        /* forced CLBlast stays CLBlast (`clann check` tests that path), saying it failed */
        struct clann_context_params p = clann_context_default_params();
        p.device = "opencl";
        p.forms = "gpu";
        p.gemm = "clblast";
        struct clann_context *ctx = NULL;
        ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
        const char *forced = clann_context_gemm(ctx, NULL);
        ck_assert_msg(strncmp(forced, "CLBlast (forced; failed its warm-up: ", 37) == 0, "%s",
                      forced);
        clann_context_destroy(ctx);
    }
    unsetenv("CLANN_TEST_BREAK_CLBLAST");
    clann_log_set(NULL, CLANN_LOG_LEVEL_INFO, NULL);
    clann_matrix_free(&tiled);
#endif
}
END_TEST

/* Issue 14: CLBlast takes int sizes. A leading dimension past INT32_MAX (with one row, the
 * view's extent stays one float) is a clear ERR_TOO_LARGE on the CLBlast path, naming the way
 * out, and the tiled kernel, whose index math is 32-bit unsigned, computes it. */
static enum clann_status gemm_wide_lda(const char *gemm, float *c_out)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "opencl";
    p.forms = "gpu";
    p.gemm = gemm;
    p.cache_dir = getenv("CLANN_CACHE_DIR_FOR_TESTS");
    struct clann_context *ctx = NULL;
    ck_assert_msg(clann_context_create(&p, &ctx) == CLANN_OK, "%s", clann_last_error());
    struct clann_backend *be = ctx->be;
    struct clann_buf buf;
    const float in[3] = {3.0f, 0.5f, 7.0f}; /* a, b, c */
    ck_assert_int_eq(clann__buf_create(be, 3, &buf), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&buf, 0), in, 3, true), CLANN_OK);
    size_t lda = (size_t)INT32_MAX + 2;
    enum clann_status st = clann__op_gemm(be, false, false, 1, 1, 1, 2.0f, clann__view(&buf, 0),
                                          lda, clann__view(&buf, 1), 1, 1.0f,
                                          clann__view(&buf, 2), 1);
    if (st != CLANN_OK)
        ck_assert_msg(strstr(clann_last_error(), "INT32_MAX") &&
                          strstr(clann_last_error(), "CLANN_GEMM=tiled"),
                      "%s", clann_last_error());
    ck_assert_int_eq(clann__op_download(be, c_out, clann__view(&buf, 2), 1), CLANN_OK);
    clann__buf_destroy(&buf);
    clann_context_destroy(ctx);
    return st;
}

START_TEST(test_clblast_int32_sizes)
{
#if CLANN_HAVE_CLBLAST
    float c = 0;
    ck_assert_int_eq(gemm_wide_lda("clblast", &c), CLANN_ERR_TOO_LARGE);
    ck_assert_float_eq(c, 7.0f); /* untouched */
    ck_assert_int_eq(gemm_wide_lda("tiled", &c), CLANN_OK);
    ck_assert_float_eq(c, 2.0f * 3.0f * 0.5f + 7.0f);
#endif
}
END_TEST
#endif /* CLANN_HAVE_OPENCL */

int main(int argc, char **argv)
{
#if !CLANN_HAVE_OPENCL
    (void)argc;
    (void)argv;
    printf("built without OpenCL: skipped\n");
    return 77;
#else
    if (argc > 1 && strcmp(argv[1], "--no-icd-child") == 0)
        return no_icd_child();
    ssize_t len = readlink("/proc/self/exe", g_self, sizeof g_self - 1);
    if (len > 0)
        g_self[len] = '\0';
    else
        snprintf(g_self, sizeof g_self, "%s", argv[0]);
    int probe = probe_devices();
    if (probe != 0)
        return probe;

    Suite *s = suite_create("opencl");
    TCase *tc = tcase_create("faults");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_no_icd);
    tcase_add_test(tc, test_build_failure);
    tcase_add_test(tc, test_binary_cache);
    tcase_add_test(tc, test_binary_cache_wrong_entries);
    tcase_add_test(tc, test_launches_per_step);
    tcase_add_test(tc, test_lazy_gemm_cpu);
    tcase_add_test(tc, test_clblast_safety_net);
    tcase_add_test(tc, test_clblast_int32_sizes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
#endif
}
