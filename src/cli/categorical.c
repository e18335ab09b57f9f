/*
 * categorical.c - CSV files with text columns: they are read as tables, the text columns become
 * feature columns (a vocabulary fitted on the training rows; an embedding, or a one-hot
 * indicator for small vocabularies), the numeric ones numeric features, and the model gets the
 * fitted feature set as its input stage. Models that have one transform raw tables in eval and
 * predict, so users never encode categories themselves.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Vocabularies up to this many ids (values + the OOV bucket) become indicators. */
enum { INDICATOR_MAX_IDS = 16 };

/* ---- feature columns chosen by flag ------------------------------------------------------ */

enum { FLAG_BUCKETIZE, FLAG_HASH, FLAG_IDENTITY, FLAG_CROSS, FLAG_EMBED, N_FLAGS };
static const char *const flag_names[N_FLAGS] = {"bucketize", "hash", "identity", "cross",
                                                "embed"};
static const char *const flag_forms[N_FLAGS] = {
    "COL=B1,B2,...[,COL2=B1,...]", "COL=BUCKETS[,COL2=BUCKETS]", "COL=BUCKETS[,COL2=BUCKETS]",
    "COLA,COLB[,...]=BUCKETS[,COLC,COLD=BUCKETS]", "FEATURE=DIM|onehot[,...]"};

static const char *flag_text(const struct cli_column_flags *c, int k)
{
    const char *t[N_FLAGS] = {c->bucketize, c->hash, c->identity, c->cross, c->embed};
    return t[k];
}

/* A flag's text split at its commas (a copy; free *buf and *tok). */
struct tokens {
    char *buf, **tok;
    const char **vals;
    size_t n, pos;
};

static bool split_tokens(const char *text, struct tokens *t)
{
    memset(t, 0, sizeof *t);
    size_t n = 1, len = strlen(text);
    for (const char *p = text; *p; p++)
        n += *p == ',';
    t->buf = malloc(len + 1), t->tok = calloc(n, sizeof *t->tok), t->vals = calloc(n, sizeof *t->vals);
    if (!t->buf || !t->tok || !t->vals)
        return false;
    memcpy(t->buf, text, len + 1);
    for (char *p = t->buf; p; t->n++) {
        t->tok[t->n] = p;
        p = strchr(p, ',');
        if (p)
            *p++ = '\0';
    }
    return true;
}

static void free_tokens(struct tokens *t)
{
    free(t->buf), free(t->tok), free((void *)t->vals);
}

/* One item of a flag: its column names (a cross's precede the '=') and values (bucketize's
 * follow it: COL=B1,B2,...). */
struct flag_item {
    const char *names[64];
    size_t n_names;
    const char **values;
    size_t n_values;
};

static int bad_form(int k, const char *got)
{
    return cli_usage("--%s: expected %s (got '%s')", flag_names[k], flag_forms[k], got);
}

/* The next item of flag k; false at the end or on a usage error (*rc). */
static bool next_item(int k, struct tokens *t, struct flag_item *it, int *rc)
{
    if (t->pos >= t->n)
        return false;
    it->n_names = it->n_values = 0;
    it->values = t->vals;
    char *eq = NULL;
    while (!eq) {
        char *tok = t->pos < t->n ? t->tok[t->pos++] : NULL;
        if (!tok || it->n_names == 64 || ((eq = strchr(tok, '=')) == NULL && k != FLAG_CROSS)) {
            *rc = bad_form(k, tok ? tok : flag_names[k]);
            return false;
        }
        if (eq)
            *eq = '\0';
        if (!*tok) {
            *rc = bad_form(k, eq ? eq + 1 : "");
            return false;
        }
        it->names[it->n_names++] = tok;
    }
    t->vals[it->n_values++] = eq + 1;
    while (k == FLAG_BUCKETIZE && t->pos < t->n && !strchr(t->tok[t->pos], '='))
        t->vals[it->n_values++] = t->tok[t->pos++];
    if (k == FLAG_CROSS && it->n_names < 2) {
        *rc = cli_usage("--cross %s: a cross needs two columns or more (%s)", it->names[0],
                        flag_forms[k]);
        return false;
    }
    return true;
}

/* A bucket count or dimension in 1..2^24 ("onehot" for --embed: *n = 0). */
static bool item_size(int k, const struct flag_item *it, size_t *n)
{
    const char *v = it->values[0];
    char *end;
    *n = 0;
    if (k == FLAG_EMBED && strcmp(v, "onehot") == 0)
        return true;
    unsigned long long x = *v >= '0' && *v <= '9' ? strtoull(v, &end, 10) : 0;
    if (x >= 1 && x <= (1u << 24) && *end == '\0') {
        *n = (size_t)x;
        return true;
    }
    cli_usage("--%s %s=%s: expected %s in 1..16777216%s", flag_names[k],
              it->names[it->n_names - 1], v, k == FLAG_EMBED ? "a dimension" : "a bucket count",
              k == FLAG_EMBED ? " or onehot" : "");
    return false;
}

/* --bucketize's boundaries: finite numbers in increasing order, into b. */
static bool item_boundaries(const struct flag_item *it, float *b)
{
    for (size_t i = 0; i < it->n_values; i++) {
        char *end;
        double v = strtod(it->values[i], &end);
        b[i] = (float)v;
        if (end == it->values[i] || *end || !isfinite(b[i]) || (i && !(b[i] > b[i - 1]))) {
            cli_usage("--bucketize %s: boundaries must be numbers in increasing order (got "
                      "'%s')", it->names[0], it->values[i]);
            return false;
        }
    }
    return true;
}

/* Checks every item's values (and, with d, its columns: run_item). */
typedef int (*item_fn)(int k, const struct flag_item *it, void *user);

static int each_item(const struct cli_column_flags *c, item_fn fn, void *user)
{
    int rc = CLI_OK;
    for (int k = 0; k < N_FLAGS && rc == CLI_OK; k++) {
        const char *text = flag_text(c, k);
        struct tokens t;
        if (!text)
            continue;
        if (!split_tokens(text, &t))
            rc = cli_usage("out of memory");
        struct flag_item it;
        while (rc == CLI_OK && next_item(k, &t, &it, &rc)) {
            float *b = k == FLAG_BUCKETIZE ? malloc(it.n_values * sizeof *b) : NULL;
            size_t n;
            if (k == FLAG_BUCKETIZE ? !b || !item_boundaries(&it, b) : !item_size(k, &it, &n))
                rc = CLI_USAGE;
            free(b);
            if (rc == CLI_OK && fn)
                rc = fn(k, &it, user);
        }
        free_tokens(&t);
    }
    return rc;
}

/* The input index of column `name`, or SIZE_MAX. */
static size_t input_index(const struct cli_data *d, const char *name)
{
    for (size_t i = 0; i < d->n_inputs; i++)
        if (strcmp(d->inputs[i], name) == 0)
            return i;
    return SIZE_MAX;
}

static bool table_has(const struct clann_table *t, const char *name, size_t *col)
{
    for (*col = 0; *col < clann_table_cols(t); (*col)++)
        if (strcmp(clann_table_column_name(t, *col), name) == 0)
            return true;
    return false;
}

/* A column a flag names must be one of the file's; single-column flags take inputs. */
static int check_column(int k, const char *name, const struct cli_data *d)
{
    size_t col;
    if (!table_has(d->table, name, &col))
        return cli_usage("--%s: the file has no column '%s'", flag_names[k], name);
    if (strcmp(name, d->label) == 0)
        return cli_usage("--%s: '%s' is the label column", flag_names[k], name);
    if (k != FLAG_CROSS && input_index(d, name) == SIZE_MAX)
        return cli_usage("--%s: column '%s' is not an input (--ignore or --features left it out)",
                         flag_names[k], name);
    if (k == FLAG_BUCKETIZE && !clann_table_column_is_numeric(d->table, col))
        return cli_usage("--bucketize: column '%s' is text; buckets need numbers", name);
    return CLI_OK;
}

/* What the flags make of d's inputs: one column each (a flag's kind or the default: numeric,
 * or a vocabulary for text), then the crosses; --embed's choices are applied by name. */
struct plan {
    const struct cli_data *d;
    struct clann_feature_column *fc;
    size_t n;
    bool *chosen;      /* per column: output and dimension set by --embed */
    int *flag_of;      /* per input: the flag that chose its kind, or -1 */
    void **owned;      /* boundaries and cross name lists, freed with the plan */
    size_t n_owned;
    char names[64][128]; /* the crosses' names as --embed spells them (a_x_b) */
};

static int plan_item(int k, const struct flag_item *it, void *user)
{
    struct plan *p = user;
    const struct cli_data *d = p->d;
    for (size_t j = 0; j < it->n_names; j++) {
        int rc = k == FLAG_EMBED ? CLI_OK : check_column(k, it->names[j], d);
        if (rc != CLI_OK)
            return rc;
    }
    size_t n = 0, i = input_index(d, it->names[0]);
    if (k != FLAG_BUCKETIZE && k != FLAG_EMBED && !item_size(k, it, &n))
        return CLI_USAGE;
    void *own = NULL;
    struct clann_feature_column *fc = k == FLAG_CROSS ? &p->fc[p->n] : k == FLAG_EMBED ? NULL
                                                                                       : &p->fc[i];
    if (k != FLAG_CROSS && k != FLAG_EMBED && p->flag_of[i] >= 0)
        return cli_usage("--%s: column '%s' is also given to --%s", flag_names[k], it->names[0],
                         flag_names[p->flag_of[i]]);
    if (k == FLAG_BUCKETIZE && (own = malloc(it->n_values * sizeof(float))) != NULL &&
        item_boundaries(it, own)) {
        *fc = clann_feature_column_default(CLANN_FEATURE_BUCKETIZED, d->inputs[i]);
        fc->boundaries = own, fc->n_boundaries = it->n_values;
    } else if (k == FLAG_HASH || k == FLAG_IDENTITY) {
        *fc = clann_feature_column_default(k == FLAG_HASH ? CLANN_FEATURE_HASH
                                                          : CLANN_FEATURE_IDENTITY, d->inputs[i]);
        fc->num_buckets = n;
    } else if (k == FLAG_CROSS && p->n - d->n_inputs < 64 &&
               (own = calloc(it->n_names, sizeof(char *) + 256)) != NULL) {
        /* the column names are copied behind their pointers: the flag's tokens go */
        char *name = p->names[p->n - d->n_inputs], *text = (char *)own + it->n_names * sizeof(char *);
        *fc = clann_feature_column_default(CLANN_FEATURE_CROSSED, NULL);
        name[0] = '\0';
        for (size_t j = 0; j < it->n_names; j++) {
            ((const char **)own)[j] = text;
            text += snprintf(text, 256, "%.255s", it->names[j]) + 1;
            snprintf(name + strlen(name), 128 - strlen(name), "%s%s", j ? "_x_" : "",
                     it->names[j]);
        }
        fc->columns = own, fc->n_columns = it->n_names, fc->num_buckets = n;
        p->n++;
    } else if (k == FLAG_EMBED) {
        return CLI_OK; /* after every column is known: apply_embed() */
    } else {
        free(own);
        return k == FLAG_CROSS && own ? cli_usage("--cross: at most 64 crosses")
                                      : cli_usage("out of memory");
    }
    if (own)
        p->owned[p->n_owned++] = own;
    if (k != FLAG_CROSS)
        p->flag_of[i] = k;
    return CLI_OK;
}

/* The name --embed and clann info give a column of the plan. */
static const char *plan_name(const struct plan *p, size_t j)
{
    return j < p->d->n_inputs ? p->d->inputs[j] : p->names[j - p->d->n_inputs];
}

static int apply_embed(int k, const struct flag_item *it, void *user)
{
    struct plan *p = user;
    if (k != FLAG_EMBED)
        return CLI_OK;
    size_t dim = 0, j = 0;
    item_size(k, it, &dim); /* checked by each_item */
    while (j < p->n && strcmp(plan_name(p, j), it->names[0]) != 0)
        j++;
    if (j == p->n || p->fc[j].kind == CLANN_FEATURE_NUMERIC)
        return cli_usage("--embed: no categorical column '%s' (text columns, --bucketize, "
                         "--hash, --identity and --cross make them)", it->names[0]);
    p->fc[j].output = dim ? CLANN_FEATURE_EMBEDDING : CLANN_FEATURE_INDICATOR;
    p->fc[j].dimension = dim;
    p->chosen[j] = true;
    return CLI_OK;
}

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned), free(p->fc), free(p->chosen), free(p->flag_of);
    free((void *)p);
}

/* The plan of d's inputs under its column flags (NULL with the usage error printed). */
static struct plan *make_plan(const struct cli_data *d, int *rc)
{
    size_t most = d->n_inputs + 65;
    struct plan *p = calloc(1, sizeof *p);
    if (p) {
        p->d = d;
        p->fc = calloc(most, sizeof *p->fc), p->chosen = calloc(most, sizeof *p->chosen);
        p->flag_of = calloc(d->n_inputs + 1, sizeof *p->flag_of);
        p->owned = calloc(most, sizeof *p->owned);
    }
    if (!p || !p->fc || !p->chosen || !p->flag_of || !p->owned) {
        *rc = cli_usage("out of memory");
        if (p)
            plan_free(p);
        return NULL;
    }
    for (size_t i = 0; i < d->n_inputs; i++) {
        size_t c;
        table_has(d->table, d->inputs[i], &c);
        p->fc[i] = clann_feature_column_default(clann_table_column_is_numeric(d->table, c)
                                                    ? CLANN_FEATURE_NUMERIC
                                                    : CLANN_FEATURE_VOCABULARY, d->inputs[i]);
        p->flag_of[i] = -1;
    }
    p->n = d->n_inputs;
    *rc = each_item(&d->columns, plan_item, p);
    if (*rc == CLI_OK)
        *rc = each_item(&d->columns, apply_embed, p);
    if (*rc != CLI_OK) {
        plan_free(p);
        return NULL;
    }
    return p;
}

int cli_column_flags_check(const struct cli_column_flags *c, const struct cli_data *d)
{
    if (!d)
        return each_item(c, NULL, NULL);
    int rc;
    struct plan *p = make_plan(d, &rc);
    if (p)
        plan_free(p);
    return rc;
}

static bool any_flag(const struct cli_column_flags *c)
{
    return c->bucketize || c->hash || c->identity || c->cross || c->embed;
}

/* Fits the plan's columns on the training table; small vocabularies and bucket sets that
 * --embed does not choose for become indicators (an embedding of dimension 1 or 2 would
 * squeeze a handful of categories for nothing). */
static int fit_features(const struct cli_data *d, struct clann_features **out)
{
    const struct clann_table *train = d->table;
    int rc;
    struct plan *p = make_plan(d, &rc);
    if (!p)
        return rc;
    struct clann_feature_column *fc = p->fc;
    size_t n = p->n;
    struct clann_features *fs = NULL;
    enum clann_status st = clann_features_create(fc, n, &fs);
    if (st == CLANN_OK)
        st = clann_features_fit(fs, train);
    bool refit = false;
    for (size_t i = 0; st == CLANN_OK && i < n; i++) {
        if (fc[i].kind != CLANN_FEATURE_NUMERIC && !p->chosen[i] &&
            clann_features_id_count(fs, plan_name(p, i)) <= INDICATOR_MAX_IDS) {
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
    plan_free(p);
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

int cli_table_model_parts(const struct clann_model *m, struct cli_data *d, const char *source)
{
    const struct clann_features *fs = clann_model_features(m);
    for (size_t i = 0; !fs && d->categorical && i < d->n_inputs; i++) {
        size_t c;
        table_has(d->table, d->inputs[i], &c);
        if (!clann_table_column_is_numeric(d->table, c))
            return cli_usage("%s has no feature columns, but column '%s' is text: describe it "
                             "in the spec's \"features\" (README: feature columns in a spec)",
                             source, d->inputs[i]);
    }
    if (!fs)
        return CLI_OK; /* the numeric inputs by name (cli_table_features) */
    struct clann_matrix *xs[3] = {&d->x, &d->dev_x, &d->test_x};
    const struct clann_table *parts[3] = {d->table, d->dev_table, d->test_table};
    int rc = CLI_OK;
    for (int k = 0; k < 3 && rc == CLI_OK; k++) {
        if (!parts[k])
            continue;
        clann_matrix_free(xs[k]);
        rc = transform(fs, parts[k], xs[k]);
    }
    if (rc == CLI_OK)
        cli_note("features: %s's feature columns -> %zu model inputs (what it leaves open "
                 "fitted on the %zu training rows)\n", source, clann_features_input_count(fs),
                 clann_table_rows(d->table));
    return rc;
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
    if (rc == CLI_OK && (d->model_columns || (!d->categorical && !any_flag(&d->columns))))
        return d->categorical ? CLI_OK : numeric_inputs(d); /* model_columns: later */
    if (rc == CLI_OK)
        rc = fit_features(d, &d->features);
    if (rc == CLI_OK)
        rc = transform(d->features, d->table, &d->x);
    if (rc == CLI_OK && d->dev_table)
        rc = transform(d->features, d->dev_table, &d->dev_x);
    if (rc == CLI_OK && d->test_table)
        rc = transform(d->features, d->test_table, &d->test_x);
    if (rc == CLI_OK) {
        cli_note("features: %zu text and numeric columns -> %zu model inputs (vocabularies "
                 "fitted on the %zu training rows)\n", d->n_inputs,
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
