/*
 * test-rng.c - the host Philox generator: the published known-answer vectors, the exactness of
 * the uniform map, and the moments of the uniform and normal streams. (Bit-identity with the
 * OpenCL kernels is tested in test-backend.c.) Also the layout of the stream numbers.
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

/* The stream numbers every use has had since it was written (reruns and saved runs depend on
 * them), and no two uses of a model of up to 1000 layers and 1000 embedding tables share one. */
static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

START_TEST(test_stream_layout)
{
    const enum clann__rng_stream per_layer[] = {CLANN__RNG_STREAM_INIT, CLANN__RNG_STREAM_DROPOUT,
                                                CLANN__RNG_STREAM_RRELU, CLANN__RNG_STREAM_NOISE};
    enum { LAYERS = 1000, TABLES = 1000, N = 4 * LAYERS + TABLES + 7 };
    static uint32_t all[N];
    size_t n = 0;
    for (uint32_t i = 0; i < LAYERS; i++) {
        for (size_t p = 0; p < 4; p++) {
            all[n] = clann__rng_stream(per_layer[p], i);
            ck_assert_uint_eq(all[n++], (uint32_t)per_layer[p] + 16u * i);
        }
    }
    for (uint32_t k = 0; k < TABLES; k++) {
        all[n] = clann__rng_stream(CLANN__RNG_STREAM_TABLE_INIT, k);
        ck_assert_uint_eq(all[n++], CLANN__RNG_STREAM_INIT + 16u * (1u << 20) + k);
    }
    for (uint32_t which = 1; which <= 2; which++) {
        all[n] = clann__rng_stream(CLANN__RNG_STREAM_STEP_NOISE, which);
        ck_assert_uint_eq(all[n++], CLANN__RNG_STREAM_NOISE + 16u * 1000u + which);
    }
    all[n] = clann__rng_stream(CLANN__RNG_STREAM_LABEL_NOISE, 0);
    ck_assert_uint_eq(all[n++], CLANN__RNG_STREAM_NOISE + 16u * 1001u);
    const uint32_t model_wide[][2] = {{CLANN__RNG_STREAM_SHUFFLE, 2}, {CLANN__RNG_STREAM_SPLIT, 6},
                                      {CLANN__RNG_STREAM_SAMPLED, 7}, {CLANN__RNG_STREAM_TEST, 15}};
    for (size_t i = 0; i < 4; i++) {
        all[n] = clann__rng_stream((enum clann__rng_stream)model_wide[i][0], 0);
        ck_assert_uint_eq(all[n++], model_wide[i][1]);
    }
    ck_assert_uint_eq(n, N);
    qsort(all, n, sizeof *all, compare_u32);
    for (size_t i = 1; i < n; i++)
        ck_assert_msg(all[i] != all[i - 1], "stream %u is used twice", (unsigned)all[i]);
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
    tcase_add_test(tc, test_stream_layout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
