/*
 * spec_training.c - the "training" section of a model spec: every option of struct
 * clann_fit_params but the callbacks and the log naming (validation_name, a run's own), so
 * that a spec says how its model was trained and `clann train --spec` can express whatever
 * clann_model_fit() can.
 *
 * Unlike the rest of the spec, whose unknown keys are ignored (a newer writer's additions),
 * an unknown key here is an error naming it: these options are written by hand, and a
 * misspelt "gradient_nosie" silently training without noise is worse than a refusal. A spec
 * of a newer minor format version is the exception: its unknown keys are a newer clann's
 * options, so they are named in a warning and skipped, and the model still loads.
 */
#include "io/spec.h"
#include "core/kinds.h"
#include "data/json.h"

#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_COUNT ((uint64_t)1 << 40) /* epochs, steps: far beyond any run, far from overflow */
#define PATH_LEN 64

/* Every key of obj must be one of keys[] (or, from a newer minor version, is skipped). */
static enum clann_status known_keys(const struct clann__json_reader *r, struct json_object *obj,
                                    const char *path, const char *const *keys, size_t n)
{
    json_object_object_foreach(obj, key, val) {
        (void)val;
        size_t i = 0;
        while (i < n && strcmp(keys[i], key) != 0)
            i++;
        if (i < n)
            continue;
        if (r->newer_minor) {
            clann__log(CLANN_LOG_LEVEL_WARN, "%s: %s.%.64s: an option of a newer clann, ignored",
                       r->what, path, key);
            continue;
        }
        char known[512];
        size_t used = 0;
        for (size_t k = 0; k < n && used < sizeof known; k++)
            used += (size_t)snprintf(known + used, sizeof known - used, "%s%s", k ? ", " : "",
                                     keys[k]);
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "unknown key (known: %s)",
                               known);
    }
    return CLANN_OK;
}

static enum clann_status read_count(const struct clann__json_reader *r, struct json_object *obj,
                                    const char *path, const char *key, size_t *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_member(r, obj, path, key, false, &v);
    uint64_t u;
    if (st != CLANN_OK || !v)
        return st;
    if (!clann__json_u64(v, &u) || u > MAX_COUNT)
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key,
                               "expected an integer in 0..2^40");
    *out = (size_t)u;
    return CLANN_OK;
}

/* A finite number >= 0 (nonneg) or any finite number; as a float unless out_d is given. */
static enum clann_status read_number(const struct clann__json_reader *r, struct json_object *obj,
                                     const char *path, const char *key, bool nonneg, float *out_f,
                                     double *out_d)
{
    struct json_object *v;
    enum clann_status st = clann__json_member(r, obj, path, key, false, &v);
    double d;
    if (st != CLANN_OK || !v)
        return st;
    if (!clann__json_number(v, &d) || !isfinite(d) || (nonneg && d < 0.0) ||
        (out_f && fabs(d) > FLT_MAX))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "expected a finite number%s",
                               nonneg ? " >= 0" : "");
    if (out_f)
        *out_f = (float)d;
    else
        *out_d = d;
    return CLANN_OK;
}

static enum clann_status read_flag(const struct clann__json_reader *r, struct json_object *obj,
                                   const char *path, const char *key, bool *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_typed(r, obj, path, key, json_type_boolean, false, &v);
    if (st == CLANN_OK && v)
        *out = json_object_get_boolean(v);
    return st;
}

/* A name of `kinds` into an enum (its value). */
static enum clann_status read_kind(const struct clann__json_reader *r, struct json_object *obj,
                                   const char *path, const char *key,
                                   const struct clann__kind_table *kinds, int *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_member(r, obj, path, key, false, &v);
    size_t value = 0;
    if (st == CLANN_OK && v)
        st = clann__json_read_enum(r, obj, path, key, false, kinds, &value);
    if (st == CLANN_OK && v)
        *out = (int)value;
    return st;
}

/* A monitor name (checked against CLANN__MONITORS) or a path; the text stays json-c's. */
static enum clann_status read_text(const struct clann__json_reader *r, struct json_object *obj,
                                   const char *path, const char *key, bool monitor,
                                   const char **out)
{
    const char *s = NULL;
    size_t v;
    enum clann_status st = clann__json_read_string(r, obj, path, key, false, &s);
    if (st != CLANN_OK || !s)
        return st;
    if (monitor && !clann__kind_parse(&clann__monitor_kinds, s, &v))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "unknown monitor '%.64s' "
                               "(loss, accuracy, val_loss, val_accuracy or val_auc)", s);
    if (!monitor && !*s)
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "expected a non-empty path");
    *out = s;
    return CLANN_OK;
}

static enum clann_status read_early_stopping(const struct clann__json_reader *r,
                                             struct json_object *obj,
                                             struct clann_early_stopping *es)
{
    static const char *const keys[] = {"enabled", "monitor", "mode", "patience", "min_delta",
                                       "baseline", "restore_best"};
    const char *p = "training.early_stopping";
    int mode = (int)es->mode;
    enum clann_status st = known_keys(r, obj, p, keys, sizeof keys / sizeof *keys);
    if (st || (st = read_flag(r, obj, p, "enabled", &es->enabled)) ||
        (st = read_text(r, obj, p, "monitor", true, &es->monitor)) ||
        (st = read_kind(r, obj, p, "mode", &clann__mode_kinds, &mode)) ||
        (st = read_count(r, obj, p, "patience", &es->patience)) ||
        (st = read_number(r, obj, p, "min_delta", true, NULL, &es->min_delta)) ||
        (st = read_number(r, obj, p, "baseline", false, NULL, &es->baseline)) ||
        (st = read_flag(r, obj, p, "restore_best", &es->restore_best)))
        return st;
    es->mode = (enum clann_mode)mode;
    return CLANN_OK;
}

static enum clann_status read_schedule(const struct clann__json_reader *r,
                                       struct json_object *obj, struct clann_lr_schedule *s)
{
    static const char *const keys[] = {"kind", "factor", "step_epochs", "decay_rate",
                                       "decay_steps", "patience", "monitor", "min_lr"};
    const char *p = "training.schedule";
    int kind = (int)s->kind;
    enum clann_status st = known_keys(r, obj, p, keys, sizeof keys / sizeof *keys);
    if (st || (st = read_kind(r, obj, p, "kind", &clann__schedule_kinds, &kind)) ||
        (st = read_number(r, obj, p, "factor", true, &s->factor, NULL)) ||
        (st = read_count(r, obj, p, "step_epochs", &s->step_epochs)) ||
        (st = read_number(r, obj, p, "decay_rate", true, &s->decay_rate, NULL)) ||
        (st = read_count(r, obj, p, "decay_steps", &s->decay_steps)) ||
        (st = read_count(r, obj, p, "patience", &s->patience)) ||
        (st = read_text(r, obj, p, "monitor", true, &s->monitor)) ||
        (st = read_number(r, obj, p, "min_lr", true, &s->min_lr, NULL)))
        return st;
    s->kind = (enum clann_schedule)kind;
    return CLANN_OK;
}

static enum clann_status read_checkpoint(const struct clann__json_reader *r,
                                         struct json_object *obj, struct clann_fit_params *fp)
{
    static const char *const keys[] = {"path", "best_only", "every", "monitor"};
    const char *p = "training.checkpoint";
    enum clann_status st = known_keys(r, obj, p, keys, sizeof keys / sizeof *keys);
    if (st || (st = read_text(r, obj, p, "path", false, &fp->checkpoint_path)) ||
        (st = read_flag(r, obj, p, "best_only", &fp->save_best_only)) ||
        (st = read_count(r, obj, p, "every", &fp->checkpoint_every)) ||
        (st = read_text(r, obj, p, "monitor", true, &fp->checkpoint_monitor)))
        return st;
    return CLANN_OK;
}

/* The sub-object `key` of the section, read by `read` when present. */
#define READ_PART(key, call)                                                                \
    do {                                                                                    \
        struct json_object *part = NULL;                                                    \
        if (st == CLANN_OK)                                                                 \
            st = clann__json_typed(r, obj, p, key, json_type_object, false, &part);         \
        if (st == CLANN_OK && part)                                                         \
            st = call;                                                                      \
    } while (0)

static enum clann_status read_section(const struct clann__json_reader *r, struct json_object *obj,
                                      struct clann_fit_params *fp)
{
    static const char *const keys[] = {
        "epochs", "max_steps", "batch_size", "shuffle", "clip_value", "clip_norm",
        "clip_global_norm", "gradient_noise", "weight_noise", "label_noise", "early_stopping",
        "schedule", "checkpoint", "nan_policy", "max_skips", "monitor_every", "logdir",
        "distributed", "batchnorm_refresh", "shards"};
    const char *p = "training";
    int nan_policy = (int)fp->nan_policy;
    bool refresh = !fp->no_batchnorm_refresh;
    enum clann_status st = known_keys(r, obj, p, keys, sizeof keys / sizeof *keys);
    if (st || (st = read_count(r, obj, p, "epochs", &fp->epochs)) ||
        (st = read_count(r, obj, p, "max_steps", &fp->max_steps)) ||
        (st = read_count(r, obj, p, "batch_size", &fp->batch_size)) ||
        (st = read_flag(r, obj, p, "shuffle", &fp->shuffle)) ||
        (st = read_number(r, obj, p, "clip_value", true, &fp->clip_value, NULL)) ||
        (st = read_number(r, obj, p, "clip_norm", true, &fp->clip_norm, NULL)) ||
        (st = read_number(r, obj, p, "clip_global_norm", true, &fp->clip_global_norm, NULL)) ||
        (st = read_number(r, obj, p, "gradient_noise", true, &fp->gradient_noise, NULL)) ||
        (st = read_number(r, obj, p, "weight_noise", true, &fp->weight_noise, NULL)) ||
        (st = read_number(r, obj, p, "label_noise", true, &fp->label_noise, NULL)) ||
        (st = read_kind(r, obj, p, "nan_policy", &clann__nan_policy_kinds, &nan_policy)) ||
        (st = read_count(r, obj, p, "max_skips", &fp->max_skips)) ||
        (st = read_count(r, obj, p, "monitor_every", &fp->monitor_every)) ||
        (st = read_text(r, obj, p, "logdir", false, &fp->logdir)) ||
        (st = read_flag(r, obj, p, "distributed", &fp->distributed)) ||
        (st = read_flag(r, obj, p, "batchnorm_refresh", &refresh)) ||
        (st = read_count(r, obj, p, "shards", &fp->shards)))
        return st;
    fp->nan_policy = (enum clann_nan_policy)nan_policy;
    fp->no_batchnorm_refresh = !refresh;
    READ_PART("early_stopping", read_early_stopping(r, part, &fp->early_stopping));
    READ_PART("schedule", read_schedule(r, part, &fp->schedule));
    READ_PART("checkpoint", read_checkpoint(r, part, fp));
    return st;
}

enum clann_status clann__training_from_json(const struct clann__json_reader *r,
                                            struct json_object *root,
                                            struct clann__training *out)
{
    struct json_object *obj;
    enum clann_status st = clann__json_typed(r, root, "", "training", json_type_object, false,
                                             &obj);
    if (st != CLANN_OK || !obj)
        return st;
    /* Absent keys keep the library's defaults; the strings point into root until copied. */
    struct clann_fit_params fp = clann_fit_default_params();
    st = read_section(r, obj, &fp);
    if (st == CLANN_OK)
        st = clann__training_set(r->ctx, r->what, out, &fp);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Writing: every option, so that the section reads back to the same parameters; absent
 * strings and a NaN baseline (none) are left out.
 */
static struct json_object *write_early_stopping(struct clann__json_out *o,
                                                const struct clann_early_stopping *es)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_bool(o, obj, "enabled", es->enabled);
    clann__json_out_text(o, obj, "monitor", es->monitor);
    clann__json_out_text(o, obj, "mode", clann__kind_name(&clann__mode_kinds, es->mode));
    clann__json_out_size(o, obj, "patience", es->patience);
    clann__json_out_double(o, obj, "min_delta", es->min_delta);
    if (!isnan(es->baseline))
        clann__json_out_double(o, obj, "baseline", es->baseline);
    clann__json_out_bool(o, obj, "restore_best", es->restore_best);
    return obj;
}

static struct json_object *write_schedule(struct clann__json_out *o,
                                          const struct clann_lr_schedule *s)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(o, obj, "kind", clann__kind_name(&clann__schedule_kinds, s->kind));
    clann__json_out_float(o, obj, "factor", s->factor);
    clann__json_out_size(o, obj, "step_epochs", s->step_epochs);
    clann__json_out_float(o, obj, "decay_rate", s->decay_rate);
    clann__json_out_size(o, obj, "decay_steps", s->decay_steps);
    clann__json_out_size(o, obj, "patience", s->patience);
    clann__json_out_text(o, obj, "monitor", s->monitor);
    clann__json_out_float(o, obj, "min_lr", s->min_lr);
    return obj;
}

static struct json_object *write_checkpoint(struct clann__json_out *o,
                                            const struct clann_fit_params *fp)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(o, obj, "path", fp->checkpoint_path);
    clann__json_out_bool(o, obj, "best_only", fp->save_best_only);
    clann__json_out_size(o, obj, "every", fp->checkpoint_every);
    clann__json_out_text(o, obj, "monitor", fp->checkpoint_monitor);
    return obj;
}

struct json_object *clann__training_to_json(const struct clann__training *t, bool *ok,
                                            const char **nonfinite)
{
    const struct clann_fit_params *fp = &t->p;
    struct clann__json_out o = {true, NULL};
    struct json_object *obj = json_object_new_object();
    clann__json_out_size(&o, obj, "epochs", fp->epochs);
    clann__json_out_size(&o, obj, "max_steps", fp->max_steps);
    clann__json_out_size(&o, obj, "batch_size", fp->batch_size);
    clann__json_out_bool(&o, obj, "shuffle", fp->shuffle);
    clann__json_out_float(&o, obj, "clip_value", fp->clip_value);
    clann__json_out_float(&o, obj, "clip_norm", fp->clip_norm);
    clann__json_out_float(&o, obj, "clip_global_norm", fp->clip_global_norm);
    clann__json_out_float(&o, obj, "gradient_noise", fp->gradient_noise);
    clann__json_out_float(&o, obj, "weight_noise", fp->weight_noise);
    clann__json_out_float(&o, obj, "label_noise", fp->label_noise);
    clann__json_out_put(&o, obj, "early_stopping",
                        write_early_stopping(&o, &fp->early_stopping));
    clann__json_out_put(&o, obj, "schedule", write_schedule(&o, &fp->schedule));
    clann__json_out_put(&o, obj, "checkpoint", write_checkpoint(&o, fp));
    clann__json_out_text(&o, obj, "nan_policy",
                         clann__kind_name(&clann__nan_policy_kinds, fp->nan_policy));
    clann__json_out_size(&o, obj, "max_skips", fp->max_skips);
    clann__json_out_size(&o, obj, "monitor_every", fp->monitor_every);
    clann__json_out_text(&o, obj, "logdir", fp->logdir);
    clann__json_out_bool(&o, obj, "distributed", fp->distributed);
    clann__json_out_bool(&o, obj, "batchnorm_refresh", !fp->no_batchnorm_refresh);
    if (fp->shards > 1) /* format 1.3 (spec.h); absent, files stay as they were */
        clann__json_out_size(&o, obj, "shards", fp->shards);
    *ok = o.ok && obj;
    if (o.nonfinite && !*nonfinite)
        *nonfinite = o.nonfinite;
    return obj;
}
