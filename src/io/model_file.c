/*
 * model_file.c - models in .safetensors files (docs/architecture.md, "Model files").
 *
 * Layout: an 8-byte little-endian header length N; N bytes of JSON header, padded with spaces
 * to a multiple of 8 as the safetensors writers do; then the tensors' raw little-endian F32
 * bytes, contiguous, in layer order. The header holds the model spec in
 * __metadata__.clann_spec and one entry per tensor:
 *     "layers.<i>.dense.kernel": {"dtype": "F32", "shape": [in, out], "data_offsets": [b, e]}
 * plus ".bias" ([out], when the layer has one) and ".prelu_alpha" ([out], PReLU layers).
 * A checkpoint (checkpoint.c) appends "optimizer.state1" and "optimizer.state2" ([n_params]
 * each, in the parameter order) and __metadata__.clann_checkpoint; a plain load ignores them.
 *
 * Loading trusts nothing: sizes are checked against the file before anything is allocated
 * from them, tensors must match the spec's shapes exactly and cover the data section with no
 * gap, overlap or trailing byte (safetensors' rules against polyglot files and overlapping-
 * offset blowups). Nothing read from the file is ever executed. Saving writes a temporary file
 * next to the target, fsyncs it, renames it over the target and fsyncs the folder, so a crash
 * or an error leaves either the old file or the new one.
 */
#include "io/model_file.h"
#include "core/file.h"
#include "io/spec.h"
#include "data/json.h"
#include "nn/embedding.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* safetensors' MAX_HEADER_SIZE. */
#define MAX_HEADER ((uint64_t)100000000)
#define NAME_LEN 96 /* "optimizer.embedding." + a 40-byte feature name + ".state1" fits */

/* One tensor the model has: its name, shape and place in the collated parameter array, and
 * (when loading) its byte range in the file's data section. */
struct tensor {
    char name[NAME_LEN];
    size_t shape[2];
    size_t rank;
    size_t count; /* floats */
    size_t off;   /* floats, in the parameter array */
    uint64_t begin, end;
    bool seen;
    int extra; /* 0: a parameter; 1, 2: optimizer.state1, optimizer.state2; 3: an embedding
                  table (layers.<i>.embedding.<feature>, outside the parameter array); 4, 5:
                  that table's optimizer state (optimizer.embedding.<feature>.state1, state2) */
    size_t table; /* extra 3-5: the table's index among the model's embedding tables */
};

struct tensor_list {
    struct tensor *t;
    size_t n;
};

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* Converts floats between host order and little-endian (its own inverse). */
static void floats_to_le(float *x, size_t n)
{
    if (host_is_little_endian())
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4], s[4];
        memcpy(b, &x[i], 4);
        s[0] = b[3], s[1] = b[2], s[2] = b[1], s[3] = b[0];
        memcpy(&x[i], s, 4);
    }
}

static const char *errtext(int err, char *buf, size_t size)
{
    if (strerror_r(err, buf, size) != 0)
        snprintf(buf, size, "error %d", err);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Tensor lists: the parameter layout of model.c's layout(), by name.
 */
static void push_tensor(struct tensor_list *l, size_t layer, const char *kind, const char *param,
                        size_t rows, size_t cols, size_t off)
{
    struct tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "layers.%zu.%s.%s", layer, kind, param);
    t->rank = rows ? 2 : 1;
    t->shape[0] = rows ? rows : cols;
    t->shape[1] = rows ? cols : 0;
    t->count = rows ? rows * cols : cols;
    t->off = off;
}

/* Dense layer i's tensors; *off advances past them. */
static void push_dense(struct tensor_list *l, size_t i, size_t in, size_t out, bool use_bias,
                       bool prelu, size_t *off)
{
    push_tensor(l, i, "dense", "kernel", in, out, *off);
    *off += in * out;
    if (use_bias) {
        push_tensor(l, i, "dense", "bias", 0, out, *off);
        *off += out;
    }
    if (prelu) {
        push_tensor(l, i, "dense", "prelu_alpha", 0, out, *off);
        *off += out;
    }
}

/* Batch-norm layer i's tensors, in model.c's order: the trained gamma and beta, then the
 * running statistics (saved too: inference needs them). */
static void push_batchnorm(struct tensor_list *l, size_t i, size_t width, size_t *off)
{
    static const char *const names[4] = {"gamma", "beta", "moving_mean", "moving_variance"};
    for (size_t k = 0; k < 4; k++) {
        push_tensor(l, i, "batchnorm", names[k], 0, width, *off);
        *off += width;
    }
}

/* Room for 4 tensors per parameter layer, the 2 optimizer-state tensors and the embedding
 * tables of fs (may be NULL) with their 2 optimizer-state tensors each. */
static enum clann_status list_alloc(struct clann_context *ctx, size_t n_dense,
                                    const struct clann_features *fs, struct tensor_list *l)
{
    l->n = 0;
    l->t = clann__calloc(4 * n_dense + 2 + 3 * clann__features_n_tables(fs), sizeof *l->t);
    return l->t ? CLANN_OK : clann__error(ctx, CLANN_ERR_NO_MEMORY, "model file: out of memory");
}

/* The optimizer-state tensors of a checkpoint: n_params floats each, placed after the
 * parameters in the host array a save writes. */
static void push_optimizer(struct tensor_list *l, size_t n_params)
{
    for (int k = 1; k <= 2; k++) {
        struct tensor *t = &l->t[l->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "optimizer.state%d", k);
        t->rank = 1;
        t->shape[0] = t->count = n_params;
        t->off = (size_t)k * n_params;
        t->extra = k;
    }
}

/* The embedding tables of the feature layer (layer 0), after everything else: they are not in
 * the parameter array. */
static void push_tables(struct tensor_list *l, const struct clann_features *fs)
{
    for (size_t k = 0; k < clann__features_n_tables(fs); k++) {
        const struct clann__feature *f = clann__features_table(fs, k);
        struct tensor *t = &l->t[l->n++];
        memset(t, 0, sizeof *t);
        snprintf(t->name, sizeof t->name, "layers.0.embedding.%s", f->name);
        t->rank = 2;
        t->shape[0] = f->n_ids;
        t->shape[1] = f->dim;
        t->count = f->n_ids * f->dim;
        t->extra = 3;
        t->table = k;
    }
}

/* The optimizer state of embedding table k (extra 4: state1, 5: state2), after the tables: the
 * rows' lazily updated moments, which a resumed run needs to continue exactly. */
static void push_table_state(struct tensor_list *l, const struct clann_features *fs, size_t k,
                             int extra)
{
    const struct clann__feature *f = clann__features_table(fs, k);
    struct tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "optimizer.embedding.%s.state%d", f->name, extra - 3);
    t->rank = 2;
    t->shape[0] = f->n_ids;
    t->shape[1] = f->dim;
    t->count = f->n_ids * f->dim;
    t->extra = extra;
    t->table = k;
}

/* Parameter tensors in a list (the optimizer ones come last). */
static size_t n_param_tensors(const struct tensor_list *l)
{
    size_t n = 0;
    while (n < l->n && l->t[n].extra == 0)
        n++;
    return n;
}

/* The tensors a parsed spec implies (sizes were checked by clann__spec_parse). */
static enum clann_status list_from_spec(struct clann_context *ctx, const struct clann__spec *s,
                                        struct tensor_list *l)
{
    size_t n_param_layers = 0, width = s->n_inputs, off = 0;
    for (size_t i = 0; i < s->n_layers; i++)
        n_param_layers += s->layers[i].kind == CLANN__LAYER_DENSE ||
                          s->layers[i].kind == CLANN__LAYER_BATCHNORM;
    enum clann_status st = list_alloc(ctx, n_param_layers, s->features, l);
    for (size_t i = 0; st == CLANN_OK && i < s->n_layers; i++) {
        const struct clann__spec_layer *sl = &s->layers[i];
        if (sl->kind == CLANN__LAYER_FEATURES)
            width = s->features->out_width;
        if (sl->kind == CLANN__LAYER_BATCHNORM)
            push_batchnorm(l, i, width, &off);
        if (sl->kind != CLANN__LAYER_DENSE)
            continue;
        push_dense(l, i, width, sl->dense.units, sl->dense.use_bias,
                   sl->dense.activation == CLANN_ACTIVATION_PRELU, &off);
        width = sl->dense.units;
    }
    if (st == CLANN_OK)
        push_optimizer(l, off); /* optional when loading: only checkpoints have them */
    if (st == CLANN_OK)
        push_tables(l, s->features);
    for (size_t k = 0; st == CLANN_OK && k < clann__features_n_tables(s->features); k++) {
        push_table_state(l, s->features, k, 4); /* optional too, and which ones exist */
        push_table_state(l, s->features, k, 5); /* depends on the optimizer */
    }
    return st;
}

/* The tensors of a compiled model, at the offsets its layout gave them, and with_optimizer
 * adds the optimizer state. */
static enum clann_status list_from_model(const struct clann_model *m, bool with_optimizer,
                                         struct tensor_list *l)
{
    size_t n_param_layers = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        n_param_layers += m->layers[i].n_params > 0;
    enum clann_status st = list_alloc(m->ctx, n_param_layers, m->features, l);
    size_t total = 0;
    for (size_t i = 0; st == CLANN_OK && i < m->n_layers; i++) {
        const struct clann_layer *ml = &m->layers[i];
        size_t off = ml->w_off;
        if (ml->kind == CLANN__LAYER_DENSE)
            push_dense(l, i, ml->in, ml->out, ml->dense.use_bias,
                       ml->act.kind == CLANN__ACT_PRELU, &off);
        else if (ml->kind == CLANN__LAYER_BATCHNORM)
            push_batchnorm(l, i, ml->out, &off);
        /* A layer whose parameters this file format does not name would be silently lost. */
        if (off != ml->w_off + ml->n_params)
            st = clann__error(m->ctx, CLANN_ERR_UNSUPPORTED, "model file: layer %zu has "
                              "parameters the model file format cannot name", i);
        total += ml->n_params;
    }
    if (st == CLANN_OK && total != m->n_params)
        st = clann__error(m->ctx, CLANN_ERR_UNSUPPORTED, "model file: the model has %zu "
                          "parameters outside its layers", m->n_params - total);
    if (st == CLANN_OK && with_optimizer)
        push_optimizer(l, m->n_params);
    if (st == CLANN_OK)
        push_tables(l, m->features);
    for (size_t k = 0; st == CLANN_OK && with_optimizer && k < m->n_emb; k++) {
        if (m->emb[k].s1.ptr)
            push_table_state(l, m->features, k, 4);
        if (m->emb[k].s2.ptr)
            push_table_state(l, m->features, k, 5);
    }
    if (st != CLANN_OK) {
        clann__free(l->t);
        l->t = NULL;
    }
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Saving.
 */

static struct json_object *tensor_entry(const struct tensor *t, uint64_t begin)
{
    struct json_object *e = json_object_new_object(), *shape = json_object_new_array();
    struct json_object *offs = json_object_new_array();
    bool ok = true;
    for (size_t d = 0; d < t->rank; d++)
        clann__json_push(&ok, shape, json_object_new_uint64(t->shape[d]));
    clann__json_push(&ok, offs, json_object_new_uint64(begin));
    clann__json_push(&ok, offs, json_object_new_uint64(begin + 4 * (uint64_t)t->count));
    clann__json_put(&ok, e, "dtype", json_object_new_string("F32"));
    clann__json_put(&ok, e, "shape", shape);
    clann__json_put(&ok, e, "data_offsets", offs);
    if (ok)
        return e;
    json_object_put(e);
    return NULL;
}

/* The JSON header: the spec (and a checkpoint's state) in __metadata__, then the tensors in
 * layer order. */
static enum clann_status header_json(struct clann_model *m, const char *spec,
                                     const char *checkpoint, const struct tensor_list *l,
                                     struct json_object **out)
{
    struct json_object *root = json_object_new_object(), *meta = json_object_new_object();
    bool ok = true;
    clann__json_put(&ok, meta, "clann_spec", json_object_new_string(spec));
    if (checkpoint)
        clann__json_put(&ok, meta, "clann_checkpoint", json_object_new_string(checkpoint));
    clann__json_put(&ok, root, "__metadata__", meta);
    uint64_t begin = 0;
    for (size_t i = 0; ok && i < l->n; i++) {
        clann__json_put(&ok, root, l->t[i].name, tensor_entry(&l->t[i], begin));
        begin += 4 * (uint64_t)l->t[i].count;
    }
    if (!ok) {
        json_object_put(root);
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "model save: out of memory");
    }
    *out = root;
    return CLANN_OK;
}

/* The whole header: length, JSON, space padding to a multiple of 8. */
static enum clann_status build_header(struct clann_model *m, const char *checkpoint,
                                      const struct tensor_list *l, char **out, size_t *out_len)
{
    char *spec, *buf = NULL;
    struct json_object *root = NULL;
    enum clann_status st = clann__spec_write(m, &spec);
    if (st == CLANN_OK)
        st = header_json(m, spec, checkpoint, l, &root);
    clann__free(spec);
    const char *text = root ? json_object_to_json_string_ext(
                                  root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                            : NULL;
    size_t len = text ? strlen(text) : 0, padded = (len + 7) & ~(size_t)7;
    if (text)
        buf = clann__malloc(8 + padded);
    if (buf) {
        for (int i = 0; i < 8; i++)
            buf[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
        memcpy(buf + 8, text, len);
        memset(buf + 8 + len, ' ', padded - len);
    }
    json_object_put(root);
    if (st == CLANN_OK && !buf)
        st = clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "model save: out of memory");
    *out = buf;
    *out_len = 8 + padded;
    return st;
}

/* The buffer a tensor of the list lives in on the device, and its offset there. */
static struct clann_view tensor_source(struct clann_model *m, const struct tensor *t)
{
    switch (t->extra) {
    case 0: return clann__view(&m->params, t->off);
    case 1: return clann__view(&m->state1, 0);
    case 2: return clann__view(&m->state2, 0);
    case 3: return clann__view(&m->emb[t->table].table, 0);
    case 4: return clann__view(&m->emb[t->table].s1, 0);
    default: return clann__view(&m->emb[t->table].s2, 0);
    }
}

/* Every tensor of the list, in its order, as one little-endian host array of *n floats. */
static enum clann_status download_data(struct clann_model *m, const struct tensor_list *l,
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
            st = clann__op_download(m->be, *out + pos, tensor_source(m, &l->t[i]),
                                      l->t[i].count);
        pos += l->t[i].count;
    }
    if (st == CLANN_OK)
        floats_to_le(*out, *n);
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
    struct tensor_list l = {NULL, 0};
    char *header = NULL;
    size_t header_len = 0, n = 0;
    float *data = NULL;
    enum clann_status st = list_from_model(m, checkpoint != NULL, &l);
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
struct loader {
    struct clann_context *ctx;
    const char *path;
    int fd;
    uint64_t file_size;
    uint64_t header_len;
    uint64_t data_size; /* bytes after the header */
    struct clann__file_extras *extras; /* NULL: a plain load, which ignores them */
};

static enum clann_status fail(const struct loader *ld, enum clann_status st, const char *fmt,
                              ...) CLANN_PRINTF(3, 4);

static enum clann_status fail(const struct loader *ld, enum clann_status st, const char *fmt,
                              ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clann__error(ld->ctx, st, "model file '%s': %s", ld->path, msg);
}

/* Reads exactly n bytes at offset; a short read means the file shrank under us. */
static enum clann_status read_at(const struct loader *ld, void *buf, size_t n, uint64_t offset)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(ld->fd, p, n, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            char e[128];
            return fail(ld, CLANN_ERR_IO, "read failed at byte %llu: %s",
                        (unsigned long long)offset, errtext(errno, e, sizeof e));
        }
        if (r == 0)
            return fail(ld, CLANN_ERR_TRUNCATED, "unexpected end of file at byte %llu",
                        (unsigned long long)offset);
        p += r;
        n -= (size_t)r;
        offset += (uint64_t)r;
    }
    return CLANN_OK;
}

static enum clann_status open_file(struct loader *ld)
{
    char e[128];
    ld->fd = open(ld->path, O_RDONLY | O_CLOEXEC);
    if (ld->fd < 0)
        return fail(ld, CLANN_ERR_IO, "cannot open: %s", errtext(errno, e, sizeof e));
    struct stat sb;
    if (fstat(ld->fd, &sb) != 0)
        return fail(ld, CLANN_ERR_IO, "cannot stat: %s", errtext(errno, e, sizeof e));
    if (!S_ISREG(sb.st_mode))
        return fail(ld, CLANN_ERR_IO, "not a regular file");
    ld->file_size = (uint64_t)sb.st_size;
    return CLANN_OK;
}

/* The header length, checked against the cap and the file before anything is allocated. */
static enum clann_status read_header_len(struct loader *ld)
{
    unsigned char b[8];
    if (ld->file_size < 8)
        return fail(ld, CLANN_ERR_TRUNCATED, "the file has %llu bytes, fewer than the 8-byte "
                    "header length", (unsigned long long)ld->file_size);
    enum clann_status st = read_at(ld, b, 8, 0);
    if (st != CLANN_OK)
        return st;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    if (n > MAX_HEADER)
        return fail(ld, CLANN_ERR_TOO_LARGE, "header length %llu exceeds the limit of %llu "
                    "bytes", (unsigned long long)n, (unsigned long long)MAX_HEADER);
    if (n > ld->file_size - 8)
        return fail(ld, CLANN_ERR_TRUNCATED, "header length %llu exceeds the %llu bytes after "
                    "it", (unsigned long long)n, (unsigned long long)(ld->file_size - 8));
    if (n < 2)
        return fail(ld, CLANN_ERR_FORMAT, "header length %llu is too small for a JSON object",
                    (unsigned long long)n);
    ld->header_len = n;
    ld->data_size = ld->file_size - 8 - n;
    return CLANN_OK;
}

static enum clann_status read_header(struct loader *ld, struct json_object **root)
{
    *root = NULL;
    char *text = clann__malloc((size_t)ld->header_len + 1);
    if (!text)
        return fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for the %llu-byte header",
                    (unsigned long long)ld->header_len);
    enum clann_status st = read_at(ld, text, (size_t)ld->header_len, 8);
    text[ld->header_len] = '\0';
    if (st == CLANN_OK && text[0] != '{')
        st = fail(ld, CLANN_ERR_FORMAT, "the header does not start with '{'");
    char what[64 + 32];
    snprintf(what, sizeof what, "model file '%.64s': header", ld->path);
    if (st == CLANN_OK)
        st = clann__json_parse(ld->ctx, text, (size_t)ld->header_len, what, root);
    if (st == CLANN_OK && !json_object_is_type(*root, json_type_object)) {
        json_object_put(*root);
        *root = NULL;
        st = fail(ld, CLANN_ERR_FORMAT, "the header is not a JSON object");
    }
    clann__free(text);
    return st;
}

/* __metadata__ is a string-to-string map (safetensors' rule); clann_spec holds the spec. */
static enum clann_status read_spec(const struct loader *ld, struct json_object *root,
                                   struct clann__spec *spec)
{
    struct json_object *meta, *s = NULL;
    if (!json_object_object_get_ex(root, "__metadata__", &meta) ||
        !json_object_is_type(meta, json_type_object))
        return fail(ld, CLANN_ERR_FORMAT, "__metadata__ is missing or not an object; not a "
                    "clann model file");
    json_object_object_foreach(meta, key, val) {
        if (!json_object_is_type(val, json_type_string))
            return fail(ld, CLANN_ERR_FORMAT, "__metadata__.%.64s: expected a string", key);
    }
    if (!json_object_object_get_ex(meta, "clann_spec", &s))
        return fail(ld, CLANN_ERR_FORMAT, "__metadata__.clann_spec is missing; not a clann "
                    "model file");
    struct json_object *ck;
    if (ld->extras && json_object_object_get_ex(meta, "clann_checkpoint", &ck)) {
        size_t n = (size_t)json_object_get_string_len(ck);
        ld->extras->checkpoint = clann__malloc(n + 1);
        if (!ld->extras->checkpoint)
            return fail(ld, CLANN_ERR_NO_MEMORY, "out of memory");
        memcpy(ld->extras->checkpoint, json_object_get_string(ck), n + 1);
    }
    char what[64 + 64];
    snprintf(what, sizeof what, "model file '%.64s': __metadata__.clann_spec", ld->path);
    return clann__spec_parse(ld->ctx, json_object_get_string(s),
                             (size_t)json_object_get_string_len(s), what, spec);
}

static struct tensor *find_tensor(struct tensor_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0)
            return &l->t[i];
    return NULL;
}

static enum clann_status check_dtype(const struct loader *ld, const char *name,
                                     struct json_object *e)
{
    static const char *const known[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16",
                                        "F16", "BF16", "I32", "U32", "F64", "I64", "U64"};
    struct json_object *d;
    if (!json_object_object_get_ex(e, "dtype", &d) || !json_object_is_type(d, json_type_string))
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': dtype is missing or not a string", name);
    const char *s = json_object_get_string(d);
    if (strcmp(s, "F32") == 0)
        return CLANN_OK;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(s, known[i]) == 0)
            return fail(ld, CLANN_ERR_UNSUPPORTED, "tensor '%s': dtype %s is not supported "
                        "(clann stores F32)", name, s);
    return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': unknown dtype '%.32s'", name, s);
}

static enum clann_status check_shape(const struct loader *ld, const struct tensor *t,
                                     struct json_object *e)
{
    struct json_object *sh;
    if (!json_object_object_get_ex(e, "shape", &sh) || !json_object_is_type(sh, json_type_array))
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': shape is missing or not an array",
                    t->name);
    bool same = json_object_array_length(sh) == t->rank;
    for (size_t d = 0; same && d < t->rank; d++) {
        uint64_t v;
        same = clann__json_u64(json_object_array_get_idx(sh, d), &v) && v == t->shape[d];
    }
    if (same)
        return CLANN_OK;
    if (t->rank == 2)
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': shape does not match the spec's "
                    "[%zu, %zu]", t->name, t->shape[0], t->shape[1]);
    return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': shape does not match the spec's [%zu]",
                t->name, t->shape[0]);
}

static enum clann_status check_offsets(const struct loader *ld, struct tensor *t,
                                       struct json_object *e)
{
    struct json_object *o;
    if (!json_object_object_get_ex(e, "data_offsets", &o) ||
        !json_object_is_type(o, json_type_array) || json_object_array_length(o) != 2 ||
        !clann__json_u64(json_object_array_get_idx(o, 0), &t->begin) ||
        !clann__json_u64(json_object_array_get_idx(o, 1), &t->end))
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': data_offsets must be two non-negative "
                    "integers", t->name);
    if (t->begin > t->end)
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': data_offsets [%llu, %llu] end before "
                    "they begin", t->name, (unsigned long long)t->begin,
                    (unsigned long long)t->end);
    /* count * 4 cannot overflow: the spec's sizes were checked in bytes. */
    if (t->end - t->begin != (uint64_t)t->count * 4)
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': data_offsets span %llu bytes, but its "
                    "shape needs %llu", t->name, (unsigned long long)(t->end - t->begin),
                    (unsigned long long)t->count * 4);
    return CLANN_OK;
}

/* Matches one header entry with the tensor the spec expects under that name. */
static enum clann_status check_entry(const struct loader *ld, struct tensor_list *l,
                                     const char *name, struct json_object *e)
{
    struct tensor *t = find_tensor(l, name);
    if (!t)
        return fail(ld, CLANN_ERR_FORMAT, "unexpected tensor '%.64s' (not in the model spec)",
                    name);
    if (t->seen)
        return fail(ld, CLANN_ERR_FORMAT, "duplicate tensor '%s'", name);
    t->seen = true;
    if (!json_object_is_type(e, json_type_object))
        return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': expected an object", name);
    enum clann_status st = check_dtype(ld, name, e);
    if (st == CLANN_OK)
        st = check_shape(ld, t, e);
    if (st == CLANN_OK)
        st = check_offsets(ld, t, e);
    return st;
}

static int by_begin(const void *a, const void *b)
{
    const struct tensor *x = *(const struct tensor *const *)a;
    const struct tensor *y = *(const struct tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* The tensors, ordered by offset, must tile the data section exactly. */
static enum clann_status check_tiling(const struct loader *ld, struct tensor_list *l)
{
    const struct tensor **order = clann__malloc((l->n ? l->n : 1) * sizeof *order);
    if (!order)
        return fail(ld, CLANN_ERR_NO_MEMORY, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->t[i].seen) /* an optional tensor the file lacks has no bytes */
            order[n++] = &l->t[i];
    qsort(order, n, sizeof *order, by_begin);
    uint64_t pos = 0;
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        if (order[i]->begin != pos)
            st = fail(ld, CLANN_ERR_FORMAT, "tensor '%s' begins at data byte %llu, expected "
                      "%llu (tensors must be contiguous, without gaps or overlaps)",
                      order[i]->name, (unsigned long long)order[i]->begin,
                      (unsigned long long)pos);
        pos = order[i]->end;
    }
    clann__free(order);
    if (st == CLANN_OK && pos > ld->data_size)
        st = fail(ld, CLANN_ERR_TRUNCATED, "the tensors need %llu data bytes, the file has %llu",
                  (unsigned long long)pos, (unsigned long long)ld->data_size);
    if (st == CLANN_OK && pos < ld->data_size)
        st = fail(ld, CLANN_ERR_FORMAT, "%llu unexpected bytes after the last tensor",
                  (unsigned long long)(ld->data_size - pos));
    return st;
}

static enum clann_status check_tensors(const struct loader *ld, struct json_object *root,
                                       struct tensor_list *l)
{
    enum clann_status st = CLANN_OK;
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") != 0 && st == CLANN_OK)
            st = check_entry(ld, l, key, val);
    }
    /* The optimizer tensors are optional, but come as a pair. */
    size_t np = n_param_tensors(l);
    bool has_optimizer = np < l->n && (l->t[np].seen || l->t[np + 1].seen);
    for (size_t i = 0; i < l->n && st == CLANN_OK; i++)
        if (!l->t[i].seen && (l->t[i].extra == 0 || l->t[i].extra == 3 ||
                              (has_optimizer && l->t[i].extra <= 2)))
            st = fail(ld, CLANN_ERR_FORMAT, "tensor '%s' is missing", l->t[i].name);
    return st == CLANN_OK ? check_tiling(ld, l) : st;
}

/* A spec that passed parsing but that the model rejects (e.g. a cross-entropy loss after a
 * softmax layer) is a malformed file, not a caller error. */
static enum clann_status build_model(const struct loader *ld, const struct clann__spec *spec,
                                     struct clann_model **out)
{
    enum clann_status st = clann__spec_build(ld->ctx, spec, out);
    if (st == CLANN_ERR_INVALID_ARG || st == CLANN_ERR_SHAPE || st == CLANN_ERR_STATE) {
        char why[1024];
        snprintf(why, sizeof why, "%s", clann_last_error());
        st = fail(ld, CLANN_ERR_FORMAT, "the spec describes no valid model: %s", why);
    }
    return st;
}

/* Reads tensor t's count floats at dst, in host order, refusing NaN and infinity: a model
 * with one would only ever predict NaN, and a resumed run would diverge at once. */
static enum clann_status read_tensor(const struct loader *ld, const struct tensor *t, float *dst)
{
    enum clann_status st = read_at(ld, dst, 4 * t->count, 8 + ld->header_len + t->begin);
    if (st != CLANN_OK)
        return st;
    floats_to_le(dst, t->count);
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite(dst[i]))
            return fail(ld, CLANN_ERR_NONFINITE, "tensor '%s' holds %s at index %zu", t->name,
                        isnan(dst[i]) ? "NaN" : "an infinity", i);
    return CLANN_OK;
}

/* Reads every tensor into its place in the model's parameter order and uploads them. */
static enum clann_status load_params(const struct loader *ld, const struct tensor_list *l,
                                     struct clann_model *m)
{
    struct tensor_list ml;
    enum clann_status st = list_from_model(m, false, &ml);
    if (st != CLANN_OK)
        return st;
    size_t np = n_param_tensors(&ml);
    bool same = np == n_param_tensors(l);
    for (size_t i = 0; same && i < np; i++)
        same = strcmp(ml.t[i].name, l->t[i].name) == 0 && ml.t[i].count == l->t[i].count &&
               ml.t[i].off == l->t[i].off;
    float *p = same ? clann__malloc((m->n_params ? m->n_params : 1) * sizeof *p) : NULL;
    if (!same)
        st = fail(ld, CLANN_ERR_INTERNAL, "the built model's layout differs from the spec's");
    else if (!p)
        st = fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for %zu parameters", m->n_params);
    for (size_t i = 0; st == CLANN_OK && i < np; i++)
        st = read_tensor(ld, &l->t[i], p + l->t[i].off);
    if (st == CLANN_OK && m->n_params)
        st = clann_model_set_params(m, p, m->n_params);
    clann__free(p);
    clann__free(ml.t);
    return st;
}

/* Reads each embedding table into its own buffer (they are not in the parameter array), and
 * for a checkpoint the tables' optimizer state that the file has (older checkpoints lack it:
 * those rows then resume from the optimizer's initial state). */
static enum clann_status load_tables(const struct loader *ld, const struct tensor_list *l,
                                     struct clann_model *m)
{
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < l->n && st == CLANN_OK; i++) {
        const struct tensor *t = &l->t[i];
        if (t->extra < 3 || (t->extra > 3 && (!ld->extras || !t->seen)))
            continue;
        if (t->table >= m->n_emb || m->emb[t->table].f->n_ids * m->emb[t->table].f->dim !=
                                        t->count)
            return fail(ld, CLANN_ERR_INTERNAL, "the built model's tables differ from the "
                        "spec's");
        struct clann_view dst = tensor_source(m, t);
        if (!dst.buf->ptr)
            return fail(ld, CLANN_ERR_FORMAT, "tensor '%s': the model's optimizer keeps no "
                        "such state", t->name);
        float *p = clann__malloc((t->count ? t->count : 1) * sizeof *p);
        if (!p)
            return fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for tensor '%s'", t->name);
        st = read_tensor(ld, t, p);
        if (st == CLANN_OK)
            st = clann__op_upload(m->be, dst, p, t->count, true);
        clann__free(p);
    }
    return st;
}

/* Reads the optimizer-state tensors, when the file has them, into new host arrays. */
static enum clann_status load_optimizer(const struct loader *ld, const struct tensor_list *l,
                                        struct clann__file_extras *x)
{
    size_t np = n_param_tensors(l);
    if (np + 2 > l->n || l->t[np].extra != 1 || !l->t[np].seen)
        return CLANN_OK;
    size_t n = l->t[np].count;
    float **dst[2] = {&x->state1, &x->state2};
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < 2 && st == CLANN_OK; k++) {
        *dst[k] = clann__malloc((n ? n : 1) * sizeof(float));
        if (!*dst[k])
            return fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for the optimizer state");
        st = read_tensor(ld, &l->t[np + k], *dst[k]);
    }
    x->n = n;
    return st;
}

/* Validates header, spec and tensors, then builds the model and fills it. */
static enum clann_status load(struct loader *ld, struct clann_model **out)
{
    struct json_object *root = NULL;
    struct clann__spec spec;
    struct tensor_list l = {NULL, 0};
    struct clann_model *m = NULL;
    memset(&spec, 0, sizeof spec);
    enum clann_status st = open_file(ld);
    if (st == CLANN_OK)
        st = read_header_len(ld);
    if (st == CLANN_OK)
        st = read_header(ld, &root);
    if (st == CLANN_OK)
        st = read_spec(ld, root, &spec);
    if (st == CLANN_OK)
        st = list_from_spec(ld->ctx, &spec, &l);
    if (st == CLANN_OK)
        st = check_tensors(ld, root, &l);
    if (st == CLANN_OK)
        st = build_model(ld, &spec, &m);
    if (st == CLANN_OK)
        st = load_params(ld, &l, m);
    if (st == CLANN_OK)
        st = load_tables(ld, &l, m);
    if (st == CLANN_OK && ld->extras)
        st = load_optimizer(ld, &l, ld->extras);
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
    struct loader ld;
    memset(&ld, 0, sizeof ld);
    ld.ctx = ctx;
    ld.path = path;
    ld.fd = -1;
    ld.extras = extras;
    enum clann_status st = load(&ld, out);
    if (ld.fd >= 0)
        close(ld.fd);
    if (st != CLANN_OK && extras)
        clann__file_extras_free(extras);
    return st;
}

CLANN_API enum clann_status clann_model_load(struct clann_context *ctx, const char *path,
                                             struct clann_model **out)
{
    return clann__model_file_read(ctx, path, out, NULL);
}

CLANN_API enum clann_status clann_model_from_spec_json(struct clann_context *ctx,
                                                       const char *json_text,
                                                       struct clann_model **out)
{
    return clann__model_from_spec(ctx, json_text, out);
}

/* One tensor of any safetensors file (transfer learning): the header is parsed and checked as
 * a model file's, the tensor's dtype, shape and byte range before anything is read. */
static enum clann_status read_one(struct loader *ld, const char *name, size_t rows, size_t cols,
                                  float *dst)
{
    struct json_object *root = NULL, *e;
    struct tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.rank = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.count = rows * cols;
    enum clann_status st = open_file(ld);
    if (st == CLANN_OK)
        st = read_header_len(ld);
    if (st == CLANN_OK)
        st = read_header(ld, &root);
    if (st == CLANN_OK && !json_object_object_get_ex(root, name, &e))
        st = fail(ld, CLANN_ERR_INVALID_ARG, "no tensor '%.64s'", name);
    if (st == CLANN_OK && !json_object_is_type(e, json_type_object))
        st = fail(ld, CLANN_ERR_FORMAT, "tensor '%.64s': expected an object", name);
    if (st == CLANN_OK)
        st = check_dtype(ld, t.name, e);
    if (st == CLANN_OK && (st = check_shape(ld, &t, e)) == CLANN_ERR_FORMAT)
        st = fail(ld, CLANN_ERR_SHAPE, "tensor '%.64s' is not [%zu, %zu]", name, rows, cols);
    if (st == CLANN_OK)
        st = check_offsets(ld, &t, e);
    if (st == CLANN_OK && t.end > ld->data_size)
        st = fail(ld, CLANN_ERR_TRUNCATED, "tensor '%.64s' ends after the file", name);
    if (st == CLANN_OK)
        st = read_tensor(ld, &t, dst);
    json_object_put(root);
    return st;
}

enum clann_status clann__safetensors_read(struct clann_context *ctx, const char *path,
                                          const char *name, size_t rows, size_t cols,
                                          float *dst)
{
    struct loader ld;
    memset(&ld, 0, sizeof ld);
    ld.ctx = ctx;
    ld.path = path;
    ld.fd = -1;
    enum clann_status st = read_one(&ld, name, rows, cols, dst);
    if (ld.fd >= 0)
        close(ld.fd);
    return st;
}
