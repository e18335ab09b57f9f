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

static inline int test_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#endif /* CLANN_TESTUTIL_H */
