/*
 * embedding.h - the feature layer (embedding.c): the first layer of a model built from a
 * feature set. It copies the numeric features and gathers an embedding (or writes an
 * indicator) per categorical feature. Embedding tables, their row gradients and optimizer
 * state live in buffers of their own, outside the collated parameters, so that a step touches
 * only the rows its batch uses.
 */
#ifndef CLANN_EMBEDDING_H
#define CLANN_EMBEDDING_H

#include "nn/model.h"
#include "data/features.h"

/* One embedding table and the per-batch index of the rows it updates. */
struct clann__emb {
    const struct clann__feature *f; /* in model->features */
    struct clann_buf table;         /* n_ids x dim */
    struct clann_buf s1, s2;        /* optimizer state, n_ids x dim (as the optimizer needs) */
    struct clann_buf grad;          /* max_unique x dim: gradient of the batch's rows */
    struct clann_buf index;         /* uniq (max_unique), offsets (max_unique + 1), occ */
    size_t max_occ, max_unique;
    int32_t *pos;                   /* host, n_ids: a row's place in this batch's uniq, or -1 */
    float *host;                    /* host copy of index: this batch's slot of host_ring */
    float *host_ring;               /* CLANN__STAGING_SLOTS copies (uploads need not wait) */
    size_t *count;                  /* host, max_unique: occurrences per distinct id */
    size_t n_unique, n_occ;         /* this batch */
    float *merged;                  /* host, across ranks: the merged ids and rows (on demand) */
};

/* Allocates and initializes the tables at compile (ERR_UNSUPPORTED without the ops). */
enum clann_status clann__embedding_setup(struct clann_model *m);
void clann__embedding_free(struct clann_model *m);
/* The gradient of embedding table k after a backward pass: the rows this batch touched (the
 * others are zero, so for norms, clipping and the NaN guard this is the table's whole
 * gradient). Returns its float count, 0 for a frozen table or a batch without its ids. */
size_t clann__embedding_grad(struct clann_model *m, size_t k, struct clann_view *g);
enum clann_status clann__features_forward(struct clann_model *m, size_t i, struct clann_view x,
                                          size_t rows);
enum clann_status clann__features_backward(struct clann_model *m, size_t i, size_t rows);
/* Builds and uploads the index of the batch in m->staging_x (training steps only). */
enum clann_status clann__embedding_prepare_batch(struct clann_model *m, size_t rows);
/* The sparse optimizer step of every trainable table, after the dense one, with the dense
 * step's optimizer (its learning rate, step and guard flag). */
enum clann_status clann__embedding_update(struct clann_model *m, const struct clann_opt *opt);
/* Across ranks (the trainer moves the data): the floats that clann__embedding_rows_get may
 * write for table k, 0 when it does not train. */
size_t clann__embedding_rows_cap(const struct clann_model *m, size_t k);
/* After backward: the batch's n distinct ids of table k (order of first appearance) and then
 * their n x dim gradient rows, into out; n = 0 for a frozen table or a batch without its ids. */
enum clann_status clann__embedding_rows_get(struct clann_model *m, size_t k, float *out,
                                            size_t *n);
/* Replaces the batch's rows of table k by the union of n_parts parts (each as rows_get writes
 * it, counts[p] rows): ids in order of first appearance, each row's gradient summed in part
 * order, so every rank that merges the same parts gets the same bits. The guard, clipping and
 * the sparse update then see the merged rows. */
enum clann_status clann__embedding_rows_merge(struct clann_model *m, size_t k,
                                              const float *const *parts, const size_t *counts,
                                              size_t n_parts);
/* Checks the id slots of x (what names the data in messages). */
enum clann_status clann__features_check_ids(struct clann_model *m,
                                            const struct clann_matrix *x, const char *what);
/* Embedding tables of a model or a spec's feature set, in feature order: name, shape. */
size_t clann__features_n_tables(const struct clann_features *fs);
const struct clann__feature *clann__features_table(const struct clann_features *fs, size_t k);
/* The table of feature `name` of a compiled model (ERR_STATE when not compiled, ERR_INVALID_ARG
 * when the model has no such embedding feature). */
enum clann_status clann__embedding_find(struct clann_model *m, const char *name,
                                        struct clann__emb **out);

#endif /* CLANN_EMBEDDING_H */
