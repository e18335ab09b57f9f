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
/* Skip mode, after the update of step t->step: counts the skipped steps in a row and, once
 * they pass `allowed`, marks this step as the one where training stops (every later step is
 * then skipped, so the weights stay those of the last step taken). */
enum clann_status clann__guard_skip_count(struct clann_model *m, struct clann_trainer *t,
                                          size_t allowed);
/* Reads the guard's flag (stop mode: the first bad step, 0 if none) and the skip mode's stop
 * mark (the step where the skips in a row passed the allowance, 0 if none), and clears them
 * and the count of skips in a row. */
enum clann_status clann__guard_read(struct clann_model *m, uint64_t *bad_step,
                                    uint64_t *skip_stop);
/* Names the first layer with a non-finite value for the batch of rows order[first..] at the
 * weights before step `bad_step` into buf. */
void clann__guard_diagnose(struct clann_model *m, const struct clann_matrix *x,
                           const struct clann_matrix *y, const size_t *order, size_t first,
                           size_t rows, uint64_t bad_step, char *buf, size_t size);

#endif /* CLANN_GUARD_H */
