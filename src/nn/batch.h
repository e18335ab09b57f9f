/*
 * batch.h - checks of user data and batch assembly (batch.c), shared by fit, evaluate and
 * predict.
 */
#ifndef CLANN_BATCH_H
#define CLANN_BATCH_H

#include "nn/model.h"

/* Checks x (and y when not NULL) against the model's shapes, and that every value is finite
 * and every class label valid; `what` names the data in messages ("training", "validation"). */
enum clann_status clann__check_data(struct clann_model *m, const struct clann_matrix *x,
                                    const struct clann_matrix *y, const char *what);
/* Gathers rows order[first .. first + rows) (or first.. in order when order is NULL) of x and y
 * into the staging arrays and uploads them to m->input and m->labels. */
enum clann_status clann__upload_batch(struct clann_model *m, const struct clann_matrix *x,
                                      const struct clann_matrix *y, const size_t *order,
                                      size_t first, size_t rows);

#endif /* CLANN_BATCH_H */
