/*
 * tensor_list.c - the tensors of a model, by name (tensor_list.h): the parameter layout of
 * model.c's layout(), computed from a parsed spec (before a model is built from a file) or from
 * a compiled model (to save it, and to check the built layout against the file's).
 */
#include "io/tensor_list.h"
#include "nn/embedding.h"

#include <stdio.h>
#include <string.h>

static void push_tensor(struct clann__tensor_list *l, size_t layer, const char *kind,
                        const char *param, size_t rows, size_t cols, size_t off)
{
    struct clann__tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "layers.%zu.%s.%s", layer, kind, param);
    t->rank = rows ? 2 : 1;
    t->shape[0] = rows ? rows : cols;
    t->shape[1] = rows ? cols : 0;
    t->count = rows ? rows * cols : cols;
    t->off = off;
}

/* Dense layer i's tensors; *off advances past them. */
static void push_dense(struct clann__tensor_list *l, size_t i, size_t in, size_t out, bool use_bias,
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

/* Conv2d layer i's tensors: the kernel as filters x (channels kh kw) - PyTorch's
 * [filters, channels, kh, kw] weight with its last three dimensions merged - and the bias. */
static void push_conv2d(struct clann__tensor_list *l, size_t i, size_t filters, size_t window,
                        bool use_bias, size_t *off)
{
    push_tensor(l, i, "conv2d", "kernel", filters, window, *off);
    *off += filters * window;
    if (use_bias) {
        push_tensor(l, i, "conv2d", "bias", 0, filters, *off);
        *off += filters;
    }
}

/* Batch-norm layer i's tensors, in model.c's order: the trained gamma and beta, then the
 * running statistics (saved too: inference needs them). */
static void push_batchnorm(struct clann__tensor_list *l, size_t i, size_t width, size_t *off)
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
                                    const struct clann_features *fs, struct clann__tensor_list *l)
{
    l->n = 0;
    l->t = clann__calloc(4 * n_dense + 2 + 3 * clann__features_n_tables(fs), sizeof *l->t);
    return l->t ? CLANN_OK : clann__error(ctx, CLANN_ERR_NO_MEMORY, "model file: out of memory");
}

/* The optimizer-state tensors of a checkpoint: n_params floats each, placed after the
 * parameters in the host array a save writes. */
static void push_optimizer(struct clann__tensor_list *l, size_t n_params)
{
    for (int k = 1; k <= 2; k++) {
        struct clann__tensor *t = &l->t[l->n++];
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
static void push_tables(struct clann__tensor_list *l, const struct clann_features *fs)
{
    for (size_t k = 0; k < clann__features_n_tables(fs); k++) {
        const struct clann__feature *f = clann__features_table(fs, k);
        struct clann__tensor *t = &l->t[l->n++];
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
static void push_table_state(struct clann__tensor_list *l, const struct clann_features *fs,
                             size_t k, int extra)
{
    const struct clann__feature *f = clann__features_table(fs, k);
    struct clann__tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "optimizer.embedding.%s.state%d", f->name, extra - 3);
    t->rank = 2;
    t->shape[0] = f->n_ids;
    t->shape[1] = f->dim;
    t->count = f->n_ids * f->dim;
    t->extra = extra;
    t->table = k;
}

size_t clann__tensors_n_params(const struct clann__tensor_list *l)
{
    size_t n = 0;
    while (n < l->n && l->t[n].extra == 0)
        n++;
    return n;
}

enum clann_status clann__tensors_from_spec(struct clann_context *ctx,
                                          const struct clann__spec *s,
                                          struct clann__tensor_list *l)
{
    size_t n_param_layers = 0, width = s->n_inputs, off = 0;
    for (size_t i = 0; i < s->n_layers; i++)
        n_param_layers += s->layers[i].kind == CLANN__LAYER_DENSE ||
                          s->layers[i].kind == CLANN__LAYER_BATCHNORM ||
                          s->layers[i].kind == CLANN__LAYER_CONV2D;
    enum clann_status st = list_alloc(ctx, n_param_layers, s->features, l);
    for (size_t i = 0; st == CLANN_OK && i < s->n_layers; i++) {
        const struct clann__spec_layer *sl = &s->layers[i];
        if (sl->kind == CLANN__LAYER_FEATURES)
            width = s->features->out_width;
        if (sl->kind == CLANN__LAYER_BATCHNORM) /* per channel of an image input */
            push_batchnorm(l, i, sl->in_channels ? sl->in_channels : width, &off);
        if (sl->kind == CLANN__LAYER_CONV2D)
            push_conv2d(l, i, sl->conv.filters,
                        sl->in_channels * sl->conv.kernel_h * sl->conv.kernel_w,
                        sl->conv.use_bias, &off);
        if (sl->kind != CLANN__LAYER_DENSE) {
            width = sl->width;
            continue;
        }
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

enum clann_status clann__tensors_from_model(const struct clann_model *m, bool with_optimizer,
                                           struct clann__tensor_list *l)
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
            push_batchnorm(l, i, clann__layer_channels(ml), &off);
        else if (ml->kind == CLANN__LAYER_CONV2D)
            push_conv2d(l, i, ml->dense.units,
                        ml->geom.channels * ml->geom.kernel_h * ml->geom.kernel_w,
                        ml->dense.use_bias, &off);
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

struct clann__tensor *clann__tensors_find(struct clann__tensor_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0)
            return &l->t[i];
    return NULL;
}

struct clann_view clann__tensor_source(struct clann_model *m, const struct clann__tensor *t)
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

