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
 * the summed dgamma and dbeta for the dx op.
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

/* v[0..n) summed over the ranks (the hook of train). */
static enum clann_status sum_ranks(struct clann_model *m, float *v, size_t n)
{
    return m->sum_ranks(m, v, n, m->sum_ranks_user);
}

/* Device floats [off, off + n) of b summed over the ranks, through host (n floats). */
static enum clann_status sum_device(struct clann_model *m, struct clann_view v, size_t n,
                                    float *host)
{
    enum clann_status st = clann__op_download(m->be, host, v, n);
    if (st == CLANN_OK)
        st = sum_ranks(m, host, n);
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
    float *host = clann__malloc(3 * c * sizeof *host);
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
    float *host = clann__malloc(2 * c * sizeof *host);
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
        st = sum_ranks(m, host, 2 * c);
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

enum clann_status clann__batchnorm_dist_idle(struct clann_model *m)
{
    size_t most = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        if (batch_statistics(&m->layers[i]) && clann__layer_channels(&m->layers[i]) > most)
            most = clann__layer_channels(&m->layers[i]);
    if (most == 0)
        return CLANN_OK;
    float *zeros = clann__calloc(2 * most, sizeof *zeros);
    if (!zeros)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "batch normalization: out of memory");
    enum clann_status st = CLANN_OK;
    /* the calls of the forward pass (sum x, sum (x - mean)^2), then of the backward pass */
    for (size_t i = 0; i < m->n_layers && st == CLANN_OK; i++)
        for (int pass = 0; pass < 2 && st == CLANN_OK && batch_statistics(&m->layers[i]); pass++) {
            st = sum_ranks(m, zeros, clann__layer_channels(&m->layers[i]));
            memset(zeros, 0, clann__layer_channels(&m->layers[i]) * sizeof *zeros);
        }
    size_t first = clann__model_first_trained(m);
    for (size_t i = m->n_layers; i-- > first && st == CLANN_OK;)
        if (batch_statistics(&m->layers[i])) {
            st = sum_ranks(m, zeros, 2 * clann__layer_channels(&m->layers[i]));
            memset(zeros, 0, 2 * clann__layer_channels(&m->layers[i]) * sizeof *zeros);
        }
    clann__free(zeros);
    return st;
}
