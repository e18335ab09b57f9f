/*
 * csv_reader.c - the RFC 4180 record reader shared by csv.c and table.c (see csv_reader.h).
 *
 * A state machine over stdio, one character at a time: the record's fields are appended to
 * one buffer, each NUL-terminated, with their offsets beside it, so a record costs no
 * allocation once the buffers have grown to the widest record.
 */
#include "data/csv_reader.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct clann__csv_reader {
    FILE *fp;
    const char *path; /* the caller's, for messages */
    char delim;
    char *buf; /* the current record's fields, each NUL-terminated */
    size_t len, cap;
    size_t *start; /* offset of each field in buf */
    size_t nfields, fcap;
    size_t line; /* 1-based line of the next character */
    size_t row;  /* line on which the current record starts */
};

/* Where the parser stands within a record. AFTER_QUOTE: spaces after a closing quote, where
 * only more spaces, a delimiter or a line end may follow. */
enum csv_state { REC_START, FIELD, QUOTED, QUOTE_SEEN, AFTER_QUOTE };

enum clann_status clann__csv_no_memory(const struct clann__csv_reader *r)
{
    return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory at row %zu", r->path,
                        r->row);
}

static enum clann_status format_error(const struct clann__csv_reader *r, const char *what)
{
    return clann__error(NULL, CLANN_ERR_FORMAT, "%s: row %zu, column %zu: %s", r->path, r->row,
                        r->nfields + 1, what);
}

static enum clann_status push(struct clann__csv_reader *r, char c)
{
    if (r->len == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 256;
        char *grown = cap > r->cap ? clann__realloc(r->buf, cap) : NULL; /* no wrap-around */
        if (!grown)
            return clann__csv_no_memory(r);
        r->buf = grown;
        r->cap = cap;
    }
    r->buf[r->len++] = c;
    return CLANN_OK;
}

static enum clann_status end_field(struct clann__csv_reader *r, size_t begin)
{
    if (r->nfields == r->fcap) {
        size_t cap = r->fcap ? 2 * r->fcap : 16, bytes;
        size_t *grown = clann__mul_size(cap, sizeof *grown, &bytes)
                            ? clann__realloc(r->start, bytes)
                            : NULL;
        if (!grown)
            return clann__csv_no_memory(r);
        r->start = grown;
        r->fcap = cap;
    }
    r->start[r->nfields++] = begin;
    return push(r, '\0');
}

/* Returns the next byte with CR and CRLF turned into LF. The unlocked getc matters: a lock per
 * byte is most of the cost of a large file. */
static int next_char(struct clann__csv_reader *r)
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

/* One character in the states after the record's start; *done ends the record. */
static enum clann_status step(struct clann__csv_reader *r, int c, enum csv_state *s,
                              size_t *begin, bool *blank, bool *done)
{
    if (c == '\0') /* fields are NUL-terminated: an embedded NUL would cut one short silently */
        return format_error(r, "NUL byte");
    if (*s == QUOTED) {
        if (c == '"')
            *s = QUOTE_SEEN;
        else
            r->line += c == '\n';
        return c == '"' ? CLANN_OK : push(r, (char)c);
    }
    if (c == '"' && *s == QUOTE_SEEN) { /* a doubled quote stands for one */
        *s = QUOTED;
        return push(r, '"');
    }
    if (c == r->delim || c == '\n') {
        r->line += c == '\n';
        *done = c == '\n';
        enum clann_status st = end_field(r, *begin);
        *begin = r->len;
        *blank = true;
        *s = FIELD;
        return st;
    }
    if (*s != FIELD) { /* after a closing quote only spaces may follow */
        if (c != ' ' && c != '\t')
            return format_error(r, "unexpected character after a closing quote");
        *s = AFTER_QUOTE;
        return CLANN_OK;
    }
    if (c == '"' && *blank) {
        r->len = *begin; /* spaces before an opening quote are dropped */
        *s = QUOTED;
        return CLANN_OK;
    }
    *blank = *blank && (c == ' ' || c == '\t');
    return push(r, (char)c);
}

/* The end of the file in state s: the last record ends without a line end, or nothing. */
static enum clann_status at_eof(struct clann__csv_reader *r, enum csv_state s, size_t begin,
                                bool *got)
{
    if (ferror(r->fp))
        return clann__error(NULL, CLANN_ERR_IO, "%s: read error after row %zu: %s", r->path,
                            r->line, strerror(errno));
    if (s == REC_START)
        return CLANN_OK;
    if (s == QUOTED)
        return format_error(r, "unterminated quoted field (the file ends inside quotes)");
    *got = true;
    return end_field(r, begin);
}

enum clann_status clann__csv_read_record(struct clann__csv_reader *r, bool *got)
{
    enum csv_state s = REC_START;
    size_t begin = 0;
    bool blank = true, done = false; /* blank: the unquoted field so far holds only spaces */
    r->len = r->nfields = 0;
    *got = false;
    while (!done) {
        int c = next_char(r);
        if (c == EOF)
            return at_eof(r, s, begin, got);
        if (s == REC_START) {
            if (c == '\n') { /* a blank line */
                r->line++;
                continue;
            }
            r->row = r->line;
            s = FIELD;
        }
        enum clann_status st = step(r, c, &s, &begin, &blank, &done);
        if (st != CLANN_OK)
            return st;
    }
    *got = true;
    return CLANN_OK;
}

size_t clann__csv_nfields(const struct clann__csv_reader *r)
{
    return r->nfields;
}

const char *clann__csv_field(const struct clann__csv_reader *r, size_t i)
{
    return r->buf + r->start[i];
}

size_t clann__csv_row(const struct clann__csv_reader *r)
{
    return r->row;
}

/* Skips a UTF-8 byte order mark, as spreadsheet programs write; anything else is put back. */
static void skip_bom(FILE *fp)
{
    int c0 = getc(fp);
    if (c0 == 0xEF) {
        int c1 = getc(fp), c2 = getc(fp);
        if (c1 != 0xBB || c2 != 0xBF)
            rewind(fp);
    } else if (c0 != EOF) {
        ungetc(c0, fp);
    }
}

enum clann_status clann__csv_reader_open(const char *path, char delimiter,
                                         struct clann__csv_reader **out)
{
    *out = NULL;
    struct clann__csv_reader *r = clann__calloc(1, sizeof *r);
    if (!r)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory", path);
    r->fp = fopen(path, "rb");
    if (!r->fp) {
        int err = errno; /* the free below may change it */
        clann__free(r);
        return clann__error(NULL, CLANN_ERR_IO, "%s: cannot open: %s", path, strerror(err));
    }
    skip_bom(r->fp);
    r->path = path;
    r->delim = delimiter;
    r->line = 1;
    r->row = 1; /* an out-of-memory message before the first record names row 1 */
    *out = r;
    return CLANN_OK;
}

void clann__csv_reader_close(struct clann__csv_reader *r)
{
    if (!r)
        return;
    fclose(r->fp);
    clann__free(r->buf);
    clann__free(r->start);
    clann__free(r);
}
