/*
 * test-rng.c - the host Philox generator: the published known-answer vectors, the exactness of
 * the uniform map, and the moments of the uniform and normal streams. (Bit-identity with the
 * OpenCL kernels is tested in test-backend.c.)
 */
#include "core/rng.h"

#include "../cl/philox.clh"

#include <check.h>
#include <math.h>
#include <stdlib.h>

START_TEST(test_philox_known_answers)
{
    /* Random123 kat_vectors: philox4x32 10 rounds, counter 0 key 0, and counter all-ones key
     * all-ones (our counter's last word is always 0, so only the first vector applies as is). */
    const uint32_t expect[4] = {0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u};
    for (uint32_t w = 0; w < 4; w++)
        ck_assert_uint_eq(philox_word(0, 0, 0, 0, w), expect[w]);
    ck_assert_uint_eq(clann__rng_bits(0, 0, 2), expect[2]);
}
END_TEST

START_TEST(test_uniform_range)
{
    ck_assert(philox_bits_to_uniform(0) > 0.0f);
    ck_assert(philox_bits_to_uniform(0xffffffffu) < 1.0f);
    ck_assert_float_eq(philox_bits_to_uniform(0), 5.9604644775390625e-8f);
}
END_TEST

START_TEST(test_math_helpers)
{
    for (float x = 1e-7f; x <= 1.0f; x *= 1.37f) {
        ck_assert_double_eq_tol(philox_log(x), log(x), 2e-6 * fabs(log(x)) + 1e-7);
        ck_assert_double_eq_tol(philox_sqrt(x), sqrt(x), 2e-7 * sqrt(x));
    }
    for (float f = 0.0f; f < 1.0f; f += 0.01f) {
        float s, c;
        philox_quarter_sincos(f, &s, &c);
        ck_assert_double_eq_tol(s, sin(f * 1.5707963267948966), 3e-7);
        ck_assert_double_eq_tol(c, cos(f * 1.5707963267948966), 3e-7);
    }
}
END_TEST

START_TEST(test_moments)
{
    const size_t n = 1000000;
    const uint64_t seeds[] = {0, 42, 0x123456789abcdefull};
    for (size_t s = 0; s < 3; s++) {
        double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
        for (size_t j = 0; j < n; j++) {
            double u = clann__rng_uniform(seeds[s], 7, j);
            double z = clann__rng_normal(seeds[s], 7, j);
            ck_assert(u > 0.0 && u < 1.0 && isfinite(z));
            su += u;
            su2 += u * u;
            sn += z;
            sn2 += z * z;
            sn4 += z * z * z * z;
        }
        double mu = su / n, vu = su2 / n - mu * mu;
        double mn = sn / n, vn = sn2 / n - mn * mn;
        /* 5 standard errors: uniform mean sd = sqrt(1/12/n), normal mean sd = 1/sqrt(n),
         * normal variance sd = sqrt(2/n), kurtosis 3 with sd ~ sqrt(96/n). */
        ck_assert_double_eq_tol(mu, 0.5, 5 * sqrt(1.0 / 12 / n));
        ck_assert_double_eq_tol(vu, 1.0 / 12, 5 * sqrt(1.0 / 180 / n));
        ck_assert_double_eq_tol(mn, 0.0, 5 / sqrt((double)n));
        ck_assert_double_eq_tol(vn, 1.0, 5 * sqrt(2.0 / n));
        ck_assert_double_eq_tol(sn4 / n, 3.0, 5 * sqrt(96.0 / n));
    }
}
END_TEST

START_TEST(test_streams_differ)
{
    int same = 0;
    for (uint64_t j = 0; j < 1000; j++)
        same += clann__rng_bits(1, 1, j) == clann__rng_bits(1, 2, j);
    ck_assert_int_lt(same, 3);
    ck_assert_float_eq(clann__rng_uniform(9, 3, 12345), clann__rng_uniform(9, 3, 12345));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("philox");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_philox_known_answers);
    tcase_add_test(tc, test_uniform_range);
    tcase_add_test(tc, test_math_helpers);
    tcase_add_test(tc, test_moments);
    tcase_add_test(tc, test_streams_differ);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
