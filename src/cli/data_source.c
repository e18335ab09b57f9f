/*
 * data_source.c - turns a SRC argument into matrices: a CSV file, a pair "X,y" of NPY or IDX
 * files, or the built-in name "fashion-mnist".
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Loads one array file, by extension: .npy, else IDX (raw or .gz). */
static enum clann_status load_array(const char *path, struct clann_matrix *out)
{
    return has_suffix(path, ".npy") ? clann_npy_load(path, out) : clann_idx_load(path, out);
}

static int load_pair(const char *src, struct cli_data *d)
{
    const char *comma = strchr(src, ',');
    char xpath[4096];
    snprintf(xpath, sizeof xpath, "%.*s", (int)(comma - src), src);
    const char *ypath = comma + 1;
    if (comma == src || !*ypath)
        return cli_usage("data source '%s': expected a pair X,y of .npy or IDX files", src);
    enum clann_status st = load_array(xpath, &d->x);
    if (st != CLANN_OK)
        return cli_fail(xpath, st);
    st = load_array(ypath, &d->y);
    if (st != CLANN_OK)
        return cli_fail(ypath, st);
    if (d->x.rows != d->y.rows)
        return cli_usage("%s has %zu rows but %s has %zu", xpath, d->x.rows, ypath, d->y.rows);
    return CLI_OK;
}

bool cli_is_csv(const char *src)
{
    return has_suffix(src, ".csv") || has_suffix(src, ".txt") || has_suffix(src, ".tsv");
}

int cli_data_load(const char *src, const struct cli_table_opts *o, struct cli_data *d)
{
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", src);
    int rc = CLI_OK;
    if (strcmp(src, "fashion-mnist") == 0) {
        enum clann_status st = clann_fashion_mnist_load(NULL, &d->x, &d->y, &d->test_x,
                                                        &d->test_y);
        if (st != CLANN_OK)
            rc = cli_fail("fashion-mnist", st);
        d->has_test = rc == CLI_OK;
    } else if (strchr(src, ',')) {
        rc = load_pair(src, d);
    } else if (cli_is_csv(src)) {
        /* x comes from the table's input columns once the split and fill are done */
        rc = cli_table_load(src, o->label, d);
        if (rc == CLI_OK)
            rc = cli_table_prepare(d, o);
    } else {
        rc = cli_usage("data source '%s': expected a .csv file, a pair X,y of .npy or IDX files, "
                       "or fashion-mnist", src);
    }
    const struct cli_column_flags *c = &o->columns;
    if (rc == CLI_OK && !d->table && (c->bucketize || c->hash || c->identity || c->cross || c->embed))
        rc = cli_usage("--%s: feature columns need a CSV file with named columns, not %s",
                       c->bucketize ? "bucketize" : c->hash ? "hash" : c->identity ? "identity"
                       : c->cross ? "cross" : "embed", src);
    if (rc != CLI_OK)
        cli_data_free(d);
    return rc;
}

void cli_data_free(struct cli_data *d)
{
    clann_matrix_free(&d->x);
    clann_matrix_free(&d->y);
    clann_matrix_free(&d->dev_x);
    clann_matrix_free(&d->dev_y);
    clann_matrix_free(&d->test_x);
    clann_matrix_free(&d->test_y);
    clann_table_destroy(d->table);
    clann_table_destroy(d->dev_table);
    clann_table_destroy(d->test_table);
    clann_features_destroy(d->features);
    cli_table_free_columns(d);
    d->table = d->dev_table = d->test_table = NULL;
    d->features = NULL;
}
