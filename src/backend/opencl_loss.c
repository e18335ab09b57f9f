/*
 * opencl_loss.c - the ops of cl/loss.cl: losses and classification counts.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Losses, reductions, metrics.
 */
enum clann_status op_loss(struct clann_backend *be_, const struct clann__loss *loss,
                          struct clann_view pred, struct clann_view labels, size_t rows,
                          size_t cols, struct clann_view row_loss, struct clann_view grad,
                          float grad_scale)
{
    size_t n;
    CHECK(check_matrix(be_, "loss", rows, cols, &n));
    if (rows == 0)
        return CLANN_OK;
    if (cols == 0)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "loss: zero columns");
    struct kargs a = ka_begin(cl_be(be_), K_LOSS);
    ka_view(&a, pred);
    ka_view(&a, labels);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_i32(&a, (int)loss->kind);
    ka_f32(&a, loss->huber_delta);
    ka_view(&a, row_loss);
    ka_view(&a, grad);
    ka_i32(&a, grad.buf != NULL);
    ka_f32(&a, grad_scale);
    return LAUNCH_1D(&a, rows);
}

/* GPU forms, batches up to LOSS_BATCH_ROWS_PER_ITEM rows a work-item: one launch for loss, sum
 * and count_correct (each a launch of its own otherwise, the sum two). */
enum clann_status op_loss_batch(struct clann_backend *be_, const struct clann__loss *loss,
                                struct clann_view pred, struct clann_view labels, size_t rows,
                                size_t cols, struct clann_view row_loss, struct clann_view grad,
                                float grad_scale, struct clann_view sum, float sum_beta,
                                struct clann_view correct, int rule)
{
    struct cl_backend *be = cl_be(be_);
    size_t n, local = be->wgs[K_LOSS_BATCH];
    CHECK(check_matrix(be_, "loss_batch", rows, cols, &n));
    if (be->cpu_device || rows > LOSS_BATCH_ROWS_PER_ITEM * local) {
        CHECK(op_loss(be_, loss, pred, labels, rows, cols, row_loss, grad, grad_scale));
        CHECK(op_sum(be_, row_loss, rows, 1.0f, sum, sum_beta));
        return correct.buf ? op_count_correct(be_, pred, labels, rule, rows, cols,
                                              correct, 1.0f)
                           : CLANN_OK;
    }
    struct kargs a = ka_begin(be, K_LOSS_BATCH);
    ka_view(&a, pred);
    ka_view(&a, labels);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_i32(&a, (int)loss->kind);
    ka_f32(&a, loss->huber_delta);
    ka_view(&a, row_loss);
    ka_view(&a, grad);
    ka_i32(&a, grad.buf != NULL);
    ka_f32(&a, grad_scale);
    ka_view(&a, sum);
    ka_f32(&a, sum_beta);
    ka_i32(&a, correct.buf != NULL);
    ka_i32(&a, rule);
    ka_view(&a, correct);
    ka_local_floats(&a, local);
    return LAUNCH(&a, 1, &local, &local);
}

enum clann_status op_count_correct(struct clann_backend *be_, struct clann_view pred,
                                   struct clann_view labels, int rule, size_t rows,
                                   size_t cols, struct clann_view correct, float beta)
{
    struct cl_backend *be = cl_be(be_);
    size_t n;
    CHECK(check_matrix(be_, "count_correct", rows, cols, &n));
    if (rows > 0 && cols == 0)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "count_correct: zero columns");
    if (rows == 0)
        pred = labels = correct;
    /* one work-item on CPU devices: the rows are few and a group's barriers cost more */
    size_t local = be->cpu_device ? 1 : be->wgs[K_COUNT_CORRECT];
    struct kargs a = ka_begin(be, K_COUNT_CORRECT);
    ka_view(&a, pred);
    ka_view(&a, labels);
    ka_i32(&a, rule);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, correct);
    ka_f32(&a, beta);
    ka_local_floats(&a, local);
    return LAUNCH(&a, 1, &local, &local);
}

