/*
 * fit.c - the training loop. One step enqueues upload -> forward -> loss -> backward ->
 * penalties, noise and clipping -> optimizer update -> L1 and constraints, with no read-back;
 * the loss and correct counts accumulate on the device and are read once per epoch
 * (docs/architecture.md, "One training step"). Between epochs: validation, learning-rate
 * schedules, early stopping and checkpoints.
 */
#include "train/dist.h"
#include "train/dist_rows.h"
#include "train/exchange.h"
#include "train/guard.h"
#include "train/monitor.h"
#include "train/runlog.h"
#include "train/step.h"
#include "train/trainer.h"
#include "nn/batch.h"
#include "nn/embedding.h"
#include "nn/loss.h"
#include "nn/regularize.h"
#include "nn/sampled.h"
#include "backend/ops.h"
#include "core/rng.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

/* Fisher-Yates shuffle driven by the shuffle stream: the same seed and step give the same
 * order on every device. j = floor(u32 * (i + 1) / 2^32) (Lemire's multiply-shift; its bias is
 * below 2^-32 * n). */
static void shuffle_order(size_t *order, size_t n, uint64_t seed, uint64_t step)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i-- > 1;) {
        uint64_t bits = clann__rng_bits(seed, clann__rng_stream(CLANN__RNG_STREAM_SHUFFLE, 0),
                                        step * n + i);
        size_t j = (size_t)((bits * (uint64_t)(i + 1)) >> 32);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static enum clann_status copy_params(struct clann_model *m, struct clann_buf *dst,
                                     struct clann_buf *src)
{
    return clann__op_copy(m->be, clann__view(dst, 0), clann__view(src, 0), m->n_params);
}

/* An embedding table's best copy, as for the dense parameters: copies the table to it, or
 * (restore) back from it when there is one. */
static enum clann_status keep_best_table(struct clann_model *m, struct clann__emb *e,
                                         struct clann_buf *best, bool restore)
{
    if (!e->f->trainable || (restore && !best->ptr))
        return CLANN_OK;
    enum clann_status st = best->ptr ? CLANN_OK : clann__buf_create(m->be, e->table.n, best);
    struct clann_view table = clann__view(&e->table, 0), copy = clann__view(best, 0);
    if (st != CLANN_OK)
        return st;
    return restore ? clann__op_copy(m->be, table, copy, e->table.n)
                   : clann__op_copy(m->be, copy, table, e->table.n);
}

/* Early stopping's best weights: saves them, or (restore) puts them back; embedding tables
 * included. */
static enum clann_status keep_best(struct clann_model *m, struct clann_trainer *t, bool restore)
{
    enum clann_status st = restore ? copy_params(m, &m->params, &t->best)
                                   : copy_params(m, &t->best, &m->params);
    if (st == CLANN_OK && m->n_emb && !t->best_tables) {
        t->best_tables = clann__calloc(m->n_emb, sizeof *t->best_tables);
        if (!t->best_tables)
            return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory");
        t->n_best_tables = m->n_emb;
    }
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++)
        st = keep_best_table(m, &m->emb[k], &t->best_tables[k], restore);
    return st;
}

static float scheduled_lr(const struct clann_model *m, const struct clann_trainer *t,
                          const struct clann_lr_schedule *s, size_t epoch)
{
    float lr = t->lr;
    if (s->kind == CLANN_SCHEDULE_STEP && s->step_epochs)
        lr = m->cp.optimizer.learning_rate *
             powf(s->factor, (float)((epoch - 1) / s->step_epochs));
    else if (s->kind == CLANN_SCHEDULE_EXPONENTIAL && s->decay_steps)
        lr = m->cp.optimizer.learning_rate *
             powf(s->decay_rate, (float)t->step / (float)s->decay_steps);
    return lr > s->min_lr ? lr : s->min_lr;
}

/* The first half of a step: this rank's gradients of its rows (all of the batch alone), with
 * label and weight noise; the batch's loss sum in the batch scalar. */
static enum clann_status local_gradients(struct clann_model *m, size_t rows,
                                         struct clann_trainer *t)
{
    struct clann_backend *be = m->be;
    const struct clann_fit_params *p = &t->p;
    enum clann_status st = CLANN_OK;
    if (rows == 0) { /* a rank with no share of a short last batch adds nothing to the sums */
        st = clann__op_fill(be, clann__view(&m->grads, 0), m->n_params, 0.0f);
        return st ? st : clann__op_fill(be, clann__view(&m->scalars, CLANN__SCALAR_BATCH), 1, 0.0f);
    }
    if (p->label_noise > 0.0f) {
        size_t cols = clann__model_label_cols(m);
        struct clann_rng_key key = {m->cp.seed,
                                    clann__rng_stream(CLANN__RNG_STREAM_LABEL_NOISE, 0),
                                    t->step * (uint64_t)m->cp.max_batch * m->labels.n +
                                        m->batch_row0 * cols};
        st = clann__op_add_noise(be, clann__view(&m->labels, 0), rows * cols, key, p->label_noise);
    }
    if (st == CLANN_OK && p->weight_noise > 0.0f &&
        (st = copy_params(m, &t->backup, &m->params)) == CLANN_OK)
        st = clann__step_perturb_weights(m, t, p->weight_noise);
    struct clann_view pred;
    if (st == CLANN_OK)
        st = clann__model_forward(m, rows, true, t->step, &pred);
    if (st == CLANN_OK)
        st = clann__batch_loss(m, pred, rows, clann__layer_dy(m, m->n_layers - 1));
    if (st == CLANN_OK)
        st = clann__model_backward(m, rows, t->step);
    if (st == CLANN_OK && p->weight_noise > 0.0f)
        st = copy_params(m, &m->params, &t->backup);
    return st;
}

/* The gradients and the batch loss into host values (n_params + 1). */
static enum clann_status read_gradients(struct clann_model *m, float *host)
{
    enum clann_status st = clann__op_download(m->be, host, clann__view(&m->grads, 0),
                                              m->n_params);
    return st ? st : clann__op_download(m->be, host + m->n_params,
                                        clann__view(&m->scalars, CLANN__SCALAR_BATCH), 1);
}

/* Data parallelism: every rank reports how its half step went (a failed rank is named on all),
 * then the gradients and the batch loss are summed over the ranks in rank order (dist.h), so
 * that every rank goes on with the same global values: the guard, clipping and the update
 * then decide the same on every rank. */
static enum clann_status exchange_gradients(struct clann_model *m, struct clann_trainer *t,
                                            enum clann_status local, bool read)
{
    char what[64];
    snprintf(what, sizeof what, "computing step %llu", (unsigned long long)t->step + 1);
    enum clann_status st = t->dist ? clann__dist_agree(m->ctx, local, what) : local;
    struct clann__reducer *r = &t->reduce;
    if (st == CLANN_OK && read) /* with shards, each shard's are in already */
        st = read_gradients(m, r->data);
    if (st == CLANN_OK)
        st = clann__reducer_sum(m->ctx, r);
    return st ? st : clann__exchange_upload(m, r, 0, m->n_params, true, true);
}

/* Virtual shards (clann_fit_params.shards): this rank's shards of the batch (all of them
 * alone), one after the other, each one's gradients and loss into its block of the reducer,
 * which then adds every shard in the batch's order: the same bits on any number of ranks
 * that divides the shards. */
static enum clann_status shard_gradients(struct clann_model *m, const struct clann_matrix *x,
                                         const struct clann_matrix *y, const size_t *order,
                                         size_t first, size_t rows, struct clann_trainer *t,
                                         size_t *last_rows)
{
    size_t shards = t->p.shards, per = t->reduce.shards;
    size_t rank = t->dist ? (size_t)clann__dist_rank() : 0;
    enum clann_status st = CLANN_OK;
    m->batch_global_rows = rows; /* the loss of each shard is scaled by the whole batch */
    for (size_t j = 0; j < per && st == CLANN_OK; j++) {
        size_t s = rank * per + j, lo = rows * s / shards, n = rows * (s + 1) / shards - lo;
        m->batch_row0 = lo;
        st = n ? clann__upload_batch(m, x, y, order, first + lo, n) : CLANN_OK;
        if (st == CLANN_OK)
            st = local_gradients(m, n, t);
        if (st == CLANN_OK)
            st = read_gradients(m, t->reduce.data + j * t->reduce.stride);
        *last_rows = n; /* what the activations now hold, for the monitors */
    }
    return exchange_gradients(m, t, st, false);
}

/* The optimizer update of parameters [off, off + n). */
static enum clann_status optimizer_range(struct clann_model *m, const struct clann_opt *opt,
                                         size_t off, size_t n)
{
    return n ? clann__op_optimizer_step(m->be, opt, clann__view(&m->params, off),
                                        clann__view(&m->grads, off), clann__view(&m->state1, off),
                                        clann__view(&m->state2, off), n)
             : CLANN_OK;
}

/* The fused update over every run of adjacent layers that train: one op over all parameters
 * when nothing is frozen, and a frozen layer's weights and optimizer state are never touched
 * (bit for bit, whatever the optimizer does with a zero gradient). */
static enum clann_status optimizer_steps(struct clann_model *m, const struct clann_opt *opt)
{
    enum clann_status st = CLANN_OK;
    size_t lo = 0, hi = 0; /* the current run */
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++) {
        const struct clann_layer *l = &m->layers[i];
        if (l->n_params == 0)
            continue;
        if (l->frozen) {
            st = optimizer_range(m, opt, lo, hi - lo);
            lo = hi = l->w_off + l->n_params;
        } else {
            hi = l->w_off + l->n_params;
        }
    }
    return st ? st : optimizer_range(m, opt, lo, hi - lo);
}

static size_t max_skips(const struct clann_fit_params *p)
{
    return p->max_skips ? p->max_skips : 3;
}

/* The second half of a step, on the (summed) gradients: penalties, noise and clipping, the
 * guard, monitors, the optimizer update and the constraints. */
static enum clann_status apply_update(struct clann_model *m, size_t rows,
                                      struct clann_trainer *t)
{
    const struct clann_fit_params *p = &t->p;
    enum clann_status st = clann__step_prepare_grads(m, t);
    if (st == CLANN_OK)
        st = clann__guard_step(m, t, rows, p->nan_policy == CLANN_NAN_SKIP);
    bool monitored = clann__monitor_due(t, p->monitor_every);
    if (st == CLANN_OK && monitored)
        st = clann__monitor_before_update(m, t, rows);
    if (st != CLANN_OK)
        return st;
    t->step++;
    if (p->schedule.kind == CLANN_SCHEDULE_EXPONENTIAL)
        t->lr = scheduled_lr(m, t, &p->schedule, 0);
    struct clann_opt opt = clann__trainer_opt(m, t); /* the rate and step of this update */
    st = optimizer_steps(m, &opt);
    if (st == CLANN_OK)
        st = clann__embedding_update(m, &opt); /* the rows of this batch only */
    if (st == CLANN_OK)
        st = clann__model_after_update(m, &opt);
    if (st == CLANN_OK && p->nan_policy == CLANN_NAN_SKIP)
        st = clann__guard_skip_count(m, t, max_skips(p));
    return st == CLANN_OK && monitored ? clann__monitor_after_update(m, t) : st;
}

static enum clann_status sum_ranks(struct clann_model *m, float *v, size_t n, void *user)
{
    (void)user;
    return clann__dist_sum_floats(m->ctx, v, n);
}

/* One step on rows [first, first + rows) of the order: across ranks, this rank takes its
 * contiguous share of them (the one-process batch cut in rank order). */
static enum clann_status train_step(struct clann_model *m, const struct clann_matrix *x,
                                    const struct clann_matrix *y, const size_t *order,
                                    size_t first, size_t rows, struct clann_trainer *t)
{
    if (t->p.shards > 1) {
        size_t last = 0;
        enum clann_status st = shard_gradients(m, x, y, order, first, rows, t, &last);
        m->batch_row0 = m->batch_global_rows = 0;
        return st ? st : apply_update(m, last, t);
    }
    size_t ranks = t->dist ? (size_t)clann__dist_size() : 1, rank = (size_t)clann__dist_rank();
    size_t lo = t->dist ? rows * rank / ranks : 0;
    size_t mine = t->dist ? rows * (rank + 1) / ranks - lo : rows;
    m->batch_row0 = lo;
    m->batch_global_rows = t->dist ? rows : 0;
    enum clann_status st = mine ? clann__upload_batch(m, x, y, order, first + lo, mine) : CLANN_OK;
    if (st == CLANN_OK) /* no rows: none of a table's either */
        st = clann__embedding_prepare_batch(m, mine);
    if (st == CLANN_OK && mine && clann__sampled_active(m, true))
        st = t->dist ? clann__dist_sampled_prepare(m, &t->rows, y, order, first, rows, mine,
                                                   t->step)
                     : clann__sampled_prepare(m, mine, NULL, 0, t->step);
    if (t->dist && t->exchange) /* on a failed rank too: its exchange_end sums every bucket */
        clann__exchange_begin(m, t); /* each bucket's sum starts as the backward pass goes */
    m->sum_ranks_calls = 0; /* none of this step's sums over the ranks made yet */
    m->sum_ranks_stopped = m->sum_ranks_peer_failed = false;
    if (t->dist) { /* batch normalization's statistics over the global batch */
        m->sum_ranks = sum_ranks;
        m->sum_ranks_user = t;
    }
    if (st == CLANN_OK && t->dist && mine == 0) /* no rows: zeros to every rank's sums */
        st = clann__batchnorm_dist_idle(m);
    if (st == CLANN_OK)
        st = local_gradients(m, mine, t);
    if (st != CLANN_OK && t->dist && !m->sum_ranks_peer_failed) /* tell the ranks in a sum */
        (void)clann__batchnorm_dist_fail(m); /* st stays this rank's first failure */
    if (m->sum_ranks_peer_failed) /* another rank failed: the agreement below names it */
        st = CLANN_OK;
    m->sum_ranks = NULL;
    if (t->dist)
        st = t->exchange ? clann__exchange_end(m, t, st) : exchange_gradients(m, t, st, true);
    if (st == CLANN_OK && t->dist)
        st = clann__dist_exchange_rows(m, &t->rows);
    if (st == CLANN_OK)
        st = apply_update(m, mine, t);
    m->batch_row0 = m->batch_global_rows = 0;
    return st;
}

/* Virtual shards add whole gradients in shard order; what crosses the shards inside a step
 * (batch statistics, a table's rows, the sampled candidates) is not cut into shards. */
static enum clann_status check_shards(struct clann_model *m, const struct clann_fit_params *p)
{
    const char *why = NULL;
    for (size_t i = 0; i < m->n_layers && p->shards > 1 && !why; i++)
        if (m->layers[i].kind == CLANN__LAYER_BATCHNORM && !m->layers[i].frozen)
            why = "batch normalization with batch statistics";
    if (p->shards > 1 && !why && m->n_emb)
        why = "feature columns (embedding tables)";
    if (p->shards > 1 && !why && clann__sampled_active(m, true))
        why = "sampled softmax and NCE";
    if (why)
        return clann__error(m->ctx, CLANN_ERR_UNSUPPORTED, "fit: virtual shards (%zu) do not "
                            "cover %s", p->shards, why);
    size_t ranks = p->distributed ? (size_t)clann__dist_size() : 1;
    if (p->shards > 1 && p->shards % ranks)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: %zu virtual shards cannot be "
                            "shared by %zu ranks (the ranks must divide them)", p->shards,
                            ranks);
    return CLANN_OK;
}

static enum clann_status check_fit_args(struct clann_model *m, const struct clann_matrix *x,
                                        const struct clann_matrix *y,
                                        const struct clann_matrix *val_x,
                                        const struct clann_matrix *val_y,
                                        const struct clann_fit_params *p)
{
    enum clann_status st = clann__check_data(m, x, y, "training");
    if (st == CLANN_OK && !y)
        st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: training labels are missing");
    if (st == CLANN_OK && (val_x || val_y)) {
        st = clann__check_data(m, val_x, val_y, "validation");
        if (st == CLANN_OK && !val_y)
            st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: validation labels missing");
    }
    if (st == CLANN_OK && p->validation_name && !clann__runlog_name_ok(p->validation_name))
        st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: validation_name '%s' is not 1 "
                          "to 15 letters, digits and '_'", p->validation_name);
    if (st == CLANN_OK && p->batch_size > m->cp.max_batch)
        st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: batch size %zu exceeds the "
                          "compiled max_batch %zu", p->batch_size, m->cp.max_batch);
    if (st == CLANN_OK)
        st = clann__fit_params_check(m->ctx, "fit", p);
    if (st == CLANN_OK && p->label_noise > 0.0f && clann__loss_is_classification(m->cp.loss))
        st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: label noise applies to "
                          "regression targets only");
    return st ? st : check_shards(m, p);
}

/* The first non-finite value of step `bad` (in this epoch), replayed at the weights before it. */
static void diagnose(struct clann_model *m, const struct clann_matrix *x,
                     const struct clann_matrix *y, const size_t *order, struct clann_trainer *t,
                     uint64_t epoch_first_step, uint64_t bad, char *where, size_t size)
{
    size_t first = (size_t)(bad - epoch_first_step - 1) * t->batch;
    size_t rows = x->rows - first < t->batch ? x->rows - first : t->batch;
    clann__guard_diagnose(m, x, y, order, first, rows, bad, where, size);
}

/* After an epoch: a step the NaN guard stopped ends training with a diagnosis; skipped steps
 * beyond the allowance in a row do too, at the step that passed it. */
static enum clann_status check_guard(struct clann_model *m, const struct clann_matrix *x,
                                     const struct clann_matrix *y, const size_t *order,
                                     struct clann_trainer *t, uint64_t epoch_first_step,
                                     size_t epoch)
{
    uint64_t bad, skip_stop;
    enum clann_status st = clann__guard_read(m, &bad, &skip_stop);
    if (st != CLANN_OK)
        return st;
    const char *remedies = "lower the learning rate, clip gradients (--clip-norm), scale the "
                           "features and targets, or add batch normalization";
    char where[256];
    if (t->p.nan_policy == CLANN_NAN_SKIP) {
        size_t allowed = max_skips(&t->p);
        if (skip_stop == 0)
            return CLANN_OK;
        /* steps skip_stop - allowed .. skip_stop were skipped, and every later one */
        diagnose(m, x, y, order, t, epoch_first_step, skip_stop, where, sizeof where);
        t->step = skip_stop - allowed - 1;
        return clann__error(m->ctx, CLANN_ERR_NONFINITE, "%zu steps in a row (steps %llu to "
                            "%llu, epoch %zu) had a non-finite loss or gradient and were "
                            "skipped, more than the %zu allowed: training stopped at step %llu "
                            "(first non-finite: %s); the weights are those after step %llu: %s",
                            allowed + 1, (unsigned long long)(skip_stop - allowed),
                            (unsigned long long)skip_stop, epoch, allowed,
                            (unsigned long long)skip_stop, where, (unsigned long long)t->step,
                            remedies);
    }
    if (bad == 0)
        return CLANN_OK;
    diagnose(m, x, y, order, t, epoch_first_step, bad, where, sizeof where);
    t->step = bad - 1; /* the weights are those after the previous step */
    return clann__error(m->ctx, CLANN_ERR_NONFINITE, "non-finite loss or gradient at step %llu "
                        "(epoch %zu, batch %zu); first non-finite: %s; the weights are those "
                        "after step %llu: %s", (unsigned long long)bad, epoch,
                        (size_t)(bad - epoch_first_step), where, (unsigned long long)(bad - 1),
                        remedies);
}

/* The training loss reported for loss_sum over `rows` rows, the epoch's and the running one:
 * the data loss, as val_loss and evaluate report it (the penalty is logged apart). */
static double training_loss(double loss_sum, size_t rows)
{
    return rows ? loss_sum / (double)rows : NAN;
}

CLANN_API enum clann_status clann_model_running_loss(struct clann_model *m, double *loss)
{
    if (!m || !loss)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "running_loss: model or loss is NULL");
    *loss = NAN;
    struct clann_trainer *t = m->trainer;
    if (!t || !t->in_epoch)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "running_loss: no epoch under way "
                            "(call it from a fit's on_progress)");
    double sum;
    enum clann_status st = clann__peek_loss_sum(m, &sum);
    if (st == CLANN_OK)
        *loss = training_loss(sum, t->epoch_rows);
    return st;
}

/* Runs one epoch over x, y in `order`; fills the training part of *log. */
static enum clann_status run_epoch(struct clann_model *m, const struct clann_matrix *x,
                                   const struct clann_matrix *y, const size_t *order,
                                   struct clann_trainer *t, struct clann_epoch_log *log)
{
    double loss_sum, correct;
    enum clann_status st = clann__read_scalars(m, &loss_sum, &correct); /* clears them */
    uint64_t epoch_first_step = t->step;
    size_t seen = 0;
    t->epoch_rows = 0;
    t->in_epoch = true;
    for (size_t first = 0; first < x->rows && st == CLANN_OK; first += t->batch) {
        if (t->max_step && t->step >= t->max_step)
            break;
        size_t rows = x->rows - first < t->batch ? x->rows - first : t->batch;
        st = train_step(m, x, y, order, first, rows, t);
        seen += rows;
        t->epoch_rows = seen;
        if (st == CLANN_OK && t->p.on_progress)
            t->p.on_progress(log->epoch, (size_t)(t->step - epoch_first_step),
                             (x->rows + t->batch - 1) / t->batch, t->p.user);
    }
    t->in_epoch = false;
    if (t->dist) { /* a rank that failed in a step reports here, at the others' next exchange */
        char what[64];
        snprintf(what, sizeof what, "training epoch %zu", log->epoch);
        st = clann__dist_agree(m->ctx, st, what);
    }
    if (st == CLANN_OK)
        st = check_guard(m, x, y, order, t, epoch_first_step, log->epoch);
    if (st == CLANN_OK)
        st = clann__read_scalars(m, &loss_sum, &correct);
    if (st == CLANN_OK && t->dist) /* the loss sum is global already: summed every step */
        st = clann__dist_sum_doubles(m->ctx, &correct, 1);
    if (st == CLANN_OK && t->p.monitor_every)
        st = clann__monitor_flush(m, t, log->epoch, t->p.on_monitor, t->p.user, t->log);
    if (st == CLANN_OK)
        st = clann__penalty(m, &t->penalty);
    if (st != CLANN_OK)
        return st;
    log->steps = t->step;
    log->loss = training_loss(loss_sum, seen);
    log->penalty = t->penalty;
    log->accuracy = clann__loss_is_classification(m->cp.loss) && seen ? correct / (double)seen
                                                                        : NAN;
    log->learning_rate = t->lr;
    if (!isfinite(log->loss))
        return clann__error(m->ctx, CLANN_ERR_NONFINITE,
                            "training loss became %g in epoch %zu (by step %llu): lower the "
                            "learning rate, clip gradients (--clip-norm), scale the features "
                            "and targets, or add batch normalization", log->loss, log->epoch,
                            (unsigned long long)t->step);
    return CLANN_OK;
}

/* Batches of the training data that re-estimate batch normalization's statistics after each
 * epoch: 50 x 128 rows estimate a mean to about 1% of a standard deviation, for a forward pass
 * per batch (a few percent of a Fashion-MNIST epoch). */
#define BATCHNORM_REFRESH_BATCHES 50

/* Above this many classes val_auc is computed only when early stopping or the plateau
 * schedule watches it: each class costs a sort of the validation scores every epoch. */
#define VAL_AUC_MAX_CLASSES 64

/* ROC AUC of output k of a sigmoid head against label column k; NaN where undefined. */
static double column_auc(const float *p, const float *y, size_t rows, size_t cols, size_t k,
                         float *scores, float *labels)
{
    for (size_t r = 0; r < rows; r++) {
        scores[r] = p[r * cols + k];
        labels[r] = y[r * cols + k];
    }
    double auc;
    return clann_binary_roc_auc(scores, labels, rows, &auc) == CLANN_OK ? auc : NAN;
}

/* val_auc from predictions p: a sigmoid head's ROC AUC (the macro mean over its outputs when
 * there are several, multi-label), a softmax head's macro one-vs-rest AUC. Classes the
 * labels leave undefined (one class only, soft labels) are left out; NaN when none is left. */
static double auc_of(const struct clann_model *m, const float *p, const struct clann_matrix *y,
                     float *scratch)
{
    size_t rows = y->rows, classes = clann_model_output_count(m);
    double auc = NAN;
    if (m->cp.loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY) {
        double sum = 0.0;
        size_t defined = 0;
        for (size_t k = 0; k < classes; k++) {
            double a = column_auc(p, y->data, rows, classes, k, scratch, scratch + rows);
            if (!isnan(a))
                sum += a, defined++;
        }
        return defined ? sum / (double)defined : NAN;
    }
    const float *labels = y->data;
    if (!clann__loss_is_sparse(m->cp.loss)) { /* one-hot or soft labels: their argmax */
        for (size_t r = 0; r < rows; r++) {
            size_t best = 0;
            for (size_t k = 1; k < classes; k++)
                best = y->data[r * classes + k] > y->data[r * classes + best] ? k : best;
            scratch[r] = (float)best;
        }
        labels = scratch;
    }
    if (clann_multiclass_roc_auc(p, labels, rows, classes, NULL, &auc) != CLANN_OK)
        auc = NAN; /* undefined for these labels: not an error of the fit */
    return auc;
}

static bool watches_auc(const struct clann_fit_params *p)
{
    bool stops = p->early_stopping.enabled ||
                 (p->checkpoint_path && p->save_best_only && !p->checkpoint_monitor);
    const char *es = stops ? p->early_stopping.monitor : NULL;
    const char *pl = p->schedule.kind == CLANN_SCHEDULE_PLATEAU ? p->schedule.monitor : NULL;
    const char *ck = p->checkpoint_path && p->save_best_only ? p->checkpoint_monitor : NULL;
    return (es && strcmp(es, "val_auc") == 0) || (pl && strcmp(pl, "val_auc") == 0) ||
           (ck && strcmp(ck, "val_auc") == 0);
}

/* Fraction of a multi-label head's (row, label) pairs whose p >= 0.5 agrees with the label. */
static double hamming_accuracy(const float *p, const struct clann_matrix *y)
{
    size_t n = y->rows * y->cols, right = 0;
    for (size_t i = 0; i < n; i++)
        right += (p[i] >= 0.5f) == (y->data[i] == 1.0f);
    return (double)right / (double)n;
}

/* ROC AUC of a classifier on the validation data (see auc_of), NaN for other heads; and a
 * multi-label head's hamming accuracy, NaN for other heads. */
static enum clann_status validation_auc(struct clann_model *m, const struct clann_matrix *x,
                                        const struct clann_matrix *y,
                                        const struct clann_fit_params *fp, double *auc,
                                        double *hamming)
{
    *auc = *hamming = NAN;
    size_t classes = clann_model_output_count(m);
    bool sigmoid = m->cp.loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY;
    bool softmax = m->cp.loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY ||
                   clann__loss_is_sparse(m->cp.loss);
    if (!(sigmoid || softmax) || (classes > VAL_AUC_MAX_CLASSES && !watches_auc(fp)))
        return CLANN_OK;
    struct clann_matrix p;
    enum clann_status st = clann_model_predict(m, x, &p);
    float *scratch = st == CLANN_OK ? clann__malloc(2 * y->rows * sizeof *scratch) : NULL;
    if (st == CLANN_OK && !scratch)
        st = clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory for val_auc");
    if (st == CLANN_OK)
        *auc = auc_of(m, p.data, y, scratch);
    if (st == CLANN_OK && sigmoid && classes > 1)
        *hamming = hamming_accuracy(p.data, y);
    clann__free(scratch);
    clann_matrix_free(&p);
    return st;
}

/* Across ranks, rank 0 alone writes checkpoints and the run log: the others hold the same. */
static bool writes_files(const struct clann_trainer *t)
{
    return !t->dist || clann__dist_rank() == 0;
}

/* FNV-1a over the bits of n floats of v, carried on from *hash. */
static enum clann_status hash_view(struct clann_model *m, struct clann_view v, size_t n,
                                   uint64_t *hash)
{
    float *host = clann__malloc((n ? n : 1) * sizeof *host);
    if (!host)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory");
    enum clann_status st = clann__op_download(m->be, host, v, n);
    if (st == CLANN_OK) /* chained: the last hash seeds the next */
        *hash = (uint64_t)XXH64(host, n * sizeof *host, *hash);
    clann__free(host);
    return st;
}

/* The hash of the parameters and the embedding tables: equal on every rank when they start
 * alike. */
static enum clann_status params_hash(struct clann_model *m, uint64_t *hash)
{
    *hash = 0;
    enum clann_status st = hash_view(m, clann__view(&m->params, 0), m->n_params, hash);
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++)
        st = hash_view(m, clann__view(&m->emb[k].table, 0), m->emb[k].table.n, hash);
    return st;
}

/* Where the gradients are summed: over the ranks in buckets as the backward pass goes
 * (exchange.h), or the whole buffer at once (CLANN_DIST_OVERLAP=0), or with virtual shards,
 * every shard's block over the ranks or within this process. */
static enum clann_status sums_setup(struct clann_model *m, struct clann_trainer *t)
{
    size_t ranks = t->dist ? (size_t)clann__dist_size() : 1;
    if (t->p.shards > 1) /* this rank's shards, checked to divide (check_shards) */
        return clann__reducer_init(m->ctx, &t->reduce, m->n_params + 1, t->p.shards / ranks,
                                   t->dist);
    if (!t->dist)
        return CLANN_OK;
    enum clann_status st = clann__exchange_setup(m, t);
    if (st == CLANN_OK && !t->exchange) /* CLANN_DIST_OVERLAP=0: the whole buffer at once */
        st = clann__reducer_init(m->ctx, &t->reduce, m->n_params + 1, 1, true);
    return st;
}

/* Before the first step across ranks: every rank must train the same model from the same
 * weights on the same data with the same options; any difference is named at the start
 * instead of showing as a wrong model or a hang later. */
static enum clann_status dist_start(struct clann_model *m, const struct clann_matrix *x,
                                    const struct clann_matrix *val_x, struct clann_trainer *t)
{
    static const char *const names[] = {
        "parameter count", "input columns", "training rows", "validation rows", "batch size",
        "epochs", "max steps", "seed", "shuffle", "optimizer step", "learning rate",
        "initial weights", "loss", "optimizer"};
    uint64_t v[14] = {m->n_params, x->cols, x->rows, val_x ? val_x->rows : 0, t->batch,
                      t->p.epochs, t->p.max_steps, m->cp.seed, t->p.shuffle, t->step, 0, 0,
                      (uint64_t)m->cp.loss, (uint64_t)m->cp.optimizer.kind};
    uint32_t lr_bits;
    memcpy(&lr_bits, &t->lr, sizeof lr_bits);
    v[10] = lr_bits;
    enum clann_status st = params_hash(m, &v[11]);
    st = clann__dist_agree(m->ctx, st, "reading its weights");
    if (st == CLANN_OK)
        st = clann__dist_check_same(m->ctx, v, 14, names);
    if (st == CLANN_OK)
        st = sums_setup(m, t);
    return st ? st : clann__dist_rows_init(m, &t->rows);
}

/* The exchange's buffers go with the fit: shared ones are freed collectively (dist.h), which
 * every rank can do here, and not reliably when each rank frees its model. */
static void sums_end(struct clann_trainer *t)
{
    clann__exchange_free(t->exchange);
    t->exchange = NULL;
    clann__reducer_free(&t->reduce);
}

static enum clann_status fit_setup(struct clann_model *m, const struct clann_fit_params *params,
                                   bool has_validation, size_t n_rows, struct clann_trainer *t)
{
    /* One fit call's state starts afresh; the step and the learning rate carry on. */
    t->p = params ? *params : clann_fit_default_params();
    t->batch = t->p.batch_size ? t->p.batch_size : m->cp.max_batch;
    t->first_step = t->step;
    t->max_step = t->p.max_steps ? t->step + t->p.max_steps : 0;
    t->has_validation = has_validation;
    memset(&t->stop, 0, sizeof t->stop);
    memset(&t->plateau, 0, sizeof t->plateau);
    memset(&t->best_save, 0, sizeof t->best_save);
    t->penalty = 0.0;
    t->log = NULL;
    const struct clann_early_stopping *es = &t->p.early_stopping;
    enum clann_status st = CLANN_OK;
    bool best_only = t->p.checkpoint_path && t->p.save_best_only;
    if (es->enabled || (best_only && !t->p.checkpoint_monitor))
        st = clann__watch_init(m->ctx, &t->stop, es->monitor, es->mode, es->min_delta,
                               es->enabled ? es->baseline : NAN, has_validation);
    /* Best-only checkpoints on a monitor of their own: a watch of their own. */
    if (st == CLANN_OK && best_only && t->p.checkpoint_monitor)
        st = clann__watch_init(m->ctx, &t->best_save, t->p.checkpoint_monitor, CLANN_MODE_AUTO,
                               0.0, NAN, has_validation);
    if (st == CLANN_OK && t->p.schedule.kind == CLANN_SCHEDULE_PLATEAU)
        st = clann__watch_init(m->ctx, &t->plateau, t->p.schedule.monitor, CLANN_MODE_AUTO, 0.0,
                               NAN, has_validation);
    if (st == CLANN_OK && t->p.weight_noise > 0.0f && !t->backup.ptr)
        st = clann__buf_create(m->be, m->params.n, &t->backup);
    if (st == CLANN_OK && es->enabled && es->restore_best && !t->best.ptr)
        st = clann__buf_create(m->be, m->params.n, &t->best);
    size_t steps = (n_rows + t->batch - 1) / t->batch;
    if (st == CLANN_OK && t->p.monitor_every)
        st = clann__monitors_setup(m, t, t->p.monitor_every, steps);
    if (st == CLANN_OK && t->p.logdir && writes_files(t))
        st = clann__runlog_open(m->ctx, t->p.logdir, t->p.validation_name, m->n_layers,
                                &t->log);
    uint64_t bad, skip_stop;
    return st ? st : clann__guard_read(m, &bad, &skip_stop); /* a fresh guard */
}

/* Between epochs: schedules, checkpoints and early stopping. Sets *stop to end training. */
static enum clann_status end_of_epoch(struct clann_model *m, struct clann_trainer *t,
                                      struct clann_epoch_log *log, bool *stop)
{
    const struct clann_fit_params *p = &t->p;
    enum clann_status st = CLANN_OK;
    bool improved = false;
    if (t->stop.name) {
        improved = clann__watch_update(&t->stop, log);
        log->best_epoch = t->stop.best_epoch;
        if (improved && p->early_stopping.enabled && p->early_stopping.restore_best)
            st = keep_best(m, t, false); /* the best weights so far */
        *stop = p->early_stopping.enabled && t->stop.wait >= p->early_stopping.patience &&
                p->early_stopping.patience > 0;
    }
    if (st == CLANN_OK && p->schedule.kind == CLANN_SCHEDULE_PLATEAU &&
        !clann__watch_update(&t->plateau, log) && t->plateau.wait >= p->schedule.patience) {
        float lr = t->lr * p->schedule.factor;
        t->lr = lr > p->schedule.min_lr ? lr : p->schedule.min_lr;
        t->plateau.wait = 0;
    }
    if (t->best_save.name)
        improved = clann__watch_update(&t->best_save, log);
    bool periodic = p->checkpoint_every && log->epoch % p->checkpoint_every == 0;
    if (st == CLANN_OK && p->checkpoint_path && (p->save_best_only ? improved : periodic) &&
        writes_files(t))
        st = clann_model_save(m, p->checkpoint_path);
    return st;
}

CLANN_API enum clann_status clann_model_fit(struct clann_model *m, const struct clann_matrix *x,
                                            const struct clann_matrix *y,
                                            const struct clann_matrix *val_x,
                                            const struct clann_matrix *val_y,
                                            const struct clann_fit_params *params,
                                            struct clann_epoch_log *last)
{
    struct clann_fit_params defaults = clann_fit_default_params();
    enum clann_status st = check_fit_args(m, x, y, val_x, val_y, params ? params : &defaults);
    if (st == CLANN_OK) /* the model carries its training options into its spec */
        st = clann__training_set(m->ctx, "fit", &m->training, params ? params : &defaults);
    bool dist = params && params->distributed && clann__dist_size() > 1;
    if (dist) /* a rank with bad data or options stops them all here, named */
        st = clann__dist_agree(m ? m->ctx : NULL, st, "checking its data and options");
    if (st != CLANN_OK)
        return st;
    struct clann_trainer *t;
    if ((st = clann__trainer_get(m, &t)) != CLANN_OK)
        return st;
    size_t *order = clann__malloc(x->rows * sizeof *order);
    if (!order)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory");
    for (size_t i = 0; i < x->rows; i++)
        order[i] = i;
    t->dist = dist;
    /* The run reads the record's strings: params' may have pointed into the record it
     * replaced (a caller fitting with clann_model_fit_params()' borrowed strings). */
    const struct clann_fit_params *given = params ? params : &defaults;
    struct clann_fit_params run = m->training.p;
    run.on_epoch = given->on_epoch;
    run.on_progress = given->on_progress;
    run.on_monitor = given->on_monitor;
    run.user = given->user;
    st = fit_setup(m, &run, val_x != NULL, x->rows, t);
    if (dist)
        st = clann__dist_agree(m->ctx, st, "setting up the fit");
    if (st == CLANN_OK && dist)
        st = dist_start(m, x, val_x, t);
    else if (st == CLANN_OK)
        st = sums_setup(m, t);
    /* A step schedule counts the epochs the model has trained, as the exponential one counts
     * its steps: a resumed run (or a model fitted an epoch per call) goes on where it was. */
    size_t steps_per_epoch = (x->rows + t->batch - 1) / t->batch;
    size_t epochs_before = steps_per_epoch ? (size_t)(t->first_step / steps_per_epoch) : 0;
    bool stop = false;
    for (size_t epoch = 1; epoch <= t->p.epochs && st == CLANN_OK && !stop; epoch++) {
        if (t->max_step && t->step >= t->max_step)
            break;
        double t0 = clann__now();
        struct clann_epoch_log log = {epoch, 0, NAN, NAN, NAN, NAN, 0.0, 0.0, 0, NAN, NAN, 0.0};
        if (t->p.schedule.kind == CLANN_SCHEDULE_STEP)
            t->lr = scheduled_lr(m, t, &t->p.schedule, epochs_before + epoch);
        if (t->p.shuffle)
            shuffle_order(order, x->rows, m->cp.seed, t->step); /* step: resumable order */
        st = run_epoch(m, x, y, order, t, &log);
        if (st == CLANN_OK && !t->p.no_batchnorm_refresh)
            st = clann__batchnorm_refresh(m, x, order, t->batch, BATCHNORM_REFRESH_BATCHES,
                                          t->step);
        if (st == CLANN_OK && val_x) {
            struct clann_metrics vm;
            st = clann_model_evaluate(m, val_x, val_y, &vm);
            log.val_loss = vm.loss; /* equal to evaluate's loss on the same data */
            log.val_accuracy = vm.accuracy;
            if (st == CLANN_OK)
                st = validation_auc(m, val_x, val_y, &t->p, &log.val_auc,
                                    &log.val_hamming_accuracy);
        }
        if (st == CLANN_OK)
            st = end_of_epoch(m, t, &log, &stop);
        log.seconds = clann__now() - t0;
        if (st == CLANN_OK && t->log)
            st = clann__runlog_epoch(t->log, &log);
        if (dist) { /* rank 0's checkpoint or log failing stops every rank */
            char what[64];
            snprintf(what, sizeof what, "ending epoch %zu", epoch);
            st = clann__dist_agree(m->ctx, st, what);
        }
        if (st == CLANN_OK && last)
            *last = log;
        if (st == CLANN_OK && t->p.on_epoch && !t->p.on_epoch(&log, t->p.user))
            break;
    }
    sums_end(t); /* every rank leaves the epochs together (their statuses are agreed) */
    /* Restore the best weights whether training stopped early or ran out of epochs. */
    if (st == CLANN_OK && t->p.early_stopping.enabled && t->p.early_stopping.restore_best &&
        t->stop.best_epoch)
        st = keep_best(m, t, true);
    enum clann_status close_st = clann__runlog_close(t->log);
    t->log = NULL;
    clann__free(order);
    return st ? st : close_st;
}
