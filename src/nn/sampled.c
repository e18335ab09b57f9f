/*
 * sampled.c - candidate sampling (as TensorFlow's sampled_softmax_loss and nce_loss) in
 * training. Each step's candidates are the batch's labels plus num_sampled classes drawn
 * without replacement from the step's stream (uniformly, or log-uniformly); the output layer's
 * weight and bias columns of the candidates are gathered, the logits, loss and gradients are
 * computed over them alone, and their gradient columns are scattered back (the others are
 * zero). A step then costs O(rows x in x candidates) in the output layer instead of
 * O(rows x in x classes). Candidates go in ascending class order, so the softmax sums its terms
 * in the same order as a full softmax over logits masked to the candidates would. Evaluation
 * and prediction use the full softmax.
 *
 * Sampled softmax is the sparse softmax cross-entropy over the candidates. NCE is the backends'
 * NCE loss over them: each row's true column and the drawn columns, so its labels are the
 * rows' true places and then a flag per candidate (drawn or not). Both subtract log E(class),
 * the class's expected count among the draws, from its logit, where that is not the same for
 * every class (sampled softmax with uniform draws skips it: a constant cancels in a softmax).
 */
#include "nn/sampled.h"
#include "core/rng.h"

#include <math.h>
#include <stdlib.h>

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

static const struct clann_layer *output_layer(const struct clann_model *m)
{
    return &m->layers[m->n_layers - 1];
}

/* Places in m->cand: ids | W[:, cand] | b[cand] | dW[:, cand] | db[cand] | corrections, max_cand
 * columns, then NCE's labels (max_batch places, then max_cand flags). */
static size_t off_w(const struct clann_model *m)
{
    return m->max_cand;
}

static size_t off_b(const struct clann_model *m)
{
    return off_w(m) + output_layer(m)->in * m->max_cand;
}

static size_t off_dw(const struct clann_model *m)
{
    return off_b(m) + m->max_cand;
}

static size_t off_db(const struct clann_model *m)
{
    return off_dw(m) + output_layer(m)->in * m->max_cand;
}

static size_t off_corr(const struct clann_model *m)
{
    return off_db(m) + m->max_cand;
}

static size_t off_nce_labels(const struct clann_model *m)
{
    return off_corr(m) + m->max_cand;
}

/* Floats of one staging slot of m->cand_host: ids | NCE labels | corrections. */
static size_t slot_size(const struct clann_model *m)
{
    return 3 * m->max_cand + m->cp.max_batch;
}

static bool samples(enum clann_loss loss)
{
    return loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY || loss == CLANN_LOSS_NCE;
}

/* Whether the logits take the -log E(class) correction (see the top of the file). */
static bool corrects(const struct clann_model *m)
{
    return m->cp.loss == CLANN_LOSS_NCE || m->cp.sampler != CLANN_SAMPLER_UNIFORM;
}

static const char *loss_title(const struct clann_model *m)
{
    return m->cp.loss == CLANN_LOSS_NCE ? "NCE" : "sampled softmax";
}

enum clann_status clann__sampled_setup(struct clann_model *m)
{
    if (!samples(m->cp.loss))
        return CLANN_OK;
    const struct clann_layer *l = output_layer(m);
    if (l->kind != CLANN__LAYER_DENSE)
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "compile: %s needs a dense "
                            "output layer (its kernel and bias columns are the classes' "
                            "weights); the last layer is not one", loss_title(m));
    size_t classes = l->out, want = m->cp.num_sampled < classes ? m->cp.num_sampled : classes;
    m->max_cand = m->cp.max_batch + want < classes ? m->cp.max_batch + want : classes;
    m->cand_host = clann__malloc(CLANN__STAGING_SLOTS * slot_size(m) * sizeof *m->cand_host);
    m->cand_pos = clann__malloc(classes * sizeof *m->cand_pos);
    m->cand_flag = clann__calloc(classes, 1);
    m->cand_list = clann__malloc(m->max_cand * sizeof *m->cand_list);
    if (!m->cand_host || !m->cand_pos || !m->cand_flag || !m->cand_list)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "compile: out of host memory for "
                            "sampled softmax over %zu classes", classes);
    for (size_t c = 0; c < classes; c++)
        m->cand_pos[c] = -1;
    return clann__buf_create(m->be, off_nce_labels(m) + m->cp.max_batch + m->max_cand, &m->cand);
}

void clann__sampled_free(struct clann_model *m)
{
    clann__buf_destroy(&m->cand);
    clann__free(m->cand_host);
    clann__free(m->cand_pos);
    clann__free(m->cand_flag);
    clann__free(m->cand_list);
}

bool clann__sampled_active(const struct clann_model *m, bool training)
{
    return training && samples(m->cp.loss);
}

bool clann__nce_active(const struct clann_model *m, bool training)
{
    return training && m->cp.loss == CLANN_LOSS_NCE;
}

struct clann_view clann__nce_labels(struct clann_model *m)
{
    return at(&m->cand, off_nce_labels(m));
}

enum { FLAG_LABEL = 1, FLAG_SAMPLED = 2 };

static int by_class(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Adds class c to the step's candidates, marked with flag; returns whether it is new to flag. */
static bool mark(struct clann_model *m, size_t c, unsigned char flag)
{
    if (!m->cand_flag[c])
        m->cand_list[m->n_cand++] = (uint32_t)c;
    bool fresh = !(m->cand_flag[c] & flag);
    m->cand_flag[c] |= flag;
    return fresh;
}

/* One draw from the step's stream: a class, uniform or log-uniform. */
static size_t draw(const struct clann_model *m, size_t classes, uint64_t j)
{
    uint64_t bits = clann__rng_bits(m->cp.seed, clann__rng_stream(CLANN__RNG_STREAM_SAMPLED, 0), j);
    if (m->cp.sampler == CLANN_SAMPLER_UNIFORM)
        return (size_t)((bits * classes) >> 32);
    /* Inverse CDF of Q: P(class < c) = log(c + 1) / log(classes + 1). */
    double u = (double)bits / 4294967296.0;
    size_t c = (size_t)exp(u * log((double)classes + 1.0)) - 1;
    return c < classes ? c : classes - 1;
}

/* log E(c): the expected count of class c among `want` distinct draws that took `tries`. */
static double log_expected(const struct clann_model *m, size_t c, size_t classes, size_t want,
                           size_t tries)
{
    if (m->cp.sampler == CLANN_SAMPLER_UNIFORM) /* exactly the inclusion probability */
        return log((double)want / (double)classes);
    double q = log1p(1.0 / ((double)c + 1.0)) / log((double)classes + 1.0);
    return log(-expm1((double)tries * log1p(-q))); /* TensorFlow's, for unique draws */
}

/* Rejection sampling of `want` distinct classes; the cap only guards against a broken
 * stream. Returns the number of draws taken. */
static size_t draw_negatives(struct clann_model *m, size_t classes, size_t want, uint64_t step)
{
    uint64_t base = step << 24;
    size_t j = 0;
    for (size_t drawn = 0; drawn < want && j < 64 * classes + 1024; j++)
        drawn += mark(m, draw(m, classes, base + j), FLAG_SAMPLED);
    return j;
}

enum clann_status clann__sampled_prepare(struct clann_model *m, size_t rows,
                                         const float *batch_labels, size_t batch_rows,
                                         uint64_t step)
{
    size_t classes = output_layer(m)->out;
    size_t want = m->cp.num_sampled < classes ? m->cp.num_sampled : classes;
    float *ids = m->cand_host + m->batch_slot * slot_size(m);
    float *labels = ids + m->max_cand, *flags = labels + rows;
    float *corr = labels + m->cp.max_batch + m->max_cand;
    m->n_cand = 0;
    for (size_t r = 0; r < rows && !batch_labels; r++)
        mark(m, (size_t)m->staging_y[r], FLAG_LABEL); /* checked: valid class indices */
    for (size_t r = 0; r < batch_rows && batch_labels; r++) /* across ranks: the whole batch's */
        mark(m, (size_t)batch_labels[r], FLAG_LABEL);
    size_t tries = draw_negatives(m, classes, want, step);
    qsort(m->cand_list, m->n_cand, sizeof *m->cand_list, by_class);
    for (size_t k = 0; k < m->n_cand; k++) {
        size_t c = m->cand_list[k];
        m->cand_pos[c] = (int32_t)k;
        ids[k] = (float)c;
        flags[k] = m->cand_flag[c] & FLAG_SAMPLED ? 1.0f : 0.0f;
        corr[k] = corrects(m) ? (float)-log_expected(m, c, classes, want, tries) : 0.0f;
    }
    for (size_t r = 0; r < rows; r++)
        labels[r] = (float)m->cand_pos[(size_t)m->staging_y[r]];
    for (size_t k = 0; k < m->n_cand; k++) {
        m->cand_pos[m->cand_list[k]] = -1;
        m->cand_flag[m->cand_list[k]] = 0;
    }
    struct clann_backend *be = m->be;
    enum clann_status st = clann__op_upload(be, at(&m->cand, 0), ids, m->n_cand, false);
    if (st == CLANN_OK && corrects(m))
        st = clann__op_upload(be, at(&m->cand, off_corr(m)), corr, m->n_cand, false);
    if (st == CLANN_OK && m->cp.loss == CLANN_LOSS_NCE)
        return clann__op_upload(be, clann__nce_labels(m), labels, rows + m->n_cand, false);
    return st ? st : clann__op_upload(be, at(&m->labels, 0), labels, rows, false);
}

enum clann_status clann__sampled_forward(struct clann_model *m, size_t i, struct clann_view x,
                                         size_t rows)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    size_t n = m->n_cand;
    struct clann_view ids = at(&m->cand, 0), w = at(&m->cand, off_w(m));
    struct clann_view b = l->dense.use_bias ? at(&m->cand, off_b(m)) : clann__view(NULL, 0);
    struct clann_view y = at(&m->acts, l->y_off);
    enum clann_status st = clann__op_index_cols(be, at(&m->params, l->w_off), w, l->in, l->out,
                                               ids, n, false);
    if (st == CLANN_OK && b.buf)
        st = clann__op_index_cols(be, at(&m->params, l->b_off), b, 1, l->out, ids, n, false);
    if (st == CLANN_OK)
        st = clann__op_gemm(be, false, false, rows, n, l->in, 1.0f, x, l->in, w, n, 0.0f, y, n);
    struct clann_act linear = l->act; /* linear: compile demands logits */
    if (st == CLANN_OK)
        st = clann__op_bias_act_forward(be, &linear, y, b, clann__view(NULL, 0), y, rows, n);
    /* The correction is a constant per column: the logits' gradient passes through as is. */
    if (st == CLANN_OK && corrects(m))
        st = clann__op_bias_act_forward(be, &linear, y, at(&m->cand, off_corr(m)),
                                       clann__view(NULL, 0), y, rows, n);
    return st;
}

enum clann_status clann__sampled_backward(struct clann_model *m, size_t i, struct clann_view x,
                                          struct clann_view dx, size_t rows)
{
    const struct clann_layer *l = &m->layers[i];
    struct clann_backend *be = m->be;
    size_t n = m->n_cand;
    struct clann_view ids = at(&m->cand, 0), w = at(&m->cand, off_w(m));
    struct clann_view dw = at(&m->cand, off_dw(m)), db = at(&m->cand, off_db(m));
    struct clann_view dz = at(&m->dacts, l->y_off); /* linear: dz = dy */
    enum clann_status st = CLANN_OK;
    if (l->frozen) /* the gradient of the input only */
        return dx.buf ? clann__op_gemm(be, false, true, rows, l->in, n, 1.0f, dz, n, w, n, 0.0f,
                                       dx, l->in)
                      : CLANN_OK;
    if (l->dense.use_bias)
        st = clann__op_col_sum(be, dz, rows, n, db, 0.0f);
    if (st == CLANN_OK)
        st = clann__op_gemm(be, true, false, l->in, n, rows, 1.0f, x, l->in, dz, n, 0.0f, dw, n);
    if (st == CLANN_OK && dx.buf)
        st = clann__op_gemm(be, false, true, rows, l->in, n, 1.0f, dz, n, w, n, 0.0f, dx, l->in);
    /* The other classes' columns get no gradient this step. */
    if (st == CLANN_OK)
        st = clann__op_fill(be, at(&m->grads, l->w_off), l->n_trainable, 0.0f);
    if (st == CLANN_OK)
        st = clann__op_index_cols(be, dw, at(&m->grads, l->w_off), l->in, l->out, ids, n, true);
    if (st == CLANN_OK && l->dense.use_bias)
        st = clann__op_index_cols(be, db, at(&m->grads, l->b_off), 1, l->out, ids, n, true);
    return st;
}
