/*
 * metrics.h - what the metric sources share: input validation and the cumulative counts of a
 * binary classifier at each distinct score, from which the ROC and PR curves, their areas and
 * the threshold choice are computed. Never installed.
 */
#ifndef CLANN_METRICS_H
#define CLANN_METRICS_H

#include "core/internal.h"

/* check.c: input checks and the ratio, below both classification.c and curves.c. */

/* Checks the inputs of a binary metric named fn: non-NULL arrays, n > 0, finite scores (within
 * [0, 1] when probabilities is true) and labels that are exactly 0 or 1. Records the error
 * naming fn and the first bad index. */
enum clann_status clann__metrics_check_binary(const char *fn, const float *scores,
                                              const float *labels, size_t n, bool probabilities);

/* Checks the inputs of a multiclass metric: n > 0, classes >= 2 (and n * classes without
 * overflow), finite probabilities in [0, 1] and integral labels in [0, classes). */
enum clann_status clann__metrics_check_multiclass(const char *fn, const float *probs,
                                                  const float *labels, size_t n,
                                                  size_t classes);

/* num / den, or 0 when den is 0 (sklearn's zero_division=0). */
double clann__metrics_ratio(double num, double den);

/* The binary classifier at every distinct score, scores in decreasing order: tps[i] and fps[i]
 * count the positives and negatives with score >= thresholds[i]. */
struct clann__binary_curve {
    size_t count;      /* distinct scores */
    size_t positives;  /* labels equal to 1 */
    size_t negatives;
    float *thresholds;
    size_t *tps;
    size_t *fps;
};

/* Builds the curve of validated inputs by sorting them (O(n log n)). ERR_NO_MEMORY. */
enum clann_status clann__binary_curve_build(const float *scores, const float *labels, size_t n,
                                            struct clann__binary_curve *out);
void clann__binary_curve_free(struct clann__binary_curve *c);

/* Trapezoidal area under the ROC curve of c; NaN without both classes. */
double clann__binary_curve_roc_auc(const struct clann__binary_curve *c);
/* Average precision of c; NaN without a positive. */
double clann__binary_curve_average_precision(const struct clann__binary_curve *c);

#endif /* CLANN_METRICS_H */
