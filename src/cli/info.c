/*
 * info.c - `clann info FILE`: what a model file or checkpoint holds: its spec, each layer's
 * parameter count and sparsity, and for a checkpoint the step, epoch and learning rate.
 *
 * Everything comes through the library: clann_model_file_info() for what the file holds
 * (checkpoint state included), the loaded model for the figures that need its parameters.
 */
#include "cli.h"

#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct info_args {
    const char *file, *device;
    bool json, spec;
};

static const char *str_member(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static uint64_t u64_member(struct json_object *o, const char *key)
{
    struct json_object *v;
    return json_object_object_get_ex(o, key, &v) ? (uint64_t)json_object_get_int64(v) : 0;
}

/* One layer's figures: parameters (all, and trained) and a dense kernel's zero weights. */
struct layer_info {
    const char *kind, *activation;
    bool spatial; /* spatial dropout or a batch norm's per-channel statistics (spec "spatial") */
    size_t units, params, trainable, zeros, weights;
    size_t shape[3]; /* an image layer's output channels, height, width; 0s: flat */
};

/* The feature layer: its output width (a number per numeric column, the dimension of each
 * embedding, an indicator's ids) and its embedding tables, ids x dimension each (they live
 * outside the dense parameter array, so the model's parameter count leaves them out). */
static void feature_figures(struct clann_model *m, struct json_object *spec,
                            struct layer_info *li)
{
    li->units = 0;
    struct json_object *features = NULL, *cols = NULL, *v;
    if (!json_object_object_get_ex(spec, "features", &features) ||
        !json_object_object_get_ex(features, "columns", &cols))
        return;
    const struct clann_features *fs = clann_model_features(m);
    for (size_t i = 0; i < json_object_array_length(cols); i++) {
        struct json_object *c = json_object_array_get_idx(cols, i);
        const char *output = str_member(c, "output"), *name = str_member(c, "name");
        const char *kind = str_member(c, "kind");
        size_t ids = name ? clann_features_id_count(fs, name) : 0;
        bool embedding = output && strcmp(output, "embedding") == 0;
        li->units += kind && strcmp(kind, "numeric") == 0 ? 1
                     : embedding                          ? (size_t)u64_member(c, "dimension")
                                                          : ids;
        if (!embedding)
            continue;
        size_t n = ids * (size_t)u64_member(c, "dimension");
        li->params += n;
        if (!json_object_object_get_ex(c, "trainable", &v) || json_object_get_boolean(v))
            li->trainable += n;
    }
}

static void layer_figures(struct clann_model *m, struct json_object *spec,
                          struct json_object *layer, size_t i, size_t *width,
                          struct layer_info *li)
{
    memset(li, 0, sizeof *li);
    li->kind = str_member(layer, "kind");
    li->activation = str_member(layer, "activation");
    struct json_object *flag;
    li->spatial = json_object_object_get_ex(layer, "spatial", &flag) &&
                  json_object_get_boolean(flag);
    li->units = *width;
    if (strcmp(li->kind, "features") == 0) {
        feature_figures(m, spec, li);
    } else if (strcmp(li->kind, "dense") == 0) {
        struct json_object *v;
        li->units = u64_member(layer, "units");
        bool bias = !json_object_object_get_ex(layer, "use_bias", &v) ||
                    json_object_get_boolean(v);
        bool prelu = li->activation && strcmp(li->activation, "prelu") == 0;
        li->params = li->trainable = *width * li->units + (bias + prelu) * li->units;
        clann_model_layer_sparsity(m, i, &li->zeros, &li->weights);
    } else {
        /* image layers and batch norms (per channel of an image): the model knows them */
        clann_model_layer_shape(m, i, &li->units, li->shape, &li->params, &li->trainable);
    }
    if (strcmp(li->kind, "features") != 0)
        clann_model_layer_shape(m, i, &li->units, li->shape, NULL, NULL);
    if (!clann_model_layer_trainable(m, i))
        li->trainable = 0; /* frozen (transfer learning) */
    *width = li->units;
}

/* The feature columns of a model with an input stage: name, kind, ids and what they become. */
static void print_features(struct json_object *spec)
{
    struct json_object *features = NULL, *cols = NULL;
    if (!json_object_object_get_ex(spec, "features", &features) ||
        !json_object_object_get_ex(features, "columns", &cols))
        return;
    printf("feature columns (hash %s):\n", str_member(features, "hash"));
    printf("  %-20s %-12s %10s  %s\n", "name", "kind", "values", "input");
    for (size_t i = 0; i < json_object_array_length(cols); i++) {
        struct json_object *c = json_object_array_get_idx(cols, i), *vocab = NULL;
        const char *kind = str_member(c, "kind"), *output = str_member(c, "output");
        bool embedding = output && strcmp(output, "embedding") == 0;
        char values[32] = "-", input[64] = "1 number";
        if (json_object_object_get_ex(c, "vocabulary", &vocab))
            snprintf(values, sizeof values, "%zu+%s", json_object_array_length(vocab),
                     str_member(c, "oov_buckets"));
        else if (json_object_object_get_ex(c, "num_buckets", NULL))
            snprintf(values, sizeof values, "%s", str_member(c, "num_buckets"));
        else if (json_object_object_get_ex(c, "boundaries", &vocab)) /* ids: boundaries + 1 */
            snprintf(values, sizeof values, "%zu", json_object_array_length(vocab) + 1);
        if (kind && output && strcmp(kind, "numeric") != 0)
            snprintf(input, sizeof input, "%s%s%s", output, embedding ? " of dimension " : "",
                     embedding ? str_member(c, "dimension") : "");
        printf("  %-20s %-12s %10s  %s\n", str_member(c, "name"), kind, values, input);
    }
    printf("\n");
}

static void print_text(const struct info_args *a, struct clann_model *m, struct json_object *spec,
                       const struct clann_model_file_info *fi)
{
    struct json_object *opt = NULL, *layers = NULL;
    json_object_object_get_ex(spec, "optimizer", &opt);
    json_object_object_get_ex(spec, "layers", &layers);
    if (fi->is_checkpoint)
        printf("%s: checkpoint (step %llu, epoch %llu, learning rate %g)\n", a->file,
               (unsigned long long)fi->step, (unsigned long long)fi->epoch,
               (double)fi->learning_rate);
    else
        printf("%s: model file, not a checkpoint (%s)\n", a->file,
               fi->checkpoint_json ? "no optimizer state" : "no clann_checkpoint metadata");
    printf("inputs %zu  outputs %zu  loss %s  optimizer %s (learning rate %s)\n",
           clann_model_input_count(m), clann_model_output_count(m), str_member(spec, "loss"),
           str_member(opt, "kind"), str_member(opt, "learning_rate"));
    printf("max_batch %s  seed %s  format %s  written by clann %s\n\n",
           str_member(spec, "max_batch"), str_member(spec, "seed"),
           str_member(spec, "format_version"), str_member(spec, "clann_version"));
    print_features(spec);
    printf("%5s  %-10s %7s  %-11s %10s %10s  %-20s  %s\n", "layer", "kind", "units",
           "activation", "params", "trainable", "zero weights", "shape");
    size_t width = clann_model_input_count(m), total = 0, trainable = 0;
    for (size_t i = 0; i < json_object_array_length(layers); i++) {
        struct layer_info li;
        layer_figures(m, spec, json_object_array_get_idx(layers, i), i, &width, &li);
        total += li.params;
        trainable += li.trainable;
        char zeros[64] = "-", shape[48] = "-";
        if (li.weights)
            snprintf(zeros, sizeof zeros, "%zu/%zu (%.1f%%)", li.zeros, li.weights,
                     100.0 * (double)li.zeros / (double)li.weights);
        if (li.shape[0])
            snprintf(shape, sizeof shape, "%zux%zux%zu", li.shape[0], li.shape[1], li.shape[2]);
        const char *kind = li.spatial && strcmp(li.kind, "dropout") == 0 ? "dropout2d" : li.kind;
        printf("%5zu  %-10s %7zu  %-11s %10zu %10zu  %-20s  %s\n", i, kind, li.units,
               li.activation ? li.activation : "-", li.params, li.trainable, zeros, shape);
    }
    printf("\nparameters: %zu (%zu trained)\n", total, trainable);
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
    json_object_object_add(o, key, json_object_new_uint64(v));
}

static void print_json(const struct info_args *a, struct clann_model *m, struct json_object *spec,
                       struct json_object *ck)
{
    struct json_object *root = json_object_new_object(), *arr = json_object_new_array();
    struct json_object *layers = NULL;
    json_object_object_get_ex(spec, "layers", &layers);
    size_t width = clann_model_input_count(m), total = 0, trainable = 0;
    for (size_t i = 0; i < json_object_array_length(layers); i++) {
        struct layer_info li;
        layer_figures(m, spec, json_object_array_get_idx(layers, i), i, &width, &li);
        struct json_object *l = json_object_new_object();
        add_u64(l, "index", i);
        json_object_object_add(l, "kind", json_object_new_string(li.kind));
        if (li.spatial)
            json_object_object_add(l, "spatial", json_object_new_boolean(1));
        add_u64(l, "units", li.units);
        if (li.shape[0]) {
            struct json_object *shape = json_object_new_array();
            for (size_t d = 0; d < 3; d++)
                json_object_array_add(shape, json_object_new_uint64(li.shape[d]));
            json_object_object_add(l, "shape", shape);
        }
        add_u64(l, "params", li.params);
        add_u64(l, "trainable_params", li.trainable);
        if (li.weights) {
            add_u64(l, "zero_weights", li.zeros);
            add_u64(l, "weights", li.weights);
            json_object_object_add(l, "sparsity", json_object_new_double((double)li.zeros /
                                                                         (double)li.weights));
        }
        json_object_array_add(arr, l);
        total += li.params;
        trainable += li.trainable;
    }
    json_object_object_add(root, "file", json_object_new_string(a->file));
    json_object_object_add(root, "checkpoint", json_object_get(ck));
    add_u64(root, "params", total);
    add_u64(root, "trainable_params", trainable);
    json_object_object_add(root, "layers", arr);
    json_object_object_add(root, "spec", json_object_get(spec));
    printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_SPACED |
                                                            JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(root);
}

static int show(const struct info_args *a, struct clann_context *ctx)
{
    struct clann_model_file_info *fi = NULL;
    struct clann_model *m = NULL;
    char *text = NULL;
    enum clann_status st = clann_model_file_info(a->file, &fi);
    if (st == CLANN_OK)
        st = clann_model_load(ctx, a->file, &m);
    if (st == CLANN_OK)
        st = clann_model_spec_json(m, &text);
    int rc = st == CLANN_OK ? CLI_OK : cli_fail(a->file, st);
    struct json_object *spec = text ? json_tokener_parse(text) : NULL;
    struct json_object *ck = fi && fi->is_checkpoint ? json_tokener_parse(fi->checkpoint_json)
                                                     : NULL;
    if (rc == CLI_OK && !spec)
        rc = cli_usage("%s: the model's spec is not valid JSON", a->file);
    if (rc == CLI_OK && a->spec)
        printf("%s\n", text);
    else if (rc == CLI_OK && a->json)
        print_json(a, m, spec, ck);
    else if (rc == CLI_OK)
        print_text(a, m, spec, fi);
    json_object_put(spec);
    json_object_put(ck);
    clann_string_free(text);
    clann_model_destroy(m);
    clann_model_file_info_free(fi);
    return rc;
}

/* FILE may stand anywhere among the options; the rest go to cli_parse. */
static int split_file(int argc, char **argv, char **rest, int *n_rest, const char **file)
{
    *file = NULL;
    *n_rest = 0;
    for (int i = 0; i < argc; i++) {
        bool option = strncmp(argv[i], "-", 1) == 0;
        if (!option && *file)
            return cli_usage("info: takes one FILE (got '%s' and '%s')", *file, argv[i]);
        if (!option) {
            *file = argv[i];
            continue;
        }
        rest[(*n_rest)++] = argv[i];
        if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
            rest[(*n_rest)++] = argv[++i];
    }
    return CLI_OK;
}

int cli_info(int argc, char **argv)
{
    struct info_args a;
    memset(&a, 0, sizeof a);
    const struct cli_option options[] = {
        {"json", false, NULL, &a.json, "print everything as one JSON object"},
        {"spec", false, NULL, &a.spec, "print only the model's JSON spec (for train --spec)"},
        {"device", true, &a.device, NULL, "device to load on (default cpu)"},
    };
    size_t n_opt = sizeof options / sizeof *options;
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int n_rest = 0;
    int rc = rest ? split_file(argc, argv, rest, &n_rest, &a.file) : cli_usage("out of memory");
    if (rc == CLI_OK)
        rc = cli_parse("info", n_rest, rest, options, n_opt);
    free(rest);
    if (rc < 0) {
        cli_print_help("info", "FILE [OPTIONS]\n\nShows a model file or checkpoint: its spec, "
                       "each layer's parameters and sparsity, and a checkpoint's step, epoch "
                       "and learning rate.", options, n_opt);
        return CLI_OK;
    }
    if (rc != CLI_OK)
        return rc;
    if (!a.file)
        return cli_usage("info: a model file is required (clann info FILE)");
    struct clann_context *ctx = NULL;
    rc = cli_context(a.device ? a.device : "cpu", &ctx);
    if (rc == CLI_OK)
        rc = show(&a, ctx);
    clann_context_destroy(ctx);
    return rc;
}
