/*
 * checkpoint.c - checkpoints: a model file (model_file.c) plus the optimizer state, so that
 * training resumes bit for bit where it stopped.
 *
 * What resuming needs besides the parameters: the optimizer's two state buffers (the
 * model's), the step count (Adam's bias correction, and the key of every random stream:
 * shuffles, dropout, noise) and the learning rate in effect (schedules change it during
 * training), both the trainer's and handed in by it (src/train/checkpoint.c). They are stored
 * as tensors optimizer.state1/state2 and as __metadata__.clann_checkpoint, a JSON object
 * {"format_version": "1.0", "step": S, "epoch": E, "learning_rate": LR}.
 */
#include "io/checkpoint.h"
#include "io/model_file.h"
#include "io/spec.h"
#include "data/json.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECKPOINT_VERSION_MAJOR 1

enum clann_status clann__checkpoint_write(struct clann_model *m, const char *path,
                                          const struct clann__checkpoint_state *s)
{
    char lr[32], meta[256];
    clann__json_format_float(s->lr, lr, sizeof lr); /* exact, with a decimal point */
    snprintf(meta, sizeof meta,
             "{\"format_version\":\"%d.0\",\"step\":%llu,\"epoch\":%zu,\"learning_rate\":%s}",
             CHECKPOINT_VERSION_MAJOR, (unsigned long long)s->step, s->epoch, lr);
    return clann__model_file_write(m, path, meta);
}

/* A non-negative JSON integer member. */
static bool member_u64(struct json_object *obj, const char *key, uint64_t *out)
{
    return clann__json_u64(json_object_object_get(obj, key), out);
}

static enum clann_status check_version(struct clann_context *ctx, const char *path,
                                       struct json_object *root)
{
    struct json_object *v;
    if (!json_object_object_get_ex(root, "format_version", &v) ||
        !json_object_is_type(v, json_type_string))
        return clann__error(ctx, CLANN_ERR_FORMAT, "checkpoint '%s': clann_checkpoint."
                            "format_version is missing or not a string", path);
    const char *s = json_object_get_string(v);
    char *end;
    long major = strtol(s, &end, 10);
    if (end == s || *end != '.')
        return clann__error(ctx, CLANN_ERR_FORMAT, "checkpoint '%s': clann_checkpoint."
                            "format_version: expected \"MAJOR.MINOR\", got '%.32s'", path, s);
    if (major != CHECKPOINT_VERSION_MAJOR)
        return clann__error(ctx, CLANN_ERR_UNSUPPORTED, "checkpoint '%s': checkpoint format "
                            "version %.32s is not supported (clann %s reads %d.x)", path, s,
                            clann_version(), CHECKPOINT_VERSION_MAJOR);
    return CLANN_OK;
}

enum clann_status clann__checkpoint_parse(struct clann_context *ctx, const char *path,
                                          const char *text, uint64_t *step, uint64_t *epoch,
                                          float *lr)
{
    char what[128];
    snprintf(what, sizeof what, "checkpoint '%.64s': clann_checkpoint", path);
    struct json_object *root;
    enum clann_status st = clann__json_parse(ctx, text, strlen(text), what, &root);
    if (st != CLANN_OK)
        return st;
    if (!json_object_is_type(root, json_type_object))
        st = clann__error(ctx, CLANN_ERR_FORMAT, "%s: expected a JSON object", what);
    if (st == CLANN_OK)
        st = check_version(ctx, path, root);
    if (st == CLANN_OK && (!member_u64(root, "step", step) || !member_u64(root, "epoch", epoch)))
        st = clann__error(ctx, CLANN_ERR_FORMAT, "%s: step and epoch must be non-negative "
                          "integers", what);
    double d = NAN;
    if (st == CLANN_OK)
        clann__json_number(json_object_object_get(root, "learning_rate"), &d);
    if (st == CLANN_OK && !(d >= 0.0 && d <= 3.4e38))
        st = clann__error(ctx, CLANN_ERR_FORMAT, "%s: learning_rate must be a finite number "
                          ">= 0", what);
    *lr = (float)d;
    json_object_put(root);
    return st;
}

/* Puts the saved optimizer state into a freshly loaded model and reads the progress. */
static enum clann_status restore(struct clann_model *m, const char *path,
                                 const struct clann__file_extras *x,
                                 struct clann__checkpoint_state *s)
{
    uint64_t step = 0, ep = 0;
    float lr = 0.0f;
    if (!x->checkpoint || !x->state1)
        return clann__error(m->ctx, CLANN_ERR_FORMAT, "checkpoint '%s': not a checkpoint (a "
                            "plain model file: %s); load it with clann_model_load", path,
                            x->checkpoint ? "no optimizer state" : "no clann_checkpoint "
                                                                   "metadata");
    enum clann_status st = clann__checkpoint_parse(m->ctx, path, x->checkpoint, &step, &ep, &lr);
    if (st == CLANN_OK && x->n != m->n_params)
        st = clann__error(m->ctx, CLANN_ERR_INTERNAL, "checkpoint '%s': optimizer state of %zu "
                          "values for %zu parameters", path, x->n, m->n_params);
    if (st == CLANN_OK && x->n)
        st = clann__op_upload(m->be, clann__view(&m->state1, 0), x->state1, x->n, true);
    if (st == CLANN_OK && x->n)
        st = clann__op_upload(m->be, clann__view(&m->state2, 0), x->state2, x->n, true);
    if (st != CLANN_OK)
        return st;
    s->step = step;
    s->epoch = (size_t)ep;
    s->lr = lr;
    return clann__op_finish(m->be);
}

enum clann_status clann__checkpoint_read(struct clann_context *ctx, const char *path,
                                         struct clann_model **out,
                                         struct clann__checkpoint_state *s)
{
    memset(s, 0, sizeof *s);
    struct clann__file_extras x;
    enum clann_status st = clann__model_file_read(ctx, path, out, &x);
    if (st != CLANN_OK)
        return st;
    st = restore(*out, path, &x, s);
    clann__file_extras_free(&x);
    if (st != CLANN_OK) {
        clann_model_destroy(*out);
        *out = NULL;
    }
    return st;
}
