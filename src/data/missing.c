/*
 * missing.c - missing cells of host tables: which cells count as missing, the value a fill
 * policy puts into them (fitted on training rows only, so nothing leaks from dev or test data),
 * and dropping incomplete rows. The CLI's --fill and the model file's stored fill values use
 * these; a library user gets the same choices.
 */
#include "data/table.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const fill_names[] = {"none", "zero", "mean", "median", "mode", "drop"};

CLANN_API bool clann_fill_from_name(const char *name, enum clann_fill_policy *out)
{
    for (size_t i = 0; name && i < sizeof fill_names / sizeof *fill_names; i++) {
        if (strcmp(name, fill_names[i]) == 0) {
            *out = (enum clann_fill_policy)i;
            return true;
        }
    }
    return false;
}

CLANN_API const char *clann_fill_name(enum clann_fill_policy fill)
{
    return (unsigned)fill < sizeof fill_names / sizeof *fill_names ? fill_names[fill] : "?";
}

/* The tokens pandas and R read as missing, in their usual spellings. */
CLANN_API bool clann_is_missing(const char *cell)
{
    static const char *const tokens[] = {"", "na", "n/a", "nan", "null", "?"};
    if (!cell)
        return true;
    while (*cell == ' ' || *cell == '\t')
        cell++;
    size_t len = strlen(cell);
    while (len && (cell[len - 1] == ' ' || cell[len - 1] == '\t'))
        len--;
    for (size_t i = 0; i < sizeof tokens / sizeof *tokens; i++)
        if (strlen(tokens[i]) == len && strncasecmp(cell, tokens[i], len) == 0)
            return true;
    return false;
}

bool clann__table_cell_missing(const struct clann_table *t, size_t col, size_t row)
{
    const struct clann__table_col *c = &t->c[col];
    return c->numeric ? isnan(c->num[row]) : clann_is_missing(c->pool + c->offs[row]);
}

CLANN_API const char *clann_table_cell(const struct clann_table *t, size_t col, size_t row,
                                       char *buf, size_t size)
{
    if (!t || col >= t->cols || row >= t->rows || !buf || size < 32)
        return NULL;
    if (t->c[col].numeric && isnan(t->c[col].num[row])) {
        snprintf(buf, size, "NaN");
        return buf;
    }
    return clann__table_text(t, col, row, buf, size);
}

CLANN_API size_t clann_table_column_missing(const struct clann_table *t, size_t col)
{
    return t && col < t->cols ? t->c[col].missing : 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Mean or median of a numeric column's present values, in double. */
static double center(const struct clann__table_col *c, size_t rows, enum clann_fill_policy fill,
                     float *sorted)
{
    size_t n = 0;
    double sum = 0;
    for (size_t r = 0; r < rows; r++) {
        if (!isnan(c->num[r])) {
            sorted[n++] = c->num[r];
            sum += c->num[r];
        }
    }
    if (fill == CLANN_FILL_MEAN)
        return sum / (double)n;
    qsort(sorted, n, sizeof *sorted, cmp_float);
    return n % 2 ? sorted[n / 2] : 0.5 * ((double)sorted[n / 2 - 1] + sorted[n / 2]);
}

/* The most frequent present value of a column (ties: the smallest, numerically for numbers, by
 * bytes for text) as text into buf. */
static enum clann_status mode(const struct clann_table *t, size_t col, char *buf, size_t size)
{
    const struct clann__table_col *c = &t->c[col];
    const char **cells = clann__malloc((t->rows ? t->rows : 1) * sizeof *cells);
    float *nums = clann__malloc((t->rows ? t->rows : 1) * sizeof *nums);
    if (!cells || !nums) {
        clann__free(cells), clann__free(nums);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    }
    size_t n = 0, best = 0, best_run = 0;
    for (size_t r = 0; r < t->rows; r++) {
        if (clann__table_cell_missing(t, col, r))
            continue;
        if (c->numeric)
            nums[n++] = c->num[r];
        else
            cells[n++] = c->pool + c->offs[r];
    }
    qsort(c->numeric ? (void *)nums : (void *)cells, n, c->numeric ? sizeof *nums : sizeof *cells,
          c->numeric ? cmp_float : cmp_text);
    for (size_t i = 0, run = 0; i < n; i++) {
        bool same = i > 0 && (c->numeric ? nums[i] == nums[i - 1]
                                         : strcmp(cells[i], cells[i - 1]) == 0);
        run = same ? run + 1 : 1;
        if (run > best_run) {
            best_run = run;
            best = i;
        }
    }
    if (c->numeric)
        snprintf(buf, size, "%.9g", (double)nums[best]);
    else
        snprintf(buf, size, "%s", cells[best]);
    clann__free(cells), clann__free(nums);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_table_fill_value(const struct clann_table *train, size_t col,
                                                   enum clann_fill_policy fill, char *buf, size_t size)
{
    if (!train || col >= train->cols || !buf || size < 32)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_fill_value: bad argument");
    const struct clann__table_col *c = &train->c[col];
    if (fill == CLANN_FILL_NONE || fill == CLANN_FILL_DROP || (unsigned)fill > CLANN_FILL_DROP)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_fill_value: '%s' fills no "
                            "value", clann_fill_name(fill));
    if (c->missing >= train->rows)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "column '%s': every training cell is "
                            "missing, so there is nothing to fill it from", c->name);
    if (!c->numeric || fill == CLANN_FILL_MODE)
        return mode(train, col, buf, size); /* text columns take their most frequent value */
    if (fill == CLANN_FILL_ZERO) {
        snprintf(buf, size, "0");
        return CLANN_OK;
    }
    float *tmp = clann__malloc(train->rows * sizeof *tmp);
    if (!tmp)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    snprintf(buf, size, "%.9g", center(c, train->rows, fill, tmp));
    clann__free(tmp);
    return CLANN_OK;
}

/* Replaces a text column's cells by rebuilding its pool: the missing ones become value. */
static enum clann_status fill_text(struct clann__table_col *c, size_t rows, const char *value)
{
    size_t len = strlen(value), extra = 0;
    for (size_t r = 0; r < rows; r++)
        extra += clann_is_missing(c->pool + c->offs[r]) ? len + 1 : 0;
    char *pool = clann__malloc(c->pool_len + extra + 1);
    if (!pool)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    size_t at = 0;
    for (size_t r = 0; r < rows; r++) {
        const char *cell = c->pool + c->offs[r];
        const char *src = clann_is_missing(cell) ? value : cell;
        size_t n = strlen(src) + 1;
        memcpy(pool + at, src, n);
        c->offs[r] = at;
        at += n;
    }
    clann__free(c->pool);
    c->pool = pool;
    c->pool_len = at;
    c->pool_cap = c->pool_len + extra + 1;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_table_fill_missing(struct clann_table *t, size_t col,
                                                     const char *value)
{
    if (!t || col >= t->cols || !value)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_fill_missing: bad argument");
    struct clann__table_col *c = &t->c[col];
    if (c->missing == 0)
        return CLANN_OK;
    if (!c->numeric) {
        enum clann_status st = fill_text(c, t->rows, value);
        c->missing = st == CLANN_OK ? 0 : c->missing;
        return st;
    }
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end || !isfinite(v) || fabs(v) > 3.4e38)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "column '%s': the fill value '%s' is "
                            "not a finite number", c->name, value);
    for (size_t r = 0; r < t->rows; r++)
        c->num[r] = isnan(c->num[r]) ? (float)v : c->num[r];
    c->missing = 0;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_table_drop_missing(const struct clann_table *t,
                                                     const char *const *columns, size_t n,
                                                     struct clann_table **out, size_t *dropped)
{
    if (!t || !out || (!columns && n))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_drop_missing: NULL argument");
    size_t *keep = clann__malloc((t->rows ? t->rows : 1) * sizeof *keep), kept = 0;
    if (!keep)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    for (size_t r = 0; r < t->rows; r++) {
        bool complete = true;
        for (size_t k = 0; k < (columns ? n : t->cols) && complete; k++) {
            size_t col = columns ? clann__table_find(t, columns[k]) : k;
            complete = col == SIZE_MAX || !clann__table_cell_missing(t, col, r);
        }
        if (complete)
            keep[kept++] = r;
    }
    if (dropped)
        *dropped = t->rows - kept;
    enum clann_status st = clann_table_select(t, keep, kept, out);
    clann__free(keep);
    return st;
}
