/*
 * dist_rows.h - data parallelism for what the dense gradient exchange does not cover
 * (dist_rows.c): embedding tables' sparse rows and sampled softmax's candidates.
 */
#ifndef CLANN_DIST_ROWS_H
#define CLANN_DIST_ROWS_H

#include "nn/model.h"

/* The trainer's host buffers for them (kept between fit calls, freed with the trainer). */
struct clann__dist_rows {
    float *send, *recv, *labels;
    size_t send_cap, recv_cap;
    size_t *heads, *cursor; /* per rank: where its message starts, where its next table does */
    const float **parts;    /* each rank's part of one table */
    size_t *part_rows;      /* and its rows */
};

/* Sizes the buffers for model m before the first step (every rank the same, so that no rank
 * fails alone inside a step's exchange). */
enum clann_status clann__dist_rows_init(struct clann_model *m, struct clann__dist_rows *x);
void clann__dist_rows_free(struct clann__dist_rows *x);

/* After the dense exchange of a step: every rank's embedding rows (its share of the batch) are
 * gathered and merged, in rank order, into the global batch's rows on every rank. */
enum clann_status clann__dist_exchange_rows(struct clann_model *m, struct clann__dist_rows *x);

/* Sampled softmax and NCE: the candidates of rows [first, first + rows) of the order, the
 * global batch, for this rank's share of them (mine rows, already uploaded), after `step`
 * steps: every rank draws what one process would. */
enum clann_status clann__dist_sampled_prepare(struct clann_model *m, struct clann__dist_rows *x,
                                              const struct clann_matrix *y, const size_t *order,
                                              size_t first, size_t rows, size_t mine,
                                              uint64_t step);

#endif /* CLANN_DIST_ROWS_H */
