/*
 * batchnorm_dist.c - batch normalization over a global batch spread across ranks (model.h).
 * Each rank holds rows of the batch; the statistics are the global batch's, as one process
 * computes them on the whole batch:
 *   forward:  S1 = sum x over the ranks -> mean = S1 / N; S2 = sum (x - mean)^2 over the ranks
 *             -> var = S2 / N, invstd = 1 / sqrt(var + eps); y = gamma (x - mean) invstd + beta
 *             (the inference form of the op with the batch's statistics as its "running" ones);
 *   backward: the rank's dbeta and dgamma (batchnorm_backward, into the gradients, which the
 *             exchange sums), their sums over the ranks, then dx from those (batchnorm_dx).
 * N counts the global batch's values per channel (rows * spatial). Two small sums per layer
 * forward and one backward, each over the ranks in rank order (train/dist.c), so every rank
 * gets the same statistics. The stats slots keep [mean | var | invstd] as in one process (the
 * step folds mean and var into the running statistics); dacts' unused slots at bn_off hold
 * the summed dgamma and dbeta for the dx op. Every sum carries one more value, the rank's
 * failure flag, so that a rank whose step fails stops the others' sums (model.h).
 */
#include "nn/model.h"

#include <math.h>
#include <string.h>

static struct clann_view at(struct clann_buf *b, size_t off)
{
    return clann__view(b, off);
}

bool clann__batchnorm_dist(const struct clann_model *m)
{
    return m->sum_ranks && m->batch_global_rows > 0;
}

/* v[0..n) summed over the ranks (the hook of train), and v[n], which it sets, too: this
 * rank's flag, 1 when it failed in this step (v has room for n + 1 floats). A flag in the sum
 * stops the step's sums on every rank at this call; a rank that did not fail then returns an
 * error to unwind its pass (the step's agreement names the failed rank). A call whose hook
 * failed is not counted: batchnorm_dist_fail makes it again for the ranks waiting in it. */
static enum clann_status sum_ranks(struct clann_model *m, float *v, size_t n, bool failed)
{
    v[n] = failed ? 1.0f : 0.0f;
    enum clann_status st = m->sum_ranks(m, v, n + 1, m->sum_ranks_user);
    if (st != CLANN_OK)
        return st;
    m->sum_ranks_calls++;
    m->sum_ranks_stopped = v[n] != 0.0f;
    m->sum_ranks_peer_failed = m->sum_ranks_stopped && !failed;
    return m->sum_ranks_peer_failed
               ? clann__error(m->ctx, CLANN_ERR_STATE, "batch normalization: another rank "
                              "failed in this step")
               : CLANN_OK;
}

/* Device floats [off, off + n) of b summed over the ranks, through host (n + 1 floats). */
static enum clann_status sum_device(struct clann_model *m, struct clann_view v, size_t n,
                                    float *host)
{
    enum clann_status st = clann__op_download(m->be, host, v, n);
    if (st == CLANN_OK)
        st = sum_ranks(m, host, n, false);
    return st;
}

/* N: the global batch's values per feature (rows, times H W for a channel of images). */
static double values_of(const struct clann_model *m, const struct clann_layer *l)
{
    return (double)m->batch_global_rows * (double)clann__layer_spatial(l);
}

enum clann_status clann__batchnorm_dist_forward(struct clann_model *m, size_t i,
                                                struct clann_view x, size_t rows)
{
    const struct clann_layer *l = &m->layers[i];
    size_t c = clann__layer_channels(l), spatial = clann__layer_spatial(l);
    struct clann_view mean = at(&m->acts, l->bn_off), var = at(&m->acts, l->bn_off + c);
    double n = values_of(m, l);
    float *host = clann__malloc(3 * c * sizeof *host); /* each sum's flag: in the next slot */
    if (!host)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "batch normalization: out of memory");
    enum clann_status st = clann__op_batchnorm_sums(m->be, x, rows, c, spatial,
                                                    clann__view(NULL, 0), mean);
    if (st == CLANN_OK)
        st = sum_device(m, mean, c, host);
    for (size_t k = 0; k < c && st == CLANN_OK; k++)
        host[k] = (float)(host[k] / n);
    if (st == CLANN_OK)
        st = clann__op_upload(m->be, mean, host, c, true);
    if (st == CLANN_OK)
        st = clann__op_batchnorm_sums(m->be, x, rows, c, spatial, mean, var);
    if (st == CLANN_OK)
        st = sum_device(m, var, c, host + c);
    for (size_t k = 0; k < c && st == CLANN_OK; k++) {
        double v = host[c + k] / n;
        host[c + k] = (float)v;
        host[2 * c + k] = (float)(1.0 / sqrt(v + l->eps));
    }
    if (st == CLANN_OK)
        st = clann__op_upload(m->be, var, host + c, 2 * c, true);
    if (st == CLANN_OK && rows)
        st = clann__op_batchnorm_forward(m->be, x, at(&m->acts, l->y_off), rows, c, spatial,
                                         at(&m->params, l->w_off), at(&m->params, l->b_off),
                                         mean, mean, l->eps, false);
    clann__free(host);
    return st;
}

enum clann_status clann__batchnorm_dist_backward(struct clann_model *m, size_t i,
                                                 struct clann_view x, struct clann_view dx,
                                                 size_t rows)
{
    const struct clann_layer *l = &m->layers[i];
    size_t c = clann__layer_channels(l), spatial = clann__layer_spatial(l);
    struct clann_view gamma = at(&m->params, l->w_off), mean = at(&m->acts, l->bn_off);
    struct clann_view invstd = at(&m->acts, l->bn_off + 2 * c), dy = at(&m->dacts, l->y_off);
    struct clann_view dgamma = at(&m->dacts, l->bn_off), dbeta = at(&m->dacts, l->bn_off + c);
    float *host = clann__malloc((2 * c + 1) * sizeof *host); /* + the sum's flag */
    if (!host)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "batch normalization: out of memory");
    /* this rank's dgamma and dbeta, in the gradients; its dx is replaced below */
    enum clann_status st = clann__op_batchnorm_backward(m->be, x, dy, rows, c, spatial, gamma,
                                                        mean, invstd, dx,
                                                        at(&m->grads, l->w_off),
                                                        at(&m->grads, l->b_off));
    if (st == CLANN_OK)
        st = clann__op_download(m->be, host, at(&m->grads, l->w_off), c);
    if (st == CLANN_OK)
        st = clann__op_download(m->be, host + c, at(&m->grads, l->b_off), c);
    if (st == CLANN_OK)
        st = sum_ranks(m, host, 2 * c, false);
    if (st == CLANN_OK)
        st = clann__op_upload(m->be, dgamma, host, 2 * c, true);
    if (st == CLANN_OK && rows)
        st = clann__op_batchnorm_dx(m->be, x, dy, rows, c, spatial, gamma, mean, invstd, dgamma,
                                    dbeta, (float)values_of(m, l), dx);
    clann__free(host);
    return st;
}

/* A batch norm layer that normalizes with its batch's statistics in training. */
static bool batch_statistics(const struct clann_layer *l)
{
    return l->kind == CLANN__LAYER_BATCHNORM && !l->frozen;
}

/* The values of call k of a step's sums over the ranks, in the order every rank makes them
 * (layers.c); 0 past the last. Forward, bottom up: each layer with batch statistics sums x,
 * then (x - mean)^2 (c values each); backward, top down to the first trained layer: its
 * dgamma and dbeta (2c values). */
static size_t sum_size(const struct clann_model *m, size_t k)
{
    for (size_t i = 0; i < m->n_layers; i++) {
        if (!batch_statistics(&m->layers[i]))
            continue;
        if (k < 2)
            return clann__layer_channels(&m->layers[i]);
        k -= 2;
    }
    size_t first = clann__model_first_trained(m);
    for (size_t i = m->n_layers; i-- > first;)
        if (batch_statistics(&m->layers[i]) && k-- == 0)
            return 2 * clann__layer_channels(&m->layers[i]);
    return 0;
}

/* The step's sums from the next one on with zeros as this rank's share, until one carries a
 * failed rank's flag or none remain; a failed rank makes the next one only, with its flag. */
static enum clann_status zero_sums(struct clann_model *m, bool failed)
{
    size_t most = 0, n;
    for (size_t k = m->sum_ranks_calls; (n = sum_size(m, k)) > 0; k++)
        most = n > most ? n : most;
    if (most == 0 || m->sum_ranks_stopped)
        return CLANN_OK;
    float *zeros = clann__malloc((most + 1) * sizeof *zeros);
    if (!zeros)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "batch normalization: out of memory");
    enum clann_status st = CLANN_OK;
    while (st == CLANN_OK && !m->sum_ranks_stopped && (n = sum_size(m, m->sum_ranks_calls))) {
        memset(zeros, 0, n * sizeof *zeros);
        st = sum_ranks(m, zeros, n, failed);
    }
    clann__free(zeros);
    return st;
}

enum clann_status clann__batchnorm_dist_idle(struct clann_model *m)
{
    return zero_sums(m, false);
}

enum clann_status clann__batchnorm_dist_fail(struct clann_model *m)
{
    return zero_sums(m, true);
}
