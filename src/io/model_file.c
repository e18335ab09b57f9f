/*
 * model_file.c - models in .safetensors files (docs/architecture.md, "Model files"): the
 * public load and save.
 * The container is data/safetensors.c, the tensors a model has io/tensor_list.c.
 *
 * The header holds the model spec in __metadata__.clann_spec and one entry per tensor, named as
 * tensor_list.h lists them. A checkpoint (checkpoint.c) adds the optimizer state tensors and
 * __metadata__.clann_checkpoint; a plain load ignores them.
 *
 * Loading trusts nothing: sizes are checked against the file before anything is allocated
 * from them, tensors must match the spec's shapes exactly and cover the data section with no
 * gap, overlap or trailing byte (safetensors' rules against polyglot files and overlapping-
 * offset blowups), and no tensor may hold a NaN or infinity. Nothing read from the file is
 * ever executed. Saving goes through core/file.c: a temporary file next to the target,
 * fsynced and renamed over it, so a crash or an error leaves either the old file or the new
 * one.
 */
#include "io/model_file.h"
#include "core/file.h"
#include "data/json.h"
#include "data/safetensors.h"
#include "io/spec.h"
#include "io/tensor_list.h"
#include "nn/embedding.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Saving.
 */

/* The whole header: the spec (and a checkpoint's state) in __metadata__, then the tensors. */
static enum clann_status build_header(struct clann_model *m, const char *checkpoint,
                                      const struct clann__tensor_list *l, char **out,
                                      size_t *out_len)
{
    char *spec;
    enum clann_status st = clann__spec_write(m, &spec);
    if (st != CLANN_OK)
        return st;
    const char *const keys[2] = {"clann_spec", "clann_checkpoint"};
    const char *const values[2] = {spec, checkpoint};
    st = clann__st_header(m->ctx, keys, values, 2, l->t, l->n, out, out_len);
    clann__free(spec);
    return st;
}

/* Every tensor of the list, in its order, as one little-endian host array of *n floats. */
static enum clann_status download_data(struct clann_model *m, const struct clann__tensor_list *l,
                                       float **out, size_t *n)
{
    *n = 0;
    for (size_t i = 0; i < l->n; i++)
        *n += l->t[i].count;
    *out = clann__malloc((*n ? *n : 1) * sizeof(float));
    if (!*out)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "model save: out of memory");
    enum clann_status st = CLANN_OK;
    size_t pos = 0;
    for (size_t i = 0; i < l->n && st == CLANN_OK; i++) {
        if (l->t[i].count)
            st = clann__op_download(m->be, *out + pos, clann__tensor_source(m, &l->t[i]),
                                    l->t[i].count);
        pos += l->t[i].count;
    }
    if (st == CLANN_OK)
        clann__st_floats_le(*out, *n);
    return st;
}

enum clann_status clann__model_file_write(struct clann_model *m, const char *path,
                                          const char *checkpoint)
{
    if (!m || !path || !*path)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "model save: need a model and a path");
    if (!m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE, "model save '%s': the model is not "
                            "compiled", path);
    struct clann__tensor_list l = {NULL, 0};
    char *header = NULL;
    size_t header_len = 0, n = 0;
    float *data = NULL;
    enum clann_status st = clann__tensors_from_model(m, checkpoint != NULL, &l);
    if (st == CLANN_OK)
        st = build_header(m, checkpoint, &l, &header, &header_len);
    if (st == CLANN_OK)
        st = download_data(m, &l, &data, &n);
    const void *parts[2] = {header, data};
    const size_t sizes[2] = {header_len, 4 * n};
    if (st == CLANN_OK)
        st = clann__file_replace(m->ctx, "model save", path, parts, sizes, 2);
    clann__free(data);
    clann__free(header);
    clann__free(l.t);
    return st;
}

CLANN_API enum clann_status clann_model_save(struct clann_model *m, const char *path)
{
    return clann__model_file_write(m, path, NULL);
}

/* ---------------------------------------------------------------------------------------------
 * Loading.
 */

/* __metadata__ is a string-to-string map (safetensors' rule); clann_spec holds the spec. */
static enum clann_status read_spec(const struct clann__st_reader *ld, struct json_object *root,
                                   struct clann__file_extras *extras, struct clann__spec *spec)
{
    struct json_object *meta, *s = NULL;
    if (!json_object_object_get_ex(root, "__metadata__", &meta) ||
        !json_object_is_type(meta, json_type_object))
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "__metadata__ is missing or not an object; not a "
                              "clann model file");
    json_object_object_foreach(meta, key, val) {
        if (!json_object_is_type(val, json_type_string))
            return clann__st_fail(ld, CLANN_ERR_FORMAT, "__metadata__.%.64s: expected a string",
                                  key);
    }
    if (!json_object_object_get_ex(meta, "clann_spec", &s))
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "__metadata__.clann_spec is missing; not a clann "
                              "model file");
    struct json_object *ck;
    if (extras && json_object_object_get_ex(meta, "clann_checkpoint", &ck)) {
        size_t n = (size_t)json_object_get_string_len(ck);
        extras->checkpoint = clann__malloc(n + 1);
        if (!extras->checkpoint)
            return clann__st_fail(ld, CLANN_ERR_NO_MEMORY, "out of memory");
        memcpy(extras->checkpoint, json_object_get_string(ck), n + 1);
    }
    char what[64 + 64];
    snprintf(what, sizeof what, "model file '%.64s': __metadata__.clann_spec", ld->path);
    return clann__spec_parse(ld->ctx, json_object_get_string(s),
                             (size_t)json_object_get_string_len(s), what, spec);
}

/* Matches one header entry with the tensor the spec expects under that name. */
static enum clann_status check_entry(const struct clann__st_reader *ld,
                                     struct clann__tensor_list *l, const char *name,
                                     struct json_object *e)
{
    struct clann__tensor *t = clann__tensors_find(l, name);
    if (!t)
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "unexpected tensor '%.64s' (not in the model spec)", name);
    if (t->seen)
        return clann__st_fail(ld, CLANN_ERR_FORMAT, "duplicate tensor '%s'", name);
    t->seen = true;
    return clann__st_check_entry(ld, t, e);
}

static enum clann_status check_tensors(const struct clann__st_reader *ld, struct json_object *root,
                                       struct clann__tensor_list *l)
{
    enum clann_status st = CLANN_OK;
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") != 0 && st == CLANN_OK)
            st = check_entry(ld, l, key, val);
    }
    /* The optimizer tensors are optional, but come as a pair. */
    size_t np = clann__tensors_n_params(l);
    bool has_optimizer = np < l->n && (l->t[np].seen || l->t[np + 1].seen);
    for (size_t i = 0; i < l->n && st == CLANN_OK; i++)
        if (!l->t[i].seen && (l->t[i].extra == 0 || l->t[i].extra == 3 ||
                              (has_optimizer && l->t[i].extra <= 2)))
            st = clann__st_fail(ld, CLANN_ERR_FORMAT, "tensor '%s' is missing", l->t[i].name);
    return st == CLANN_OK ? clann__st_check_tiling(ld, l->t, l->n) : st;
}

/* A spec that passed parsing but that the model rejects (e.g. a cross-entropy loss after a
 * softmax layer) is a malformed file, not a caller error. */
static enum clann_status build_model(const struct clann__st_reader *ld,
                                     const struct clann__spec *spec, struct clann_model **out)
{
    enum clann_status st = clann__spec_build(ld->ctx, spec, out);
    if (st == CLANN_ERR_INVALID_ARG || st == CLANN_ERR_SHAPE || st == CLANN_ERR_STATE) {
        char why[1024];
        snprintf(why, sizeof why, "%s", clann_last_error());
        st = clann__st_fail(ld, CLANN_ERR_FORMAT, "the spec describes no valid model: %s", why);
    }
    return st;
}

/* Reads every tensor into its place in the model's parameter order and uploads them. */
static enum clann_status load_params(const struct clann__st_reader *ld,
                                     const struct clann__tensor_list *l, struct clann_model *m)
{
    struct clann__tensor_list ml;
    enum clann_status st = clann__tensors_from_model(m, false, &ml);
    if (st != CLANN_OK)
        return st;
    size_t np = clann__tensors_n_params(&ml);
    bool same = np == clann__tensors_n_params(l);
    for (size_t i = 0; same && i < np; i++)
        same = strcmp(ml.t[i].name, l->t[i].name) == 0 && ml.t[i].count == l->t[i].count &&
               ml.t[i].off == l->t[i].off;
    float *p = same ? clann__malloc((m->n_params ? m->n_params : 1) * sizeof *p) : NULL;
    if (!same)
        st = clann__st_fail(ld, CLANN_ERR_INTERNAL,
                            "the built model's layout differs from the spec's");
    else if (!p)
        st = clann__st_fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for %zu parameters",
                            m->n_params);
    for (size_t i = 0; st == CLANN_OK && i < np; i++)
        st = clann__st_read(ld, &l->t[i], p + l->t[i].off);
    if (st == CLANN_OK && m->n_params)
        st = clann_model_set_params(m, p, m->n_params);
    clann__free(p);
    clann__free(ml.t);
    return st;
}

/* Reads each embedding table into its own buffer (they are not in the parameter array), and
 * for a checkpoint the tables' optimizer state that the file has (older checkpoints lack it:
 * those rows then resume from the optimizer's initial state). */
static enum clann_status load_tables(const struct clann__st_reader *ld,
                                     const struct clann__tensor_list *l, bool with_state,
                                     struct clann_model *m)
{
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < l->n && st == CLANN_OK; i++) {
        const struct clann__tensor *t = &l->t[i];
        if (t->extra < 3 || (t->extra > 3 && (!with_state || !t->seen)))
            continue;
        if (t->table >= m->n_emb || m->emb[t->table].f->n_ids * m->emb[t->table].f->dim !=
                                        t->count)
            return clann__st_fail(ld, CLANN_ERR_INTERNAL,
                                  "the built model's tables differ from the "
                                  "spec's");
        struct clann_view dst = clann__tensor_source(m, t);
        if (!dst.buf->ptr)
            return clann__st_fail(ld, CLANN_ERR_FORMAT,
                                  "tensor '%s': the model's optimizer keeps no "
                                  "such state",
                                  t->name);
        float *p = clann__malloc((t->count ? t->count : 1) * sizeof *p);
        if (!p)
            return clann__st_fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for tensor '%s'",
                                  t->name);
        st = clann__st_read(ld, t, p);
        if (st == CLANN_OK)
            st = clann__op_upload(m->be, dst, p, t->count, true);
        clann__free(p);
    }
    return st;
}

/* Reads the optimizer-state tensors, when the file has them, into new host arrays. */
static enum clann_status load_optimizer(const struct clann__st_reader *ld,
                                        const struct clann__tensor_list *l,
                                        struct clann__file_extras *x)
{
    size_t np = clann__tensors_n_params(l);
    if (np + 2 > l->n || l->t[np].extra != 1 || !l->t[np].seen)
        return CLANN_OK;
    size_t n = l->t[np].count;
    float **dst[2] = {&x->state1, &x->state2};
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < 2 && st == CLANN_OK; k++) {
        *dst[k] = clann__malloc((n ? n : 1) * sizeof(float));
        if (!*dst[k])
            return clann__st_fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for the optimizer state");
        st = clann__st_read(ld, &l->t[np + k], *dst[k]);
    }
    x->n = n;
    return st;
}

/* Validates header, spec and tensors, then builds the model and fills it. */
static enum clann_status load(struct clann__st_reader *ld, struct clann_context *ctx,
                              const char *path, struct clann__file_extras *extras,
                              struct clann_model **out)
{
    struct json_object *root = NULL;
    struct clann__spec spec;
    struct clann__tensor_list l = {NULL, 0};
    struct clann_model *m = NULL;
    memset(&spec, 0, sizeof spec);
    enum clann_status st = clann__st_open(ld, ctx, path, &root);
    if (st == CLANN_OK)
        st = read_spec(ld, root, extras, &spec);
    if (st == CLANN_OK)
        st = clann__tensors_from_spec(ld->ctx, &spec, &l);
    if (st == CLANN_OK)
        st = check_tensors(ld, root, &l);
    if (st == CLANN_OK)
        st = build_model(ld, &spec, &m);
    if (st == CLANN_OK)
        st = load_params(ld, &l, m);
    if (st == CLANN_OK)
        st = load_tables(ld, &l, extras != NULL, m);
    if (st == CLANN_OK && extras)
        st = load_optimizer(ld, &l, extras);
    json_object_put(root);
    clann__spec_free(&spec);
    clann__free(l.t);
    if (st != CLANN_OK) {
        clann_model_destroy(m);
        return st;
    }
    *out = m;
    return CLANN_OK;
}

void clann__file_extras_free(struct clann__file_extras *x)
{
    clann__free(x->state1);
    clann__free(x->state2);
    clann__free(x->checkpoint);
    memset(x, 0, sizeof *x);
}

enum clann_status clann__model_file_read(struct clann_context *ctx, const char *path,
                                         struct clann_model **out,
                                         struct clann__file_extras *extras)
{
    if (extras)
        memset(extras, 0, sizeof *extras);
    if (!out)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "model load: out is NULL");
    *out = NULL;
    if (!ctx || !path)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "model load: need a context and a path");
    struct clann__st_reader ld;
    enum clann_status st = load(&ld, ctx, path, extras, out);
    clann__st_close(&ld);
    if (st != CLANN_OK && extras)
        clann__file_extras_free(extras);
    return st;
}

CLANN_API enum clann_status clann_model_load(struct clann_context *ctx, const char *path,
                                             struct clann_model **out)
{
    return clann__model_file_read(ctx, path, out, NULL);
}

/* A model from a spec (fitting what it leaves open on train, when given), with the layers its
 * init_from members name copied in. */
static enum clann_status from_spec(struct clann_context *ctx, const char *json_text,
                                   const struct clann_table *train, struct clann_model **out)
{
    enum clann_status st = clann__model_from_spec(ctx, json_text, train, out);
    if (st == CLANN_OK && (st = clann__model_apply_sources(*out)) != CLANN_OK) {
        clann_model_destroy(*out);
        *out = NULL;
    }
    return st;
}

CLANN_API enum clann_status clann_model_from_spec_json(struct clann_context *ctx,
                                                       const char *json_text,
                                                       struct clann_model **out)
{
    return from_spec(ctx, json_text, NULL, out);
}

CLANN_API enum clann_status clann_model_from_spec_table(struct clann_context *ctx,
                                                        const char *json_text,
                                                        const struct clann_table *train,
                                                        struct clann_model **out)
{
    if (!train) {
        if (out)
            *out = NULL;
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "model spec: the training table is "
                            "NULL");
    }
    return from_spec(ctx, json_text, train, out);
}


/* ---------------------------------------------------------------------------------------------
 * What a file holds, for `clann info` and other tools.
 */

static char *dup_text(const char *s, size_t n)
{
    char *d = clann__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static char *json_text(struct json_object *o)
{
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    return t ? dup_text(t, strlen(t)) : NULL;
}

/* The spec's format_version (validated by clann__spec_parse, so present or defaulted). */
static char *spec_version(struct clann_context *ctx, const char *spec)
{
    struct json_object *root = NULL, *v;
    char *out = NULL;
    if (clann__json_parse(ctx, spec, strlen(spec), "spec", &root) == CLANN_OK &&
        json_object_object_get_ex(root, "format_version", &v))
        out = dup_text(json_object_get_string(v), strlen(json_object_get_string(v)));
    else
        out = dup_text("1.0", 3);
    json_object_put(root);
    return out;
}

static int by_offset(const void *a, const void *b)
{
    const struct clann_tensor_info *x = a, *y = b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* The tensors the file has, in file order. */
static bool fill_tensors(const struct clann__st_reader *ld, const struct clann__tensor_list *l,
                         struct clann_model_file_info *fi)
{
    fi->tensors = clann__calloc(l->n ? l->n : 1, sizeof *fi->tensors);
    if (!fi->tensors)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        const struct clann__tensor *t = &l->t[i];
        if (!t->seen)
            continue;
        struct clann_tensor_info *ti = &fi->tensors[fi->n_tensors++];
        if (!(ti->name = dup_text(t->name, strlen(t->name))))
            return false;
        ti->rank = t->rank;
        ti->shape[0] = t->shape[0];
        ti->shape[1] = t->shape[1];
        ti->offset = 8 + ld->header_len + t->begin;
        ti->bytes = t->end - t->begin;
    }
    qsort(fi->tensors, fi->n_tensors, sizeof *fi->tensors, by_offset);
    return true;
}

static enum clann_status describe(struct clann__st_reader *ld, const char *path,
                                  struct clann_model_file_info *fi)
{
    struct json_object *root = NULL, *meta;
    struct clann__spec spec;
    struct clann__tensor_list l = {NULL, 0};
    struct clann__file_extras x;
    memset(&spec, 0, sizeof spec);
    memset(&x, 0, sizeof x);
    enum clann_status st = clann__st_open(ld, NULL, path, &root);
    if (st == CLANN_OK)
        st = read_spec(ld, root, &x, &spec);
    if (st == CLANN_OK)
        st = clann__tensors_from_spec(NULL, &spec, &l);
    if (st == CLANN_OK)
        st = check_tensors(ld, root, &l);
    size_t np = st == CLANN_OK ? clann__tensors_n_params(&l) : 0;
    fi->is_checkpoint = st == CLANN_OK && x.checkpoint && np < l.n && l.t[np].seen;
    if (st == CLANN_OK && x.checkpoint)
        st = clann__checkpoint_parse(NULL, path, x.checkpoint, &fi->step, &fi->epoch,
                                     &fi->learning_rate);
    if (st == CLANN_OK) {
        json_object_object_get_ex(root, "__metadata__", &meta);
        struct json_object *s = json_object_object_get(meta, "clann_spec");
        fi->spec_json = dup_text(json_object_get_string(s), strlen(json_object_get_string(s)));
        fi->metadata_json = json_text(meta);
        fi->format_version = fi->spec_json ? spec_version(NULL, fi->spec_json) : NULL;
        fi->checkpoint_json = x.checkpoint;
        x.checkpoint = NULL;
        if (!fill_tensors(ld, &l, fi) || !fi->spec_json || !fi->metadata_json ||
            !fi->format_version)
            st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "model file info: out of memory");
    }
    json_object_put(root);
    clann__spec_free(&spec);
    clann__free(l.t);
    clann__file_extras_free(&x);
    return st;
}

CLANN_API enum clann_status clann_model_file_info(const char *path,
                                                  struct clann_model_file_info **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_model_file_info: out is NULL");
    *out = NULL;
    if (!path)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_model_file_info: no path");
    struct clann_model_file_info *fi = clann__calloc(1, sizeof *fi);
    if (!fi)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "model file info: out of memory");
    struct clann__st_reader ld;
    enum clann_status st = describe(&ld, path, fi);
    clann__st_close(&ld);
    if (st != CLANN_OK) {
        clann_model_file_info_free(fi);
        return st;
    }
    *out = fi;
    return CLANN_OK;
}

CLANN_API void clann_model_file_info_free(struct clann_model_file_info *info)
{
    if (!info)
        return;
    for (size_t i = 0; i < info->n_tensors; i++)
        clann__free(info->tensors[i].name);
    clann__free(info->tensors);
    clann__free(info->format_version);
    clann__free(info->spec_json);
    clann__free(info->metadata_json);
    clann__free(info->checkpoint_json);
    clann__free(info);
}
