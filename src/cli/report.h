/*
 * report.h - `clann report` in two halves: run_dir.c reads a run folder (log.csv with its epoch
 * rows and per-layer monitor rows, and the optional eval.json) into a struct run_dir, and
 * report_html.c renders that struct as one HTML page. report.c is the command around them.
 */
#ifndef CLANN_CLI_REPORT_H
#define CLANN_CLI_REPORT_H

#include <json-c/json.h>

#include <stddef.h>
#include <stdio.h>

enum row_kind { ROW_OTHER, ROW_EPOCH, ROW_MONITOR };

/* log.csv in memory: every column as numbers, read by header name. */
struct run_log {
    char path[4096];
    size_t n_cols, n_rows, cap_rows;
    char **names;
    unsigned char *kinds; /* enum row_kind of each row, from the "kind" column */
    double *values;       /* n_rows x n_cols; NaN where empty or not a number column */
    size_t kind_col;
};

/* Everything the page shows, read from one run folder. */
struct run_dir {
    struct run_log log;
    json_object *eval; /* eval.json, NULL when the folder has none */
    json_object *run;  /* run.json (the model and options of clann train), NULL when none */
};

/* Reads folder dir: log.csv must be there and parse, eval.json and run.json must parse when
 * present.
 * Returns CLI_OK, or CLI_FAILED after printing the reason (file and line) on stderr; *out is
 * safe to pass to run_dir_free() either way. */
int run_dir_read(const char *dir, struct run_dir *out);
void run_dir_free(struct run_dir *rd);

/* The index of the column named `name`, -1 when log.csv has none. */
int run_log_column(const struct run_log *log, const char *name);
/* x and y of the rows of one kind (x = row number from 1 when x_col < 0; y NaN when y_col < 0);
 * returns the count. x and y hold n_rows values. */
size_t run_log_series(const struct run_log *log, enum row_kind kind, int x_col, int y_col,
                      double *x, double *y);
/* Rows of one kind. */
size_t run_log_count(const struct run_log *log, enum row_kind kind);
/* Layers named in the header: one more than the largest i in "layer<i>/...". */
size_t run_log_layers(const struct run_log *log);

/* Writes the page (report_html.c): a self-contained, well-formed XHTML document. */
void report_write_page(FILE *f, const char *title, const char *dir, const struct run_dir *rd);

#endif /* CLANN_CLI_REPORT_H */
