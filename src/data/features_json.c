/*
 * features_json.c - feature columns as JSON: the fitted state a model spec stores, and reading
 * it back with everything validated.
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
        st = clann__json_read_range(&r->j, o, r->path, "oov_buckets", 0, CLANN__FEATURE_MAX_IDS,
                                    &f->oov_buckets);
    if (st == CLANN_OK && f->kind >= CLANN_FEATURE_IDENTITY)
        st = clann__json_read_range(&r->j, o, r->path, "num_buckets", 1, CLANN__FEATURE_MAX_IDS,
                                    &f->num_buckets);
    if (st == CLANN_OK && (st = clann__json_typed(&r->j, o, r->path, "separator", json_type_string,
                                                  true, &v)) == CLANN_OK) {
        if (json_object_get_string_len(v) > 1)
            return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "separator",
                                   "expected one character or none");
        f->separator = json_object_get_string(v)[0];
    }
    if (st == CLANN_OK)
        st = clann__json_read_range(&r->j, o, r->path, "width", 1, f->separator ? 1u << 16 : 1,
                                    &f->width);
    if (st == CLANN_OK && (st = clann__json_read_enum(&r->j, o, r->path, "combiner", true,
                                                      &clann__combiner_kinds, &e)) == CLANN_OK)
        f->combiner = (enum clann_combiner)e;
    if (st == CLANN_OK &&
        (st = clann__json_read_enum(&r->j, o, r->path, "output", true, &clann__feature_output_kinds,
                                    &e)) == CLANN_OK)
        f->output = (enum clann_feature_output)e;
    if (st == CLANN_OK)
        st = clann__json_read_range(&r->j, o, r->path, "dimension", 1, CLANN__FEATURE_MAX_IDS,
                                    &f->user_dim);
    if (st == CLANN_OK && (st = clann__json_typed(&r->j, o, r->path, "trainable", json_type_boolean,
                                                  true, &v)) == CLANN_OK)
        f->trainable = json_object_get_boolean(v);
    return st == CLANN_OK ? read_init(r, o, f) : st;
}

static enum clann_status read_feature(struct jreader *r, struct json_object *o,
                                      struct clann__feature *f)
{
    struct json_object *v;
    size_t kind = 0;
    enum clann_status st = clann__json_typed(&r->j, o, r->path, "name", json_type_string, true, &v);
    if (st == CLANN_OK && !clann__feature_name_ok(json_object_get_string(v)))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "name",
                               "not a valid feature name");
    if (st == CLANN_OK)
        strcpy(f->name, json_object_get_string(v));
    if (st == CLANN_OK &&
        (st = clann__json_read_enum(&r->j, o, r->path, "kind", true, &clann__feature_kinds, &kind)))
        return st;
    f->kind = (enum clann_feature_kind)kind;
    f->vocab_given = true;
    f->width = 1;
    if (st == CLANN_OK)
        st = read_strings(r, o, "columns", f, false);
    if (st == CLANN_OK && (f->kind == CLANN_FEATURE_CROSSED) != (f->n_sources > 1))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "columns",
                               "crossed features have 2 or more columns, others 1");
    if (st == CLANN_OK && f->kind != CLANN_FEATURE_NUMERIC)
        st = read_categorical(r, o, f);
    f->n_ids = f->kind == CLANN_FEATURE_NUMERIC ? 0
               : f->kind == CLANN_FEATURE_BUCKETIZED ? f->n_boundaries + 1
               : f->kind == CLANN_FEATURE_VOCABULARY ? f->vocab.n + f->oov_buckets
                                                    : f->num_buckets;
    if (st == CLANN_OK && f->kind != CLANN_FEATURE_NUMERIC &&
        (f->n_ids == 0 || f->n_ids > CLANN__FEATURE_MAX_IDS))
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "vocabulary",
                               "the feature must have 1 to 2^24 ids");
    if (st == CLANN_OK && f->output == CLANN_FEATURE_INDICATOR && f->user_dim != f->n_ids)
        return clann__json_bad(&r->j, CLANN_ERR_FORMAT, r->path, "dimension",
                               "an indicator's dimension is its id count");
    return st;
}

enum clann_status clann__features_from_json(struct clann_context *ctx, struct json_object *obj,
                                            const char *what, struct clann_features **out)
{
    *out = NULL;
    struct jreader r = {{ctx, what}, "features"};
    struct json_object *hash, *arr;
    enum clann_status st =
        json_object_is_type(obj, json_type_object)
            ? clann__json_typed(&r.j, obj, r.path, "hash", json_type_string, true, &hash)
            : clann__error(ctx, CLANN_ERR_FORMAT,
                           "%s: features: expected "
                           "an object",
                           what);
    if (st == CLANN_OK && strcmp(json_object_get_string(hash), CLANN__HASH_NAME) != 0)
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
    if (st == CLANN_OK) {
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
