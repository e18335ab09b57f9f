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

enum eval_task { EVAL_BINARY, EVAL_MULTICLASS, EVAL_REGRESSION };

static enum eval_task task_of(const struct clann_model *m)
{
    enum clann_loss loss = clann_model_loss(m);
    if (loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY)
        return EVAL_BINARY; /* several outputs: every (row, label) pair is one binary decision */
    if (loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY ||
        loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_NCE)
        return EVAL_MULTICLASS;
    return EVAL_REGRESSION;
}

static const char *const task_names[] = {"binary", "multiclass", "regression"};

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

static int binary_metrics(const struct cli_eval_options *o, const struct clann_matrix *p,
                          const struct clann_matrix *y, struct json_object *metrics,
                          struct json_object *root)
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
    double cm[2][2] = {{(double)b.counts.tn, (double)b.counts.fp},
                       {(double)b.counts.fn, (double)b.counts.tp}};
    struct json_object *conf = json_object_new_object();
    struct json_object *labels = json_object_new_array(), *matrix = json_object_new_array();
    json_object_array_add(labels, json_object_new_string("0"));
    json_object_array_add(labels, json_object_new_string("1"));
    json_object_array_add(matrix, array(cm[0], 2));
    json_object_array_add(matrix, array(cm[1], 2));
    json_object_object_add(conf, "labels", labels);
    json_object_object_add(conf, "matrix", matrix);
    json_object_object_add(root, "confusion", conf);

    struct clann_roc_curve roc;
    if (clann_roc_curve_compute(p->data, y->data, n, &roc) == CLANN_OK) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "fpr", array(roc.fpr, roc.count));
        json_object_object_add(r, "tpr", array(roc.tpr, roc.count));
        json_object_object_add(root, "roc", r);
        clann_roc_curve_free(&roc);
    }
    struct clann_pr_curve pr;
    if (clann_pr_curve_compute(p->data, y->data, n, &pr) == CLANN_OK) {
        struct json_object *r = json_object_new_object();
        json_object_object_add(r, "precision", array(pr.precision, pr.count));
        json_object_object_add(r, "recall", array(pr.recall, pr.count));
        json_object_object_add(root, "pr", r);
        clann_pr_curve_free(&pr);
    }
    struct clann_calibration_bucket buckets[10];
    if (clann_binary_calibration(p->data, y->data, n, 10, buckets) == CLANN_OK) {
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
        json_object_object_add(root, "calibration", c);
    }
    return CLI_OK;
}

static int multiclass_metrics(const struct clann_matrix *p, const struct clann_matrix *y,
                              struct json_object *metrics, struct json_object *root)
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
    struct json_object *conf = json_object_new_object();
    struct json_object *labels = json_object_new_array(), *matrix = json_object_new_array();
    double *row = malloc(mc.classes * sizeof *row);
    for (size_t i = 0; row && i < mc.classes; i++) {
        char name[32];
        snprintf(name, sizeof name, "%zu", i);
        json_object_array_add(labels, json_object_new_string(name));
        for (size_t j = 0; j < mc.classes; j++)
            row[j] = (double)mc.confusion[i * mc.classes + j];
        json_object_array_add(matrix, array(row, mc.classes));
    }
    free(row);
    json_object_object_add(conf, "labels", labels);
    json_object_object_add(conf, "matrix", matrix);
    json_object_object_add(root, "confusion", conf);
    clann_multiclass_metrics_free(&mc);
    return CLI_OK;
}

static int regression_metrics(const struct clann_matrix *p, const struct clann_matrix *y,
                              struct json_object *metrics)
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
    if (o->threshold && task != EVAL_BINARY) {
        clann_matrix_free(&p);
        return cli_usage("--threshold applies to binary classifiers");
    }
    struct json_object *root = json_object_new_object(), *metrics = json_object_new_object();
    json_object_object_add(root, "task", json_object_new_string(task_names[task]));
    json_object_object_add(root, "count", json_object_new_uint64(base.count));
    put(metrics, "loss", task == EVAL_REGRESSION ? cli_loss_in_units(m, base.loss) : base.loss);
    json_object_object_add(root, "metrics", metrics);
    int rc = task == EVAL_BINARY       ? binary_metrics(o, &p, y, metrics, root)
             : task == EVAL_MULTICLASS ? multiclass_metrics(&p, y, metrics, root)
                                       : regression_metrics(&p, y, metrics);
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
