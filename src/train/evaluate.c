/*
 * evaluate.c - evaluation: the loss and accuracy of a model on labelled data, in inference
 * mode.
 */
#include "nn/batch.h"
#include "nn/loss.h"

#include <math.h>
#include <string.h>

static struct clann_view none(void)
{
    return clann__view(NULL, 0);
}

CLANN_API enum clann_status clann_model_evaluate(struct clann_model *m,
                                                 const struct clann_matrix *x,
                                                 const struct clann_matrix *y,
                                                 struct clann_metrics *out)
{
    if (!out)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "evaluate: out is NULL");
    enum clann_status st = clann__check_data(m, x, y, "evaluation");
    double loss_sum, correct;
    if (st == CLANN_OK)
        st = clann__read_scalars(m, &loss_sum, &correct); /* clears them */
    for (size_t first = 0; first < x->rows && st == CLANN_OK; first += m->cp.max_batch) {
        size_t rows = x->rows - first < m->cp.max_batch ? x->rows - first : m->cp.max_batch;
        struct clann_view pred;
        st = clann__upload_batch(m, x, y, NULL, first, rows);
        if (st == CLANN_OK)
            st = clann__model_forward(m, rows, false, 0, &pred);
        if (st == CLANN_OK)
            st = clann__batch_loss(m, pred, rows, none());
    }
    if (st == CLANN_OK)
        st = clann__read_scalars(m, &loss_sum, &correct);
    if (st != CLANN_OK)
        return st;
    out->count = x->rows;
    out->loss = loss_sum / (double)x->rows;
    out->accuracy = clann__loss_is_classification(m->cp.loss) ? correct / (double)x->rows : NAN;
    return CLANN_OK;
}
