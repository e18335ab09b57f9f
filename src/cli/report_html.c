/*
 * report_html.c - renders a run folder (report.h) as one self-contained HTML page (inline SVG,
 * no scripts, no external resources): learning curves and per-layer monitors from log.csv,
 * and the evaluation curves, calibration and confusion matrix from eval.json when present.
 *
 * The page is also well-formed XML (XHTML syntax), so that tests can parse it whole.
 */
#include "cli.h"
#include "report.h"
#include "svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHART_W = 540, CHART_H = 320 };

static bool any_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]))
            return true;
    }
    return false;
}

/* ---- page pieces ------------------------------------------------------------------------ */

static void not_available(FILE *f, const char *title, const char *why)
{
    fputs("<div class=\"card na\"><h3>", f);
    svg_escape(f, title);
    fputs("</h3><p>not available", f);
    if (why) {
        fputs(": ", f);
        svg_escape(f, why);
    }
    fputs("</p></div>\n", f);
}

/* y >= 0 values spanning more than two decades read better on a log axis. */
static bool wants_log(const double *v, size_t n)
{
    struct svg_range r;
    svg_range_init(&r);
    for (size_t i = 0; i < n; i++) {
        if (isfinite(v[i]) && v[i] <= 0.0)
            return false;
    }
    svg_range_add(&r, v, n, true);
    return !svg_range_empty(&r) && r.hi / r.lo > 100.0;
}

/* What the held-out figures of log.csv are on: "val" (dev data) or "test" (a run whose only
 * held-out data was its test set logs test_loss, ...). */
static const char *held_out(const struct run_log *log)
{
    return run_log_column(log, "val_loss") < 0 && run_log_column(log, "test_loss") >= 0 ? "test"
                                                                                        : "val";
}

static void epoch_chart(FILE *f, const struct run_log *log, const char *title,
                        const char *y_label, const char *train_name, const char *metric,
                        double *x, double *y_train, double *y_val)
{
    char val_name[64];
    snprintf(val_name, sizeof val_name, "%s_%s", held_out(log), metric);
    bool test = strcmp(held_out(log), "test") == 0;
    int xc = run_log_column(log, "epoch");
    size_t n = run_log_series(log, ROW_EPOCH, xc, run_log_column(log, train_name), x, y_train);
    run_log_series(log, ROW_EPOCH, xc, run_log_column(log, val_name), x, y_val);
    bool has_train = any_finite(y_train, n), has_val = any_finite(y_val, n);
    if (!has_train && !has_val) {
        not_available(f, title, n ? "no values in log.csv" : "no epoch rows in log.csv");
        return;
    }
    struct svg_axes a = {.title = title, .x_label = "epoch", .y_label = y_label,
                         .integer_x = true, .legend = true};
    svg_range_init(&a.x);
    svg_range_init(&a.y);
    svg_range_add(&a.x, x, n, false);
    svg_range_add(&a.y, y_train, n, false);
    svg_range_add(&a.y, y_val, n, false);
    struct svg_chart c;
    fputs("<div class=\"card\">\n", f);
    svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
    bool markers = n <= 40;
    if (has_train) {
        svg_chart_line(&c, x, y_train, n, svg_color(0), NULL, markers);
        svg_chart_legend(&c, "train", svg_color(0), NULL);
    }
    if (has_val) {
        svg_chart_line(&c, x, y_val, n, svg_color(1), "6 3", markers);
        svg_chart_legend(&c, test ? "test" : "validation", svg_color(1), "6 3");
    }
    svg_chart_end(&c);
    fputs("</div>\n", f);
}

static void learning_rate_chart(FILE *f, const struct run_log *log, double *x, double *y)
{
    size_t n = run_log_series(log, ROW_EPOCH, run_log_column(log, "epoch"),
                              run_log_column(log, "learning_rate"), x, y);
    struct svg_range r;
    svg_range_init(&r);
    svg_range_add(&r, y, n, false);
    if (svg_range_empty(&r) || r.lo == r.hi)
        return; /* a constant rate is in the run summary; a flat line would say no more */
    struct svg_axes a = {.title = "Learning rate", .x_label = "epoch",
                         .y_label = "learning rate", .integer_x = true,
                         .log_y = wants_log(y, n)};
    svg_range_init(&a.x);
    svg_range_init(&a.y);
    svg_range_add(&a.x, x, n, false);
    svg_range_add(&a.y, y, n, a.log_y);
    struct svg_chart c;
    fputs("<div class=\"card\">\n", f);
    svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
    svg_chart_line(&c, x, y, n, svg_color(2), NULL, n <= 40);
    svg_chart_end(&c);
    fputs("</div>\n", f);
}

struct layer_metric {
    const char *name, *title, *y_label;
    bool unit_range; /* a fraction: always drawn on [0, 1] */
};

static void layer_lines(struct svg_chart *c, const struct run_log *log, size_t n_layers,
                        const char *metric, double *x, double *y)
{
    for (size_t l = 0; l < n_layers; l++) {
        char name[64], label[32];
        snprintf(name, sizeof name, "layer%zu/%s", l, metric);
        size_t n = run_log_series(log, ROW_MONITOR, run_log_column(log, "step"),
                                  run_log_column(log, name), x, y);
        if (!any_finite(y, n))
            continue; /* e.g. no gradient for a layer without parameters */
        snprintf(label, sizeof label, "layer %zu", l);
        svg_chart_line(c, x, y, n, svg_color(l), NULL, n <= 40);
        svg_chart_legend(c, label, svg_color(l), NULL);
    }
}

static void layer_chart(FILE *f, const struct run_log *log, size_t n_layers,
                        const struct layer_metric *m, double *x, double *y, double *all)
{
    struct svg_axes a = {.title = m->title, .x_label = "step", .y_label = m->y_label,
                         .legend = true, .fixed_y = m->unit_range};
    svg_range_init(&a.x);
    size_t n_all = 0;
    for (size_t l = 0; l < n_layers; l++) {
        char name[64];
        snprintf(name, sizeof name, "layer%zu/%s", l, m->name);
        size_t n = run_log_series(log, ROW_MONITOR, run_log_column(log, "step"),
                                  run_log_column(log, name), x, y);
        if (!any_finite(y, n))
            continue;
        svg_range_add(&a.x, x, n, false);
        memcpy(all + n_all, y, n * sizeof *y);
        n_all += n;
    }
    if (n_all == 0) {
        not_available(f, m->title, "no monitor values in log.csv (train with --logdir)");
        return;
    }
    a.log_y = !m->unit_range && wants_log(all, n_all);
    a.y = (struct svg_range){0.0, 1.0};
    if (!m->unit_range) {
        svg_range_init(&a.y);
        svg_range_add(&a.y, all, n_all, a.log_y);
    }
    struct svg_chart c;
    fputs("<div class=\"card\">\n", f);
    svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
    layer_lines(&c, log, n_layers, m->name, x, y);
    svg_chart_end(&c);
    fputs("</div>\n", f);
}

static void write_training(FILE *f, const struct run_log *log)
{
    double *x = malloc((log->n_rows + 1) * sizeof *x);
    double *y1 = malloc((log->n_rows + 1) * sizeof *y1);
    double *y2 = malloc((log->n_rows + 1) * sizeof *y2);
    size_t n_layers = run_log_layers(log);
    double *all = malloc((log->n_rows * (n_layers ? n_layers : 1) + 1) * sizeof *all);
    if (!x || !y1 || !y2 || !all) {
        fputs("<p>out of memory drawing the training charts</p>\n", f);
    } else {
        fputs("<h2>Learning curves</h2>\n<div class=\"grid\">\n", f);
        epoch_chart(f, log, "Loss", "loss", "loss", "loss", x, y1, y2);
        epoch_chart(f, log, "Accuracy", "accuracy", "accuracy", "accuracy", x, y1, y2);
        learning_rate_chart(f, log, x, y1);
        fputs("</div>\n<h2>Layer monitors</h2>\n<div class=\"grid\">\n", f);
        static const struct layer_metric metrics[] = {
            {"zero_fraction", "Dead (zero-output) fraction", "fraction of zero outputs", true},
            {"grad_norm", "Gradient norm", "||gradient||", false},
            {"weight_norm", "Weight norm", "||weights||", false},
            {"update_ratio", "Update ratio", "||update|| / ||weights||", false},
        };
        for (size_t i = 0; i < sizeof metrics / sizeof *metrics; i++)
            layer_chart(f, log, n_layers, &metrics[i], x, y1, all);
        fputs("</div>\n", f);
    }
    free(x);
    free(y1);
    free(y2);
    free(all);
}

/* ---- summary ---------------------------------------------------------------------------- */

static void summary_row(FILE *f, const char *name, const char *value)
{
    fputs("<tr><th>", f);
    svg_escape(f, name);
    fputs("</th><td class=\"num\">", f);
    svg_escape(f, value);
    fputs("</td></tr>\n", f);
}

static void summary_number(FILE *f, const char *name, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, "%.4g", v);
    if (isfinite(v))
        summary_row(f, name, buf);
}

/* The last finite value of a column among epoch rows, and its epoch. */
static double last_value(const struct run_log *log, const char *name, double *epoch)
{
    int c = run_log_column(log, name), e = run_log_column(log, "epoch");
    double v = NAN;
    for (size_t r = 0; c >= 0 && r < log->n_rows; r++) {
        const double *row = log->values + r * log->n_cols;
        if (log->kinds[r] == ROW_EPOCH && isfinite(row[c])) {
            v = row[c];
            if (epoch)
                *epoch = e >= 0 ? row[e] : NAN;
        }
    }
    return v;
}

static double best_val_loss(const struct run_log *log, const char *name, double *epoch)
{
    int c = run_log_column(log, name), e = run_log_column(log, "epoch");
    double best = NAN;
    for (size_t r = 0; c >= 0 && r < log->n_rows; r++) {
        const double *row = log->values + r * log->n_cols;
        if (log->kinds[r] == ROW_EPOCH && isfinite(row[c]) && !(row[c] >= best)) {
            best = row[c];
            *epoch = e >= 0 ? row[e] : NAN;
        }
    }
    return best;
}

static void write_run_summary(FILE *f, const struct run_log *log)
{
    char buf[64];
    double epoch = NAN, best_epoch = NAN, seconds = 0.0;
    int sc = run_log_column(log, "seconds");
    for (size_t r = 0; sc >= 0 && r < log->n_rows; r++) {
        double v = log->values[r * log->n_cols + (size_t)sc];
        seconds += log->kinds[r] == ROW_EPOCH && isfinite(v) ? v : 0.0;
    }
    fputs("<div class=\"card\"><h3>Run</h3><table>\n", f);
    snprintf(buf, sizeof buf, "%zu", run_log_count(log, ROW_EPOCH));
    summary_row(f, "epochs logged", buf);
    snprintf(buf, sizeof buf, "%zu", run_log_count(log, ROW_MONITOR));
    summary_row(f, "monitor samples", buf);
    snprintf(buf, sizeof buf, "%zu", run_log_layers(log));
    summary_row(f, "monitored layers", buf);
    summary_number(f, "final loss", last_value(log, "loss", &epoch));
    summary_number(f, "final accuracy", last_value(log, "accuracy", NULL));
    const char *held = held_out(log), *held_words = strcmp(held, "test") == 0 ? "test"
                                                                               : "validation";
    char name[64], label[64];
    snprintf(name, sizeof name, "%s_loss", held);
    snprintf(label, sizeof label, "final %s loss", held_words);
    summary_number(f, label, last_value(log, name, NULL));
    double best = best_val_loss(log, name, &best_epoch);
    snprintf(name, sizeof name, "%s_accuracy", held);
    snprintf(label, sizeof label, "final %s accuracy", held_words);
    summary_number(f, label, last_value(log, name, NULL));
    summary_number(f, "final learning rate", last_value(log, "learning_rate", NULL));
    if (isfinite(best)) {
        snprintf(buf, sizeof buf, "%.4g (epoch %g)", best, best_epoch);
        snprintf(label, sizeof label, "best %s loss", held_words);
        summary_row(f, label, buf);
    }
    if (sc >= 0)
        summary_number(f, "training time (s)", seconds);
    fputs("</table></div>\n", f);
}

/* ---- eval.json -------------------------------------------------------------------------- */

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
        return NULL;
    return v;
}

/* Why an evaluation chart is not drawn. */
static const char *missing(json_object *eval)
{
    return eval ? "missing from eval.json" : "no eval.json in the run folder";
}

/* null (how a NaN is written) and anything that is not a number read as NaN. */
static double number(json_object *v)
{
    if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int))
        return json_object_get_double(v);
    return NAN;
}

/* The numbers of a JSON array, allocated (free() them); 0 when a is not a non-empty array. */
static size_t numbers(json_object *a, double **out)
{
    *out = NULL;
    if (!a || !json_object_is_type(a, json_type_array) || json_object_array_length(a) == 0)
        return 0;
    size_t n = json_object_array_length(a);
    if (!(*out = malloc(n * sizeof **out)))
        return 0;
    for (size_t i = 0; i < n; i++)
        (*out)[i] = number(json_object_array_get_idx(a, i));
    return n;
}

static void write_metric_value(FILE *f, json_object *v)
{
    char buf[64];
    if (json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)) {
        snprintf(buf, sizeof buf, "%.4g", json_object_get_double(v));
        svg_escape(f, buf);
    } else {
        svg_escape(f, json_object_is_type(v, json_type_null) ? "n/a" : json_object_get_string(v));
    }
}

static void write_metrics(FILE *f, json_object *eval)
{
    json_object *metrics = member(eval, "metrics"), *task = member(eval, "task");
    fputs("<div class=\"card\"><h3>Evaluation metrics</h3>", f);
    if (!metrics || !json_object_is_type(metrics, json_type_object)) {
        fputs("<p class=\"muted\">not available</p></div>\n", f);
        return;
    }
    fputs("<table>\n", f);
    if (task)
        summary_row(f, "task", json_object_get_string(task));
    json_object_object_foreach(metrics, key, value) {
        fputs("<tr><th>", f);
        svg_escape(f, key);
        fputs("</th><td class=\"num\">", f);
        write_metric_value(f, value);
        fputs("</td></tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

/* A curve of y against x from two arrays of one eval.json member, on [0, 1] x [0, 1]. */
struct curve {
    const char *title, *member, *x_key, *y_key, *x_label, *y_label, *metric, *metric_label;
    bool diagonal;
};

static void curve_chart(FILE *f, json_object *eval, const struct curve *k)
{
    json_object *o = member(eval, k->member);
    double *x, *y;
    size_t nx = numbers(member(o, k->x_key), &x), ny = numbers(member(o, k->y_key), &y);
    size_t n = nx < ny ? nx : ny;
    if (n == 0) {
        not_available(f, k->title, missing(eval));
    } else {
        struct svg_axes a = {.title = k->title, .x_label = k->x_label, .y_label = k->y_label,
                             .x = {0.0, 1.0}, .y = {0.0, 1.0}, .fixed_x = true,
                             .fixed_y = true, .legend = true};
        struct svg_chart c;
        fputs("<div class=\"card\">\n", f);
        svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
        if (k->diagonal) {
            static const double d[2] = {0.0, 1.0};
            svg_chart_line(&c, d, d, 2, "#999", "4 4", false);
        }
        svg_chart_line(&c, x, y, n, svg_color(0), NULL, false);
        double m = number(member(member(eval, "metrics"), k->metric));
        char label[64] = "model";
        if (isfinite(m))
            snprintf(label, sizeof label, "%s %.4f", k->metric_label, m);
        svg_chart_legend(&c, label, svg_color(0), NULL);
        if (k->diagonal)
            svg_chart_legend(&c, "chance", "#999", "4 4");
        svg_chart_end(&c);
        fputs("</div>\n", f);
    }
    free(x);
    free(y);
}

/* Empty buckets (count 0, NaN means) are dropped so that the line joins the others. */
static size_t calibration_points(json_object *cal, double **x, double **y)
{
    double *count;
    size_t nx = numbers(member(cal, "predicted"), x), ny = numbers(member(cal, "observed"), y);
    size_t nc = numbers(member(cal, "count"), &count);
    size_t n = nx < ny ? nx : ny, kept = 0;
    for (size_t i = 0; i < n; i++) {
        bool empty = (i < nc && !(count[i] > 0.0)) || !isfinite((*x)[i]) || !isfinite((*y)[i]);
        if (!empty) {
            (*x)[kept] = (*x)[i];
            (*y)[kept] = (*y)[i];
            kept++;
        }
    }
    free(count);
    return kept;
}

/* The calibration table; a multiclass model's is that of its top-class probability. */
static void calibration_chart(FILE *f, json_object *eval)
{
    const char *task = json_object_get_string(member(eval, "task"));
    bool top = task && strcmp(task, "multiclass") == 0;
    double *x, *y;
    size_t n = calibration_points(member(eval, "calibration"), &x, &y);
    if (n == 0) {
        not_available(f, "Calibration", missing(eval));
    } else {
        static const double d[2] = {0.0, 1.0};
        struct svg_axes a = {.title = top ? "Calibration of the top class" : "Calibration",
                             .x_label = top ? "mean top-class probability"
                                            : "mean predicted probability",
                             .y_label = top ? "fraction predicted right"
                                            : "observed positive rate", .x = {0.0, 1.0},
                             .y = {0.0, 1.0}, .fixed_x = true, .fixed_y = true, .legend = true};
        struct svg_chart c;
        fputs("<div class=\"card\">\n", f);
        svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
        svg_chart_line(&c, d, d, 2, "#999", "4 4", false);
        svg_chart_line(&c, x, y, n, svg_color(0), NULL, true);
        svg_chart_legend(&c, "model", svg_color(0), NULL);
        svg_chart_legend(&c, "perfectly calibrated", "#999", "4 4");
        svg_chart_end(&c);
        fputs("</div>\n", f);
    }
    free(x);
    free(y);
}

/* The matrix as n x n numbers; 0 unless it is a square array of arrays. */
static size_t confusion_values(json_object *m, double **out)
{
    *out = NULL;
    if (!m || !json_object_is_type(m, json_type_array))
        return 0;
    size_t n = json_object_array_length(m);
    if (n == 0 || n > 1000 || !(*out = calloc(n * n, sizeof **out)))
        return 0;
    for (size_t r = 0; r < n; r++) {
        double *row;
        size_t k = numbers(json_object_array_get_idx(m, r), &row);
        if (k != n) {
            free(row);
            free(*out);
            *out = NULL;
            return 0;
        }
        memcpy(*out + r * n, row, n * sizeof *row);
        free(row);
    }
    return n;
}

static void confusion_chart(FILE *f, json_object *eval)
{
    const char *title = "Confusion matrix";
    json_object *conf = member(eval, "confusion"), *labels = member(conf, "labels");
    double *values;
    size_t n = confusion_values(member(conf, "matrix"), &values);
    const char **names = n ? calloc(n, sizeof *names) : NULL;
    if (n == 0 || !names) {
        not_available(f, title, missing(eval));
    } else {
        bool has_labels = labels && json_object_is_type(labels, json_type_array);
        for (size_t i = 0; has_labels && i < n && i < json_object_array_length(labels); i++)
            names[i] = json_object_get_string(json_object_array_get_idx(labels, i));
        fputs("<div class=\"card\">\n", f);
        svg_heatmap(f, title, names, values, n);
        fputs("</div>\n", f);
    }
    free(names);
    free(values);
}

/* ---- panels of the other tasks: multiclass, multi-label, regression ------------------------ */

/* One line per entry of an eval.json array (per_class, per_label): each entry's k->member
 * curve, its legend the entry's name (name_key, after prefix) and its k->metric. */
static void entry_curves(FILE *f, json_object *entries, const char *name_key,
                         const char *prefix, const struct curve *k)
{
    size_t n = entries && json_object_is_type(entries, json_type_array)
                   ? json_object_array_length(entries) : 0;
    if (n == 0) {
        not_available(f, k->title, "missing from eval.json");
        return;
    }
    struct svg_axes a = {.title = k->title, .x_label = k->x_label, .y_label = k->y_label,
                         .x = {0.0, 1.0}, .y = {0.0, 1.0}, .fixed_x = true, .fixed_y = true,
                         .legend = true};
    struct svg_chart c;
    fputs("<div class=\"card\">\n", f);
    svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
    if (k->diagonal) {
        static const double d[2] = {0.0, 1.0};
        svg_chart_line(&c, d, d, 2, "#999", "4 4", false);
    }
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(entries, i), *o = member(e, k->member);
        double *x, *y;
        size_t nx = numbers(member(o, k->x_key), &x), ny = numbers(member(o, k->y_key), &y);
        char label[96];
        const char *name = json_object_get_string(member(e, name_key));
        double m = number(member(e, k->metric));
        int len = snprintf(label, sizeof label, "%s%.40s", prefix, name ? name : "?");
        if (isfinite(m) && len > 0 && (size_t)len < sizeof label)
            snprintf(label + len, sizeof label - (size_t)len, " %s %.3f", k->metric_label, m);
        svg_chart_line(&c, x, y, nx < ny ? nx : ny, svg_color(i), NULL, false);
        svg_chart_legend(&c, label, svg_color(i), NULL);
        free(x);
        free(y);
    }
    svg_chart_end(&c);
    fputs("</div>\n", f);
}

static const struct curve ovr_roc = {"ROC curves, one vs rest", "roc", "fpr", "tpr",
                                     "false positive rate", "true positive rate", "roc_auc",
                                     "AUC", true};
static const struct curve ovr_pr = {"Precision-recall curves, one vs rest", "pr", "recall",
                                    "precision", "recall", "precision", "average_precision",
                                    "AP", false};

static void multiclass_charts(FILE *f, json_object *eval)
{
    entry_curves(f, member(eval, "per_class"), "class", "", &ovr_roc);
    entry_curves(f, member(eval, "per_class"), "class", "", &ovr_pr);
    calibration_chart(f, eval);
    confusion_chart(f, eval);
}

/* A multi-label model's table: one row per label. */
static void label_table(FILE *f, json_object *per)
{
    static const char *const keys[] = {"support", "precision", "recall", "f1", "roc_auc"};
    size_t n = per && json_object_is_type(per, json_type_array) ? json_object_array_length(per)
                                                                : 0;
    if (n == 0) {
        not_available(f, "Per-label metrics", "missing from eval.json");
        return;
    }
    fputs("<div class=\"card\"><h3>Per-label metrics</h3><table>\n<tr><th>label</th>", f);
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        fprintf(f, "<th>%s</th>", keys[k]);
    fputs("</tr>\n", f);
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(per, i);
        fputs("<tr><td>", f);
        svg_escape(f, json_object_get_string(member(e, "label")));
        fputs("</td>", f);
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            fputs("<td class=\"num\">", f);
            write_metric_value(f, member(e, keys[k]));
            fputs("</td>", f);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

static void multilabel_charts(FILE *f, json_object *eval)
{
    static const struct curve roc = {"ROC curves per label", "roc", "fpr", "tpr",
                                     "false positive rate", "true positive rate", "roc_auc",
                                     "AUC", true};
    label_table(f, member(eval, "per_label"));
    entry_curves(f, member(eval, "per_label"), "label", "label ", &roc);
}

/* Legend entries with a regressor's R^2, RMSE and MAE (in the target's units). */
static void regression_legend(struct svg_chart *c, json_object *metrics)
{
    static const char *const keys[] = {"r2", "rmse", "mae"};
    static const char *const names[] = {"R\u00b2", "RMSE", "MAE"};
    for (size_t k = 0; k < 3; k++) {
        char label[64];
        double v = number(member(metrics, keys[k]));
        if (!isfinite(v))
            continue;
        snprintf(label, sizeof label, k == 0 ? "%s %.4f" : "%s %.4g", names[k], v);
        svg_chart_legend(c, label, "#fff", NULL);
    }
}

/* Predicted against actual over the sample eval.json keeps, with the line y = x, and the
 * residuals (actual - predicted) against the prediction, with the line y = 0. */
static void regression_charts(FILE *f, json_object *eval)
{
    json_object *s = member(eval, "sample");
    double *x, *y;
    size_t nx = numbers(member(s, "actual"), &x), ny = numbers(member(s, "predicted"), &y);
    size_t n = nx < ny ? nx : ny;
    if (n == 0) {
        not_available(f, "Predicted vs actual", "missing from eval.json");
        not_available(f, "Residuals", "missing from eval.json");
    } else {
        struct svg_axes a = {.title = "Predicted vs actual", .x_label = "actual",
                             .y_label = "predicted", .legend = true};
        svg_range_init(&a.x);
        svg_range_add(&a.x, x, n, false);
        svg_range_add(&a.x, y, n, false);
        a.y = a.x; /* one scale on both axes, so that y = x is the diagonal */
        double d[2] = {a.x.lo, a.x.hi};
        struct svg_chart c;
        fputs("<div class=\"card\">\n", f);
        svg_chart_begin(&c, f, CHART_W, CHART_H, &a);
        svg_chart_line(&c, d, d, 2, "#999", "4 4", false);
        svg_chart_points(&c, x, y, n, svg_color(0));
        svg_chart_legend(&c, "predicted = actual", "#999", "4 4");
        regression_legend(&c, member(eval, "metrics"));
        svg_chart_end(&c);
        fputs("</div>\n", f);
        for (size_t i = 0; i < n; i++)
            x[i] -= y[i]; /* x: the residuals */
        struct svg_axes r = {.title = "Residuals", .x_label = "predicted",
                             .y_label = "actual - predicted", .legend = true};
        svg_range_init(&r.x);
        svg_range_add(&r.x, y, n, false);
        svg_range_init(&r.y);
        svg_range_add(&r.y, x, n, false);
        double zx[2] = {r.x.lo, r.x.hi}, zy[2] = {0.0, 0.0};
        fputs("<div class=\"card\">\n", f);
        svg_chart_begin(&c, f, CHART_W, CHART_H, &r);
        svg_chart_line(&c, zx, zy, 2, "#999", "4 4", false);
        svg_chart_points(&c, y, x, n, svg_color(1));
        svg_chart_legend(&c, "zero", "#999", "4 4");
        svg_chart_end(&c);
        fputs("</div>\n", f);
    }
    free(x);
    free(y);
    json_object *warning = member(eval, "warning");
    if (warning) {
        fputs("<div class=\"card na\"><h3>Warning</h3><p>R\u00b2 &lt; 0: ", f);
        svg_escape(f, json_object_get_string(warning));
        fputs("; scale the target?</p></div>\n", f);
    }
}

static void write_evaluation(FILE *f, json_object *eval)
{
    static const struct curve roc = {"ROC curve", "roc", "fpr", "tpr", "false positive rate",
                                     "true positive rate", "roc_auc", "AUC", true};
    static const struct curve pr = {"Precision-recall curve", "pr", "recall", "precision",
                                    "recall", "precision", "average_precision", "AP", false};
    const char *task = json_object_get_string(member(eval, "task"));
    fputs("<h2>Evaluation</h2>\n<div class=\"grid\">\n", f);
    if (task && strcmp(task, "regression") == 0) {
        regression_charts(f, eval);
    } else if (task && strcmp(task, "multiclass") == 0) {
        multiclass_charts(f, eval);
    } else if (task && strcmp(task, "multilabel") == 0) {
        multilabel_charts(f, eval);
    } else {
        curve_chart(f, eval, &roc);
        curve_chart(f, eval, &pr);
        calibration_chart(f, eval);
        confusion_chart(f, eval);
    }
    fputs("</div>\n", f);
}

/* ---- run.json: the model and the options ------------------------------------------------ */

static void cell(FILE *f, const char *tag, const char *cls, json_object *v)
{
    fprintf(f, "<%s%s>", tag, cls);
    svg_escape(f, v ? json_object_get_string(v) : "-");
    fprintf(f, "</%s>", tag);
}

/* The layers with their output shapes and parameters, and the totals. */
static void write_model(FILE *f, json_object *model)
{
    static const char *const keys[] = {"index", "kind", "activation", "output", "params",
                                       "trainable_params"};
    json_object *layers = member(model, "layers");
    fputs("<div class=\"card\"><h3>Model</h3>", f);
    if (!layers || !json_object_is_type(layers, json_type_array)) {
        fputs("<p class=\"muted\">not available: no layers in run.json</p></div>\n", f);
        return;
    }
    fputs("<table class=\"layers\">\n<tr><th>layer</th><th>kind</th><th>activation</th>"
          "<th>output</th><th>parameters</th><th>trainable</th></tr>\n", f);
    for (size_t i = 0; i < json_object_array_length(layers); i++) {
        json_object *l = json_object_array_get_idx(layers, i);
        fputs("<tr>", f);
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            cell(f, "td", k == 0 || k >= 3 ? " class=\"num\"" : "", member(l, keys[k]));
        fputs("</tr>\n", f);
    }
    fputs("<tr><th colspan=\"4\">total</th>", f);
    cell(f, "td", " class=\"num\"", member(model, "params"));
    cell(f, "td", " class=\"num\"", member(model, "trainable_params"));
    fputs("</tr>\n</table>\n<p class=\"muted\">", f);
    const char *io[] = {"inputs", "outputs", "loss"};
    for (size_t i = 0; i < 3; i++) {
        fprintf(f, "%s%s ", i ? " &#183; " : "", io[i]);
        svg_escape(f, json_object_get_string(member(model, io[i])));
    }
    fputs("</p></div>\n", f);
}

/* Every option of the run as train resolved it, in its order. */
static void write_options(FILE *f, json_object *options)
{
    fputs("<div class=\"card\"><h3>Training options</h3>", f);
    if (!options || !json_object_is_type(options, json_type_object)) {
        fputs("<p class=\"muted\">not available: no options in run.json</p></div>\n", f);
        return;
    }
    fputs("<table>\n", f);
    json_object_object_foreach(options, key, value) {
        fputs("<tr><th>", f);
        svg_escape(f, key);
        fputs("</th>", f);
        cell(f, "td", "", value);
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

static void write_run_info(FILE *f, json_object *run)
{
    fputs("<h2>Model and options</h2>\n<div class=\"grid\">\n", f);
    if (!run) {
        not_available(f, "Model and options", "no run.json in the run folder (clann train "
                      "--logdir writes it)");
    } else {
        write_model(f, member(run, "model"));
        write_options(f, member(run, "options"));
    }
    fputs("</div>\n", f);
}

/* ---- the page --------------------------------------------------------------------------- */

static const char style[] =
    "body{font-family:sans-serif;margin:16px;color:#222;background:#f4f4f4}\n"
    "h1{font-size:20px;margin:0 0 4px}\n"
    "h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #ccc;padding-bottom:4px}\n"
    "h3{font-size:14px;margin:4px 0 8px}\n"
    ".muted{color:#777}\n"
    ".grid{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}\n"
    ".card{background:#fff;border:1px solid #ddd;border-radius:4px;padding:6px}\n"
    ".na{width:528px;min-height:60px;color:#777}\n"
    ".na h3{color:#222}\n"
    "table{border-collapse:collapse}\n"
    "td,th{border:1px solid #e2e2e2;padding:3px 10px;text-align:left;font-size:13px}\n"
    "th{font-weight:normal;color:#555}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}\n"
    "svg{display:block}\n";

void report_write_page(FILE *f, const char *title, const char *dir, const struct run_dir *rd)
{
    const struct run_log *log = &rd->log;
    json_object *eval = rd->eval;
    fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
          "<head>\n<meta charset=\"utf-8\"/>\n<title>",
          f);
    svg_escape(f, title);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", style);
    svg_escape(f, title);
    fputs("</h1>\n<p class=\"muted\">run folder ", f);
    svg_escape(f, dir);
    fprintf(f, " &#183; made by clann %s</p>\n<div class=\"grid\">\n", clann_version());
    write_run_summary(f, log);
    write_metrics(f, eval);
    fputs("</div>\n", f);
    write_run_info(f, rd->run);
    write_training(f, log);
    write_evaluation(f, eval);
    fputs("</body>\n</html>\n", f);
}
