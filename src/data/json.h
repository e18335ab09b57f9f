/*
 * json.h - the JSON helpers every JSON reader and writer of the library shares (json.c), on
 * top of json-c: strict parsing, building with one out-of-memory flag, floats written exactly
 * and numbers read with their type checked.
 *
 * It sits in the data layer, the lowest one with JSON in it: the feature columns
 * (data/features_json.c) store their fitted state as JSON, and io (spec, model files, checkpoints)
 * sits above data. core stays free of json-c, so the backend never links JSON code in.
 */
#ifndef CLANN_DATA_JSON_H
#define CLANN_DATA_JSON_H

#include "core/internal.h"

#include <stdint.h>

struct json_object;

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

/* The shortest decimal that reads back as the same float ("0.001", not "0.0010000000474"),
 * with a decimal point whatever the locale. v must be finite. */
void clann__json_format_float(float v, char *buf, size_t size);
/* A JSON number written that way; NULL when out of memory. */
struct json_object *clann__json_float(float v);

/* A non-negative JSON integer (false for anything else, NULL included). */
bool clann__json_u64(struct json_object *v, uint64_t *out);
/* A JSON number, integer or not (false for anything else, NULL included). */
bool clann__json_number(struct json_object *v, double *out);

#endif /* CLANN_DATA_JSON_H */
