/*
 * curves.c - the sorted, cumulative view of a binary classifier (one point per distinct score)
 * and what is read off it: the ROC and precision-recall curves, their areas, and the choice of
 * a decision threshold.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct scored {
    float score;
    bool positive;
};

/* Decreasing score order. */
static int scored_compare(const void *a, const void *b)
{
    float x = ((const struct scored *)a)->score;
    float y = ((const struct scored *)b)->score;
    return (x < y) - (x > y);
}

static struct scored *scored_sort(const float *scores, const float *labels, size_t n)
{
    size_t bytes;
    if (!clann__mul_size(n, sizeof(struct scored), &bytes))
        return NULL;
    struct scored *v = clann__malloc(bytes);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        v[i].score = scores[i];
        v[i].positive = labels[i] != 0.0f;
    }
    qsort(v, n, sizeof *v, scored_compare);
    return v;
}

static size_t scored_distinct(const struct scored *v, size_t n)
{
    size_t count = 1;
    for (size_t i = 1; i < n; i++)
        count += v[i].score != v[i - 1].score;
    return count;
}

static bool curve_alloc(struct clann__binary_curve *c, size_t count)
{
    c->count = count;
    c->thresholds = clann__calloc(count, sizeof *c->thresholds);
    c->tps = clann__calloc(count, sizeof *c->tps);
    c->fps = clann__calloc(count, sizeof *c->fps);
    return c->thresholds && c->tps && c->fps;
}

enum clann_status clann__binary_curve_build(const float *scores, const float *labels, size_t n,
                                            struct clann__binary_curve *out)
{
    memset(out, 0, sizeof *out);
    struct scored *v = scored_sort(scores, labels, n);
    if (!v)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "metrics: cannot sort %zu scores", n);
    if (!curve_alloc(out, scored_distinct(v, n))) {
        clann__free(v);
        clann__binary_curve_free(out);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "metrics: cannot allocate a curve");
    }
    size_t tp = 0, fp = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        tp += v[i].positive;
        fp += !v[i].positive;
        if (i + 1 == n || v[i + 1].score != v[i].score) {
            out->thresholds[k] = v[i].score;
            out->tps[k] = tp;
            out->fps[k] = fp;
            k++;
        }
    }
    out->positives = tp;
    out->negatives = fp;
    clann__free(v);
    return CLANN_OK;
}

void clann__binary_curve_free(struct clann__binary_curve *c)
{
    clann__free(c->thresholds);
    clann__free(c->tps);
    clann__free(c->fps);
    memset(c, 0, sizeof *c);
}

double clann__binary_curve_roc_auc(const struct clann__binary_curve *c)
{
    if (c->positives == 0 || c->negatives == 0)
        return NAN;
    /* Each trapezoid is (fp_k - fp_k-1) (tp_k + tp_k-1) / 2 in count units: exact integers. */
    double area = 0, tp_prev = 0, fp_prev = 0;
    for (size_t k = 0; k < c->count; k++) {
        double tp = (double)c->tps[k], fp = (double)c->fps[k];
        area += (fp - fp_prev) * (tp + tp_prev);
        tp_prev = tp;
        fp_prev = fp;
    }
    return area / (2.0 * (double)c->positives * (double)c->negatives);
}

double clann__binary_curve_average_precision(const struct clann__binary_curve *c)
{
    if (c->positives == 0)
        return NAN;
    double sum = 0, tp_prev = 0;
    for (size_t k = 0; k < c->count; k++) {
        double tp = (double)c->tps[k];
        sum += (tp - tp_prev) * (tp / (tp + (double)c->fps[k]));
        tp_prev = tp;
    }
    return sum / (double)c->positives;
}

/* Validates and builds the curve, with fn naming the caller in messages. */
static enum clann_status curve_from_inputs(const char *fn, const float *scores,
                                           const float *labels, size_t n,
                                           struct clann__binary_curve *c)
{
    memset(c, 0, sizeof *c);
    enum clann_status st = clann__metrics_check_binary(fn, scores, labels, n, false);
    if (st != CLANN_OK)
        return st;
    return clann__binary_curve_build(scores, labels, n, c);
}

CLANN_API enum clann_status clann_roc_curve_compute(const float *scores, const float *labels,
                                                    size_t n, struct clann_roc_curve *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_roc_curve_compute: out is NULL");
    memset(out, 0, sizeof *out);
    struct clann__binary_curve c;
    enum clann_status st = curve_from_inputs("clann_roc_curve_compute", scores, labels, n, &c);
    if (st != CLANN_OK)
        return st;
    if (c.positives == 0 || c.negatives == 0) {
        clann__binary_curve_free(&c);
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "clann_roc_curve_compute: undefined, all %zu labels are %d", n,
                            c.positives ? 1 : 0);
    }
    size_t m = c.count + 1;
    out->fpr = clann__calloc(m, sizeof *out->fpr);
    out->tpr = clann__calloc(m, sizeof *out->tpr);
    out->thresholds = clann__calloc(m, sizeof *out->thresholds);
    if (!out->fpr || !out->tpr || !out->thresholds) {
        clann__binary_curve_free(&c);
        clann_roc_curve_free(out);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "clann_roc_curve_compute: out of memory");
    }
    out->count = m;
    out->thresholds[0] = INFINITY;
    for (size_t k = 0; k < c.count; k++) {
        out->fpr[k + 1] = (double)c.fps[k] / (double)c.negatives;
        out->tpr[k + 1] = (double)c.tps[k] / (double)c.positives;
        out->thresholds[k + 1] = c.thresholds[k];
    }
    clann__binary_curve_free(&c);
    return CLANN_OK;
}

CLANN_API void clann_roc_curve_free(struct clann_roc_curve *c)
{
    if (!c)
        return;
    clann__free(c->fpr);
    clann__free(c->tpr);
    clann__free(c->thresholds);
    memset(c, 0, sizeof *c);
}

CLANN_API enum clann_status clann_pr_curve_compute(const float *scores, const float *labels,
                                                   size_t n, struct clann_pr_curve *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_pr_curve_compute: out is NULL");
    memset(out, 0, sizeof *out);
    struct clann__binary_curve c;
    enum clann_status st = curve_from_inputs("clann_pr_curve_compute", scores, labels, n, &c);
    if (st != CLANN_OK)
        return st;
    if (c.positives == 0) {
        clann__binary_curve_free(&c);
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "clann_pr_curve_compute: recall is undefined, all %zu labels are 0",
                            n);
    }
    size_t m = c.count + 1;
    out->precision = clann__calloc(m, sizeof *out->precision);
    out->recall = clann__calloc(m, sizeof *out->recall);
    out->thresholds = clann__calloc(c.count, sizeof *out->thresholds);
    if (!out->precision || !out->recall || !out->thresholds) {
        clann__binary_curve_free(&c);
        clann_pr_curve_free(out);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "clann_pr_curve_compute: out of memory");
    }
    out->count = m;
    for (size_t j = 0; j < c.count; j++) {
        size_t k = c.count - 1 - j;
        double tp = (double)c.tps[k];
        out->precision[j] = tp / (tp + (double)c.fps[k]);
        out->recall[j] = tp / (double)c.positives;
        out->thresholds[j] = c.thresholds[k];
    }
    out->precision[c.count] = 1.0;
    out->recall[c.count] = 0.0;
    clann__binary_curve_free(&c);
    return CLANN_OK;
}

CLANN_API void clann_pr_curve_free(struct clann_pr_curve *c)
{
    if (!c)
        return;
    clann__free(c->precision);
    clann__free(c->recall);
    clann__free(c->thresholds);
    memset(c, 0, sizeof *c);
}

/* The classifier at candidate k of c: k == 0 predicts everything negative, k >= 1 is the
 * distinct score k - 1. */
static struct clann_threshold_choice choice_at(const struct clann__binary_curve *c, size_t k)
{
    struct clann_threshold_choice ch;
    size_t tp = k ? c->tps[k - 1] : 0, fp = k ? c->fps[k - 1] : 0;
    ch.threshold = k ? c->thresholds[k - 1] : nextafterf(c->thresholds[0], INFINITY);
    ch.counts.tp = tp;
    ch.counts.fp = fp;
    ch.counts.tn = c->negatives - fp;
    ch.counts.fn = c->positives - tp;
    double n = (double)(c->positives + c->negatives);
    ch.accuracy = (double)(tp + ch.counts.tn) / n;
    ch.precision = clann__metrics_ratio((double)tp, (double)(tp + fp));
    ch.recall = clann__metrics_ratio((double)tp, (double)c->positives);
    ch.f1 = clann__metrics_ratio(2.0 * (double)tp, (double)(2 * tp + fp + ch.counts.fn));
    return ch;
}

static double goal_value(const struct clann_threshold_choice *ch, enum clann_threshold_goal goal)
{
    switch (goal) {
    case CLANN_THRESHOLD_MAX_F1: return ch->f1;
    case CLANN_THRESHOLD_MAX_ACCURACY: return ch->accuracy;
    case CLANN_THRESHOLD_MIN_FOR_PRECISION: return ch->precision;
    case CLANN_THRESHOLD_MAX_FOR_RECALL: return ch->recall;
    }
    return NAN;
}

/* Picks the candidate for goal; returns false when none reaches target (*best then holds the
 * best value seen). Candidates run from the largest threshold down. */
static bool choose(const struct clann__binary_curve *c, enum clann_threshold_goal goal,
                   double target, struct clann_threshold_choice *out, double *best)
{
    bool found = false;
    *best = -INFINITY;
    for (size_t k = 0; k <= c->count; k++) {
        struct clann_threshold_choice ch = choice_at(c, k);
        double v = goal_value(&ch, goal);
        bool candidate = goal != CLANN_THRESHOLD_MIN_FOR_PRECISION || k > 0;
        if (!candidate)
            continue;
        if (goal == CLANN_THRESHOLD_MAX_F1 || goal == CLANN_THRESHOLD_MAX_ACCURACY) {
            if (v > *best) {
                *out = ch;
                found = true;
            }
        } else if (v >= target && (goal == CLANN_THRESHOLD_MIN_FOR_PRECISION || !found)) {
            *out = ch;
            found = true;
        }
        if (v > *best)
            *best = v;
    }
    return found;
}

CLANN_API enum clann_status clann_binary_threshold_choose(const float *scores,
                                                          const float *labels, size_t n,
                                                          enum clann_threshold_goal goal,
                                                          double target,
                                                          struct clann_threshold_choice *out)
{
    const char *fn = "clann_binary_threshold_choose";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    if ((int)goal < (int)CLANN_THRESHOLD_MAX_F1 ||
        (int)goal > (int)CLANN_THRESHOLD_MAX_FOR_RECALL)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: unknown goal %d", fn, (int)goal);
    bool targeted = goal == CLANN_THRESHOLD_MIN_FOR_PRECISION ||
                    goal == CLANN_THRESHOLD_MAX_FOR_RECALL;
    if (targeted && !(target >= 0.0 && target <= 1.0))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: target %g is not in [0, 1]", fn,
                            target);
    struct clann__binary_curve c;
    enum clann_status st = curve_from_inputs(fn, scores, labels, n, &c);
    if (st != CLANN_OK)
        return st;
    struct clann_threshold_choice ch;
    double best;
    bool found = choose(&c, goal, target, &ch, &best);
    clann__binary_curve_free(&c);
    if (!found)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "%s: no threshold reaches %s %g (the best is %g)", fn,
                            goal == CLANN_THRESHOLD_MIN_FOR_PRECISION ? "precision" : "recall",
                            target, best);
    *out = ch;
    return CLANN_OK;
}
