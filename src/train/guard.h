/*
 * guard.h - the NaN trap guard and the training monitors: both run as ops inside the step and
 * are read once per epoch.
 */
#ifndef CLANN_GUARD_H
#define CLANN_GUARD_H

#include "train/trainer.h"

/* Allocates the monitor sample buffer for one epoch of `steps` steps (monitor_every > 0), and
 * the parameter copy the update ratio needs. */
enum clann_status clann__monitors_setup(struct clann_model *m, struct clann_trainer *t,
                                        size_t every, size_t steps);
/* Whether the step about to be taken is a monitored one. */
bool clann__monitor_due(const struct clann_trainer *t, size_t every);
/* Before the update of a monitored step: zero fractions, gradient and weight norms, and a copy
 * of the weights. */
enum clann_status clann__monitor_before_update(struct clann_model *m, struct clann_trainer *t,
                                               size_t rows);
/* After the update: the update norms. */
enum clann_status clann__monitor_after_update(struct clann_model *m, struct clann_trainer *t);
/* Downloads the epoch's samples and hands each to fn (may be NULL) and the run log. */
enum clann_status clann__monitor_flush(struct clann_model *m, struct clann_trainer *t,
                                       size_t epoch, clann_monitor_fn fn, void *user,
                                       struct clann_runlog *log);

/* Marks the step bad when the batch loss or the gradients are not finite; the update then
 * leaves weights and state alone (t->guard, which the update's optimizer carries). stop: the
 * flag is sticky and records the step; skip: the flag marks this step only and the skip
 * counter grows. */
enum clann_status clann__guard_step(struct clann_model *m, struct clann_trainer *t, size_t rows,
                                    bool skip);
/* Reads the guard's flag (the first bad step, 0 if none) and the epoch's skipped steps, and
 * clears both. */
enum clann_status clann__guard_read(struct clann_model *m, uint64_t *bad_step, size_t *skips);
/* Names the first layer with a non-finite value for the batch of rows order[first..] at the
 * weights before step `bad_step` into buf. */
void clann__guard_diagnose(struct clann_model *m, const struct clann_matrix *x,
                           const struct clann_matrix *y, const size_t *order, size_t first,
                           size_t rows, uint64_t bad_step, char *buf, size_t size);

#endif /* CLANN_GUARD_H */
