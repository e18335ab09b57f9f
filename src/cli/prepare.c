/*
 * prepare.c - `clann train`'s data preparation: --split into train/dev/test and the --scale
 * scalers, fitted on the training rows only so that nothing leaks from dev or test data.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Parses "0.8,0.1,0.1" or "0.9,0.1" (cli.h). */
int cli_split_fractions(const char *text, double f[3], size_t *n)
{
    char *end;
    const char *p = text;
    for (*n = 0; *n < 3; (*n)++) {
        f[*n] = strtod(p, &end);
        if (end == p || !(f[*n] >= 0 && f[*n] <= 1)) { /* NaN fails too */
            *n = 0; /* and so does a trailing comma */
            break;
        }
        p = end;
        if (*p != ',') {
            (*n)++;
            break;
        }
        p++;
    }
    double sum = f[0] + (*n > 1 ? f[1] : 0) + (*n > 2 ? f[2] : 0);
    if (*p != '\0' || *n < 2 || !(fabs(sum - 1.0) <= 1e-6))
        return cli_usage("--split: '%s' must be 2 or 3 fractions summing to 1, e.g. 0.8,0.1,0.1",
                         text);
    return CLI_OK;
}

/* Class labels (one column of small non-negative integers) are split stratified. */
bool cli_class_labels(const struct clann_matrix *y)
{
    for (size_t i = 0; y->cols == 1 && i < y->rows; i++) {
        if (!(y->data[i] >= 0) || y->data[i] != floorf(y->data[i]) || y->data[i] >= 1000)
            return false;
    }
    return y->cols == 1;
}

struct split_record {
    const struct cli_data *d;
    const struct clann_split_params *p;
};

static void split_json(FILE *f, const void *user)
{
    const struct split_record *r = user;
    const struct cli_data *d = r->d;
    const struct clann_split_params *p = r->p;
    /* rows of the tables: a --spec's feature columns make x only once the model is built */
    size_t train = d->table ? clann_table_rows(d->table) : d->x.rows;
    size_t dev = d->dev_table ? clann_table_rows(d->dev_table) : d->has_dev ? d->dev_x.rows : 0;
    size_t test = d->test_table ? clann_table_rows(d->test_table)
                  : d->has_test ? d->test_x.rows : 0;
    fprintf(f, "{\"train\": %zu, \"dev\": %zu, \"test\": %zu, \"fractions\": [%g, %g, %g], "
            "\"seed\": %llu, \"stratified\": %s}\n", train, dev, test, p->train, p->dev, p->test,
            (unsigned long long)p->seed, p->stratify ? "true" : "false");
}

/* DIR/split.json (a failure to write it fails the run: its folder is unusable). */
static int record_split(const struct cli_train_args *a, const struct cli_data *d,
                        const struct clann_split_params *p)
{
    if (!a->logdir)
        return CLI_OK;
    cli_make_dirs(a->logdir);
    char path[4096];
    snprintf(path, sizeof path, "%s/split.json", a->logdir);
    struct split_record r = {d, p};
    return cli_write_file(path, split_json, &r);
}

/* A table is split by rows, then the feature columns are fitted on its training part. */
static int split_table(const struct cli_train_args *a, struct cli_data *d,
                       const struct clann_split_params *p, size_t n_parts)
{
    struct clann_table *test = d->test_table;
    struct clann_matrix test_y = d->test_y;
    d->test_table = NULL; /* --test data stays unless the split makes a test part */
    memset(&d->test_y, 0, sizeof d->test_y);
    int rc = cli_table_split(d, p);
    if (rc == CLI_OK && n_parts < 3) {
        clann_table_destroy(d->test_table);
        clann_matrix_free(&d->test_y);
        d->test_table = test;
        d->test_y = test_y;
    } else {
        clann_table_destroy(test);
        clann_matrix_free(&test_y);
    }
    if (rc != CLI_OK)
        return rc;
    d->has_dev = d->dev_table != NULL;
    d->has_test = d->test_table != NULL;
    cli_note("split: %zu train, %zu dev, %zu test rows%s\n", clann_table_rows(d->table),
            d->has_dev ? clann_table_rows(d->dev_table) : 0,
            d->has_test ? clann_table_rows(d->test_table) : 0, p->stratify ? " (stratified)" : "");
    rc = cli_table_features(d);
    if (rc == CLI_OK)
        rc = record_split(a, d, p);
    return rc;
}

int cli_train_split(const struct cli_train_args *a, struct cli_data *d)
{
    unsigned long long seed = clann_split_default_params().seed;
    if (a->seed && !cli_u64("seed", a->seed, &seed))
        return CLI_USAGE;
    return cli_split_data(a, d, seed, a->early_stop && strcmp(a->early_stop, "0") != 0);
}

int cli_split_data(const struct cli_train_args *a, struct cli_data *d, unsigned long long seed,
                   bool early)
{
    struct clann_split_params p = clann_split_default_params();
    size_t n = 0;
    double f[3] = {0.9, 0.1, 0.0};
    if (a->split) {
        int rc = cli_split_fractions(a->split, f, &n);
        if (rc != CLI_OK)
            return rc;
    } else if (!early) {
        return d->table ? cli_table_features(d) : CLI_OK;
    } else {
        cli_note("early stopping: holding out 10%% of the training rows as dev data "
                        "(--split sets this)\n");
    }
    p.train = f[0], p.dev = f[1], p.test = n == 3 ? f[2] : 0.0;
    p.seed = seed;
    p.stratify = cli_class_labels(&d->y);
    if (d->table)
        return split_table(a, d, &p, n);
    struct clann_split s;
    enum clann_status st = clann_data_split(&d->x, &d->y, &p, &s);
    if (st != CLANN_OK)
        return cli_fail("split", st);
    clann_matrix_free(&d->x), clann_matrix_free(&d->y);
    d->x = s.train_x, d->y = s.train_y, d->dev_x = s.dev_x, d->dev_y = s.dev_y;
    d->has_dev = d->dev_x.rows > 0;
    if (n == 3) { /* the split's test part replaces any test data */
        clann_matrix_free(&d->test_x), clann_matrix_free(&d->test_y);
        d->test_x = s.test_x, d->test_y = s.test_y;
        d->has_test = d->test_x.rows > 0;
    } else {
        clann_matrix_free(&s.test_x), clann_matrix_free(&s.test_y);
    }
    cli_note("split: %zu train, %zu dev, %zu test rows%s\n", d->x.rows,
            d->has_dev ? d->dev_x.rows : 0, d->has_test ? d->test_x.rows : 0,
            p.stratify ? " (stratified)" : "");
    return record_split(a, d, &p);
}

int cli_load_part(const char *src, const struct cli_table_opts *o, struct cli_data *d, bool dev)
{
    struct cli_data t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", src);
    struct clann_matrix *x = dev ? &d->dev_x : &d->test_x, *y = dev ? &d->dev_y : &d->test_y;
    int rc;
    if (d->table && cli_is_csv(src)) {
        rc = cli_table_load(src, d->label, &t);
        if (rc == CLI_OK)
            rc = cli_table_labels(d, t.table, src, y);
    } else {
        rc = cli_data_load(src, o, &t);
        if (rc == CLI_OK && t.table)
            rc = cli_table_features(&t);
        if (rc == CLI_OK && !d->table && (t.x.cols != d->x.cols || t.y.cols != d->y.cols))
            rc = cli_usage("%s has %zu+%zu columns but --data has %zu+%zu", src, t.x.cols,
                           t.y.cols, d->x.cols, d->y.cols);
        *x = t.x, *y = t.y;
        memset(&t.x, 0, sizeof t.x), memset(&t.y, 0, sizeof t.y);
    }
    if (rc == CLI_OK && d->table) {
        *(dev ? &d->dev_table : &d->test_table) = t.table;
        t.table = NULL;
    }
    *(dev ? &d->has_dev : &d->has_test) = rc == CLI_OK;
    cli_data_free(&t);
    return rc;
}

/* KIND, or KIND:LO:HI for minmax (its target range, default 0:1) and clip (its bounds,
 * required): lo < hi, finite. */
int cli_scaler_params(const char *option, const char *text, struct clann_scaler_params *p)
{
    memset(p, 0, sizeof *p);
    p->hi = 1.0f;
    char name[32], lo[64], hi[64];
    size_t n = strcspn(text, ":");
    snprintf(name, sizeof name, "%.*s", (int)(n < 31 ? n : 31), text);
    if (!clann_scale_from_name(name, &p->kind)) {
        char kinds[160]; /* the table's names, none last: it is the opt-out, not a scaler */
        size_t used = 0;
        for (size_t i = 1; clann_name_at(CLANN_NAMES_SCALE, i); i++)
            used += (size_t)snprintf(kinds + used, sizeof kinds - used, "%s|",
                                     clann_name_at(CLANN_NAMES_SCALE, i));
        return cli_usage("--%s: '%s' is not %snone (minmax:LO:HI and clip:LO:HI take a range)",
                         option, text, kinds);
    }
    bool range = p->kind == CLANN_SCALE_MINMAX || p->kind == CLANN_SCALE_CLIP;
    if (!text[n] && p->kind != CLANN_SCALE_CLIP)
        return CLI_OK;
    const char *rest = text + n + (text[n] == ':');
    size_t m = strcspn(rest, ":");
    if (!range || !text[n] || !rest[m] || m >= sizeof lo || strlen(rest + m + 1) >= sizeof hi)
        return cli_usage("--%s: '%s': expected %s%s", option, text, name,
                         range ? ":LO:HI, e.g. clip:-3:3" : " alone (only minmax and clip take "
                         "LO:HI)");
    snprintf(lo, sizeof lo, "%.*s", (int)m, rest);
    snprintf(hi, sizeof hi, "%s", rest + m + 1);
    if (!cli_float(option, lo, &p->lo) || !cli_float(option, hi, &p->hi))
        return CLI_USAGE;
    if (!(p->lo < p->hi))
        return cli_usage("--%s: '%s': LO must be below HI", option, text);
    return CLI_OK;
}

/* The scaling a --spec's model asks for when --scale (--scale-target) is not given: its
 * scaler's kind, refitted on these training rows (standard, minmax: the default range), or
 * NULL to keep it as the spec has it (log, clip: nothing fitted). Without --spec: dflt. */
static const char *spec_scale(const struct cli_train_args *a, const struct clann_model *m,
                              bool targets, const char *dflt)
{
    if (!a->spec)
        return dflt;
    enum clann_scale kind = clann_model_scaler_kind(m, targets);
    if (kind == CLANN_SCALE_LOG || kind == CLANN_SCALE_CLIP)
        return NULL;
    return clann_name_at(CLANN_NAMES_SCALE, (size_t)kind);
}

int cli_train_scale(const struct cli_train_args *a, struct clann_model *m,
                    const struct cli_data *d)
{
    struct clann_scaler_params p;
    int rc = CLI_OK;
    enum clann_status st = CLANN_OK;
    /* Inputs are standardized by default (--scale none opts out): chosen with the default
     * job on a Fashion-MNIST dev split, and what tabular columns in unlike units need. */
    const char *input = a->scale ? a->scale : spec_scale(a, m, false, "standard");
    if (input && (rc = cli_scaler_params("scale", input, &p)) == CLI_OK &&
        p.kind != CLANN_SCALE_NONE)
        st = clann_model_scale_inputs(m, &p, &d->x);
    /* Regression targets are standardized by default: a network's outputs start near 0 with
     * unit scale, so targets in the hundreds of thousands would take most of training to reach
     * (and a loss in squared dollars swamps Adam's steps). Predictions come back in the
     * targets' own units. */
    const char *target = a->scale_target ? a->scale_target
                         : spec_scale(a, m, true, cli_is_regression(m) ? "standard" : "none");
    if (target && rc == CLI_OK && st == CLANN_OK &&
        (rc = cli_scaler_params("scale-target", target, &p)) == CLI_OK &&
        p.kind != CLANN_SCALE_NONE)
        st = clann_model_scale_targets(m, &p, &d->y);
    return rc != CLI_OK ? rc : st != CLANN_OK ? cli_fail("scale", st) : CLI_OK;
}
