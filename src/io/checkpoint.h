/*
 * checkpoint.h - the checkpoint file (checkpoint.c): a model file plus the optimizer state
 * and the trainer's progress. io writes and reads what it is handed; the trainer
 * (src/train/checkpoint.c) owns the values and the public clann_model_*_checkpoint functions.
 */
#ifndef CLANN_CHECKPOINT_H
#define CLANN_CHECKPOINT_H

#include "nn/model.h"

/* The trainer's progress a checkpoint stores besides the model's buffers. */
struct clann__checkpoint_state {
    uint64_t step; /* optimizer steps taken */
    size_t epoch;  /* the caller's epoch count */
    float lr;      /* the learning rate in effect */
};

/* Writes m with its optimizer state buffers and s to path (atomically). */
enum clann_status clann__checkpoint_write(struct clann_model *m, const char *path,
                                          const struct clann__checkpoint_state *s);
/* Loads a checkpoint: the model with its optimizer state buffers restored into *out, and the
 * stored progress into *s. ERR_FORMAT for a plain model file. */
enum clann_status clann__checkpoint_read(struct clann_context *ctx, const char *path,
                                         struct clann_model **out,
                                         struct clann__checkpoint_state *s);

#endif /* CLANN_CHECKPOINT_H */
