/*
 * model_file.h - the model-file writer and reader (model_file.c), shared with checkpoints
 * (checkpoint.c): a checkpoint is a model file plus the optimizer state and a metadata entry.
 */
#ifndef CLANN_MODEL_FILE_H
#define CLANN_MODEL_FILE_H

#include "nn/model.h"

/* What a checkpoint adds to a model file, as read back. */
struct clann__file_extras {
    float *state1, *state2; /* n floats each, host order; NULL when the file has none */
    size_t n;
    char *checkpoint;       /* __metadata__.clann_checkpoint; NULL when absent */
};

/* Writes m atomically; a non-NULL checkpoint text also writes optimizer.state1/state2 and
 * stores the text as __metadata__.clann_checkpoint. */
enum clann_status clann__model_file_write(struct clann_model *m, const char *path,
                                          const char *checkpoint);

/* Loads a model file. extras NULL: the optimizer tensors are validated and ignored; else they
 * and the checkpoint text are returned in *extras (free with clann__file_extras_free(), also
 * zeroed on failure). */
enum clann_status clann__model_file_read(struct clann_context *ctx, const char *path,
                                         struct clann_model **out,
                                         struct clann__file_extras *extras);
void clann__file_extras_free(struct clann__file_extras *x);

/* Parses a checkpoint's __metadata__.clann_checkpoint text (checkpoint.c): ERR_FORMAT for a
 * malformed one, ERR_UNSUPPORTED for a newer major version; messages name path. */
enum clann_status clann__checkpoint_parse(struct clann_context *ctx, const char *path,
                                          const char *text, uint64_t *step, uint64_t *epoch,
                                          float *lr);

/* Copies into m the parameters its layers' "init_from" sources name (transfer.c): what a
 * spec that builds a model to train asks for (never done when a model file is loaded: its
 * own tensors are the parameters). */
enum clann_status clann__model_apply_sources(struct clann_model *m);

#endif /* CLANN_MODEL_FILE_H */
