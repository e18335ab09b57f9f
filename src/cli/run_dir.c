/*
 * run_dir.c - reads a run folder for `clann report` (report.h): log.csv, whose rows are epochs
 * or monitor samples (the "kind" column) and whose columns are read by header name, and the
 * optional eval.json and run.json. A log still being written (a short last line) reads up to
 * its last complete row.
 */
#include "cli.h"
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- log.csv ---------------------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Splits line in place at commas. Stores up to max fields and returns how many there are. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;
    for (char *p = line;; p++) {
        char *end = strchr(p, ',');
        if (end)
            *end = '\0';
        if (n < max)
            fields[n] = trim(p);
        n++;
        if (!end)
            return n;
        p = end;
    }
}

static void run_log_free(struct run_log *log)
{
    for (size_t i = 0; log->names && i < log->n_cols; i++)
        free(log->names[i]);
    free(log->names);
    free(log->kinds);
    free(log->values);
}

static int parse_header(struct run_log *log, char *line)
{
    size_t n = 1;
    for (const char *p = line; (p = strchr(p, ',')) != NULL; p++)
        n++;
    char **fields = malloc(n * sizeof *fields);
    log->names = calloc(n, sizeof *log->names);
    if (!fields || !log->names) {
        free(fields);
        fprintf(stderr, "clann: %s: out of memory\n", log->path);
        return CLI_FAILED;
    }
    split_fields(line, fields, n);
    log->n_cols = n;
    for (size_t i = 0; i < n; i++)
        log->names[i] = strdup(fields[i]);
    free(fields);
    for (size_t i = 0; i < n; i++) {
        if (!log->names[i]) {
            fprintf(stderr, "clann: %s: out of memory\n", log->path);
            return CLI_FAILED;
        }
    }
    int k = run_log_column(log, "kind");
    if (k < 0) {
        fprintf(stderr, "clann: %s: line 1: the header has no 'kind' column\n", log->path);
        return CLI_FAILED;
    }
    log->kind_col = (size_t)k;
    return CLI_OK;
}

static bool grow_rows(struct run_log *log)
{
    if (log->n_rows < log->cap_rows)
        return true;
    size_t cap = log->cap_rows ? 2 * log->cap_rows : 64;
    double *v = realloc(log->values, cap * log->n_cols * sizeof *v);
    if (v)
        log->values = v;
    unsigned char *k = realloc(log->kinds, cap);
    if (k)
        log->kinds = k;
    if (!v || !k)
        return false;
    log->cap_rows = cap;
    return true;
}

/* Empty fields are missing values; strtod() also takes "nan" and "inf". */
static bool parse_number(const char *text, double *out)
{
    if (!*text) {
        *out = NAN;
        return true;
    }
    char *end;
    *out = strtod(text, &end);
    return end != text && *end == '\0';
}

static int parse_row(struct run_log *log, char **fields, size_t line_no)
{
    if (!grow_rows(log)) {
        fprintf(stderr, "clann: %s: out of memory\n", log->path);
        return CLI_FAILED;
    }
    double *row = log->values + log->n_rows * log->n_cols;
    const char *kind = fields[log->kind_col];
    log->kinds[log->n_rows] = strcmp(kind, "epoch") == 0     ? ROW_EPOCH
                              : strcmp(kind, "monitor") == 0 ? ROW_MONITOR
                                                             : ROW_OTHER;
    for (size_t c = 0; c < log->n_cols; c++) {
        row[c] = NAN;
        if (c != log->kind_col && !parse_number(fields[c], &row[c])) {
            fprintf(stderr, "clann: %s: row %zu (line %zu), column %zu '%s': '%s' is not a "
                            "number\n",
                    log->path, line_no - 1, line_no, c + 1, log->names[c], fields[c]);
            return CLI_FAILED;
        }
    }
    log->n_rows++;
    return CLI_OK;
}

/* One data line. A short last line without its newline is a row the trainer is still writing
 * (the report can be made during training), so it is left out rather than refused. */
static int read_line(struct run_log *log, char *line, size_t line_no, bool last, char **fields)
{
    bool complete = strchr(line, '\n') != NULL;
    if (*trim(line) == '\0')
        return CLI_OK;
    size_t n = split_fields(line, fields, log->n_cols);
    if (n < log->n_cols && !complete && last) {
        fprintf(stderr, "clann: %s: leaving out the unfinished last row (line %zu)\n",
                log->path, line_no);
        return CLI_OK;
    }
    if (n != log->n_cols) {
        fprintf(stderr, "clann: %s: row %zu (line %zu) has %zu fields, the header has %zu\n",
                log->path, line_no - 1, line_no, n, log->n_cols);
        return CLI_FAILED;
    }
    return parse_row(log, fields, line_no);
}

static int read_lines(struct run_log *log, FILE *f)
{
    char *line = NULL, **fields = NULL;
    size_t cap = 0, line_no = 0;
    int rc = CLI_OK;
    ssize_t len;
    while (rc == CLI_OK && (len = getline(&line, &cap, f)) >= 0) {
        line_no++;
        if (line_no == 1) {
            rc = parse_header(log, line);
            fields = rc == CLI_OK ? malloc(log->n_cols * sizeof *fields) : NULL;
            if (rc == CLI_OK && !fields) {
                fprintf(stderr, "clann: %s: out of memory\n", log->path);
                rc = CLI_FAILED;
            }
            continue;
        }
        int next = fgetc(f);
        bool last = next == EOF;
        if (!last)
            ungetc(next, f);
        rc = read_line(log, line, line_no, last, fields);
    }
    if (rc == CLI_OK && line_no == 0) {
        fprintf(stderr, "clann: %s: empty file (no header row)\n", log->path);
        rc = CLI_FAILED;
    }
    free(line);
    free(fields);
    return rc;
}

static int run_log_read(const char *dir, struct run_log *log)
{
    memset(log, 0, sizeof *log);
    snprintf(log->path, sizeof log->path, "%s/log.csv", dir);
    FILE *f = fopen(log->path, "r");
    if (!f) {
        fprintf(stderr, "clann: %s: cannot open: %s\n", log->path, strerror(errno));
        return CLI_FAILED;
    }
    int rc = read_lines(log, f);
    if (rc == CLI_OK && ferror(f)) {
        fprintf(stderr, "clann: %s: cannot read: %s\n", log->path, strerror(errno));
        rc = CLI_FAILED;
    }
    fclose(f);
    return rc;
}

/* ---- reading the rows ------------------------------------------------------------------- */

int run_log_column(const struct run_log *log, const char *name)
{
    for (size_t i = 0; i < log->n_cols; i++) {
        if (strcmp(log->names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

size_t run_log_series(const struct run_log *log, enum row_kind kind, int x_col, int y_col,
                      double *x, double *y)
{
    size_t n = 0;
    for (size_t r = 0; r < log->n_rows; r++) {
        if (log->kinds[r] != kind)
            continue;
        const double *row = log->values + r * log->n_cols;
        x[n] = x_col >= 0 ? row[x_col] : (double)(n + 1);
        y[n] = y_col >= 0 ? row[y_col] : NAN;
        n++;
    }
    return n;
}

size_t run_log_count(const struct run_log *log, enum row_kind kind)
{
    size_t n = 0;
    for (size_t r = 0; r < log->n_rows; r++)
        n += log->kinds[r] == kind;
    return n;
}

size_t run_log_layers(const struct run_log *log)
{
    size_t n = 0;
    for (size_t c = 0; c < log->n_cols; c++) {
        unsigned long i;
        int used = 0;
        if (sscanf(log->names[c], "layer%lu/%n", &i, &used) == 1 && used > 0 && i < 100000)
            n = i + 1 > n ? i + 1 : n;
    }
    return n;
}

/* ---- eval.json and the folder ----------------------------------------------------------- */

/* eval.json and run.json are optional; one that is there must parse. */
static int read_json(const char *dir, const char *name, json_object **out)
{
    char path[4096];
    struct stat st;
    *out = NULL;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) != 0)
        return CLI_OK;
    *out = json_object_from_file(path);
    if (!*out || !json_object_is_type(*out, json_type_object)) {
        const char *why = *out ? "not a JSON object" : json_util_get_last_err();
        char msg[256];
        snprintf(msg, sizeof msg, "%s", why ? why : "invalid JSON");
        msg[strcspn(msg, "\n")] = '\0'; /* json-c ends its messages with a newline */
        fprintf(stderr, "clann: %s: cannot parse: %s\n", path, msg);
        json_object_put(*out);
        *out = NULL; /* run_dir_free() puts what is left */
        return CLI_FAILED;
    }
    return CLI_OK;
}

static int check_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        fprintf(stderr, "clann: %s: cannot open run folder: %s\n", dir, strerror(errno));
        return CLI_FAILED;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "clann: %s: not a folder (expected a run folder holding log.csv)\n",
                dir);
        return CLI_FAILED;
    }
    return CLI_OK;
}

int run_dir_read(const char *dir, struct run_dir *out)
{
    memset(out, 0, sizeof *out);
    int rc = check_dir(dir);
    if (rc == CLI_OK)
        rc = run_log_read(dir, &out->log);
    if (rc == CLI_OK)
        rc = read_json(dir, "eval.json", &out->eval);
    if (rc == CLI_OK)
        rc = read_json(dir, "run.json", &out->run);
    return rc;
}

void run_dir_free(struct run_dir *rd)
{
    json_object_put(rd->eval);
    json_object_put(rd->run);
    run_log_free(&rd->log);
    memset(rd, 0, sizeof *rd);
}
