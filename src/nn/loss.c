/*
 * loss.c - the loss of a batch: the per-row loss and its gradient, the batch's sums in the
 * device scalars, and their read-back.
 */
#include "nn/loss.h"
#include "nn/sampled.h"

/* A multi-label (sigmoid) head's accuracy is the exact match of every label, as sklearn's
 * accuracy_score on label-indicator rows; softmax heads compare the argmax. */
static int count_rule(enum clann_loss loss)
{
    if (loss == CLANN_LOSS_SIGMOID_CROSS_ENTROPY)
        return CLANN__COUNT_MULTILABEL;
    return clann__loss_is_sparse(loss) ? CLANN__COUNT_SPARSE : CLANN__COUNT_ARGMAX;
}

enum clann_status clann__batch_loss(struct clann_model *m, struct clann_view pred, size_t rows,
                                    struct clann_view grad)
{
    struct clann_backend *be = m->be;
    bool training = grad.buf != NULL;
    /* In training, sampled softmax's and NCE's logits are the candidates' alone (nn/sampled.c). */
    size_t cols = clann__sampled_active(m, training) ? m->n_cand : clann_model_output_count(m);
    struct clann_view labels = clann__view(&m->labels, 0);
    struct clann__loss loss = m->loss; /* NCE trains with its own kind, evaluates as sparse */
    if (clann__nce_active(m, training)) {
        labels = clann__nce_labels(m);
        loss.kind = CLANN__LOSS_NCE;
    }
    /* Across ranks, each scales by the global batch so that their gradients sum to its mean. */
    size_t scale_rows = training && m->batch_global_rows ? m->batch_global_rows : rows;
    /* Loss, its sum and the classification count, in one launch where the backend can.
     * Training sums the batch apart, for the NaN guard to vet before it joins the epoch's. */
    struct clann_view none = {NULL, 0};
    return clann__op_loss_batch(
        be, &loss, pred, labels, rows, cols, clann__view(&m->row_loss, 0), grad,
        1.0f / (float)scale_rows,
        clann__view(&m->scalars, training ? CLANN__SCALAR_BATCH : CLANN__SCALAR_LOSS),
        training ? 0.0f : 1.0f,
        clann__loss_is_classification(m->cp.loss)
            ? clann__view(&m->scalars, CLANN__SCALAR_CORRECT) : none,
        count_rule(m->cp.loss));
}

enum clann_status clann__read_scalars(struct clann_model *m, double *loss_sum, double *correct)
{
    float s[2];
    struct clann_backend *be = m->be;
    enum clann_status st = clann__op_download(be, s, clann__view(&m->scalars, 0), 2);
    if (st == CLANN_OK)
        st = clann__op_fill(be, clann__view(&m->scalars, 0), 2, 0.0f);
    *loss_sum = s[0];
    *correct = s[1];
    return st;
}

enum clann_status clann__peek_loss_sum(struct clann_model *m, double *loss_sum)
{
    float s = 0.0f;
    enum clann_status st = clann__op_download(m->be, &s,
                                              clann__view(&m->scalars, CLANN__SCALAR_LOSS), 1);
    *loss_sum = s;
    return st;
}
