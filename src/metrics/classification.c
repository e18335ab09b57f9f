/*
 * classification.c - binary and multiclass classification metrics on host arrays: confusion
 * counts, log losses, areas under the curves, prediction bias (overall and per slice),
 * calibration tables, and the multiclass confusion matrix with per-class and macro precision,
 * recall and F1. Input validation is in check.c.
 */
#include "metrics/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LOSS_EPS 1e-7

/* ---- binary ---------------------------------------------------------------------------- */

static struct clann_binary_counts count_at(const float *scores, const float *labels, size_t n,
                                           float threshold)
{
    struct clann_binary_counts c = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        bool predicted = scores[i] >= threshold, positive = labels[i] != 0.0f;
        c.tp += predicted && positive;
        c.fp += predicted && !positive;
        c.tn += !predicted && !positive;
        c.fn += !predicted && positive;
    }
    return c;
}

CLANN_API enum clann_status clann_binary_confusion(const float *scores, const float *labels,
                                                   size_t n, float threshold,
                                                   struct clann_binary_counts *out)
{
    const char *fn = "clann_binary_confusion";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_binary(fn, scores, labels, n, false);
    if (st != CLANN_OK)
        return st;
    *out = count_at(scores, labels, n, threshold);
    return CLANN_OK;
}

/* Log loss of validated inputs. */
static double log_loss_of(const float *probs, const float *labels, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double p = fmin(fmax((double)probs[i], LOG_LOSS_EPS), 1.0 - LOG_LOSS_EPS);
        sum += labels[i] != 0.0f ? log(p) : log(1.0 - p);
    }
    return -sum / (double)n;
}

CLANN_API enum clann_status clann_binary_log_loss(const float *probs, const float *labels,
                                                  size_t n, double *out)
{
    const char *fn = "clann_binary_log_loss";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_binary(fn, probs, labels, n, true);
    if (st != CLANN_OK)
        return st;
    *out = log_loss_of(probs, labels, n);
    return CLANN_OK;
}

/* Fills the threshold-dependent fields of m. */
static void fill_counts(struct clann_binary_metrics *m, const float *scores, const float *labels,
                        size_t n, float threshold)
{
    struct clann_binary_counts c = count_at(scores, labels, n, threshold);
    m->count = n;
    m->threshold = threshold;
    m->counts = c;
    m->accuracy = (double)(c.tp + c.tn) / (double)n;
    m->precision = clann__metrics_ratio((double)c.tp, (double)(c.tp + c.fp));
    m->recall = clann__metrics_ratio((double)c.tp, (double)(c.tp + c.fn));
    m->f1 = clann__metrics_ratio(2.0 * (double)c.tp, (double)(2 * c.tp + c.fp + c.fn));
}

static void mean_pair(const float *a, const float *b, size_t n, double *mean_a, double *mean_b)
{
    double sa = 0, sb = 0;
    for (size_t i = 0; i < n; i++) {
        sa += a[i];
        sb += b[i];
    }
    *mean_a = sa / (double)n;
    *mean_b = sb / (double)n;
}

CLANN_API enum clann_status clann_binary_evaluate(const float *scores, const float *labels,
                                                  size_t n, float threshold,
                                                  struct clann_binary_metrics *out)
{
    const char *fn = "clann_binary_evaluate";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_binary(fn, scores, labels, n, true);
    struct clann__binary_curve c;
    if (st == CLANN_OK)
        st = clann__binary_curve_build(scores, labels, n, &c);
    if (st != CLANN_OK)
        return st;
    struct clann_binary_metrics m;
    fill_counts(&m, scores, labels, n, threshold);
    m.log_loss = log_loss_of(scores, labels, n);
    m.roc_auc = clann__binary_curve_roc_auc(&c);
    m.average_precision = clann__binary_curve_average_precision(&c);
    mean_pair(scores, labels, n, &m.mean_prediction, &m.mean_label);
    m.prediction_bias = m.mean_prediction - m.mean_label;
    clann__binary_curve_free(&c);
    *out = m;
    return CLANN_OK;
}

/* Validates, builds the curve and reads one area off it (roc true: ROC AUC, else AP). */
static enum clann_status curve_area(const char *fn, const float *scores, const float *labels,
                                    size_t n, bool roc, double *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_binary(fn, scores, labels, n, false);
    struct clann__binary_curve c;
    if (st == CLANN_OK)
        st = clann__binary_curve_build(scores, labels, n, &c);
    if (st != CLANN_OK)
        return st;
    *out = roc ? clann__binary_curve_roc_auc(&c) : clann__binary_curve_average_precision(&c);
    size_t positives = c.positives;
    clann__binary_curve_free(&c);
    if (isnan(*out))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "%s: undefined, all %zu labels are %d (%s)", fn, n,
                            positives ? 1 : 0,
                            roc ? "ROC AUC needs both classes" : "AP needs a positive label");
    return CLANN_OK;
}

CLANN_API enum clann_status clann_binary_roc_auc(const float *scores, const float *labels,
                                                 size_t n, double *out)
{
    return curve_area("clann_binary_roc_auc", scores, labels, n, true, out);
}

CLANN_API enum clann_status clann_binary_average_precision(const float *scores,
                                                           const float *labels, size_t n,
                                                           double *out)
{
    return curve_area("clann_binary_average_precision", scores, labels, n, false, out);
}

/* ---- slices and calibration ------------------------------------------------------------ */

struct slice_entry {
    int64_t slice;
    size_t index;
};

static int slice_compare(const void *a, const void *b)
{
    const struct slice_entry *x = a, *y = b;
    if (x->slice != y->slice)
        return x->slice < y->slice ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

/* Sorts the example indices by slice id; NULL when out of memory. */
static struct slice_entry *slices_sort(const int64_t *slices, size_t n, size_t *distinct)
{
    size_t bytes;
    struct slice_entry *e = NULL;
    if (clann__mul_size(n, sizeof *e, &bytes))
        e = clann__malloc(bytes);
    if (!e)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        e[i].slice = slices[i];
        e[i].index = i;
    }
    qsort(e, n, sizeof *e, slice_compare);
    *distinct = 1;
    for (size_t i = 1; i < n; i++)
        *distinct += e[i].slice != e[i - 1].slice;
    return e;
}

/* Aggregates the sorted entries into one bias record per slice. */
static void slices_fill(const struct slice_entry *e, size_t n, const float *probs,
                        const float *labels, struct clann_slice_bias *out)
{
    size_t k = 0, start = 0;
    for (size_t i = 1; i <= n; i++) {
        if (i < n && e[i].slice == e[start].slice)
            continue;
        double sp = 0, sl = 0;
        for (size_t j = start; j < i; j++) {
            sp += probs[e[j].index];
            sl += labels[e[j].index];
        }
        struct clann_slice_bias *s = &out[k++];
        s->slice = e[start].slice;
        s->count = i - start;
        s->mean_prediction = sp / (double)s->count;
        s->mean_label = sl / (double)s->count;
        s->bias = s->mean_prediction - s->mean_label;
        start = i;
    }
}

CLANN_API enum clann_status clann_binary_slice_bias(const float *probs, const float *labels,
                                                    const int64_t *slices, size_t n,
                                                    struct clann_slice_bias **out,
                                                    size_t *n_out)
{
    const char *fn = "clann_binary_slice_bias";
    if (!out || !n_out || !slices)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                            slices ? "an output" : "slices");
    *out = NULL;
    *n_out = 0;
    enum clann_status st = clann__metrics_check_binary(fn, probs, labels, n, true);
    if (st != CLANN_OK)
        return st;
    size_t distinct = 0;
    struct slice_entry *e = slices_sort(slices, n, &distinct);
    struct clann_slice_bias *r = e ? clann__calloc(distinct, sizeof *r) : NULL;
    if (!r) {
        clann__free(e);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory for %zu examples", fn,
                            n);
    }
    slices_fill(e, n, probs, labels, r);
    clann__free(e);
    *out = r;
    *n_out = distinct;
    return CLANN_OK;
}

CLANN_API void clann_slice_bias_free(struct clann_slice_bias *s)
{
    clann__free(s);
}

CLANN_API enum clann_status clann_binary_calibration(const float *probs, const float *labels,
                                                     size_t n, size_t n_buckets,
                                                     struct clann_calibration_bucket *out)
{
    const char *fn = "clann_binary_calibration";
    if (!out || n_buckets == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: %s", fn,
                            out ? "n_buckets is 0" : "out is NULL");
    enum clann_status st = clann__metrics_check_binary(fn, probs, labels, n, true);
    if (st != CLANN_OK)
        return st;
    for (size_t b = 0; b < n_buckets; b++) {
        out[b].lower = (double)b / (double)n_buckets;
        out[b].upper = (double)(b + 1) / (double)n_buckets;
        out[b].count = 0;
        out[b].mean_prediction = 0;
        out[b].positive_rate = 0;
    }
    for (size_t i = 0; i < n; i++) {
        size_t b = (size_t)((double)probs[i] * (double)n_buckets);
        b = b < n_buckets ? b : n_buckets - 1;
        out[b].count++;
        out[b].mean_prediction += probs[i];
        out[b].positive_rate += labels[i];
    }
    for (size_t b = 0; b < n_buckets; b++) {
        double count = (double)out[b].count;
        out[b].mean_prediction = count > 0 ? out[b].mean_prediction / count : NAN;
        out[b].positive_rate = count > 0 ? out[b].positive_rate / count : NAN;
    }
    return CLANN_OK;
}

/* ---- multiclass ------------------------------------------------------------------------ */

/* Index of the row's largest value, the first one on ties. */
static size_t row_argmax(const float *row, size_t classes)
{
    size_t best = 0;
    for (size_t j = 1; j < classes; j++)
        if (row[j] > row[best])
            best = j;
    return best;
}

/* Whether label y is among the k highest values of row, sklearn's tie rule: a tied class ranks
 * above y when its index is higher. */
static bool row_in_top_k(const float *row, size_t classes, size_t y, size_t k)
{
    size_t rank = 0;
    for (size_t j = 0; j < classes; j++)
        rank += row[j] > row[y] || (row[j] == row[y] && j > y);
    return rank < k;
}

static double multiclass_log_loss_of(const float *probs, const float *labels, size_t n,
                                     size_t classes)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double p = probs[i * classes + (size_t)labels[i]];
        sum += log(fmin(fmax(p, LOG_LOSS_EPS), 1.0 - LOG_LOSS_EPS));
    }
    return -sum / (double)n;
}

CLANN_API enum clann_status clann_multiclass_accuracy(const float *probs, const float *labels,
                                                      size_t n, size_t classes, double *out)
{
    const char *fn = "clann_multiclass_accuracy";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_multiclass(fn, probs, labels, n, classes);
    if (st != CLANN_OK)
        return st;
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
        hits += row_argmax(probs + i * classes, classes) == (size_t)labels[i];
    *out = (double)hits / (double)n;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_multiclass_top_k_accuracy(const float *probs,
                                                            const float *labels, size_t n,
                                                            size_t classes, size_t k,
                                                            double *out)
{
    const char *fn = "clann_multiclass_top_k_accuracy";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_multiclass(fn, probs, labels, n, classes);
    if (st != CLANN_OK)
        return st;
    if (k < 1 || k > classes)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: k = %zu is not in [1, %zu]", fn, k,
                            classes);
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
        hits += row_in_top_k(probs + i * classes, classes, (size_t)labels[i], k);
    *out = (double)hits / (double)n;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_multiclass_log_loss(const float *probs, const float *labels,
                                                      size_t n, size_t classes, double *out)
{
    const char *fn = "clann_multiclass_log_loss";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    enum clann_status st = clann__metrics_check_multiclass(fn, probs, labels, n, classes);
    if (st != CLANN_OK)
        return st;
    *out = multiclass_log_loss_of(probs, labels, n, classes);
    return CLANN_OK;
}

static bool multiclass_alloc(struct clann_multiclass_metrics *m, size_t classes)
{
    size_t cells;
    m->classes = classes;
    if (!clann__mul_size(classes, classes, &cells))
        return false;
    m->confusion = clann__calloc(cells, sizeof *m->confusion);
    m->support = clann__calloc(classes, sizeof *m->support);
    m->precision = clann__calloc(classes, sizeof *m->precision);
    m->recall = clann__calloc(classes, sizeof *m->recall);
    m->f1 = clann__calloc(classes, sizeof *m->f1);
    m->roc_auc = clann__calloc(classes, sizeof *m->roc_auc);
    return m->confusion && m->support && m->precision && m->recall && m->f1 && m->roc_auc;
}

/* Per-class and macro precision, recall and F1 from the filled confusion matrix. */
static void multiclass_scores(struct clann_multiclass_metrics *m)
{
    size_t c = m->classes;
    double sp = 0, sr = 0, sf = 0;
    for (size_t k = 0; k < c; k++) {
        size_t tp = m->confusion[k * c + k], predicted = 0;
        for (size_t t = 0; t < c; t++)
            predicted += m->confusion[t * c + k];
        size_t fp = predicted - tp, fn = m->support[k] - tp;
        m->precision[k] = clann__metrics_ratio((double)tp, (double)predicted);
        m->recall[k] = clann__metrics_ratio((double)tp, (double)m->support[k]);
        m->f1[k] = clann__metrics_ratio(2.0 * (double)tp, (double)(2 * tp + fp + fn));
        sp += m->precision[k];
        sr += m->recall[k];
        sf += m->f1[k];
    }
    m->macro_precision = sp / (double)c;
    m->macro_recall = sr / (double)c;
    m->macro_f1 = sf / (double)c;
}

/* ROC AUC of class k against the rest for every class, NaN where the labels leave it
 * undefined, and their mean over the defined ones in *macro (NaN when none is). */
static enum clann_status one_vs_rest_auc(const char *fn, const float *probs, const float *labels,
                                         size_t n, size_t classes, double *per_class,
                                         double *macro)
{
    float *scores = clann__malloc(n * sizeof *scores), *is_k = clann__malloc(n * sizeof *is_k);
    if (!scores || !is_k) {
        clann__free(scores), clann__free(is_k);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    double sum = 0.0;
    size_t defined = 0;
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < classes && st == CLANN_OK; k++) {
        size_t positives = 0;
        for (size_t i = 0; i < n; i++) {
            scores[i] = probs[i * classes + k];
            is_k[i] = (size_t)labels[i] == k ? 1.0f : 0.0f;
            positives += (size_t)labels[i] == k;
        }
        double auc = NAN;
        if (positives > 0 && positives < n)
            st = clann_binary_roc_auc(scores, is_k, n, &auc);
        if (per_class)
            per_class[k] = auc;
        if (!isnan(auc))
            sum += auc, defined++;
    }
    clann__free(scores), clann__free(is_k);
    *macro = defined ? sum / (double)defined : NAN;
    return st;
}

CLANN_API enum clann_status clann_multiclass_roc_auc(const float *probs, const float *labels,
                                                     size_t n, size_t classes,
                                                     double *per_class, double *macro)
{
    const char *fn = "clann_multiclass_roc_auc";
    if (!macro)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: macro is NULL", fn);
    *macro = NAN;
    enum clann_status st = clann__metrics_check_multiclass(fn, probs, labels, n, classes);
    if (st == CLANN_OK)
        st = one_vs_rest_auc(fn, probs, labels, n, classes, per_class, macro);
    if (st == CLANN_OK && isnan(*macro))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: undefined, every one of the %zu "
                            "labels is the same class (ROC AUC needs two)", fn, n);
    return st;
}

CLANN_API enum clann_status clann_multiclass_evaluate(const float *probs, const float *labels,
                                                      size_t n, size_t classes,
                                                      struct clann_multiclass_metrics *out)
{
    const char *fn = "clann_multiclass_evaluate";
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    enum clann_status st = clann__metrics_check_multiclass(fn, probs, labels, n, classes);
    if (st != CLANN_OK)
        return st;
    struct clann_multiclass_metrics m;
    memset(&m, 0, sizeof m);
    if (!multiclass_alloc(&m, classes)) {
        clann_multiclass_metrics_free(&m);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY,
                            "%s: out of memory for a %zu x %zu confusion matrix", fn, classes,
                            classes);
    }
    size_t hits = 0;
    for (size_t i = 0; i < n; i++) {
        size_t y = (size_t)labels[i], p = row_argmax(probs + i * classes, classes);
        m.confusion[y * classes + p]++;
        m.support[y]++;
        hits += p == y;
    }
    m.count = n;
    m.accuracy = (double)hits / (double)n;
    m.log_loss = multiclass_log_loss_of(probs, labels, n, classes);
    multiclass_scores(&m);
    st = one_vs_rest_auc(fn, probs, labels, n, classes, m.roc_auc, &m.macro_roc_auc);
    if (st != CLANN_OK) {
        clann_multiclass_metrics_free(&m);
        return st;
    }
    *out = m;
    return CLANN_OK;
}

CLANN_API void clann_multiclass_metrics_free(struct clann_multiclass_metrics *m)
{
    if (!m)
        return;
    clann__free(m->confusion);
    clann__free(m->support);
    clann__free(m->precision);
    clann__free(m->recall);
    clann__free(m->f1);
    clann__free(m->roc_auc);
    memset(m, 0, sizeof *m);
}
