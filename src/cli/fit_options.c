/*
 * fit_options.c - the training options of `clann train` and `clann tune` as fit parameters:
 * epochs, batch, clipping, noise, early stopping, learning-rate schedules and best-only
 * checkpoints. Applied over a base: the CLI's defaults, or the "training" section of a --spec,
 * so that a spec trains as it says and a flag given beside it overrides just that option.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The CLI's defaults where they differ from the library's (whose schedule, 0.75 every 400
 * steps, is the CLI's too). */
static struct clann_fit_params cli_defaults(void)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 15; /* the default Fashion-MNIST classifier passes 0.88 test accuracy by then */
    return fp;
}

/* A monitor name, checked against the library's list (a typo is never silently ignored). */
static bool monitor_name(const char *option, const char *text)
{
    for (size_t i = 0; clann_name_at(CLANN_NAMES_MONITOR, i); i++)
        if (strcmp(text, clann_name_at(CLANN_NAMES_MONITOR, i)) == 0)
            return true;
    cli_usage("--%s: '%s' is not one of %s", option, text, cli_names(CLANN_NAMES_MONITOR));
    return false;
}

/* Splits "a:b:c" in place into at most max fields; returns their count. */
static size_t fields(char *text, char **out, size_t max)
{
    size_t n = 0;
    for (char *p = text; p && n < max; n++) {
        out[n] = p;
        p = strchr(p, ':');
        if (p)
            *p++ = '\0';
    }
    return n;
}

/* A schedule factor or rate: in (0, 1]. */
static bool unit_factor(const char *what, const char *text, float *out)
{
    if (!cli_float("lr-schedule", text, out))
        return false;
    if (*out > 0.0f && *out <= 1.0f)
        return true;
    cli_usage("--lr-schedule: the %s '%s' must be in (0, 1]", what, text);
    return false;
}

/* --lr-schedule constant | step:EVERY:FACTOR | exponential:RATE[:STEPS] |
 * plateau:PATIENCE:FACTOR[:MONITOR]. exponential without STEPS decays per epoch, as
 * --lr-decay does (cli_train_decay_steps counts them). */
static int parse_schedule(const char *text, struct clann_lr_schedule *s)
{
    char buf[256], *f[5];
    snprintf(buf, sizeof buf, "%s", text);
    size_t n = fields(buf, f, 5);
    size_t kind = 0;
    while (clann_name_at(CLANN_NAMES_SCHEDULE, kind) &&
           strcmp(f[0], clann_name_at(CLANN_NAMES_SCHEDULE, kind)) != 0)
        kind++;
    static const size_t lo[] = {1, 3, 2, 3}, hi[] = {1, 3, 3, 4};
    if (!clann_name_at(CLANN_NAMES_SCHEDULE, kind) || n < lo[kind] || n > hi[kind])
        return cli_usage("--lr-schedule: '%s' is not constant, step:EVERY:FACTOR, "
                         "exponential:RATE[:STEPS] or plateau:PATIENCE:FACTOR[:MONITOR]", text);
    s->kind = (enum clann_schedule)kind;
    bool ok = true;
    if (s->kind == CLANN_SCHEDULE_STEP)
        ok = cli_positive_size("lr-schedule", f[1], &s->step_epochs) &&
             unit_factor("factor", f[2], &s->factor);
    if (s->kind == CLANN_SCHEDULE_EXPONENTIAL) {
        ok = unit_factor("rate", f[1], &s->decay_rate);
        s->decay_steps = 0; /* per epoch */
        ok = ok && (n < 3 || cli_positive_size("lr-schedule", f[2], &s->decay_steps));
    }
    if (s->kind == CLANN_SCHEDULE_PLATEAU) {
        ok = cli_positive_size("lr-schedule", f[1], &s->patience) &&
             unit_factor("factor", f[2], &s->factor) &&
             (n < 4 || monitor_name("lr-schedule", f[3]));
        s->monitor = n == 4 ? text + (f[3] - buf) : NULL; /* points into the argument */
    }
    return ok ? CLI_OK : CLI_USAGE;
}

/* --lr-decay R: the rate times R every epoch (smoothly; 1: constant). */
static int parse_decay(const char *text, struct clann_lr_schedule *s)
{
    float r;
    if (!cli_float("lr-decay", text, &r))
        return CLI_USAGE;
    if (!(r > 0.0f && r <= 1.0f))
        return cli_usage("--lr-decay: '%s' must be in (0, 1]", text);
    s->kind = r < 1.0f ? CLANN_SCHEDULE_EXPONENTIAL : CLANN_SCHEDULE_CONSTANT;
    s->decay_rate = r;
    s->decay_steps = 0; /* per epoch: cli_train_decay_steps() counts them */
    return CLI_OK;
}

static int parse_schedules(const struct cli_train_args *a, struct clann_lr_schedule *s)
{
    if (a->lr_decay && a->lr_schedule)
        return cli_usage("--lr-decay and --lr-schedule cannot be combined (--lr-decay R is "
                         "--lr-schedule exponential:R)");
    int rc = a->lr_decay ? parse_decay(a->lr_decay, s) : CLI_OK;
    if (rc == CLI_OK && a->lr_schedule)
        rc = parse_schedule(a->lr_schedule, s);
    if (rc == CLI_OK && a->min_lr &&
        !cli_float_in("min-lr", a->min_lr, CLI_RANGE_NONNEG, &s->min_lr))
        rc = CLI_USAGE;
    return rc;
}

/* Clipping and noise: non-negative numbers. */
static int parse_limits(const struct cli_train_args *a, struct clann_fit_params *fp)
{
    const char *texts[6] = {a->clip_norm,      a->clip_value,   a->clip_global_norm,
                            a->gradient_noise, a->weight_noise, a->label_noise};
    static const char *const names[6] = {"clip-norm",      "clip-value",   "clip-global-norm",
                                         "gradient-noise", "weight-noise", "label-noise"};
    float *slots[6] = {&fp->clip_norm,      &fp->clip_value,   &fp->clip_global_norm,
                       &fp->gradient_noise, &fp->weight_noise, &fp->label_noise};
    for (size_t i = 0; i < 6; i++)
        if (texts[i] && !cli_float_in(names[i], texts[i], CLI_RANGE_NONNEG, slots[i]))
            return CLI_USAGE;
    return CLI_OK;
}

/* --early-stop and --monitor; --checkpoint-best and its monitor. */
static int parse_watches(const struct cli_train_args *a, struct clann_fit_params *fp)
{
    if (a->early_stop) {
        if (!cli_size("early-stop", a->early_stop, &fp->early_stopping.patience))
            return CLI_USAGE;
        fp->early_stopping.enabled = fp->early_stopping.patience > 0;
    }
    if (a->monitor && !monitor_name("monitor", a->monitor))
        return CLI_USAGE;
    if (a->monitor)
        fp->early_stopping.monitor = a->monitor;
    if (a->checkpoint_monitor && !a->checkpoint_best)
        return cli_usage("--checkpoint-monitor needs --checkpoint-best PATH");
    if (a->checkpoint_best && a->checkpoint && strcmp(a->checkpoint_best, a->checkpoint) == 0)
        return cli_usage("--checkpoint-best and --checkpoint name the same file '%s'",
                         a->checkpoint);
    if (a->checkpoint_monitor && !monitor_name("checkpoint-monitor", a->checkpoint_monitor))
        return CLI_USAGE;
    if (a->checkpoint_best) {
        fp->checkpoint_path = a->checkpoint_best;
        fp->save_best_only = true;
        fp->checkpoint_monitor = a->checkpoint_monitor; /* NULL: --monitor's */
    }
    return CLI_OK;
}

int cli_train_fit_params(const struct cli_train_args *a, const struct clann_fit_params *base,
                         struct clann_fit_params *fp)
{
    *fp = base ? *base : cli_defaults();
    fp->on_epoch = NULL, fp->on_progress = NULL, fp->on_monitor = NULL, fp->user = NULL;
    if (a->no_batchnorm_refresh)
        fp->no_batchnorm_refresh = true;
    if (a->epochs && !cli_positive_size("epochs", a->epochs, &fp->epochs))
        return CLI_USAGE;
    if (a->shards && !cli_positive_size("shards", a->shards, &fp->shards))
        return CLI_USAGE;
    if (a->batch && !cli_positive_size("batch", a->batch, &fp->batch_size))
        return CLI_USAGE;
    int rc = parse_limits(a, fp);
    if (rc == CLI_OK)
        rc = parse_watches(a, fp);
    if (rc == CLI_OK)
        rc = parse_schedules(a, &fp->schedule);
    if (rc != CLI_OK)
        return rc;
    if (a->logdir) {
        fp->logdir = a->logdir;
        fp->monitor_every = fp->monitor_every ? fp->monitor_every : 50;
    }
    if (a->monitor_every && !cli_size("monitor-every", a->monitor_every, &fp->monitor_every))
        return CLI_USAGE;
    return CLI_OK;
}

void cli_train_decay_steps(struct clann_fit_params *fp, size_t rows)
{
    size_t batch = fp->batch_size ? fp->batch_size : 128;
    if (fp->schedule.kind == CLANN_SCHEDULE_EXPONENTIAL && fp->schedule.decay_steps == 0)
        fp->schedule.decay_steps = rows ? (rows + batch - 1) / batch : 1; /* per epoch */
}
