/*
 * opencl_blas.c - the ops of cl/blas.cl: fill, copy, axpy, clipping and the two-stage
 * reductions (sum, sum of squares, of absolute values, zero counts).
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Fill, copy.
 */

/* One kernel over x[0..n) in place with one float parameter: fill and clip_by_value share
 * their checks and arguments (x, n, value). */
static enum clann_status launch_inplace(struct clann_backend *be_, const char *op,
                                        enum kernel_id id, struct clann_view x, size_t n,
                                        float value)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, op, n));
    struct kargs a = ka_begin(cl_be(be_), id);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_f32(&a, value);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_fill(struct clann_backend *be_, struct clann_view x, size_t n,
                          float value)
{
    return launch_inplace(be_, "fill", K_FILL, x, n, value);
}

enum clann_status op_copy(struct clann_backend *be_, struct clann_view dst,
                          struct clann_view src, size_t n)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "copy", n));
    struct kargs a = ka_begin(cl_be(be_), K_COPY);
    ka_view(&a, dst);
    ka_view(&a, src);
    ka_u32(&a, n);
    return LAUNCH_1D(&a, n);
}

/* ---------------------------------------------------------------------------------------------
 * Reductions.
 */

/* What reduce_partial adds up: the values of REDUCE_* in cl/blas.cl. */
enum reduce_mode { REDUCE_PLAIN = 0, REDUCE_SQUARES = 1, REDUCE_ABS = 2, REDUCE_ZEROS = 3 };

/* Stage 1 on GPUs: at most REDUCE_GROUPS work-groups, each item adding strided elements (the
 * reads of a group coalesce); *groups = the partial sums written. */
static enum clann_status reduce_partial(struct cl_backend *be, struct clann_view x, size_t n,
                                        enum reduce_mode mode, size_t *groups)
{
    size_t local = be->wgs[K_REDUCE_PARTIAL];
    size_t g = (n + local - 1) / local;
    g = g < 1 ? 1 : g > REDUCE_GROUPS ? REDUCE_GROUPS : g;
    struct kargs a = ka_begin(be, K_REDUCE_PARTIAL);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_i32(&a, (int)mode);
    ka_mem(&a, be->partials);
    ka_local_floats(&a, local);
    size_t global = g * local;
    *groups = g;
    return LAUNCH(&a, 1, &global, &local);
}

/* Stage 1 on CPU devices: contiguous chunks of at least REDUCE_CHUNK_MIN floats, one
 * single-item work-group each (a multi-item group would loop with barriers); a single chunk
 * finishes the reduction itself (*groups = 0), else *groups = the partial sums written. */
static enum clann_status reduce_chunks(struct cl_backend *be, struct clann_view x, size_t n,
                                       enum reduce_mode mode, float scale, struct clann_view out,
                                       float beta, size_t *groups)
{
    size_t chunk = round_up((n + REDUCE_CPU_GROUPS - 1) / REDUCE_CPU_GROUPS, 8);
    chunk = chunk < REDUCE_CHUNK_MIN ? REDUCE_CHUNK_MIN : chunk;
    size_t g = n > chunk ? (n + chunk - 1) / chunk : 1;
    struct kargs a = ka_begin(be, K_REDUCE_CHUNKS);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_i32(&a, (int)mode);
    ka_mem(&a, be->partials);
    ka_u32(&a, chunk);
    ka_view(&a, out);
    ka_f32(&a, scale);
    ka_f32(&a, beta);
    size_t local = 1;
    *groups = g > 1 ? g : 0;
    return LAUNCH(&a, 1, &g, &local);
}

/* out[0] = beta * out[0] + scale * sum_i f(x[i]) (f per mode), in two stages with a work-group
 * count that depends only on n and the device's work-group size. */
static enum clann_status reduce(struct clann_backend *be_, const char *op, struct clann_view x,
                                size_t n, enum reduce_mode mode, float scale,
                                struct clann_view out, float beta)
{
    struct cl_backend *be = cl_be(be_);
    CHECK(check_count(be_, op, n));
    if (n == 0)
        x = out;
    size_t groups = 0;
    if (be->cpu_device)
        CHECK(reduce_chunks(be, x, n, mode, scale, out, beta, &groups));
    else
        CHECK(reduce_partial(be, x, n, mode, &groups));
    if (groups == 0)
        return CLANN_OK; /* reduce_chunks did it all */

    /* one work-item on CPU devices, where a work-group's barriers cost more than the sum */
    size_t local2 = be->cpu_device ? 1 : be->wgs[K_REDUCE_FINAL];
    struct kargs b = ka_begin(be, K_REDUCE_FINAL);
    ka_mem(&b, be->partials);
    ka_u32(&b, groups);
    ka_view(&b, out);
    ka_f32(&b, scale);
    ka_f32(&b, beta);
    ka_local_floats(&b, local2);
    return LAUNCH(&b, 1, &local2, &local2);
}

enum clann_status op_sum(struct clann_backend *be, struct clann_view x, size_t n,
                         float scale, struct clann_view out, float beta)
{
    return reduce(be, "sum", x, n, REDUCE_PLAIN, scale, out, beta);
}

enum clann_status op_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_view out, float beta)
{
    return reduce(be, "sum_squares", x, n, REDUCE_SQUARES, 1.0f, out, beta);
}

/* The NaN guard in two launches instead of five: the first reduction stage of the squares, then
 * guard_final (the second stage, both finiteness checks and the loss accumulation). */
enum clann_status op_guard_grads(struct clann_backend *be_, struct clann_view x, size_t n,
                                 struct clann_view sumsq, struct clann_view batch,
                                 struct clann_view flag, float value, struct clann_view loss)
{
    struct cl_backend *be = cl_be(be_);
    CHECK(check_count(be_, "guard_grads", n));
    if (n == 0)
        x = sumsq;
    size_t groups = 0;
    if (be->cpu_device)
        CHECK(reduce_chunks(be, x, n, REDUCE_SQUARES, 1.0f, sumsq, 0.0f, &groups));
    else
        CHECK(reduce_partial(be, x, n, REDUCE_SQUARES, &groups));
    size_t local = be->cpu_device ? 1 : be->wgs[K_GUARD_FINAL];
    struct kargs a = ka_begin(be, K_GUARD_FINAL);
    ka_mem(&a, be->partials);
    ka_u32(&a, groups);
    ka_view(&a, sumsq);
    ka_view(&a, batch);
    ka_view(&a, flag);
    ka_f32(&a, value);
    ka_view(&a, loss);
    ka_i32(&a, loss.buf != NULL);
    ka_local_floats(&a, local);
    return LAUNCH(&a, 1, &local, &local);
}

enum clann_status op_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                struct clann_view out, float beta)
{
    return reduce(be, "count_zero", x, n, REDUCE_ZEROS, 1.0f, out, beta);
}

enum clann_status op_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                             struct clann_view out, float beta)
{
    return reduce(be, "sum_abs", x, n, REDUCE_ABS, 1.0f, out, beta);
}

/* ---------------------------------------------------------------------------------------------
 * Clipping and axpy.
 */

enum clann_status op_clip_by_norm(struct clann_backend *be_, struct clann_view x, size_t n,
                                  struct clann_view sumsq, float max_norm)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "clip_by_norm", n));
    struct kargs a = ka_begin(cl_be(be_), K_CLIP_BY_NORM);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_view(&a, sumsq);
    ka_f32(&a, max_norm);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_clip_by_value(struct clann_backend *be_, struct clann_view x,
                                   size_t n, float limit)
{
    return launch_inplace(be_, "clip_by_value", K_CLIP_BY_VALUE, x, n, limit);
}

enum clann_status op_axpy(struct clann_backend *be_, size_t n, float alpha,
                          struct clann_view x, struct clann_view y)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "axpy", n));
    struct kargs a = ka_begin(cl_be(be_), K_AXPY);
    ka_u32(&a, n);
    ka_f32(&a, alpha);
    ka_view(&a, x);
    ka_view(&a, y);
    return LAUNCH_1D(&a, n);
}

