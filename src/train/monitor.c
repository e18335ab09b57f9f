/*
 * monitor.c - the monitored value of an epoch and whether it improved (Keras' EarlyStopping and
 * ReduceLROnPlateau semantics: improvement means better than the best by more than min_delta).
 */
#include "train/monitor.h"
#include "core/kinds.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    bool maximize;
    bool validation;
    size_t offset;
} monitors[] = {
    {"loss", false, false, offsetof(struct clann_epoch_log, loss)},
    {"accuracy", true, false, offsetof(struct clann_epoch_log, accuracy)},
    {"val_loss", false, true, offsetof(struct clann_epoch_log, val_loss)},
    {"val_accuracy", true, true, offsetof(struct clann_epoch_log, val_accuracy)},
    {"val_auc", true, true, offsetof(struct clann_epoch_log, val_auc)},
};

/* Indexed by the monitor's value in CLANN__MONITORS (core/kinds.h), whose names these are. */
#define ONE(pub, short_name, value, name) +1
_Static_assert(sizeof monitors / sizeof *monitors == 0 CLANN__MONITORS(ONE),
               "train/monitor.c and CLANN__MONITORS list different monitors");

static size_t find_monitor(const char *name)
{
    size_t v;
    return clann__kind_parse(&clann__monitor_kinds, name, &v) ? v : SIZE_MAX;
}

enum clann_status clann__watch_init(struct clann_context *ctx, struct clann_watch *w,
                                    const char *name, enum clann_mode mode, double min_delta,
                                    double baseline, bool has_validation)
{
    if (!name)
        name = has_validation ? "val_loss" : "loss";
    size_t i = find_monitor(name);
    if (i == SIZE_MAX)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "monitor '%s': expected loss, accuracy, "
                            "val_loss, val_accuracy or val_auc", name);
    if (monitors[i].validation && !has_validation)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "monitor '%s' needs validation data",
                            name);
    memset(w, 0, sizeof *w);
    w->name = monitors[i].name;
    w->maximize = mode == CLANN_MODE_AUTO ? monitors[i].maximize : mode == CLANN_MODE_MAX;
    w->min_delta = fabs(min_delta);
    w->best = !isnan(baseline) ? baseline : w->maximize ? -INFINITY : INFINITY;
    return CLANN_OK;
}

bool clann__watch_update(struct clann_watch *w, const struct clann_epoch_log *log)
{
    double v = *(const double *)((const char *)log + monitors[find_monitor(w->name)].offset);
    bool better = w->maximize ? v - w->min_delta > w->best : v + w->min_delta < w->best;
    if (better) {
        w->best = v;
        w->best_epoch = log->epoch;
        w->wait = 0;
    } else {
        w->wait++;
    }
    return better;
}
