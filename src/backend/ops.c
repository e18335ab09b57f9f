/*
 * ops.c - the clann__op_ wrappers in front of the ops table (see ops.h): argument and view
 * checks done once for every backend, defaults for optional entries, shared scalars, and the
 * profiler hook.
 */
#include "backend/ops.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * View checks.
 */

/* Floats spanned by a rows x cols matrix with row stride ld; SIZE_MAX on overflow, so that the
 * view check below fails instead of wrapping. */
static size_t extent(size_t rows, size_t cols, size_t ld)
{
    size_t e;
    if (rows == 0 || cols == 0)
        return 0;
    if (!clann__mul_size(rows - 1, ld, &e) || e > SIZE_MAX - cols)
        return SIZE_MAX;
    return e + cols;
}

/* A view must hold `need` floats from its offset; a view of zero extent may be NULL. */
static enum clann_status check_view(struct clann_backend *be, const char *op, const char *name,
                                    struct clann_view v, size_t need)
{
    if (need == 0)
        return CLANN_OK;
    /* backend_op (e.g. cpu_fill) names the call the way a stack trace would */
    if (!v.buf || !v.buf->ptr)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "%s_%s: %s is a NULL view",
                            be->ops->name, op, name);
    if (v.off > v.buf->n || need > v.buf->n - v.off)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "%s_%s: %s needs %zu floats at offset %zu of a %zu-float buffer",
                            be->ops->name, op, name, need, v.off, v.buf->n);
    return CLANN_OK;
}

/* `op` is the wrapper's own name less its "clann__op_" prefix (10 characters). */
#define OP_NAME (__func__ + 10)

#define CHECK_VIEW(v, need)                                                                       \
    do {                                                                                          \
        enum clann_status st_ = check_view(be, OP_NAME, #v, (v), (need));                         \
        if (st_ != CLANN_OK)                                                                      \
            return st_;                                                                           \
    } while (0)

/* A view that may be NULL (a null view means "none"): checked only when given. */
#define CHECK_OPTIONAL(v, need)                                                                   \
    do {                                                                                          \
        if ((v).buf)                                                                              \
            CHECK_VIEW(v, need);                                                                  \
    } while (0)

#define CHECK(expr)                                                                               \
    do {                                                                                          \
        enum clann_status s_ = (expr);                                                            \
        if (s_ != CLANN_OK)                                                                       \
            return s_;                                                                            \
    } while (0)

static enum clann_status bad_kind(struct clann_backend *be, const char *op, int kind)
{
    return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "%s: unknown kind %d", op, kind);
}

/* ---------------------------------------------------------------------------------------------
 * Profiling: one hook around every op (bench's per-op split, clann_context_profile()).
 */

void clann__backend_set_profiler(struct clann_backend *be, clann__profiler_fn fn, void *user)
{
    be->profiler = fn;
    be->profiler_user = user;
}

/* Waits for earlier ops, so that the op about to run is charged its own time only. */
static double prof_begin(struct clann_backend *be, unsigned long *launches)
{
    be->ops->finish(be);
    *launches = be->launches;
    return clann__now();
}

static enum clann_status prof_end(struct clann_backend *be, const char *op,
                                  enum clann__op_class cls, double flops, double t0,
                                  unsigned long launches, enum clann_status st)
{
    if (st == CLANN_OK)
        st = be->ops->finish(be); /* charge an asynchronous op its execution time */
    be->profiler(be->profiler_user, op, cls, clann__now() - t0, flops, be->launches - launches);
    return st;
}

/* Returns the backend's `call`, timed when a profiler is set. */
#define RUN(cls, flops, call)                                                                     \
    do {                                                                                          \
        if (!be->profiler)                                                                        \
            return be->ops->call;                                                                 \
        unsigned long l0_;                                                                        \
        double t0_ = prof_begin(be, &l0_);                                                        \
        return prof_end(be, OP_NAME, (cls), (flops), t0_, l0_, be->ops->call);                    \
    } while (0)

#define RUN_KERNEL(call) RUN(CLANN__OP_KERNEL, 0.0, call)

/* ---------------------------------------------------------------------------------------------
 * Buffers and transfers.
 */

void clann__op_destroy(struct clann_backend *be)
{
    if (be)
        be->ops->destroy(be);
}

enum clann_status clann__op_buf_alloc(struct clann_backend *be, size_t n, struct clann_buf *buf)
{
    if (!buf)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "buf_alloc: NULL buffer");
    return be->ops->buf_alloc(be, n, buf);
}

void clann__op_buf_free(struct clann_backend *be, struct clann_buf *buf)
{
    if (buf)
        be->ops->buf_free(be, buf);
}

enum clann_status clann__op_upload(struct clann_backend *be, struct clann_view dst,
                                   const float *src, size_t n, bool blocking)
{
    CHECK_VIEW(dst, n);
    if (n && !src)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "upload: NULL source");
    RUN(CLANN__OP_TRANSFER, 0.0, upload(be, dst, src, n, blocking));
}

enum clann_status clann__op_download(struct clann_backend *be, float *dst, struct clann_view src,
                                     size_t n)
{
    CHECK_VIEW(src, n);
    if (n && !dst)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "download: NULL destination");
    RUN(CLANN__OP_TRANSFER, 0.0, download(be, dst, src, n));
}

enum clann_status clann__op_download_start(struct clann_backend *be, float *dst,
                                           struct clann_view src, size_t n, void **pending)
{
    *pending = NULL;
    if (!be->ops->download_start)
        return clann__op_download(be, dst, src, n);
    CHECK_VIEW(src, n);
    if (n && !dst)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "download: NULL destination");
    RUN(CLANN__OP_TRANSFER, 0.0, download_start(be, dst, src, n, pending));
}

enum clann_status clann__op_download_test(struct clann_backend *be, void *pending, bool wait,
                                          bool *done)
{
    *done = true;
    return pending ? be->ops->download_test(be, pending, wait, done) : CLANN_OK;
}

enum clann_status clann__op_finish(struct clann_backend *be)
{
    return be->ops->finish(be);
}

enum clann_status clann__op_fill(struct clann_backend *be, struct clann_view x, size_t n,
                                 float value)
{
    CHECK_VIEW(x, n);
    RUN_KERNEL(fill(be, x, n, value));
}

enum clann_status clann__op_copy(struct clann_backend *be, struct clann_view dst,
                                 struct clann_view src, size_t n)
{
    CHECK_VIEW(dst, n);
    CHECK_VIEW(src, n);
    RUN_KERNEL(copy(be, dst, src, n));
}

/* ---------------------------------------------------------------------------------------------
 * GEMM and random numbers.
 */

enum clann_status clann__op_gemm(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
                                 size_t n, size_t k, float alpha, struct clann_view a, size_t lda,
                                 struct clann_view b, size_t ldb, float beta, struct clann_view c,
                                 size_t ldc)
{
    /* Stored shapes: A is m x k (k x m when transposed), B is k x n (n x k). */
    size_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    size_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    if (m > 0 && n > 0) {
        if (ldc < n || (k > 0 && (lda < a_cols || ldb < b_cols)))
            return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                                "gemm: leading dimension too small (lda %zu, ldb %zu, ldc %zu "
                                "for m %zu, n %zu, k %zu, trans_a %d, trans_b %d)",
                                lda, ldb, ldc, m, n, k, (int)trans_a, (int)trans_b);
        CHECK_VIEW(c, extent(m, n, ldc));
        if (k > 0 && alpha != 0.0f) { /* as in BLAS: otherwise A and B are not read */
            CHECK_VIEW(a, extent(a_rows, a_cols, lda));
            CHECK_VIEW(b, extent(b_rows, b_cols, ldb));
        }
    }
    RUN(CLANN__OP_GEMM, 2.0 * (double)m * (double)n * (double)k,
        gemm(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
}

/* floats from a batched operand's offset to the end of its last matrix: (count - 1) stride
 * plus one matrix's extent, SIZE_MAX on overflow */
static size_t batch_extent(size_t count, size_t stride, size_t one)
{
    size_t e;
    if (count == 0 || one == 0)
        return 0;
    if (!clann__mul_size(count - 1, stride, &e) || e > SIZE_MAX - one)
        return SIZE_MAX;
    return e + one;
}

enum clann_status clann__op_gemm_batched(struct clann_backend *be, bool trans_a, bool trans_b,
                                         size_t m, size_t n, size_t k, float alpha,
                                         struct clann_view a, size_t lda, struct clann_view b,
                                         size_t ldb, float beta, struct clann_view c, size_t ldc,
                                         const struct clann_gemm_batch *batch)
{
    if (!batch)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "gemm_batched: NULL batch");
    size_t count = batch->count, a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    size_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n, one_c = extent(m, n, ldc);
    if (count == 0 || m == 0 || n == 0)
        return CLANN_OK;
    if (ldc < n || (k > 0 && (lda < a_cols || ldb < b_cols)) ||
        (batch->stride_c && count > 1 && batch->stride_c < one_c))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "gemm_batched: leading dimension too small (lda %zu, ldb %zu, ldc "
                            "%zu) or overlapping C matrices (stride_c %zu) for m %zu, n %zu, "
                            "k %zu, trans_a %d, trans_b %d",
                            lda, ldb, ldc, batch->stride_c, m, n, k, (int)trans_a,
                            (int)trans_b);
    CHECK_VIEW(c, batch_extent(count, batch->stride_c, one_c));
    if (k > 0 && alpha != 0.0f) { /* as in BLAS: otherwise A and B are not read */
        CHECK_VIEW(a, batch_extent(count, batch->stride_a, extent(a_rows, a_cols, lda)));
        CHECK_VIEW(b, batch_extent(count, batch->stride_b, extent(b_rows, b_cols, ldb)));
    }
    RUN(CLANN__OP_GEMM, 2.0 * (double)m * (double)n * (double)k * (double)count,
        gemm_batched(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                     batch));
}

enum clann_status clann__op_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_rng_key key, float lo, float hi)
{
    CHECK_VIEW(x, n);
    RUN_KERNEL(rng_uniform(be, x, n, key, lo, hi));
}

enum clann_status clann__op_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_rng_key key, float mean, float stddev)
{
    CHECK_VIEW(x, n);
    RUN_KERNEL(rng_normal(be, x, n, key, mean, stddev));
}

/* ---------------------------------------------------------------------------------------------
 * Layers.
 */

static bool act_reads_z(enum clann__act_kind kind)
{
    return kind != CLANN__ACT_LINEAR && kind != CLANN__ACT_SIGMOID && kind != CLANN__ACT_TANH &&
           kind != CLANN__ACT_SOFTMAX;
}

/* The activation's kind, and its PReLU slopes when it has them (of an empty matrix: none). */
static enum clann_status check_act(struct clann_backend *be, const char *op,
                                   const struct clann_act *act, struct clann_view prelu,
                                   size_t total, size_t cols)
{
    if (!act || (unsigned)act->kind >= CLANN__ACT_COUNT)
        return bad_kind(be, op, act ? (int)act->kind : -1);
    if (act->kind == CLANN__ACT_PRELU && total > 0)
        return check_view(be, op, "prelu", prelu, cols);
    return CLANN_OK;
}

enum clann_status clann__op_bias_act_forward(struct clann_backend *be, const struct clann_act *act,
                                             struct clann_view z, struct clann_view bias,
                                             struct clann_view prelu, struct clann_view y,
                                             size_t rows, size_t cols)
{
    size_t total = extent(rows, cols, cols);
    CHECK(check_act(be, OP_NAME, act, prelu, total, cols));
    CHECK_VIEW(z, total);
    CHECK_VIEW(y, total);
    CHECK_OPTIONAL(bias, total ? cols : 0);
    RUN_KERNEL(bias_act_forward(be, act, z, bias, prelu, y, rows, cols));
}

enum clann_status clann__op_act_backward(struct clann_backend *be, const struct clann_act *act,
                                         struct clann_view z, struct clann_view y,
                                         struct clann_view dy, struct clann_view prelu,
                                         struct clann_view dz, size_t rows, size_t cols)
{
    size_t total = extent(rows, cols, cols);
    CHECK(check_act(be, OP_NAME, act, prelu, total, cols));
    /* Only the input the formula uses is read, so callers may pass a NULL view for the other. */
    bool reads_z = act_reads_z(act->kind);
    bool reads_y = act->kind != CLANN__ACT_LINEAR && !reads_z;
    if (reads_z)
        CHECK_VIEW(z, total);
    if (reads_y)
        CHECK_VIEW(y, total);
    CHECK_VIEW(dy, total);
    CHECK_VIEW(dz, total);
    RUN_KERNEL(act_backward(be, act, z, y, dy, prelu, dz, rows, cols));
}

enum clann_status clann__op_prelu_grad(struct clann_backend *be, struct clann_view z,
                                       struct clann_view dy, struct clann_view dprelu, size_t rows,
                                       size_t cols, float beta)
{
    CHECK_VIEW(z, extent(rows, cols, cols));
    CHECK_VIEW(dy, extent(rows, cols, cols));
    CHECK_VIEW(dprelu, cols);
    RUN_KERNEL(prelu_grad(be, z, dy, dprelu, rows, cols, beta));
}

enum clann_status clann__op_index_cols(struct clann_backend *be, struct clann_view src,
                                       struct clann_view dst, size_t rows, size_t width,
                                       struct clann_view idx, size_t n, bool scatter)
{
    CHECK_VIEW(idx, n);
    CHECK_VIEW(src, scatter ? extent(rows, n, n) : extent(rows, width, width));
    CHECK_VIEW(dst, scatter ? extent(rows, width, width) : extent(rows, n, n));
    RUN_KERNEL(index_cols(be, src, dst, rows, width, idx, n, scatter));
}

enum clann_status clann__op_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                                    size_t cols, struct clann_view out, float beta)
{
    CHECK_VIEW(x, extent(rows, cols, cols));
    CHECK_VIEW(out, cols);
    RUN_KERNEL(col_sum(be, x, rows, cols, out, beta));
}

enum clann_status clann__op_dropout(struct clann_backend *be, struct clann_view x,
                                    struct clann_view y, size_t n, size_t spatial, float rate,
                                    struct clann_rng_key key)
{
    if (!(rate >= 0.0f))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "dropout: rate %g is not >= 0",
                            (double)rate);
    if (spatial == 0 || n % spatial != 0)
        return clann__error(be->ctx, CLANN_ERR_SHAPE,
                            "dropout: %zu values are not a whole number of groups of %zu", n,
                            spatial);
    CHECK_VIEW(x, n);
    CHECK_VIEW(y, n);
    RUN_KERNEL(dropout(be, x, y, n, spatial, rate, key));
}

/* ---------------------------------------------------------------------------------------------
 * Losses, reductions, metrics.
 */

/* The labels a loss reads: a class index per row (sparse), the rows' true columns then a flag
 * per column (NCE), else a row of cols. */
static size_t loss_labels_extent(enum clann__loss_kind kind, size_t rows, size_t cols)
{
    if (kind == CLANN__LOSS_NCE)
        return !rows ? 0 : rows > SIZE_MAX - cols ? SIZE_MAX : rows + cols;
    size_t label_cols = kind == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : cols;
    return extent(rows, label_cols, label_cols);
}

/* The labels count_correct reads under a rule: a class index per row (sparse, binary), else a
 * row of cols. */
static size_t count_labels_extent(int rule, size_t rows, size_t cols)
{
    size_t label_cols = rule == CLANN__COUNT_SPARSE || cols == 1 ? 1 : cols;
    return extent(rows, label_cols, label_cols);
}

enum clann_status clann__op_loss(struct clann_backend *be, const struct clann__loss *loss,
                                 struct clann_view pred, struct clann_view labels, size_t rows,
                                 size_t cols, struct clann_view row_loss, struct clann_view grad,
                                 float grad_scale)
{
    if (!loss || !clann__loss_computed((int)loss->kind))
        return bad_kind(be, OP_NAME, loss ? (int)loss->kind : -1);
    size_t checked_rows = cols ? rows : 0; /* what a zero-width batch reads: nothing */
    CHECK_VIEW(pred, extent(checked_rows, cols, cols));
    CHECK_VIEW(labels, loss_labels_extent(loss->kind, checked_rows, cols));
    CHECK_VIEW(row_loss, checked_rows);
    CHECK_OPTIONAL(grad, extent(checked_rows, cols, cols));
    RUN_KERNEL(loss(be, loss, pred, labels, rows, cols, row_loss, grad, grad_scale));
}

enum clann_status clann__op_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                float scale, struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    RUN_KERNEL(sum(be, x, n, scale, out, beta));
}

enum clann_status clann__op_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    RUN_KERNEL(sum_squares(be, x, n, out, beta));
}

enum clann_status clann__op_count_correct(struct clann_backend *be, struct clann_view pred,
                                          struct clann_view labels, int rule, size_t rows,
                                          size_t cols, struct clann_view correct, float beta)
{
    if (rule < CLANN__COUNT_ARGMAX || rule > CLANN__COUNT_MULTILABEL)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "count_correct: rule %d", rule);
    CHECK_VIEW(pred, extent(rows, cols, cols));
    CHECK_VIEW(labels, count_labels_extent(rule, rows, cols));
    CHECK_VIEW(correct, 1);
    RUN_KERNEL(count_correct(be, pred, labels, rule, rows, cols, correct, beta));
}

enum clann_status clann__op_loss_batch(struct clann_backend *be, const struct clann__loss *loss,
                                       struct clann_view pred, struct clann_view labels,
                                       size_t rows, size_t cols, struct clann_view row_loss,
                                       struct clann_view grad, float grad_scale,
                                       struct clann_view sum, float sum_beta,
                                       struct clann_view correct, int rule)
{
    if (!be->ops->loss_batch || rows == 0 || cols == 0) {
        enum clann_status st =
            clann__op_loss(be, loss, pred, labels, rows, cols, row_loss, grad, grad_scale);
        if (st == CLANN_OK)
            st = clann__op_sum(be, row_loss, rows, 1.0f, sum, sum_beta);
        if (st == CLANN_OK && correct.buf)
            st = clann__op_count_correct(be, pred, labels, rule, rows, cols, correct,
                                        1.0f);
        return st;
    }
    if (!loss || !clann__loss_computed((int)loss->kind))
        return bad_kind(be, OP_NAME, loss ? (int)loss->kind : -1);
    if (correct.buf && (rule < CLANN__COUNT_ARGMAX || rule > CLANN__COUNT_MULTILABEL))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "loss_batch: count rule %d", rule);
    size_t label_extent = loss_labels_extent(loss->kind, rows, cols);
    size_t count_extent = correct.buf ? count_labels_extent(rule, rows, cols) : 0;
    if (count_extent > label_extent) /* count_correct's reads too */
        label_extent = count_extent;
    CHECK_VIEW(pred, extent(rows, cols, cols));
    CHECK_VIEW(labels, label_extent);
    CHECK_VIEW(row_loss, rows);
    CHECK_OPTIONAL(grad, extent(rows, cols, cols));
    CHECK_VIEW(sum, 1);
    CHECK_OPTIONAL(correct, 1);
    RUN_KERNEL(loss_batch(be, loss, pred, labels, rows, cols, row_loss, grad, grad_scale, sum,
                          sum_beta, correct, rule));
}

enum clann_status clann__op_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                                    struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    RUN_KERNEL(sum_abs(be, x, n, out, beta));
}

enum clann_status clann__op_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_view out, float beta)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(out, 1);
    RUN_KERNEL(count_zero(be, x, n, out, beta));
}

/* ---------------------------------------------------------------------------------------------
 * Optimizer, clipping, the NaN guard.
 */

/* Checks an optimizer's kind, its state views (n floats each, for the kinds that use them)
 * and its guard, and returns a copy with the step scalars filled: Adam's bias correction folds
 * into lr and eps (TensorFlow form), the one place that formula is written. */
static enum clann_status opt_prepare(struct clann_backend *be, const char *op,
                                     const struct clann_opt *opt, struct clann_view s1,
                                     struct clann_view s2, size_t n, struct clann_opt *out)
{
    if (!opt || (unsigned)opt->kind >= CLANN__OPT_COUNT)
        return bad_kind(be, op, opt ? (int)opt->kind : -1);
    if (opt->kind == CLANN__OPT_ADAM && opt->step == 0)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "%s: Adam needs step >= 1 (bias correction)", op);
    if (opt->kind != CLANN__OPT_SGD)
        CHECK(check_view(be, op, "s1", s1, n));
    if (opt->kind == CLANN__OPT_ADAM)
        CHECK(check_view(be, op, "s2", s2, n));
    if (opt->guard.buf)
        CHECK(check_view(be, op, "guard", opt->guard, 1));
    *out = *opt;
    out->lr_t = opt->lr;
    out->eps_t = opt->eps;
    if (opt->kind == CLANN__OPT_ADAM) {
        double t = (double)opt->step, c2 = sqrt(1.0 - pow((double)opt->beta2, t));
        out->lr_t = (float)((double)opt->lr * c2 / (1.0 - pow((double)opt->beta1, t)));
        out->eps_t = (float)((double)opt->eps * c2);
    }
    return CLANN_OK;
}

enum clann_status clann__op_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                           struct clann_view w, struct clann_view g,
                                           struct clann_view s1, struct clann_view s2, size_t n)
{
    struct clann_opt o;
    CHECK(opt_prepare(be, OP_NAME, opt, s1, s2, n, &o));
    CHECK_VIEW(w, n);
    CHECK_VIEW(g, n);
    RUN_KERNEL(optimizer_step(be, &o, w, g, s1, s2, n));
}

enum clann_status clann__op_clip_by_norm(struct clann_backend *be, struct clann_view x, size_t n,
                                         struct clann_view sumsq, float max_norm)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(sumsq, 1);
    RUN_KERNEL(clip_by_norm(be, x, n, sumsq, max_norm));
}

enum clann_status clann__op_clip_by_value(struct clann_backend *be, struct clann_view x,
                                          size_t n, float limit)
{
    CHECK_VIEW(x, n);
    RUN_KERNEL(clip_by_value(be, x, n, limit));
}

enum clann_status clann__op_axpy(struct clann_backend *be, size_t n, float a, struct clann_view x,
                                 struct clann_view y)
{
    CHECK_VIEW(x, n);
    CHECK_VIEW(y, n);
    RUN_KERNEL(axpy(be, n, a, x, y));
}

enum clann_status clann__op_guard_check(struct clann_backend *be, struct clann_view sumsq,
                                        struct clann_view flag, float value)
{
    CHECK_VIEW(sumsq, 1);
    CHECK_VIEW(flag, 1);
    RUN_KERNEL(guard_check(be, sumsq, flag, value));
}

enum clann_status clann__op_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                              struct clann_view out, struct clann_view flag)
{
    CHECK_VIEW(x, 1);
    CHECK_VIEW(out, 1);
    CHECK_VIEW(flag, 1);
    RUN_KERNEL(accumulate_unless(be, x, out, flag));
}

enum clann_status clann__op_guard_skip(struct clann_backend *be, struct clann_view flag,
                                       struct clann_view run, struct clann_view stop,
                                       float limit, float value)
{
    CHECK_VIEW(flag, 1);
    CHECK_VIEW(run, 1);
    CHECK_VIEW(stop, 1);
    RUN_KERNEL(guard_skip(be, flag, run, stop, limit, value));
}

enum clann_status clann__op_guard_grads(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view sumsq, struct clann_view batch,
                                        struct clann_view flag, float value,
                                        struct clann_view loss)
{
    if (!be->ops->guard_grads) {
        enum clann_status st = clann__op_guard_check(be, batch, flag, value);
        if (st == CLANN_OK)
            st = clann__op_sum_squares(be, x, n, sumsq, 0.0f);
        if (st == CLANN_OK)
            st = clann__op_guard_check(be, sumsq, flag, value);
        if (st == CLANN_OK && loss.buf)
            st = clann__op_accumulate_unless(be, batch, loss, flag);
        return st;
    }
    CHECK_VIEW(x, n);
    CHECK_VIEW(sumsq, 1);
    CHECK_VIEW(batch, 1);
    CHECK_VIEW(flag, 1);
    CHECK_OPTIONAL(loss, 1);
    RUN_KERNEL(guard_grads(be, x, n, sumsq, batch, flag, value, loss));
}

/* ---------------------------------------------------------------------------------------------
 * Regularization: penalties, constraints, noise, batch normalization.
 */

enum clann_status clann__op_soft_threshold(struct clann_backend *be, struct clann_view x,
                                           size_t n, float threshold, struct clann_view v,
                                           float delta, float eps, struct clann_view guard)
{
    CHECK_VIEW(x, n);
    CHECK_OPTIONAL(v, n);
    CHECK_OPTIONAL(guard, 1);
    RUN_KERNEL(soft_threshold(be, x, n, threshold, v, delta, eps, guard));
}

enum clann_status clann__op_constrain(struct clann_backend *be,
                                      const struct clann_constraint_op *c, struct clann_view x,
                                      size_t rows, size_t cols, struct clann_view guard)
{
    if (!c || (unsigned)c->kind > CLANN__CONSTRAINT_NON_NEG)
        return bad_kind(be, OP_NAME, c ? (int)c->kind : -1);
    CHECK_VIEW(x, extent(rows, cols, cols));
    CHECK_OPTIONAL(guard, 1);
    RUN_KERNEL(constrain(be, c, x, rows, cols, guard));
}

enum clann_status clann__op_add_noise(struct clann_backend *be, struct clann_view x, size_t n,
                                      struct clann_rng_key key, float stddev)
{
    CHECK_VIEW(x, n);
    RUN_KERNEL(add_noise(be, x, n, key, stddev));
}

/* The floats of a batch norm's rows x (cols spatial) input, SIZE_MAX on overflow (which makes
 * the view checks fail). */
static size_t bn_total(size_t rows, size_t cols, size_t spatial)
{
    size_t width;
    if (!clann__mul_size(cols, spatial, &width))
        return SIZE_MAX;
    return extent(rows, width, width);
}

#define CHECK_SPATIAL(spatial)                                                                    \
    do {                                                                                          \
        if ((spatial) == 0)                                                                       \
            return clann__error(be->ctx, CLANN_ERR_SHAPE, "%s: spatial size 0 (1 for a dense "  \
                                "layer, H W for images)", OP_NAME);                               \
    } while (0)

enum clann_status clann__op_batchnorm_forward(struct clann_backend *be, struct clann_view x,
                                              struct clann_view y, size_t rows, size_t cols,
                                              size_t spatial, struct clann_view gamma,
                                              struct clann_view beta, struct clann_view stats,
                                              struct clann_view running, float eps,
                                              bool training)
{
    CHECK_SPATIAL(spatial);
    size_t total = bn_total(rows, cols, spatial);
    CHECK_VIEW(x, total);
    CHECK_VIEW(y, total);
    CHECK_VIEW(gamma, cols);
    CHECK_VIEW(beta, cols);
    if (training)
        CHECK_VIEW(stats, 3 * cols);
    else
        CHECK_VIEW(running, 2 * cols);
    RUN_KERNEL(batchnorm_forward(be, x, y, rows, cols, spatial, gamma, beta, stats, running,
                                 eps, training));
}

enum clann_status clann__op_moving_average(struct clann_backend *be, struct clann_view avg,
                                           struct clann_view x, size_t n, float momentum,
                                           struct clann_view guard)
{
    CHECK_VIEW(avg, n);
    CHECK_VIEW(x, n);
    CHECK_OPTIONAL(guard, 1);
    RUN_KERNEL(moving_average(be, avg, x, n, momentum, guard));
}

enum clann_status clann__op_batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                               struct clann_view dy, size_t rows, size_t cols,
                                               size_t spatial, struct clann_view gamma,
                                               struct clann_view mean, struct clann_view invstd,
                                               struct clann_view dx, struct clann_view dgamma,
                                               struct clann_view dbeta)
{
    CHECK_SPATIAL(spatial);
    size_t total = bn_total(rows, cols, spatial);
    CHECK_VIEW(x, total);
    CHECK_VIEW(dy, total);
    CHECK_VIEW(dx, total);
    CHECK_VIEW(gamma, cols);
    CHECK_VIEW(mean, cols);
    CHECK_VIEW(invstd, cols);
    CHECK_VIEW(dgamma, cols);
    CHECK_VIEW(dbeta, cols);
    RUN_KERNEL(batchnorm_backward(be, x, dy, rows, cols, spatial, gamma, mean, invstd, dx,
                                  dgamma, dbeta));
}

/* rows x (channels * spatial) values, SIZE_MAX on overflow. */
static size_t bn_extent(size_t rows, size_t channels, size_t spatial)
{
    size_t cols, total;
    if (!clann__mul_size(channels, spatial, &cols) || !clann__mul_size(rows, cols, &total))
        return SIZE_MAX;
    return total;
}

enum clann_status clann__op_batchnorm_sums(struct clann_backend *be, struct clann_view x,
                                           size_t rows, size_t channels, size_t spatial,
                                           struct clann_view center, struct clann_view out)
{
    if (!be->ops->batchnorm_sums)
        return clann__error(be->ctx, CLANN_ERR_UNSUPPORTED, "batchnorm_sums: the %s backend "
                            "cannot normalize a batch spread across ranks", be->ops->name);
    CHECK_VIEW(x, bn_extent(rows, channels, spatial));
    CHECK_OPTIONAL(center, channels);
    CHECK_VIEW(out, channels);
    RUN_KERNEL(batchnorm_sums(be, x, rows, channels, spatial, center, out));
}

enum clann_status clann__op_batchnorm_dx(struct clann_backend *be, struct clann_view x,
                                         struct clann_view dy, size_t rows, size_t channels,
                                         size_t spatial, struct clann_view gamma,
                                         struct clann_view mean, struct clann_view invstd,
                                         struct clann_view dgamma, struct clann_view dbeta,
                                         float count, struct clann_view dx)
{
    if (!be->ops->batchnorm_dx)
        return clann__error(be->ctx, CLANN_ERR_UNSUPPORTED, "batchnorm_dx: the %s backend "
                            "cannot normalize a batch spread across ranks", be->ops->name);
    size_t total = bn_extent(rows, channels, spatial);
    CHECK_VIEW(x, total);
    CHECK_VIEW(dy, total);
    CHECK_VIEW(dx, total);
    CHECK_VIEW(gamma, channels);
    CHECK_VIEW(mean, channels);
    CHECK_VIEW(invstd, channels);
    CHECK_VIEW(dgamma, channels);
    CHECK_VIEW(dbeta, channels);
    if (!(count > 0.0f))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "batchnorm_dx: count %g is not "
                            "positive", (double)count);
    RUN_KERNEL(batchnorm_dx(be, x, dy, rows, channels, spatial, gamma, mean, invstd, dgamma,
                            dbeta, count, dx));
}

/* ---------------------------------------------------------------------------------------------
 * Convolution and pooling: the geometry is checked here once (sizes that multiply without
 * overflow, out_h and out_w that the window can reach), so that backends index freely.
 */

/* Floats of an n x a x b tensor, SIZE_MAX on overflow. */
static size_t volume3(size_t n, size_t a, size_t b)
{
    size_t ab, v;
    if (!clann__mul_size(a, b, &ab) || !clann__mul_size(n, ab, &v))
        return SIZE_MAX;
    return v;
}

static enum clann_status check_geom(struct clann_backend *be, const char *op,
                                    const struct clann_conv_geom *g)
{
    if (!g || g->stride == 0 || g->dilation == 0 || g->kernel_h == 0 || g->kernel_w == 0)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "%s_%s: stride, dilation and kernel sizes must be >= 1",
                            be->ops->name, op);
    size_t in_h = g->height + g->pad_top, in_w = g->width + g->pad_left;
    /* the last output's window must start inside the (padded) image */
    if ((g->out_h && (g->out_h - 1) * g->stride >= in_h) ||
        (g->out_w && (g->out_w - 1) * g->stride >= in_w) ||
        volume3(g->batch, g->channels, volume3(g->height, g->width, 1)) == SIZE_MAX ||
        volume3(g->batch, volume3(g->channels, g->kernel_h, g->kernel_w),
                volume3(g->out_h, g->out_w, 1)) == SIZE_MAX ||
        g->height > UINT32_MAX || g->width > UINT32_MAX || g->out_h > UINT32_MAX ||
        g->out_w > UINT32_MAX)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "%s_%s: output %zux%zu does not fit input %zux%zu (pad %zu,%zu, "
                            "stride %zu)",
                            be->ops->name, op, g->out_h, g->out_w, g->height, g->width,
                            g->pad_top, g->pad_left, g->stride);
    return CLANN_OK;
}

#define CHECK_GEOM(g) CHECK(check_geom(be, OP_NAME, (g)))

static size_t geom_in(const struct clann_conv_geom *g)
{
    return volume3(g->batch, g->channels, g->height * g->width);
}

static size_t geom_out(const struct clann_conv_geom *g, size_t channels)
{
    return volume3(g->batch, channels, g->out_h * g->out_w);
}

static size_t geom_col(const struct clann_conv_geom *g)
{
    return geom_out(g, g->channels * g->kernel_h * g->kernel_w);
}

enum clann_status clann__op_im2col(struct clann_backend *be, const struct clann_conv_geom *g,
                                   struct clann_view x, struct clann_view col)
{
    CHECK_GEOM(g);
    CHECK_VIEW(x, geom_in(g));
    CHECK_VIEW(col, geom_col(g));
    RUN_KERNEL(im2col(be, g, x, col));
}

enum clann_status clann__op_col2im(struct clann_backend *be, const struct clann_conv_geom *g,
                                   struct clann_view col, struct clann_view x)
{
    CHECK_GEOM(g);
    CHECK_VIEW(col, geom_col(g));
    CHECK_VIEW(x, geom_in(g));
    RUN_KERNEL(col2im(be, g, col, x));
}

enum clann_status clann__op_channel_bias(struct clann_backend *be, struct clann_view x,
                                         struct clann_view bias, size_t n, size_t channels,
                                         size_t hw)
{
    CHECK_VIEW(x, volume3(n, channels, hw));
    CHECK_VIEW(bias, channels);
    RUN_KERNEL(channel_bias(be, x, bias, n, channels, hw));
}

enum clann_status clann__op_channel_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                        size_t channels, size_t hw, struct clann_view out,
                                        float beta)
{
    CHECK_VIEW(x, volume3(n, channels, hw));
    CHECK_VIEW(out, channels);
    RUN_KERNEL(channel_sum(be, x, n, channels, hw, out, beta));
}

enum clann_status clann__op_pool2d_forward(struct clann_backend *be,
                                           const struct clann_conv_geom *g, bool max,
                                           struct clann_view x, struct clann_view y)
{
    CHECK_GEOM(g);
    CHECK_VIEW(x, geom_in(g));
    CHECK_VIEW(y, geom_out(g, g->channels));
    RUN_KERNEL(pool2d_forward(be, g, max, x, y));
}

enum clann_status clann__op_pool2d_backward(struct clann_backend *be,
                                            const struct clann_conv_geom *g, bool max,
                                            struct clann_view x, struct clann_view dy,
                                            struct clann_view dx)
{
    CHECK_GEOM(g);
    if (max)
        CHECK_VIEW(x, geom_in(g));
    CHECK_VIEW(dy, geom_out(g, g->channels));
    CHECK_VIEW(dx, geom_in(g));
    RUN_KERNEL(pool2d_backward(be, g, max, x, dy, dx));
}

/* ---------------------------------------------------------------------------------------------
 * Feature layer. The embedding entries are optional in the table; a backend without them
 * answers ERR_UNSUPPORTED here.
 */

static enum clann_status unsupported(struct clann_backend *be, const char *op)
{
    return clann__error(be->ctx, CLANN_ERR_UNSUPPORTED,
                        "%s: the %s backend has no feature-layer ops (embeddings)", op,
                        be->ops->name);
}

enum clann_status clann__op_copy_cols(struct clann_backend *be, struct clann_view x, size_t ldx,
                                      struct clann_view y, size_t ldy, size_t rows, size_t cols)
{
    if (!be->ops->copy_cols)
        return unsupported(be, OP_NAME);
    CHECK_VIEW(x, extent(rows, cols, ldx));
    CHECK_VIEW(y, extent(rows, cols, ldy));
    RUN_KERNEL(copy_cols(be, x, ldx, y, ldy, rows, cols));
}

enum clann_status clann__op_embedding_forward(struct clann_backend *be, struct clann_view ids,
                                              size_t ldi, size_t width, size_t rows,
                                              struct clann_view table, size_t n_ids, size_t dim,
                                              enum clann_combiner combiner, struct clann_view y,
                                              size_t ldy)
{
    size_t tn;
    if (!be->ops->embedding_forward)
        return unsupported(be, OP_NAME);
    if (!clann__mul_size(n_ids, dim, &tn) || (!table.buf && dim != n_ids))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "embedding_forward: bad table "
                            "shape %zu x %zu", n_ids, dim);
    CHECK_VIEW(ids, extent(rows, width, ldi));
    CHECK_VIEW(y, extent(rows, dim, ldy));
    CHECK_OPTIONAL(table, tn);
    RUN_KERNEL(embedding_forward(be, ids, ldi, width, rows, table, n_ids, dim, combiner, y,
                                 ldy));
}

enum clann_status clann__op_embedding_backward(struct clann_backend *be, struct clann_view dy,
                                               size_t ldy, struct clann_view ids, size_t ldi,
                                               size_t width, size_t rows, size_t n_ids,
                                               enum clann_combiner combiner,
                                               struct clann_view offsets, struct clann_view occ,
                                               size_t n_occ, size_t n_unique, size_t dim,
                                               struct clann_view grad)
{
    size_t gn;
    if (!be->ops->embedding_backward)
        return unsupported(be, OP_NAME);
    if (!clann__mul_size(n_unique, dim, &gn) || n_unique == SIZE_MAX)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "embedding_backward: size");
    CHECK_VIEW(dy, extent(rows, dim, ldy));
    CHECK_VIEW(ids, extent(rows, width, ldi));
    CHECK_VIEW(offsets, n_unique + 1);
    CHECK_VIEW(occ, n_occ);
    CHECK_VIEW(grad, gn);
    RUN_KERNEL(embedding_backward(be, dy, ldy, ids, ldi, width, rows, n_ids, combiner, offsets,
                                  occ, n_occ, n_unique, dim, grad));
}

enum clann_status clann__op_embedding_update(struct clann_backend *be, const struct clann_opt *opt,
                                             struct clann_view table, struct clann_view s1,
                                             struct clann_view s2, size_t n_ids, size_t dim,
                                             struct clann_view uniq, struct clann_view grad,
                                             size_t n_unique)
{
    size_t tn, gn;
    struct clann_opt o;
    if (!be->ops->embedding_update)
        return unsupported(be, OP_NAME);
    if (!clann__mul_size(n_ids, dim, &tn) || !clann__mul_size(n_unique, dim, &gn))
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "embedding_update: size");
    /* An empty update reads no state: its views are checked only as far as they are used. */
    bool empty = n_unique == 0 || dim == 0;
    CHECK(opt_prepare(be, OP_NAME, opt, s1, s2, empty ? 0 : tn, &o));
    CHECK_VIEW(table, empty ? 0 : tn);
    CHECK_VIEW(uniq, n_unique);
    CHECK_VIEW(grad, gn);
    RUN_KERNEL(embedding_update(be, &o, table, s1, s2, n_ids, dim, uniq, grad, n_unique));
}

void clann__op_embedding_prefetch(struct clann_backend *be, struct clann_view table,
                                  struct clann_view s1, struct clann_view s2, size_t n_ids,
                                  size_t dim, struct clann_view uniq, size_t n_unique)
{
    /* A hint: nothing to do (and no error to record) on a backend without it, or without the
     * ids to read; the update that follows reports a bad view. */
    if (!be->ops->embedding_prefetch || n_unique == 0 || !uniq.buf || !uniq.buf->ptr ||
        uniq.off > uniq.buf->n || n_unique > uniq.buf->n - uniq.off)
        return;
    be->ops->embedding_prefetch(be, table, s1, s2, n_ids, dim, uniq, n_unique);
}

void clann__backend_init(struct clann_backend *be, const struct clann_backend_ops *ops,
                         struct clann_context *ctx)
{
    be->ops = ops;
    be->ctx = ctx;
    be->profiler = NULL;
    be->profiler_user = NULL;
}
