/*
 * trainer.c - creating, freeing and reading the trainer (trainer.h).
 */
#include "train/trainer.h"
#include "train/exchange.h"

static void trainer_free(struct clann_trainer *t)
{
    if (!t)
        return;
    clann__buf_destroy(&t->backup);
    clann__buf_destroy(&t->best);
    for (size_t k = 0; k < t->n_best_tables; k++)
        clann__buf_destroy(&t->best_tables[k]);
    clann__free(t->best_tables);
    clann__buf_destroy(&t->monitor_buf);
    clann__free(t->monitor_steps);
    clann__free(t->monitor_rows);
    clann__reducer_free(&t->reduce);
    clann__dist_rows_free(&t->rows);
    clann__exchange_free(t->exchange);
    clann__free(t);
}

enum clann_status clann__trainer_get(struct clann_model *m, struct clann_trainer **out)
{
    if (!m->trainer) {
        struct clann_trainer *t = clann__calloc(1, sizeof *t);
        if (!t)
            return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory");
        t->lr = m->cp.optimizer.learning_rate;
        m->trainer = t;
        m->trainer_free = trainer_free; /* nn frees it without knowing train */
    }
    *out = m->trainer;
    return CLANN_OK;
}

struct clann_opt clann__trainer_opt(const struct clann_model *m, const struct clann_trainer *t)
{
    struct clann_opt opt = m->opt;
    opt.lr = t->lr;
    opt.step = t->step;
    opt.guard = t->guard;
    return opt;
}
