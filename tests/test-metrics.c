/*
 * test-metrics.c - the metrics in src/metrics: hand-computed cases (scikit-learn's documented
 * examples, ties, one-class inputs, error paths) and a comparison with scikit-learn on random
 * predictions when /usr/bin/python3 can import sklearn (skipped with a note otherwise).
 *
 * Undefined areas: clann_binary_roc_auc() with one class, and
 * clann_binary_average_precision() without a positive, return CLANN_ERR_INVALID_ARG and set
 * the output to NaN; clann_binary_evaluate() reports them as NaN and succeeds.
 */
#include "core/internal.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOL 1e-12
#define SK_TOL 1e-6

#define ASSERT_NEAR(a, b, tol)                                                               \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol), "%s = %.17g, expected %.17g", #a, \
                  (double)(a), (double)(b))

#define ASSERT_STATUS(call, status, text)                                                    \
    do {                                                                                     \
        enum clann_status st_ = (call);                                                      \
        ck_assert_msg(st_ == (status), "%s returned %s (%s)", #call, clann_status_name(st_), \
                      clann_last_error());                                                   \
        ck_assert_msg(strstr(clann_last_error(), (text)) != NULL,                            \
                      "message '%s' lacks '%s'", clann_last_error(), (text));                \
    } while (0)

/* scikit-learn's documented example for roc_auc_score, roc_curve, average_precision_score and
 * precision_recall_curve. */
static const float ex_labels[] = {0, 0, 1, 1};
static const float ex_scores[] = {0.1f, 0.4f, 0.35f, 0.8f};

START_TEST(test_sklearn_doc_examples)
{
    double auc, ap;
    ck_assert_int_eq(clann_binary_roc_auc(ex_scores, ex_labels, 4, &auc), CLANN_OK);
    ASSERT_NEAR(auc, 0.75, TOL);
    ck_assert_int_eq(clann_binary_average_precision(ex_scores, ex_labels, 4, &ap), CLANN_OK);
    ASSERT_NEAR(ap, 5.0 / 6.0, TOL);

    struct clann_roc_curve roc;
    ck_assert_int_eq(clann_roc_curve_compute(ex_scores, ex_labels, 4, &roc), CLANN_OK);
    const double fpr[] = {0, 0, 0.5, 0.5, 1}, tpr[] = {0, 0.5, 0.5, 1, 1};
    const float thr[] = {0.8f, 0.4f, 0.35f, 0.1f};
    ck_assert_uint_eq(roc.count, 5);
    ck_assert(isinf(roc.thresholds[0]) && roc.thresholds[0] > 0);
    for (size_t i = 0; i < 5; i++) {
        ASSERT_NEAR(roc.fpr[i], fpr[i], TOL);
        ASSERT_NEAR(roc.tpr[i], tpr[i], TOL);
        if (i > 0)
            ck_assert(roc.thresholds[i] == thr[i - 1]);
    }
    clann_roc_curve_free(&roc);
    ck_assert_ptr_null(roc.fpr);
    clann_roc_curve_free(&roc);

    struct clann_pr_curve pr;
    ck_assert_int_eq(clann_pr_curve_compute(ex_scores, ex_labels, 4, &pr), CLANN_OK);
    const double prec[] = {0.5, 2.0 / 3.0, 0.5, 1, 1}, rec[] = {1, 1, 0.5, 0.5, 0};
    ck_assert_uint_eq(pr.count, 5);
    for (size_t i = 0; i < 5; i++) {
        ASSERT_NEAR(pr.precision[i], prec[i], TOL);
        ASSERT_NEAR(pr.recall[i], rec[i], TOL);
        if (i < 4)
            ck_assert(pr.thresholds[i] == thr[3 - i]);
    }
    clann_pr_curve_free(&pr);
    clann_pr_curve_free(NULL);
}
END_TEST

START_TEST(test_ties)
{
    double auc, ap;
    /* All tied: one trapezoid through (0, 0) and (1, 1). */
    const float s1[] = {0.5f, 0.5f, 0.5f, 0.5f}, y1[] = {0, 1, 0, 1};
    ck_assert_int_eq(clann_binary_roc_auc(s1, y1, 4, &auc), CLANN_OK);
    ASSERT_NEAR(auc, 0.5, TOL);
    ck_assert_int_eq(clann_binary_average_precision(s1, y1, 4, &ap), CLANN_OK);
    ASSERT_NEAR(ap, 0.5, TOL);
    /* Pairs (positive, negative): 0.5 > 0.2, 0.5 = 0.5 (half), 0.9 > both: 3.5 / 4. */
    const float s2[] = {0.2f, 0.5f, 0.5f, 0.9f}, y2[] = {0, 0, 1, 1};
    ck_assert_int_eq(clann_binary_roc_auc(s2, y2, 4, &auc), CLANN_OK);
    ASSERT_NEAR(auc, 0.875, TOL);
    /* AP: threshold 0.9 gives R 0.5 at P 1; 0.5 gives R 1 at P 2/3. */
    ck_assert_int_eq(clann_binary_average_precision(s2, y2, 4, &ap), CLANN_OK);
    ASSERT_NEAR(ap, 0.5 * 1.0 + 0.5 * (2.0 / 3.0), TOL);
    struct clann_roc_curve roc;
    ck_assert_int_eq(clann_roc_curve_compute(s2, y2, 4, &roc), CLANN_OK);
    ck_assert_uint_eq(roc.count, 4); /* three distinct scores + the origin */
    ASSERT_NEAR(roc.fpr[2], 0.5, TOL);
    ASSERT_NEAR(roc.tpr[2], 1.0, TOL);
    clann_roc_curve_free(&roc);
    /* Perfect and reversed rankings. */
    const float s3[] = {0.1f, 0.2f, 0.8f, 0.9f};
    ck_assert_int_eq(clann_binary_roc_auc(s3, y2, 4, &auc), CLANN_OK);
    ASSERT_NEAR(auc, 1.0, TOL);
    const float y3[] = {1, 1, 0, 0};
    ck_assert_int_eq(clann_binary_roc_auc(s3, y3, 4, &auc), CLANN_OK);
    ASSERT_NEAR(auc, 0.0, TOL);
}
END_TEST

START_TEST(test_one_class)
{
    const float s[] = {0.2f, 0.7f, 0.4f}, ones[] = {1, 1, 1}, zeros[] = {0, 0, 0};
    double v = 0;
    ASSERT_STATUS(clann_binary_roc_auc(s, ones, 3, &v), CLANN_ERR_INVALID_ARG,
                  "all 3 labels are 1");
    ck_assert(isnan(v));
    v = 0;
    ASSERT_STATUS(clann_binary_roc_auc(s, zeros, 3, &v), CLANN_ERR_INVALID_ARG,
                  "all 3 labels are 0");
    ck_assert(isnan(v));
    ASSERT_STATUS(clann_binary_average_precision(s, zeros, 3, &v), CLANN_ERR_INVALID_ARG,
                  "undefined");
    ck_assert(isnan(v));
    /* With positives only, every threshold has precision 1. */
    ck_assert_int_eq(clann_binary_average_precision(s, ones, 3, &v), CLANN_OK);
    ASSERT_NEAR(v, 1.0, TOL);
    struct clann_roc_curve roc;
    ASSERT_STATUS(clann_roc_curve_compute(s, ones, 3, &roc), CLANN_ERR_INVALID_ARG, "undefined");
    ck_assert_ptr_null(roc.fpr);
    struct clann_pr_curve pr;
    ASSERT_STATUS(clann_pr_curve_compute(s, zeros, 3, &pr), CLANN_ERR_INVALID_ARG, "undefined");
    ck_assert_ptr_null(pr.precision);
    /* evaluate reports undefined areas as NaN and succeeds. */
    struct clann_binary_metrics m;
    ck_assert_int_eq(clann_binary_evaluate(s, zeros, 3, 0.5f, &m), CLANN_OK);
    ck_assert(isnan(m.roc_auc) && isnan(m.average_precision));
    ck_assert_uint_eq(m.counts.fp, 1);
    ck_assert_uint_eq(m.counts.tn, 2);
    ASSERT_NEAR(m.precision, 0.0, TOL); /* zero_division = 0 */
    ASSERT_NEAR(m.recall, 0.0, TOL);
    ASSERT_NEAR(m.f1, 0.0, TOL);
}
END_TEST

START_TEST(test_binary_evaluate)
{
    /* threshold 0.5 (>=): predicted 1 1 0 1 0 1 against 1 0 0 1 1 1 -> tp 3, fp 1, tn 1, fn 1 */
    const float p[] = {0.9f, 0.6f, 0.2f, 0.5f, 0.3f, 0.7f}, y[] = {1, 0, 0, 1, 1, 1};
    struct clann_binary_metrics m;
    ck_assert_int_eq(clann_binary_evaluate(p, y, 6, 0.5f, &m), CLANN_OK);
    ck_assert_uint_eq(m.count, 6);
    ck_assert_uint_eq(m.counts.tp, 3);
    ck_assert_uint_eq(m.counts.fp, 1);
    ck_assert_uint_eq(m.counts.tn, 1);
    ck_assert_uint_eq(m.counts.fn, 1);
    ASSERT_NEAR(m.accuracy, 4.0 / 6.0, TOL);
    ASSERT_NEAR(m.precision, 0.75, TOL);
    ASSERT_NEAR(m.recall, 0.75, TOL);
    ASSERT_NEAR(m.f1, 0.75, TOL);
    double ll = 0;
    for (size_t i = 0; i < 6; i++)
        ll -= y[i] ? log((double)p[i]) : log(1.0 - (double)p[i]);
    ASSERT_NEAR(m.log_loss, ll / 6, 1e-12);
    double mp = (0.9 + 0.6 + 0.2 + 0.5 + 0.3 + 0.7) / 6, ml = 4.0 / 6.0;
    ASSERT_NEAR(m.mean_prediction, mp, 1e-7);
    ASSERT_NEAR(m.mean_label, ml, TOL);
    ASSERT_NEAR(m.prediction_bias, mp - ml, 1e-7);
    /* Positives 0.9 0.5 0.3 0.7 against negatives 0.6 0.2: wins 2+1+1+2 = 6 of 8. */
    ASSERT_NEAR(m.roc_auc, 0.75, TOL);
    struct clann_binary_counts c;
    ck_assert_int_eq(clann_binary_confusion(p, y, 6, 0.65f, &c), CLANN_OK);
    ck_assert(c.tp == 2 && c.fp == 0 && c.tn == 2 && c.fn == 2);
}
END_TEST

START_TEST(test_log_loss_clipping)
{
    /* Confidently wrong predictions cost -log(1e-7) each. */
    const float p[] = {0.0f, 1.0f}, y[] = {1, 0};
    double v;
    ck_assert_int_eq(clann_binary_log_loss(p, y, 2, &v), CLANN_OK);
    ASSERT_NEAR(v, -log(1e-7), 1e-9);
    /* Confidently right predictions cost -log(1 - 1e-7). */
    const float y2[] = {0, 1};
    ck_assert_int_eq(clann_binary_log_loss(p, y2, 2, &v), CLANN_OK);
    ASSERT_NEAR(v, -log(1.0 - 1e-7), 1e-15);
    const float pm[] = {0.0f, 1.0f, 0.0f, 0.5f, 0.25f, 0.25f}, ym[] = {0, 1};
    ck_assert_int_eq(clann_multiclass_log_loss(pm, ym, 2, 3, &v), CLANN_OK);
    ASSERT_NEAR(v, (-log(1e-7) - log(0.25)) / 2, 1e-9);
}
END_TEST

START_TEST(test_errors)
{
    const float s[] = {0.1f, 0.2f, NAN, 0.4f}, y[] = {0, 1, 0, 1}, ybad[] = {0, 2, 0, 1};
    const float p[] = {0.1f, 1.5f, 0.3f, 0.4f};
    double v;
    struct clann_binary_metrics m;
    ASSERT_STATUS(clann_binary_roc_auc(s, y, 0, &v), CLANN_ERR_INVALID_ARG, "n is 0");
    ASSERT_STATUS(clann_binary_roc_auc(s, y, 4, &v), CLANN_ERR_NONFINITE, "scores[2] is NaN");
    ASSERT_STATUS(clann_binary_evaluate(s, y, 4, 0.5f, &m), CLANN_ERR_NONFINITE, "scores[2]");
    ASSERT_STATUS(clann_binary_average_precision(ex_scores, ybad, 4, &v), CLANN_ERR_INVALID_ARG,
                  "labels[1] = 2 is not 0 or 1");
    ASSERT_STATUS(clann_binary_log_loss(p, y, 4, &v), CLANN_ERR_INVALID_ARG,
                  "scores[1] = 1.5 is not a probability");
    ASSERT_STATUS(clann_binary_roc_auc(NULL, y, 4, &v), CLANN_ERR_INVALID_ARG, "NULL");
    ASSERT_STATUS(clann_binary_roc_auc(s, y, 4, NULL), CLANN_ERR_INVALID_ARG, "NULL");
    const float yinf[] = {0, INFINITY};
    struct clann_binary_counts counts;
    ASSERT_STATUS(clann_binary_confusion(ex_scores, yinf, 2, 0.5f, &counts), CLANN_ERR_NONFINITE,
                  "labels[1] is infinite");
    /* Scores outside [0, 1] are fine for rankings. */
    const float logits[] = {-3.0f, 2.0f, -1.0f, 5.0f};
    ck_assert_int_eq(clann_binary_roc_auc(logits, y, 4, &v), CLANN_OK);
    ASSERT_NEAR(v, 1.0, TOL);

    const float mp[] = {0.5f, 0.5f, NAN, 0.0f}, my[] = {0, 1}, mybad[] = {0, 1.5f};
    const float mok[] = {0.5f, 0.5f, 0.0f, 1.0f};
    struct clann_multiclass_metrics mm;
    ASSERT_STATUS(clann_multiclass_evaluate(mp, my, 2, 2, &mm), CLANN_ERR_NONFINITE,
                  "probs[row 1, class 0] is NaN");
    ck_assert_ptr_null(mm.confusion);
    ASSERT_STATUS(clann_multiclass_accuracy(mok, mybad, 2, 2, &v), CLANN_ERR_INVALID_ARG,
                  "labels[1] = 1.5 is not a class index");
    ASSERT_STATUS(clann_multiclass_accuracy(mok, my, 2, 1, &v), CLANN_ERR_INVALID_ARG,
                  "1 classes");
    ASSERT_STATUS(clann_multiclass_top_k_accuracy(mok, my, 2, 2, 3, &v), CLANN_ERR_INVALID_ARG,
                  "k = 3");

    struct clann_regression_metrics r;
    const float rp[] = {1, 2, INFINITY}, ry[] = {1, 2, 3};
    ASSERT_STATUS(clann_regression_evaluate(rp, ry, 3, 1, &r), CLANN_ERR_NONFINITE,
                  "predictions[row 2, output 0] is infinite");
    ASSERT_STATUS(clann_regression_evaluate(ry, rp, 3, 1, &r), CLANN_ERR_NONFINITE,
                  "labels[row 2, output 0]");
    ASSERT_STATUS(clann_regression_evaluate(rp, ry, 0, 1, &r), CLANN_ERR_INVALID_ARG, "0 rows");

    struct clann_calibration_bucket b[2];
    ASSERT_STATUS(clann_binary_calibration(ex_scores, ex_labels, 4, 0, b), CLANN_ERR_INVALID_ARG,
                  "n_buckets is 0");
    struct clann_threshold_choice ch;
    ASSERT_STATUS(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                (enum clann_threshold_goal)9, 0, &ch),
                  CLANN_ERR_INVALID_ARG, "unknown goal");
    ASSERT_STATUS(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                CLANN_THRESHOLD_MAX_FOR_RECALL, 1.5, &ch),
                  CLANN_ERR_INVALID_ARG, "target 1.5");
}
END_TEST

START_TEST(test_threshold_choice)
{
    /* On the sklearn example (thresholds 0.8, 0.4, 0.35, 0.1 give P 1, 1/2, 2/3, 1/2 and R
     * 1/2, 1/2, 1, 1; F1 2/3, 1/2, 4/5, 2/3; accuracy 3/4, 1/2, 3/4, 1/2). */
    struct clann_threshold_choice ch;
    ck_assert_int_eq(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                   CLANN_THRESHOLD_MAX_F1, 0, &ch), CLANN_OK);
    ck_assert(ch.threshold == 0.35f);
    ASSERT_NEAR(ch.f1, 0.8, TOL);
    ck_assert(ch.counts.tp == 2 && ch.counts.fp == 1 && ch.counts.tn == 1 && ch.counts.fn == 0);
    ck_assert_int_eq(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                   CLANN_THRESHOLD_MAX_ACCURACY, 0, &ch),
                     CLANN_OK);
    ck_assert(ch.threshold == 0.8f); /* tied with 0.35: the larger wins */
    ASSERT_NEAR(ch.accuracy, 0.75, TOL);
    ck_assert_int_eq(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                   CLANN_THRESHOLD_MIN_FOR_PRECISION, 0.6, &ch),
                     CLANN_OK);
    ck_assert(ch.threshold == 0.35f);
    ck_assert_int_eq(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                   CLANN_THRESHOLD_MIN_FOR_PRECISION, 1.0, &ch),
                     CLANN_OK);
    ck_assert(ch.threshold == 0.8f);
    ck_assert_int_eq(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                   CLANN_THRESHOLD_MAX_FOR_RECALL, 1.0, &ch),
                     CLANN_OK);
    ck_assert(ch.threshold == 0.35f);
    ck_assert_int_eq(clann_binary_threshold_choose(ex_scores, ex_labels, 4,
                                                   CLANN_THRESHOLD_MAX_FOR_RECALL, 0.5, &ch),
                     CLANN_OK);
    ck_assert(ch.threshold == 0.8f);
    /* Everything negative is best for accuracy when positives are rare and ranked last. */
    const float s[] = {0.9f, 0.1f, 0.2f}, y[] = {0, 1, 0};
    ck_assert_int_eq(clann_binary_threshold_choose(s, y, 3, CLANN_THRESHOLD_MAX_ACCURACY, 0,
                                                   &ch), CLANN_OK);
    ck_assert(ch.threshold > 0.9f && ch.counts.tp == 0 && ch.counts.fp == 0);
    ASSERT_NEAR(ch.accuracy, 2.0 / 3.0, TOL);
    ASSERT_STATUS(clann_binary_threshold_choose(s, y, 3, CLANN_THRESHOLD_MIN_FOR_PRECISION,
                                                0.9, &ch),
                  CLANN_ERR_INVALID_ARG, "no threshold reaches precision 0.9");
}
END_TEST

START_TEST(test_bias_slices_calibration)
{
    const float p[] = {0.1f, 0.8f, 0.35f, 0.6f, 1.0f, 0.05f};
    const float y[] = {0, 1, 1, 0, 1, 0};
    const int64_t slice[] = {7, -2, 7, 7, -2, 100};
    struct clann_slice_bias *sb;
    size_t ns;
    ck_assert_int_eq(clann_binary_slice_bias(p, y, slice, 6, &sb, &ns), CLANN_OK);
    ck_assert_uint_eq(ns, 3);
    ck_assert(sb[0].slice == -2 && sb[1].slice == 7 && sb[2].slice == 100);
    ck_assert_uint_eq(sb[0].count, 2);
    ck_assert_uint_eq(sb[1].count, 3);
    ASSERT_NEAR(sb[0].mean_prediction, 0.9, 1e-7);
    ASSERT_NEAR(sb[0].mean_label, 1.0, TOL);
    ASSERT_NEAR(sb[0].bias, -0.1, 1e-7);
    ASSERT_NEAR(sb[1].mean_prediction, (0.1 + 0.35 + 0.6) / 3, 1e-7);
    ASSERT_NEAR(sb[1].mean_label, 1.0 / 3, TOL);
    ASSERT_NEAR(sb[2].bias, 0.05, 1e-7);
    clann_slice_bias_free(sb);
    clann_slice_bias_free(NULL);
    ASSERT_STATUS(clann_binary_slice_bias(p, y, NULL, 6, &sb, &ns), CLANN_ERR_INVALID_ARG,
                  "slices is NULL");

    struct clann_calibration_bucket b[4];
    ck_assert_int_eq(clann_binary_calibration(p, y, 6, 4, b), CLANN_OK);
    /* [0, .25): 0.1 0.05; [.25, .5): 0.35; [.5, .75): 0.6; [.75, 1]: 0.8 1.0 */
    ck_assert_uint_eq(b[0].count, 2);
    ASSERT_NEAR(b[0].mean_prediction, 0.075, 1e-7);
    ASSERT_NEAR(b[0].positive_rate, 0.0, TOL);
    ck_assert_uint_eq(b[1].count, 1);
    ASSERT_NEAR(b[1].positive_rate, 1.0, TOL);
    ck_assert_uint_eq(b[3].count, 2);
    ASSERT_NEAR(b[3].mean_prediction, 0.9, 1e-7);
    ASSERT_NEAR(b[3].lower, 0.75, TOL);
    ASSERT_NEAR(b[3].upper, 1.0, TOL);
    struct clann_calibration_bucket b10[10];
    ck_assert_int_eq(clann_binary_calibration(p, y, 6, 10, b10), CLANN_OK);
    ck_assert_uint_eq(b10[2].count, 0);
    ck_assert(isnan(b10[2].mean_prediction) && isnan(b10[2].positive_rate));
    ck_assert_uint_eq(b10[9].count, 1); /* 1.0 lands in the last bucket */
}
END_TEST

/* 3 rows x 2 labels by hand: label 1 is never set, so its AUC is undefined and the macro
 * AUC is label 0's alone. */
START_TEST(test_multilabel)
{
    const float p[] = {0.9f, 0.2f, 0.4f, 0.6f, 0.7f, 0.1f};
    const float y[] = {1, 0, 1, 0, 0, 0};
    struct clann_multilabel_metrics m;
    ck_assert_int_eq(clann_multilabel_evaluate(p, y, 3, 2, 0.5f, &m), CLANN_OK);
    ck_assert_double_eq_tol(m.subset_accuracy, 1.0 / 3.0, 1e-12); /* row 0 only */
    ck_assert_double_eq_tol(m.hamming_accuracy, 3.0 / 6.0, 1e-12);
    ck_assert_uint_eq(m.support[0], 2);
    ck_assert_uint_eq(m.support[1], 0);
    ck_assert_double_eq_tol(m.precision[0], 0.5, 1e-12);   /* rows 0, 2 predicted */
    ck_assert_double_eq_tol(m.recall[0], 0.5, 1e-12);
    ck_assert_double_eq_tol(m.f1[1], 0.0, 1e-12);
    ck_assert_double_eq_tol(m.micro_precision, 1.0 / 3.0, 1e-12);
    ck_assert_double_eq_tol(m.roc_auc[0], 0.5, 1e-12);     /* 0.9 > 0.7 > 0.4 */
    ck_assert(isnan(m.roc_auc[1]));
    ck_assert_double_eq_tol(m.macro_roc_auc, 0.5, 1e-12);
    clann_multilabel_metrics_free(&m);
    const float bad[] = {1, 0, 2, 0, 0, 0};
    ck_assert_int_eq(clann_multilabel_evaluate(p, bad, 3, 2, 0.5f, &m), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "labels[2] = 2 is not 0 or 1"));
    ck_assert_ptr_null(m.roc_auc);
    ck_assert_int_eq(clann_multilabel_evaluate(p, y, 3, 0, 0.5f, &m), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann_multilabel_evaluate(p, y, 3, 2, 1.5f, &m), CLANN_ERR_INVALID_ARG);
    clann_multilabel_metrics_free(NULL);
}
END_TEST

START_TEST(test_multiclass)
{
    /* 3 classes. Row argmaxes: 0, 1, 2 (tie 0.4/0.4 -> first, i.e. 1), 2, 0. */
    const float p[] = {
        0.7f, 0.2f, 0.1f,
        0.1f, 0.8f, 0.1f,
        0.2f, 0.4f, 0.4f,
        0.1f, 0.3f, 0.6f,
        0.5f, 0.3f, 0.2f,
    };
    const float y[] = {0, 1, 2, 2, 1};
    struct clann_multiclass_metrics m;
    ck_assert_int_eq(clann_multiclass_evaluate(p, y, 5, 3, &m), CLANN_OK);
    const size_t conf[] = {1, 0, 0, 1, 1, 0, 0, 1, 1};
    for (size_t i = 0; i < 9; i++)
        ck_assert_uint_eq(m.confusion[i], conf[i]);
    ASSERT_NEAR(m.accuracy, 0.6, TOL);
    ASSERT_NEAR(m.precision[0], 0.5, TOL);
    ASSERT_NEAR(m.precision[1], 0.5, TOL);
    ASSERT_NEAR(m.precision[2], 1.0, TOL);
    ASSERT_NEAR(m.recall[0], 1.0, TOL);
    ASSERT_NEAR(m.recall[1], 0.5, TOL);
    ASSERT_NEAR(m.recall[2], 0.5, TOL);
    ASSERT_NEAR(m.f1[0], 2.0 / 3.0, TOL);
    ASSERT_NEAR(m.macro_precision, 2.0 / 3.0, TOL);
    ASSERT_NEAR(m.macro_f1, (2.0 / 3.0 + 0.5 + 2.0 / 3.0) / 3.0, TOL);
    ck_assert_uint_eq(m.support[1], 2);
    double ll = -(log(0.7) + log(0.8) + log(0.4) + log(0.6) + log(0.3)) / 5;
    ASSERT_NEAR(m.log_loss, ll, 1e-7);
    /* One vs rest: class 0's only positive scores highest; class 1 wins 4.5 of 6 pairs (0.3
     * ties 0.3, loses to 0.4); class 2 wins all 6. */
    ASSERT_NEAR(m.roc_auc[0], 1.0, TOL);
    ASSERT_NEAR(m.roc_auc[1], 0.75, TOL);
    ASSERT_NEAR(m.roc_auc[2], 1.0, TOL);
    ASSERT_NEAR(m.macro_roc_auc, 2.75 / 3.0, TOL);
    clann_multiclass_metrics_free(&m);
    ck_assert_ptr_null(m.confusion);
    /* A class absent from the labels drops out of the mean; one class alone is undefined. */
    const float y01[] = {0, 1, 1, 0, 1}, y_same[] = {1, 1, 1, 1, 1};
    double per[3], macro;
    ck_assert_int_eq(clann_multiclass_roc_auc(p, y01, 5, 3, per, &macro), CLANN_OK);
    ck_assert(isnan(per[2]) && !isnan(per[0]) && !isnan(per[1]));
    ASSERT_NEAR(macro, (per[0] + per[1]) / 2.0, TOL);
    ASSERT_STATUS(clann_multiclass_roc_auc(p, y_same, 5, 3, NULL, &macro),
                  CLANN_ERR_INVALID_ARG, "same class");
    ck_assert(isnan(macro));
    clann_multiclass_metrics_free(NULL);

    double v;
    ck_assert_int_eq(clann_multiclass_accuracy(p, y, 5, 3, &v), CLANN_OK);
    ASSERT_NEAR(v, 0.6, TOL);
    /* Top 2: row 2's label 2 ties 0.4 with class 1 and ranks first (higher index); row 4's
     * label 1 (0.3) is second. All hit. */
    ck_assert_int_eq(clann_multiclass_top_k_accuracy(p, y, 5, 3, 2, &v), CLANN_OK);
    ASSERT_NEAR(v, 1.0, TOL);
    ck_assert_int_eq(clann_multiclass_top_k_accuracy(p, y, 5, 3, 1, &v), CLANN_OK);
    ASSERT_NEAR(v, 0.8, TOL); /* sklearn's tie rule counts row 2 as a top-1 hit */
    const float y1[] = {1, 1, 1, 1, 1};
    ck_assert_int_eq(clann_multiclass_top_k_accuracy(p, y1, 5, 3, 1, &v), CLANN_OK);
    ASSERT_NEAR(v, 0.2, TOL);
}
END_TEST

START_TEST(test_regression)
{
    /* Two outputs: the second has constant labels. */
    const float pr[] = {1, 5, 2, 5, 4, 6}, y[] = {2, 5, 2, 5, 3, 5};
    struct clann_regression_metrics m;
    ck_assert_int_eq(clann_regression_evaluate(pr, y, 3, 2, &m), CLANN_OK);
    /* output 0: errors -1 0 1 (MSE 2/3; labels 2 2 3: mean 7/3, SS_tot 2/3, SS_res 2 -> R^2
     * = -2); output 1: errors 0 0 1 (MSE 1/3; SS_tot 0 with SS_res 1 -> R^2 = 0) */
    ASSERT_NEAR(m.mse, 0.5, TOL);
    ASSERT_NEAR(m.rmse, (sqrt(2.0 / 3.0) + sqrt(1.0 / 3.0)) / 2, TOL);
    ASSERT_NEAR(m.mae, 0.5, TOL);
    ASSERT_NEAR(m.r2, -1.0, TOL);
    ASSERT_NEAR(m.prediction_bias, 1.0 / 6.0, TOL);
    ck_assert_uint_eq(m.count, 3);
    ck_assert_uint_eq(m.outputs, 2);
    /* Perfect predictions of constant labels: R^2 = 1. */
    ck_assert_int_eq(clann_regression_evaluate(y + 1, y + 1, 1, 1, &m), CLANN_OK);
    ck_assert(isnan(m.r2)); /* one row */
    const float c[] = {5, 5, 5};
    ck_assert_int_eq(clann_regression_evaluate(c, c, 3, 1, &m), CLANN_OK);
    ASSERT_NEAR(m.r2, 1.0, TOL);
    const float a[] = {1, 2, 3, 4}, b[] = {2, 2, 3, 5};
    ck_assert_int_eq(clann_regression_evaluate(a, b, 4, 1, &m), CLANN_OK);
    /* labels mean 3, SS_tot 1+1+0+4 = 6, SS_res 1+0+0+1 = 2 */
    ASSERT_NEAR(m.r2, 1.0 - 2.0 / 6.0, TOL);
}
END_TEST

/* The six allocating metrics, each a step of the out-of-memory sweep (test_oom_sweep): every
 * output is cleared after a failure and freed after the success. */
struct oom_outputs {
    struct clann_roc_curve roc;
    struct clann_pr_curve pr;
    struct clann_multiclass_metrics mm;
    struct clann_binary_metrics bm;
    struct clann_threshold_choice ch;
    struct clann_slice_bias *sb;
    size_t ns;
};

static enum clann_status oom_roc(void *u)
{
    return clann_roc_curve_compute(ex_scores, ex_labels, 4, &((struct oom_outputs *)u)->roc);
}

static void oom_roc_failed(void *u, long n)
{
    ck_assert_msg(((struct oom_outputs *)u)->roc.fpr == NULL, "allocation %ld", n);
}

static enum clann_status oom_pr(void *u)
{
    return clann_pr_curve_compute(ex_scores, ex_labels, 4, &((struct oom_outputs *)u)->pr);
}

static void oom_pr_failed(void *u, long n)
{
    ck_assert_msg(((struct oom_outputs *)u)->pr.precision == NULL, "allocation %ld", n);
}

static enum clann_status oom_multiclass(void *u)
{
    static const float mp[] = {0.2f, 0.8f, 0.6f, 0.4f}, my[] = {1, 1};
    return clann_multiclass_evaluate(mp, my, 2, 2, &((struct oom_outputs *)u)->mm);
}

static void oom_multiclass_failed(void *u, long n)
{
    clann_multiclass_metrics_free(&((struct oom_outputs *)u)->mm);
}

static enum clann_status oom_binary(void *u)
{
    return clann_binary_evaluate(ex_scores, ex_labels, 4, 0.5f, &((struct oom_outputs *)u)->bm);
}

static enum clann_status oom_threshold(void *u)
{
    return clann_binary_threshold_choose(ex_scores, ex_labels, 4, CLANN_THRESHOLD_MAX_F1, 0,
                                         &((struct oom_outputs *)u)->ch);
}

static enum clann_status oom_slices(void *u)
{
    static const int64_t slices[] = {1, 2, 1, 3};
    struct oom_outputs *o = u;
    return clann_binary_slice_bias(ex_scores, ex_labels, slices, 4, &o->sb, &o->ns);
}

static void oom_slices_failed(void *u, long n)
{
    ck_assert_msg(((struct oom_outputs *)u)->sb == NULL, "allocation %ld", n);
}

/* Every allocation failure gives ERR_NO_MEMORY, and a later success once allocations work. */
START_TEST(test_out_of_memory)
{
    struct oom_outputs o;
    memset(&o, 0, sizeof o);
    test_oom_sweep("roc curve", oom_roc, oom_roc_failed, false, &o);
    clann_roc_curve_free(&o.roc);
    test_oom_sweep("pr curve", oom_pr, oom_pr_failed, false, &o);
    clann_pr_curve_free(&o.pr);
    test_oom_sweep("multiclass", oom_multiclass, oom_multiclass_failed, false, &o);
    clann_multiclass_metrics_free(&o.mm);
    test_oom_sweep("binary", oom_binary, NULL, false, &o);
    test_oom_sweep("threshold", oom_threshold, NULL, false, &o);
    test_oom_sweep("slice bias", oom_slices, oom_slices_failed, false, &o);
    clann_slice_bias_free(o.sb);
}
END_TEST

/* ---- comparison with scikit-learn ---------------------------------------------------------- */

#define N_BIN 2000
#define N_MC 600
#define C_MC 5
#define N_REG 400
#define K_REG 3
#define N_ML 500
#define L_ML 4

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

struct sk_data {
    float bin_s[N_BIN], bin_y[N_BIN];
    float mc_p[N_MC * C_MC], mc_y[N_MC];
    float reg_p[N_REG * K_REG], reg_y[N_REG * K_REG];
    float ml_p[N_ML * L_ML], ml_y[N_ML * L_ML];
};

/* Informative but noisy scores; half of them rounded to 2 decimals so that ties abound. */
static void sk_generate(struct sk_data *d)
{
    for (size_t i = 0; i < N_BIN; i++) {
        d->bin_y[i] = uniform() < 0.3 ? 1.0f : 0.0f;
        double s = fmin(fmax(0.25 * d->bin_y[i] + 0.75 * uniform(), 0.001), 0.999);
        d->bin_s[i] = (float)(i % 2 ? round(s * 100) / 100 : s);
    }
    for (size_t i = 0; i < N_MC; i++) {
        size_t label = (size_t)(uniform() * C_MC) % C_MC;
        float *row = d->mc_p + i * C_MC;
        double w[C_MC], sum = 0;
        for (size_t j = 0; j < C_MC; j++) {
            w[j] = 0.05 + uniform() + (j == label ? 0.8 : 0.0);
            sum += w[j];
        }
        for (size_t j = 0; j < C_MC; j++)
            row[j] = (float)(w[j] / sum);
        d->mc_y[i] = (float)label;
    }
    for (size_t i = 0; i < N_REG * K_REG; i++) {
        d->reg_y[i] = (float)(10.0 * uniform() - 3.0);
        d->reg_p[i] = (float)(d->reg_y[i] + (uniform() - 0.4) * (1.0 + (double)(i % K_REG)));
    }
    /* Labels of different rates (label 3 rare), scores informative to different degrees and
     * rounded to 2 decimals for ties. */
    for (size_t i = 0; i < N_ML * L_ML; i++) {
        size_t k = i % L_ML;
        d->ml_y[i] = uniform() < 0.5 - 0.12 * (double)k ? 1.0f : 0.0f;
        double s = (0.6 - 0.1 * (double)k) * d->ml_y[i] + 0.4 * uniform();
        d->ml_p[i] = (float)(round(s * 100) / 100);
    }
}

static void sk_write(const struct sk_data *d, FILE *f)
{
    fprintf(f, "binary %d\n", N_BIN);
    for (size_t i = 0; i < N_BIN; i++)
        fprintf(f, "%.9g %g\n", (double)d->bin_s[i], (double)d->bin_y[i]);
    fprintf(f, "multiclass %d %d\n", N_MC, C_MC);
    for (size_t i = 0; i < N_MC; i++) {
        for (size_t j = 0; j < C_MC; j++)
            fprintf(f, "%.9g ", (double)d->mc_p[i * C_MC + j]);
        fprintf(f, "%g\n", (double)d->mc_y[i]);
    }
    fprintf(f, "regression %d %d\n", N_REG, K_REG);
    for (size_t i = 0; i < N_REG; i++) {
        for (size_t j = 0; j < K_REG; j++)
            fprintf(f, "%.9g ", (double)d->reg_p[i * K_REG + j]);
        for (size_t j = 0; j < K_REG; j++)
            fprintf(f, "%.9g ", (double)d->reg_y[i * K_REG + j]);
        fprintf(f, "\n");
    }
    fprintf(f, "multilabel %d %d\n", N_ML, L_ML);
    for (size_t i = 0; i < N_ML; i++) {
        for (size_t j = 0; j < 2 * L_ML; j++)
            fprintf(f, "%.9g ", j < L_ML ? (double)d->ml_p[i * L_ML + j]
                                          : (double)d->ml_y[i * L_ML + j - L_ML]);
        fprintf(f, "\n");
    }
}

/* The reference output: one line per value, "name v1 v2 ...". */
struct sk_ref {
    char *text;
    double max_dev;
};

/* Finds name's values in the reference; returns their count (at most cap). */
static size_t sk_values(const struct sk_ref *r, const char *name, double *out, size_t cap)
{
    size_t len = strlen(name);
    for (const char *line = r->text; line && *line; line = strchr(line, '\n')) {
        line += *line == '\n';
        if (strncmp(line, name, len) != 0 || line[len] != ' ')
            continue;
        const char *p = line + len;
        size_t n = 0;
        char *end;
        for (double v = strtod(p, &end); end != p && n < cap; v = strtod(p, &end)) {
            out[n++] = v;
            p = end;
            if (*p == '\n')
                break;
        }
        return n;
    }
    ck_abort_msg("scikit-learn printed no '%s'", name);
    return 0;
}

/* Compares n values with the reference's name, tracking the largest deviation. */
static void sk_check(struct sk_ref *r, const char *name, const double *v, size_t n)
{
    static double ref[N_BIN + 2];
    size_t m = sk_values(r, name, ref, sizeof ref / sizeof ref[0]);
    ck_assert_msg(m == n, "%s: %zu values, scikit-learn has %zu", name, n, m);
    for (size_t i = 0; i < n; i++) {
        double dev = fabs(v[i] - ref[i]);
        ck_assert_msg(dev <= SK_TOL, "%s[%zu] = %.17g, scikit-learn %.17g", name, i, v[i],
                      ref[i]);
        r->max_dev = fmax(r->max_dev, dev);
    }
}

static void sk_check1(struct sk_ref *r, const char *name, double v)
{
    sk_check(r, name, &v, 1);
}

static void sk_check_binary(struct sk_ref *r, const struct sk_data *d)
{
    struct clann_binary_metrics m;
    ck_assert_int_eq(clann_binary_evaluate(d->bin_s, d->bin_y, N_BIN, 0.5f, &m), CLANN_OK);
    sk_check1(r, "roc_auc", m.roc_auc);
    sk_check1(r, "average_precision", m.average_precision);
    sk_check1(r, "accuracy", m.accuracy);
    sk_check1(r, "precision", m.precision);
    sk_check1(r, "recall", m.recall);
    sk_check1(r, "f1", m.f1);
    sk_check1(r, "log_loss", m.log_loss);
    struct clann_roc_curve roc;
    ck_assert_int_eq(clann_roc_curve_compute(d->bin_s, d->bin_y, N_BIN, &roc), CLANN_OK);
    ck_assert_uint_lt(roc.count, N_BIN); /* the rounding made ties */
    sk_check(r, "roc_fpr", roc.fpr, roc.count);
    sk_check(r, "roc_tpr", roc.tpr, roc.count);
    sk_check(r, "roc_thresholds", roc.thresholds + 1, roc.count - 1);
    clann_roc_curve_free(&roc);
    struct clann_pr_curve pr;
    ck_assert_int_eq(clann_pr_curve_compute(d->bin_s, d->bin_y, N_BIN, &pr), CLANN_OK);
    sk_check(r, "pr_precision", pr.precision, pr.count);
    sk_check(r, "pr_recall", pr.recall, pr.count);
    sk_check(r, "pr_thresholds", pr.thresholds, pr.count - 1);
    clann_pr_curve_free(&pr);
}

static void sk_check_multiclass(struct sk_ref *r, const struct sk_data *d)
{
    struct clann_multiclass_metrics m;
    double conf[C_MC * C_MC], v;
    ck_assert_int_eq(clann_multiclass_evaluate(d->mc_p, d->mc_y, N_MC, C_MC, &m), CLANN_OK);
    for (size_t i = 0; i < C_MC * C_MC; i++)
        conf[i] = (double)m.confusion[i];
    sk_check1(r, "mc_accuracy", m.accuracy);
    sk_check1(r, "mc_log_loss", m.log_loss);
    sk_check(r, "mc_confusion", conf, C_MC * C_MC);
    sk_check(r, "mc_precision", m.precision, C_MC);
    sk_check(r, "mc_recall", m.recall, C_MC);
    sk_check(r, "mc_f1", m.f1, C_MC);
    double macro[] = {m.macro_precision, m.macro_recall, m.macro_f1};
    sk_check(r, "mc_macro", macro, 3);
    sk_check(r, "mc_roc_auc", m.roc_auc, C_MC);
    sk_check1(r, "mc_macro_roc_auc", m.macro_roc_auc);
    double per_class[C_MC];
    ck_assert_int_eq(clann_multiclass_roc_auc(d->mc_p, d->mc_y, N_MC, C_MC, per_class, &v),
                     CLANN_OK);
    sk_check(r, "mc_roc_auc", per_class, C_MC);
    sk_check1(r, "mc_macro_roc_auc", v);
    clann_multiclass_metrics_free(&m);
    ck_assert_int_eq(clann_multiclass_top_k_accuracy(d->mc_p, d->mc_y, N_MC, C_MC, 2, &v),
                     CLANN_OK);
    sk_check1(r, "mc_top2", v);
    ck_assert_int_eq(clann_multiclass_top_k_accuracy(d->mc_p, d->mc_y, N_MC, C_MC, 3, &v),
                     CLANN_OK);
    sk_check1(r, "mc_top3", v);
}

static void sk_check_regression(struct sk_ref *r, const struct sk_data *d)
{
    struct clann_regression_metrics m;
    ck_assert_int_eq(clann_regression_evaluate(d->reg_p, d->reg_y, N_REG, K_REG, &m), CLANN_OK);
    sk_check1(r, "reg_mse", m.mse);
    sk_check1(r, "reg_rmse", m.rmse);
    sk_check1(r, "reg_mae", m.mae);
    sk_check1(r, "reg_r2", m.r2);
}

static void sk_check_multilabel(struct sk_ref *r, const struct sk_data *d)
{
    struct clann_multilabel_metrics m;
    ck_assert_int_eq(clann_multilabel_evaluate(d->ml_p, d->ml_y, N_ML, L_ML, 0.5f, &m),
                     CLANN_OK);
    sk_check1(r, "ml_subset_accuracy", m.subset_accuracy);
    sk_check1(r, "ml_hamming_accuracy", m.hamming_accuracy);
    sk_check(r, "ml_precision", m.precision, L_ML);
    sk_check(r, "ml_recall", m.recall, L_ML);
    sk_check(r, "ml_f1", m.f1, L_ML);
    double avg[] = {m.macro_f1, m.micro_precision, m.micro_recall, m.micro_f1};
    sk_check(r, "ml_averages", avg, 4);
    sk_check(r, "ml_roc_auc", m.roc_auc, L_ML);
    sk_check1(r, "ml_macro_roc_auc", m.macro_roc_auc);
    sk_check1(r, "ml_micro_roc_auc", m.micro_roc_auc);
    /* The figures differ from each other here, so a mix-up cannot pass. */
    ck_assert_double_lt(m.subset_accuracy, m.hamming_accuracy);
    ck_assert_double_ne(m.macro_roc_auc, m.micro_roc_auc);
    clann_multilabel_metrics_free(&m);
}

/* Runs the reference script on the data file; returns its output (malloc'ed). */
static char *sk_run(const char *data_path)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s/tests/metrics_reference.py' '%s'",
             CLANN_SOURCE_ROOT, data_path);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    size_t got;
    while (text && (got = fread(text + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (len + 1 == cap)
            text = realloc(text, cap *= 2);
    }
    ck_assert_ptr_nonnull(text);
    text[len] = '\0';
    ck_assert_msg(pclose(p) == 0, "%s failed", cmd);
    return text;
}

START_TEST(test_against_sklearn)
{
    if (system("/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1") != 0) {
        ck_assert_msg(!test_strict(), "CLANN_TESTS_STRICT=1 but scikit-learn is missing");
        printf("test-metrics: scikit-learn not importable by /usr/bin/python3; comparison "
               "skipped (apt-get install python3-sklearn)\n");
        return;
    }
    static struct sk_data d;
    sk_generate(&d);
    char path[] = "/tmp/clann-metrics-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    sk_write(&d, f);
    fclose(f);
    struct sk_ref r = {sk_run(path), 0};
    unlink(path);
    sk_check_binary(&r, &d);
    sk_check_multiclass(&r, &d);
    sk_check_regression(&r, &d);
    sk_check_multilabel(&r, &d);
    printf("test-metrics: matches scikit-learn, max deviation %.3g\n", r.max_dev);
    free(r.text);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("hand");
    tcase_add_test(tc, test_sklearn_doc_examples);
    tcase_add_test(tc, test_ties);
    tcase_add_test(tc, test_one_class);
    tcase_add_test(tc, test_binary_evaluate);
    tcase_add_test(tc, test_log_loss_clipping);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_threshold_choice);
    tcase_add_test(tc, test_bias_slices_calibration);
    tcase_add_test(tc, test_multiclass);
    tcase_add_test(tc, test_multilabel);
    tcase_add_test(tc, test_regression);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    TCase *sk = tcase_create("sklearn");
    tcase_set_timeout(sk, 120);
    tcase_add_test(sk, test_against_sklearn);
    suite_add_tcase(s, sk);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(metrics_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
