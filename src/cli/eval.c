/*
 * eval.c - `clann eval` and `clann predict` on a saved model.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void csv_quoted(FILE *f, const char *v, bool comma);

struct model_args {
    const char *model, *data, *label, *device, *out, *threshold, *slice, *logdir;
    bool json;
};

/* A CSV read as the model reads its table: its label (eval: --label, the model's label
 * column, or the last; predict drops the model's label column when the file has it), its input
 * columns by name, its fill values and its label vocabulary. */
static int load_table(const struct model_args *a, const struct clann_model *m, bool need_labels,
                      struct cli_data *d)
{
    struct clann_columns c;
    clann_model_columns(m, &c);
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", a->data);
    const char *label = a->label ? a->label : need_labels ? c.label : "";
    int rc = cli_table_load(a->data, label, d);
    if (rc == CLI_OK && !need_labels && !a->label && c.label) {
        for (size_t k = 0; k < clann_table_cols(d->table); k++)
            if (strcmp(clann_table_column_name(d->table, k), c.label) == 0)
                snprintf(d->label, sizeof d->label, "%s", c.label);
    }
    if (rc == CLI_OK)
        rc = cli_table_model_data(m, d, need_labels);
    if (rc == CLI_OK && d->x.cols != clann_model_input_count(m))
        rc = cli_usage("%s has %zu feature columns but the model takes %zu%s", a->data,
                       d->x.cols, clann_model_input_count(m),
                       need_labels ? " (is --label right?)"
                                   : " (does the file hold a label column? name it with "
                                     "--label)");
    return rc;
}

/* Loads the model and the data; for fashion-mnist the test files are the data. */
static int load_model_and_data(const struct model_args *a, bool need_labels,
                               struct clann_context **ctx, struct clann_model **m,
                               struct cli_data *d)
{
    if (!a->model || !a->data)
        return cli_usage("--model and --data are required");
    int rc = cli_context(a->device, ctx);
    if (rc != CLI_OK)
        return rc;
    enum clann_status st = clann_model_load(*ctx, a->model, m);
    if (st != CLANN_OK)
        return cli_fail(a->model, st);
    if (cli_is_csv(a->data))
        return load_table(a, *m, need_labels, d);
    struct cli_table_opts o = {a->label ? a->label : need_labels ? NULL : "", NULL, NULL, NULL,
                              {NULL, NULL, NULL, NULL, NULL}, NULL};
    if ((rc = cli_data_load(a->data, &o, d)) != CLI_OK)
        return rc;
    if (d->has_test) {
        clann_matrix_free(&d->x);
        clann_matrix_free(&d->y);
        d->x = d->test_x;
        d->y = d->test_y;
        memset(&d->test_x, 0, sizeof d->test_x);
        memset(&d->test_y, 0, sizeof d->test_y);
        d->has_test = false;
    }
    if (d->x.cols != clann_model_input_count(*m))
        return cli_usage("%s has %zu feature columns but the model takes %zu%s", a->data,
                         d->x.cols, clann_model_input_count(*m),
                         need_labels ? " (is --label right?)"
                                     : " (does the file hold a label column? name it with "
                                       "--label)");
    return CLI_OK;
}

static int print_metrics(struct clann_model *m, const struct cli_data *d,
                         const struct model_args *a)
{
    struct cli_eval_options o = {true, a->json, a->threshold, a->slice != NULL, 0, a->logdir};
    if (a->slice && !cli_size("slice", a->slice, &o.slice))
        return CLI_USAGE;
    int rc = cli_check_labels("labels", cli_model_task(m), clann_model_output_count(m), &d->y,
                              false);
    if (rc != CLI_OK)
        return rc;
    return cli_evaluate_all(m, &d->x, &d->y, &o);
}

/* The header cell of output column c, named after what it holds: P(class k) is p_<class>
 * with the model's class names, else p<k> (a binary model's one column is P(class 1): p_<the
 * positive class> or p1); a multi-label model's P(label k) is p<k>; a regressor's value is
 * pred_<label column> (pred<k> without a name or with several outputs). */
static void header_cell(FILE *f, size_t c, size_t cols, bool classifier, bool binary,
                        const struct clann_columns *names)
{
    size_t k = binary ? 1 : c;
    char cell[64];
    const char *text = NULL;
    if (classifier && names->classes && k < names->n_classes)
        text = names->classes[k];
    else if (!classifier && cols == 1 && names->label)
        text = names->label;
    if (text) {
        size_t len = strlen(text) + 6;
        char *s = malloc(len);
        if (s) { /* a name of any length; the prefix makes it a new column */
            snprintf(s, len, "%s%s", classifier ? "p_" : "pred_", text);
            csv_quoted(f, s, c > 0);
            free(s);
            return;
        }
    }
    snprintf(cell, sizeof cell, "%s%zu", classifier ? "p" : "pred", k);
    csv_quoted(f, cell, c > 0);
}

/* CSV in the input's row order: class probabilities and the predicted class for classifiers,
 * label probabilities for multi-label models, values for regressors. */
static void write_rows(FILE *f, const struct clann_matrix *p, enum clann_loss loss,
                       const struct clann_columns *names)
{
    const char *const *classes = names->classes;
    bool sparse = loss == CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY ||
                  loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_NCE ||
                  loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY;
    bool sigmoid = loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY;
    bool binary = sigmoid && p->cols == 1;
    for (size_t c = 0; c < p->cols; c++)
        header_cell(f, c, p->cols, sparse || sigmoid, binary, names);
    fprintf(f, sparse || binary ? ",class\n" : "\n");
    for (size_t r = 0; r < p->rows; r++) {
        const float *row = p->data + r * p->cols;
        size_t best = 0;
        for (size_t c = 0; c < p->cols; c++) {
            fprintf(f, "%s%.9g", c ? "," : "", row[c]);
            best = row[c] > row[best] ? c : best;
        }
        size_t k = binary ? row[0] > 0.5f : best;
        if ((sparse || binary) && classes && k < names->n_classes)
            csv_quoted(f, classes[k], true);
        else if (sparse || binary)
            fprintf(f, ",%zu", k);
        fputc('\n', f);
    }
}

/* "value" (",value" after a comma) with RFC 4180 quoting when the value needs it. */
static void csv_quoted(FILE *f, const char *v, bool comma)
{
    if (comma)
        fputc(',', f);
    if (!strpbrk(v, ",\"\r\n")) {
        fputs(v, f);
        return;
    }
    fputc('"', f);
    for (; *v; v++)
        fputs(*v == '"' ? "\"\"" : (char[]){*v, 0}, f);
    fputc('"', f);
}

struct predictions {
    const struct clann_matrix *p;
    enum clann_loss loss;
    const struct clann_columns *names;
};

static void rows_to(FILE *f, const void *user)
{
    const struct predictions *pr = user;
    write_rows(f, pr->p, pr->loss, pr->names);
}

/* To --out through the atomic writer (a failed write keeps an older file), else stdout. */
static int write_predictions(struct clann_model *m, const struct clann_matrix *x,
                             const char *path)
{
    struct clann_matrix p;
    enum clann_status st = clann_model_predict(m, x, &p);
    if (st != CLANN_OK)
        return cli_fail("predict", st);
    struct clann_columns names;
    clann_model_columns(m, &names);
    struct predictions pr = {&p, clann_model_loss(m), &names};
    int rc = CLI_OK;
    if (path) {
        rc = cli_write_file(path, rows_to, &pr);
    } else {
        rows_to(stdout, &pr);
        if (fflush(stdout) != 0 || ferror(stdout))
            rc = cli_usage("error writing stdout");
    }
    clann_matrix_free(&p);
    return rc;
}

static int run(const char *command, int argc, char **argv, bool predict)
{
    struct model_args a;
    memset(&a, 0, sizeof a);
    const struct cli_option options[] = {
        {"model", true, &a.model, NULL, "model file written by clann train"},
        {"data", true, &a.data, NULL, "data: CSV, X.npy,y.npy, IDX pair or fashion-mnist (its "
                                      "test files)"},
        {"label", true, &a.label, NULL, predict ? "label column to drop from a CSV"
                                                : "label column of a CSV (default: last)"},
        {"device", true, &a.device, NULL, "auto|cpu|opencl|opencl:P:D|name (default auto)"},
        {predict ? "out" : "json", predict, predict ? &a.out : NULL, predict ? NULL : &a.json,
         predict ? "CSV output file (default: stdout)" : "print metrics as one JSON object"},
        {"threshold", true, &a.threshold, NULL, "binary decision threshold: a number (0.5), f1, "
                                                "accuracy, precision=P or recall=R"},
        {"slice", true, &a.slice, NULL, "binary: prediction bias per value of this feature "
                                        "column (0-based)"},
        {"logdir", true, &a.logdir, NULL, "write eval.json (metrics, curves) for clann report"},
    };
    /* The last three are evaluation options. */
    size_t n_opt = sizeof options / sizeof *options - (predict ? 3 : 0);
    int rc = cli_parse(command, argc, argv, options, n_opt);
    if (rc < 0) {
        cli_print_help(command, "--model FILE --data SRC [OPTIONS]", options, n_opt);
        return CLI_OK;
    }
    if (rc != CLI_OK)
        return rc;
    /* Options are checked before the model and data are loaded. */
    size_t slice;
    if ((a.slice && !cli_size("slice", a.slice, &slice)) ||
        (a.threshold && cli_threshold_check(a.threshold) != CLI_OK))
        return CLI_USAGE;
    struct clann_context *ctx = NULL;
    struct clann_model *m = NULL;
    struct cli_data d;
    memset(&d, 0, sizeof d);
    rc = load_model_and_data(&a, !predict, &ctx, &m, &d);
    if (rc == CLI_OK)
        rc = predict ? write_predictions(m, &d.x, a.out) : print_metrics(m, &d, &a);
    cli_data_free(&d);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    return rc;
}

int cli_eval(int argc, char **argv)
{
    return run("eval", argc, argv, false);
}

int cli_predict(int argc, char **argv)
{
    return run("predict", argc, argv, true);
}
