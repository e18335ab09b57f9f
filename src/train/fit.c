/*
 * fit.c - the training loop. One step enqueues upload -> forward -> loss -> backward ->
 * optimizer update with no read-back; the loss and correct counts accumulate on the device and
 * are read once per epoch (DESIGN.md decision 3).
 */
#include "train/batch.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

CLANN_API struct clann_fit_params clann_fit_default_params(void)
{
    struct clann_fit_params p;
    memset(&p, 0, sizeof p);
    p.epochs = 10;
    p.shuffle = true;
    return p;
}

/* Fisher-Yates shuffle driven by the shuffle stream: the same seed and epoch give the same
 * order on every device. j = floor(u32 * (i + 1) / 2^32) (Lemire's multiply-shift; its bias is
 * below 2^-32 * n). */
static void shuffle_order(size_t *order, size_t n, uint64_t seed, uint64_t epoch)
{
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i-- > 1;) {
        uint64_t bits = clann__rng_bits(seed, CLANN__RNG_STREAM_SHUFFLE, epoch * n + i);
        size_t j = (size_t)((bits * (uint64_t)(i + 1)) >> 32);
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static enum clann_status train_step(struct clann_model *m, size_t rows)
{
    struct clann_backend *be = m->be;
    struct clann_view pred;
    enum clann_status st = clann__model_forward(m, rows, true, &pred);
    if (st == CLANN_OK)
        st = clann__batch_loss(m, pred, rows, clann__layer_dy(m, m->n_layers - 1));
    if (st == CLANN_OK)
        st = clann__model_backward(m, rows);
    if (st != CLANN_OK)
        return st;
    m->step++;
    m->opt.step = m->step;
    return be->ops->optimizer_step(be, &m->opt, clann__view(&m->params, 0),
                                   clann__view(&m->grads, 0), clann__view(&m->state1, 0),
                                   clann__view(&m->state2, 0), m->n_params);
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
    if (st == CLANN_OK && p->batch_size > m->cp.max_batch)
        st = clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "fit: batch size %zu exceeds the "
                          "compiled max_batch %zu", p->batch_size, m->cp.max_batch);
    return st;
}

/* Runs one epoch over x, y in `order`; fills the training part of *log. */
static enum clann_status run_epoch(struct clann_model *m, const struct clann_matrix *x,
                                   const struct clann_matrix *y, const size_t *order,
                                   size_t batch, size_t max_steps, struct clann_epoch_log *log)
{
    double loss_sum, correct;
    enum clann_status st = clann__read_scalars(m, &loss_sum, &correct); /* clears them */
    size_t seen = 0;
    for (size_t first = 0; first < x->rows && st == CLANN_OK; first += batch) {
        if (max_steps && m->step >= max_steps)
            break;
        size_t rows = x->rows - first < batch ? x->rows - first : batch;
        st = clann__upload_batch(m, x, y, order, first, rows);
        if (st == CLANN_OK)
            st = train_step(m, rows);
        seen += rows;
    }
    if (st == CLANN_OK)
        st = clann__read_scalars(m, &loss_sum, &correct);
    if (st != CLANN_OK)
        return st;
    log->steps = m->step;
    log->loss = seen ? loss_sum / (double)seen : NAN;
    log->accuracy = clann__loss_is_classification(m->cp.loss) && seen ? correct / (double)seen
                                                                        : NAN;
    if (!isfinite(log->loss))
        return clann__error(m->ctx, CLANN_ERR_NONFINITE,
                            "training loss became %g in epoch %zu (by step %llu): lower the "
                            "learning rate, clip gradients (--clip-norm), scale the features "
                            "and targets, or add batch normalization", log->loss, log->epoch,
                            (unsigned long long)m->step);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_fit(struct clann_model *m, const struct clann_matrix *x,
                                            const struct clann_matrix *y,
                                            const struct clann_matrix *val_x,
                                            const struct clann_matrix *val_y,
                                            const struct clann_fit_params *params,
                                            struct clann_epoch_log *last)
{
    struct clann_fit_params p = params ? *params : clann_fit_default_params();
    enum clann_status st = check_fit_args(m, x, y, val_x, val_y, &p);
    if (st != CLANN_OK)
        return st;
    size_t batch = p.batch_size ? p.batch_size : m->cp.max_batch;
    size_t *order = clann__malloc(x->rows * sizeof *order);
    if (!order)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory");
    for (size_t i = 0; i < x->rows; i++)
        order[i] = i;
    uint64_t first_step = m->step;
    for (size_t epoch = 1; epoch <= p.epochs && st == CLANN_OK; epoch++) {
        if (p.max_steps && m->step - first_step >= p.max_steps)
            break;
        double t0 = clann__now();
        struct clann_epoch_log log = {epoch, 0, NAN, NAN, NAN, NAN, 0.0};
        if (p.shuffle)
            shuffle_order(order, x->rows, m->cp.seed, m->step); /* step: resumable order */
        st = run_epoch(m, x, y, order, batch, p.max_steps ? first_step + p.max_steps : 0, &log);
        if (st == CLANN_OK && val_x) {
            struct clann_metrics vm;
            st = clann_model_evaluate(m, val_x, val_y, &vm);
            log.val_loss = vm.loss;
            log.val_accuracy = vm.accuracy;
        }
        log.seconds = clann__now() - t0;
        if (st == CLANN_OK && last)
            *last = log;
        if (st == CLANN_OK && p.on_epoch && !p.on_epoch(&log, p.user))
            break;
    }
    clann__free(order);
    return st;
}
