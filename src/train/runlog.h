/*
 * runlog.h - the run log of a fit: log.csv with every logged value, and a TensorBoard event
 * file with the same scalars. The folder format is what `clann report` reads.
 */
#ifndef CLANN_RUNLOG_H
#define CLANN_RUNLOG_H

#include "core/internal.h"

struct clann_runlog;

/* Creates logdir when missing and opens log.csv (replacing an older one) and a new event file,
 * then removes the older event files: the folder holds one run. The validation figures are
 * named val_name (NULL: "val") + "_loss", ... ERR_IO naming the path. */
enum clann_status clann__runlog_open(struct clann_context *ctx, const char *logdir,
                                     const char *val_name, size_t n_layers,
                                     struct clann_runlog **out);
/* Whether name can name validation figures: 1 to 15 letters, digits and '_'. */
bool clann__runlog_name_ok(const char *name);
enum clann_status clann__runlog_epoch(struct clann_runlog *log, const struct clann_epoch_log *e);
enum clann_status clann__runlog_monitor(struct clann_runlog *log, size_t epoch, uint64_t step,
                                        const struct clann_layer_monitor *layers);
/* Flushes and closes (NULL: no-op). */
enum clann_status clann__runlog_close(struct clann_runlog *log);

#endif /* CLANN_RUNLOG_H */
