/*
 * evaluate.c - data checks, batch upload, evaluation and prediction in inference mode.
 */
#include "train/batch.h"
#include "nn/embedding.h"
#include "nn/sampled.h"

#include <math.h>
#include <string.h>

static struct clann_view none(void)
{
    return clann__view(NULL, 0);
}

enum clann_status clann__check_data(struct clann_model *m, const struct clann_matrix *x,
                                    const struct clann_matrix *y, const char *what)
{
    if (!m || !m->compiled)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_STATE, "the model is not compiled");
    if (!x || !x->data || x->rows == 0)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "%s data is empty", what);
    if (x->cols != m->n_inputs)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "%s data has %zu feature columns; the model "
                            "takes %zu", what, x->cols, m->n_inputs);
    for (size_t i = 0; i < x->rows * x->cols; i++) {
        if (!isfinite(x->data[i]))
            return clann__error(m->ctx, CLANN_ERR_NONFINITE, "%s features: row %zu, column %zu "
                                "is %g (fill or drop it before training)", what,
                                i / x->cols + 1, i % x->cols + 1, (double)x->data[i]);
    }
    enum clann_status st = clann__features_check_ids(m, x, what);
    if (st != CLANN_OK || !y)
        return st;
    size_t label_cols = clann__model_label_cols(m);
    if (!y->data || y->rows != x->rows || y->cols != label_cols)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "%s labels are %zu x %zu; expected %zu x %zu "
                            "(%s)", what, y->rows, y->cols, x->rows, label_cols,
                            label_cols == 1 && clann__loss_is_sparse(m->cp.loss)
                                ? "one class index per row" : "one column per output");
    size_t classes = clann_model_output_count(m);
    for (size_t i = 0; i < y->rows * y->cols; i++) {
        float v = y->data[i];
        if (!isfinite(v))
            return clann__error(m->ctx, CLANN_ERR_NONFINITE, "%s labels: row %zu is %g", what,
                                i / y->cols + 1, (double)v);
        if (clann__loss_is_sparse(m->cp.loss) &&
            (v < 0.0f || v >= (float)classes || v != floorf(v)))
            return clann__error(m->ctx, CLANN_ERR_FORMAT, "%s labels: row %zu holds %g, not a "
                                "class index in 0..%zu", what, i + 1, (double)v, classes - 1);
    }
    return CLANN_OK;
}

enum clann_status clann__upload_batch(struct clann_model *m, const struct clann_matrix *x,
                                      const struct clann_matrix *y, const size_t *order,
                                      size_t first, size_t rows)
{
    size_t xc = x->cols, yc = y ? y->cols : 0;
    /* Batches rotate through the staging slots and upload without waiting, so the host builds
     * the next batch while the device still runs this one. A slot is written again only after
     * the finish() that opens each round of slots, when its earlier upload is surely done. */
    struct clann_backend *be = m->be;
    enum clann_status st = m->staging_slot == 0 ? be->ops->finish(be) : CLANN_OK;
    if (st != CLANN_OK)
        return st;
    m->staging_x = m->staging_x_ring + m->staging_slot * m->cp.max_batch * m->n_inputs;
    m->staging_y = m->staging_y_ring + m->staging_slot * m->cp.max_batch * clann__model_label_cols(m);
    m->batch_slot = m->staging_slot;
    m->staging_slot = (m->staging_slot + 1) % CLANN__STAGING_SLOTS;
    /* With feature columns the scaler covers the numeric features only, not the id slots. */
    struct clann_scaler in = m->in_scaler;
    if (m->features && in.n > m->features->n_numeric)
        in.n = m->features->n_numeric;
    for (size_t r = 0; r < rows; r++) {
        size_t src = order ? order[first + r] : first + r;
        memcpy(m->staging_x + r * xc, x->data + src * xc, xc * sizeof(float));
        clann__scaler_apply(&in, m->staging_x + r * xc);
        if (y) {
            memcpy(m->staging_y + r * yc, y->data + src * yc, yc * sizeof(float));
            clann__scaler_apply(&m->out_scaler, m->staging_y + r * yc);
        }
    }
    st = be->ops->upload(be, clann__view(&m->input, 0), m->staging_x, rows * xc, false);
    if (st == CLANN_OK && y)
        st = be->ops->upload(be, clann__view(&m->labels, 0), m->staging_y, rows * yc, false);
    return st;
}

enum clann_status clann__batch_loss(struct clann_model *m, struct clann_view pred, size_t rows,
                                    struct clann_view grad)
{
    struct clann_backend *be = m->be;
    bool training = grad.buf != NULL;
    /* In training, sampled softmax's logits are the candidates' alone (nn/sampled.c). */
    size_t cols = clann__sampled_active(m, training) ? m->n_cand : clann_model_output_count(m);
    struct clann_view labels = clann__view(&m->labels, 0);
    enum clann_status st = be->ops->loss(be, &m->loss, pred, labels, rows, cols,
                                         clann__view(&m->row_loss, 0), grad, 1.0f / (float)rows);
    /* Training sums the batch apart, for the NaN guard to vet before it joins the epoch's. */
    if (st == CLANN_OK)
        st = be->ops->sum(be, clann__view(&m->row_loss, 0), rows, 1.0f,
                          clann__view(&m->scalars, training ? CLANN__SCALAR_BATCH
                                                            : CLANN__SCALAR_LOSS),
                          training ? 0.0f : 1.0f);
    if (st == CLANN_OK && clann__loss_is_classification(m->cp.loss))
        st = be->ops->count_correct(be, pred, labels,
                                    clann__loss_is_sparse(m->cp.loss), rows,
                                    cols, clann__view(&m->scalars, CLANN__SCALAR_CORRECT), 1.0f);
    return st;
}

enum clann_status clann__read_scalars(struct clann_model *m, double *loss_sum, double *correct)
{
    float s[2];
    struct clann_backend *be = m->be;
    enum clann_status st = be->ops->download(be, s, clann__view(&m->scalars, 0), 2);
    if (st == CLANN_OK)
        st = be->ops->fill(be, clann__view(&m->scalars, 0), 2, 0.0f);
    *loss_sum = s[0];
    *correct = s[1];
    return st;
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
            st = clann__model_forward(m, rows, false, &pred);
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
    return m->be->ops->bias_act_forward(m->be, &act, logits, none(), none(), *out, rows,
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
            st = clann__model_forward(m, rows, false, &pred);
        if (st == CLANN_OK)
            st = output_head(m, pred, rows, &pred);
        if (st == CLANN_OK)
            st = m->be->ops->download(m->be, out->data + first * cols, pred, rows * cols);
        for (size_t r = 0; st == CLANN_OK && r < rows; r++)
            clann__scaler_invert(&m->out_scaler, out->data + (first + r) * cols);
    }
    if (st != CLANN_OK)
        clann_matrix_free(out);
    return st;
}
