/*
 * sampled.h - sampled softmax and NCE (candidate sampling) in training: the output layer and
 * the loss run over a batch's candidate classes alone.
 */
#ifndef CLANN_SAMPLED_H
#define CLANN_SAMPLED_H

#include "nn/model.h"

/* Buffers for a model compiled with the sampled softmax or NCE loss (model.c's compile). */
enum clann_status clann__sampled_setup(struct clann_model *m);
void clann__sampled_free(struct clann_model *m);

/* After clann__upload_batch: draws the candidates of the step taken after `step` steps (the
 * batch's labels and num_sampled classes without replacement, seeded by the step), uploads
 * them in ascending class order and replaces the uploaded labels by their places among the
 * candidates (NCE: uploads those places and the candidates' drawn flags to
 * clann__nce_labels instead), with the candidates' logit corrections where they apply.
 * Across ranks, batch_labels holds the labels of the whole batch (batch_rows, every rank's
 * share), so that every rank has the candidates one process would; NULL: the uploaded rows
 * are the batch. Either way the per-row labels and terms stay the uploaded rows'. */
enum clann_status clann__sampled_prepare(struct clann_model *m, size_t rows,
                                         const float *batch_labels, size_t batch_rows,
                                         uint64_t step);

/* Whether the training passes of m run the sampled output layer (sampled softmax or NCE). */
bool clann__sampled_active(const struct clann_model *m, bool training);
/* Whether the training loss of m is the backends' NCE over the candidates, whose labels are
 * at clann__nce_labels (after clann__sampled_prepare). */
bool clann__nce_active(const struct clann_model *m, bool training);
struct clann_view clann__nce_labels(struct clann_model *m);

/* The output layer i over the candidates: z = x W[:, cand] + b[cand], rows x n_cand, written
 * where the layer's outputs go. */
enum clann_status clann__sampled_forward(struct clann_model *m, size_t i, struct clann_view x,
                                         size_t rows);
/* Its backward pass from the candidates' logit gradient (in the layer's dy): the kernel and
 * bias gradients, zero outside the candidates' columns, and dx when dx.buf is set. */
enum clann_status clann__sampled_backward(struct clann_model *m, size_t i, struct clann_view x,
                                          struct clann_view dx, size_t rows);

#endif
