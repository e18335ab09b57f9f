/*
 * conv.h - image layers (conv2d, max and average pooling, flatten): their forward and backward
 * passes, called from layers.c. Building them is the public clann_model_add_*() in conv.c.
 */
#ifndef CLANN_NN_CONV_H
#define CLANN_NN_CONV_H

#include "nn/model.h"

/* Layer i of an image kind: y from x (rows images), and dx (a null view: not needed) and the
 * parameter gradients from dy. */
enum clann_status clann__conv_forward(struct clann_model *m, size_t i, struct clann_view x,
                                      size_t rows, bool training, uint64_t step);
enum clann_status clann__conv_backward(struct clann_model *m, size_t i, struct clann_view x,
                                       struct clann_view dx, size_t rows, uint64_t step);

/* Whether a layer kind is one of the above. */
static inline bool clann__is_image_layer(enum clann__layer_kind k)
{
    return k == CLANN__LAYER_CONV2D || k == CLANN__LAYER_MAX_POOL2D ||
           k == CLANN__LAYER_AVG_POOL2D || k == CLANN__LAYER_FLATTEN;
}

#endif /* CLANN_NN_CONV_H */
