/*
 * step.h - the training-only parts of a step around forward/backward: gradient and weight
 * noise, and the order of penalty gradients, noise and clipping before the update.
 */
#ifndef CLANN_STEP_H
#define CLANN_STEP_H

#include "train/trainer.h"

/* Adds the L2 gradients and gradient noise, then clips, as the fit parameters ask (t->p), with
 * the noise streams of step t->step. */
enum clann_status clann__step_prepare_grads(struct clann_model *m,
                                            const struct clann_trainer *t);
/* Adds N(0, stddev^2) to every trainable weight (weight noise) with the step's stream. */
enum clann_status clann__step_perturb_weights(struct clann_model *m,
                                              const struct clann_trainer *t, float stddev);

#endif /* CLANN_STEP_H */
