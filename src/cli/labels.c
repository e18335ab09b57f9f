/*
 * labels.c - labels checked against the task at every entry point (train, resume, tune, eval):
 * a binary or multi-label task takes 0/1 labels, a multiclass one class indices below its
 * class count, and training data must hold at least two classes (a usage error). Without
 * these checks a binary model trains on labels 2 or -1 and a resumed checkpoint on regression
 * targets, and both exit 0 with meaningless weights.
 */
#include "cli.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum cli_task cli_model_task(const struct clann_model *m)
{
    switch (clann_model_loss(m)) {
    case CLANN_LOSS_SIGMOID_CROSS_ENTROPY:
        return clann_model_output_count(m) == 1 ? CLI_TASK_BINARY : CLI_TASK_MULTILABEL;
    case CLANN_LOSS_SOFTMAX_CROSS_ENTROPY:
    case CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY:
    case CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY:
    case CLANN_LOSS_NCE: return CLI_TASK_MULTICLASS;
    default: return CLI_TASK_REGRESSION;
    }
}

/* Whether v is a label the task accepts (classes: the multiclass class count). */
static bool label_ok(enum cli_task task, float v, size_t classes)
{
    switch (task) {
    case CLI_TASK_BINARY:
    case CLI_TASK_MULTILABEL: return v == 0.0f || v == 1.0f;
    case CLI_TASK_MULTICLASS: return v >= 0.0f && v == floorf(v) && (double)v < (double)classes;
    default: return isfinite(v);
    }
}

static int label_error(const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clann: %s: ", what);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_FAILED;
}

int cli_check_labels(const char *what, enum cli_task task, size_t outputs,
                     const struct clann_matrix *y, bool training)
{
    size_t n = y->rows * y->cols, bad = 0, first = 0;
    bool one_column = task == CLI_TASK_BINARY || task == CLI_TASK_MULTICLASS;
    if (one_column ? y->cols != 1 : outputs && y->cols != outputs)
        return label_error(what, "%zu label columns, but the model has %zu outputs", y->cols,
                           one_column ? (size_t)1 : outputs);
    float lo = n ? y->data[0] : 0.0f, hi = lo;
    for (size_t i = 0; i < n; i++) {
        float v = y->data[i];
        if (!label_ok(task, v, outputs) && bad++ == 0)
            first = i;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (bad && task == CLI_TASK_MULTICLASS)
        return label_error(what, "%zu of %zu labels are not class indices 0..%zu (the first: "
                           "%g)", bad, n, outputs ? outputs - 1 : 0, (double)y->data[first]);
    if (bad)
        return label_error(what, "%zu of %zu labels are not %s (the first: %g)", bad, n,
                           task == CLI_TASK_REGRESSION ? "finite" : "0 or 1",
                           (double)y->data[first]);
    /* The one place that refuses one-class training data (train, resume, tune): a usage
     * error, as the data, not a fault, is what must change. */
    if (training && one_column && lo == hi) {
        label_error(what, "one class only (every label is %g): a classifier needs at least "
                    "two classes to learn from", (double)lo);
        return CLI_USAGE;
    }
    return CLI_OK;
}
