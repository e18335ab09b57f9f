/*
 * features.h - feature columns on the host: their fitted state (vocabularies, widths, offsets;
 * features.c), the table-to-matrix transform (feature_transform.c) and the JSON form stored in
 * model specs (features_json.c).
 * Shared with the embedding layer (src/nn/embedding.c), the spec (src/io/spec.c) and the
 * model file (src/io/model_file.c).
 */
#ifndef CLANN_FEATURES_H
#define CLANN_FEATURES_H

#include "core/internal.h"
#include "data/strmap.h"

/* Feature names become tensor names "layers.<i>.embedding.<name>", at most 64 bytes. */
#define CLANN__FEATURE_NAME_MAX 40
/* Ids travel as floats in the input matrix, exact up to 2^24. */
#define CLANN__FEATURE_MAX_IDS ((size_t)1 << 24)

struct json_object;

struct clann__feature {
    enum clann_feature_kind kind;
    char name[CLANN__FEATURE_NAME_MAX + 1];
    char **sources;          /* table column names, owned */
    size_t n_sources;
    float *boundaries;       /* bucketized, owned */
    size_t n_boundaries;
    struct clann__strmap vocab; /* vocabulary kind: the values, id = index */
    const char *vocabulary_file; /* borrowed until fit; NULL afterwards */
    size_t max_vocabulary, min_count, oov_buckets, num_buckets, max_values;
    char separator;
    enum clann_combiner combiner;
    enum clann_feature_output output;
    bool trainable;
    struct clann_init init;
    size_t user_dim;   /* the dimension asked for (0: automatic) */
    bool vocab_given;  /* a fixed vocabulary (a list, or one read back from a model file) */
    /* Fitted. */
    size_t n_ids;   /* categorical: distinct ids (vocabulary + OOV buckets, or buckets) */
    size_t width;   /* input slots: 1 for numeric and single-valued columns */
    size_t dim;     /* output width: 1 (numeric), the embedding dimension, or n_ids */
    size_t in_off, out_off;
};

struct clann_features {
    struct clann__feature *f;
    size_t n;
    bool fitted;
    size_t n_numeric; /* the numeric features come first in the input and the output */
    size_t in_width, out_width;
};

static inline bool clann__feature_is_categorical(const struct clann__feature *f)
{
    return f->kind != CLANN_FEATURE_NUMERIC;
}

static inline bool clann__feature_has_table(const struct clann__feature *f)
{
    return f->kind != CLANN_FEATURE_NUMERIC && f->output == CLANN_FEATURE_EMBEDDING;
}

/* The feature named `name`, or NULL. */
const struct clann__feature *clann__features_find(const struct clann_features *fs,
                                                  const char *name);
/* A deep copy. */
enum clann_status clann__features_clone(const struct clann_features *fs,
                                        struct clann_features **out);
/* The fitted feature set as JSON, and back (validating everything; errors name the JSON path
 * after `what`). Read back, a set whose vocabularies and multi-valued widths are all given is
 * fitted; one that leaves any out is not (fs->fitted false) until clann_features_fit(), which
 * keeps what was given: vocabulary lists, widths (as max_values) and dimensions. */
enum clann_status clann__features_to_json(const struct clann_features *fs,
                                          struct json_object **out);
enum clann_status clann__features_from_json(struct clann_context *ctx, struct json_object *obj,
                                            const char *what, struct clann_features **out);

/* Shared by the features files. */
#define CLANN__FEATURE_SHOW 48 /* characters of a value quoted in messages */
enum clann_status clann__features_no_memory(void);
char *clann__feature_dup_str(const char *s);
/* 1 to CLANN__FEATURE_NAME_MAX letters, digits, '_', '-' or '.'. */
bool clann__feature_name_ok(const char *s);
/* The next value of a cell: [*start, *start + *len); false when none is left. A single-valued
 * cell (sep 0) has one value unless it is empty; empty values between separators are
 * skipped. */
bool clann__feature_next_value(const char **p, char sep, const char **start, size_t *len);
/* The table columns of f, resolved into cols (f->n_sources of them, at most 64); errors name
 * the feature and list the table's columns. */
enum clann_status clann__feature_resolve(const struct clann__feature *f,
                                        const struct clann_table *t, size_t *cols);
/* Embedding dimensions and the input and output offsets of every feature. */
void clann__features_place(struct clann_features *fs);

#endif /* CLANN_FEATURES_H */
