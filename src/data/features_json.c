/*
 * features_json.c - feature columns as JSON: the fitted state a model spec stores, and reading
 * it back with everything validated. A spec written by hand may describe columns as
 * struct clann_feature_column does, leaving out what a fit finds (a vocabulary, a width) and
 * the defaults; such a set comes back unfitted, for clann_features_fit() on a training table.
 */
#include "data/features.h"
#include "core/kinds.h"
#include "data/json.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

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
    clann__json_put(&ok, root, "hash", json_object_new_string(CLANN__HASH_NAME));
    for (size_t i = 0; i < fs->n; i++)
        clann__json_push(&ok, arr, feature_json(&ok, &fs->f[i]));
    clann__json_put(&ok, root, "columns", arr);
    if (!ok) {
        json_object_put(root);
        *out = NULL;
        return fs->fitted ? clann__features_no_memory()
                          : clann__error(NULL, CLANN_ERR_STATE, "features: not fitted");
    }
    *out = root;
    return CLANN_OK;
}

/* Reading: every error names the JSON path after `what` (data/json.h); path is the feature's. */
struct jreader {
    struct clann__json_reader j;
    char path[64];
};

static enum clann_status read_strings(const struct jreader *r, struct json_object *o,
                                      const char *key, struct clann__feature *f, bool vocab)
{
    struct json_object *arr;
    enum clann_status st = clann__json_typed(&r->j, o, r->path, key, json_type_array, true, &arr);
    size_t n = st == CLANN_OK ? json_object_array_length(arr) : 0;
    if (st == CLANN_OK && !vocab && (n == 0 || n > 64))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, key,
                               "expected 1 to 64 column names");
    if (!vocab && st == CLANN_OK && !(f->sources = clann__calloc(n, sizeof *f->sources)))
        return clann__features_no_memory();
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        struct json_object *s = json_object_array_get_idx(arr, i);
        const char *v = json_object_is_type(s, json_type_string) ? json_object_get_string(s) : "";
        size_t len = strlen(v);
        if (len == 0 || len != (size_t)json_object_get_string_len(s))
            return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, key,
                                   "expected non-empty strings without NUL bytes");
        if (vocab && clann__strmap_find(&f->vocab, v, len) != SIZE_MAX)
            return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, key, "duplicate value");
        if (vocab ? !clann__strmap_add(&f->vocab, v, len)
                  : !(f->sources[f->n_sources++] = clann__feature_dup_str(v)))
            return clann__features_no_memory();
    }
    return st;
}

static enum clann_status read_boundaries(const struct jreader *r, struct json_object *o,
                                         struct clann__feature *f)
{
    struct json_object *arr;
    enum clann_status st =
        clann__json_typed(&r->j, o, r->path, "boundaries", json_type_array, true, &arr);
    size_t n = st == CLANN_OK ? json_object_array_length(arr) : 0;
    if (st == CLANN_OK && (n == 0 || n >= CLANN__FEATURE_MAX_IDS))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "boundaries",
                               "expected 1 to 2^24 - 1 numbers");
    if (st == CLANN_OK && !(f->boundaries = clann__malloc(n * sizeof *f->boundaries)))
        return clann__features_no_memory();
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        double d = NAN;
        clann__json_number(v, &d);
        f->boundaries[i] = (float)d;
        f->n_boundaries = i + 1;
        if (!isfinite(f->boundaries[i]) || (i && !(f->boundaries[i] > f->boundaries[i - 1])))
            return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "boundaries",
                                   "expected finite, strictly increasing numbers");
    }
    return st;
}

static enum clann_status read_init(const struct jreader *r, struct json_object *o,
                                   struct clann__feature *f)
{
    struct json_object *init, *a, *b;
    size_t kind = 0;
    enum clann_status st =
        clann__json_typed(&r->j, o, r->path, "init", json_type_object, true, &init);
    if (st == CLANN_OK)
        st = clann__json_read_enum(&r->j, init, r->path, "kind", true, &clann__initializer_kinds,
                                   &kind);
    bool num = st == CLANN_OK && json_object_object_get_ex(init, "a", &a) &&
               json_object_object_get_ex(init, "b", &b) &&
               isfinite(json_object_get_double(a)) && isfinite(json_object_get_double(b));
    if (st == CLANN_OK && !num)
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "init", "expected kind, a and b");
    if (st == CLANN_OK)
        f->init = (struct clann_init){(enum clann_initializer)kind,
                                      (float)json_object_get_double(a),
                                      (float)json_object_get_double(b)};
    return st;
}

/* An optional integer member in lo..hi: absent leaves *out as it is. */
static enum clann_status read_optional_range(const struct jreader *r, struct json_object *o,
                                             const char *key, size_t lo, size_t hi, size_t *out)
{
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v))
        return CLANN_OK;
    return clann__json_read_range(&r->j, o, r->path, key, lo, hi, out);
}

/* How values are read: the vocabulary (a list, a file, or fitted: max_vocabulary, min_count),
 * buckets, the separator of multi-valued cells and their width (absent: fitted). */
static enum clann_status read_values(const struct jreader *r, struct json_object *o,
                                     struct clann__feature *f)
{
    struct json_object *v = NULL;
    enum clann_status st = CLANN_OK;
    bool vocab = f->kind == CLANN_FEATURE_VOCABULARY;
    if (f->kind == CLANN_FEATURE_BUCKETIZED)
        st = read_boundaries(r, o, f);
    f->vocab_given = vocab && json_object_object_get_ex(o, "vocabulary", &v);
    if (st == CLANN_OK && f->vocab_given)
        st = read_strings(r, o, "vocabulary", f, true);
    const char *file = NULL;
    if (st == CLANN_OK && vocab)
        st = clann__json_read_string(&r->j, o, r->path, "vocabulary_file", false, &file);
    if (st == CLANN_OK && file && (f->vocab_given || !*file))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "vocabulary_file",
                               f->vocab_given ? "give a vocabulary or a file, not both"
                                              : "expected a file name");
    if (st == CLANN_OK && file && !(f->vocabulary_file = clann__feature_dup_str(file)))
        return clann__features_no_memory();
    f->oov_buckets = vocab ? 1 : 0;
    if (st == CLANN_OK && vocab)
        st = read_optional_range(r, o, "oov_buckets", 0, CLANN__FEATURE_MAX_IDS, &f->oov_buckets);
    if (st == CLANN_OK && vocab)
        st = read_optional_range(r, o, "max_vocabulary", 0, CLANN__FEATURE_MAX_IDS,
                                 &f->max_vocabulary);
    if (st == CLANN_OK && vocab)
        st = read_optional_range(r, o, "min_count", 1, SIZE_MAX >> 1, &f->min_count);
    if (st == CLANN_OK && f->kind >= CLANN_FEATURE_IDENTITY)
        st = clann__json_read_range(&r->j, o, r->path, "num_buckets", 1, CLANN__FEATURE_MAX_IDS,
                                    &f->num_buckets);
    if (st == CLANN_OK && (st = clann__json_typed(&r->j, o, r->path, "separator", json_type_string,
                                                  false, &v)) == CLANN_OK && v) {
        if (json_object_get_string_len(v) > 1)
            return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "separator",
                                   "expected one character or none");
        f->separator = json_object_get_string(v)[0];
    }
    /* A given width is kept by a later fit (as max_values); absent, the fit measures it. */
    if (st == CLANN_OK)
        st = read_optional_range(r, o, "width", 1, f->separator ? 1u << 16 : 1, &f->max_values);
    f->width = f->separator ? f->max_values : 1;
    return st;
}

/* The options of a categorical feature; all but the values' are optional (the defaults of
 * clann_feature_column_default(): mean, embedding of automatic dimension, trainable). */
static enum clann_status read_categorical(const struct jreader *r, struct json_object *o,
                                          struct clann__feature *f)
{
    struct json_object *v = NULL;
    size_t e = 0;
    enum clann_status st = read_values(r, o, f);
    if (st == CLANN_OK && (st = clann__json_read_enum(&r->j, o, r->path, "combiner", false,
                                                      &clann__combiner_kinds, &e)) == CLANN_OK)
        f->combiner = (enum clann_combiner)e;
    e = CLANN_FEATURE_EMBEDDING;
    if (st == CLANN_OK &&
        (st = clann__json_read_enum(&r->j, o, r->path, "output", false,
                                    &clann__feature_output_kinds, &e)) == CLANN_OK)
        f->output = (enum clann_feature_output)e;
    if (st == CLANN_OK)
        st = read_optional_range(r, o, "dimension", 1, CLANN__FEATURE_MAX_IDS, &f->user_dim);
    f->trainable = true;
    if (st == CLANN_OK && (st = clann__json_typed(&r->j, o, r->path, "trainable",
                                                  json_type_boolean, false, &v)) == CLANN_OK && v)
        f->trainable = json_object_get_boolean(v);
    if (st == CLANN_OK && json_object_object_get_ex(o, "init", &v))
        st = read_init(r, o, f);
    return st;
}

/* The feature's name: given, or its column's (crossed: the columns' joined by '_x_'), as
 * clann_features_create() names it. */
static enum clann_status read_name(struct jreader *r, struct json_object *o,
                                   struct clann__feature *f)
{
    const char *given = NULL;
    enum clann_status st = clann__json_read_string(&r->j, o, r->path, "name", false, &given);
    char buf[256] = "";
    if (given)
        snprintf(buf, sizeof buf, "%s", given);
    for (size_t k = 0; !given && k < f->n_sources; k++)
        snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s", k ? "_x_" : "",
                 f->sources[k]);
    if (st == CLANN_OK && !clann__feature_name_ok(buf))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "name",
                               "'%.64s' is not a valid feature name (1 to %d letters, digits, "
                               "'_', '-' or '.'; set \"name\")", buf, CLANN__FEATURE_NAME_MAX);
    if (st == CLANN_OK)
        strcpy(f->name, buf);
    return st;
}

/* Whether a feature is complete without a table: its vocabulary and width are given. */
static bool feature_pinned(const struct clann__feature *f)
{
    return (f->kind != CLANN_FEATURE_VOCABULARY || f->vocab_given) &&
           (!f->separator || f->max_values);
}

static enum clann_status read_feature(struct jreader *r, struct json_object *o,
                                      struct clann__feature *f)
{
    size_t kind = 0;
    enum clann_status st =
        clann__json_read_enum(&r->j, o, r->path, "kind", true, &clann__feature_kinds, &kind);
    if (st != CLANN_OK)
        return st;
    f->kind = (enum clann_feature_kind)kind;
    f->min_count = 1;
    f->width = 1;
    st = read_strings(r, o, "columns", f, false);
    if (st == CLANN_OK && (f->kind == CLANN_FEATURE_CROSSED) != (f->n_sources > 1))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "columns",
                               "crossed features have 2 or more columns, others 1");
    if (st == CLANN_OK)
        st = read_name(r, o, f);
    if (st == CLANN_OK && f->kind != CLANN_FEATURE_NUMERIC)
        st = read_categorical(r, o, f);
    if (st == CLANN_OK && f->separator && (f->kind == CLANN_FEATURE_BUCKETIZED ||
                                           f->kind == CLANN_FEATURE_CROSSED))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "separator",
                               "only vocabulary, identity and hash features are multi-valued");
    if (st != CLANN_OK || !feature_pinned(f))
        return st; /* the ids are counted when the feature is fitted */
    f->n_ids = f->kind == CLANN_FEATURE_NUMERIC ? 0
               : f->kind == CLANN_FEATURE_BUCKETIZED ? f->n_boundaries + 1
               : f->kind == CLANN_FEATURE_VOCABULARY ? f->vocab.n + f->oov_buckets
                                                    : f->num_buckets;
    if (f->kind != CLANN_FEATURE_NUMERIC && (f->n_ids == 0 || f->n_ids > CLANN__FEATURE_MAX_IDS))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "vocabulary",
                               "the feature must have 1 to 2^24 ids");
    if (f->output == CLANN_FEATURE_INDICATOR && f->user_dim && f->user_dim != f->n_ids)
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "dimension",
                               "an indicator's dimension is its id count");
    return CLANN_OK;
}

enum clann_status clann__features_from_json(struct clann_context *ctx, struct json_object *obj,
                                            const char *what, struct clann_features **out)
{
    *out = NULL;
    struct jreader r = {{ctx, what, false}, "features"};
    struct json_object *hash = NULL, *arr;
    /* "hash" names the hash of hash-bucket and crossed ids: a spec written by hand may leave
     * it out (this clann's), a model file always has it. */
    enum clann_status st =
        json_object_is_type(obj, json_type_object)
            ? clann__json_typed(&r.j, obj, r.path, "hash", json_type_string, false, &hash)
            : clann__error(ctx, CLANN_ERR_FORMAT, "%s: features: expected an object", what);
    if (st == CLANN_OK && hash && strcmp(json_object_get_string(hash), CLANN__HASH_NAME) != 0)
        return clann__error(ctx, CLANN_ERR_UNSUPPORTED, "%s: features.hash: unknown hash '%.32s' "
                            "(this clann hashes with %s)", what, json_object_get_string(hash),
                            CLANN__HASH_NAME);
    if (st == CLANN_OK)
        st = clann__json_typed(&r.j, obj, r.path, "columns", json_type_array, true, &arr);
    size_t n = st == CLANN_OK ? json_object_array_length(arr) : 0;
    if (st == CLANN_OK && (n == 0 || n > 4096))
        return clann__json_bad(&r.j, CLANN_ERR_FORMAT, r.path, "columns",
                               "expected 1 to 4096 feature columns");
    struct clann_features *fs = st == CLANN_OK ? clann__calloc(1, sizeof *fs) : NULL;
    if (fs && !(fs->f = clann__calloc(n, sizeof *fs->f)))
        clann__free(fs), fs = NULL;
    if (st == CLANN_OK && !fs)
        st = clann__features_no_memory();
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        struct json_object *o = json_object_array_get_idx(arr, i);
        snprintf(r.path, sizeof r.path, "features.columns[%zu]", i);
        fs->n = i + 1;
        st = json_object_is_type(o, json_type_object)
                 ? read_feature(&r, o, &fs->f[i])
                 : clann__json_bad(&r.j, CLANN_ERR_FORMAT, r.path, "", "expected an object");
        for (size_t k = 0; k < i && st == CLANN_OK; k++)
            if (strcmp(fs->f[k].name, fs->f[i].name) == 0)
                st = clann__json_bad(&r.j, CLANN_ERR_FORMAT, r.path, "name",
                                     "duplicate feature name");
    }
    /* Complete features are fitted now; others (a vocabulary or a width left out) are fitted
     * on a training table by clann_features_fit(), which keeps what is given. */
    bool pinned = true;
    for (size_t i = 0; st == CLANN_OK && i < n; i++)
        pinned = pinned && feature_pinned(&fs->f[i]);
    if (st == CLANN_OK && pinned) {
        clann__features_place(fs);
        fs->fitted = true;
    }
    if (st != CLANN_OK) {
        clann_features_destroy(fs);
        return st;
    }
    *out = fs;
    return CLANN_OK;
}
