/*
 * evaluation.c - every metric that applies to a model's task, printed as text or one JSON
 * object, and eval.json (metrics plus ROC/PR curves, calibration and the confusion matrix) for
 * `clann report`. Used by `clann eval` and by `clann train` on its test data.
 */
#include "cli.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum eval_task { EVAL_BINARY, EVAL_MULTICLASS, EVAL_REGRESSION, EVAL_MULTILABEL };

static enum eval_task task_of(const struct clann_model *m)
{
    enum clann_loss loss = clann_model_loss(m);
    if (loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY)
        return clann_model_output_count(m) == 1 ? EVAL_BINARY : EVAL_MULTILABEL;
    if (loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY ||
        loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_NCE)
        return EVAL_MULTICLASS;
    return EVAL_REGRESSION;
}

static const char *const task_names[] = {"binary", "multiclass", "regression", "multilabel"};

bool cli_is_regression(const struct clann_model *m)
{
    return task_of(m) == EVAL_REGRESSION;
}

double cli_loss_in_units(const struct clann_model *m, double loss)
{
    enum clann_scale kind = clann_model_scaler_kind(m, true);
    if (kind == CLANN_SCALE_NONE || isnan(loss))
        return loss; /* no target scaler: the loss is in the targets' units already */
    if (kind != CLANN_SCALE_STANDARD && kind != CLANN_SCALE_MINMAX)
        return NAN; /* log scaling has no single factor */
    size_t n;
    const float *b, *a = clann_model_scaler_stats(m, true, &b, &n);
    double scale = NAN;
    for (size_t j = 0; j < n; j++) {
        /* standard: y = mean + sd * z; minmax (the CLI's [0, 1] range): y = min + (max-min) z */
        double s = kind == CLANN_SCALE_STANDARD ? b[j] : (double)b[j] - a[j];
        if (j > 0 && s != scale)
            return NAN; /* outputs on different scales: no single factor */
        scale = s;
    }
    switch (clann_model_loss(m)) {
    case CLANN_LOSS_MSE: return loss * scale * scale;
    case CLANN_LOSS_MAE: return loss * fabs(scale);
    default: return NAN;
    }
}

/* A JSON number, or null for NaN. */
static struct json_object *num(double v)
{
    return isfinite(v) ? json_object_new_double(v) : NULL;
}

static void put(struct json_object *obj, const char *key, double v)
{
    json_object_object_add(obj, key, num(v));
}

static struct json_object *array(const double *v, size_t n)
{
    struct json_object *a = json_object_new_array();
    for (size_t i = 0; i < n; i++)
        json_object_array_add(a, num(v[i]));
    return a;
}

/* "precision=P" / "recall=R" with P, R a number in [0, 1] and nothing after it. */
static bool goal_target(const char *text, const char *prefix, double *target)
{
    size_t n = strlen(prefix);
    if (strncmp(text, prefix, n) != 0)
        return false;
    char *end;
    *target = strtod(text + n, &end);
    return end != text + n && *end == '\0' && *target >= 0 && *target <= 1;
}

/* Parses --threshold: a number (returns 0), or f1 / accuracy / precision=P / recall=R (returns
 * 1: a goal to choose the threshold by); -1 after a usage error. */
static int parse_threshold(const char *text, enum clann_threshold_goal *goal, double *target,
                           float *fixed)
{
    *fixed = 0.5f;
    if (!text)
        return 0;
    char *end;
    double v = strtod(text, &end);
    if (end != text && *end == '\0' && v >= 0 && v <= 1) {
        *fixed = (float)v;
        return 0;
    }
    *target = 0;
    if (strcmp(text, "f1") == 0)
        *goal = CLANN_THRESHOLD_MAX_F1;
    else if (strcmp(text, "accuracy") == 0)
        *goal = CLANN_THRESHOLD_MAX_ACCURACY;
    else if (goal_target(text, "precision=", target))
        *goal = CLANN_THRESHOLD_MIN_FOR_PRECISION;
    else if (goal_target(text, "recall=", target))
        *goal = CLANN_THRESHOLD_MAX_FOR_RECALL;
    else {
        cli_usage("--threshold: '%s' is not a number in [0, 1], f1, accuracy, precision=P or "
                  "recall=R", text);
        return -1;
    }
    return 1;
}

static int binary_threshold(const struct clann_matrix *p, const struct clann_matrix *y,
                            const char *text, float *threshold)
{
    enum clann_threshold_goal goal = CLANN_THRESHOLD_MAX_F1;
    double target = 0;
    int chosen = parse_threshold(text, &goal, &target, threshold);
    if (chosen <= 0)
        return chosen == 0 ? CLI_OK : CLI_USAGE;
    struct clann_threshold_choice c;
    enum clann_status st = clann_binary_threshold_choose(p->data, y->data, p->rows * p->cols,
                                                         goal, target, &c);
    if (st != CLANN_OK)
        return cli_fail("threshold", st);
    *threshold = c.threshold;
    return CLI_OK;
}

/* At most this many points per curve of a multiclass class or a multi-label label in
 * eval.json: enough to draw, while the AUCs beside them stay exact. */
#define CURVE_POINTS 400
/* (actual, predicted) pairs a regressor's eval.json keeps for its plots. */
#define REGRESSION_SAMPLE 1000

/* { xname: [...], yname: [...] } of n points, every step-th one and the last (step 1 keeps
 * every point). */
static struct json_object *curve_json(const char *xname, const double *x, const char *yname,
                                      const double *y, size_t n, size_t step)
{
    struct json_object *o = json_object_new_object();
    struct json_object *ax = json_object_new_array(), *ay = json_object_new_array();
    for (size_t i = 0; i < n; i += step) {
        size_t k = i + step >= n ? n - 1 : i; /* the last point always */
        json_object_array_add(ax, num(x[k]));
        json_object_array_add(ay, num(y[k]));
    }
    json_object_object_add(o, xname, ax);
    json_object_object_add(o, yname, ay);
    return o;
}

static size_t thin_step(size_t n, size_t max_points)
{
    return max_points && n > max_points ? (n + max_points - 1) / max_points : 1;
}

/* Adds "roc" and "pr" of scores against 0/1 labels to obj (each only where defined). */
static void add_curves(struct json_object *obj, const float *scores, const float *labels,
                       size_t n, size_t max_points)
{
    struct clann_roc_curve roc;
    if (clann_roc_curve_compute(scores, labels, n, &roc) == CLANN_OK) {
        json_object_object_add(obj, "roc", curve_json("fpr", roc.fpr, "tpr", roc.tpr, roc.count,
                                                      thin_step(roc.count, max_points)));
        clann_roc_curve_free(&roc);
    }
    struct clann_pr_curve pr;
    if (clann_pr_curve_compute(scores, labels, n, &pr) == CLANN_OK) {
        json_object_object_add(obj, "pr", curve_json("precision", pr.precision, "recall",
                                                     pr.recall, pr.count,
                                                     thin_step(pr.count, max_points)));
        clann_pr_curve_free(&pr);
    }
}

/* Adds "calibration" (10 buckets of predicted probability against observed rate) to obj. */
static void add_calibration(struct json_object *obj, const float *probs, const float *labels,
                            size_t n)
{
    struct clann_calibration_bucket buckets[10];
    if (clann_binary_calibration(probs, labels, n, 10, buckets) != CLANN_OK)
        return;
    double pred[10], obs[10], count[10];
    for (size_t i = 0; i < 10; i++) {
        pred[i] = buckets[i].count ? buckets[i].mean_prediction : NAN;
        obs[i] = buckets[i].count ? buckets[i].positive_rate : NAN;
        count[i] = (double)buckets[i].count;
    }
    struct json_object *c = json_object_new_object();
    json_object_object_add(c, "predicted", array(pred, 10));
    json_object_object_add(c, "observed", array(obs, 10));
    json_object_object_add(c, "count", array(count, 10));
    json_object_object_add(obj, "calibration", c);
}

/* "confusion": {labels, matrix} of a classes x classes count matrix (row: true class). */
static void add_confusion(struct json_object *root, const size_t *cells, size_t classes,
                          const struct clann_columns *names)
{
    struct json_object *conf = json_object_new_object();
    struct json_object *labels = json_object_new_array(), *matrix = json_object_new_array();
    for (size_t i = 0; i < classes; i++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", i);
        bool named = names->classes && i < names->n_classes;
        json_object_array_add(labels, json_object_new_string(named ? names->classes[i] : name));
        struct json_object *row = json_object_new_array();
        for (size_t j = 0; j < classes; j++)
            json_object_array_add(row, json_object_new_double((double)cells[i * classes + j]));
        json_object_array_add(matrix, row);
    }
    json_object_object_add(conf, "labels", labels);
    json_object_object_add(conf, "matrix", matrix);
    json_object_object_add(root, "confusion", conf);
}

static int binary_metrics(const struct cli_eval_options *o, const struct clann_matrix *p,
                          const struct clann_matrix *y, const struct clann_columns *names,
                          struct json_object *metrics, struct json_object *root)
{
    size_t n = p->rows * p->cols;
    float threshold;
    int rc = binary_threshold(p, y, o->threshold, &threshold);
    if (rc != CLI_OK)
        return rc;
    struct clann_binary_metrics b;
    enum clann_status st = clann_binary_evaluate(p->data, y->data, n, threshold, &b);
    if (st != CLANN_OK)
        return cli_fail("metrics", st);
    put(metrics, "threshold", b.threshold);
    put(metrics, "accuracy", b.accuracy);
    put(metrics, "precision", b.precision);
    put(metrics, "recall", b.recall);
    put(metrics, "f1", b.f1);
    put(metrics, "log_loss", b.log_loss);
    put(metrics, "roc_auc", b.roc_auc);
    put(metrics, "average_precision", b.average_precision);
    put(metrics, "mean_prediction", b.mean_prediction);
    put(metrics, "mean_label", b.mean_label);
    put(metrics, "prediction_bias", b.prediction_bias);
    size_t cells[4] = {b.counts.tn, b.counts.fp, b.counts.fn, b.counts.tp};
    struct clann_columns none;
    memset(&none, 0, sizeof none); /* 0/1 unless the labels were two names ("no", "yes") */
    add_confusion(root, cells, 2, names->n_classes == 2 ? names : &none);
    add_curves(root, p->data, y->data, n, 0);
    add_calibration(root, p->data, y->data, n);
    return CLI_OK;
}

/* Column k of a rows x cols matrix into out (labels: 1 where it equals class k, when
 * one_vs_rest). */
static void column_of(const float *v, size_t rows, size_t cols, size_t k, bool one_vs_rest,
                      float *out)
{
    for (size_t r = 0; r < rows; r++)
        out[r] = one_vs_rest ? (float)(v[r] == (float)k) : v[r * cols + k];
}

/* "per_class": for each class its one-vs-rest ROC and PR curves, AUC and average precision;
 * "calibration": of the top-class probability against the prediction being right. */
static int multiclass_curves(const struct clann_matrix *p, const struct clann_matrix *y,
                             const struct clann_columns *names, struct json_object *metrics,
                             struct json_object *root)
{
    size_t n = p->rows, classes = p->cols;
    float *scores = malloc(2 * n * sizeof *scores), *is_k = scores + n;
    if (!scores)
        return cli_usage("out of memory");
    struct json_object *per = json_object_new_array();
    double ap_sum = 0;
    size_t ap_defined = 0;
    for (size_t k = 0; k < classes; k++) {
        column_of(p->data, n, classes, k, false, scores);
        column_of(y->data, n, 1, k, true, is_k);
        struct json_object *c = json_object_new_object();
        char name[32];
        snprintf(name, sizeof name, "%zu", k);
        bool named = names->classes && k < names->n_classes;
        json_object_object_add(c, "class", json_object_new_string(named ? names->classes[k]
                                                                        : name));
        double auc = NAN, ap = NAN;
        clann_binary_roc_auc(scores, is_k, n, &auc); /* NaN for an absent class */
        clann_binary_average_precision(scores, is_k, n, &ap);
        put(c, "roc_auc", auc);
        put(c, "average_precision", ap);
        if (!isnan(ap))
            ap_sum += ap, ap_defined++;
        add_curves(c, scores, is_k, n, CURVE_POINTS);
        json_object_array_add(per, c);
    }
    put(metrics, "macro_average_precision", ap_defined ? ap_sum / (double)ap_defined : NAN);
    json_object_object_add(root, "per_class", per);
    for (size_t r = 0; r < n; r++) { /* the top class's probability and whether it is right */
        const float *row = p->data + r * classes;
        size_t best = 0;
        for (size_t k = 1; k < classes; k++)
            best = row[k] > row[best] ? k : best;
        scores[r] = row[best];
        is_k[r] = (float)((float)best == y->data[r]);
    }
    add_calibration(root, scores, is_k, n);
    free(scores);
    return CLI_OK;
}

static int multiclass_metrics(const struct clann_matrix *p, const struct clann_matrix *y,
                              const struct clann_columns *names, struct json_object *metrics,
                              struct json_object *root)
{
    struct clann_multiclass_metrics mc;
    enum clann_status st = clann_multiclass_evaluate(p->data, y->data, p->rows, p->cols, &mc);
    if (st != CLANN_OK)
        return cli_fail("metrics", st);
    double top5 = NAN;
    if (p->cols > 5)
        clann_multiclass_top_k_accuracy(p->data, y->data, p->rows, p->cols, 5, &top5);
    put(metrics, "accuracy", mc.accuracy);
    put(metrics, "top5_accuracy", top5);
    put(metrics, "log_loss", mc.log_loss);
    put(metrics, "macro_precision", mc.macro_precision);
    put(metrics, "macro_recall", mc.macro_recall);
    put(metrics, "macro_f1", mc.macro_f1);
    put(metrics, "macro_roc_auc", mc.macro_roc_auc);
    json_object_object_add(root, "roc_auc_per_class", array(mc.roc_auc, mc.classes));
    add_confusion(root, mc.confusion, mc.classes, names);
    clann_multiclass_metrics_free(&mc);
    return multiclass_curves(p, y, names, metrics, root);
}

/* Exact-match and per-label (hamming) accuracy, averaged P/R/F1 and AUCs, and "per_label":
 * each label's support, precision, recall, F1, ROC AUC and curves. */
static int multilabel_metrics(const struct cli_eval_options *o, const struct clann_matrix *p,
                              const struct clann_matrix *y, struct json_object *metrics,
                              struct json_object *root)
{
    float threshold = 0.5f;
    double v;
    char *end;
    if (o->threshold) { /* a number only: goals choose one threshold for one decision */
        v = strtod(o->threshold, &end);
        if (end == o->threshold || *end || !(v >= 0 && v <= 1))
            return cli_usage("--threshold: a multi-label model takes a number in [0, 1] "
                             "(one threshold for every label), not '%s'", o->threshold);
        threshold = (float)v;
    }
    struct clann_multilabel_metrics ml;
    enum clann_status st = clann_multilabel_evaluate(p->data, y->data, p->rows, p->cols,
                                                     threshold, &ml);
    if (st != CLANN_OK)
        return cli_fail("metrics", st);
    put(metrics, "threshold", threshold);
    put(metrics, "subset_accuracy", ml.subset_accuracy);
    put(metrics, "hamming_accuracy", ml.hamming_accuracy);
    put(metrics, "macro_roc_auc", ml.macro_roc_auc);
    put(metrics, "micro_roc_auc", ml.micro_roc_auc);
    put(metrics, "macro_f1", ml.macro_f1);
    put(metrics, "micro_precision", ml.micro_precision);
    put(metrics, "micro_recall", ml.micro_recall);
    put(metrics, "micro_f1", ml.micro_f1);
    float *scores = malloc(2 * p->rows * sizeof *scores), *col = scores + p->rows;
    struct json_object *per = json_object_new_array();
    for (size_t k = 0; k < ml.labels; k++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "label", json_object_new_uint64(k));
        json_object_object_add(e, "support", json_object_new_uint64(ml.support[k]));
        put(e, "precision", ml.precision[k]);
        put(e, "recall", ml.recall[k]);
        put(e, "f1", ml.f1[k]);
        put(e, "roc_auc", ml.roc_auc[k]);
        if (scores) {
            column_of(p->data, p->rows, p->cols, k, false, scores);
            column_of(y->data, p->rows, p->cols, k, false, col);
            add_curves(e, scores, col, p->rows, CURVE_POINTS);
        }
        json_object_array_add(per, e);
    }
    free(scores);
    json_object_object_add(root, "per_label", per);
    clann_multilabel_metrics_free(&ml);
    return CLI_OK;
}

/* "sample": up to REGRESSION_SAMPLE (actual, predicted) pairs of output 0, evenly spaced over
 * the rows, for predicted-vs-actual and residual plots. */
static void add_regression_sample(struct json_object *root, const struct clann_matrix *p,
                                  const struct clann_matrix *y)
{
    size_t count = p->rows < REGRESSION_SAMPLE ? p->rows : REGRESSION_SAMPLE;
    struct json_object *s = json_object_new_object();
    struct json_object *actual = json_object_new_array(), *pred = json_object_new_array();
    for (size_t i = 0; i < count; i++) {
        size_t r = (size_t)((double)i * (double)p->rows / (double)count);
        json_object_array_add(actual, num(y->data[r * y->cols]));
        json_object_array_add(pred, num(p->data[r * p->cols]));
    }
    json_object_object_add(s, "actual", actual);
    json_object_object_add(s, "predicted", pred);
    json_object_object_add(root, "sample", s);
}

/* Variance of output 0's labels (population, as R^2's denominator). */
static double label_variance(const struct clann_matrix *y)
{
    double mean = 0, ss = 0;
    for (size_t r = 0; r < y->rows; r++)
        mean += y->data[r * y->cols];
    mean /= (double)y->rows;
    for (size_t r = 0; r < y->rows; r++)
        ss += (y->data[r * y->cols] - mean) * (y->data[r * y->cols] - mean);
    return ss / (double)y->rows;
}

static int regression_metrics(const struct clann_model *m, const struct clann_matrix *p,
                              const struct clann_matrix *y, struct json_object *metrics,
                              struct json_object *root)
{
    struct clann_regression_metrics r;
    enum clann_status st = clann_regression_evaluate(p->data, y->data, p->rows, p->cols, &r);
    if (st != CLANN_OK)
        return cli_fail("metrics", st);
    put(metrics, "mse", r.mse);
    put(metrics, "rmse", r.rmse);
    put(metrics, "mae", r.mae);
    put(metrics, "r2", r.r2);
    put(metrics, "prediction_bias", r.prediction_bias);
    put(metrics, "target_variance", label_variance(y));
    add_regression_sample(root, p, y);
    if (r.r2 < 0) {
        bool scaled = clann_model_scaler_kind(m, true) != CLANN_SCALE_NONE;
        char why[160];
        snprintf(why, sizeof why, "worse than predicting the mean: MSE %.4g is above the "
                 "target's variance %.4g", r.mse, label_variance(y));
        json_object_object_add(root, "warning", json_object_new_string(why));
        fprintf(stderr, "warning: R^2 = %.4g < 0, %s%s\n", r.r2, why,
                scaled ? "" : "; scale the target? (train with --scale-target standard)");
    }
    return CLI_OK;
}

/* Prediction bias per value of feature column o->slice (binary tasks). */
static int slice_bias(const struct cli_eval_options *o, const struct clann_matrix *x,
                      const struct clann_matrix *p, const struct clann_matrix *y,
                      struct json_object *root)
{
    if (o->slice >= x->cols)
        return cli_usage("--slice: column %zu is beyond the data's %zu feature columns",
                         o->slice, x->cols);
    int64_t *ids = malloc(x->rows * sizeof *ids);
    if (!ids)
        return cli_usage("out of memory");
    for (size_t i = 0; i < x->rows; i++)
        ids[i] = (int64_t)llround(x->data[i * x->cols + o->slice]);
    struct clann_slice_bias *s;
    size_t n;
    enum clann_status st = clann_binary_slice_bias(p->data, y->data, ids, x->rows, &s, &n);
    free(ids);
    if (st != CLANN_OK)
        return cli_fail("slice bias", st);
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_new_object();
        json_object_object_add(e, "slice", json_object_new_int64(s[i].slice));
        json_object_object_add(e, "count", json_object_new_uint64(s[i].count));
        put(e, "mean_prediction", s[i].mean_prediction);
        put(e, "mean_label", s[i].mean_label);
        put(e, "bias", s[i].bias);
        json_object_array_add(arr, e);
    }
    json_object_object_add(root, "slices", arr);
    clann_slice_bias_free(s);
    return CLI_OK;
}

static double field(struct json_object *o, const char *key)
{
    struct json_object *v = json_object_object_get(o, key);
    return v ? json_object_get_double(v) : NAN;
}

/* A multi-label model's table, one line per label. */
static void print_labels(struct json_object *per)
{
    printf("  label  support  precision  recall      f1  roc_auc\n");
    for (size_t i = 0; i < json_object_array_length(per); i++) {
        struct json_object *e = json_object_array_get_idx(per, i);
        printf("  %5zu  %7.0f  %9.4f  %6.4f  %6.4f  %7.4f\n", i, field(e, "support"),
               field(e, "precision"), field(e, "recall"), field(e, "f1"), field(e, "roc_auc"));
    }
}

static void print_text(struct json_object *root)
{
    printf("task %s  rows %zu\n", json_object_get_string(json_object_object_get(root, "task")),
           (size_t)json_object_get_uint64(json_object_object_get(root, "count")));
    json_object_object_foreach(json_object_object_get(root, "metrics"), key, val) {
        if (val)
            printf("  %-18s %.6g\n", key, json_object_get_double(val));
        else
            printf("  %-18s n/a\n", key);
    }
    struct json_object *per = json_object_object_get(root, "per_label");
    if (per)
        print_labels(per);
    json_object_object_foreach(root, k, v) {
        if (strcmp(k, "slices") != 0)
            continue;
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            struct json_object *e = json_object_array_get_idx(v, i);
            printf("  slice %-6lld rows %-7llu mean prediction %.4f  mean label %.4f  bias %+.4f\n",
                   (long long)json_object_get_int64(json_object_object_get(e, "slice")),
                   (unsigned long long)json_object_get_uint64(json_object_object_get(e, "count")),
                   json_object_get_double(json_object_object_get(e, "mean_prediction")),
                   json_object_get_double(json_object_object_get(e, "mean_label")),
                   json_object_get_double(json_object_object_get(e, "bias")));
        }
    }
}

/* Drops the curves of each entry of a per-label array (stdout keeps the numbers). */
static void strip_curves(struct json_object *arr)
{
    for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
        json_object_object_del(json_object_array_get_idx(arr, i), "roc");
        json_object_object_del(json_object_array_get_idx(arr, i), "pr");
    }
}

static void eval_json(FILE *f, const void *root)
{
    fprintf(f, "%s", json_object_to_json_string_ext((struct json_object *)root,
                                                    JSON_C_TO_STRING_PLAIN));
}

static int write_eval_json(struct json_object *root, const char *logdir)
{
    char path[4096];
    cli_make_dirs(logdir); /* a real failure shows in the write below */
    snprintf(path, sizeof path, "%s/eval.json", logdir);
    return cli_write_file(path, eval_json, root);
}

int cli_evaluate_all(struct clann_model *m, const struct clann_matrix *x,
                     const struct clann_matrix *y, const struct cli_eval_options *o)
{
    struct clann_metrics base;
    struct clann_matrix p;
    enum clann_status st = clann_model_evaluate(m, x, y, &base);
    if (st != CLANN_OK)
        return cli_fail("evaluate", st);
    if ((st = clann_model_predict(m, x, &p)) != CLANN_OK)
        return cli_fail("predict", st);
    enum eval_task task = task_of(m);
    enum clann_threshold_goal goal;
    double target;
    float fixed;
    if (o->threshold && parse_threshold(o->threshold, &goal, &target, &fixed) < 0) {
        clann_matrix_free(&p);
        return CLI_USAGE;
    }
    if (o->threshold && task != EVAL_BINARY && task != EVAL_MULTILABEL) {
        clann_matrix_free(&p);
        return cli_usage("--threshold applies to binary classifiers (and multi-label ones)");
    }
    struct json_object *root = json_object_new_object(), *metrics = json_object_new_object();
    json_object_object_add(root, "task", json_object_new_string(task_names[task]));
    json_object_object_add(root, "count", json_object_new_uint64(base.count));
    put(metrics, "loss", task == EVAL_REGRESSION ? cli_loss_in_units(m, base.loss) : base.loss);
    json_object_object_add(root, "metrics", metrics);
    struct clann_columns names;
    clann_model_columns(m, &names);
    int rc = task == EVAL_BINARY       ? binary_metrics(o, &p, y, &names, metrics, root)
             : task == EVAL_MULTICLASS ? multiclass_metrics(&p, y, &names, metrics, root)
             : task == EVAL_MULTILABEL ? multilabel_metrics(o, &p, y, metrics, root)
                                       : regression_metrics(m, &p, y, metrics, root);
    if (rc == CLI_OK && o->has_slice)
        rc = task == EVAL_BINARY ? slice_bias(o, x, &p, y, root)
                                 : cli_usage("--slice applies to binary classifiers");
    if (rc == CLI_OK && o->logdir)
        rc = write_eval_json(root, o->logdir);
    if (rc == CLI_OK && o->print) {
        if (o->json) {
            /* The curves go to eval.json; stdout gets the numbers. */
            json_object_object_del(root, "roc");
            json_object_object_del(root, "pr");
            json_object_object_del(root, "per_class");
            json_object_object_del(root, "sample");
            strip_curves(json_object_object_get(root, "per_label"));
            puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
        } else {
            print_text(root);
        }
    }
    json_object_put(root);
    clann_matrix_free(&p);
    return rc;
}

int cli_threshold_check(const char *text)
{
    enum clann_threshold_goal goal;
    double target;
    float fixed;
    return parse_threshold(text, &goal, &target, &fixed) < 0 ? CLI_USAGE : CLI_OK;
}
