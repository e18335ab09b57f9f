/*
 * test-prep.c - data preparation: seeded and stratified splits, scaling fitted on the training
 * split alone (no leakage), targets scaled and mapped back, scalers saved in the model file,
 * and z-score outlier removal.
 */
#include "testutil.h"

#include "core/rng.h"

#include <unistd.h>

static void make(size_t n, size_t d, struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(n, d, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, y), CLANN_OK);
    for (size_t i = 0; i < n * d; i++)
        x->data[i] = 100.0f * clann__rng_normal(4, 1, i) + 50.0f * (float)(i % d);
    for (size_t i = 0; i < n; i++)
        y->data[i] = (float)(i % 10 < 7 ? 0 : i % 10 < 9 ? 1 : 2); /* 70/20/10 classes */
}

static size_t count_class(const struct clann_matrix *y, float c)
{
    size_t k = 0;
    for (size_t i = 0; i < y->rows; i++)
        k += y->data[i] == c;
    return k;
}

START_TEST(test_split_sizes)
{
    struct clann_matrix x, y;
    make(1000, 3, &x, &y);
    const double ratios[3][3] = {{0.7, 0.3, 0.0}, {0.6, 0.2, 0.2}, {0.98, 0.01, 0.01}};
    for (int k = 0; k < 3; k++) {
        struct clann_split_params p = clann_split_default_params();
        p.train = ratios[k][0], p.dev = ratios[k][1], p.test = ratios[k][2];
        struct clann_split s;
        ck_assert_int_eq(clann_data_split(&x, &y, &p, &s), CLANN_OK);
        ck_assert_uint_eq(s.dev_x.rows, (size_t)(1000 * ratios[k][1] + 0.5));
        ck_assert_uint_eq(s.test_x.rows, (size_t)(1000 * ratios[k][2] + 0.5));
        ck_assert_uint_eq(s.train_x.rows + s.dev_x.rows + s.test_x.rows, 1000);
        /* Every row lands in exactly one part: the sums of a column agree. */
        double total = 0, parts = 0;
        for (size_t i = 0; i < 1000; i++)
            total += x.data[3 * i];
        const struct clann_matrix *xs[3] = {&s.train_x, &s.dev_x, &s.test_x};
        for (int q = 0; q < 3; q++)
            for (size_t i = 0; i < xs[q]->rows; i++)
                parts += xs[q]->data[3 * i];
        ck_assert_double_eq_tol(parts, total, 1e-3 * fabs(total) + 1e-3);
        clann_split_free(&s);
    }
    clann_matrix_free(&x), clann_matrix_free(&y);
}
END_TEST

START_TEST(test_split_stratified_and_seeded)
{
    struct clann_matrix x, y;
    make(1000, 2, &x, &y);
    struct clann_split_params p = clann_split_default_params();
    p.train = 0.6, p.dev = 0.2, p.test = 0.2, p.stratify = true;
    struct clann_split a, b;
    ck_assert_int_eq(clann_data_split(&x, &y, &p, &a), CLANN_OK);
    ck_assert_int_eq(clann_data_split(&x, &y, &p, &b), CLANN_OK);
    ck_assert(memcmp(a.dev_x.data, b.dev_x.data, a.dev_x.rows * 2 * sizeof(float)) == 0);
    ck_assert_uint_eq(count_class(&a.dev_y, 0), 140);
    ck_assert_uint_eq(count_class(&a.dev_y, 1), 40);
    ck_assert_uint_eq(count_class(&a.dev_y, 2), 20);
    ck_assert_uint_eq(count_class(&a.test_y, 2), 20);
    clann_split_free(&b);
    p.seed = 43;
    ck_assert_int_eq(clann_data_split(&x, &y, &p, &b), CLANN_OK);
    ck_assert(memcmp(a.dev_x.data, b.dev_x.data, a.dev_x.rows * 2 * sizeof(float)) != 0);
    clann_split_free(&a), clann_split_free(&b);
    p.train = 0.5;
    ck_assert_int_eq(clann_data_split(&x, &y, &p, &a), CLANN_ERR_INVALID_ARG);
    y.data[5] = 0.5f;
    p.train = 0.6;
    ck_assert_int_eq(clann_data_split(&x, &y, &p, &a), CLANN_ERR_INVALID_ARG);
    ck_assert_msg(strstr(clann_last_error(), "row 6"), "%s", clann_last_error());
    clann_matrix_free(&x), clann_matrix_free(&y);
}
END_TEST

/* The leakage test: scaler statistics are those of the training split alone, byte for byte,
 * and differ from those of all the data. */
START_TEST(test_scaler_no_leakage)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y;
    make(500, 4, &x, &y);
    struct clann_split s;
    ck_assert_int_eq(clann_data_split(&x, &y, NULL, &s), CLANN_OK);
    struct clann_estimator_params ep = clann_estimator_default_params();
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 4, 3, &ep, &m), CLANN_OK);
    struct clann_scaler_params sp = {CLANN_SCALE_STANDARD, 0, 0};
    ck_assert_int_eq(clann_model_scale_inputs(m, &sp, &s.train_x), CLANN_OK);
    const float *sd;
    size_t n;
    const float *mean = clann_model_scaler_stats(m, false, &sd, &n);
    ck_assert_uint_eq(n, 4);
    for (size_t j = 0; j < 4; j++) {
        double sum = 0, ss = 0, all = 0;
        for (size_t i = 0; i < s.train_x.rows; i++)
            sum += s.train_x.data[4 * i + j];
        double mu = sum / (double)s.train_x.rows;
        for (size_t i = 0; i < s.train_x.rows; i++)
            ss += (s.train_x.data[4 * i + j] - mu) * (s.train_x.data[4 * i + j] - mu);
        for (size_t i = 0; i < x.rows; i++)
            all += x.data[4 * i + j];
        float expect_mean = (float)mu, expect_sd = (float)sqrt(ss / (double)s.train_x.rows);
        ck_assert(memcmp(&mean[j], &expect_mean, sizeof(float)) == 0);
        ck_assert(memcmp(&sd[j], &expect_sd, sizeof(float)) == 0);
        ck_assert(mean[j] != (float)(all / (double)x.rows));
    }
    clann_model_destroy(m);
    clann_split_free(&s);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* A regressor on an unscaled target (~1e4) with input and target scalers trains, predicts in
 * the target's units, and predicts identically after a save and load of raw rows. */
START_TEST(test_scaled_regression_round_trip)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(400, 2, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(400, 1, &y), CLANN_OK);
    for (size_t i = 0; i < 400; i++) {
        x.data[2 * i] = 1000.0f * clann__rng_uniform(6, 1, i);
        x.data[2 * i + 1] = 0.001f * clann__rng_uniform(6, 2, i);
        y.data[i] = 10.0f * x.data[2 * i] + 5e6f * x.data[2 * i + 1] + 20000.0f;
    }
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {16};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.01f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_regressor_create(ctx, 2, 1, &ep, &m), CLANN_OK);
    struct clann_scaler_params std = {CLANN_SCALE_STANDARD, 0, 0}, mm = {CLANN_SCALE_MINMAX, -1, 1};
    ck_assert_int_eq(clann_model_scale_inputs(m, &mm, &x), CLANN_OK);
    ck_assert_int_eq(clann_model_scale_targets(m, &std, &y), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 60;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    struct clann_matrix p, q;
    ck_assert_int_eq(clann_model_predict(m, &x, &p), CLANN_OK);
    double err = 0;
    for (size_t i = 0; i < 400; i++)
        err += fabs(p.data[i] - y.data[i]) / 400.0;
    printf("scaled regression: mean absolute error %.1f on targets ~2e4..3.5e4\n", err);
    ck_assert(err < 300.0);
    char path[] = "/tmp/clann-scaled-XXXXXX";
    int fd = mkstemp(path);
    close(fd);
    ck_assert_int_eq(clann_model_save(m, path), CLANN_OK);
    struct clann_model *loaded;
    ck_assert_msg(clann_model_load(ctx, path, &loaded) == CLANN_OK, "%s", clann_last_error());
    ck_assert_int_eq(clann_model_predict(loaded, &x, &q), CLANN_OK);
    ck_assert(memcmp(p.data, q.data, 400 * sizeof(float)) == 0);
    unlink(path);
    clann_matrix_free(&p), clann_matrix_free(&q);
    clann_model_destroy(loaded);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_outliers)
{
    struct clann_matrix x, y;
    make(200, 2, &x, &y);
    x.data[2 * 17] = 1e6f;
    x.data[2 * 90 + 1] = -1e6f;
    float y91 = y.data[91];
    size_t removed;
    ck_assert_int_eq(clann_remove_outliers(&x, &y, 4.0, &removed), CLANN_OK);
    ck_assert_uint_eq(removed, 2);
    ck_assert_uint_eq(x.rows, 198);
    ck_assert_float_eq(y.data[89], y91); /* rows after the removed ones moved up */
    clann_matrix_free(&x), clann_matrix_free(&y);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prep");
    TCase *tc = tcase_create("prep");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_split_sizes);
    tcase_add_test(tc, test_split_stratified_and_seeded);
    tcase_add_test(tc, test_scaler_no_leakage);
    tcase_add_test(tc, test_scaled_regression_round_trip);
    tcase_add_test(tc, test_outliers);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
