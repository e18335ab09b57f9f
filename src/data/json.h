/*
 * json.h - the JSON helpers every JSON reader and writer of the library shares (json.c), on
 * top of json-c: strict parsing, building with one out-of-memory flag, floats written exactly,
 * numbers read with their type checked, and typed members read with errors naming their path.
 *
 * It sits in the data layer, the lowest one with JSON in it: the feature columns
 * (data/features_json.c) store their fitted state as JSON, and io (spec, model files,
 * checkpoints) sits above data. core stays free of json-c, so the backend never links JSON code in.
 */
#ifndef CLANN_DATA_JSON_H
#define CLANN_DATA_JSON_H

#include "core/internal.h"

#include <json-c/json_types.h>
#include <stdint.h>

struct json_object;
struct clann__kind_table;

/* Parses JSON text of len bytes as one value, rejecting trailing text and duplicate object
 * keys (json-c would keep the last one silently). `what` names the text in messages. Errors:
 * ERR_FORMAT, ERR_TOO_LARGE, ERR_NO_MEMORY. */
enum clann_status clann__json_parse(struct clann_context *ctx, const char *text, size_t len,
                                    const char *what, struct json_object **out);

/* Adds val to obj under key (put) or to the array arr (push). json-c reports allocation
 * failure with NULL values and -1 from adds: either sets *ok to false and frees val, so that a
 * builder checks once at the end. */
void clann__json_put(bool *ok, struct json_object *obj, const char *key,
                     struct json_object *val);
void clann__json_push(bool *ok, struct json_object *arr, struct json_object *val);

/* An object being built member by member (the model spec's writers): the first allocation
 * failure and the first non-finite number are remembered, so the builder checks once at the
 * end. Non-finite numbers and NULL texts are left out. */
struct clann__json_out {
    bool ok;               /* false after an allocation failure */
    const char *nonfinite; /* the key of the first non-finite number, or NULL */
};
void clann__json_out_put(struct clann__json_out *o, struct json_object *obj, const char *key,
                         struct json_object *val);
void clann__json_out_size(struct clann__json_out *o, struct json_object *obj, const char *key,
                          size_t v);
void clann__json_out_float(struct clann__json_out *o, struct json_object *obj, const char *key,
                           float v);
/* The shortest of %.15g and %.17g that reads back as the same double. */
void clann__json_out_double(struct clann__json_out *o, struct json_object *obj,
                            const char *key, double v);
void clann__json_out_bool(struct clann__json_out *o, struct json_object *obj, const char *key,
                          bool v);
void clann__json_out_text(struct clann__json_out *o, struct json_object *obj, const char *key,
                          const char *s);

/* The shortest decimal that reads back as the same float ("0.001", not "0.0010000000474"),
 * with a decimal point whatever the locale. v must be finite. */
void clann__json_format_float(float v, char *buf, size_t size);
/* A JSON number written that way; NULL when out of memory. */
struct json_object *clann__json_float(float v);

/* A non-negative JSON integer (false for anything else, NULL included). */
bool clann__json_u64(struct json_object *v, uint64_t *out);
/* A JSON number, integer or not (false for anything else, NULL included). */
bool clann__json_number(struct json_object *v, double *out);

/* Reading members: every helper takes the JSON path of the object it reads from ("" for the
 * root, "layers[2]", ...) and reports errors as "<what>: <path>.<key>: <problem>". A null
 * member is an error; an absent one is an error when `required`, else the output is left
 * unchanged (a JSON value: NULL; a string: NULL). */
struct clann__json_reader {
    struct clann_context *ctx;
    const char *what; /* the text read, first in every message */
    /* The text declares a newer minor format version than this reader's: a strict reader
     * warns about an unknown key and skips it (a newer writer's addition) instead of failing. */
    bool newer_minor;
};

enum clann_status clann__json_bad(const struct clann__json_reader *r, enum clann_status st,
                                  const char *path, const char *key, const char *fmt, ...)
    CLANN_PRINTF(5, 6);
/* The member `key` of obj, or NULL when absent. */
enum clann_status clann__json_member(const struct clann__json_reader *r, struct json_object *obj,
                                     const char *path, const char *key, bool required,
                                     struct json_object **out);
/* A member of JSON type `type` (json_type_object, _array, _string, _int or _boolean). */
enum clann_status clann__json_typed(const struct clann__json_reader *r, struct json_object *obj,
                                    const char *path, const char *key, enum json_type type,
                                    bool required, struct json_object **out);
enum clann_status clann__json_read_string(const struct clann__json_reader *r,
                                          struct json_object *obj, const char *path,
                                          const char *key, bool required, const char **out);
/* An enum given by its name in `kinds`. */
enum clann_status clann__json_read_enum(const struct clann__json_reader *r, struct json_object *obj,
                                        const char *path, const char *key, bool required,
                                        const struct clann__kind_table *kinds, size_t *out);
/* A required integer in lo..hi. */
enum clann_status clann__json_read_range(const struct clann__json_reader *r,
                                         struct json_object *obj, const char *path, const char *key,
                                         size_t lo, size_t hi, size_t *out);

#endif /* CLANN_DATA_JSON_H */
