/*
 * runlog.c - log.csv and TensorBoard scalars for a fit. Epoch rows and monitor rows share one
 * CSV with a `kind` column so that one file holds the whole run in order.
 *
 * log.csv is created atomically with its header row (core/file.c: on a full disk there is no
 * log.csv rather than an empty one, and an older one stays) and then grows by whole rows: each
 * row is formatted in memory and appended in one piece or not at all.
 */
#include "train/runlog.h"
#include "io/tfevents.h"
#include "core/file.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const epoch_columns[] = {"loss", "accuracy", "val_loss", "val_accuracy",
                                            "val_auc", "learning_rate", "seconds"};
static const char *const monitor_columns[] = {"zero_fraction", "grad_norm", "weight_norm",
                                              "update_ratio"};

#define N_EPOCH_COLUMNS (sizeof epoch_columns / sizeof *epoch_columns)
#define N_MONITOR_COLUMNS (sizeof monitor_columns / sizeof *monitor_columns)

struct clann_runlog {
    struct clann_context *ctx;
    FILE *csv;   /* the row being formatted, in memory */
    char *row;   /* csv's buffer */
    size_t row_len;
    int fd;      /* log.csv */
    char path[4096];
    struct clann_tfevents *events;
    size_t n_layers;
    char epoch_names[N_EPOCH_COLUMNS][32]; /* epoch_columns, "val" as the validation name */
};

bool clann__runlog_name_ok(const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    }
    return n > 0 && n < 16;
}

/* "val_loss" becomes "test_loss" when the validation data is a test set, so that log.csv and
 * TensorBoard say what the console says. */
static void name_columns(struct clann_runlog *log, const char *val_name)
{
    for (size_t i = 0; i < N_EPOCH_COLUMNS; i++) {
        const char *c = epoch_columns[i];
        if (val_name && strncmp(c, "val_", 4) == 0)
            snprintf(log->epoch_names[i], sizeof log->epoch_names[i], "%s_%s", val_name, c + 4);
        else
            snprintf(log->epoch_names[i], sizeof log->epoch_names[i], "%s", c);
    }
}

/* A run folder holds one run: the event files of earlier fits into it go once the new one
 * exists (TensorBoard would otherwise draw both runs as one, zigzagging between them). */
static enum clann_status remove_old_events(struct clann_runlog *log, const char *logdir)
{
    const char *mine = strrchr(clann__tfevents_path(log->events), '/');
    DIR *d = opendir(logdir);
    if (!d)
        return clann__error(log->ctx, CLANN_ERR_IO, "run log: cannot list '%s': %s", logdir,
                            strerror(errno));
    enum clann_status st = CLANN_OK;
    struct dirent *e;
    char path[4096];
    while (st == CLANN_OK && (e = readdir(d)) != NULL) {
        struct stat sb;
        if (strncmp(e->d_name, "events.out.tfevents.", 20) != 0 ||
            (mine && strcmp(e->d_name, mine + 1) == 0))
            continue;
        snprintf(path, sizeof path, "%s/%s", logdir, e->d_name);
        if (lstat(path, &sb) == 0 && S_ISREG(sb.st_mode) && unlink(path) != 0)
            st = clann__error(log->ctx, CLANN_ERR_IO, "run log: cannot remove the older event "
                              "file '%s': %s", path, strerror(errno));
    }
    closedir(d);
    return st;
}

/* Puts the formatted row in log.csv (creating it with the header row when create) and starts
 * the next one. */
static enum clann_status put_row(struct clann_runlog *log, bool create)
{
    enum clann_status st = CLANN_OK;
    if (fflush(log->csv) != 0)
        st = clann__error(log->ctx, CLANN_ERR_NO_MEMORY, "run log: out of memory");
    struct clann_file *f = NULL;
    if (st == CLANN_OK && create)
        st = clann__file_begin(log->ctx, "run log", log->path, &f);
    if (st == CLANN_OK && create && (st = clann__file_write(f, log->row, log->row_len)) != 0)
        clann__file_abort(f);
    if (st == CLANN_OK && create)
        st = clann__file_commit_keep(f, true, &log->fd);
    else if (st == CLANN_OK)
        st = clann__file_append(log->ctx, "run log", log->path, log->fd, log->row,
                                log->row_len);
    rewind(log->csv);
    return st;
}

static void write_header(struct clann_runlog *log)
{
    fprintf(log->csv, "kind,epoch,step");
    for (size_t i = 0; i < N_EPOCH_COLUMNS; i++)
        fprintf(log->csv, ",%s", log->epoch_names[i]);
    for (size_t l = 0; l < log->n_layers; l++) {
        for (size_t i = 0; i < N_MONITOR_COLUMNS; i++)
            fprintf(log->csv, ",layer%zu/%s", l, monitor_columns[i]);
    }
    fputc('\n', log->csv);
}

enum clann_status clann__runlog_open(struct clann_context *ctx, const char *logdir,
                                     const char *val_name, size_t n_layers,
                                     struct clann_runlog **out)
{
    *out = NULL;
    struct clann_runlog *log = clann__calloc(1, sizeof *log);
    if (!log)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "run log: out of memory");
    log->ctx = ctx;
    log->n_layers = n_layers;
    name_columns(log, val_name);
    snprintf(log->path, sizeof log->path, "%s/log.csv", logdir);
    enum clann_status st = clann__tfevents_open(logdir, &log->events); /* creates logdir */
    if (st != CLANN_OK) {
        clann__error_to_context(ctx);
        clann__free(log);
        return st;
    }
    log->fd = -1;
    log->csv = open_memstream(&log->row, &log->row_len);
    if (log->csv)
        write_header(log);
    st = log->csv ? put_row(log, true)
                  : clann__error(ctx, CLANN_ERR_NO_MEMORY, "run log: out of memory");
    if (st == CLANN_OK)
        st = remove_old_events(log, logdir);
    if (st != CLANN_OK) {
        clann__runlog_close(log);
        return st;
    }
    *out = log;
    return CLANN_OK;
}

static void put_value(FILE *f, double v)
{
    if (isnan(v))
        fputs(",", f);
    else
        fprintf(f, ",%.9g", v);
}

static enum clann_status scalar(struct clann_runlog *log, const char *tag, uint64_t step,
                                double v)
{
    if (isnan(v))
        return CLANN_OK;
    enum clann_status st = clann__tfevents_scalar(log->events, tag, (int64_t)step, -1.0, (float)v);
    if (st != CLANN_OK)
        clann__error_to_context(log->ctx);
    return st;
}

enum clann_status clann__runlog_epoch(struct clann_runlog *log, const struct clann_epoch_log *e)
{
    const double values[N_EPOCH_COLUMNS] = {e->loss,         e->accuracy,      e->val_loss,
                                            e->val_accuracy, e->val_auc,       e->learning_rate,
                                            e->seconds};
    fprintf(log->csv, "epoch,%zu,%zu", e->epoch, e->steps);
    for (size_t i = 0; i < N_EPOCH_COLUMNS; i++)
        put_value(log->csv, values[i]);
    for (size_t i = 0; i < log->n_layers * N_MONITOR_COLUMNS; i++)
        fputc(',', log->csv);
    fputc('\n', log->csv);
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < N_EPOCH_COLUMNS - 1 && st == CLANN_OK; i++)
        st = scalar(log, log->epoch_names[i], e->steps, values[i]);
    enum clann_status st2 = put_row(log, false);
    st = st ? st : st2;
    return st ? st : clann__tfevents_flush(log->events);
}

enum clann_status clann__runlog_monitor(struct clann_runlog *log, size_t epoch, uint64_t step,
                                        const struct clann_layer_monitor *layers)
{
    fprintf(log->csv, "monitor,%zu,%llu", epoch, (unsigned long long)step);
    for (size_t i = 0; i < N_EPOCH_COLUMNS; i++)
        fputc(',', log->csv);
    enum clann_status st = CLANN_OK;
    for (size_t l = 0; l < log->n_layers; l++) {
        const double v[N_MONITOR_COLUMNS] = {layers[l].zero_fraction, layers[l].grad_norm,
                                             layers[l].weight_norm, layers[l].update_ratio};
        for (size_t i = 0; i < N_MONITOR_COLUMNS; i++) {
            char tag[64];
            snprintf(tag, sizeof tag, "layer%zu/%s", l, monitor_columns[i]);
            put_value(log->csv, v[i]);
            if (st == CLANN_OK)
                st = scalar(log, tag, step, v[i]);
        }
    }
    fputc('\n', log->csv);
    enum clann_status st2 = put_row(log, false);
    return st ? st : st2;
}

enum clann_status clann__runlog_close(struct clann_runlog *log)
{
    if (!log)
        return CLANN_OK;
    enum clann_status st = CLANN_OK;
    if (log->fd >= 0 && close(log->fd) != 0)
        st = clann__error(log->ctx, CLANN_ERR_IO, "run log '%s': cannot close: %s", log->path,
                          strerror(errno));
    if (log->csv)
        fclose(log->csv);
    free(log->row); /* open_memstream's, from malloc */
    enum clann_status st2 = clann__tfevents_close(log->events);
    clann__free(log);
    return st ? st : st2;
}
