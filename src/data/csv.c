/*
 * csv.c - numeric CSV reader.
 *
 * A record-at-a-time RFC 4180 state machine over stdio: quoted fields may hold delimiters,
 * doubled quotes and line ends; LF, CRLF and a lone CR all end a line; blank lines are
 * skipped. Only the current record is held in memory, so a line is as long as memory allows.
 * Numbers are parsed with strtod under the C locale (the caller's locale is restored).
 * Rows in messages are 1-based line numbers of the record's first line, so they match what an
 * editor shows; columns are 1-based.
 */
#include "core/internal.h"

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

/* ---- record reader ------------------------------------------------------------------------ */

struct csv_reader {
    FILE *fp;
    const char *path;
    char delim;
    char *buf; /* the current record's fields, each NUL-terminated */
    size_t len, cap;
    size_t *start; /* offset of each field in buf */
    size_t nfields, fcap;
    size_t line; /* 1-based line of the next character */
    size_t row;  /* line on which the current record starts */
};

enum csv_state { REC_START, FIELD, QUOTED, QUOTE_SEEN, AFTER_QUOTE };

static enum clann_status no_memory(const struct csv_reader *r)
{
    return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory at row %zu", r->path,
                        r->row);
}

static enum clann_status push(struct csv_reader *r, char c)
{
    if (r->len == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        char *grown = cap > r->cap ? clann__realloc(r->buf, cap) : NULL;
        if (!grown)
            return no_memory(r);
        r->buf = grown;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return CLANN_OK;
}

static enum clann_status end_field(struct csv_reader *r, size_t begin)
{
    if (r->nfields == r->fcap) {
        size_t cap = r->fcap ? 2 * r->fcap : 16, bytes;
        size_t *grown = clann__mul_size(cap, sizeof *grown, &bytes)
                            ? clann__realloc(r->start, bytes)
                            : NULL;
        if (!grown)
            return no_memory(r);
        r->start = grown;
        r->fcap = cap;
    }
    r->start[r->nfields++] = begin;
    return push(r, '\0');
}

/* Returns the next byte with CR and CRLF turned into LF. */
static int next_char(struct csv_reader *r)
{
    int c = getc_unlocked(r->fp);
    if (c == '\r') {
        int d = getc_unlocked(r->fp);
        if (d != '\n' && d != EOF)
            ungetc(d, r->fp);
        return '\n';
    }
    return c;
}

/* Reads one record into r; *got is false at the end of the file. */
static enum clann_status read_record(struct csv_reader *r, bool *got)
{
    enum csv_state state = REC_START;
    size_t begin = 0;
    bool blank = true; /* the unquoted field so far holds only spaces */
    enum clann_status st = CLANN_OK;
    r->len = 0;
    r->nfields = 0;
    *got = false;
    for (;;) {
        int c = next_char(r);
        if (c == EOF) {
            if (ferror(r->fp))
                return clann__error(NULL, CLANN_ERR_IO, "%s: read error after row %zu: %s",
                                    r->path, r->line, strerror(errno));
            if (state == REC_START)
                return CLANN_OK;
            if (state == QUOTED)
                return clann__error(NULL, CLANN_ERR_FORMAT,
                                    "%s: row %zu, column %zu: unterminated quoted field (the "
                                    "file ends inside quotes)",
                                    r->path, r->row, r->nfields + 1);
            *got = true;
            return end_field(r, begin);
        }
        if (state == REC_START) {
            if (c == '\n') { /* blank line */
                r->line++;
                continue;
            }
            r->row = r->line;
            state = FIELD;
        }
        if (c == '\0')
            return clann__error(NULL, CLANN_ERR_FORMAT, "%s: row %zu, column %zu: NUL byte",
                                r->path, r->row, r->nfields + 1);
        if (state == FIELD) {
            if (c == r->delim) {
                st = end_field(r, begin);
                begin = r->len;
                blank = true;
            } else if (c == '\n') {
                r->line++;
                *got = true;
                return end_field(r, begin);
            } else if (c == '"' && blank) {
                r->len = begin; /* spaces before an opening quote are dropped */
                state = QUOTED;
            } else {
                st = push(r, (char)c);
                blank = blank && (c == ' ' || c == '\t');
            }
        } else if (state == QUOTED) {
            if (c == '"') {
                state = QUOTE_SEEN;
            } else {
                r->line += c == '\n';
                st = push(r, (char)c);
            }
        } else { /* QUOTE_SEEN or AFTER_QUOTE */
            if (c == '"' && state == QUOTE_SEEN) {
                st = push(r, '"');
                state = QUOTED;
            } else if (c == r->delim) {
                st = end_field(r, begin);
                begin = r->len;
                blank = true;
                state = FIELD;
            } else if (c == '\n') {
                r->line++;
                *got = true;
                return end_field(r, begin);
            } else if (c == ' ' || c == '\t') {
                state = AFTER_QUOTE;
            } else {
                return clann__error(NULL, CLANN_ERR_FORMAT,
                                    "%s: row %zu, column %zu: unexpected character after a "
                                    "closing quote",
                                    r->path, r->row, r->nfields + 1);
            }
        }
        if (st != CLANN_OK)
            return st;
    }
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
    struct csv_reader r;
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
    const char *path = ld->r.path;
    size_t row = ld->r.row;
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

static enum clann_status keep_header(struct csv_load *ld)
{
    struct csv_reader *r = &ld->r;
    size_t bytes;
    ld->names = clann__malloc(r->len);
    ld->name_at = clann__mul_size(r->nfields, sizeof(size_t), &bytes) ? clann__malloc(bytes)
                                                                       : NULL;
    if (!ld->names || !ld->name_at)
        return no_memory(r);
    memcpy(ld->names, r->buf, r->len);
    memcpy(ld->name_at, r->start, r->nfields * sizeof(size_t));
    return CLANN_OK;
}

static enum clann_status find_label(struct csv_load *ld)
{
    const char *want = ld->p->label_column, *path = ld->r.path;
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
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: too many rows (%zu)", ld->r.path,
                            ld->rows);
    float *f = clann__realloc(ld->feat, fbytes);
    if (!f)
        return no_memory(&ld->r);
    ld->feat = f;
    if (ld->label != CSV_NO_LABEL) {
        float *l = clann__realloc(ld->lab, lbytes);
        if (!l)
            return no_memory(&ld->r);
        ld->lab = l;
    }
    ld->cap_rows = cap;
    return CLANN_OK;
}

static enum clann_status add_row(struct csv_load *ld)
{
    struct csv_reader *r = &ld->r;
    if (r->nfields != ld->ncols)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: row %zu: expected %zu fields, found %zu",
                            r->path, r->row, ld->ncols, r->nfields);
    if (ld->rows == ld->cap_rows) {
        enum clann_status st = grow_rows(ld);
        if (st != CLANN_OK)
            return st;
    }
    float *frow = ld->feat + ld->rows * ld->nfeat;
    for (size_t c = 0, f = 0; c < ld->ncols; c++) {
        const char *text = r->buf + r->start[c];
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
                                ld->r.path, c + 1, name);
        }
    }
    return CLANN_OK;
}

static enum clann_status load(struct csv_load *ld)
{
    struct csv_reader *r = &ld->r;
    bool got;
    enum clann_status st = read_record(r, &got);
    if (st != CLANN_OK)
        return st;
    if (!got)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: empty file", r->path);
    ld->ncols = r->nfields;
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
            return no_memory(r);
    }
    if (!ld->p->has_header && (st = add_row(ld)) != CLANN_OK)
        return st;
    for (;;) {
        if ((st = read_record(r, &got)) != CLANN_OK)
            return st;
        if (!got)
            break;
        if ((st = add_row(ld)) != CLANN_OK)
            return st;
    }
    if (ld->rows == 0)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: no data rows after the header",
                            r->path);
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
    ld.r.path = path;
    ld.r.delim = p->delimiter;
    ld.r.line = 1;
    ld.r.row = 1;
    ld.r.fp = fopen(path, "rb");
    if (!ld.r.fp)
        return clann__error(NULL, CLANN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

    /* Skip a UTF-8 byte order mark, as spreadsheet programs write. */
    int c0 = getc(ld.r.fp);
    if (c0 == 0xEF) {
        int c1 = getc(ld.r.fp), c2 = getc(ld.r.fp);
        if (c1 != 0xBB || c2 != 0xBF)
            rewind(ld.r.fp);
    } else if (c0 != EOF) {
        ungetc(c0, ld.r.fp);
    }

    /* strtod follows the thread's locale: use "C" for the duration of the load. */
    locale_t c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    locale_t saved = c_locale ? uselocale(c_locale) : (locale_t)0;
    enum clann_status st = load(&ld);
    if (c_locale) {
        uselocale(saved);
        freelocale(c_locale);
    }

    fclose(ld.r.fp);
    clann__free(ld.r.buf);
    clann__free(ld.r.start);
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
