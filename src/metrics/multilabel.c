/*
 * multilabel.c - metrics of a multi-label classifier: n rows of L independent 0/1 labels and
 * L probabilities. Exact-match (subset) and per-label (hamming) accuracy, per-label precision,
 * recall, F1 and ROC AUC with their macro and micro averages, as scikit-learn defines them
 * (accuracy_score, 1 - hamming_loss, precision_recall_fscore_support, roc_auc_score on
 * label-indicator matrices).
 */
#include "metrics/metrics.h"

#include <math.h>
#include <string.h>

static bool multilabel_alloc(struct clann_multilabel_metrics *m, size_t labels)
{
    m->labels = labels;
    m->support = clann__calloc(labels, sizeof *m->support);
    m->precision = clann__calloc(labels, sizeof *m->precision);
    m->recall = clann__calloc(labels, sizeof *m->recall);
    m->f1 = clann__calloc(labels, sizeof *m->f1);
    m->roc_auc = clann__calloc(labels, sizeof *m->roc_auc);
    return m->support && m->precision && m->recall && m->f1 && m->roc_auc;
}

/* Counts of every label at the threshold, the accuracies, and per-label and averaged
 * precision, recall and F1 (zero_division 0). */
static void multilabel_counts(struct clann_multilabel_metrics *m, const float *probs,
                              const float *labels, size_t n, size_t L)
{
    size_t exact = 0, agree = 0, tp_all = 0, fp_all = 0, fn_all = 0;
    double sf = 0;
    for (size_t i = 0; i < n; i++) {
        size_t row_agree = 0;
        for (size_t k = 0; k < L; k++) {
            bool pred = probs[i * L + k] >= m->threshold, pos = labels[i * L + k] == 1.0f;
            row_agree += pred == pos;
            m->support[k] += pos;
        }
        agree += row_agree;
        exact += row_agree == L;
    }
    for (size_t k = 0; k < L; k++) {
        struct clann_binary_counts c = {0, 0, 0, 0};
        for (size_t i = 0; i < n; i++) {
            bool pred = probs[i * L + k] >= m->threshold, pos = labels[i * L + k] == 1.0f;
            c.tp += pred && pos, c.fp += pred && !pos, c.fn += !pred && pos;
        }
        m->precision[k] = clann__metrics_ratio((double)c.tp, (double)(c.tp + c.fp));
        m->recall[k] = clann__metrics_ratio((double)c.tp, (double)(c.tp + c.fn));
        m->f1[k] = clann__metrics_ratio(2.0 * (double)c.tp, (double)(2 * c.tp + c.fp + c.fn));
        sf += m->f1[k];
        tp_all += c.tp, fp_all += c.fp, fn_all += c.fn;
    }
    m->subset_accuracy = (double)exact / (double)n;
    m->hamming_accuracy = (double)agree / ((double)n * (double)L);
    m->macro_f1 = sf / (double)L;
    m->micro_precision = clann__metrics_ratio((double)tp_all, (double)(tp_all + fp_all));
    m->micro_recall = clann__metrics_ratio((double)tp_all, (double)(tp_all + fn_all));
    m->micro_f1 = clann__metrics_ratio(2.0 * (double)tp_all,
                                       (double)(2 * tp_all + fp_all + fn_all));
}

/* ROC AUC of each label column (NaN when the column holds one class), their mean over the
 * defined ones, and the micro AUC of every value pooled (the flat arrays as they are). */
static enum clann_status multilabel_auc(const char *fn, struct clann_multilabel_metrics *m,
                                        const float *probs, const float *labels, size_t n,
                                        size_t L)
{
    float *scores = clann__malloc(n * sizeof *scores), *col = clann__malloc(n * sizeof *col);
    if (!scores || !col) {
        clann__free(scores), clann__free(col);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory", fn);
    }
    double sum = 0.0;
    size_t defined = 0;
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < L && st == CLANN_OK; k++) {
        for (size_t i = 0; i < n; i++)
            scores[i] = probs[i * L + k], col[i] = labels[i * L + k];
        m->roc_auc[k] = NAN;
        if (m->support[k] > 0 && m->support[k] < n)
            st = clann_binary_roc_auc(scores, col, n, &m->roc_auc[k]);
        if (!isnan(m->roc_auc[k]))
            sum += m->roc_auc[k], defined++;
    }
    clann__free(scores), clann__free(col);
    m->macro_roc_auc = defined ? sum / (double)defined : NAN;
    struct clann__binary_curve c;
    if (st == CLANN_OK && (st = clann__binary_curve_build(probs, labels, n * L, &c)) == CLANN_OK) {
        m->micro_roc_auc = clann__binary_curve_roc_auc(&c);
        clann__binary_curve_free(&c);
    }
    return st;
}

CLANN_API enum clann_status clann_multilabel_evaluate(const float *probs, const float *labels,
                                                      size_t n, size_t n_labels,
                                                      float threshold,
                                                      struct clann_multilabel_metrics *out)
{
    const char *fn = "clann_multilabel_evaluate";
    size_t total;
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: out is NULL", fn);
    memset(out, 0, sizeof *out);
    if (n_labels == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: no labels (n_labels is 0)", fn);
    if (!clann__mul_size(n, n_labels, &total))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: %zu x %zu overflows", fn, n,
                            n_labels);
    if (!(threshold >= 0.0f && threshold <= 1.0f))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: threshold %g is not in [0, 1]",
                            fn, (double)threshold);
    /* The flat arrays are n * L binary decisions; the message's index is row * L + label. */
    enum clann_status st = clann__metrics_check_binary(fn, probs, labels, total, true);
    if (st != CLANN_OK)
        return st;
    struct clann_multilabel_metrics m;
    memset(&m, 0, sizeof m);
    if (!multilabel_alloc(&m, n_labels)) {
        clann_multilabel_metrics_free(&m);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory for %zu labels", fn,
                            n_labels);
    }
    m.count = n;
    m.threshold = threshold;
    multilabel_counts(&m, probs, labels, n, n_labels);
    st = multilabel_auc(fn, &m, probs, labels, n, n_labels);
    if (st != CLANN_OK) {
        clann_multilabel_metrics_free(&m);
        return st;
    }
    *out = m;
    return CLANN_OK;
}

CLANN_API void clann_multilabel_metrics_free(struct clann_multilabel_metrics *m)
{
    if (!m)
        return;
    clann__free(m->support);
    clann__free(m->precision);
    clann__free(m->recall);
    clann__free(m->f1);
    clann__free(m->roc_auc);
    memset(m, 0, sizeof *m);
}
