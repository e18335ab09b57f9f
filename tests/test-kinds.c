/*
 * test-kinds.c - the kind tables of src/core/kinds.h: every kind's names round-trip through
 * clann__kind_name and clann__kind_parse, parse rejects what is not a name, the internal enums
 * have one value per row, and the public lookups (clann_activation_from_name, ...) answer from
 * the same tables.
 */
#include "backend/backend.h"
#include "core/kinds.h"
#include "nn/model.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const struct clann__kind_table *const all_kinds[] = {
    &clann__activation_kinds, &clann__loss_kinds,       &clann__optimizer_kinds,
    &clann__initializer_kinds, &clann__constraint_kinds, &clann__scale_kinds,
    &clann__layer_kinds,      &clann__combiner_kinds,   &clann__feature_kinds,
    &clann__feature_output_kinds, &clann__sampler_kinds, &clann__schedule_kinds,
    &clann__mode_kinds, &clann__nan_policy_kinds, &clann__monitor_kinds,
};
#define N_KINDS (sizeof all_kinds / sizeof *all_kinds)

START_TEST(test_names_round_trip)
{
    for (size_t k = 0; k < N_KINDS; k++) {
        const struct clann__kind_table *t = all_kinds[k];
        ck_assert_msg(t->count > 0 && t->what && *t->what, "table %zu is empty", k);
        for (size_t v = 0; v < t->count; v++) {
            const char *name = clann__kind_name(t, v);
            ck_assert_msg(name && *name && strcmp(name, "?") != 0, "%s %zu has no name",
                          t->what, v);
            size_t back = t->count;
            ck_assert_msg(clann__kind_parse(t, name, &back), "%s '%s' does not parse", t->what,
                          name);
            ck_assert_uint_eq(back, v);
            for (size_t w = v + 1; w < t->count; w++)
                ck_assert_str_ne(name, clann__kind_name(t, w));
        }
        ck_assert_str_eq(clann__kind_name(t, t->count), "?");
        ck_assert_str_eq(clann__kind_name(t, (size_t)-1), "?");
    }
}
END_TEST

START_TEST(test_parse_rejects_unknown_names)
{
    const char *const bad[] = {"", "?", "unknown", " relu", "relu ", "RELU", "Mean", "rel",
                               "sgdx", "dense\n", "none,", "hash\t"};
    for (size_t k = 0; k < N_KINDS; k++) {
        const struct clann__kind_table *t = all_kinds[k];
        size_t out = 12345;
        ck_assert(!clann__kind_parse(t, NULL, &out));
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
            ck_assert_msg(!clann__kind_parse(t, bad[i], &out), "%s accepts '%s'", t->what,
                          bad[i]);
        ck_assert_uint_eq(out, 12345); /* untouched on failure */
    }
}
END_TEST

/* The names are what specs and model files store: a few pinned, so that a table edit that
 * renames a released kind fails here. */
START_TEST(test_stored_names)
{
    ck_assert_str_eq(clann__kind_name(&clann__activation_kinds, CLANN_ACTIVATION_LEAKY_RELU),
                     "leaky_relu");
    ck_assert_str_eq(clann__kind_name(&clann__loss_kinds, CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY),
                     "sampled_softmax_cross_entropy");
    ck_assert_str_eq(clann__kind_name(&clann__loss_kinds, CLANN_LOSS_NCE), "nce");
    ck_assert_str_eq(clann__kind_name(&clann__sampler_kinds, CLANN_SAMPLER_LOG_UNIFORM),
                     "log_uniform");
    ck_assert_str_eq(clann__kind_name(&clann__optimizer_kinds, CLANN_OPTIMIZER_RMSPROP),
                     "rmsprop");
    ck_assert_str_eq(clann__kind_name(&clann__initializer_kinds, CLANN_INIT_HE_NORMAL),
                     "he_normal");
    ck_assert_str_eq(clann__kind_name(&clann__constraint_kinds, CLANN_CONSTRAINT_MIN_MAX_NORM),
                     "min_max_norm");
    ck_assert_str_eq(clann__kind_name(&clann__scale_kinds, CLANN_SCALE_MINMAX), "minmax");
    ck_assert_str_eq(clann__kind_name(&clann__layer_kinds, CLANN__LAYER_BATCHNORM), "batchnorm");
    ck_assert_str_eq(clann__kind_name(&clann__combiner_kinds, CLANN_COMBINER_SQRTN), "sqrtn");
    ck_assert_str_eq(clann__kind_name(&clann__feature_kinds, CLANN_FEATURE_CROSSED), "crossed");
    ck_assert_str_eq(clann__kind_name(&clann__feature_output_kinds, CLANN_FEATURE_INDICATOR),
                     "indicator");
}
END_TEST

/* The internal enums are generated from the same rows: one value each, the counts the backends
 * bound their kinds by. */
START_TEST(test_internal_enums)
{
    ck_assert_uint_eq(CLANN__ACT_COUNT, clann__activation_kinds.count);
    ck_assert_uint_eq(CLANN__OPT_COUNT, clann__optimizer_kinds.count);
    /* sampled softmax is the model's, not a backend loss: an enumerator the backends refuse */
    ck_assert_uint_eq(CLANN__LOSS_COUNT, clann__loss_kinds.count);
    ck_assert(!clann__loss_computed(CLANN__LOSS_SAMPLED_SOFTMAX_CE));
    ck_assert(clann__loss_computed(CLANN__LOSS_NCE) && !clann__loss_computed(CLANN__LOSS_COUNT));
    ck_assert_int_eq(CLANN__LOSS_NCE, CLANN_LOSS_NCE);
    ck_assert_int_eq(CLANN__LOSS_SPARSE_SOFTMAX_CE, CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    ck_assert_int_eq(CLANN__ACT_SOFTMAX, CLANN_ACTIVATION_SOFTMAX);
    ck_assert_int_eq(CLANN__CONSTRAINT_NON_NEG, CLANN_CONSTRAINT_NON_NEG);
    ck_assert_uint_eq(CLANN__LAYER_FLATTEN + 1, clann__layer_kinds.count);
}
END_TEST

START_TEST(test_public_lookups)
{
    for (size_t v = 0; v < clann__activation_kinds.count; v++) {
        enum clann_activation a = CLANN_ACTIVATION_LINEAR;
        const char *name = clann_activation_name((enum clann_activation)v);
        ck_assert_str_eq(name, clann__kind_name(&clann__activation_kinds, v));
        ck_assert(clann_activation_from_name(name, &a));
        ck_assert_int_eq(a, (int)v);
    }
    ck_assert_str_eq(clann_activation_name((enum clann_activation)99), "?");
    enum clann_activation a = CLANN_ACTIVATION_TANH;
    ck_assert(!clann_activation_from_name("swish", &a) && !clann_activation_from_name(NULL, &a));
    ck_assert_int_eq(a, CLANN_ACTIVATION_TANH);

    enum clann_optimizer o = CLANN_OPTIMIZER_SGD;
    ck_assert(clann_optimizer_from_name("adam", &o) && o == CLANN_OPTIMIZER_ADAM);
    ck_assert(clann_optimizer_from_name("nesterov", &o) && o == CLANN_OPTIMIZER_MOMENTUM);
    ck_assert(!clann_optimizer_from_name("adamw", &o) && !clann_optimizer_from_name(NULL, &o));

    enum clann_scale s = CLANN_SCALE_NONE;
    ck_assert(clann_scale_from_name("clip", &s) && s == CLANN_SCALE_CLIP);
    ck_assert(!clann_scale_from_name("robust", &s) && s == CLANN_SCALE_CLIP);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("kinds");
    TCase *tc = tcase_create("tables");
    tcase_add_test(tc, test_names_round_trip);
    tcase_add_test(tc, test_parse_rejects_unknown_names);
    tcase_add_test(tc, test_stored_names);
    tcase_add_test(tc, test_internal_enums);
    tcase_add_test(tc, test_public_lookups);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
