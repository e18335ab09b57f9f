/*
 * json.c - JSON helpers shared by the feature columns, the spec, model files and checkpoints
 * (json.h).
 */
#include "data/json.h"
#include "core/kinds.h"

#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Keys in raw JSON text: every string followed by ':'. Run only on text json-c accepted in
 * strict mode, so strings are double-quoted and there are no comments. */
static size_t count_raw_keys(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '"')
            continue;
        for (i++; i < len && s[i] != '"'; i++)
            if (s[i] == '\\')
                i++;
        size_t j = i + 1;
        while (j < len && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r'))
            j++;
        if (j < len && s[j] == ':')
            n++;
    }
    return n;
}

/* Keys in a parsed tree; json-c's depth limit bounds the recursion. */
static size_t count_tree_keys(struct json_object *o)
{
    size_t n = 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, key, val) {
            (void)key;
            n += 1 + count_tree_keys(val);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(o); i++)
            n += count_tree_keys(json_object_array_get_idx(o, i));
    }
    return n;
}

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum clann_status clann__json_parse(struct clann_context *ctx, const char *text, size_t len,
                                    const char *what, struct json_object **out)
{
    *out = NULL;
    while (len > 0 && is_json_space(text[len - 1]))
        len--;
    if (len > INT32_MAX)
        return clann__error(ctx, CLANN_ERR_TOO_LARGE, "%s: JSON text of %zu bytes is too long",
                            what, len);
    struct json_tokener *tok = json_tokener_new();
    if (!tok)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!obj || jerr != json_tokener_success) {
        json_object_put(obj);
        const char *why = jerr == json_tokener_continue ? "unexpected end of text"
                                                        : json_tokener_error_desc(jerr);
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: invalid JSON at byte %zu: %s", what,
                            end, why);
    }
    if (end != len) {
        json_object_put(obj);
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: unexpected text after the JSON value "
                            "at byte %zu", what, end);
    }
    if (count_raw_keys(text, len) != count_tree_keys(obj)) {
        json_object_put(obj);
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: duplicate key in a JSON object", what);
    }
    *out = obj;
    return CLANN_OK;
}

void clann__json_put(bool *ok, struct json_object *obj, const char *key,
                     struct json_object *val)
{
    if (!obj || !val || json_object_object_add(obj, key, val) != 0) {
        json_object_put(val);
        *ok = false;
    }
}

void clann__json_out_put(struct clann__json_out *o, struct json_object *obj, const char *key,
                         struct json_object *val)
{
    clann__json_put(&o->ok, obj, key, val);
}

void clann__json_out_size(struct clann__json_out *o, struct json_object *obj, const char *key,
                          size_t v)
{
    clann__json_out_put(o, obj, key, json_object_new_uint64((uint64_t)v));
}

/* Whether v can be written; else the first such key is remembered. */
static bool out_finite(struct clann__json_out *o, const char *key, double v)
{
    if (!isfinite(v) && !o->nonfinite)
        o->nonfinite = key;
    return isfinite(v);
}

void clann__json_out_float(struct clann__json_out *o, struct json_object *obj, const char *key,
                           float v)
{
    if (out_finite(o, key, v))
        clann__json_out_put(o, obj, key, clann__json_float(v));
}

void clann__json_out_double(struct clann__json_out *o, struct json_object *obj,
                            const char *key, double v)
{
    if (!out_finite(o, key, v))
        return;
    char buf[40];
    snprintf(buf, sizeof buf, "%.15g", v);
    if (strtod(buf, NULL) != v)
        snprintf(buf, sizeof buf, "%.17g", v);
    clann__json_out_put(o, obj, key, json_object_new_double_s(v, buf));
}

void clann__json_out_bool(struct clann__json_out *o, struct json_object *obj, const char *key,
                          bool v)
{
    clann__json_out_put(o, obj, key, json_object_new_boolean(v));
}

void clann__json_out_text(struct clann__json_out *o, struct json_object *obj, const char *key,
                          const char *s)
{
    if (s)
        clann__json_out_put(o, obj, key, json_object_new_string(s));
}

void clann__json_push(bool *ok, struct json_object *arr, struct json_object *val)
{
    if (!arr || !val || json_object_array_add(arr, val) != 0) {
        json_object_put(val);
        *ok = false;
    }
}

void clann__json_format_float(float v, char *buf, size_t size)
{
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)v);
        /* A host program's locale may use a decimal comma; JSON needs a point. */
        for (char *c = buf; *c; c++)
            if (*c == ',')
                *c = '.';
        if (strtof(buf, NULL) == v)
            return;
    }
}

struct json_object *clann__json_float(float v)
{
    char buf[32];
    clann__json_format_float(v, buf, sizeof buf);
    return json_object_new_double_s((double)v, buf);
}

bool clann__json_u64(struct json_object *v, uint64_t *out)
{
    if (!v || !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
        return false;
    *out = json_object_get_uint64(v);
    return true;
}

bool clann__json_number(struct json_object *v, double *out)
{
    if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return false;
    *out = json_object_get_double(v);
    return true;
}

/* ---- reading members -------------------------------------------------------------------- */

enum clann_status clann__json_bad(const struct clann__json_reader *r, enum clann_status st,
                                  const char *path, const char *key, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *dot = *path && *key ? "." : "";
    const char *colon = *path || *key ? ": " : "";
    return clann__error(r->ctx, st, "%s: %s%s%s%s%s", r->what, path, dot, key, colon, msg);
}

enum clann_status clann__json_member(const struct clann__json_reader *r, struct json_object *obj,
                                     const char *path, const char *key, bool required,
                                     struct json_object **out)
{
    *out = NULL;
    if (json_object_object_get_ex(obj, key, out) && *out)
        return CLANN_OK;
    if (json_object_object_get_ex(obj, key, NULL))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "must not be null");
    return required ? clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "missing") : CLANN_OK;
}

enum clann_status clann__json_typed(const struct clann__json_reader *r, struct json_object *obj,
                                    const char *path, const char *key, enum json_type type,
                                    bool required, struct json_object **out)
{
    enum clann_status st = clann__json_member(r, obj, path, key, required, out);
    if (st != CLANN_OK || !*out || json_object_is_type(*out, type))
        return st;
    return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "%s",
                           type == json_type_string    ? "expected a string"
                           : type == json_type_array   ? "expected an array"
                           : type == json_type_int     ? "expected an integer"
                           : type == json_type_boolean ? "expected true or false"
                                                       : "expected an object");
}

enum clann_status clann__json_read_string(const struct clann__json_reader *r,
                                          struct json_object *obj, const char *path,
                                          const char *key, bool required, const char **out)
{
    struct json_object *v;
    *out = NULL;
    enum clann_status st = clann__json_typed(r, obj, path, key, json_type_string, required, &v);
    if (st == CLANN_OK && v)
        *out = json_object_get_string(v);
    return st;
}

enum clann_status clann__json_read_enum(const struct clann__json_reader *r, struct json_object *obj,
                                        const char *path, const char *key, bool required,
                                        const struct clann__kind_table *kinds, size_t *out)
{
    const char *s;
    enum clann_status st = clann__json_read_string(r, obj, path, key, required, &s);
    if (st != CLANN_OK || !s)
        return st;
    if (!clann__kind_parse(kinds, s, out))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "unknown name '%.64s'", s);
    return CLANN_OK;
}

enum clann_status clann__json_read_range(const struct clann__json_reader *r,
                                         struct json_object *obj, const char *path, const char *key,
                                         size_t lo, size_t hi, size_t *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_typed(r, obj, path, key, json_type_int, true, &v);
    if (st != CLANN_OK)
        return st;
    int64_t n = json_object_get_int64(v);
    if (n < (int64_t)lo || (uint64_t)n > hi)
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "integer out of range");
    *out = (size_t)n;
    return CLANN_OK;
}
