/*
 * monitor.h - watching a logged value across epochs, for early stopping, reduce-on-plateau and
 * best-only checkpoints.
 */
#ifndef CLANN_MONITOR_H
#define CLANN_MONITOR_H

#include "core/internal.h"

struct clann_watch {
    const char *name;
    bool maximize;
    double min_delta;
    double best;       /* the baseline until beaten */
    size_t best_epoch; /* 0 until the first improvement */
    size_t wait;       /* epochs since the last improvement */
};

/* Resolves the monitor name (NULL: "val_loss", or "loss" without validation data) and mode.
 * ERR_INVALID_ARG for an unknown name or a validation metric without validation data. */
enum clann_status clann__watch_init(struct clann_context *ctx, struct clann_watch *w,
                                    const char *name, enum clann_mode mode, double min_delta,
                                    double baseline, bool has_validation);
/* Feeds one epoch's log; returns true when the monitored value improved. */
bool clann__watch_update(struct clann_watch *w, const struct clann_epoch_log *log);

#endif /* CLANN_MONITOR_H */
