/*
 * safetensors.h - the safetensors container (safetensors.c): reading and validating a file's
 * header and F32 tensors, and encoding a header. It knows files, not models: which tensors a
 * model has is io/tensor_list.c's business, and io/model_file.c puts the two together.
 *
 * Layout: an 8-byte little-endian header length N; N bytes of JSON header, padded with spaces
 * to a multiple of 8 as the safetensors writers do; then the tensors' raw little-endian bytes,
 * contiguous. The header maps each tensor name to {"dtype", "shape", "data_offsets": [b, e]}
 * (byte offsets into the data section) and "__metadata__" to a string-to-string map.
 *
 * Reading trusts nothing: the header length is capped (safetensors' 100 MB) and checked
 * against the file before anything is allocated, entries must match the shape the caller
 * expects, the tensors must tile the data section with no gap, overlap or trailing byte, and
 * every float read must be finite. Every message begins "model file '<path>': ".
 */
#ifndef CLANN_DATA_SAFETENSORS_H
#define CLANN_DATA_SAFETENSORS_H

#include "core/internal.h"

#include <stdint.h>

struct json_object;

#define CLANN__TENSOR_NAME_LEN 96 /* "optimizer.embedding." + a 40-byte feature name + ".state1" */

/* One F32 tensor: its name and shape (rank 1 or 2), its byte range in the data section, and
 * three fields the container leaves to its caller (io/tensor_list.h places a model's tensors
 * with them). */
struct clann__tensor {
    char name[CLANN__TENSOR_NAME_LEN];
    size_t shape[2];
    size_t rank;
    size_t count; /* floats */
    uint64_t begin, end;
    bool seen;    /* reading: the file has it */
    size_t off;   /* floats, in the model's parameter array */
    int extra;    /* 0: a parameter; 1, 2: optimizer.state1, optimizer.state2; 3: an embedding
                     table (layers.<i>.embedding.<feature>, outside the parameter array); 4, 5:
                     that table's optimizer state (optimizer.embedding.<feature>.state1, 2) */
    size_t table; /* extra 3-5: the table's index among the model's embedding tables */
};

/* An open file. */
struct clann__st_reader {
    struct clann_context *ctx;
    const char *path;
    int fd;
    uint64_t file_size;
    uint64_t header_len;
    uint64_t data_size; /* bytes after the header */
};

/* Opens path (a regular file), checks the header length and parses the header into *root (a
 * JSON object, the caller's). Close r with clann__st_close() whatever the result. */
enum clann_status clann__st_open(struct clann__st_reader *r, struct clann_context *ctx,
                                 const char *path, struct json_object **root);
void clann__st_close(struct clann__st_reader *r);

/* Records "model file '<path>': <message>" with status st and returns st. */
enum clann_status clann__st_fail(const struct clann__st_reader *r, enum clann_status st,
                                 const char *fmt, ...) CLANN_PRINTF(3, 4);

/* Checks header entry e for tensor t (whose name, rank, shape and count the caller set): an
 * object, dtype F32, the expected shape; sets t->begin and t->end from its data_offsets. */
enum clann_status clann__st_check_entry(const struct clann__st_reader *r,
                                        struct clann__tensor *t, struct json_object *e);

/* The n tensors with `seen` set, ordered by offset, must tile the data section exactly. */
enum clann_status clann__st_check_tiling(const struct clann__st_reader *r,
                                         const struct clann__tensor *t, size_t n);

/* Reads tensor t's floats into dst in host order; ERR_NONFINITE naming the tensor and index
 * for a NaN or infinity. */
enum clann_status clann__st_read(const struct clann__st_reader *r,
                                 const struct clann__tensor *t, float *dst);

/* Encodes a whole header (length, JSON, padding) for the n tensors laid out in order, with
 * __metadata__ holding the n_meta pairs keys[i]: values[i] (a NULL value is left out).
 * *out is clann__malloc'ed. ERR_NO_MEMORY. */
enum clann_status clann__st_header(struct clann_context *ctx, const char *const *keys,
                                   const char *const *values, size_t n_meta,
                                   const struct clann__tensor *t, size_t n, char **out,
                                   size_t *out_len);

/* Converts floats between host order and little-endian (its own inverse). */
void clann__st_floats_le(float *x, size_t n);

/* Reads F32 tensor `name` of shape [rows, cols] from any safetensors file into dst (transfer
 * learning). ERR_INVALID_ARG when the file lacks it, ERR_SHAPE for another shape. */
enum clann_status clann__safetensors_read(struct clann_context *ctx, const char *path,
                                          const char *name, size_t rows, size_t cols,
                                          float *dst);

#endif /* CLANN_DATA_SAFETENSORS_H */
