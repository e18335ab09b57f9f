/*
 * test-status.c - status table, error messages, logging hook and device selection basics.
 */
#include "core/internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_status_table)
{
    ck_assert_str_eq(clann_status_str(CLANN_OK), "success");
    ck_assert_str_eq(clann_status_name(CLANN_ERR_KERNEL_BUILD), "ERR_KERNEL_BUILD");
    ck_assert_str_eq(clann_status_str((enum clann_status)12345), "unknown status");
    /* Every code has a distinct, non-empty name. */
    const enum clann_status all[] = {
#define X_(name, value, text) CLANN_##name,
        CLANN_STATUS_MAP(X_)
#undef X_
    };
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        ck_assert(strlen(clann_status_name(all[i])) > 0);
        for (size_t j = i + 1; j < n; j++)
            ck_assert_str_ne(clann_status_name(all[i]), clann_status_name(all[j]));
    }
}
END_TEST

static int log_calls;
static char log_last[256];

static void log_hook(enum clann_log_level level, const char *msg, void *user)
{
    (void)level;
    *(int *)user += 1;
    snprintf(log_last, sizeof log_last, "%s", msg);
}

START_TEST(test_error_and_log)
{
    clann_log_set(log_hook, CLANN_LOG_LEVEL_DEBUG, &log_calls);
    enum clann_status st = clann__error(NULL, CLANN_ERR_FORMAT, "file %s row %d", "a.csv", 3);
    ck_assert_int_eq(st, CLANN_ERR_FORMAT);
    ck_assert_str_eq(clann_last_error(), "file a.csv row 3");
    ck_assert_int_eq(log_calls, 1);
    ck_assert(strstr(log_last, "ERR_FORMAT") != NULL);
    clann__error_append(NULL, " (%s)", "more");
    ck_assert_str_eq(clann_last_error(), "file a.csv row 3 (more)");
    clann_log_set(NULL, CLANN_LOG_LEVEL_INFO, NULL);
}
END_TEST

START_TEST(test_alloc_injection)
{
    clann__alloc_fail_after(2);
    void *a = clann__malloc(8);
    void *b = clann__malloc(8);
    void *c = clann__malloc(8);
    clann__alloc_fail_after(0);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(c);
    clann__free(a);
    size_t out;
    ck_assert(!clann__mul_size(SIZE_MAX / 2, 3, &out));
    ck_assert(clann__mul_size(1000, 4, &out) && out == 4000);
}
END_TEST

START_TEST(test_cpu_context)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "cpu";
    struct clann_context *ctx = NULL;
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
    ck_assert_str_eq(clann_context_backend_name(ctx), "cpu");
    ck_assert_int_eq(clann_context_device(ctx)->type, CLANN_DEVICE_TYPE_CPU_BACKEND);
    clann_context_destroy(ctx);
    clann_context_destroy(NULL);
}
END_TEST

START_TEST(test_bad_selectors)
{
    struct clann_context_params p = clann_context_default_params();
    struct clann_context *ctx = (struct clann_context *)1;
    p.device = "opencl:x";
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_null(ctx);
    ck_assert(strstr(clann_last_error(), "opencl:PLATFORM:DEVICE") != NULL);
    p.device = "no-such-device-name-xyz";
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_ERR_NO_DEVICE);
    ck_assert(strstr(clann_last_error(), "no-such-device-name-xyz") != NULL);
    p.device = "opencl:99:0";
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_ERR_NO_DEVICE);
}
END_TEST

START_TEST(test_device_list)
{
    struct clann_device_info *list;
    size_t n, pick;
    const char *why;
    ck_assert_int_eq(clann_devices_list(&list, &n, &pick, &why), CLANN_OK);
    ck_assert_uint_ge(n, 1);
    ck_assert_int_eq(list[0].type, CLANN_DEVICE_TYPE_CPU_BACKEND);
    ck_assert_uint_lt(pick, n);
    ck_assert_ptr_nonnull(why);
    clann_devices_free(list);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("status");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_status_table);
    tcase_add_test(tc, test_error_and_log);
    tcase_add_test(tc, test_alloc_injection);
    tcase_add_test(tc, test_cpu_context);
    tcase_add_test(tc, test_bad_selectors);
    tcase_add_test(tc, test_device_list);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
