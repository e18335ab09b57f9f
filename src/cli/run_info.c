/*
 * run_info.c - DIR/run.json of `clann train --logdir DIR`: the model (each layer's kind,
 * output shape and parameters, trainable and total) and every training option of the run as
 * resolved, defaults included, for `clann report` to show beside the curves.
 *
 * Model-side values (optimizer, learning rate, seed, regularizers) are read from the model's
 * own spec, so a model from --spec or --resume is described as it is, not as the options
 * would have built it.
 */
#include "cli.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static json_object *member(json_object *o, const char *key)
{
    json_object *v = NULL;
    return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static void put(json_object *o, const char *key, const char *value)
{
    json_object_object_add(o, key, json_object_new_string(value ? value : "-"));
}

static void put_fmt(json_object *o, const char *key, const char *fmt, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, fmt, v);
    put(o, key, buf);
}

/* One layer: kind, activation, output ("128" or "16x14x14"), parameters. */
static json_object *layer_json(const struct clann_model *m, json_object *spec_layer, size_t i,
                               size_t *total, size_t *trainable)
{
    size_t width = 0, shape[3] = {0, 0, 0}, params = 0, trained = 0;
    clann_model_layer_shape(m, i, &width, shape, &params, &trained);
    const char *act = json_object_get_string(member(spec_layer, "activation"));
    char out[64];
    if (shape[0])
        snprintf(out, sizeof out, "%zux%zux%zu", shape[0], shape[1], shape[2]);
    else
        snprintf(out, sizeof out, "%zu", width);
    json_object *l = json_object_new_object();
    json_object_object_add(l, "index", json_object_new_uint64(i));
    put(l, "kind", json_object_get_string(member(spec_layer, "kind")));
    put(l, "activation", act && strcmp(act, "linear") != 0 ? act : NULL);
    put(l, "output", out);
    json_object_object_add(l, "params", json_object_new_uint64(params));
    json_object_object_add(l, "trainable_params", json_object_new_uint64(trained));
    *total += params;
    *trainable += trained;
    return l;
}

static json_object *model_json(const struct clann_model *m, json_object *spec)
{
    json_object *o = json_object_new_object(), *layers = json_object_new_array();
    json_object *spec_layers = member(spec, "layers");
    size_t total = 0, trainable = 0;
    for (size_t i = 0; i < clann_model_layer_count(m); i++)
        json_object_array_add(layers, layer_json(m, json_object_array_get_idx(spec_layers, i),
                                                 i, &total, &trainable));
    json_object_object_add(o, "inputs", json_object_new_uint64(clann_model_input_count(m)));
    json_object_object_add(o, "outputs", json_object_new_uint64(clann_model_output_count(m)));
    put(o, "loss", json_object_get_string(member(spec, "loss")));
    json_object_object_add(o, "params", json_object_new_uint64(total));
    json_object_object_add(o, "trainable_params", json_object_new_uint64(trainable));
    json_object_object_add(o, "layers", layers);
    return o;
}

/* A per-layer value of the dense and conv layers' spec (e.g. kernel_regularizer.l2): the one
 * value they share, "per layer" when they differ, 0 without such layers. */
static void layer_setting(json_object *opts, const char *name, json_object *spec,
                          const char *object, const char *key)
{
    json_object *layers = member(spec, "layers");
    double value = NAN;
    bool differ = false;
    for (size_t i = 0; i < json_object_array_length(layers); i++) {
        json_object *l = json_object_array_get_idx(layers, i);
        const char *kind = json_object_get_string(member(l, "kind"));
        json_object *v = member(member(l, object), key);
        if (!kind || (strcmp(kind, "dense") != 0 && strcmp(kind, "conv2d") != 0) || !v)
            continue;
        double d = json_object_get_double(v);
        differ = differ || (!isnan(value) && d != value);
        value = d;
    }
    if (differ)
        put(opts, name, "per layer (see the spec)");
    else
        put_fmt(opts, name, "%g", isnan(value) ? 0.0 : value);
}

/* The dropout rate of the model's dropout layers (0 without). */
static void dropout_setting(json_object *opts, json_object *spec)
{
    json_object *layers = member(spec, "layers");
    double rate = 0.0;
    for (size_t i = 0; i < json_object_array_length(layers); i++) {
        json_object *l = json_object_array_get_idx(layers, i);
        const char *kind = json_object_get_string(member(l, "kind"));
        if (kind && strcmp(kind, "dropout") == 0)
            rate = json_object_get_double(member(l, "rate"));
    }
    put_fmt(opts, "dropout", "%g", rate);
}

static void schedule_setting(json_object *opts, const struct clann_fit_params *fp)
{
    char buf[160];
    const struct clann_lr_schedule *s = &fp->schedule;
    if (s->kind == CLANN_SCHEDULE_EXPONENTIAL)
        snprintf(buf, sizeof buf, "exponential: x%g every %zu steps (smoothly)",
                 (double)s->decay_rate, s->decay_steps);
    else if (s->kind == CLANN_SCHEDULE_CONSTANT)
        snprintf(buf, sizeof buf, "constant");
    else
        snprintf(buf, sizeof buf, "schedule kind %d", (int)s->kind);
    put(opts, "learning-rate schedule", buf);
}

static void data_settings(json_object *opts, const struct cli_train_args *a,
                          const struct cli_data *d)
{
    char buf[128];
    put(opts, "data", a->data ? a->data : "fashion-mnist");
    put(opts, "label", d->label[0] ? d->label : a->label ? a->label : "(last column)");
    put(opts, "test", a->test ? a->test : d->has_test && !a->split ? "fashion-mnist t10k" : NULL);
    put(opts, "split", a->split ? a->split
                       : d->has_dev ? "10% of the training rows held out as dev data" : "none");
    snprintf(buf, sizeof buf, "%zu train, %zu dev, %zu test", d->x.rows,
             d->has_dev ? d->dev_x.rows : 0, d->has_test ? d->test_x.rows : 0);
    put(opts, "rows", buf);
    put(opts, "ignore", a->ignore);
    put(opts, "features", a->features ? a->features : "every column but the label");
    put(opts, "fill", a->fill ? a->fill : "none (missing cells refused)");
}

static json_object *options_json(const struct cli_train_args *a, const struct cli_data *d,
                                 const struct clann_model *m, json_object *spec,
                                 const struct clann_fit_params *fp, const char *device)
{
    json_object *o = json_object_new_object(), *opt = member(spec, "optimizer");
    bool reg = cli_is_regression(m);
    static const char *const tasks[] = {"auto", "regression", "binary", "multiclass",
                                        "multilabel"};
    char task[64];
    snprintf(task, sizeof task, "%s%s", tasks[cli_model_task(m)], a->task ? ""
                                                                   : " (from the labels)");
    put(o, "task", task);
    put(o, "model from", a->spec ? a->spec : a->resume ? a->resume : "the model options");
    put(o, "device", device);
    data_settings(o, a, d);
    put(o, "scale", a->scale ? a->scale : "standard");
    put(o, "scale-target", !reg ? "n/a (not regression)" : a->scale_target ? a->scale_target
                                                                           : "standard");
    put(o, "optimizer", json_object_get_string(member(opt, "kind")));
    put_fmt(o, "learning rate (start)", "%g", json_object_get_double(member(opt,
                                                                           "learning_rate")));
    schedule_setting(o, fp);
    put_fmt(o, "batch", "%g", (double)(fp->batch_size ? fp->batch_size
                                       : (size_t)json_object_get_int64(member(spec,
                                                                              "max_batch"))));
    put_fmt(o, "epochs", "%g", (double)fp->epochs);
    put(o, "seed", json_object_get_string(member(spec, "seed")));
    layer_setting(o, "l1", spec, "kernel_regularizer", "l1");
    layer_setting(o, "l2", spec, "kernel_regularizer", "l2");
    dropout_setting(o, spec);
    layer_setting(o, "max-norm", spec, "kernel_constraint", "max_value");
    put_fmt(o, "clip-norm", "%g", fp->clip_norm);
    put_fmt(o, "clip-value", "%g", fp->clip_value);
    if (fp->early_stopping.enabled) {
        char buf[96];
        snprintf(buf, sizeof buf, "patience %zu on %s", fp->early_stopping.patience,
                 fp->early_stopping.monitor ? fp->early_stopping.monitor : "val_loss");
        put(o, "early stopping", buf);
    } else {
        put(o, "early stopping", "off");
    }
    put_fmt(o, "monitor every (steps)", "%g", (double)fp->monitor_every);
    if (fp->shards > 1)
        put_fmt(o, "virtual shards", "%g", (double)fp->shards);
    put(o, "checkpoint", a->checkpoint);
    put(o, "model file", a->out ? a->out : "clann-model.safetensors");
    return o;
}

static void write_json(FILE *f, const void *user)
{
    fprintf(f, "%s\n", json_object_to_json_string_ext((json_object *)user,
                                                      JSON_C_TO_STRING_PRETTY |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE));
}

int cli_run_info_write(const struct cli_train_args *a, const struct cli_data *d,
                       const struct clann_model *m, const struct clann_fit_params *fp,
                       const char *device)
{
    if (!a->logdir)
        return CLI_OK;
    char *text = NULL, path[4096];
    enum clann_status st = clann_model_spec_json(m, &text);
    if (st != CLANN_OK)
        return cli_fail("run.json", st);
    json_object *spec = json_tokener_parse(text);
    clann_string_free(text);
    json_object *root = json_object_new_object();
    json_object_object_add(root, "model", model_json(m, spec));
    json_object_object_add(root, "options", options_json(a, d, m, spec, fp, device));
    json_object_put(spec);
    cli_make_dirs(a->logdir);
    snprintf(path, sizeof path, "%s/run.json", a->logdir);
    int rc = cli_write_file(path, write_json, root);
    json_object_put(root);
    return rc;
}
