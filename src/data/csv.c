/*
 * csv.c - numeric CSV loader.
 *
 * Records come from the shared RFC 4180 reader (csv_reader.c: quoting, LF/CRLF/CR line ends,
 * blank lines and a byte order mark skipped, one record in memory at a time). Numbers are
 * parsed with strtod under the C locale (the caller's locale is restored). Rows in messages
 * are 1-based line numbers of the record's first line, so they match what an editor shows;
 * columns are 1-based.
 */
#include "data/csv_reader.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CSV_NO_LABEL SIZE_MAX
#define CSV_SHOW_MAX 40 /* characters of offending text quoted in messages */

CLANN_API struct clann_csv_params clann_csv_default_params(void)
{
    struct clann_csv_params p = {
        .delimiter = ',', .has_header = true, .label_column = NULL, .fill = CLANN_FILL_NONE};
    return p;
}

/* ---- numbers and messages ----------------------------------------------------------------- */

enum csv_value { VALUE_OK, VALUE_EMPTY, VALUE_BAD, VALUE_NONFINITE, VALUE_RANGE };

static enum csv_value parse_value(const char *s, float *out)
{
    while (*s == ' ' || *s == '\t')
        s++;
    if (!*s)
        return VALUE_EMPTY;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (end == s)
        return VALUE_BAD;
    while (*end == ' ' || *end == '\t')
        end++;
    if (*end)
        return VALUE_BAD;
    if (isnan(d) || (isinf(d) && errno != ERANGE))
        return VALUE_NONFINITE;
    if (isinf(d) || fabs(d) > FLT_MAX)
        return VALUE_RANGE;
    *out = (float)d;
    return VALUE_OK;
}

/* Copies at most CSV_SHOW_MAX bytes of s into dst, escaping control and non-ASCII bytes. */
static void show(char *dst, size_t cap, const char *s)
{
    size_t n = 0, i = 0;
    for (; s[i] && i < CSV_SHOW_MAX && n + 5 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x7f)
            n += (size_t)snprintf(dst + n, cap - n, "\\x%02x", c);
        else
            dst[n++] = (char)c;
    }
    if (s[i] && n + 4 < cap) {
        memcpy(dst + n, "...", 3);
        n += 3;
    }
    dst[n] = '\0';
}

/* ---- loader ------------------------------------------------------------------------------- */

struct csv_load {
    const struct clann_csv_params *p;
    const char *path;
    struct clann__csv_reader *r;
    char *names; /* header fields, NUL-separated; NULL without a header */
    size_t *name_at;
    size_t ncols, label, nfeat;
    float *feat, *lab;
    size_t rows, cap_rows;
    double *sum; /* per column, for CLANN_FILL_MEAN */
    size_t *nvalid;
    bool any_missing;
};

/* " ('name')" for a column when the file has a header, else "". */
static void column_name(const struct csv_load *ld, size_t col, char *dst, size_t cap)
{
    dst[0] = '\0';
    if (ld->names) {
        char shown[4 * CSV_SHOW_MAX + 8];
        show(shown, sizeof shown, ld->names + ld->name_at[col]);
        snprintf(dst, cap, " ('%s')", shown);
    }
}

static enum clann_status value_error(const struct csv_load *ld, size_t col, const char *text,
                                     enum csv_value v)
{
    char name[4 * CSV_SHOW_MAX + 16], shown[4 * CSV_SHOW_MAX + 8];
    column_name(ld, col, name, sizeof name);
    show(shown, sizeof shown, text);
    const char *path = ld->path;
    size_t row = clann__csv_row(ld->r);
    switch (v) {
    case VALUE_EMPTY:
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: row %zu, column %zu%s: empty field (a fill policy can replace "
                            "missing values)",
                            path, row, col + 1, name);
    case VALUE_NONFINITE:
        return clann__error(NULL, CLANN_ERR_NONFINITE,
                            "%s: row %zu, column %zu%s: non-finite value '%s'", path, row,
                            col + 1, name, shown);
    case VALUE_RANGE:
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: row %zu, column %zu%s: '%s' is beyond the float range", path,
                            row, col + 1, name, shown);
    default:
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: row %zu, column %zu%s: could not convert '%s' to a number",
                            path, row, col + 1, name, shown);
    }
}

/* Copies the header's fields, which the next record overwrites, for the column names. */
static enum clann_status keep_header(struct csv_load *ld)
{
    size_t total = 0, bytes;
    for (size_t c = 0; c < ld->ncols; c++)
        total += strlen(clann__csv_field(ld->r, c)) + 1;
    ld->names = clann__malloc(total);
    ld->name_at = clann__mul_size(ld->ncols, sizeof(size_t), &bytes) ? clann__malloc(bytes)
                                                                      : NULL;
    if (!ld->names || !ld->name_at)
        return clann__csv_no_memory(ld->r);
    for (size_t c = 0, at = 0; c < ld->ncols; c++) {
        const char *name = clann__csv_field(ld->r, c);
        size_t n = strlen(name) + 1;
        memcpy(ld->names + at, name, n);
        ld->name_at[c] = at;
        at += n;
    }
    return CLANN_OK;
}

static enum clann_status find_label(struct csv_load *ld)
{
    const char *want = ld->p->label_column, *path = ld->path;
    if (!want) {
        ld->label = ld->ncols - 1;
    } else if (!*want) {
        ld->label = CSV_NO_LABEL;
    } else {
        ld->label = CSV_NO_LABEL;
        for (size_t c = 0; ld->names && c < ld->ncols && ld->label == CSV_NO_LABEL; c++)
            if (strcmp(ld->names + ld->name_at[c], want) == 0)
                ld->label = c;
        if (ld->label == CSV_NO_LABEL) {
            char *end;
            errno = 0;
            unsigned long long v = want[0] >= '0' && want[0] <= '9' ? strtoull(want, &end, 10)
                                                                    : 0;
            bool numeric = want[0] >= '0' && want[0] <= '9' && *end == '\0' && errno == 0;
            if (!numeric)
                return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                                    "%s: label column '%s' is %s", path, want,
                                    ld->names ? "neither a header name nor a 0-based index"
                                              : "not a 0-based index (the file has no header)");
            if (v >= ld->ncols)
                return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                                    "%s: label column index %s is out of range: the file has "
                                    "%zu columns",
                                    path, want, ld->ncols);
            ld->label = (size_t)v;
        }
    }
    ld->nfeat = ld->ncols - (ld->label != CSV_NO_LABEL);
    if (ld->nfeat == 0)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: no feature columns (the file's only column is the label)", path);
    return CLANN_OK;
}

static enum clann_status grow_rows(struct csv_load *ld)
{
    size_t cap = ld->cap_rows ? 2 * ld->cap_rows : 256, fbytes, lbytes;
    if (cap < ld->cap_rows || !clann__mul_size(cap, ld->nfeat, &fbytes) ||
        !clann__mul_size(fbytes, sizeof(float), &fbytes) ||
        !clann__mul_size(cap, sizeof(float), &lbytes))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: too many rows (%zu)", ld->path,
                            ld->rows);
    float *f = clann__realloc(ld->feat, fbytes);
    if (!f)
        return clann__csv_no_memory(ld->r);
    ld->feat = f;
    if (ld->label != CSV_NO_LABEL) {
        float *l = clann__realloc(ld->lab, lbytes);
        if (!l)
            return clann__csv_no_memory(ld->r);
        ld->lab = l;
    }
    ld->cap_rows = cap;
    return CLANN_OK;
}

static enum clann_status add_row(struct csv_load *ld)
{
    size_t nfields = clann__csv_nfields(ld->r);
    if (nfields != ld->ncols)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: row %zu: expected %zu fields, found %zu",
                            ld->path, clann__csv_row(ld->r), ld->ncols, nfields);
    if (ld->rows == ld->cap_rows) {
        enum clann_status st = grow_rows(ld);
        if (st != CLANN_OK)
            return st;
    }
    float *frow = ld->feat + ld->rows * ld->nfeat;
    for (size_t c = 0, f = 0; c < ld->ncols; c++) {
        const char *text = clann__csv_field(ld->r, c);
        float x = 0.0f;
        enum csv_value v = parse_value(text, &x);
        if (v != VALUE_OK) {
            if (ld->p->fill == CLANN_FILL_NONE)
                return value_error(ld, c, text, v);
            if (ld->p->fill == CLANN_FILL_MEAN) {
                x = NAN; /* filled once every row is in */
                ld->any_missing = true;
            }
        } else if (ld->sum) {
            ld->sum[c] += x;
            ld->nvalid[c]++;
        }
        if (c == ld->label)
            ld->lab[ld->rows] = x;
        else
            frow[f++] = x;
    }
    ld->rows++;
    return CLANN_OK;
}

static enum clann_status fill_means(struct csv_load *ld)
{
    for (size_t c = 0; c < ld->ncols; c++) {
        size_t f = c < ld->label ? c : c - 1;
        float mean = ld->nvalid[c] ? (float)(ld->sum[c] / (double)ld->nvalid[c]) : 0.0f;
        bool missing = false;
        for (size_t i = 0; i < ld->rows; i++) {
            float *x = c == ld->label ? &ld->lab[i] : &ld->feat[i * ld->nfeat + f];
            if (isnan(*x)) {
                *x = mean;
                missing = true;
            }
        }
        if (missing && ld->nvalid[c] == 0) {
            char name[4 * CSV_SHOW_MAX + 16];
            column_name(ld, c, name, sizeof name);
            return clann__error(NULL, CLANN_ERR_FORMAT,
                                "%s: column %zu%s has no valid values to take the mean of",
                                ld->path, c + 1, name);
        }
    }
    return CLANN_OK;
}

static enum clann_status load(struct csv_load *ld)
{
    bool got;
    enum clann_status st = clann__csv_read_record(ld->r, &got);
    if (st != CLANN_OK)
        return st;
    if (!got)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: empty file", ld->path);
    ld->ncols = clann__csv_nfields(ld->r);
    if (ld->p->has_header) {
        if ((st = keep_header(ld)) != CLANN_OK)
            return st;
    }
    if ((st = find_label(ld)) != CLANN_OK)
        return st;
    if (ld->p->fill == CLANN_FILL_MEAN) {
        ld->sum = clann__calloc(ld->ncols, sizeof *ld->sum);
        ld->nvalid = clann__calloc(ld->ncols, sizeof *ld->nvalid);
        if (!ld->sum || !ld->nvalid)
            return clann__csv_no_memory(ld->r);
    }
    if (!ld->p->has_header && (st = add_row(ld)) != CLANN_OK)
        return st;
    for (;;) {
        if ((st = clann__csv_read_record(ld->r, &got)) != CLANN_OK)
            return st;
        if (!got)
            break;
        if ((st = add_row(ld)) != CLANN_OK)
            return st;
    }
    if (ld->rows == 0)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: no data rows after the header",
                            ld->path);
    if (ld->any_missing)
        return fill_means(ld);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_csv_load(const char *path, const struct clann_csv_params *params,
                                           struct clann_matrix *features,
                                           struct clann_matrix *labels)
{
    if (features)
        memset(features, 0, sizeof *features);
    if (labels)
        memset(labels, 0, sizeof *labels);
    struct clann_csv_params defaults = clann_csv_default_params();
    const struct clann_csv_params *p = params ? params : &defaults;
    bool want_label = !p->label_column || *p->label_column;
    if (!path || !features || (want_label && !labels))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "clann_csv_load: %s is NULL",
                            !path ? "path" : !features ? "features" : "labels");
    if (p->delimiter == '"' || p->delimiter == '\n' || p->delimiter == '\r' ||
        p->delimiter == '\0')
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "clann_csv_load: the delimiter cannot be a quote, a line end or NUL");
    if (p->fill != CLANN_FILL_NONE && p->fill != CLANN_FILL_ZERO && p->fill != CLANN_FILL_MEAN)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_csv_load: unknown fill policy %d",
                            (int)p->fill);

    struct csv_load ld;
    memset(&ld, 0, sizeof ld);
    ld.p = p;
    ld.path = path;
    enum clann_status st = clann__csv_reader_open(path, p->delimiter, &ld.r);
    if (st != CLANN_OK)
        return st;

    /* strtod follows the thread's locale: use "C" for the duration of the load. */
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t saved = c_locale ? uselocale(c_locale) : (locale_t)0;
    st = load(&ld);
    if (c_locale) {
        uselocale(saved);
        freelocale(c_locale);
    }

    clann__csv_reader_close(ld.r);
    clann__free(ld.names);
    clann__free(ld.name_at);
    clann__free(ld.sum);
    clann__free(ld.nvalid);
    if (st != CLANN_OK) {
        clann__free(ld.feat);
        clann__free(ld.lab);
        return st;
    }
    /* Give back the unused tail of the row buffers; a failed shrink keeps the larger block. */
    float *f = ld.rows < ld.cap_rows ? clann__realloc(ld.feat, ld.rows * ld.nfeat * sizeof(float))
                                     : NULL;
    if (f)
        ld.feat = f;
    float *l = ld.lab && ld.rows < ld.cap_rows ? clann__realloc(ld.lab, ld.rows * sizeof(float))
                                               : NULL;
    if (l)
        ld.lab = l;
    features->rows = ld.rows;
    features->cols = ld.nfeat;
    features->data = ld.feat;
    if (ld.label != CSV_NO_LABEL) {
        labels->rows = ld.rows;
        labels->cols = 1;
        labels->data = ld.lab;
    }
    return CLANN_OK;
}
