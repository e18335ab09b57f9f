/*
 * embedding.c - the feature layer: numeric features copied, categorical ones gathered from
 * embedding tables (or written as indicators), and the sparse training of the tables.
 *
 * A training step's host side knows the batch's ids (they are in the staged input), so before
 * the step it lists, per table, the distinct ids and for each the batch rows holding it (a CSR
 * index, rows in batch order) and uploads that. The backward pass then sums each distinct id's
 * gradient row in that fixed order (deterministic, no atomics) and the optimizer updates only
 * those rows. Nothing of this depends on the number of ids: tables of 10^3 or 10^6 rows cost
 * the same per step. The host's id-to-slot map (pos) is reset entry by entry after each batch
 * for the same reason.
 */
#include "nn/embedding.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

static struct clann_view none(void)
{
    return clann__view(NULL, 0);
}

static struct clann_view maybe(struct clann_buf *b)
{
    return b->ptr ? clann__view(b, 0) : none();
}

size_t clann__features_n_tables(const struct clann_features *fs)
{
    size_t n = 0;
    for (size_t i = 0; fs && i < fs->n; i++)
        n += clann__feature_has_table(&fs->f[i]);
    return n;
}

const struct clann__feature *clann__features_table(const struct clann_features *fs, size_t k)
{
    for (size_t i = 0; i < fs->n; i++)
        if (clann__feature_has_table(&fs->f[i]) && k-- == 0)
            return &fs->f[i];
    return NULL;
}

/* ---- setup -------------------------------------------------------------------------------- */

static enum clann_status init_table(struct clann_model *m, struct clann__emb *e, size_t k)
{
    const struct clann__feature *f = e->f;
    struct clann_backend *be = m->be;
    struct clann_rng_key key = {m->cp.seed,
                                clann__rng_stream(CLANN__RNG_STREAM_TABLE_INIT, (uint32_t)k), 0};
    struct clann_view v = at(&e->table, 0);
    size_t n = f->n_ids * f->dim;
    double fan = (double)(f->n_ids + f->dim);
    switch (f->init.kind) {
    case CLANN_INIT_DEFAULT: /* TensorFlow's embedding_column: stddev 1 / sqrt(dimension) */
        return clann__op_rng_normal(be, v, n, key, 0.0f, (float)(1.0 / sqrt((double)f->dim)));
    case CLANN_INIT_ZEROS: return clann__op_fill(be, v, n, 0.0f);
    case CLANN_INIT_CONSTANT: return clann__op_fill(be, v, n, f->init.a);
    case CLANN_INIT_UNIFORM: return clann__op_rng_uniform(be, v, n, key, f->init.a, f->init.b);
    case CLANN_INIT_NORMAL: return clann__op_rng_normal(be, v, n, key, f->init.a, f->init.b);
    case CLANN_INIT_GLOROT_UNIFORM:
    case CLANN_INIT_HE_UNIFORM: {
        float l = (float)sqrt(6.0 / (f->init.kind == CLANN_INIT_HE_UNIFORM ? (double)f->n_ids
                                                                            : fan));
        return clann__op_rng_uniform(be, v, n, key, -l, l);
    }
    default: {
        double var = f->init.kind == CLANN_INIT_HE_NORMAL ? 2.0 / (double)f->n_ids : 2.0 / fan;
        return clann__op_rng_normal(be, v, n, key, 0.0f, (float)sqrt(var));
    }
    }
}

/* The buffers of a trainable table: gradient rows, index, optimizer state, host maps. */
static enum clann_status setup_training(struct clann_model *m, struct clann__emb *e, size_t tn)
{
    const struct clann__feature *f = e->f;
    struct clann_backend *be = m->be;
    e->max_occ = m->cp.max_batch * f->width;
    e->max_unique = e->max_occ < f->n_ids ? e->max_occ : f->n_ids;
    size_t index_n = 2 * e->max_unique + 1 + e->max_occ;
    enum clann_status st = clann__buf_create(be, e->max_unique * f->dim, &e->grad);
    if (st == CLANN_OK)
        st = clann__buf_create(be, index_n, &e->index);
    if (st == CLANN_OK && m->opt.kind != CLANN__OPT_SGD)
        st = clann__buf_create(be, tn, &e->s1);
    if (st == CLANN_OK && m->opt.kind == CLANN__OPT_ADAM)
        st = clann__buf_create(be, tn, &e->s2);
    if (st == CLANN_OK && e->s1.ptr)
        st = clann__op_fill(be, at(&e->s1, 0), tn, m->opt.kind == CLANN__OPT_ADAGRAD
                                                      ? m->opt.initial_accumulator : 0.0f);
    if (st == CLANN_OK && e->s2.ptr)
        st = clann__op_fill(be, at(&e->s2, 0), tn, 0.0f);
    if (st != CLANN_OK)
        return st;
    e->pos = clann__malloc_large(f->n_ids * sizeof *e->pos);
    e->host = e->host_ring = clann__malloc(CLANN__STAGING_SLOTS * index_n * sizeof *e->host);
    e->count = clann__malloc(e->max_unique * sizeof *e->count);
    if (!e->pos || !e->host || !e->count)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "feature '%s': out of memory for the "
                            "index of %zu ids", f->name, f->n_ids);
    for (size_t i = 0; i < f->n_ids; i++)
        e->pos[i] = -1;
    return CLANN_OK;
}

static bool has_ops(const struct clann_backend_ops *o)
{
    return o->copy_cols && o->embedding_forward && o->embedding_backward &&
           o->embedding_update;
}

enum clann_status clann__embedding_setup(struct clann_model *m)
{
    if (!m->features)
        return CLANN_OK;
    if (!has_ops(m->be->ops))
        return clann__error(m->ctx, CLANN_ERR_UNSUPPORTED, "compile: the %s backend lacks the "
                            "feature-layer ops (copy_cols, embedding_forward, "
                            "embedding_backward, embedding_update); use the CPU backend for "
                            "models with feature columns", m->be->ops->name);
    size_t n = clann__features_n_tables(m->features);
    m->emb = clann__calloc(n ? n : 1, sizeof *m->emb);
    if (!m->emb)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "compile: out of memory");
    m->n_emb = n;
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < n && st == CLANN_OK; k++) {
        struct clann__emb *e = &m->emb[k];
        e->f = clann__features_table(m->features, k);
        size_t tn;
        if (!clann__mul_size(e->f->n_ids, e->f->dim, &tn))
            return clann__error(m->ctx, CLANN_ERR_TOO_LARGE, "feature '%s': table too large",
                                e->f->name);
        st = clann__buf_create(m->be, tn, &e->table);
        if (st == CLANN_OK)
            st = init_table(m, e, k);
        if (st == CLANN_OK && e->f->trainable)
            st = setup_training(m, e, tn);
    }
    return st;
}

void clann__embedding_free(struct clann_model *m)
{
    for (size_t k = 0; k < m->n_emb; k++) {
        struct clann__emb *e = &m->emb[k];
        struct clann_buf *bufs[] = {&e->table, &e->s1, &e->s2, &e->grad, &e->index};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
            clann__buf_destroy(bufs[i]);
        clann__free(e->pos);
        clann__free(e->host_ring);
        clann__free(e->count);
        clann__free(e->merged);
    }
    clann__free(m->emb);
    clann_features_destroy(m->features);
    m->emb = NULL;
    m->features = NULL;
    m->n_emb = 0;
}

/* Whether fit changes table e: the table is trainable and its layer (the first) not frozen. */
static bool table_trains(const struct clann_model *m, const struct clann__emb *e)
{
    return e->f->trainable && !m->layers[0].frozen;
}

size_t clann__embedding_grad(struct clann_model *m, size_t k, struct clann_view *g)
{
    struct clann__emb *e = &m->emb[k];
    *g = at(&e->grad, 0);
    return table_trains(m, e) ? e->n_unique * e->f->dim : 0;
}

/* ---- passes ------------------------------------------------------------------------------- */

enum clann_status clann__features_forward(struct clann_model *m, size_t i, struct clann_view x,
                                          size_t rows)
{
    const struct clann_layer *l = &m->layers[i];
    const struct clann_features *fs = m->features;
    struct clann_backend *be = m->be;
    enum clann_status st = CLANN_OK;
    if (fs->n_numeric)
        st = clann__op_copy_cols(be, x, l->in, at(&m->acts, l->y_off), l->out, rows,
                                fs->n_numeric);
    size_t k = 0;
    for (size_t j = 0; j < fs->n && st == CLANN_OK; j++) {
        const struct clann__feature *f = &fs->f[j];
        if (!clann__feature_is_categorical(f))
            continue;
        struct clann_view table = clann__feature_has_table(f) ? at(&m->emb[k++].table, 0)
                                                              : none();
        st = clann__op_embedding_forward(be, clann__view(x.buf, x.off + f->in_off), l->in,
                                        f->width, rows, table, f->n_ids, f->dim, f->combiner,
                                        at(&m->acts, l->y_off + f->out_off), l->out);
    }
    return st;
}

enum clann_status clann__features_backward(struct clann_model *m, size_t i, size_t rows)
{
    const struct clann_layer *l = &m->layers[i];
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++) {
        struct clann__emb *e = &m->emb[k];
        const struct clann__feature *f = e->f;
        if (!table_trains(m, e) || e->n_unique == 0)
            continue;
        st = clann__op_embedding_backward(
            m->be, at(&m->dacts, l->y_off + f->out_off), l->out, at(&m->input, f->in_off),
            l->in, f->width, rows, f->n_ids, f->combiner, at(&e->index, e->max_unique),
            at(&e->index, 2 * e->max_unique + 1), e->n_occ, e->n_unique, f->dim,
            at(&e->grad, 0));
    }
    return st;
}

enum clann_status clann__embedding_update(struct clann_model *m, const struct clann_opt *opt)
{
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++) {
        struct clann__emb *e = &m->emb[k];
        if (table_trains(m, e) && e->n_unique)
            st = clann__op_embedding_update(m->be, opt, at(&e->table, 0), maybe(&e->s1),
                                              maybe(&e->s2), e->f->n_ids, e->f->dim,
                                              at(&e->index, 0), at(&e->grad, 0), e->n_unique);
    }
    return st;
}

/* The id of slot value v (as the ops read it), or -1. */
static long slot_id(float v, size_t n_ids)
{
    return v >= 0.0f && v < (float)n_ids && v == floorf(v) ? (long)v : -1;
}

/* Distinct ids in order of first appearance, then for each its rows in batch order. */
static void build_index(struct clann__emb *e, const float *x, size_t ld, size_t rows)
{
    const struct clann__feature *f = e->f;
    float *uniq = e->host, *offsets = e->host + e->max_unique;
    float *occ = offsets + e->max_unique + 1;
    e->n_unique = e->n_occ = 0;
#if defined(__GNUC__)
    for (size_t r = 0; r < rows; r++) /* overlap the misses of a large pos (see cpu.c) */
        for (size_t s = 0; s < f->width; s++) {
            long v = slot_id(x[r * ld + f->in_off + s], f->n_ids);
            if (v >= 0)
                __builtin_prefetch(&e->pos[v], 1, 1);
        }
#endif
    for (size_t r = 0; r < rows; r++) {
        for (size_t s = 0; s < f->width; s++) {
            long v = slot_id(x[r * ld + f->in_off + s], f->n_ids);
            if (v < 0)
                continue;
            if (e->pos[v] < 0) {
                e->pos[v] = (int32_t)e->n_unique;
                uniq[e->n_unique] = (float)v;
                e->count[e->n_unique++] = 0;
            }
            e->count[e->pos[v]]++;
            e->n_occ++;
        }
    }
    size_t sum = 0;
    for (size_t u = 0; u < e->n_unique; u++) {
        offsets[u] = (float)sum;
        size_t c = e->count[u];
        e->count[u] = sum; /* now the next free place of id u's rows */
        sum += c;
    }
    offsets[e->n_unique] = (float)sum;
    for (size_t r = 0; r < rows; r++) {
        for (size_t s = 0; s < f->width; s++) {
            long v = slot_id(x[r * ld + f->in_off + s], f->n_ids);
            if (v >= 0)
                occ[e->count[e->pos[v]]++] = (float)r;
        }
    }
    for (size_t u = 0; u < e->n_unique; u++)
        e->pos[(size_t)uniq[u]] = -1;
}

enum clann_status clann__embedding_prepare_batch(struct clann_model *m, size_t rows)
{
    struct clann_backend *be = m->be;
    enum clann_status st = CLANN_OK;
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++) {
        struct clann__emb *e = &m->emb[k];
        if (!table_trains(m, e))
            continue;
        e->host = e->host_ring + m->batch_slot * e->index.n;
        build_index(e, m->staging_x, m->n_inputs, rows);
        if (e->n_unique == 0)
            continue;
        size_t ou = e->max_unique, oo = 2 * e->max_unique + 1;
        st = clann__op_upload(be, at(&e->index, 0), e->host, e->n_unique, false);
        if (st == CLANN_OK)
            st = clann__op_upload(be, at(&e->index, ou), e->host + ou, e->n_unique + 1, false);
        if (st == CLANN_OK)
            st = clann__op_upload(be, at(&e->index, oo), e->host + oo, e->n_occ, false);
        if (st == CLANN_OK) /* a no-op where the backend has no prefetch */
            clann__op_embedding_prefetch(be, at(&e->table, 0), maybe(&e->s1), maybe(&e->s2),
                                        e->f->n_ids, e->f->dim, at(&e->index, 0), e->n_unique);
    }
    return st;
}

/* ---- across ranks ------------------------------------------------------------------------- */

size_t clann__embedding_rows_cap(const struct clann_model *m, size_t k)
{
    const struct clann__emb *e = &m->emb[k];
    return table_trains(m, e) ? e->max_unique * (1 + e->f->dim) : 0;
}

enum clann_status clann__embedding_rows_get(struct clann_model *m, size_t k, float *out,
                                            size_t *n)
{
    struct clann__emb *e = &m->emb[k];
    *n = table_trains(m, e) ? e->n_unique : 0;
    if (*n == 0)
        return CLANN_OK;
    /* The device's ids, not the host's: after a merge they are the merged ones. */
    enum clann_status st = clann__op_download(m->be, out, at(&e->index, 0), *n);
    return st ? st : clann__op_download(m->be, out + *n, at(&e->grad, 0), *n * e->f->dim);
}

/* Adds one part's rows to the merge in e->merged (n rows so far), through e->pos. */
static enum clann_status merge_part(struct clann_model *m, struct clann__emb *e,
                                    const float *part, size_t count, size_t *n)
{
    size_t dim = e->f->dim;
    float *ids = e->merged, *grad = e->merged + e->max_unique;
    const float *rows = part + count;
    for (size_t u = 0; u < count; u++) {
        long v = slot_id(part[u], e->f->n_ids);
        if (v < 0 || (e->pos[v] < 0 && *n == e->max_unique))
            return clann__error(m->ctx, CLANN_ERR_INTERNAL, "feature '%s': merging the ranks' "
                                "rows: id %g is not a row of the table or exceeds the %zu rows "
                                "of a batch", e->f->name, (double)part[u], e->max_unique);
        if (e->pos[v] < 0) {
            e->pos[v] = (int32_t)*n;
            ids[*n] = (float)v;
            memcpy(grad + *n * dim, rows + u * dim, dim * sizeof *grad);
            ++*n;
        } else {
            float *g = grad + (size_t)e->pos[v] * dim;
            for (size_t d = 0; d < dim; d++)
                g[d] += rows[u * dim + d];
        }
    }
    return CLANN_OK;
}

enum clann_status clann__embedding_rows_merge(struct clann_model *m, size_t k,
                                              const float *const *parts, const size_t *counts,
                                              size_t n_parts)
{
    struct clann__emb *e = &m->emb[k];
    if (!table_trains(m, e))
        return CLANN_OK;
    if (!e->merged && !(e->merged = clann__malloc(clann__embedding_rows_cap(m, k) *
                                                  sizeof *e->merged)))
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "feature '%s': out of memory for "
                            "the ranks' rows", e->f->name);
    size_t n = 0;
    enum clann_status st = CLANN_OK;
    for (size_t p = 0; p < n_parts && st == CLANN_OK; p++)
        st = merge_part(m, e, parts[p], counts[p], &n);
    for (size_t u = 0; u < n; u++) /* pos is all -1 between batches */
        e->pos[(size_t)e->merged[u]] = -1;
    e->n_unique = st == CLANN_OK ? n : 0;
    if (st != CLANN_OK || n == 0)
        return st;
    st = clann__op_upload(m->be, at(&e->index, 0), e->merged, n, true);
    return st ? st : clann__op_upload(m->be, at(&e->grad, 0), e->merged + e->max_unique,
                                      n * e->f->dim, true);
}

enum clann_status clann__features_check_ids(struct clann_model *m, const struct clann_matrix *x,
                                            const char *what)
{
    const struct clann_features *fs = m->features;
    for (size_t j = 0; fs && j < fs->n; j++) {
        const struct clann__feature *f = &fs->f[j];
        for (size_t r = 0; clann__feature_is_categorical(f) && r < x->rows; r++) {
            for (size_t s = 0; s < f->width; s++) {
                float v = x->data[r * x->cols + f->in_off + s];
                if (v != -1.0f && slot_id(v, f->n_ids) < 0)
                    return clann__error(m->ctx, CLANN_ERR_FORMAT, "%s features: row %zu, "
                                        "column %zu holds %g, not an id of feature '%s' (0..%zu,"
                                        " or -1 for an empty slot); transform raw tables with "
                                        "clann_features_transform()", what, r + 1,
                                        f->in_off + s + 1, (double)v, f->name, f->n_ids - 1);
            }
        }
    }
    return CLANN_OK;
}

/* ---- public ------------------------------------------------------------------------------- */

enum clann_status clann__embedding_find(struct clann_model *m, const char *name,
                                        struct clann__emb **out)
{
    *out = NULL;
    if (!m || !m->compiled)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_STATE, "embedding: need a compiled "
                            "model");
    for (size_t k = 0; name && k < m->n_emb; k++) {
        if (strcmp(m->emb[k].f->name, name) == 0) {
            *out = &m->emb[k];
            return CLANN_OK;
        }
    }
    return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "embedding: the model has no embedding "
                        "feature '%s'", name ? name : "(null)");
}

CLANN_API enum clann_status clann_model_embedding_get(struct clann_model *m, const char *feature,
                                                      struct clann_matrix *out)
{
    struct clann__emb *e;
    if (!out)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "embedding_get: out is "
                            "NULL");
    memset(out, 0, sizeof *out);
    enum clann_status st = clann__embedding_find(m, feature, &e);
    if (st == CLANN_OK)
        st = clann_matrix_create(e->f->n_ids, e->f->dim, out);
    if (st == CLANN_OK)
        st = clann__op_download(m->be, out->data, at(&e->table, 0), e->f->n_ids * e->f->dim);
    if (st != CLANN_OK)
        clann_matrix_free(out);
    return st;
}

CLANN_API enum clann_status clann_model_embedding_set(struct clann_model *m, const char *feature,
                                                      const struct clann_matrix *src)
{
    struct clann__emb *e;
    enum clann_status st = clann__embedding_find(m, feature, &e);
    if (st != CLANN_OK)
        return st;
    if (!src || !src->data || src->rows != e->f->n_ids || src->cols != e->f->dim)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "embedding_set: feature '%s' has a %zu x "
                            "%zu table", feature, e->f->n_ids, e->f->dim);
    for (size_t i = 0; i < src->rows * src->cols; i++)
        if (!isfinite(src->data[i]))
            return clann__error(m->ctx, CLANN_ERR_NONFINITE, "embedding_set: value %zu is %g",
                                i, (double)src->data[i]);
    return clann__op_upload(m->be, at(&e->table, 0), src->data, src->rows * src->cols, true);
}
