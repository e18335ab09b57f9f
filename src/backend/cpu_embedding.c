/*
 * cpu_embedding.c - the CPU backend's feature-layer ops: the numeric columns' copy, embedding
 * gathers, their deterministic scatter-add and the sparse optimizer step.
 */
#include "backend/cpu_impl.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Feature layer: the numeric columns' copy, embedding gathers, their deterministic scatter-add
 * and the sparse optimizer step (formulas in backend.h).
 */

/* The id in slot value v, or -1 when v is not an integer in [0, n_ids). */
static long slot_id(float v, size_t n_ids)
{
    return v >= 0.0f && v < (float)n_ids && v == floorf(v) ? (long)v : -1;
}

/* Asks for the cache lines of n floats at p ahead of use: the rows of a large table are far
 * apart, and fetching them early overlaps their misses instead of paying one latency after
 * another (a step's cost then stays flat as the table grows). */
static void prefetch_row(const float *p, size_t n)
{
#if defined(__GNUC__)
    for (size_t i = 0; i < n; i += 16)
        __builtin_prefetch(p + i, 1, 3);
#else
    (void)p, (void)n;
#endif
}

/* How many rows ahead of use the gathers prefetch. Issuing every row's prefetch up front does
 * not work: the core tracks only a few dozen misses, drops the rest, and the loop then waits on
 * one row after another (a 10^6-id table ran 20% slower than a 10^4-id one). A fixed distance
 * keeps that many rows in flight for the whole loop. */
enum { PREFETCH_ROWS_AHEAD = 8 };

/* Prefetches the table rows of the ids in row r of the id slots, when r is a row. */
static void prefetch_ids(struct clann_view ids, size_t ldi, size_t width, size_t rows, size_t r,
                         struct clann_view table, size_t n_ids, size_t dim)
{
    for (size_t s = 0; r < rows && s < width; s++) {
        long v = slot_id(at(ids)[r * ldi + s], n_ids);
        if (v >= 0)
            prefetch_row(at(table) + (size_t)v * dim, dim);
    }
}

/* The combiner's scale s_r of one row of id slots. */
static double row_scale(const float *ids, size_t width, size_t n_ids, enum clann_combiner comb)
{
    size_t c = 0;
    for (size_t s = 0; s < width; s++)
        c += slot_id(ids[s], n_ids) >= 0;
    if (c == 0)
        return 0.0;
    return comb == CLANN_COMBINER_SUM ? 1.0
           : comb == CLANN_COMBINER_MEAN ? 1.0 / (double)c : 1.0 / sqrt((double)c);
}

enum clann_status cpu_index_cols(struct clann_backend *be, struct clann_view src,
                                 struct clann_view dst, size_t rows, size_t width,
                                 struct clann_view idx, size_t n, bool scatter)
{
    for (size_t j = 0; j < n; j++) {
        long c = slot_id(at(idx)[j], width);
        if (c < 0)
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu index_cols: index %g is "
                                "not a column below %zu", (double)at(idx)[j], width);
        for (size_t r = 0; r < rows; r++) {
            if (scatter)
                at(dst)[r * width + (size_t)c] = at(src)[r * n + j];
            else
                at(dst)[r * n + j] = at(src)[r * width + (size_t)c];
        }
    }
    return CLANN_OK;
}

enum clann_status cpu_copy_cols(struct clann_backend *be, struct clann_view x, size_t ldx,
                                struct clann_view y, size_t ldy, size_t rows, size_t cols)
{
    for (size_t r = 0; r < rows && cols; r++)
        memcpy(at(y) + r * ldy, at(x) + r * ldx, cols * sizeof(float));
    return CLANN_OK;
}

enum clann_status cpu_embedding_forward(struct clann_backend *be, struct clann_view ids,
                                        size_t ldi, size_t width, size_t rows,
                                        struct clann_view table, size_t n_ids,
                                        size_t dim, enum clann_combiner comb,
                                        struct clann_view y, size_t ldy)
{
    for (size_t r = 0; r < PREFETCH_ROWS_AHEAD && !is_null(table); r++)
        prefetch_ids(ids, ldi, width, rows, r, table, n_ids, dim);
    for (size_t r = 0; r < rows; r++) {
        if (!is_null(table))
            prefetch_ids(ids, ldi, width, rows, r + PREFETCH_ROWS_AHEAD, table, n_ids, dim);
        const float *id = at(ids) + r * ldi;
        double scale = row_scale(id, width, n_ids, comb);
        for (size_t k = 0; k < dim; k++) {
            double acc = 0.0;
            for (size_t s = 0; s < width; s++) {
                long v = slot_id(id[s], n_ids);
                if (v >= 0)
                    acc += is_null(table) ? (double)((size_t)v == k)
                                          : (double)at(table)[(size_t)v * dim + k];
            }
            at(y)[r * ldy + k] = (float)(scale * acc);
        }
    }
    return CLANN_OK;
}

enum clann_status cpu_embedding_backward(struct clann_backend *be, struct clann_view dy,
                                         size_t ldy, struct clann_view ids, size_t ldi,
                                         size_t width, size_t rows, size_t n_ids,
                                         enum clann_combiner comb,
                                         struct clann_view offsets, struct clann_view occ,
                                         size_t n_occ, size_t n_unique, size_t dim,
                                         struct clann_view grad)
{
    for (size_t u = 0; u < n_unique; u++) {
        float lo = at(offsets)[u], hi = at(offsets)[u + 1];
        if (!(lo >= 0.0f && lo <= hi && hi <= (float)n_occ))
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu embedding_backward: "
                                "offsets of id %zu out of range", u);
        for (size_t k = 0; k < dim; k++) {
            double acc = 0.0;
            for (size_t o = (size_t)lo; o < (size_t)hi; o++) {
                size_t r = (size_t)at(occ)[o];
                if (r >= rows)
                    return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu "
                                        "embedding_backward: row %zu out of range", r);
                acc += row_scale(at(ids) + r * ldi, width, n_ids, comb) *
                       (double)at(dy)[r * ldy + k];
            }
            at(grad)[u * dim + k] = (float)acc;
        }
    }
    return CLANN_OK;
}

static struct clann_view view_at(struct clann_view v, size_t off)
{
    v.off += off;
    return v;
}

/* The rows are checked here only as far as a hint needs: an id outside the table is skipped
 * (embedding_update reports it). */
void cpu_embedding_prefetch(struct clann_backend *be, struct clann_view table,
                            struct clann_view s1, struct clann_view s2, size_t n_ids,
                            size_t dim, struct clann_view uniq, size_t n_unique)
{
    (void)be;
    for (size_t u = 0; u < n_unique; u++) {
        long row = slot_id(at(uniq)[u], n_ids);
        struct clann_view rows[] = {table, s1, s2};
        for (size_t i = 0; row >= 0 && i < 3; i++)
            if (!is_null(rows[i]) && rows[i].off + ((size_t)row + 1) * dim <= rows[i].buf->n)
                prefetch_row(at(rows[i]) + (size_t)row * dim, dim);
    }
}

enum clann_status cpu_embedding_update(struct clann_backend *be,
                                       const struct clann_opt *opt,
                                       struct clann_view table, struct clann_view s1,
                                       struct clann_view s2, size_t n_ids, size_t dim,
                                       struct clann_view uniq, struct clann_view grad,
                                       size_t n_unique)
{
    for (size_t u = 0; u < n_unique; u++) {
        long row = slot_id(at(uniq)[u], n_ids);
        if (row < 0)
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu embedding_update: id %g "
                                "is not below %zu", (double)at(uniq)[u], n_ids);
        size_t off = (size_t)row * dim;
        struct clann_view a = is_null(s1) ? s1 : view_at(s1, off);
        struct clann_view b = is_null(s2) ? s2 : view_at(s2, off);
        /* The dense update's own code on one row: the same formulas and guard. */
        enum clann_status st = cpu_optimizer_step(be, opt, view_at(table, off),
                                                  view_at(grad, u * dim), a, b, dim);
        if (st != CLANN_OK)
            return st;
    }
    return CLANN_OK;
}

