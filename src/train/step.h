/*
 * step.h - the parts of a training step around forward/backward: weight penalties, gradient
 * noise and clipping before the update; L1's proximal step and constraints after it.
 */
#ifndef CLANN_STEP_H
#define CLANN_STEP_H

#include "nn/model.h"

/* Adds the L2 gradients and gradient noise, then clips, as the fit parameters ask. */
enum clann_status clann__step_prepare_grads(struct clann_model *m,
                                            const struct clann_fit_params *p);
/* After the update: batch normalization's running statistics, L1 soft-thresholding (threshold
 * lr * l1) and weight constraints; none of them on a step the NaN guard skipped. */
enum clann_status clann__step_after_update(struct clann_model *m);
/* Adds N(0, stddev^2) to every trainable weight (weight noise) with the step's stream. */
enum clann_status clann__step_perturb_weights(struct clann_model *m, float stddev);
/* The penalty l1 sum |w| + l2/2 sum w^2 of all layers at the current weights. */
enum clann_status clann__penalty(struct clann_model *m, double *out);
/* Whether any layer has a weight penalty. */
bool clann__has_penalty(const struct clann_model *m);

#endif /* CLANN_STEP_H */
