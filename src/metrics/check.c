/*
 * check.c - what classification.c and curves.c share below both: input validation of binary
 * and multiclass metrics and the zero-safe ratio. Its own file, so that the two metric files
 * use it without using each other both ways.
 */
#include "metrics/metrics.h"

#include <math.h>

double clann__metrics_ratio(double num, double den)
{
    return den != 0.0 ? num / den : 0.0;
}

static enum clann_status check_score(const char *fn, const char *name, const float *v, size_t i,
                                     bool probability)
{
    if (!isfinite(v[i]))
        return clann__error(NULL, CLANN_ERR_NONFINITE, "%s: %s[%zu] is %s", fn, name, i,
                            isnan(v[i]) ? "NaN" : "infinite");
    if (probability && !(v[i] >= 0.0f && v[i] <= 1.0f))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "%s: %s[%zu] = %g is not a probability in [0, 1]", fn, name, i,
                            (double)v[i]);
    return CLANN_OK;
}

static enum clann_status check_arrays(const char *fn, const void *a, const void *b, size_t n)
{
    if (!a || !b)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                            a ? "labels" : "the score array");
    if (n == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: no examples (n is 0)", fn);
    return CLANN_OK;
}

enum clann_status clann__metrics_check_binary(const char *fn, const float *scores,
                                              const float *labels, size_t n, bool probabilities)
{
    enum clann_status st = check_arrays(fn, scores, labels, n);
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        st = check_score(fn, "scores", scores, i, probabilities);
        if (st == CLANN_OK && !isfinite(labels[i]))
            st = clann__error(NULL, CLANN_ERR_NONFINITE, "%s: labels[%zu] is %s", fn, i,
                              isnan(labels[i]) ? "NaN" : "infinite");
        else if (st == CLANN_OK && labels[i] != 0.0f && labels[i] != 1.0f)
            st = clann__error(NULL, CLANN_ERR_INVALID_ARG,
                              "%s: labels[%zu] = %g is not 0 or 1", fn, i, (double)labels[i]);
    }
    return st;
}

enum clann_status clann__metrics_check_multiclass(const char *fn, const float *probs,
                                                  const float *labels, size_t n,
                                                  size_t classes)
{
    enum clann_status st = check_arrays(fn, probs, labels, n);
    size_t total;
    if (st != CLANN_OK)
        return st;
    if (classes < 2)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: %zu classes (need at least 2)",
                            fn, classes);
    if (!clann__mul_size(n, classes, &total))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: %zu x %zu overflows", fn, n, classes);
    for (size_t i = 0; i < total; i++) {
        float p = probs[i];
        if (!isfinite(p))
            return clann__error(NULL, CLANN_ERR_NONFINITE, "%s: probs[row %zu, class %zu] is %s",
                                fn, i / classes, i % classes, isnan(p) ? "NaN" : "infinite");
        if (!(p >= 0.0f && p <= 1.0f))
            return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                                "%s: probs[row %zu, class %zu] = %g is not a probability in "
                                "[0, 1]", fn, i / classes, i % classes, (double)p);
    }
    for (size_t i = 0; i < n; i++) {
        float y = labels[i];
        if (!isfinite(y))
            return clann__error(NULL, CLANN_ERR_NONFINITE, "%s: labels[%zu] is %s", fn, i,
                                isnan(y) ? "NaN" : "infinite");
        if (!(y >= 0.0f && (double)y < (double)classes && floorf(y) == y))
            return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                                "%s: labels[%zu] = %g is not a class index in [0, %zu)", fn, i,
                                (double)y, classes);
    }
    return CLANN_OK;
}
