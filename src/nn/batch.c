/*
 * batch.c - checks of user data against the model and batch assembly: rows gathered into the
 * host staging ring, scaled and uploaded. Fit, evaluate and predict all feed the network
 * through these.
 */
#include "nn/batch.h"
#include "nn/embedding.h"

#include <math.h>
#include <string.h>

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
    enum clann_status st = m->staging_slot == 0 ? clann__op_finish(be) : CLANN_OK;
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
    st = clann__op_upload(be, clann__view(&m->input, 0), m->staging_x, rows * xc, false);
    if (st == CLANN_OK && y)
        st = clann__op_upload(be, clann__view(&m->labels, 0), m->staging_y, rows * yc, false);
    return st;
}
