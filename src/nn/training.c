/*
 * training.c - the training options a model carries (struct clann__training): a copy of its
 * last fit's parameters, or of its spec's "training" section, so that the spec a model writes
 * says how it was trained and `clann train --spec` trains that way again.
 */
#include "nn/model.h"
#include "core/kinds.h"

#include <math.h>
#include <string.h>

CLANN_API struct clann_fit_params clann_fit_default_params(void)
{
    struct clann_fit_params p;
    memset(&p, 0, sizeof p);
    p.epochs = 10;
    p.shuffle = true;
    p.early_stopping.baseline = NAN;
    p.early_stopping.restore_best = true;
    p.schedule.factor = 0.1f;
    /* The default schedule: the learning rate falls by 0.75 every 400 steps (smoothly, per
     * step). Chosen with the default Adam 0.002 on a dev split of Fashion-MNIST's training
     * images (seeds 1-3; 400 steps were an epoch there): a constant rate ends wherever the last
     * epoch's noise leaves it, decaying it settles the weights. Counted in steps, not epochs, so
     * that small tables (a few steps an epoch, many epochs) are not starved of learning rate. */
    p.schedule.kind = CLANN_SCHEDULE_EXPONENTIAL;
    p.schedule.decay_rate = 0.75f;
    p.schedule.decay_steps = 400;
    return p;
}

static bool known_monitor(const char *name)
{
    size_t v;
    return !name || clann__kind_parse(&clann__monitor_kinds, name, &v);
}

enum clann_status clann__fit_params_check(struct clann_context *ctx, const char *what,
                                          const struct clann_fit_params *p)
{
    const float limits[6] = {p->clip_value, p->clip_norm, p->clip_global_norm,
                             p->gradient_noise, p->weight_noise, p->label_noise};
    for (size_t i = 0; i < 6; i++) {
        if (!(limits[i] >= 0.0f) || !isfinite(limits[i]))
            return clann__error(ctx, CLANN_ERR_INVALID_ARG, "%s: clipping limits and noise "
                                "levels must be finite and >= 0", what);
    }
    const char *monitors[3] = {p->early_stopping.monitor, p->schedule.monitor,
                               p->checkpoint_monitor};
    for (size_t i = 0; i < 3; i++) {
        if (!known_monitor(monitors[i]))
            return clann__error(ctx, CLANN_ERR_INVALID_ARG, "%s: unknown monitor '%.64s' "
                                "(loss, accuracy, val_loss, val_accuracy or val_auc)", what,
                                monitors[i]);
    }
    const struct clann_lr_schedule *s = &p->schedule;
    if ((s->kind == CLANN_SCHEDULE_STEP || s->kind == CLANN_SCHEDULE_PLATEAU) &&
        !(s->factor > 0.0f && s->factor <= 1.0f))
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "%s: schedule factor %g is not in "
                            "(0, 1]", what, (double)s->factor);
    if (s->kind == CLANN_SCHEDULE_EXPONENTIAL && !(s->decay_rate > 0.0f && s->decay_rate <= 1.0f))
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "%s: schedule decay_rate %g is not in "
                            "(0, 1]", what, (double)s->decay_rate);
    if (!(s->min_lr >= 0.0f) || !isfinite(s->min_lr))
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "%s: schedule min_lr must be finite "
                            "and >= 0", what);
    return CLANN_OK;
}

void clann__training_free(struct clann__training *t)
{
    for (size_t i = 0; i < sizeof t->strings / sizeof *t->strings; i++)
        clann__free(t->strings[i]);
    memset(t, 0, sizeof *t);
}

/* A copy of *s into *owned (NULL stays NULL), then *s points to it. */
static bool copy_string(const char **s, char **owned)
{
    if (!*s)
        return true;
    size_t n = strlen(*s) + 1;
    *owned = clann__malloc(n);
    if (*owned)
        memcpy(*owned, *s, n);
    *s = *owned;
    return *owned != NULL;
}

enum clann_status clann__training_set(struct clann_context *ctx, const char *what,
                                      struct clann__training *dst,
                                      const struct clann_fit_params *src)
{
    enum clann_status st = clann__fit_params_check(ctx, what, src);
    if (st != CLANN_OK)
        return st;
    struct clann__training t;
    memset(&t, 0, sizeof t);
    t.present = true;
    t.p = *src;
    t.p.on_epoch = NULL;
    t.p.on_progress = NULL;
    t.p.on_monitor = NULL;
    t.p.user = NULL;
    const char **strings[CLANN__TRAINING_STRINGS] = {
        &t.p.early_stopping.monitor, &t.p.schedule.monitor, &t.p.checkpoint_path,
        &t.p.checkpoint_monitor,     &t.p.logdir,           &t.p.validation_name};
    bool ok = true;
    for (size_t i = 0; i < CLANN__TRAINING_STRINGS; i++)
        ok = ok && copy_string(strings[i], &t.strings[i]);
    if (!ok) {
        clann__training_free(&t);
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    }
    clann__training_free(dst); /* after the copy: src may point into dst */
    *dst = t;
    return CLANN_OK;
}

CLANN_API bool clann_model_fit_params(const struct clann_model *model,
                                      struct clann_fit_params *out)
{
    if (!out)
        return false;
    bool present = model && model->training.present;
    *out = present ? model->training.p : clann_fit_default_params();
    return present;
}

CLANN_API enum clann_status clann_model_set_fit_params(struct clann_model *model,
                                                       const struct clann_fit_params *params)
{
    if (!model || !params)
        return clann__error(model ? model->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "clann_model_set_fit_params: NULL argument");
    return clann__training_set(model->ctx, "fit parameters", &model->training, params);
}
