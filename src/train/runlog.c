/*
 * runlog.c - log.csv and TensorBoard scalars for a fit. Epoch rows and monitor rows share one
 * CSV with a `kind` column so that one file holds the whole run in order.
 */
#include "train/runlog.h"
#include "io/tfevents.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

struct clann_runlog {
    struct clann_context *ctx;
    FILE *csv;
    char path[4096];
    struct clann_tfevents *events;
    size_t n_layers;
};

static const char *const epoch_columns[] = {"loss", "accuracy", "val_loss", "val_accuracy",
                                            "val_auc", "learning_rate", "seconds"};
static const char *const monitor_columns[] = {"zero_fraction", "grad_norm", "weight_norm",
                                              "update_ratio"};

#define N_EPOCH_COLUMNS (sizeof epoch_columns / sizeof *epoch_columns)
#define N_MONITOR_COLUMNS (sizeof monitor_columns / sizeof *monitor_columns)

static enum clann_status io_error(struct clann_runlog *log, const char *what)
{
    return clann__error(log->ctx, CLANN_ERR_IO, "run log %s: %s: %s", log->path, what,
                        strerror(errno));
}

static void write_header(struct clann_runlog *log)
{
    fprintf(log->csv, "kind,epoch,step");
    for (size_t i = 0; i < N_EPOCH_COLUMNS; i++)
        fprintf(log->csv, ",%s", epoch_columns[i]);
    for (size_t l = 0; l < log->n_layers; l++) {
        for (size_t i = 0; i < N_MONITOR_COLUMNS; i++)
            fprintf(log->csv, ",layer%zu/%s", l, monitor_columns[i]);
    }
    fputc('\n', log->csv);
}

enum clann_status clann__runlog_open(struct clann_context *ctx, const char *logdir,
                                     size_t n_layers, struct clann_runlog **out)
{
    *out = NULL;
    struct clann_runlog *log = clann__calloc(1, sizeof *log);
    if (!log)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "run log: out of memory");
    log->ctx = ctx;
    log->n_layers = n_layers;
    snprintf(log->path, sizeof log->path, "%s/log.csv", logdir);
    enum clann_status st = clann__tfevents_open(logdir, &log->events); /* creates logdir */
    if (st != CLANN_OK) {
        clann__error_to_context(ctx);
        clann__free(log);
        return st;
    }
    log->csv = fopen(log->path, "w");
    if (!log->csv) {
        st = io_error(log, "cannot create");
        clann__tfevents_close(log->events);
        clann__free(log);
        return st;
    }
    write_header(log);
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
        st = scalar(log, epoch_columns[i], e->steps, values[i]);
    if (st == CLANN_OK && fflush(log->csv) != 0)
        st = io_error(log, "cannot write");
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
    return st;
}

enum clann_status clann__runlog_close(struct clann_runlog *log)
{
    if (!log)
        return CLANN_OK;
    enum clann_status st = CLANN_OK;
    if (fclose(log->csv) != 0)
        st = io_error(log, "cannot write");
    enum clann_status st2 = clann__tfevents_close(log->events);
    clann__free(log);
    return st ? st : st2;
}
