/*
 * tensor_list.h - which tensors a model file holds for a model (tensor_list.c), named as
 * model_file.c stores them:
 *     "layers.<i>.dense.kernel" [in, out], ".bias" [out] (when the layer has one) and
 *     ".prelu_alpha" [out] (PReLU layers); "layers.<i>.batchnorm.gamma", ".beta",
 *     ".moving_mean", ".moving_variance" [width]; "layers.0.embedding.<feature>" [ids, dim];
 *     a checkpoint's "optimizer.state1", "optimizer.state2" [n_params] and
 *     "optimizer.embedding.<feature>.state1", ".state2" [ids, dim].
 * Parameters come first, in layer order, then the optimizer state and the embedding tables.
 */
#ifndef CLANN_IO_TENSOR_LIST_H
#define CLANN_IO_TENSOR_LIST_H

#include "data/safetensors.h"
#include "io/spec.h"
#include "nn/model.h"

struct clann__tensor_list {
    struct clann__tensor *t; /* clann__malloc'ed */
    size_t n;
};

/* The tensors a parsed spec implies (sizes were checked by clann__spec_parse), optimizer and
 * table-state tensors included: which of those a file has depends on the optimizer. */
enum clann_status clann__tensors_from_spec(struct clann_context *ctx,
                                          const struct clann__spec *s,
                                          struct clann__tensor_list *l);
/* The tensors of a compiled model, at the offsets its layout gave them; with_optimizer adds
 * the optimizer state the model keeps. ERR_UNSUPPORTED for parameters the format cannot
 * name. */
enum clann_status clann__tensors_from_model(const struct clann_model *m, bool with_optimizer,
                                           struct clann__tensor_list *l);
/* How many parameter tensors the list begins with. */
size_t clann__tensors_n_params(const struct clann__tensor_list *l);
/* The tensor named name, or NULL. */
struct clann__tensor *clann__tensors_find(struct clann__tensor_list *l, const char *name);
/* The device buffer a tensor of m lives in, at its offset there. */
struct clann_view clann__tensor_source(struct clann_model *m, const struct clann__tensor *t);

#endif /* CLANN_IO_TENSOR_LIST_H */
