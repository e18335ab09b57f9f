/*
 * columns.c - what a model remembers of the table it was trained on (struct clann_columns):
 * input column names, the label column, the label vocabulary and the fill values of missing
 * cells. The model file stores them (src/io/spec.c), so eval and predict read later files by
 * column name and answer in the label's own words.
 */
#include "nn/model.h"

#include <string.h>

static char *dup_text(const char *s)
{
    char *d = clann__malloc(strlen(s) + 1);
    if (d)
        strcpy(d, s);
    return d;
}

/* A copied array of n strings (non-NULL, non-empty when names); NULL on failure. */
static const char *const *dup_list(const char *const *src, size_t n, bool *ok)
{
    if (n == 0)
        return NULL;
    char **d = clann__calloc(n, sizeof *d);
    *ok = *ok && d;
    for (size_t i = 0; d && i < n; i++) {
        d[i] = src && src[i] ? dup_text(src[i]) : NULL;
        *ok = *ok && d[i];
    }
    return (const char *const *)d;
}

static void free_list(const char *const *list, size_t n)
{
    for (size_t i = 0; list && i < n; i++)
        clann__free((void *)list[i]);
    clann__free((void *)list);
}

void clann__columns_free(struct clann_columns *c)
{
    if (!c)
        return;
    free_list(c->inputs, c->n_inputs);
    free_list(c->classes, c->n_classes);
    free_list(c->fill_columns, c->n_fill);
    free_list(c->fill_values, c->n_fill);
    clann__free((void *)c->label);
    clann__free(c);
}

enum clann_status clann__columns_copy(struct clann_context *ctx, const struct clann_columns *c,
                                      struct clann_columns **out)
{
    *out = NULL;
    struct clann_columns *d = clann__calloc(1, sizeof *d);
    bool ok = d != NULL;
    if (ok) {
        *d = (struct clann_columns){NULL, c->n_inputs, NULL, NULL, c->n_classes, c->fill,
                                    NULL, NULL, c->n_fill};
        d->inputs = dup_list(c->inputs, c->n_inputs, &ok);
        d->classes = dup_list(c->classes, c->n_classes, &ok);
        d->fill_columns = dup_list(c->fill_columns, c->n_fill, &ok);
        d->fill_values = dup_list(c->fill_values, c->n_fill, &ok);
        d->label = c->label ? dup_text(c->label) : NULL;
        ok = ok && (!c->label || d->label);
    }
    if (!ok) {
        clann__columns_free(d);
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "columns: out of memory");
    }
    *out = d;
    return CLANN_OK;
}

/* Names must be non-NULL, non-empty and distinct; values (classes, fill values) non-NULL and,
 * for classes, distinct too. */
static bool valid_list(const char *const *list, size_t n, bool allow_empty, const char **why)
{
    for (size_t i = 0; i < n; i++) {
        if (!list || !list[i] || (!allow_empty && !*list[i])) {
            *why = "a NULL or empty entry";
            return false;
        }
        for (size_t j = 0; j < i; j++) {
            if (strcmp(list[i], list[j]) == 0) {
                *why = "a duplicate entry";
                return false;
            }
        }
    }
    return true;
}

static enum clann_status check(const struct clann_model *m, const struct clann_columns *c)
{
    const char *why = NULL;
    if (!valid_list(c->inputs, c->n_inputs, false, &why))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: inputs have %s", why);
    if (!valid_list(c->classes, c->n_classes, false, &why))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: classes have %s", why);
    if (!valid_list(c->fill_columns, c->n_fill, false, &why) || (c->n_fill && !c->fill_values))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: fill columns have %s",
                            why ? why : "no values");
    for (size_t i = 0; i < c->n_fill; i++)
        if (!c->fill_values[i])
            return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: a NULL fill value");
    if (c->label && !*c->label)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: an empty label name");
    if ((unsigned)c->fill > CLANN_FILL_DROP)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: unknown fill policy");
    if (c->n_inputs && (m->features || c->n_inputs != m->n_inputs))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: %zu input names for a "
                            "model of %zu inputs%s", c->n_inputs, m->n_inputs,
                            m->features ? " with feature columns (they name their own)" : "");
    size_t outputs = m->compiled ? clann_model_output_count(m) : 0;
    size_t want = outputs == 1 ? 2 : outputs;
    if (c->n_classes && m->compiled &&
        (!clann__loss_is_classification(m->cp.loss) || c->n_classes != want))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "columns: %zu classes for a model "
                            "with %zu outputs%s", c->n_classes, outputs,
                            clann__loss_is_classification(m->cp.loss) ? "" : " (a regressor)");
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_set_columns(struct clann_model *m,
                                                    const struct clann_columns *c)
{
    if (!m || !c)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "set_columns: NULL argument");
    enum clann_status st = check(m, c);
    struct clann_columns *copy = NULL;
    if (st == CLANN_OK)
        st = clann__columns_copy(m->ctx, c, &copy);
    if (st == CLANN_OK) {
        clann__columns_free(m->columns);
        m->columns = copy;
    }
    return st;
}

CLANN_API bool clann_model_columns(const struct clann_model *m, struct clann_columns *out)
{
    if (!out)
        return false;
    memset(out, 0, sizeof *out);
    if (!m || !m->columns)
        return false;
    *out = *m->columns;
    return true;
}
