/*
 * regularize.h - weight penalties, gradient clipping, L1's proximal step and weight
 * constraints of a network (regularize.c). They act on the model's parameter and gradient
 * buffers; the trainer (src/train) calls them in the order of a step.
 */
#ifndef CLANN_REGULARIZE_H
#define CLANN_REGULARIZE_H

#include "nn/model.h"

/* Gradient clipping limits; 0 turns each off. */
struct clann__clip {
    float value;       /* per element, to [-value, value] */
    float norm;        /* per tensor (kernel, bias, batch-norm vector, embedding table) */
    float global_norm; /* over every gradient, embedding tables included */
};

/* Whether any layer has a weight penalty. */
bool clann__has_penalty(const struct clann_model *m);
/* The penalty l1 sum |w| + l2/2 sum w^2 of all layers at the current weights. */
enum clann_status clann__penalty(struct clann_model *m, double *out);
/* Adds the L2 penalty's gradient l2 w to the gradients (L1 is a proximal step after the
 * update instead). */
enum clann_status clann__penalty_grads(struct clann_model *m);
/* Clips the gradients: by value, then per tensor by norm, then by global norm. */
enum clann_status clann__clip_grads(struct clann_model *m, const struct clann__clip *c);
/* After the update `opt` (its rate, step and guard): batch normalization's running
 * statistics, L1 soft-thresholding (threshold lr * l1, per weight in the optimizer's metric for
 * Adam, RMSprop and Adagrad: regularize.c, l1_step) and weight constraints; none of them where
 * the guard flag (a device scalar; a NULL view: none) marks the step bad. */
enum clann_status clann__model_after_update(struct clann_model *m, const struct clann_opt *opt);

/* Batch normalization's running statistics re-estimated at the current weights: each running
 * mean and variance becomes the mean of the batch means and (biased) variances of up to
 * max_batches full batches of x, rows in `order` (NULL: in order), forward in training mode as
 * in a step (dropout and RReLU draw from `step`'s streams); a batch whose statistics are not
 * finite is left out (its share of the mean stays with the statistics before it). The momentum
 * average lags the weights by about 1 / (1 - momentum) steps; this does not. Frozen batch
 * norms (inference mode) keep theirs; a no-op without a batch norm that trains. */
enum clann_status clann__batchnorm_refresh(struct clann_model *m, const struct clann_matrix *x,
                                           const size_t *order, size_t batch,
                                           size_t max_batches, uint64_t step);

#endif /* CLANN_REGULARIZE_H */
