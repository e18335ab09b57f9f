/*
 * predict.c - prediction: a forward pass in inference mode, the probability head of
 * cross-entropy losses, and the targets' scaling undone.
 */
#include "nn/batch.h"

#include <string.h>

static struct clann_view none(void)
{
    return clann__view(NULL, 0);
}

/* The probability head for cross-entropy losses: softmax or sigmoid of the logits. */
static enum clann_status output_head(struct clann_model *m, struct clann_view logits,
                                     size_t rows, struct clann_view *out)
{
    enum clann__act_kind kind;
    if (m->cp.loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY)
        kind = CLANN__ACT_SIGMOID;
    else if (m->cp.loss == CLANN_LOSS_SOFTMAX_CROSS_ENTROPY ||
             clann__loss_is_sparse(m->cp.loss))
        kind = CLANN__ACT_SOFTMAX;
    else {
        *out = logits;
        return CLANN_OK;
    }
    struct clann_act act;
    memset(&act, 0, sizeof act);
    act.kind = kind;
    *out = clann__layer_dy(m, m->n_layers - 1); /* free in inference */
    return clann__op_bias_act_forward(m->be, &act, logits, none(), none(), *out, rows,
                                        clann_model_output_count(m));
}

CLANN_API enum clann_status clann_model_predict(struct clann_model *m,
                                                const struct clann_matrix *x,
                                                struct clann_matrix *out)
{
    if (!out)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "predict: out is NULL");
    memset(out, 0, sizeof *out);
    enum clann_status st = clann__check_data(m, x, NULL, "prediction");
    if (st != CLANN_OK)
        return st;
    size_t cols = clann_model_output_count(m);
    if ((st = clann_matrix_create(x->rows, cols, out)) != CLANN_OK)
        return clann__error(m->ctx, st, "predict: cannot allocate %zu x %zu outputs", x->rows,
                            cols);
    for (size_t first = 0; first < x->rows && st == CLANN_OK; first += m->cp.max_batch) {
        size_t rows = x->rows - first < m->cp.max_batch ? x->rows - first : m->cp.max_batch;
        struct clann_view pred;
        st = clann__upload_batch(m, x, NULL, NULL, first, rows);
        if (st == CLANN_OK)
            st = clann__model_forward(m, rows, false, 0, &pred);
        if (st == CLANN_OK)
            st = output_head(m, pred, rows, &pred);
        if (st == CLANN_OK)
            st = clann__op_download(m->be, out->data + first * cols, pred, rows * cols);
        for (size_t r = 0; st == CLANN_OK && r < rows; r++)
            clann__scaler_invert(&m->out_scaler, out->data + (first + r) * cols);
    }
    if (st != CLANN_OK)
        clann_matrix_free(out);
    return st;
}
