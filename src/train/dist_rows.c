/*
 * dist_rows.c - across ranks, the embedding tables' rows and sampled softmax's candidates
 * (dist_rows.h; README "Training on several processes or machines").
 *
 * An embedding table's gradient is the rows its batch used, a different set on each rank, so
 * it cannot ride in the dense reduce-scatter. Each rank sends its (ids, rows) of every table
 * in one variable-size all-gather; every rank then merges the same parts in rank order (nn's
 * clann__embedding_rows_merge), so all hold bitwise the same union, ids in the order one
 * process would list them. A rank's message: one count per table, then per table its ids and
 * rows. The union fits a table's per-batch buffers: the global batch is at most max_batch.
 */
#include "train/dist_rows.h"
#include "train/dist.h"
#include "nn/embedding.h"
#include "nn/sampled.h"

static enum clann_status no_memory(struct clann_model *m)
{
    return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory for the ranks' "
                        "embedding rows");
}

enum clann_status clann__dist_rows_init(struct clann_model *m, struct clann__dist_rows *x)
{
    size_t ranks = (size_t)clann__dist_size(), send = m->n_emb;
    for (size_t k = 0; k < m->n_emb; k++)
        send += clann__embedding_rows_cap(m, k);
    if (m->n_emb == 0 || (x->send && x->send_cap >= send))
        return CLANN_OK;
    clann__dist_rows_free(x);
    x->send = clann__malloc(send * sizeof *x->send);
    x->recv = clann__malloc(ranks * send * sizeof *x->recv);
    x->heads = clann__malloc(ranks * sizeof *x->heads);
    x->cursor = clann__malloc(ranks * sizeof *x->cursor);
    x->parts = clann__malloc(ranks * sizeof *x->parts);
    x->part_rows = clann__malloc(ranks * sizeof *x->part_rows);
    if (!x->send || !x->recv || !x->heads || !x->cursor || !x->parts || !x->part_rows) {
        clann__dist_rows_free(x);
        return no_memory(m);
    }
    x->send_cap = send;
    x->recv_cap = ranks * send;
    return CLANN_OK;
}

void clann__dist_rows_free(struct clann__dist_rows *x)
{
    clann__free(x->send);
    clann__free(x->recv);
    clann__free(x->labels);
    clann__free(x->heads);
    clann__free(x->cursor);
    clann__free(x->parts);
    clann__free(x->part_rows);
    *x = (struct clann__dist_rows){0};
}

/* This rank's message: the count of each table's rows, then each table's ids and rows. */
static enum clann_status pack(struct clann_model *m, struct clann__dist_rows *x, size_t *n)
{
    enum clann_status st = CLANN_OK;
    *n = m->n_emb;
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++) {
        size_t rows = 0;
        st = clann__embedding_rows_get(m, k, x->send + *n, &rows);
        x->send[k] = (float)rows; /* exact: rows <= the table's ids, themselves floats */
        *n += rows * (1 + m->emb[k].f->dim);
    }
    return st;
}

/* Merges table k from every rank's message: heads[r] is where rank r's message starts,
 * cursor[r] where its table k starts (moved past it). */
static enum clann_status merge_table(struct clann_model *m, struct clann__dist_rows *x,
                                     size_t k, size_t ranks)
{
    size_t width = 1 + m->emb[k].f->dim;
    for (size_t r = 0; r < ranks; r++) {
        x->part_rows[r] = (size_t)x->recv[x->heads[r] + k];
        x->parts[r] = x->recv + x->cursor[r];
        x->cursor[r] += x->part_rows[r] * width;
    }
    return clann__embedding_rows_merge(m, k, x->parts, x->part_rows, ranks);
}

enum clann_status clann__dist_exchange_rows(struct clann_model *m, struct clann__dist_rows *x)
{
    size_t ranks = (size_t)clann__dist_size(), n = 0;
    if (m->n_emb == 0)
        return CLANN_OK;
    enum clann_status st = x->send ? pack(m, x, &n) : no_memory(m);
    /* A rank that failed here is named by the gather, and no rank waits for its part. */
    st = clann__dist_gather_parts(m->ctx, st, "exporting its embedding rows", x->send, n,
                                  &x->recv, &x->recv_cap, x->heads);
    for (size_t r = 0, start = 0; r < ranks && st == CLANN_OK; r++) {
        size_t len = x->heads[r]; /* gathered as counts, made starts */
        x->heads[r] = start;
        x->cursor[r] = start + m->n_emb;
        start += len;
    }
    for (size_t k = 0; k < m->n_emb && st == CLANN_OK; k++)
        st = merge_table(m, x, k, ranks);
    return st;
}

enum clann_status clann__dist_sampled_prepare(struct clann_model *m, struct clann__dist_rows *x,
                                              const struct clann_matrix *y, const size_t *order,
                                              size_t first, size_t rows, size_t mine,
                                              uint64_t step)
{
    if (!x->labels && !(x->labels = clann__malloc(m->cp.max_batch * sizeof *x->labels)))
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory");
    for (size_t r = 0; r < rows; r++) /* sparse labels: one column, the class */
        x->labels[r] = y->data[(order ? order[first + r] : first + r) * y->cols];
    return clann__sampled_prepare(m, mine, x->labels, rows, step);
}
