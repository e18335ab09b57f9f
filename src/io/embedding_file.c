/*
 * embedding_file.c - an embedding table copied from a tensor of another safetensors file
 * (a pretrained embedding). io reads the tensor and hands it to the model (nn) through
 * clann_model_embedding_set, so that nn never reads files.
 */
#include "io/model_file.h"
#include "data/safetensors.h" /* clann__safetensors_read */
#include "nn/embedding.h"

CLANN_API enum clann_status clann_model_embedding_load(struct clann_model *m,
                                                       const char *feature, const char *path,
                                                       const char *tensor)
{
    struct clann__emb *e;
    enum clann_status st = clann__embedding_find(m, feature, &e);
    if (st == CLANN_OK && (!path || !tensor))
        st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "embedding_load: need a path and a "
                          "tensor name");
    struct clann_matrix t = {0, 0, NULL};
    if (st == CLANN_OK)
        st = clann_matrix_create(e->f->n_ids, e->f->dim, &t);
    if (st == CLANN_OK)
        st = clann__safetensors_read(m->ctx, path, tensor, t.rows, t.cols, t.data);
    if (st == CLANN_OK)
        st = clann_model_embedding_set(m, feature, &t);
    clann_matrix_free(&t);
    return st;
}
