/*
 * testutil.h - small helpers shared by the Check suites: contexts per device, error metrics and
 * the Check runner boilerplate. Header-only so that each suite stays one executable.
 */
#ifndef CLANN_TESTUTIL_H
#define CLANN_TESTUTIL_H

#include "clann.h"
#include "clann-config.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh scratch folder under $TMPDIR (or /tmp) named after `tag`, into buf; false when it
 * cannot be made. */
static inline bool test_scratch_make(char *buf, size_t size, const char *tag)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", tag);
    return mkdtemp(buf) != NULL;
}

/* Removes a file or a folder and everything in it (links are removed, never followed). */
static inline void test_remove_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char sub[4096];
        int n = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        if (n > 0 && (size_t)n < sizeof sub)
            test_remove_tree(sub);
    }
    if (d)
        closedir(d);
    rmdir(path);
}

/* Creates a context on `device` ("cpu", "opencl:0:0", ...), failing the test with the library's
 * message when it cannot. */
static inline struct clann_context *test_context(const char *device, enum clann_cpu_mode mode)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = device;
    p.cpu_mode = mode;
    struct clann_context *ctx = NULL;
    enum clann_status st = clann_context_create(&p, &ctx);
    ck_assert_msg(st == CLANN_OK, "context on %s: %s", device, clann_last_error());
    return ctx;
}

/* Strict runs (CI sets CLANN_TESTS_STRICT=1: it installs PoCL, numpy, scikit-learn and the
 * Fashion-MNIST package) fail where a test would otherwise skip for something missing from the
 * machine. A build configured without OpenCL still skips its OpenCL suites: that is the
 * build's choice, not a missing device. */
static inline bool test_strict(void)
{
    const char *v = getenv("CLANN_TESTS_STRICT");
    return v && strcmp(v, "1") == 0;
}

/* The exit status for a suite that cannot run because `what` is missing: 77 (skip), or a
 * failure in a strict run. */
static inline int test_skip_status(const char *what)
{
    fprintf(stderr, "%s: %s\n", what, test_strict() ? "failing (CLANN_TESTS_STRICT=1)"
                                                     : "skipped");
    return test_strict() ? EXIT_FAILURE : 77;
}

/* Selectors of every OpenCL device ("opencl:P:D"), at most 8; returns the count (a strict run
 * of an OpenCL build fails the test when it is 0). Call only in a test body (a forked child):
 * OpenCL does not survive fork. */
static inline size_t test_opencl_devices(char sel[][32])
{
    struct clann_device_info *list;
    size_t n, pick, count = 0;
    const char *why;
    if (clann_devices_list(&list, &n, &pick, &why) != CLANN_OK)
        return 0;
    for (size_t i = 1; i < n && count < 8; i++)
        snprintf(sel[count++], 32, "opencl:%d:%d", list[i].platform, list[i].device);
    clann_devices_free(list);
    ck_assert_msg(count > 0 || !test_strict() || !CLANN_HAVE_OPENCL,
                  "CLANN_TESTS_STRICT=1 but no OpenCL device (%s)", why ? why : "none");
    return count;
}

/* Normalized mean squared error sum (a - b)^2 / sum a^2, a the reference. NaN anywhere -> inf. */
static inline double test_nmse(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i]))
            return INFINITY;
        double d = (double)a[i] - b[i];
        num += d * d;
        den += (double)a[i] * a[i];
    }
    return den > 0 ? num / den : num;
}

/* The allocation hook of src/core/status.c (declared in core/internal.h, which not every suite
 * includes): the nth allocation from now, and every later one, fails; 0 disables. */
void clann__alloc_fail_after(long n);

typedef enum clann_status (*test_oom_attempt_fn)(void *user);
typedef void (*test_oom_check_fn)(void *user, long n);

/* The out-of-memory sweep of docs/testing.md (SQLite's and libuv's OOM tests): runs
 * attempt(user) with its 1st, 2nd, ... allocation failing until it succeeds. Each failure must
 * be a clean ERR_NO_MEMORY (or ERR_DEVICE_MEMORY when device_ok) and pass failed(user, n) when
 * given, which checks that the failed call left nothing behind (leaks show under ASan). Returns
 * the number of failed attempts; fails the test when the call never succeeds. */
static inline long test_oom_sweep(const char *what, test_oom_attempt_fn attempt,
                                  test_oom_check_fn failed, bool device_ok, void *user)
{
    for (long n = 1; n < 10000; n++) {
        clann__alloc_fail_after(n);
        enum clann_status st = attempt(user);
        clann__alloc_fail_after(0);
        if (st == CLANN_OK)
            return n - 1;
        ck_assert_msg(st == CLANN_ERR_NO_MEMORY || (device_ok && st == CLANN_ERR_DEVICE_MEMORY),
                      "%s with allocation %ld failing: %s: %s", what, n, clann_status_name(st),
                      clann_last_error());
        if (failed)
            failed(user, n);
    }
    ck_abort_msg("%s never succeeded", what);
    return 0;
}

static inline int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* CLANN_TESTUTIL_H */
