/*
 * categorical.c - CSV files with text columns: they are read as tables, the text columns become
 * feature columns (a vocabulary fitted on the training rows; an embedding, or a one-hot
 * indicator for small vocabularies), the numeric ones numeric features, and the model gets the
 * fitted feature set as its input stage. Models that have one transform raw tables in eval and
 * predict, so users never encode categories themselves.
 */
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Vocabularies up to this many ids (values + the OOV bucket) become indicators. */
enum { INDICATOR_MAX_IDS = 16 };

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The label column's name: NULL means the last column, a decimal number a 0-based index. */
static int label_name(const struct clann_table *t, const char *label, const char **out)
{
    size_t cols = clann_table_cols(t);
    char *end;
    unsigned long i = label ? strtoul(label, &end, 10) : cols - 1;
    if (label && (*label == '\0' || *end != '\0')) {
        *out = *label ? label : NULL;
        return CLI_OK;
    }
    if (i >= cols)
        return cli_usage("--label %s: the file has %zu columns", label, cols);
    *out = clann_table_column_name(t, i);
    return CLI_OK;
}

/* A table of numbers only becomes x (every column but the label, in order) and y directly, so
 * that a numeric CSV is parsed once. False, with nothing set, for any other table (or no
 * memory): the numeric reader then reads the file, and its messages name the bad cell. */
static bool numeric_input(const struct clann_table *t, const char *label, struct cli_data *d)
{
    size_t cols = clann_table_cols(t), rows = clann_table_rows(t), lab = SIZE_MAX;
    for (size_t c = 0; c < cols; c++) {
        if (!clann_table_column_is_numeric(t, c))
            return false;
        if (label && strcmp(clann_table_column_name(t, c), label) == 0)
            lab = c;
    }
    size_t nfeat = cols - (lab != SIZE_MAX);
    if ((label && lab == SIZE_MAX) || nfeat == 0 ||
        clann_matrix_create(rows, nfeat, &d->x) != CLANN_OK)
        return false;
    bool ok = true;
    for (size_t c = 0, f = 0; ok && c < cols; c++) {
        struct clann_matrix col;
        ok = clann_table_numeric(t, clann_table_column_name(t, c), &col) == CLANN_OK;
        if (ok && c == lab) {
            d->y = col; /* rows x 1, as the numeric reader gives labels */
            continue;
        }
        for (size_t i = 0; ok && i < rows; i++)
            d->x.data[i * nfeat + f] = col.data[i];
        f += ok;
        clann_matrix_free(&col);
    }
    if (!ok) {
        clann_matrix_free(&d->x);
        clann_matrix_free(&d->y);
    }
    return ok;
}

int cli_table_load(const char *src, const char *label, bool keep, struct cli_data *d,
                   bool *categorical)
{
    *categorical = false;
    struct clann_table_params p = clann_table_default_params();
    if (has_suffix(src, ".tsv"))
        p.delimiter = '\t';
    struct clann_table *t;
    enum clann_status st = clann_table_load_csv(src, &p, &t);
    if (st != CLANN_OK)
        return cli_fail(src, st);
    const char *name = NULL;
    int rc = label_name(t, label, &name);
    /* Text columns make the file categorical, unless some column mixes numbers with text or
     * empty cells: that is a numeric column with bad values, which the numeric reader reports
     * with their row and column. */
    bool mixed = false;
    for (size_t c = 0; rc == CLI_OK && c < clann_table_cols(t); c++) {
        const char *col = clann_table_column_name(t, c);
        if (clann_table_column_is_numeric(t, c) || (name && strcmp(col, name) == 0))
            continue;
        *categorical = true;
        mixed = mixed || clann_table_column_numbers(t, c) > 0;
    }
    *categorical = *categorical && !mixed;
    keep = keep || *categorical;
    if (rc == CLI_OK && keep && name) {
        snprintf(d->label, sizeof d->label, "%s", name);
        if ((st = clann_table_numeric(t, name, &d->y)) != CLANN_OK)
            rc = cli_fail(src, st);
    }
    if (rc == CLI_OK && !keep)
        numeric_input(t, name, d);
    if (rc == CLI_OK && keep)
        d->table = t;
    else
        clann_table_destroy(t);
    return rc;
}

/* One feature column per table column but the label. */
static struct clann_feature_column *default_columns(const struct clann_table *t,
                                                    const char *label, size_t *n)
{
    size_t cols = clann_table_cols(t);
    struct clann_feature_column *fc = calloc(cols, sizeof *fc);
    *n = 0;
    for (size_t c = 0; fc && c < cols; c++) {
        const char *name = clann_table_column_name(t, c);
        if (*label && strcmp(name, label) == 0)
            continue;
        fc[(*n)++] = clann_feature_column_default(clann_table_column_is_numeric(t, c)
                                                      ? CLANN_FEATURE_NUMERIC
                                                      : CLANN_FEATURE_VOCABULARY,
                                                  name);
    }
    return fc;
}

/* Fits the default columns on the training table; small vocabularies become indicators (an
 * embedding of dimension 1 or 2 would squeeze a handful of categories for nothing). */
static int fit_features(const struct clann_table *train, const char *label,
                        struct clann_features **out)
{
    size_t n;
    struct clann_feature_column *fc = default_columns(train, label, &n);
    if (!fc)
        return cli_usage("out of memory");
    struct clann_features *fs = NULL;
    enum clann_status st = clann_features_create(fc, n, &fs);
    if (st == CLANN_OK)
        st = clann_features_fit(fs, train);
    bool refit = false;
    for (size_t i = 0; st == CLANN_OK && i < n; i++) {
        if (fc[i].kind == CLANN_FEATURE_VOCABULARY &&
            clann_features_id_count(fs, fc[i].column) <= INDICATOR_MAX_IDS) {
            fc[i].output = CLANN_FEATURE_INDICATOR;
            refit = true;
        }
    }
    if (st == CLANN_OK && refit) {
        clann_features_destroy(fs);
        fs = NULL;
        st = clann_features_create(fc, n, &fs);
        if (st == CLANN_OK)
            st = clann_features_fit(fs, train);
    }
    free(fc);
    if (st != CLANN_OK) {
        clann_features_destroy(fs);
        return cli_fail("feature columns", st);
    }
    *out = fs;
    return CLI_OK;
}

static int transform(const struct clann_features *fs, const struct clann_table *t,
                     struct clann_matrix *x)
{
    enum clann_status st = clann_features_transform(fs, t, x);
    return st == CLANN_OK ? CLI_OK : cli_fail("feature columns", st);
}

int cli_table_model_input(const struct clann_model *m, struct cli_data *d)
{
    clann_matrix_free(&d->x);
    return transform(clann_model_features(m), d->table, &d->x);
}

int cli_table_features(struct cli_data *d)
{
    int rc = fit_features(d->table, d->label, &d->features);
    if (rc == CLI_OK)
        rc = transform(d->features, d->table, &d->x);
    if (rc == CLI_OK && d->dev_table)
        rc = transform(d->features, d->dev_table, &d->dev_x);
    if (rc == CLI_OK && d->test_table)
        rc = transform(d->features, d->test_table, &d->test_x);
    if (rc == CLI_OK) {
        fprintf(stderr, "features: %zu text and numeric columns -> %zu model inputs "
                        "(vocabularies fitted on the %zu training rows)\n",
                clann_table_cols(d->table) - (*d->label != '\0'),
                clann_features_input_count(d->features), clann_table_rows(d->table));
    }
    return rc;
}

int cli_table_split(struct cli_data *d, const struct clann_split_params *p)
{
    size_t n = clann_table_rows(d->table);
    struct clann_matrix idx;
    if (clann_matrix_create(n, 1, &idx) != CLANN_OK)
        return cli_usage("out of memory");
    for (size_t i = 0; i < n; i++)
        idx.data[i] = (float)i; /* exact below 2^24 rows */
    struct clann_split s;
    enum clann_status st = clann_data_split(&idx, &d->y, p, &s);
    clann_matrix_free(&idx);
    if (st != CLANN_OK)
        return cli_fail("split", st);
    struct clann_matrix *parts[3] = {&s.train_x, &s.dev_x, &s.test_x};
    struct clann_table *tables[3] = {NULL, NULL, NULL};
    size_t *rows = malloc((n ? n : 1) * sizeof *rows);
    for (int k = 0; rows && st == CLANN_OK && k < 3; k++) {
        for (size_t i = 0; i < parts[k]->rows; i++)
            rows[i] = (size_t)parts[k]->data[i];
        if (parts[k]->rows)
            st = clann_table_select(d->table, rows, parts[k]->rows, &tables[k]);
    }
    free(rows);
    if (st == CLANN_OK) {
        clann_table_destroy(d->table);
        d->table = tables[0], d->dev_table = tables[1];
        clann_table_destroy(d->test_table);
        d->test_table = tables[2];
        clann_matrix_free(&d->y), clann_matrix_free(&d->dev_y), clann_matrix_free(&d->test_y);
        d->y = s.train_y, d->dev_y = s.dev_y, d->test_y = s.test_y;
        memset(&s.train_y, 0, sizeof s.train_y);
        memset(&s.dev_y, 0, sizeof s.dev_y);
        memset(&s.test_y, 0, sizeof s.test_y);
    } else {
        for (int k = 0; k < 3; k++)
            clann_table_destroy(tables[k]);
    }
    clann_split_free(&s);
    return st == CLANN_OK ? CLI_OK : cli_fail("split", st);
}
