/*
 * checkpoint.c - the public checkpoint functions: the model's buffers and the trainer's
 * progress (step, learning rate) written to and read from a checkpoint file
 * (io/checkpoint.c). The trainer owns the progress; io only stores it.
 */
#include "io/checkpoint.h"
#include "train/trainer.h"

CLANN_API enum clann_status clann_model_save_checkpoint(struct clann_model *m, const char *path,
                                                        size_t epoch)
{
    if (!m || !path || !*path)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "clann_model_save_checkpoint: need a model and a path");
    /* Before any fit: no step taken, the compile-time rate. */
    struct clann__checkpoint_state s = {0, epoch, m->cp.optimizer.learning_rate};
    if (m->trainer) {
        s.step = m->trainer->step;
        s.lr = m->trainer->lr;
    }
    return clann__checkpoint_write(m, path, &s);
}

CLANN_API enum clann_status clann_model_load_checkpoint(struct clann_context *ctx,
                                                        const char *path,
                                                        struct clann_model **out,
                                                        size_t *epoch)
{
    if (epoch)
        *epoch = 0;
    struct clann__checkpoint_state s;
    enum clann_status st = clann__checkpoint_read(ctx, path, out, &s);
    struct clann_trainer *t = NULL;
    if (st == CLANN_OK && (st = clann__trainer_get(*out, &t)) != CLANN_OK) {
        clann_model_destroy(*out);
        *out = NULL;
    }
    if (st != CLANN_OK)
        return st;
    t->step = s.step;
    t->lr = s.lr;
    if (epoch)
        *epoch = s.epoch;
    return CLANN_OK;
}
