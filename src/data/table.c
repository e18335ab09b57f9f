/*
 * table.c - host tables for feature columns: named columns, each numeric or text, read from a
 * CSV file (each column typed by its cells: numeric when every cell is a finite number or
 * missing, and one at least is a number; text otherwise) or built in memory column by column.
 * Missing cells are the tokens of clann_is_missing() (empty, NA, N/A, NaN, null, ?): NaN in a
 * numeric column, kept as written in a text one, and counted (missing.c fills or drops them).
 * Any other number-like cell that is not a finite float ("inf", "1e999", a long run of digits)
 * is a bad value, not a category, in any column that also holds numbers or holds nothing else:
 * an error naming its file, row and column. Among words it stays a word (a vocabulary may hold
 * "inf").
 *
 * Hostile files stay linear: the header's names are checked for duplicates through a hash map, the
 * column count is capped (MAX_COLS), and each column's storage grows from a few bytes, so a wide
 * file with few rows costs little. While the file is read each column holds only its cells' text;
 * the columns that turn out numeric then trade it for floats one at a time, so a numeric file peaks
 * near its own size plus one column. (The numeric loader, csv.c, has no per-column cost and no
 * cap.)
 *
 * Records come from the reader csv.c also uses (csv_reader.c: RFC 4180 quoting, LF/CRLF/CR
 * line ends, blank lines and a byte order mark skipped, rows in messages are the 1-based line
 * of the record's first line). Numbers are parsed under the C locale through uselocale(),
 * which leaves the caller's locale alone.
 */
#include "data/table.h"

#include "data/csv_reader.h"
#include "data/strmap.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 256
#define SHOW_MAX 40    /* characters of a bad cell quoted in messages */
#define FIRST_ROWS 16  /* a column's first row index capacity; it doubles from there */
#define MAX_COLS 65536 /* each column costs a few hundred bytes before its first row */

CLANN_API struct clann_table_params clann_table_default_params(void)
{
    struct clann_table_params p = {.delimiter = ',', .has_header = true};
    return p;
}

static void col_free(struct clann__table_col *c)
{
    clann__free(c->name);
    clann__free(c->num);
    clann__free(c->pool);
    clann__free(c->offs);
}

CLANN_API void clann_table_destroy(struct clann_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cols; i++)
        col_free(&t->c[i]);
    clann__free(t->c);
    clann__free(t);
}

CLANN_API enum clann_status clann_table_create(size_t rows, struct clann_table **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_create: out is NULL");
    *out = clann__calloc(1, sizeof **out);
    if (!*out)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table_create: out of memory");
    (*out)->rows = rows;
    return CLANN_OK;
}

CLANN_API size_t clann_table_rows(const struct clann_table *t)
{
    return t ? t->rows : 0;
}

CLANN_API size_t clann_table_cols(const struct clann_table *t)
{
    return t ? t->cols : 0;
}

CLANN_API const char *clann_table_column_name(const struct clann_table *t, size_t col)
{
    return t && col < t->cols ? t->c[col].name : NULL;
}

CLANN_API bool clann_table_column_is_numeric(const struct clann_table *t, size_t col)
{
    return t && col < t->cols && t->c[col].numeric;
}

CLANN_API size_t clann_table_column_numbers(const struct clann_table *t, size_t col)
{
    if (!t || col >= t->cols)
        return 0;
    return t->c[col].numeric ? t->rows : t->c[col].numbers;
}

size_t clann__table_find(const struct clann_table *t, const char *name)
{
    for (size_t i = 0; t && name && i < t->cols; i++)
        if (strcmp(t->c[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

void clann__table_names(const struct clann_table *t, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->cols && len + 1 < size; i++) {
        int n = snprintf(buf + len, size - len, "%s%s", i ? ", " : "", t->c[i].name);
        if (n < 0)
            break;
        len += (size_t)n < size - len ? (size_t)n : size - len - 1;
    }
}

const char *clann__table_text(const struct clann_table *t, size_t col, size_t row, char *buf,
                              size_t size)
{
    const struct clann__table_col *c = &t->c[col];
    if (!c->numeric)
        return c->pool + c->offs[row];
    float v = c->num[row];
    if (v == floorf(v) && fabsf(v) < 1e15f) {
        snprintf(buf, size, "%lld", (long long)v);
        return buf;
    }
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(buf, size, "%.*g", prec, (double)v);
        for (char *p = buf; *p; p++)
            if (*p == ',')
                *p = '.'; /* a caller's locale may write a decimal comma */
        if (strtof(buf, NULL) == v)
            break;
    }
    return buf;
}

/* A new column slot named `name` (copied); the name must be non-empty, and new unless the
 * caller has checked that itself (unique). */
static enum clann_status add_col_checked(struct clann_table *t, const char *name, bool unique,
                                         struct clann__table_col **out)
{
    if (!name || !*name || strlen(name) > NAME_MAX_LEN)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table: a column name must have 1 to "
                            "%d characters", NAME_MAX_LEN);
    if (!unique && clann__table_find(t, name) != SIZE_MAX)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table: duplicate column name '%s'",
                            name);
    if (t->cols == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 8;
        struct clann__table_col *c = clann__realloc(t->c, cap * sizeof *c);
        if (!c)
            return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
        t->c = c;
        t->cap = cap;
    }
    struct clann__table_col *c = &t->c[t->cols];
    memset(c, 0, sizeof *c);
    c->name = clann__malloc(strlen(name) + 1);
    if (!c->name)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    strcpy(c->name, name);
    t->cols++;
    *out = c;
    return CLANN_OK;
}

static enum clann_status add_col(struct clann_table *t, const char *name,
                                 struct clann__table_col **out)
{
    return add_col_checked(t, name, false, out);
}

/* Adds a numeric column; NaN marks a missing cell when allow_missing (table_select copies loaded
 * columns with their missing cells), else every value must be finite. */
static enum clann_status add_numeric(struct clann_table *t, const char *name, const float *values,
                                     bool allow_missing)
{
    if (!t || (!values && t->rows))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_add_numeric: NULL argument");
    size_t missing = 0;
    for (size_t r = 0; r < t->rows; r++) {
        missing += isnan(values[r]);
        if (!isfinite(values[r]) && !(allow_missing && isnan(values[r])))
            return clann__error(NULL, CLANN_ERR_NONFINITE, "table_add_numeric: column '%s', "
                                "row %zu is %g", name ? name : "?", r + 1, (double)values[r]);
    }
    struct clann__table_col *c;
    enum clann_status st = add_col(t, name, &c);
    if (st != CLANN_OK)
        return st;
    c->numeric = true;
    c->missing = missing;
    c->num = clann__malloc((t->rows ? t->rows : 1) * sizeof *c->num);
    if (!c->num) {
        col_free(c);
        t->cols--;
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    }
    if (t->rows)
        memcpy(c->num, values, t->rows * sizeof *c->num);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_table_add_numeric(struct clann_table *t, const char *name,
                                                    const float *values)
{
    return add_numeric(t, name, values, false);
}

static enum clann_status pool_push(struct clann__table_col *c, const char *s)
{
    size_t n = strlen(s) + 1;
    if (c->pool_len + n > c->pool_cap) {
        size_t cap = c->pool_cap ? c->pool_cap : 16;
        while (cap < c->pool_len + n)
            cap *= 2;
        char *p = clann__realloc(c->pool, cap);
        if (!p)
            return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
        c->pool = p;
        c->pool_cap = cap;
    }
    memcpy(c->pool + c->pool_len, s, n);
    c->pool_len += n;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_table_add_strings(struct clann_table *t, const char *name,
                                                    const char *const *values)
{
    if (!t || (!values && t->rows))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_add_strings: NULL argument");
    struct clann__table_col *c;
    enum clann_status st = add_col(t, name, &c);
    if (st != CLANN_OK)
        return st;
    c->offs = clann__malloc((t->rows ? t->rows : 1) * sizeof *c->offs);
    st = c->offs ? CLANN_OK : clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    for (size_t r = 0; r < t->rows && st == CLANN_OK; r++) {
        c->offs[r] = c->pool_len;
        st = pool_push(c, values[r] ? values[r] : "");
        c->missing += clann_is_missing(values[r] ? values[r] : "");
    }
    if (st != CLANN_OK) {
        col_free(c);
        t->cols--;
    }
    return st;
}

CLANN_API enum clann_status clann_table_numeric(const struct clann_table *t, const char *column,
                                                struct clann_matrix *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_numeric: out is NULL");
    memset(out, 0, sizeof *out);
    size_t k = clann__table_find(t, column);
    if (k == SIZE_MAX) {
        char names[512] = "";
        if (t)
            clann__table_names(t, names, sizeof names);
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table: no column '%s' (columns: %s)",
                            column ? column : "(null)", names);
    }
    if (!t->c[k].numeric)
        return clann__error(NULL, CLANN_ERR_FORMAT, "table: column '%s' is text, not numeric",
                            column);
    enum clann_status st = clann_matrix_create(t->rows, 1, out);
    if (st == CLANN_OK && t->rows)
        memcpy(out->data, t->c[k].num, t->rows * sizeof(float));
    return st;
}

CLANN_API enum clann_status clann_table_select(const struct clann_table *t, const size_t *rows,
                                               size_t n, struct clann_table **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_select: out is NULL");
    *out = NULL;
    if (!t || (!rows && n))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_select: NULL argument");
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= t->rows)
            return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_select: row index %zu is "
                                "out of range (the table has %zu rows)", rows[i], t->rows);
    struct clann_table *s;
    enum clann_status st = clann_table_create(n, &s);
    const char **text = st == CLANN_OK ? clann__malloc((n ? n : 1) * sizeof *text) : NULL;
    float *num = st == CLANN_OK ? clann__malloc((n ? n : 1) * sizeof *num) : NULL;
    if (st == CLANN_OK && (!text || !num))
        st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "table_select: out of memory");
    for (size_t k = 0; k < t->cols && st == CLANN_OK; k++) {
        const struct clann__table_col *c = &t->c[k];
        for (size_t i = 0; i < n; i++) {
            if (c->numeric)
                num[i] = c->num[rows[i]];
            else
                text[i] = c->pool + c->offs[rows[i]];
        }
        st = c->numeric ? add_numeric(s, c->name, num, true)
                        : clann_table_add_strings(s, c->name, text);
    }
    clann__free(text);
    clann__free(num);
    if (st != CLANN_OK) {
        clann_table_destroy(s);
        return st;
    }
    *out = s;
    return CLANN_OK;
}

/* ---- CSV ---------------------------------------------------------------------------------- */

/* What a cell reads as: text, a finite float, or a number-like token that is no finite float
 * (a NaN or an infinity spelled out, or a number beyond the float range). */
enum cell_kind { CELL_TEXT, CELL_NUMBER, CELL_NONFINITE, CELL_RANGE };

/* Classifies the whole (space-trimmed) cell; *out is the value of a CELL_NUMBER. */
static enum cell_kind classify(const char *s, locale_t c_locale, float *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return CELL_TEXT;
    locale_t old = uselocale(c_locale);
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    bool range = errno == ERANGE;
    uselocale(old);
    while (*end == ' ' || *end == '\t')
        end++;
    if (end == s || *end)
        return CELL_TEXT;
    if (isnan(d) || (isinf(d) && !range))
        return CELL_NONFINITE;
    if (isinf(d) || fabs(d) > FLT_MAX)
        return CELL_RANGE;
    *out = (float)d;
    return CELL_NUMBER;
}

/* Where the cells came from, for messages about them. */
struct table_origin {
    const char *path;
    const size_t *lines; /* each data row's 1-based line in the file */
};

static enum clann_status bad_number(const struct table_origin *o,
                                    const struct clann__table_col *c, size_t col, size_t row,
                                    const char *cell, enum cell_kind kind)
{
    while (*cell == ' ' || *cell == '\t')
        cell++;
    bool cut = strlen(cell) > SHOW_MAX;
    return clann__error(NULL, kind == CELL_NONFINITE ? CLANN_ERR_NONFINITE : CLANN_ERR_FORMAT,
                        "%s: row %zu, column %zu ('%s'): '%.*s%s' is %s", o->path,
                        o->lines[row], col + 1, c->name, SHOW_MAX, cell, cut ? "..." : "",
                        kind == CELL_NONFINITE ? "a non-finite value"
                                               : "beyond the float range");
}

/* A text column's cell offsets, from its pool of NUL-terminated cells (the loader does not
 * keep them while it reads: most columns turn out numeric and never need them). */
static enum clann_status index_cells(struct clann__table_col *c, size_t rows)
{
    c->offs = clann__malloc((rows ? rows : 1) * sizeof *c->offs);
    if (!c->offs)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    for (size_t r = 0, at = 0; r < rows; r++) {
        c->offs[r] = at;
        at += strlen(c->pool + at) + 1;
    }
    return CLANN_OK;
}

/* Turns a column of read cells into a numeric one when every cell is a number or missing (NaN
 * then) and one at least is a number, else indexes its text; a number-like cell that is no
 * finite float (and no missing token) is an error unless the column is words (see the top of
 * the file). */
static enum clann_status type_column(struct clann__table_col *c, size_t col, size_t rows,
                                     locale_t loc, const struct table_origin *o)
{
    float *num = clann__malloc((rows ? rows : 1) * sizeof *num);
    if (!num)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "table: out of memory");
    size_t first_bad = SIZE_MAX, text = 0, at = 0, bad_at = 0;
    enum cell_kind bad_kind = CELL_TEXT;
    c->numbers = c->missing = 0;
    for (size_t r = 0; r < rows; r++) {
        const char *cell = c->pool + at;
        bool missing = clann_is_missing(cell);
        enum cell_kind k = missing ? CELL_TEXT : classify(cell, loc, &num[r]);
        if (missing)
            num[r] = NAN;
        c->missing += missing;
        c->numbers += k == CELL_NUMBER;
        text += k == CELL_TEXT && !missing;
        if ((k == CELL_NONFINITE || k == CELL_RANGE) && first_bad == SIZE_MAX) {
            first_bad = r;
            bad_at = at;
            bad_kind = k;
        }
        at += strlen(cell) + 1;
    }
    if (first_bad != SIZE_MAX && (text == 0 || c->numbers > 0)) {
        clann__free(num);
        return bad_number(o, c, col, first_bad, c->pool + bad_at, bad_kind);
    }
    if (text > 0 || c->numbers == 0) { /* words, or missing cells only (or no rows) */
        clann__free(num);
        return index_cells(c, rows);
    }
    c->numeric = true;
    c->num = num;
    clann__free(c->pool);
    c->pool = NULL;
    return CLANN_OK;
}

/* Whether the header's field repeats an earlier one: one set of names (data/strmap.h), so the
 * header costs O(n). */
static enum clann_status seen_before(struct clann__csv_reader *r, struct clann__strmap *seen,
                                     const char *name, bool *dup)
{
    size_t len = strlen(name);
    *dup = clann__strmap_find(seen, name, len) != SIZE_MAX;
    if (!*dup && !clann__strmap_add(seen, name, len))
        return clann__csv_no_memory(r);
    return CLANN_OK;
}

static enum clann_status header_row(struct clann__csv_reader *r, const char *path,
                                    struct clann_table *t, bool has_header)
{
    char name[32];
    size_t n = clann__csv_nfields(r);
    if (n > MAX_COLS)
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: row %zu has %zu columns, more than "
                            "the %d a table may have", path, clann__csv_row(r), n, MAX_COLS);
    struct clann__strmap seen = {0};
    enum clann_status st = CLANN_OK;
    struct clann__table_col *c;
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        const char *s = clann__csv_field(r, i);
        bool dup = false;
        if (!has_header)
            snprintf(name, sizeof name, "c%zu", i);
        if (has_header && *s && (st = seen_before(r, &seen, s, &dup)) != CLANN_OK)
            break;
        if (dup)
            st = clann__error(NULL, CLANN_ERR_INVALID_ARG, "duplicate column name '%.*s%s'",
                              SHOW_MAX, s, strlen(s) > SHOW_MAX ? "..." : "");
        else
            st = add_col_checked(t, has_header ? s : name, true, &c);
        if (st != CLANN_OK) {
            char why[300];
            snprintf(why, sizeof why, "%s", clann_last_error());
            st = clann__error(NULL, st, "%s: row %zu, column %zu: %s", path,
                              clann__csv_row(r), i + 1, why);
        }
    }
    clann__strmap_free(&seen);
    return st;
}

static enum clann_status data_row(struct clann__csv_reader *r, const char *path,
                                  struct clann_table *t, size_t **lines)
{
    size_t nfields = clann__csv_nfields(r);
    if (nfields != t->cols)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: row %zu: expected %zu fields, saw %zu",
                            path, clann__csv_row(r), t->cols, nfields);
    /* The row's line, for messages; the index doubles from FIRST_ROWS. Cells go to their
     * column's pool only: offsets are made for the columns that stay text (type_column). */
    size_t n = t->rows;
    if (n == 0 || (n >= FIRST_ROWS && (n & (n - 1)) == 0)) {
        size_t *l = clann__realloc(*lines, (n ? 2 * n : FIRST_ROWS) * sizeof *l);
        if (!l)
            return clann__csv_no_memory(r);
        *lines = l;
    }
    (*lines)[n] = clann__csv_row(r);
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < t->cols && st == CLANN_OK; i++)
        st = pool_push(&t->c[i], clann__csv_field(r, i));
    t->rows++;
    return st;
}

static enum clann_status read_all(struct clann__csv_reader *r, const char *path,
                                  struct clann_table *t, const struct clann_table_params *p)
{
    bool got, first = true;
    enum clann_status st;
    struct table_origin o = {path, NULL};
    size_t *lines = NULL;
    while ((st = clann__csv_read_record(r, &got)) == CLANN_OK && got) {
        if (first && (st = header_row(r, path, t, p->has_header)) != CLANN_OK)
            break;
        if ((!first || !p->has_header) && (st = data_row(r, path, t, &lines)) != CLANN_OK)
            break;
        first = false;
    }
    if (st == CLANN_OK && t->rows == 0)
        st = clann__error(NULL, CLANN_ERR_FORMAT, "%s: no data rows", path);
    locale_t loc = st == CLANN_OK ? newlocale(LC_NUMERIC_MASK, "C", (locale_t)0) : (locale_t)0;
    if (st == CLANN_OK && !loc)
        st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: cannot create the C locale", path);
    o.lines = lines;
    for (size_t i = 0; i < t->cols && st == CLANN_OK; i++)
        st = type_column(&t->c[i], i, t->rows, loc, &o);
    if (loc)
        freelocale(loc);
    clann__free(lines);
    return st;
}

CLANN_API enum clann_status clann_table_load_csv(const char *path,
                                                 const struct clann_table_params *params,
                                                 struct clann_table **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_load_csv: out is NULL");
    *out = NULL;
    struct clann_table_params p = params ? *params : clann_table_default_params();
    if (!path || p.delimiter == '"' || p.delimiter == '\n' || p.delimiter == '\r' ||
        p.delimiter == '\0')
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "table_load_csv: need a path and a "
                            "delimiter other than a quote, NUL or a line end");
    struct clann__csv_reader *r;
    enum clann_status st = clann__csv_reader_open(path, p.delimiter, &r);
    if (st != CLANN_OK)
        return st;
    struct clann_table *t = NULL;
    st = clann_table_create(0, &t);
    if (st == CLANN_OK)
        st = read_all(r, path, t, &p);
    clann__csv_reader_close(r);
    if (st != CLANN_OK) {
        clann_table_destroy(t);
        return st;
    }
    *out = t;
    return CLANN_OK;
}
