/*
 * exchange.h - the overlapped gradient exchange of data-parallel training (exchange.c): the
 * gradient buffer cut into buckets of whole layers, top layer first, each summed over the
 * ranks (dist.h, clann__bucket_*) as soon as the backward pass has written it, while the
 * layers below still compute (PyTorch DDP's buckets). Bitwise the same sums as the exchange
 * of the whole buffer at once (fit.c, exchange_gradients), which CLANN_DIST_OVERLAP=0 keeps.
 */
#ifndef CLANN_EXCHANGE_H
#define CLANN_EXCHANGE_H

#include "train/trainer.h"

/* Cuts the model's gradients into buckets (CLANN_DIST_BUCKET_KB, default 1024 KiB) unless
 * CLANN_DIST_OVERLAP=0 in the environment, which leaves t->exchange NULL. */
enum clann_status clann__exchange_setup(struct clann_model *m, struct clann_trainer *t);
void clann__exchange_free(struct clann__exchange *x);
/* Before a step's backward pass: hooks the exchange into it (model.h, grads_ready). */
void clann__exchange_begin(struct clann_model *m, struct clann_trainer *t);
/* After it: starts what the backward pass did not (every rank takes part in every bucket,
 * a failed one too, so that none waits in a collective for it), waits for every sum, agrees
 * on the ranks' statuses (`local`: this rank's) and uploads the summed gradients and batch
 * loss. */
enum clann_status clann__exchange_end(struct clann_model *m, struct clann_trainer *t,
                                      enum clann_status local);

/* Uploads the sums of a reducer (dist.h) of the gradients [lo, lo + n) back into them, each
 * chunk from where its rank summed it; with `loss`, value n is the batch loss. */
enum clann_status clann__exchange_upload(struct clann_model *m, const struct clann__reducer *r,
                                         size_t lo, size_t n, bool loss, bool blocking);
#endif /* CLANN_EXCHANGE_H */
