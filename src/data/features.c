/*
 * features.c - feature columns (TensorFlow's): validation, fitting on a training table
 * (vocabularies, widths, dimensions), the table-to-model-input transform, and the JSON form a
 * model spec stores.
 *
 * The transform writes, per row, the numeric features, then each categorical feature's id
 * slots: `width` floats holding ids (exact integers below 2^24) or -1 for an empty slot. Ids
 * never become one-hot rows on the host; the model's feature layer gathers embeddings (or
 * writes indicators) on the device. Hashing is XXH64 with seed 0, stable across platforms and
 * releases of xxHash, so hashed ids survive a save and load anywhere.
 */
#include "data/features.h"
#include "core/kinds.h"
#include "data/json.h"
#include "data/table.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SHOW 48 /* characters of a value quoted in messages */

#define HASH_NAME "xxh64-seed0"

static uint64_t hash_text(const char *s, size_t len)
{
    return (uint64_t)XXH64(s, len, 0);
}

CLANN_API uint64_t clann_hash_bucket(const char *value, uint64_t n)
{
    if (!value || n == 0)
        return 0;
    return hash_text(value, strlen(value)) % n;
}

/* ---- string map ------------------------------------------------------------------------- */

static void map_free(struct clann__strmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        clann__free(m->keys[i]);
    clann__free(m->keys);
    clann__free(m->counts);
    clann__free(m->slots);
    memset(m, 0, sizeof *m);
}

static size_t map_find(const struct clann__strmap *m, const char *s, size_t len)
{
    if (!m->cap)
        return SIZE_MAX;
    for (size_t h = (size_t)hash_text(s, len) & (m->cap - 1);; h = (h + 1) & (m->cap - 1)) {
        size_t e = m->slots[h];
        if (e == 0)
            return SIZE_MAX;
        if (strncmp(m->keys[e - 1], s, len) == 0 && m->keys[e - 1][len] == '\0')
            return e - 1;
    }
}

static bool map_rehash(struct clann__strmap *m, size_t cap)
{
    size_t *slots = clann__calloc(cap, sizeof *slots);
    if (!slots)
        return false;
    for (size_t i = 0; i < m->n; i++) {
        size_t h = (size_t)hash_text(m->keys[i], strlen(m->keys[i])) & (cap - 1);
        while (slots[h])
            h = (h + 1) & (cap - 1);
        slots[h] = i + 1;
    }
    clann__free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return true;
}

/* Adds a copy of s[0..len) (not present yet); false when out of memory. */
static bool map_add(struct clann__strmap *m, const char *s, size_t len)
{
    if (2 * (m->n + 1) > m->cap && !map_rehash(m, m->cap ? 2 * m->cap : 64))
        return false;
    if (m->n == m->kcap) {
        size_t kcap = m->kcap ? 2 * m->kcap : 64;
        char **keys = clann__realloc(m->keys, kcap * sizeof *keys);
        size_t *counts = keys ? clann__realloc(m->counts, kcap * sizeof *counts) : NULL;
        if (keys)
            m->keys = keys;
        if (!counts)
            return false;
        m->counts = counts;
        m->kcap = kcap;
    }
    char *k = clann__malloc(len + 1);
    if (!k)
        return false;
    memcpy(k, s, len);
    k[len] = '\0';
    size_t h = (size_t)hash_text(s, len) & (m->cap - 1);
    while (m->slots[h])
        h = (h + 1) & (m->cap - 1);
    m->keys[m->n] = k;
    m->counts[m->n] = 0;
    m->slots[h] = ++m->n;
    return true;
}

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
    map_free(&f->vocab);
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

static char *dup_str(const char *s)
{
    char *d = clann__malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

static bool name_ok(const char *s)
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
    if (!name_ok(buf))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature column %zu: name '%.64s' must "
                            "have 1 to %d letters, digits, '_', '-' or '.' (set .name)", i, buf,
                            CLANN__FEATURE_NAME_MAX);
    strcpy(f->name, buf);
    return CLANN_OK;
}

static enum clann_status no_memory(void)
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
        if (map_find(&f->vocab, v[k], strlen(v[k])) != SIZE_MAX)
            return clann__error(NULL, CLANN_ERR_INVALID_ARG, "feature '%s': duplicate "
                                "vocabulary value '%.*s'", f->name, SHOW, v[k]);
        if (!map_add(&f->vocab, v[k], strlen(v[k])))
            return no_memory();
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
        return no_memory();
    for (size_t k = 0; k < f->n_sources; k++)
        if (!(f->sources[k] = dup_str(c->kind == CLANN_FEATURE_CROSSED ? c->columns[k]
                                                                        : c->column)))
            return no_memory();
    if (c->kind == CLANN_FEATURE_BUCKETIZED) {
        f->boundaries = clann__malloc(c->n_boundaries * sizeof *f->boundaries);
        if (!f->boundaries)
            return no_memory();
        memcpy(f->boundaries, c->boundaries, c->n_boundaries * sizeof *f->boundaries);
        f->n_boundaries = c->n_boundaries;
    }
    if (c->vocabulary_file && !(f->vocabulary_file = dup_str(c->vocabulary_file)))
        return no_memory();
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
        return no_memory();
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

/* The next value of a cell: [*start, *start + *len); false when none is left. A single-valued
 * cell (sep 0) has one value unless it is empty; empty values between separators are
 * skipped. */
static bool next_value(const char **p, char sep, const char **start, size_t *len)
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

/* The table columns of f, resolved; errors name the feature and list the table's columns. */
static enum clann_status resolve(const struct clann__feature *f, const struct clann_table *t,
                                 size_t *cols)
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
    size_t prev = map_find(&f->vocab, s, len);
    if (prev != SIZE_MAX)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s:%zu: duplicate vocabulary value "
                            "'%.*s' (first on line %zu)", path, line, SHOW, s, prev + 1);
    return map_add(&f->vocab, s, len) ? CLANN_OK : no_memory();
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
        while (next_value(&p, f->separator, &v, &len)) {
            size_t e = map_find(m, v, len);
            if (e == SIZE_MAX) {
                if (!map_add(m, v, len))
                    return no_memory();
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
        st = no_memory();
    if (st == CLANN_OK) {
        for (size_t i = 0; i < counts.n; i++)
            order[i] = i;
        sort_map = &counts;
        qsort(order, counts.n, sizeof *order, by_count);
        size_t keep = f->max_vocabulary && f->max_vocabulary < counts.n ? f->max_vocabulary
                                                                          : counts.n;
        for (size_t i = 0; i < keep && st == CLANN_OK; i++) {
            const char *k = counts.keys[order[i]];
            if (counts.counts[order[i]] >= f->min_count && !map_add(&f->vocab, k, strlen(k)))
                st = no_memory();
        }
    }
    clann__free(order);
    map_free(&counts);
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
        while (next_value(&p, f->separator, &v, &len))
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
    map_free(&f->vocab);
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
    enum clann_status st = resolve(f, t, cols);
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

/* Embedding dimensions and the input and output offsets of every feature. */
static void place_features(struct clann_features *fs)
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
        place_features(fs);
    fs->fitted = st == CLANN_OK;
    return st;
}

/* ---- transform ---------------------------------------------------------------------------- */

/* Bucket of x: the number of boundaries <= x. */
static size_t bucket_of(const struct clann__feature *f, float x)
{
    size_t lo = 0, hi = f->n_boundaries;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->boundaries[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The id of one value of a vocabulary, identity or hash feature (-1: ignored). */
static enum clann_status id_of(const struct clann__feature *f, const char *v, size_t len,
                               size_t row, float *id)
{
    if (f->kind == CLANN_FEATURE_VOCABULARY) {
        size_t e = map_find(&f->vocab, v, len);
        *id = e != SIZE_MAX ? (float)e
              : f->oov_buckets ? (float)(f->vocab.n + hash_text(v, len) % f->oov_buckets)
                               : -1.0f;
        return CLANN_OK;
    }
    if (f->kind == CLANN_FEATURE_HASH) {
        *id = (float)(hash_text(v, len) % f->num_buckets);
        return CLANN_OK;
    }
    char text[32] = "";
    char *end = NULL;
    long long n = -1;
    if (len < sizeof text) {
        memcpy(text, v, len);
        text[len] = '\0';
        errno = 0;
        n = strtoll(text, &end, 10);
    }
    if (!end || end == text || *end || errno || n < 0 || (unsigned long long)n >= f->num_buckets)
        return clann__error(NULL, CLANN_ERR_FORMAT, "feature '%s': column '%s', row %zu: '%.*s' "
                            "is not an id in 0..%zu", f->name, f->sources[0], row + 1,
                            len < SHOW ? (int)len : SHOW, v, f->num_buckets - 1);
    *id = (float)n;
    return CLANN_OK;
}

/* The hash bucket of a crossed feature's row: its columns' texts joined by 0x1F. */
static enum clann_status crossed_id(const struct clann__feature *f, const struct clann_table *t,
                                    const size_t *cols, size_t row, char **key, size_t *cap,
                                    float *id)
{
    size_t len = 0;
    char buf[64];
    for (size_t k = 0; k < f->n_sources; k++) {
        const char *s = clann__table_text(t, cols[k], row, buf, sizeof buf);
        size_t n = strlen(s);
        if (len + n + 2 > *cap) {
            size_t c = 2 * (len + n + 2);
            char *g = clann__realloc(*key, c);
            if (!g)
                return no_memory();
            *key = g;
            *cap = c;
        }
        if (k)
            (*key)[len++] = 0x1f;
        memcpy(*key + len, s, n);
        len += n;
    }
    *id = (float)(hash_text(*key, len) % f->num_buckets);
    return CLANN_OK;
}

/* Writes feature f of every row into out (rows x in_width). */
static enum clann_status transform_feature(const struct clann__feature *f,
                                           const struct clann_table *t, const size_t *cols,
                                           float *out, size_t ld)
{
    char buf[64], *key = NULL;
    size_t cap = 0;
    enum clann_status st = CLANN_OK;
    for (size_t r = 0; r < t->rows && st == CLANN_OK; r++) {
        float *slot = out + r * ld + f->in_off;
        if (f->kind == CLANN_FEATURE_NUMERIC) {
            slot[0] = t->c[cols[0]].num[r];
            continue;
        }
        for (size_t k = 0; k < f->width; k++)
            slot[k] = -1.0f;
        if (f->kind == CLANN_FEATURE_BUCKETIZED) {
            slot[0] = (float)bucket_of(f, t->c[cols[0]].num[r]);
        } else if (f->kind == CLANN_FEATURE_CROSSED) {
            st = crossed_id(f, t, cols, r, &key, &cap, &slot[0]);
        } else {
            const char *p = clann__table_text(t, cols[0], r, buf, sizeof buf), *v;
            size_t len, k = 0;
            while (st == CLANN_OK && k < f->width && next_value(&p, f->separator, &v, &len))
                st = id_of(f, v, len, r, &slot[k++]);
        }
    }
    clann__free(key);
    return st;
}

CLANN_API enum clann_status clann_features_transform(const struct clann_features *fs,
                                                     const struct clann_table *t,
                                                     struct clann_matrix *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "features_transform: out is NULL");
    memset(out, 0, sizeof *out);
    if (!fs || !t || t->rows == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "features_transform: need a feature "
                            "set and a non-empty table");
    if (!fs->fitted)
        return clann__error(NULL, CLANN_ERR_STATE, "features_transform: fit the feature set on "
                            "the training table first (clann_features_fit)");
    enum clann_status st = clann_matrix_create(t->rows, fs->in_width, out);
    size_t cols[64];
    for (size_t i = 0; i < fs->n && st == CLANN_OK; i++) {
        st = resolve(&fs->f[i], t, cols);
        if (st == CLANN_OK)
            st = transform_feature(&fs->f[i], t, cols, out->data, fs->in_width);
    }
    if (st != CLANN_OK)
        clann_matrix_free(out);
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
        return no_memory();
    f->n_sources = src->n_sources;
    for (size_t k = 0; k < src->n_sources; k++)
        if (!(f->sources[k] = dup_str(src->sources[k])))
            return no_memory();
    if (src->n_boundaries) {
        f->boundaries = clann__malloc(src->n_boundaries * sizeof *f->boundaries);
        if (!f->boundaries)
            return no_memory();
        memcpy(f->boundaries, src->boundaries, src->n_boundaries * sizeof *f->boundaries);
    }
    if (src->vocabulary_file && !(f->vocabulary_file = dup_str(src->vocabulary_file)))
        return no_memory();
    for (size_t k = 0; k < src->vocab.n; k++)
        if (!map_add(&f->vocab, src->vocab.keys[k], strlen(src->vocab.keys[k])))
            return no_memory();
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
        return no_memory();
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

/* ---- JSON --------------------------------------------------------------------------------- */

static struct json_object *json_strings(bool *ok, char *const *s, size_t n)
{
    struct json_object *arr = json_object_new_array_ext((int)(n < 1 ? 1 : n));
    for (size_t i = 0; i < n; i++)
        clann__json_push(ok, arr, json_object_new_string(s[i]));
    return arr;
}

/* A kind's name as a JSON string. */
static struct json_object *kind_json(const struct clann__kind_table *t, size_t value)
{
    return json_object_new_string(clann__kind_name(t, value));
}

static struct json_object *feature_json(bool *ok, const struct clann__feature *f)
{
    struct json_object *o = json_object_new_object();
    clann__json_put(ok, o, "name", json_object_new_string(f->name));
    clann__json_put(ok, o, "kind", kind_json(&clann__feature_kinds, f->kind));
    clann__json_put(ok, o, "columns", json_strings(ok, f->sources, f->n_sources));
    if (f->kind == CLANN_FEATURE_NUMERIC)
        return o;
    if (f->kind == CLANN_FEATURE_BUCKETIZED) {
        struct json_object *b = json_object_new_array();
        for (size_t k = 0; k < f->n_boundaries; k++)
            clann__json_push(ok, b, clann__json_float(f->boundaries[k]));
        clann__json_put(ok, o, "boundaries", b);
    }
    if (f->kind == CLANN_FEATURE_VOCABULARY) {
        clann__json_put(ok, o, "vocabulary", json_strings(ok, f->vocab.keys, f->vocab.n));
        clann__json_put(ok, o, "oov_buckets", json_object_new_uint64(f->oov_buckets));
    }
    if (f->kind >= CLANN_FEATURE_IDENTITY)
        clann__json_put(ok, o, "num_buckets", json_object_new_uint64(f->num_buckets));
    char sep[2] = {f->separator, '\0'};
    clann__json_put(ok, o, "separator", json_object_new_string(sep));
    clann__json_put(ok, o, "width", json_object_new_uint64(f->width));
    clann__json_put(ok, o, "combiner", kind_json(&clann__combiner_kinds, f->combiner));
    clann__json_put(ok, o, "output", kind_json(&clann__feature_output_kinds, f->output));
    clann__json_put(ok, o, "dimension", json_object_new_uint64(f->dim));
    clann__json_put(ok, o, "trainable", json_object_new_boolean(f->trainable));
    struct json_object *init = json_object_new_object();
    clann__json_put(ok, init, "kind", kind_json(&clann__initializer_kinds, f->init.kind));
    clann__json_put(ok, init, "a", clann__json_float(f->init.a));
    clann__json_put(ok, init, "b", clann__json_float(f->init.b));
    clann__json_put(ok, o, "init", init);
    return o;
}

enum clann_status clann__features_to_json(const struct clann_features *fs,
                                          struct json_object **out)
{
    bool ok = fs->fitted;
    struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
    clann__json_put(&ok, root, "hash", json_object_new_string(HASH_NAME));
    for (size_t i = 0; i < fs->n; i++)
        clann__json_push(&ok, arr, feature_json(&ok, &fs->f[i]));
    clann__json_put(&ok, root, "columns", arr);
    if (!ok) {
        json_object_put(root);
        *out = NULL;
        return fs->fitted ? no_memory()
                          : clann__error(NULL, CLANN_ERR_STATE, "features: not fitted");
    }
    *out = root;
    return CLANN_OK;
}

/* Reading: every error names the JSON path after `what`. */
struct jreader {
    struct clann_context *ctx;
    const char *what;
    char path[64];
};

static enum clann_status jbad(const struct jreader *r, const char *key, const char *problem)
{
    return clann__error(r->ctx, CLANN_ERR_FORMAT, "%s: %s.%s: %s", r->what, r->path, key,
                        problem);
}

static enum clann_status jget(const struct jreader *r, struct json_object *o, const char *key,
                              enum json_type type, struct json_object **v)
{
    if (!json_object_object_get_ex(o, key, v) || !*v)
        return jbad(r, key, "missing");
    if (!json_object_is_type(*v, type))
        return jbad(r, key, type == json_type_string ? "expected a string"
                            : type == json_type_array ? "expected an array"
                            : type == json_type_int ? "expected an integer"
                            : type == json_type_boolean ? "expected true or false"
                                                        : "expected an object");
    return CLANN_OK;
}

static enum clann_status jsize(const struct jreader *r, struct json_object *o, const char *key,
                               size_t lo, size_t hi, size_t *out)
{
    struct json_object *v;
    enum clann_status st = jget(r, o, key, json_type_int, &v);
    if (st != CLANN_OK)
        return st;
    int64_t n = json_object_get_int64(v);
    if (n < (int64_t)lo || (uint64_t)n > hi)
        return jbad(r, key, "integer out of range");
    *out = (size_t)n;
    return CLANN_OK;
}

static enum clann_status jenum(const struct jreader *r, struct json_object *o, const char *key,
                               const struct clann__kind_table *kinds, size_t *out)
{
    struct json_object *v;
    enum clann_status st = jget(r, o, key, json_type_string, &v);
    if (st == CLANN_OK && clann__kind_parse(kinds, json_object_get_string(v), out))
        return CLANN_OK;
    return st ? st : jbad(r, key, "unknown name");
}

static enum clann_status read_strings(const struct jreader *r, struct json_object *o,
                                      const char *key, struct clann__feature *f, bool vocab)
{
    struct json_object *arr;
    enum clann_status st = jget(r, o, key, json_type_array, &arr);
    size_t n = st == CLANN_OK ? json_object_array_length(arr) : 0;
    if (st == CLANN_OK && !vocab && (n == 0 || n > 64))
        return jbad(r, key, "expected 1 to 64 column names");
    if (!vocab && st == CLANN_OK && !(f->sources = clann__calloc(n, sizeof *f->sources)))
        return no_memory();
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        struct json_object *s = json_object_array_get_idx(arr, i);
        const char *v = json_object_is_type(s, json_type_string) ? json_object_get_string(s) : "";
        size_t len = strlen(v);
        if (len == 0 || len != (size_t)json_object_get_string_len(s))
            return jbad(r, key, "expected non-empty strings without NUL bytes");
        if (vocab && map_find(&f->vocab, v, len) != SIZE_MAX)
            return jbad(r, key, "duplicate value");
        if (vocab ? !map_add(&f->vocab, v, len) : !(f->sources[f->n_sources++] = dup_str(v)))
            return no_memory();
    }
    return st;
}

static enum clann_status read_boundaries(const struct jreader *r, struct json_object *o,
                                         struct clann__feature *f)
{
    struct json_object *arr;
    enum clann_status st = jget(r, o, "boundaries", json_type_array, &arr);
    size_t n = st == CLANN_OK ? json_object_array_length(arr) : 0;
    if (st == CLANN_OK && (n == 0 || n >= CLANN__FEATURE_MAX_IDS))
        return jbad(r, "boundaries", "expected 1 to 2^24 - 1 numbers");
    if (st == CLANN_OK && !(f->boundaries = clann__malloc(n * sizeof *f->boundaries)))
        return no_memory();
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        double d = NAN;
        clann__json_number(v, &d);
        f->boundaries[i] = (float)d;
        f->n_boundaries = i + 1;
        if (!isfinite(f->boundaries[i]) || (i && !(f->boundaries[i] > f->boundaries[i - 1])))
            return jbad(r, "boundaries", "expected finite, strictly increasing numbers");
    }
    return st;
}

static enum clann_status read_init(const struct jreader *r, struct json_object *o,
                                   struct clann__feature *f)
{
    struct json_object *init, *a, *b;
    size_t kind = 0;
    enum clann_status st = jget(r, o, "init", json_type_object, &init);
    if (st == CLANN_OK)
        st = jenum(r, init, "kind", &clann__initializer_kinds, &kind);
    bool num = st == CLANN_OK && json_object_object_get_ex(init, "a", &a) &&
               json_object_object_get_ex(init, "b", &b) &&
               isfinite(json_object_get_double(a)) && isfinite(json_object_get_double(b));
    if (st == CLANN_OK && !num)
        return jbad(r, "init", "expected kind, a and b");
    if (st == CLANN_OK)
        f->init = (struct clann_init){(enum clann_initializer)kind,
                                      (float)json_object_get_double(a),
                                      (float)json_object_get_double(b)};
    return st;
}

/* The options of a categorical feature. */
static enum clann_status read_categorical(const struct jreader *r, struct json_object *o,
                                          struct clann__feature *f)
{
    struct json_object *v;
    size_t e = 0;
    enum clann_status st = CLANN_OK;
    if (f->kind == CLANN_FEATURE_BUCKETIZED)
        st = read_boundaries(r, o, f);
    if (st == CLANN_OK && f->kind == CLANN_FEATURE_VOCABULARY)
        st = read_strings(r, o, "vocabulary", f, true);
    if (st == CLANN_OK && f->kind == CLANN_FEATURE_VOCABULARY)
        st = jsize(r, o, "oov_buckets", 0, CLANN__FEATURE_MAX_IDS, &f->oov_buckets);
    if (st == CLANN_OK && f->kind >= CLANN_FEATURE_IDENTITY)
        st = jsize(r, o, "num_buckets", 1, CLANN__FEATURE_MAX_IDS, &f->num_buckets);
    if (st == CLANN_OK && (st = jget(r, o, "separator", json_type_string, &v)) == CLANN_OK) {
        if (json_object_get_string_len(v) > 1)
            return jbad(r, "separator", "expected one character or none");
        f->separator = json_object_get_string(v)[0];
    }
    if (st == CLANN_OK)
        st = jsize(r, o, "width", 1, f->separator ? 1u << 16 : 1, &f->width);
    if (st == CLANN_OK && (st = jenum(r, o, "combiner", &clann__combiner_kinds, &e)) == CLANN_OK)
        f->combiner = (enum clann_combiner)e;
    if (st == CLANN_OK &&
        (st = jenum(r, o, "output", &clann__feature_output_kinds, &e)) == CLANN_OK)
        f->output = (enum clann_feature_output)e;
    if (st == CLANN_OK)
        st = jsize(r, o, "dimension", 1, CLANN__FEATURE_MAX_IDS, &f->user_dim);
    if (st == CLANN_OK && (st = jget(r, o, "trainable", json_type_boolean, &v)) == CLANN_OK)
        f->trainable = json_object_get_boolean(v);
    return st == CLANN_OK ? read_init(r, o, f) : st;
}

static enum clann_status read_feature(struct jreader *r, struct json_object *o,
                                      struct clann__feature *f)
{
    struct json_object *v;
    size_t kind = 0;
    enum clann_status st = jget(r, o, "name", json_type_string, &v);
    if (st == CLANN_OK && !name_ok(json_object_get_string(v)))
        return jbad(r, "name", "not a valid feature name");
    if (st == CLANN_OK)
        strcpy(f->name, json_object_get_string(v));
    if (st == CLANN_OK && (st = jenum(r, o, "kind", &clann__feature_kinds, &kind)))
        return st;
    f->kind = (enum clann_feature_kind)kind;
    f->vocab_given = true;
    f->width = 1;
    if (st == CLANN_OK)
        st = read_strings(r, o, "columns", f, false);
    if (st == CLANN_OK && (f->kind == CLANN_FEATURE_CROSSED) != (f->n_sources > 1))
        return jbad(r, "columns", "crossed features have 2 or more columns, others 1");
    if (st == CLANN_OK && f->kind != CLANN_FEATURE_NUMERIC)
        st = read_categorical(r, o, f);
    f->n_ids = f->kind == CLANN_FEATURE_NUMERIC ? 0
               : f->kind == CLANN_FEATURE_BUCKETIZED ? f->n_boundaries + 1
               : f->kind == CLANN_FEATURE_VOCABULARY ? f->vocab.n + f->oov_buckets
                                                    : f->num_buckets;
    if (st == CLANN_OK && f->kind != CLANN_FEATURE_NUMERIC &&
        (f->n_ids == 0 || f->n_ids > CLANN__FEATURE_MAX_IDS))
        return jbad(r, "vocabulary", "the feature must have 1 to 2^24 ids");
    if (st == CLANN_OK && f->output == CLANN_FEATURE_INDICATOR && f->user_dim != f->n_ids)
        return jbad(r, "dimension", "an indicator's dimension is its id count");
    return st;
}

enum clann_status clann__features_from_json(struct clann_context *ctx, struct json_object *obj,
                                            const char *what, struct clann_features **out)
{
    *out = NULL;
    struct jreader r = {ctx, what, "features"};
    struct json_object *hash, *arr;
    enum clann_status st = json_object_is_type(obj, json_type_object)
                               ? jget(&r, obj, "hash", json_type_string, &hash)
                               : clann__error(ctx, CLANN_ERR_FORMAT, "%s: features: expected "
                                              "an object", what);
    if (st == CLANN_OK && strcmp(json_object_get_string(hash), HASH_NAME) != 0)
        return clann__error(ctx, CLANN_ERR_UNSUPPORTED, "%s: features.hash: unknown hash '%.32s' "
                            "(this clann hashes with %s)", what, json_object_get_string(hash),
                            HASH_NAME);
    if (st == CLANN_OK)
        st = jget(&r, obj, "columns", json_type_array, &arr);
    size_t n = st == CLANN_OK ? json_object_array_length(arr) : 0;
    if (st == CLANN_OK && (n == 0 || n > 4096))
        return jbad(&r, "columns", "expected 1 to 4096 feature columns");
    struct clann_features *fs = st == CLANN_OK ? clann__calloc(1, sizeof *fs) : NULL;
    if (fs && !(fs->f = clann__calloc(n, sizeof *fs->f)))
        clann__free(fs), fs = NULL;
    if (st == CLANN_OK && !fs)
        st = no_memory();
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        snprintf(r.path, sizeof r.path, "features.columns[%zu]", i);
        fs->n = i + 1;
        st = json_object_is_type(o, json_type_object) ? read_feature(&r, o, &fs->f[i])
                                                       : jbad(&r, "", "expected an object");
        for (size_t k = 0; k < i && st == CLANN_OK; k++)
            if (strcmp(fs->f[k].name, fs->f[i].name) == 0)
                st = jbad(&r, "name", "duplicate feature name");
    }
    if (st == CLANN_OK) {
        place_features(fs);
        fs->fitted = true;
    }
    if (st != CLANN_OK) {
        clann_features_destroy(fs);
        return st;
    }
    *out = fs;
    return CLANN_OK;
}
