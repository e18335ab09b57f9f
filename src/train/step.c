/*
 * step.c - the training-only parts of a step around forward/backward: gradient and weight
 * noise, and the order of penalty gradients, noise and clipping before the update (the
 * penalties and clipping themselves are the network's: nn/regularize.c).
 */
#include "train/step.h"
#include "nn/regularize.h"
#include "core/rng.h"

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

/* The noise stream of the gradients or weights at this step: a stream per purpose, an offset
 * per step, so that every device adds the same noise. */
static struct clann_rng_key step_key(const struct clann_model *m, uint64_t step,
                                     uint32_t which)
{
    struct clann_rng_key key = {m->cp.seed, clann__rng_stream(CLANN__RNG_STREAM_STEP_NOISE, which),
                                step * (uint64_t)m->n_params};
    return key;
}

static enum clann_status add_noise_trainable(struct clann_model *m, uint64_t step,
                                             struct clann_buf *buf, float stddev, uint32_t which)
{
    struct clann_rng_key key = step_key(m, step, which);
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        key.offset = step * (uint64_t)m->n_params + l->w_off;
        if (clann__layer_trains(l))
            st = clann__op_add_noise(m->be, at(buf, l->w_off), l->n_trainable, key, stddev);
    }
    return st;
}

enum clann_status clann__step_perturb_weights(struct clann_model *m,
                                              const struct clann_trainer *t, float stddev)
{
    return add_noise_trainable(m, t->step, &m->params, stddev, 1);
}

enum clann_status clann__step_prepare_grads(struct clann_model *m,
                                            const struct clann_trainer *t)
{
    const struct clann_fit_params *p = &t->p;
    enum clann_status st = clann__penalty_grads(m);
    if (st == CLANN_OK && p->gradient_noise > 0.0f)
        st = add_noise_trainable(m, t->step, &m->grads, p->gradient_noise, 2);
    struct clann__clip clip = {p->clip_value, p->clip_norm, p->clip_global_norm};
    return st ? st : clann__clip_grads(m, &clip);
}
