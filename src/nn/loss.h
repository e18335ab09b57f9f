/*
 * loss.h - the loss of a batch on the device (loss.c).
 */
#ifndef CLANN_LOSS_H
#define CLANN_LOSS_H

#include "nn/model.h"

/* Adds the batch's loss sum (and correct count for classifiers) to the device scalars;
 * grad (may be a NULL view) receives the loss gradient scaled by 1 / rows. With grad (in
 * training) the loss sum goes to the BATCH scalar instead, for the NaN guard. */
enum clann_status clann__batch_loss(struct clann_model *m, struct clann_view pred, size_t rows,
                                    struct clann_view grad);
/* Reads and clears the device scalars: loss sum and correct count. */
enum clann_status clann__read_scalars(struct clann_model *m, double *loss_sum, double *correct);
/* Reads the loss sum without clearing it (the running loss of an epoch under way). */
enum clann_status clann__peek_loss_sum(struct clann_model *m, double *loss_sum);

#endif /* CLANN_LOSS_H */
