/*
 * spec_columns.c - the "columns" member of a model spec: what the model knows of its training
 * table (struct clann_columns: input names, label, label vocabulary, fill values), read and
 * written as
 *   "columns": {"inputs": [...], "label": "price", "classes": [...], "fill": "median",
 *               "fill_columns": [...], "fill_values": [...]}
 * Every member is optional; the model checks the whole against itself when it is built.
 */
#include "io/spec.h"
#include "data/json.h"

#include <json-c/json.h>
#include <string.h>

/* The strings of array member `key` (views into obj), *n of them; absent: 0. */
static enum clann_status read_texts(struct clann_context *ctx, const char *what,
                                    struct json_object *obj, const char *key,
                                    const char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    struct json_object *arr;
    if (!json_object_object_get_ex(obj, key, &arr))
        return CLANN_OK;
    if (!json_object_is_type(arr, json_type_array))
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: columns.%s: expected an array of "
                            "strings", what, key);
    size_t len = json_object_array_length(arr);
    *out = clann__calloc(len ? len : 1, sizeof **out);
    if (!*out)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    for (size_t i = 0; i < len; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        if (!v || !json_object_is_type(v, json_type_string))
            return clann__error(ctx, CLANN_ERR_FORMAT, "%s: columns.%s[%zu]: expected a "
                                "string", what, key, i);
        (*out)[i] = json_object_get_string(v);
    }
    *n = len;
    return CLANN_OK;
}

static enum clann_status read_members(struct clann_context *ctx, const char *what,
                                      struct json_object *obj, struct clann_columns *c,
                                      const char ***lists)
{
    size_t n_values = 0;
    enum clann_status st = read_texts(ctx, what, obj, "inputs", &lists[0], &c->n_inputs);
    if (st == CLANN_OK)
        st = read_texts(ctx, what, obj, "classes", &lists[1], &c->n_classes);
    if (st == CLANN_OK)
        st = read_texts(ctx, what, obj, "fill_columns", &lists[2], &c->n_fill);
    if (st == CLANN_OK)
        st = read_texts(ctx, what, obj, "fill_values", &lists[3], &n_values);
    if (st == CLANN_OK && n_values != c->n_fill)
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: columns: %zu fill_values for %zu "
                            "fill_columns", what, n_values, c->n_fill);
    c->inputs = lists[0], c->classes = lists[1];
    c->fill_columns = lists[2], c->fill_values = lists[3];
    struct json_object *v;
    if (st == CLANN_OK && json_object_object_get_ex(obj, "label", &v)) {
        if (!json_object_is_type(v, json_type_string))
            return clann__error(ctx, CLANN_ERR_FORMAT, "%s: columns.label: expected a string",
                                what);
        c->label = json_object_get_string(v);
    }
    if (st == CLANN_OK && json_object_object_get_ex(obj, "fill", &v) &&
        (!json_object_is_type(v, json_type_string) ||
         !clann_fill_from_name(json_object_get_string(v), &c->fill)))
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: columns.fill: expected none, zero, "
                            "mean, median, mode or drop", what);
    return st;
}

enum clann_status clann__columns_from_json(struct clann_context *ctx, struct json_object *root,
                                           const char *what, struct clann_columns **out)
{
    *out = NULL;
    struct json_object *obj;
    if (!json_object_object_get_ex(root, "columns", &obj))
        return CLANN_OK;
    if (!obj || !json_object_is_type(obj, json_type_object))
        return clann__error(ctx, CLANN_ERR_FORMAT, "%s: columns: expected an object", what);
    struct clann_columns c;
    memset(&c, 0, sizeof c);
    const char **lists[4] = {NULL, NULL, NULL, NULL};
    enum clann_status st = read_members(ctx, what, obj, &c, lists);
    if (st == CLANN_OK)
        st = clann__columns_copy(ctx, &c, out);
    for (int i = 0; i < 4; i++)
        clann__free(lists[i]);
    return st;
}

static struct json_object *texts(const char *const *list, size_t n, bool *ok)
{
    struct json_object *arr = json_object_new_array();
    *ok = *ok && arr;
    for (size_t i = 0; arr && i < n; i++) {
        struct json_object *s = json_object_new_string(list[i]);
        *ok = *ok && s && json_object_array_add(arr, s) == 0;
    }
    return arr;
}

struct json_object *clann__columns_to_json(const struct clann_columns *c, bool *ok)
{
    struct json_object *obj = json_object_new_object();
    *ok = *ok && obj;
    if (c->n_inputs)
        clann__json_put(ok, obj, "inputs", texts(c->inputs, c->n_inputs, ok));
    if (c->label)
        clann__json_put(ok, obj, "label", json_object_new_string(c->label));
    if (c->n_classes)
        clann__json_put(ok, obj, "classes", texts(c->classes, c->n_classes, ok));
    clann__json_put(ok, obj, "fill", json_object_new_string(clann_fill_name(c->fill)));
    if (c->n_fill) {
        clann__json_put(ok, obj, "fill_columns", texts(c->fill_columns, c->n_fill, ok));
        clann__json_put(ok, obj, "fill_values", texts(c->fill_values, c->n_fill, ok));
    }
    return obj;
}
