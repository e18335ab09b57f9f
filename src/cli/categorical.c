/*
 * categorical.c - CSV files with text columns: they are read as tables, the text columns become
 * feature columns (a vocabulary fitted on the training rows; an embedding, or a one-hot
 * indicator for small vocabularies), the numeric ones numeric features, and the model gets the
 * fitted feature set as its input stage. Models that have one transform raw tables in eval and
 * predict, so users never encode categories themselves.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Vocabularies up to this many ids (values + the OOV bucket) become indicators. */
enum { INDICATOR_MAX_IDS = 16 };

/* One feature column per input column. */
static struct clann_feature_column *default_columns(const struct cli_data *d, size_t *n)
{
    struct clann_feature_column *fc = calloc(d->n_inputs + 1, sizeof *fc);
    *n = 0;
    for (size_t i = 0; fc && i < d->n_inputs; i++) {
        size_t c = 0;
        while (strcmp(clann_table_column_name(d->table, c), d->inputs[i]) != 0)
            c++;
        fc[(*n)++] = clann_feature_column_default(clann_table_column_is_numeric(d->table, c)
                                                      ? CLANN_FEATURE_NUMERIC
                                                      : CLANN_FEATURE_VOCABULARY,
                                                  d->inputs[i]);
    }
    return fc;
}

/* Fits the default columns on the training table; small vocabularies become indicators (an
 * embedding of dimension 1 or 2 would squeeze a handful of categories for nothing). */
static int fit_features(const struct cli_data *d, struct clann_features **out)
{
    const struct clann_table *train = d->table;
    size_t n;
    struct clann_feature_column *fc = default_columns(d, &n);
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

/* Every table part through the input columns by name (no text inputs). */
static int numeric_inputs(struct cli_data *d)
{
    int rc = cli_table_matrix(d->table, d->inputs, d->n_inputs, &d->x);
    if (rc == CLI_OK && d->dev_table)
        rc = cli_table_matrix(d->dev_table, d->inputs, d->n_inputs, &d->dev_x);
    if (rc == CLI_OK && d->test_table)
        rc = cli_table_matrix(d->test_table, d->inputs, d->n_inputs, &d->test_x);
    return rc;
}

int cli_table_features(struct cli_data *d)
{
    int rc = cli_table_fill(d);
    if (rc == CLI_OK && !d->categorical)
        return numeric_inputs(d);
    if (rc == CLI_OK)
        rc = fit_features(d, &d->features);
    if (rc == CLI_OK)
        rc = transform(d->features, d->table, &d->x);
    if (rc == CLI_OK && d->dev_table)
        rc = transform(d->features, d->dev_table, &d->dev_x);
    if (rc == CLI_OK && d->test_table)
        rc = transform(d->features, d->test_table, &d->test_x);
    if (rc == CLI_OK) {
        fprintf(stderr, "features: %zu text and numeric columns -> %zu model inputs "
                        "(vocabularies fitted on the %zu training rows)\n",
                d->n_inputs, clann_features_input_count(d->features), clann_table_rows(d->table));
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
