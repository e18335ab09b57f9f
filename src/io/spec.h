/*
 * spec.h - the model spec: the JSON text that describes a model (layers with all options, loss,
 * optimizer, compile parameters) and is stored in a model file's __metadata__. Shared by
 * src/io (model files) and the CLI (clann train --spec).
 *
 * Reading is in two steps so that a model file can be validated against its spec before any
 * model memory is allocated: clann__spec_parse() checks the text and fills a plain description,
 * clann__spec_build() turns that into a compiled model.
 */
#ifndef CLANN_SPEC_H
#define CLANN_SPEC_H

#include "nn/model.h"

struct json_object; /* json-c's */

#define CLANN__SPEC_FORMAT "clann-model"
#define CLANN__SPEC_VERSION_MAJOR 1
#define CLANN__SPEC_VERSION_MINOR 3 /* 1.1: feature columns, embeddings, scalers; 1.2: image
                                       layers and input_shape; 1.3: training.shards */

/* Sanity limits for sizes read from a spec: they keep size arithmetic far from overflow. */
#define CLANN__SPEC_MAX_WIDTH ((size_t)1 << 24)
#define CLANN__SPEC_MAX_BATCH ((size_t)1 << 20)

struct clann__spec_layer {
    enum clann__layer_kind kind;
    struct clann_dense_params dense; /* dense layers */
    enum clann_activation activation; /* activation layers */
    float alpha;                      /* activation layers */
    float rate;                       /* dropout rate, noise standard deviation */
    bool spatial;                     /* dropout: "spatial": true drops whole channels */
    float momentum, epsilon;          /* batch normalization */
    struct clann_conv2d_params conv;  /* conv2d layers */
    size_t pool_size, pool_stride;    /* pooling layers */
    bool frozen;                      /* "trainable": false */
    char *source_file;                /* "init_from": {"file", "layer"}; owned, or NULL */
    size_t source_layer;
    /* Filled by clann__spec_parse from the layers before: the output width, and for conv2d
     * the input channels (its kernel is filters x channels kh kw), for batchnorm and dropout
     * those of an image input (0: a flat one; a batch norm keeps tensors of that size). */
    size_t width, in_channels;
};

struct clann__spec {
    size_t n_inputs;
    size_t input_shape[3]; /* channels, height, width; 0s when the input is flat */
    struct clann_scaler in_scaler, out_scaler; /* kind NONE when absent; a, b owned */
    struct clann_compile_params cp;
    struct clann__spec_layer *layers; /* clann__malloc'ed */
    size_t n_layers;
    struct clann_features *features; /* feature columns (layer 0 is then "features"), owned;
                                        NULL without */
    struct clann_columns *columns;   /* spec_columns.c: the table's columns, owned; NULL without */
    struct clann__training training; /* spec_training.c: the "training" section */
};

/* spec_columns.c: the optional "columns" member of root (NULL when absent), and its JSON (ok
 * becomes false on an allocation failure). */
enum clann_status clann__columns_from_json(struct clann_context *ctx, struct json_object *root,
                                           const char *what, struct clann_columns **out);
struct json_object *clann__columns_to_json(const struct clann_columns *c, bool *ok);

/* spec_training.c: the optional "training" member of root (out->present false when absent;
 * unknown keys are errors naming them), and its JSON (ok false on an allocation failure,
 * *nonfinite set to the first option JSON cannot hold). */
struct clann__json_reader;
enum clann_status clann__training_from_json(const struct clann__json_reader *r,
                                            struct json_object *root,
                                            struct clann__training *out);
struct json_object *clann__training_to_json(const struct clann__training *t, bool *ok,
                                            const char **nonfinite);

/* Parses and validates a spec. `what` prefixes messages (e.g. "model.safetensors: clann_spec"),
 * followed by the JSON path: "layers[2].units: expected a positive integer". Errors: ERR_FORMAT,
 * ERR_UNSUPPORTED (newer major format version), ERR_TOO_LARGE, ERR_NO_MEMORY. */
enum clann_status clann__spec_parse(struct clann_context *ctx, const char *text, size_t len,
                                    const char *what, struct clann__spec *out);
/* The same, fitting feature columns the spec leaves unfitted (a vocabulary or a multi-valued
 * width left out) on the training table `train`; NULL: such a spec is ERR_STATE. */
enum clann_status clann__spec_parse_fit(struct clann_context *ctx, const char *text, size_t len,
                                        const char *what, const struct clann_table *train,
                                        struct clann__spec *out);
void clann__spec_free(struct clann__spec *spec);

/* Builds and compiles the model a parsed spec describes (initialized from the spec's seed). */
enum clann_status clann__spec_build(struct clann_context *ctx, const struct clann__spec *spec,
                                    struct clann_model **out);

/* Parses a NUL-terminated spec and builds its compiled model (clann train --spec), its
 * feature columns fitted on train where the spec leaves them open (train may be NULL). */
enum clann_status clann__model_from_spec(struct clann_context *ctx, const char *json_text,
                                         const struct clann_table *train,
                                         struct clann_model **out);

/* The spec of a compiled model as compact JSON, clann__malloc'ed. Errors: ERR_STATE (not
 * compiled), ERR_NONFINITE (a non-finite option that JSON cannot hold), ERR_NO_MEMORY. */
enum clann_status clann__spec_write(const struct clann_model *model, char **out);

#endif /* CLANN_SPEC_H */
