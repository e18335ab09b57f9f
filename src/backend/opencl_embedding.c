/*
 * opencl_embedding.c - the feature-layer ops of cl/embedding.cl.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Feature layer (cl/embedding.cl). Sizes go to the kernels as uint: a check keeps each below
 * 2^32 (tables have at most 2^24 ids).
 */
static bool fits_u32(size_t a, size_t b)
{
    size_t n;
    return clann__mul_size(a, b, &n) && n <= UINT32_MAX && a <= UINT32_MAX && b <= UINT32_MAX;
}

enum clann_status op_copy_cols(struct clann_backend *be_, struct clann_view x, size_t ldx,
                               struct clann_view y, size_t ldy, size_t rows, size_t cols)
{
    if (rows == 0 || cols == 0)
        return CLANN_OK;
    if (!fits_u32(rows, ldx > ldy ? ldx : ldy))
        return clann__error(be_->ctx, CLANN_ERR_TOO_LARGE, "copy_cols: too large");
    struct kargs a = ka_begin(cl_be(be_), K_COPY_COLS);
    ka_view(&a, x);
    ka_u32(&a, ldx);
    ka_view(&a, y);
    ka_u32(&a, ldy);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    return LAUNCH_1D(&a, rows * cols);
}

enum clann_status op_index_cols(struct clann_backend *be_, struct clann_view src,
                                struct clann_view dst, size_t rows, size_t width,
                                struct clann_view idx, size_t n, bool scatter)
{
    if (rows == 0 || n == 0)
        return CLANN_OK;
    if (!fits_u32(rows, width) || n > width)
        return clann__error(be_->ctx, CLANN_ERR_TOO_LARGE, "index_cols: too large");
    struct kargs a = ka_begin(cl_be(be_), K_INDEX_COLS);
    ka_view(&a, src);
    ka_view(&a, dst);
    ka_u32(&a, rows);
    ka_u32(&a, width);
    ka_view(&a, idx);
    ka_u32(&a, n);
    ka_i32(&a, scatter);
    return LAUNCH_1D(&a, rows * n);
}

enum clann_status op_embedding_forward(struct clann_backend *be_, struct clann_view ids,
                                       size_t ldi, size_t width, size_t rows,
                                       struct clann_view table, size_t n_ids, size_t dim,
                                       enum clann_combiner comb, struct clann_view y,
                                       size_t ldy)
{
    if (rows == 0 || dim == 0)
        return CLANN_OK;
    if (!fits_u32(rows, ldi > ldy ? ldi : ldy) || !fits_u32(n_ids, dim) ||
        (!table.buf && dim != n_ids))
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "embedding_forward: bad sizes");
    struct kargs a = ka_begin(cl_be(be_), K_EMBEDDING_FORWARD);
    ka_view(&a, ids);
    ka_u32(&a, ldi);
    ka_u32(&a, width);
    ka_u32(&a, rows);
    ka_view(&a, table);
    ka_i32(&a, table.buf != NULL);
    ka_u32(&a, n_ids);
    ka_u32(&a, dim);
    ka_i32(&a, (int)comb);
    ka_view(&a, y);
    ka_u32(&a, ldy);
    return LAUNCH_1D(&a, rows * dim);
}

enum clann_status op_embedding_backward(struct clann_backend *be_, struct clann_view dy,
                                        size_t ldy, struct clann_view ids, size_t ldi,
                                        size_t width, size_t rows, size_t n_ids,
                                        enum clann_combiner comb,
                                        struct clann_view offsets, struct clann_view occ,
                                        size_t n_occ, size_t n_unique, size_t dim,
                                        struct clann_view grad)
{
    if (n_unique == 0 || dim == 0)
        return CLANN_OK;
    if (!fits_u32(rows, ldi > ldy ? ldi : ldy) || !fits_u32(n_unique, dim) ||
        n_occ > UINT32_MAX || n_ids > UINT32_MAX)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "embedding_backward: bad sizes");
    struct kargs a = ka_begin(cl_be(be_), K_EMBEDDING_BACKWARD);
    ka_view(&a, dy);
    ka_u32(&a, ldy);
    ka_view(&a, ids);
    ka_u32(&a, ldi);
    ka_u32(&a, width);
    ka_u32(&a, rows);
    ka_u32(&a, n_ids);
    ka_i32(&a, (int)comb);
    ka_view(&a, offsets);
    ka_view(&a, n_occ ? occ : offsets); /* an empty occ is never read */
    ka_u32(&a, n_occ);
    ka_u32(&a, n_unique);
    ka_u32(&a, dim);
    ka_view(&a, grad);
    return LAUNCH_1D(&a, n_unique * dim);
}

enum clann_status op_embedding_update(struct clann_backend *be_,
                                      const struct clann_opt *opt,
                                      struct clann_view table, struct clann_view s1,
                                      struct clann_view s2, size_t n_ids, size_t dim,
                                      struct clann_view uniq, struct clann_view grad,
                                      size_t n_unique)
{
    if (n_unique == 0 || dim == 0)
        return CLANN_OK;
    if (!fits_u32(n_ids, dim) || !fits_u32(n_unique, dim))
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "embedding_update: bad sizes");
    opt_state_views(opt, &s1, &s2);
    struct kargs a = ka_begin(cl_be(be_), K_EMBEDDING_UPDATE);
    ka_view(&a, table);
    ka_view(&a, s1);
    ka_view(&a, s2);
    ka_u32(&a, n_ids);
    ka_u32(&a, dim);
    ka_view(&a, uniq);
    ka_view(&a, grad);
    ka_u32(&a, n_unique);
    ka_opt(&a, opt);
    return LAUNCH_1D(&a, n_unique * dim);
}

