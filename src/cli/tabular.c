/*
 * tabular.c - CSV files as users write them: columns by name (--ignore, --features), missing
 * cells (refused with the columns named, or --fill), text labels through a vocabulary, and the
 * same reading at eval and predict time from what the model stored (its input names, label,
 * vocabulary and fill values).
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static char *dup_text(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

/* The index of column `name`, or SIZE_MAX. */
static size_t column_index(const struct clann_table *t, const char *name)
{
    for (size_t c = 0; name && c < clann_table_cols(t); c++)
        if (strcmp(clann_table_column_name(t, c), name) == 0)
            return c;
    return SIZE_MAX;
}

/* Whether name is one of the comma-separated names in list. */
static bool in_list(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, n) == 0)
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* Checks that every name in list is a column of t (usage error naming the unknown one). */
static int check_list(const struct clann_table *t, const char *option, const char *list)
{
    char name[256];
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)(n < 255 ? n : 255), p);
        if (column_index(t, name) == SIZE_MAX)
            return cli_usage("--%s: the file has no column '%s'", option, name);
        p += n + (p[n] == ',');
    }
    return CLI_OK;
}

int cli_table_load(const char *src, const char *label, struct cli_data *d)
{
    struct clann_table_params p = clann_table_default_params();
    if (has_suffix(src, ".tsv"))
        p.delimiter = '\t';
    enum clann_status st = clann_table_load_csv(src, &p, &d->table);
    if (st != CLANN_OK)
        return cli_fail(src, st);
    size_t cols = clann_table_cols(d->table);
    if (label && *label == '\0') {
        d->label[0] = '\0';
        return CLI_OK;
    }
    char *end;
    unsigned long i = label ? strtoul(label, &end, 10) : cols - 1;
    bool index = !label || (*end == '\0' && column_index(d->table, label) == SIZE_MAX);
    if (index && i >= cols)
        return cli_usage("--label %s: the file has %zu columns", label, cols);
    if (!index && column_index(d->table, label) == SIZE_MAX) {
        char names[512] = "";
        for (size_t c = 0; c < cols && strlen(names) < 400; c++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", c ? ", " : "",
                     clann_table_column_name(d->table, c));
        return cli_usage("--label: %s has no column '%s' (columns: %s)", src, label, names);
    }
    snprintf(d->label, sizeof d->label, "%s",
             index ? clann_table_column_name(d->table, i) : label);
    return CLI_OK;
}

/* --resume: the checkpoint's named inputs must all be columns of the file: name the missing. */
static int resumed_inputs(const struct cli_data *d, const struct clann_model *m)
{
    struct clann_columns c;
    clann_model_columns(m, &c);
    char missing[512] = "";
    for (size_t i = 0; i < c.n_inputs; i++) {
        if (column_index(d->table, c.inputs[i]) == SIZE_MAX && strlen(missing) < 400)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s'%s'",
                     *missing ? ", " : "", c.inputs[i]);
    }
    if (!*missing)
        return CLI_OK;
    return cli_usage("the checkpoint takes %zu inputs but the data has %zu feature columns: %s "
                     "has no column %s", c.n_inputs, clann_table_cols(d->table) - (*d->label != 0),
                     d->name, missing);
}

/* The inputs: --features, or every column but the label and --ignore's. */
static int choose_inputs(struct cli_data *d, const struct cli_table_opts *o)
{
    const struct clann_table *t = d->table;
    int rc = o->resumed ? resumed_inputs(d, o->resumed) : CLI_OK;
    if (rc == CLI_OK)
        rc = check_list(t, "ignore", o->ignore);
    if (rc == CLI_OK)
        rc = check_list(t, "features", o->features);
    if (rc != CLI_OK)
        return rc;
    if (o->ignore && o->features)
        return cli_usage("--ignore and --features cannot be combined (--features lists every "
                         "input)");
    d->inputs = calloc(clann_table_cols(t) + 1, sizeof *d->inputs);
    if (!d->inputs)
        return cli_usage("out of memory");
    for (size_t c = 0; c < clann_table_cols(t); c++) {
        const char *name = clann_table_column_name(t, c);
        bool take = o->features ? in_list(o->features, name)
                                : strcmp(name, d->label) != 0 && !in_list(o->ignore, name);
        if (o->features && strcmp(name, d->label) == 0 && take)
            return cli_usage("--features: '%s' is the label column", name);
        if (take && !(d->inputs[d->n_inputs++] = dup_text(name)))
            return cli_usage("out of memory");
    }
    if (d->n_inputs == 0)
        return cli_usage("%s: no input columns left (label '%s'%s)", d->name, d->label,
                         o->ignore ? ", --ignore" : "");
    return CLI_OK;
}

/* A text input column whose other cells are numbers holds bad values: name the first. */
static int bad_value(const struct cli_data *d, size_t col)
{
    char buf[64];
    for (size_t r = 0; r < clann_table_rows(d->table); r++) {
        const char *cell = clann_table_cell(d->table, col, r, buf, sizeof buf);
        char *end;
        strtod(cell, &end);
        if (!clann_is_missing(cell) && (end == cell || *end))
            return cli_fail_text(d->name, "row %zu, column %zu ('%s'): '%s' is not a number "
                                 "(the column's other cells are numbers)", r + 2, col + 1,
                                 clann_table_column_name(d->table, col), cell);
    }
    return CLI_OK;
}

/* Text inputs make the table categorical, unless one mixes numbers with text: bad values. */
static int type_inputs(struct cli_data *d)
{
    for (size_t i = 0; i < d->n_inputs; i++) {
        size_t c = column_index(d->table, d->inputs[i]);
        if (clann_table_column_is_numeric(d->table, c))
            continue;
        if (clann_table_column_numbers(d->table, c) > 0)
            return bad_value(d, c);
        d->categorical = true;
    }
    return CLI_OK;
}

/* Missing cells of the inputs and the label: refused (naming the columns, counts and the
 * flag), or their rows dropped with --fill drop; other policies fill after the split. */
static int check_missing(struct cli_data *d, const struct cli_table_opts *o)
{
    char list[512] = "";
    size_t total = 0, label_missing = 0, lc = column_index(d->table, d->label);
    for (size_t c = 0; c < clann_table_cols(d->table); c++) {
        size_t n = clann_table_column_missing(d->table, c);
        const char *name = clann_table_column_name(d->table, c);
        bool input = false;
        for (size_t i = 0; i < d->n_inputs && !input; i++)
            input = strcmp(d->inputs[i], name) == 0;
        if (c == lc)
            label_missing = n;
        if (!n || !input)
            continue;
        total += n;
        if (strlen(list) < 400)
            snprintf(list + strlen(list), sizeof list - strlen(list), "%s'%s' (%zu)",
                     *list ? ", " : "", name, n);
    }
    if (d->fill == CLANN_FILL_DROP && (total || label_missing)) {
        const char **cols = malloc((d->n_inputs + 1) * sizeof *cols);
        if (!cols)
            return cli_usage("out of memory");
        memcpy(cols, d->inputs, d->n_inputs * sizeof *cols);
        size_t n = d->n_inputs, dropped = 0;
        if (*d->label)
            cols[n++] = d->label;
        struct clann_table *kept;
        enum clann_status st = clann_table_drop_missing(d->table, cols, n, &kept, &dropped);
        free(cols);
        if (st != CLANN_OK)
            return cli_fail(d->name, st);
        clann_table_destroy(d->table);
        d->table = kept;
        fprintf(stderr, "missing values: dropped %zu of %zu rows (--fill drop)\n", dropped,
                dropped + clann_table_rows(kept));
        if (clann_table_rows(kept) == 0)
            return cli_usage("%s: every row has a missing cell; nothing is left to train on",
                             d->name);
        return CLI_OK;
    }
    if (label_missing)
        return cli_usage("%s: the label column '%s' has %zu missing cells; --fill drop leaves "
                         "those rows out", d->name, d->label, label_missing);
    if (total && d->fill == CLANN_FILL_NONE)
        return cli_usage("%s: %zu missing cells in %s; choose --fill mean|median|zero|mode|drop",
                         d->name, total, list);
    return CLI_OK;
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The class of a label's text through d's vocabulary (binary search), or -1. */
static long class_of(char *const *classes, size_t n, const char *text)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(classes[mid], text);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Text labels: the sorted distinct values of the training rows are the classes. */
static int fit_vocabulary(struct cli_data *d, size_t lc)
{
    size_t rows = clann_table_rows(d->table);
    char buf[64], **all = calloc(rows + 1, sizeof *all);
    for (size_t r = 0; all && r < rows; r++)
        all[r] = (char *)clann_table_cell(d->table, lc, r, buf, sizeof buf);
    if (!all)
        return cli_usage("out of memory");
    qsort(all, rows, sizeof *all, cmp_text);
    d->classes = calloc(rows + 1, sizeof *d->classes);
    for (size_t r = 0; d->classes && r < rows; r++) {
        if (r == 0 || strcmp(all[r], all[r - 1]) != 0)
            d->classes[d->n_classes++] = dup_text(all[r]);
    }
    free(all);
    if (!d->classes)
        return cli_usage("out of memory");
    return CLI_OK;
}

/* --resume: text labels map through the checkpoint's classes, whatever order or subset of
 * them this file holds; refitted here, a file without one class would shift every later class
 * id, and the run would continue training the wrong classes without a word. */
static int resumed_classes(struct cli_data *d, const struct clann_model *m, size_t lc)
{
    struct clann_columns c;
    clann_model_columns(m, &c);
    if (c.n_classes == 0) {
        if (clann_table_column_is_numeric(d->table, lc))
            return CLI_OK;
        return cli_usage("%s: the label column '%s' holds text, but the checkpoint was trained "
                         "on numeric labels", d->name, d->label);
    }
    d->classes = calloc(c.n_classes + 1, sizeof *d->classes);
    for (size_t k = 0; d->classes && k < c.n_classes; k++) {
        if (!(d->classes[d->n_classes++] = dup_text(c.classes[k])))
            return cli_usage("out of memory");
    }
    return d->classes ? CLI_OK : cli_usage("out of memory");
}

/* --resume: the checkpoint's fill values, which cli_table_fill() puts into every part as they
 * are (refitted on the rows given now, they would fill the data otherwise than the model it
 * writes says). */
static int resumed_fill(struct cli_data *d, const struct clann_model *m)
{
    struct clann_columns c;
    clann_model_columns(m, &c);
    if (c.n_fill == 0 || d->fill == CLANN_FILL_NONE || d->fill == CLANN_FILL_DROP)
        return CLI_OK;
    d->fill_columns = calloc(c.n_fill + 1, sizeof *d->fill_columns);
    d->fill_values = calloc(c.n_fill + 1, sizeof *d->fill_values);
    for (size_t i = 0; d->fill_columns && d->fill_values && i < c.n_fill; i++) {
        d->fill_columns[i] = dup_text(c.fill_columns[i]);
        d->fill_values[i] = dup_text(c.fill_values[i]);
        d->n_fill = i + 1;
        if (!d->fill_columns[i] || !d->fill_values[i])
            return cli_usage("out of memory");
    }
    return d->fill_columns && d->fill_values ? CLI_OK : cli_usage("out of memory");
}

int cli_table_labels(const struct cli_data *d, const struct clann_table *t, const char *source,
                     struct clann_matrix *y)
{
    size_t lc = column_index(t, d->label);
    if (lc == SIZE_MAX)
        return cli_usage("the data has no label column '%s'", d->label);
    if (!d->classes) {
        enum clann_status st = clann_table_numeric(t, d->label, y);
        if (st != CLANN_OK)
            return cli_fail("labels", st);
        for (size_t r = 0; r < y->rows; r++)
            if (isnan(y->data[r]))
                return cli_usage("the label column '%s' is missing at row %zu", d->label, r + 2);
        return CLI_OK;
    }
    if (clann_matrix_create(clann_table_rows(t), 1, y) != CLANN_OK)
        return cli_usage("out of memory");
    char buf[64];
    for (size_t r = 0; r < y->rows; r++) {
        const char *text = clann_table_cell(t, lc, r, buf, sizeof buf);
        long k = class_of(d->classes, d->n_classes, text);
        if (k < 0)
            return cli_usage("%s: row %zu: label '%s' is not one of the model's %zu classes "
                             "(seen in training)", source, r + 2, text, d->n_classes);
        y->data[r] = (float)k;
    }
    return CLI_OK;
}

struct cli_table_opts cli_table_opts_of(const struct cli_train_args *a)
{
    struct cli_table_opts o = {a->label, a->ignore, a->features, a->fill, a->columns, NULL};
    return o;
}

int cli_table_prepare(struct cli_data *d, const struct cli_table_opts *o)
{
    if (o->fill && !clann_fill_from_name(o->fill, &d->fill))
        return cli_usage("--fill: '%s' is not mean, median, zero, mode or drop", o->fill);
    int rc = choose_inputs(d, o);
    if (rc == CLI_OK)
        rc = type_inputs(d);
    d->columns = o->columns;
    if (rc == CLI_OK) /* before labels and missing cells: a typo costs nothing */
        rc = cli_column_flags_check(&d->columns, d);
    if (rc == CLI_OK)
        rc = check_missing(d, o);
    if (rc == CLI_OK && o->resumed)
        rc = resumed_fill(d, o->resumed);
    if (rc != CLI_OK || !*d->label)
        return rc;
    size_t lc = column_index(d->table, d->label);
    if (o->resumed)
        rc = resumed_classes(d, o->resumed, lc);
    else if (!clann_table_column_is_numeric(d->table, lc))
        rc = fit_vocabulary(d, lc);
    if (rc != CLI_OK)
        return rc;
    if (d->classes && o->resumed) {
        fprintf(stderr, "labels: the checkpoint's %zu text classes\n", d->n_classes);
    } else if (d->classes) {
        fprintf(stderr, "labels: %zu text classes", d->n_classes);
        if (d->n_classes == 2)
            fprintf(stderr, ", positive class '%s' (the later of the two in sorted order)",
                    d->classes[1]);
        fputc('\n', stderr);
    }
    return cli_table_labels(d, d->table, d->name, &d->y);
}

/* --resume: the checkpoint's fill values (resumed_fill) into every part's missing cells. */
static int fill_known(struct cli_data *d)
{
    struct clann_table *parts[3] = {d->table, d->dev_table, d->test_table};
    for (size_t i = 0; i < d->n_fill; i++) {
        for (int k = 0; k < 3; k++) {
            size_t c = parts[k] ? column_index(parts[k], d->fill_columns[i]) : SIZE_MAX;
            enum clann_status st = c == SIZE_MAX ? CLANN_OK
                                   : clann_table_fill_missing(parts[k], c, d->fill_values[i]);
            if (st != CLANN_OK)
                return cli_fail("--fill", st);
        }
    }
    return CLI_OK;
}

int cli_table_fill(struct cli_data *d)
{
    if (d->fill == CLANN_FILL_NONE || d->fill == CLANN_FILL_DROP)
        return CLI_OK;
    if (d->n_fill)
        return fill_known(d);
    d->fill_columns = calloc(d->n_inputs + 1, sizeof *d->fill_columns);
    d->fill_values = calloc(d->n_inputs + 1, sizeof *d->fill_values);
    if (!d->fill_columns || !d->fill_values)
        return cli_usage("out of memory");
    struct clann_table *parts[3] = {d->table, d->dev_table, d->test_table};
    char value[256];
    for (size_t i = 0; i < d->n_inputs; i++) {
        size_t c = column_index(d->table, d->inputs[i]);
        enum clann_status st = clann_table_fill_value(d->table, c, d->fill, value, sizeof value);
        for (int k = 0; st == CLANN_OK && k < 3; k++)
            if (parts[k])
                st = clann_table_fill_missing(parts[k], column_index(parts[k], d->inputs[i]),
                                              value);
        if (st != CLANN_OK)
            return cli_fail("--fill", st);
        d->fill_columns[d->n_fill] = dup_text(d->inputs[i]);
        d->fill_values[d->n_fill++] = dup_text(value);
    }
    return CLI_OK;
}

int cli_table_matrix(const struct clann_table *t, char *const *names, size_t n,
                     struct clann_matrix *x)
{
    if (clann_matrix_create(clann_table_rows(t), n, x) != CLANN_OK)
        return cli_usage("out of memory");
    for (size_t j = 0; j < n; j++) {
        struct clann_matrix col;
        enum clann_status st = clann_table_numeric(t, names[j], &col);
        if (st != CLANN_OK)
            return cli_fail("inputs", st);
        for (size_t r = 0; r < x->rows; r++) {
            if (isnan(col.data[r])) {
                clann_matrix_free(&col);
                return cli_usage("column '%s' is missing at row %zu and the model has no fill "
                                 "value for it", names[j], r + 2);
            }
            x->data[r * n + j] = col.data[r];
        }
        clann_matrix_free(&col);
    }
    return CLI_OK;
}

int cli_train_columns(struct clann_model *m, const struct cli_data *d)
{
    if (!d->table && !d->inputs)
        return CLI_OK; /* arrays: nothing to remember */
    bool names = !clann_model_features(m) && d->n_inputs == clann_model_input_count(m);
    struct clann_columns c = {
        names ? (const char *const *)d->inputs : NULL, names ? d->n_inputs : 0,
        *d->label ? d->label : NULL, (const char *const *)d->classes, d->n_classes, d->fill,
        (const char *const *)d->fill_columns, (const char *const *)d->fill_values, d->n_fill};
    enum clann_status st = clann_model_set_columns(m, &c);
    return st == CLANN_OK ? CLI_OK : cli_fail("model columns", st);
}

/* The model's fill values into t's missing cells; drop-trained models drop incomplete rows. */
static int model_fill(const struct clann_columns *c, struct cli_data *d)
{
    for (size_t i = 0; i < c->n_fill; i++) {
        size_t col = column_index(d->table, c->fill_columns[i]);
        enum clann_status st = col == SIZE_MAX ? CLANN_OK
                               : clann_table_fill_missing(d->table, col, c->fill_values[i]);
        if (st != CLANN_OK)
            return cli_fail(d->name, st);
    }
    return CLI_OK;
}

/* The model's inputs must all be columns of the file: name the missing ones. */
static int check_inputs(const struct clann_columns *c, const struct cli_data *d)
{
    char missing[512] = "";
    size_t n = 0, present = 0;
    for (size_t i = 0; i < c->n_inputs; i++) {
        if (column_index(d->table, c->inputs[i]) != SIZE_MAX) {
            present++;
            continue;
        }
        if (strlen(missing) < 400)
            snprintf(missing + strlen(missing), sizeof missing - strlen(missing), "%s'%s'",
                     n ? ", " : "", c->inputs[i]);
        n++;
    }
    if (n)
        return cli_usage("%s has %zu feature columns but the model takes %zu: no column %s",
                         d->name, present, c->n_inputs, missing);
    return CLI_OK;
}

/* eval of a model trained with --fill drop leaves incomplete rows out the same way. */
static int eval_drop(const struct clann_columns *c, struct cli_data *d)
{
    struct clann_table *kept;
    size_t dropped = 0;
    const char **cols = malloc((c->n_inputs + 1) * sizeof *cols);
    if (!cols)
        return cli_usage("out of memory");
    size_t n = 0;
    for (size_t i = 0; i < c->n_inputs; i++)
        cols[n++] = c->inputs[i];
    if (*d->label)
        cols[n++] = d->label;
    /* a feature-column model names no inputs: every column counts */
    enum clann_status st = clann_table_drop_missing(d->table, c->n_inputs ? cols : NULL,
                                                    c->n_inputs ? n : 0, &kept, &dropped);
    free(cols);
    if (st != CLANN_OK)
        return cli_fail(d->name, st);
    clann_table_destroy(d->table);
    d->table = kept;
    if (dropped)
        fprintf(stderr, "missing values: dropped %zu rows (the model was trained with --fill "
                        "drop)\n", dropped);
    return CLI_OK;
}

int cli_table_model_data(const struct clann_model *m, struct cli_data *d, bool need_labels)
{
    struct clann_columns c;
    clann_model_columns(m, &c);
    int rc = model_fill(&c, d);
    if (rc == CLI_OK && c.n_inputs)
        rc = check_inputs(&c, d);
    if (rc == CLI_OK && need_labels && c.fill == CLANN_FILL_DROP)
        rc = eval_drop(&c, d);
    if (rc != CLI_OK)
        return rc;
    d->classes = (char **)c.classes, d->n_classes = c.n_classes; /* borrowed: see below */
    if (need_labels)
        rc = cli_table_labels(d, d->table, d->name, &d->y);
    d->classes = NULL, d->n_classes = 0;
    if (rc != CLI_OK)
        return rc;
    if (clann_model_features(m))
        return cli_table_model_input(m, d);
    if (c.n_inputs)
        return cli_table_matrix(d->table, (char *const *)c.inputs, c.n_inputs, &d->x);
    /* A model without names (trained on arrays): every column but the label, by position. */
    char **names = calloc(clann_table_cols(d->table) + 1, sizeof *names);
    size_t n = 0;
    for (size_t k = 0; names && k < clann_table_cols(d->table); k++)
        if (strcmp(clann_table_column_name(d->table, k), d->label) != 0)
            names[n++] = (char *)clann_table_column_name(d->table, k);
    rc = names ? cli_table_matrix(d->table, names, n, &d->x) : cli_usage("out of memory");
    free(names);
    return rc;
}

static void free_list(char **list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        free(list[i]);
    free(list);
}

void cli_table_free_columns(struct cli_data *d)
{
    free_list(d->inputs, d->n_inputs);
    free_list(d->classes, d->n_classes);
    free_list(d->fill_columns, d->n_fill);
    free_list(d->fill_values, d->n_fill);
    d->inputs = d->classes = d->fill_columns = d->fill_values = NULL;
    d->n_inputs = d->n_classes = d->n_fill = 0;
}
