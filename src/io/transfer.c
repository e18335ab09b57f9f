/*
 * transfer.c - transfer learning: layers' parameters copied from another model file
 * (clann_model_load_layers), and the copies a spec asks for with "init_from". io reads the
 * file as a whole model on the same device and copies device to device, so the tensor names
 * and layouts stay model_file.c's alone.
 */
#include "io/model_file.h"
#include "core/kinds.h"

#include <stdio.h>
#include <string.h>

/* What must match for parameters to fit: kind and every tensor's shape, e.g. "dense 784x256
 * +bias", "conv2d 16x1x3x3", "batchnorm 128". */
static void describe(const struct clann_layer *l, char *buf, size_t size)
{
    const char *kind = clann__kind_name(&clann__layer_kinds, l->kind);
    const char *bias = l->dense.use_bias ? " +bias" : "";
    const char *prelu = l->act.kind == CLANN__ACT_PRELU ? " +prelu" : "";
    if (l->kind == CLANN__LAYER_DENSE)
        snprintf(buf, size, "%s %zux%zu%s%s", kind, l->in, l->out, bias, prelu);
    else if (l->kind == CLANN__LAYER_CONV2D)
        snprintf(buf, size, "%s %zux%zux%zux%zu%s", kind, l->dense.units, l->geom.channels,
                 l->geom.kernel_h, l->geom.kernel_w, bias);
    else if (l->kind == CLANN__LAYER_BATCHNORM)
        snprintf(buf, size, "%s %zu", kind, clann__layer_channels(l));
    else
        snprintf(buf, size, "%s", kind);
}

/* Checks that layer si of src (read from path) fits layer di of m. */
static enum clann_status check_pair(struct clann_model *m, size_t di, const struct clann_model *src,
                                    size_t si, const char *path)
{
    if (di >= m->n_layers || si >= src->n_layers)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG,
                            "load_layers: no layer %zu in %s (it has %zu layers)",
                            di >= m->n_layers ? di : si, di >= m->n_layers ? "this model" : path,
                            di >= m->n_layers ? m->n_layers : src->n_layers);
    const struct clann_layer *d = &m->layers[di], *s = &src->layers[si];
    if (d->kind == CLANN__LAYER_FEATURES || s->kind == CLANN__LAYER_FEATURES)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "load_layers: layer %zu is a feature "
                            "layer; copy its tables with clann_model_embedding_load",
                            d->kind == CLANN__LAYER_FEATURES ? di : si);
    char want[96], got[96];
    describe(d, want, sizeof want);
    describe(s, got, sizeof got);
    if (strcmp(want, got) != 0 || d->n_params != s->n_params)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "load_layers: layer %zu of %s (%s, %zu "
                            "parameters) does not fit layer %zu of this model (%s, %zu parameters)",
                            si, path, got, s->n_params, di, want, d->n_params);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_load_layers(struct clann_model *m, const char *path,
                                                    const size_t *src_layers,
                                                    const size_t *dst_layers, size_t n)
{
    if (!m || !path || (!src_layers && n))
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "load_layers: need a model, a path and the layers");
    if (!m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE, "load_layers: compile the model first");
    const size_t *dst = dst_layers ? dst_layers : src_layers;
    struct clann_model *src;
    enum clann_status st = clann_model_load(m->ctx, path, &src);
    if (st != CLANN_OK)
        return st;
    for (size_t k = 0; k < n && st == CLANN_OK; k++) /* all or nothing */
        st = check_pair(m, dst[k], src, src_layers[k], path);
    for (size_t k = 0; k < n && st == CLANN_OK; k++) {
        const struct clann_layer *d = &m->layers[dst[k]], *s = &src->layers[src_layers[k]];
        if (d->n_params)
            st = clann__op_copy(m->be, clann__view(&m->params, d->w_off),
                                clann__view(&src->params, s->w_off), d->n_params);
        if (st == CLANN_OK)
            st = clann__model_set_source(m, dst[k], path, src_layers[k]);
    }
    if (st == CLANN_OK)
        st = clann__op_finish(m->be); /* before src's buffers go */
    clann_model_destroy(src);
    return st;
}

enum clann_status clann__model_apply_sources(struct clann_model *m)
{
    size_t *src = clann__malloc(2 * m->n_layers * sizeof *src), *dst = src + m->n_layers;
    bool *done = clann__calloc(m->n_layers, sizeof *done);
    enum clann_status st = src && done ? CLANN_OK
                                       : clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    /* One read per file: every layer copied from it at once. */
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const char *file = m->layers[i].source_file;
        if (!file || done[i])
            continue;
        size_t n = 0;
        for (size_t j = i; j < m->n_layers; j++) {
            const char *f = m->layers[j].source_file;
            if (f && !done[j] && strcmp(f, file) == 0) {
                src[n] = m->layers[j].source_layer;
                dst[n++] = j;
                done[j] = true;
            }
        }
        size_t len = strlen(file) + 1;
        char *path = clann__malloc(len); /* the layers' copies are replaced as they load */
        if (!path) {
            st = clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "out of memory");
            break;
        }
        memcpy(path, file, len);
        st = clann_model_load_layers(m, path, src, dst, n);
        clann__free(path);
    }
    clann__free(src);
    clann__free(done);
    return st;
}
