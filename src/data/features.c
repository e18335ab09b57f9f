/*
 * features.c - feature columns (TensorFlow's): validation and fitting on a training table
 * (vocabularies, widths, dimensions), lookups and copies. The table-to-model-input transform
 * is in feature_transform.c, the JSON form a model spec stores in features_json.c.
 */
#include "data/features.h"
#include "core/kinds.h"
#include "data/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- creation ----------------------------------------------------------------------------- */

CLANN_API struct clann_feature_column clann_feature_column_default(enum clann_feature_kind kind,
                                                                   const char *column)
{
    struct clann_feature_column c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.column = column;
    c.min_count = 1;
    c.oov_buckets = 1;
    c.combiner = CLANN_COMBINER_MEAN;
    c.output = CLANN_FEATURE_EMBEDDING;
    c.trainable = true;
    return c;
}

static void feature_free(struct clann__feature *f)
{
    for (size_t i = 0; i < f->n_sources; i++)
        clann__free(f->sources[i]);
    clann__free(f->sources);
    clann__free(f->boundaries);
    clann__free((char *)f->vocabulary_file);
    clann__strmap_free(&f->vocab);
}

CLANN_API void clann_features_destroy(struct clann_features *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->n; i++)
        feature_free(&fs->f[i]);
    clann__free(fs->f);
    clann__free(fs);
}

char *clann__feature_dup_str(const char *s)
{
    char *d = clann__malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

bool clann__feature_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > CLANN__FEATURE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static enum clann_status bad_column(size_t i, const char *fmt, const char *detail)
{
    return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature column %zu: %s%s", i, fmt,
                        detail ? detail : "");
}

/* The kind-specific checks of column i. */
static enum clann_status check_column(const struct clann_feature_column *c, size_t i)
{
    if ((unsigned)c->kind > CLANN_FEATURE_CROSSED)
        return bad_column(i, "unknown kind", NULL);
    if (c->kind == CLANN_FEATURE_CROSSED ? (!c->columns || c->n_columns < 2) : !c->column)
        return bad_column(i, c->kind == CLANN_FEATURE_CROSSED ? "a crossed column needs at "
                          "least 2 columns" : "no table column given", NULL);
    for (size_t k = 0; c->kind == CLANN_FEATURE_CROSSED && k < c->n_columns; k++)
        if (!c->columns[k])
            return bad_column(i, "a crossed column's column name is NULL", NULL);
    if (c->kind == CLANN_FEATURE_BUCKETIZED && (!c->boundaries || c->n_boundaries == 0))
        return bad_column(i, "bucketized needs at least one boundary", NULL);
    for (size_t k = 0; c->kind == CLANN_FEATURE_BUCKETIZED && k < c->n_boundaries; k++)
        if (!isfinite(c->boundaries[k]) || (k && !(c->boundaries[k] > c->boundaries[k - 1])))
            return bad_column(i, "boundaries must be finite and strictly increasing", NULL);
    bool buckets = c->kind == CLANN_FEATURE_IDENTITY || c->kind == CLANN_FEATURE_HASH ||
                   c->kind == CLANN_FEATURE_CROSSED;
    if (buckets && (c->num_buckets == 0 || c->num_buckets > CLANN__FEATURE_MAX_IDS))
        return bad_column(i, "num_buckets must be in 1..2^24", NULL);
    if (c->kind == CLANN_FEATURE_VOCABULARY && c->vocabulary && c->vocabulary_file)
        return bad_column(i, "give a vocabulary list or a file, not both", NULL);
    if ((c->kind == CLANN_FEATURE_BUCKETIZED || c->kind == CLANN_FEATURE_CROSSED ||
         c->kind == CLANN_FEATURE_NUMERIC) && c->separator)
        return bad_column(i, "only vocabulary, identity and hash columns can be multi-valued",
                          NULL);
    if ((unsigned)c->combiner > CLANN_COMBINER_SQRTN ||
        (unsigned)c->output > CLANN_FEATURE_INDICATOR)
        return bad_column(i, "unknown combiner or output", NULL);
    return CLANN_OK;
}

/* The feature's name: given, or derived from its column(s). */
static enum clann_status set_name(struct clann__feature *f, const struct clann_feature_column *c,
                                  size_t i)
{
    char buf[256] = "";
    if (c->name) {
        snprintf(buf, sizeof buf, "%s", c->name);
    } else if (c->kind == CLANN_FEATURE_CROSSED) {
        for (size_t k = 0; k < c->n_columns; k++)
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? "_x_" : "",
                     c->columns[k]);
    } else {
        snprintf(buf, sizeof buf, "%s", c->column);
    }
    if (!clann__feature_name_ok(buf))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature column %zu: name '%.64s' must "
                            "have 1 to %d letters, digits, '_', '-' or '.' (set .name)", i, buf,
                            CLANN__FEATURE_NAME_MAX);
    strcpy(f->name, buf);
    return CLANN_OK;
}

enum clann_status clann__features_no_memory(void)
{
    return clann__error(NULL, CLANN_ERR_NO_MEMORY, "feature columns: out of memory");
}

/* Fixed vocabulary list: distinct values. */
static enum clann_status vocab_from_list(struct clann__feature *f, const char *const *v,
                                         size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!v[k] || !*v[k])
            return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': vocabulary entry "
                                "%zu is empty", f->name, k);
        if (clann__strmap_find(&f->vocab, v[k], strlen(v[k])) != SIZE_MAX)
            return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': duplicate "
                                "vocabulary value '%.*s'", f->name, CLANN__FEATURE_SHOW, v[k]);
        if (!clann__strmap_add(&f->vocab, v[k], strlen(v[k])))
            return clann__features_no_memory();
    }
    return CLANN_OK;
}

static enum clann_status copy_column(struct clann__feature *f,
                                     const struct clann_feature_column *c)
{
    f->kind = c->kind;
    f->n_sources = c->kind == CLANN_FEATURE_CROSSED ? c->n_columns : 1;
    f->sources = clann__calloc(f->n_sources, sizeof *f->sources);
    if (!f->sources)
        return clann__features_no_memory();
    for (size_t k = 0; k < f->n_sources; k++)
        if (!(f->sources[k] = clann__feature_dup_str(c->kind == CLANN_FEATURE_CROSSED
                                                         ? c->columns[k] : c->column)))
            return clann__features_no_memory();
    if (c->kind == CLANN_FEATURE_BUCKETIZED) {
        f->boundaries = clann__malloc(c->n_boundaries * sizeof *f->boundaries);
        if (!f->boundaries)
            return clann__features_no_memory();
        memcpy(f->boundaries, c->boundaries, c->n_boundaries * sizeof *f->boundaries);
        f->n_boundaries = c->n_boundaries;
    }
    if (c->vocabulary_file && !(f->vocabulary_file = clann__feature_dup_str(c->vocabulary_file)))
        return clann__features_no_memory();
    f->max_vocabulary = c->max_vocabulary;
    f->min_count = c->min_count ? c->min_count : 1;
    f->oov_buckets = c->kind == CLANN_FEATURE_VOCABULARY ? c->oov_buckets : 0;
    f->num_buckets = c->num_buckets;
    f->max_values = c->max_values;
    f->separator = c->separator;
    f->combiner = c->combiner;
    f->output = c->output;
    f->user_dim = c->dimension;
    f->trainable = c->trainable;
    f->init = c->init;
    f->vocab_given = c->kind == CLANN_FEATURE_VOCABULARY && c->vocabulary;
    if (f->vocab_given)
        return vocab_from_list(f, c->vocabulary, c->vocabulary_size);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_features_create(const struct clann_feature_column *columns,
                                                  size_t n, struct clann_features **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "features_create: out is NULL");
    *out = NULL;
    if (!columns || n == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "features_create: no columns");
    struct clann_features *fs = clann__calloc(1, sizeof *fs);
    if (fs)
        fs->f = clann__calloc(n, sizeof *fs->f);
    if (!fs || !fs->f) {
        clann__free(fs);
        return clann__features_no_memory();
    }
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        fs->n = i + 1;
        st = check_column(&columns[i], i);
        if (st == CLANN_OK)
            st = set_name(&fs->f[i], &columns[i], i);
        for (size_t k = 0; k < i && st == CLANN_OK; k++)
            if (strcmp(fs->f[k].name, fs->f[i].name) == 0)
                st = clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature columns %zu and %zu "
                                  "are both named '%s'", k, i, fs->f[i].name);
        if (st == CLANN_OK)
            st = copy_column(&fs->f[i], &columns[i]);
    }
    if (st != CLANN_OK) {
        clann_features_destroy(fs);
        return st;
    }
    *out = fs;
    return CLANN_OK;
}

/* ---- values of a cell ---------------------------------------------------------------------- */

bool clann__feature_next_value(const char **p, char sep, const char **start, size_t *len)
{
    const char *s = *p;
    if (sep == 0) {
        *start = s;
        *len = strlen(s);
        *p = s + *len;
        return *len > 0;
    }
    while (*s == sep)
        s++;
    if (!*s)
        return false;
    const char *e = strchr(s, sep);
    *start = s;
    *len = e ? (size_t)(e - s) : strlen(s);
    *p = s + *len;
    return true;
}

enum clann_status clann__feature_resolve(const struct clann__feature *f,
                                        const struct clann_table *t, size_t *cols)
{
    for (size_t k = 0; k < f->n_sources; k++) {
        cols[k] = clann__table_find(t, f->sources[k]);
        if (cols[k] == SIZE_MAX) {
            char names[512];
            clann__table_names(t, names, sizeof names);
            return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': the table has no "
                                "column '%s' (columns: %s)", f->name, f->sources[k], names);
        }
        bool needs_numbers = f->kind == CLANN_FEATURE_NUMERIC ||
                             f->kind == CLANN_FEATURE_BUCKETIZED;
        if (needs_numbers && !t->c[cols[k]].numeric)
            return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': column '%s' is text; "
                                "a %s feature needs numbers", f->name, f->sources[k],
                                clann__kind_name(&clann__feature_kinds, f->kind));
    }
    return CLANN_OK;
}

/* ---- fitting ------------------------------------------------------------------------------ */

static enum clann_status read_vocab_line(struct clann__feature *f, const char *path,
                                         size_t line, char *s, size_t len)
{
    if (len && s[len - 1] == '\r')
        s[--len] = '\0';
    if (strlen(s) != len)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s:%zu: NUL byte in a vocabulary value",
                            path, line);
    if (len == 0)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s:%zu: empty vocabulary value", path,
                            line);
    size_t prev = clann__strmap_find(&f->vocab, s, len);
    if (prev != SIZE_MAX)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s:%zu: duplicate vocabulary value "
                            "'%.*s' (first on line %zu)", path, line, CLANN__FEATURE_SHOW, s,
                            prev + 1);
    return clann__strmap_add(&f->vocab, s, len) ? CLANN_OK : clann__features_no_memory();
}

/* One value per line, LF or CRLF; no empty lines, no duplicates. */
static enum clann_status vocab_from_file(struct clann__feature *f)
{
    const char *path = f->vocabulary_file;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return clann__error(NULL, CLANN_ERR_IO, "feature '%s': vocabulary file %s: %s", f->name,
                            path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, no = 0;
    ssize_t got;
    enum clann_status st = CLANN_OK;
    while (st == CLANN_OK && (got = getline(&line, &cap, fp)) >= 0) {
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        st = read_vocab_line(f, path, ++no, line, len);
    }
    if (st == CLANN_OK && ferror(fp))
        st = clann__error(NULL, CLANN_ERR_IO, "%s: read error: %s", path, strerror(errno));
    if (st == CLANN_OK && f->vocab.n == 0)
        st = clann__error(NULL, CLANN_ERR_FORMAT, "%s: the vocabulary file has no values", path);
    free(line); /* getline allocates with malloc */
    fclose(fp);
    return st;
}

static const struct clann__strmap *sort_map; /* qsort has no context argument */

/* Most frequent first, ties in byte order: the same training data gives the same ids. */
static int by_count(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (sort_map->counts[i] != sort_map->counts[j])
        return sort_map->counts[i] > sort_map->counts[j] ? -1 : 1;
    return strcmp(sort_map->keys[i], sort_map->keys[j]);
}

static enum clann_status count_values(const struct clann__feature *f,
                                      const struct clann_table *t, size_t col,
                                      struct clann__strmap *m)
{
    char buf[64];
    for (size_t r = 0; r < t->rows; r++) {
        const char *p = clann__table_text(t, col, r, buf, sizeof buf), *v;
        size_t len;
        while (clann__feature_next_value(&p, f->separator, &v, &len)) {
            size_t e = clann__strmap_find(m, v, len);
            if (e == SIZE_MAX) {
                if (!clann__strmap_add(m, v, len))
                    return clann__features_no_memory();
                e = m->n - 1;
            }
            m->counts[e]++;
        }
    }
    return CLANN_OK;
}

static enum clann_status vocab_fitted(struct clann__feature *f, const struct clann_table *t,
                                      size_t col)
{
    struct clann__strmap counts;
    memset(&counts, 0, sizeof counts);
    enum clann_status st = count_values(f, t, col, &counts);
    size_t *order = st == CLANN_OK ? clann__malloc((counts.n + 1) * sizeof *order) : NULL;
    if (st == CLANN_OK && !order)
        st = clann__features_no_memory();
    if (st == CLANN_OK) {
        for (size_t i = 0; i < counts.n; i++)
            order[i] = i;
        sort_map = &counts;
        qsort(order, counts.n, sizeof *order, by_count);
        size_t keep = f->max_vocabulary && f->max_vocabulary < counts.n ? f->max_vocabulary
                                                                          : counts.n;
        for (size_t i = 0; i < keep && st == CLANN_OK; i++) {
            const char *k = counts.keys[order[i]];
            if (counts.counts[order[i]] >= f->min_count &&
                !clann__strmap_add(&f->vocab, k, strlen(k)))
                st = clann__features_no_memory();
        }
    }
    clann__free(order);
    clann__strmap_free(&counts);
    return st;
}

/* The most values of a multi-valued column in one training row. */
static size_t max_width(const struct clann__feature *f, const struct clann_table *t, size_t col)
{
    size_t most = 1;
    char buf[64];
    for (size_t r = 0; r < t->rows; r++) {
        const char *p = clann__table_text(t, col, r, buf, sizeof buf), *v;
        size_t len, n = 0;
        while (clann__feature_next_value(&p, f->separator, &v, &len))
            n++;
        most = n > most ? n : most;
    }
    return most;
}

static enum clann_status fit_vocabulary(struct clann__feature *f, const struct clann_table *t,
                                        size_t col, bool given)
{
    if (given)
        return CLANN_OK;
    clann__strmap_free(&f->vocab);
    enum clann_status st = f->vocabulary_file ? vocab_from_file(f) : vocab_fitted(f, t, col);
    if (st == CLANN_OK && f->vocab.n + f->oov_buckets == 0)
        st = clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': empty vocabulary and no "
                          "OOV buckets", f->name);
    return st;
}

static enum clann_status fit_feature(struct clann__feature *f, const struct clann_table *t,
                                     bool given_vocab)
{
    size_t cols[64];
    if (f->n_sources > 64)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': more than 64 crossed "
                            "columns", f->name);
    enum clann_status st = clann__feature_resolve(f, t, cols);
    if (st == CLANN_OK && f->kind == CLANN_FEATURE_VOCABULARY)
        st = fit_vocabulary(f, t, cols[0], given_vocab);
    if (st != CLANN_OK)
        return st;
    switch (f->kind) {
    case CLANN_FEATURE_NUMERIC: f->n_ids = 0; break;
    case CLANN_FEATURE_BUCKETIZED: f->n_ids = f->n_boundaries + 1; break;
    case CLANN_FEATURE_VOCABULARY: f->n_ids = f->vocab.n + f->oov_buckets; break;
    default: f->n_ids = f->num_buckets; break;
    }
    if (f->n_ids > CLANN__FEATURE_MAX_IDS)
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "feature '%s': %zu ids exceed the limit "
                            "of 2^24", f->name, f->n_ids);
    f->width = !f->separator ? 1 : f->max_values ? f->max_values : max_width(f, t, cols[0]);
    return CLANN_OK;
}

void clann__features_place(struct clann_features *fs)
{
    size_t in = 0, out = 0;
    for (size_t i = 0; i < fs->n; i++) {
        struct clann__feature *f = &fs->f[i];
        if (f->kind != CLANN_FEATURE_NUMERIC)
            continue;
        f->dim = 1;
        f->in_off = in++;
        f->out_off = out++;
    }
    fs->n_numeric = in;
    for (size_t i = 0; i < fs->n; i++) {
        struct clann__feature *f = &fs->f[i];
        if (f->kind == CLANN_FEATURE_NUMERIC)
            continue;
        if (f->output == CLANN_FEATURE_INDICATOR)
            f->dim = f->n_ids;
        else if (f->user_dim)
            f->dim = f->user_dim;
        else /* TensorFlow's rule of thumb: the fourth root of the vocabulary size */
            f->dim = lround(pow((double)f->n_ids, 0.25)) > 1
                         ? (size_t)lround(pow((double)f->n_ids, 0.25)) : 1;
        f->in_off = in;
        f->out_off = out;
        in += f->width;
        out += f->dim;
    }
    fs->in_width = in;
    fs->out_width = out;
}

CLANN_API enum clann_status clann_features_fit(struct clann_features *fs,
                                               const struct clann_table *train)
{
    if (!fs || !train || train->rows == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "features_fit: need a feature set and "
                            "a non-empty training table");
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < fs->n && st == CLANN_OK; i++)
        st = fit_feature(&fs->f[i], train, fs->f[i].vocab_given);
    if (st == CLANN_OK)
        clann__features_place(fs);
    fs->fitted = st == CLANN_OK;
    return st;
}

const struct clann__feature *clann__features_find(const struct clann_features *fs,
                                                  const char *name)
{
    for (size_t i = 0; fs && name && i < fs->n; i++)
        if (strcmp(fs->f[i].name, name) == 0)
            return &fs->f[i];
    return NULL;
}

CLANN_API size_t clann_features_input_count(const struct clann_features *fs)
{
    return fs && fs->fitted ? fs->in_width : 0;
}

CLANN_API size_t clann_features_id_count(const struct clann_features *fs, const char *feature)
{
    const struct clann__feature *f = clann__features_find(fs, feature);
    return f && fs->fitted ? f->n_ids : 0;
}

CLANN_API const char *clann_features_value(const struct clann_features *fs, const char *feature,
                                           size_t id)
{
    const struct clann__feature *f = clann__features_find(fs, feature);
    if (!f || f->kind != CLANN_FEATURE_VOCABULARY || id >= f->vocab.n)
        return NULL;
    return f->vocab.keys[id];
}

/* ---- copies ------------------------------------------------------------------------------- */

static enum clann_status clone_feature(const struct clann__feature *src,
                                       struct clann__feature *f)
{
    *f = *src;
    f->sources = NULL;
    f->n_sources = 0;
    f->boundaries = NULL;
    f->vocabulary_file = NULL;
    memset(&f->vocab, 0, sizeof f->vocab);
    f->sources = clann__calloc(src->n_sources, sizeof *f->sources);
    if (!f->sources)
        return clann__features_no_memory();
    f->n_sources = src->n_sources;
    for (size_t k = 0; k < src->n_sources; k++)
        if (!(f->sources[k] = clann__feature_dup_str(src->sources[k])))
            return clann__features_no_memory();
    if (src->n_boundaries) {
        f->boundaries = clann__malloc(src->n_boundaries * sizeof *f->boundaries);
        if (!f->boundaries)
            return clann__features_no_memory();
        memcpy(f->boundaries, src->boundaries, src->n_boundaries * sizeof *f->boundaries);
    }
    if (src->vocabulary_file &&
        !(f->vocabulary_file = clann__feature_dup_str(src->vocabulary_file)))
        return clann__features_no_memory();
    for (size_t k = 0; k < src->vocab.n; k++)
        if (!clann__strmap_add(&f->vocab, src->vocab.keys[k], strlen(src->vocab.keys[k])))
            return clann__features_no_memory();
    return CLANN_OK;
}

enum clann_status clann__features_clone(const struct clann_features *fs,
                                        struct clann_features **out)
{
    *out = NULL;
    struct clann_features *c = clann__calloc(1, sizeof *c);
    if (c)
        c->f = clann__calloc(fs->n, sizeof *c->f);
    if (!c || !c->f) {
        clann__free(c);
        return clann__features_no_memory();
    }
    *c = (struct clann_features){c->f, 0, fs->fitted, fs->n_numeric, fs->in_width,
                                 fs->out_width};
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < fs->n && st == CLANN_OK; i++) {
        c->n = i + 1;
        st = clone_feature(&fs->f[i], &c->f[i]);
    }
    if (st != CLANN_OK) {
        clann_features_destroy(c);
        return st;
    }
    *out = c;
    return CLANN_OK;
}
