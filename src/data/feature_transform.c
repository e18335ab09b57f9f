/*
 * feature_transform.c - the table-to-model-input transform of fitted feature columns.
 *
 * The transform writes, per row, the numeric features, then each categorical feature's id
 * slots: `width` floats holding ids (exact integers below 2^24) or -1 for an empty slot. Ids
 * never become one-hot rows on the host; the model's feature layer gathers embeddings (or
 * writes indicators) on the device. Hashing is XXH64 with seed 0, stable across platforms and
 * releases of xxHash, so hashed ids survive a save and load anywhere.
 */
#include "data/features.h"
#include "data/table.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

CLANN_API uint64_t clann_hash_bucket(const char *value, uint64_t n)
{
    if (!value || n == 0)
        return 0;
    return clann__hash_text(value, strlen(value)) % n;
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
        size_t e = clann__strmap_find(&f->vocab, v, len);
        *id = e != SIZE_MAX ? (float)e
              : f->oov_buckets ? (float)(f->vocab.n + clann__hash_text(v, len) % f->oov_buckets)
                               : -1.0f;
        return CLANN_OK;
    }
    if (f->kind == CLANN_FEATURE_HASH) {
        *id = (float)(clann__hash_text(v, len) % f->num_buckets);
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
                            len < CLANN__FEATURE_SHOW ? (int)len : CLANN__FEATURE_SHOW, v,
                            f->num_buckets - 1);
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
                return clann__features_no_memory();
            *key = g;
            *cap = c;
        }
        if (k)
            (*key)[len++] = 0x1f;
        memcpy(*key + len, s, n);
        len += n;
    }
    *id = (float)(clann__hash_text(*key, len) % f->num_buckets);
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
            while (st == CLANN_OK && k < f->width &&
                   clann__feature_next_value(&p, f->separator, &v, &len))
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
        st = clann__feature_resolve(&fs->f[i], t, cols);
        if (st == CLANN_OK)
            st = transform_feature(&fs->f[i], t, cols, out->data, fs->in_width);
    }
    if (st != CLANN_OK)
        clann_matrix_free(out);
    return st;
}
