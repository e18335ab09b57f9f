/*
 * opencl_regularize.c - the ops of cl/regularize.cl: L1's proximal step, constraints, noise
 * and batch normalization.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Regularization: penalties, constraints, noise, batch normalization (cl/regularize.cl).
 */

/* Launches a one-work-group-per-column kernel over `cols` columns of `rows` rows, appending its
 * local scratch as the last argument. The group size, the smallest power of two covering rows
 * (capped by the kernel's limit), depends on rows and the device alone, so the summation order
 * of every column is fixed. */
static enum clann_status ka_launch_columns(struct kargs *a, size_t rows, size_t cols,
                                           const char *file, int line)
{
    size_t local = 1;
    while (local < rows && local < a->be->wgs[a->id])
        local *= 2;
    ka_local_floats(a, local);
    size_t global = cols * local;
    return ka_launch(a, 1, &global, &local, file, line);
}

#define LAUNCH_COLUMNS(a, rows, cols) ka_launch_columns((a), (rows), (cols), __FILE__, __LINE__)

enum clann_status op_soft_threshold(struct clann_backend *be_, struct clann_view x,
                                    size_t n, float threshold, struct clann_view v2, float delta,
                                    float eps, struct clann_view guard)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "soft_threshold", n));
    struct kargs a = ka_begin(cl_be(be_), K_SOFT_THRESHOLD);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_f32(&a, threshold);
    ka_guard(&a, v2); /* the view and whether there is one, as a guard's */
    ka_f32(&a, delta);
    ka_f32(&a, eps);
    ka_guard(&a, guard);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_constrain(struct clann_backend *be_,
                               const struct clann_constraint_op *c, struct clann_view x,
                               size_t rows, size_t cols, struct clann_view guard)
{
    size_t n;
    CHECK(check_matrix(be_, "constrain", rows, cols, &n));
    if (n == 0 || c->kind == CLANN__CONSTRAINT_NONE)
        return CLANN_OK;
    if (c->kind == CLANN__CONSTRAINT_NON_NEG) {
        struct kargs a = ka_begin(cl_be(be_), K_CONSTRAIN_NON_NEG);
        ka_view(&a, x);
        ka_u32(&a, n);
        ka_guard(&a, guard);
        return LAUNCH_1D(&a, n);
    }
    struct kargs a = ka_begin(cl_be(be_), K_CONSTRAIN_COLUMNS);
    ka_view(&a, x);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_i32(&a, (int)c->kind);
    ka_f32(&a, c->min_value);
    ka_f32(&a, c->max_value);
    ka_f32(&a, c->rate);
    ka_guard(&a, guard);
    return LAUNCH_COLUMNS(&a, rows, cols);
}

enum clann_status op_add_noise(struct clann_backend *be_, struct clann_view x, size_t n,
                               struct clann_rng_key key, float stddev)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "add_noise", n));
    struct kargs a = ka_begin(cl_be(be_), K_ADD_NOISE);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_u64(&a, key.seed);
    ka_u32(&a, key.stream);
    ka_u64(&a, key.offset);
    ka_f32(&a, stddev);
    return LAUNCH_1D(&a, n);
}

/* Inference: y from the running statistics, one work-item per element. */
static enum clann_status batchnorm_infer(struct cl_backend *be, struct clann_view x,
                                         struct clann_view y, size_t rows, size_t cols,
                                         size_t spatial, struct clann_view gamma,
                                         struct clann_view beta, struct clann_view running_mean,
                                         struct clann_view running_var, float eps)
{
    struct kargs a = ka_begin(be, K_BATCHNORM_INFER);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_u32(&a, spatial);
    ka_view(&a, gamma);
    ka_view(&a, beta);
    ka_view(&a, running_mean);
    ka_view(&a, running_var);
    ka_f32(&a, eps);
    return LAUNCH_1D(&a, rows * cols * spatial);
}

/* The group size of the feature kernels follows the rows spatial values of a feature (the
 * ops wrapper checked that cols spatial does not overflow). */
enum clann_status op_batchnorm_forward(struct clann_backend *be_, struct clann_view x,
                                       struct clann_view y, size_t rows, size_t cols,
                                       size_t spatial, struct clann_view gamma,
                                       struct clann_view beta, struct clann_view stats,
                                       struct clann_view running, float eps, bool training)
{
    const char *op = "batchnorm_forward";
    size_t n;
    CHECK(check_matrix(be_, op, rows, cols * spatial, &n));
    if (cols == 0 || (n == 0 && !training))
        return CLANN_OK;
    if (n == 0)
        x = y = gamma; /* rows = 0 (training): the statistics alone are written, as the CPU */
    if (!training) {
        struct clann_view running_var = {running.buf, running.off + cols};
        return batchnorm_infer(cl_be(be_), x, y, rows, cols, spatial, gamma, beta, running,
                               running_var, eps);
    }
    struct kargs a = ka_begin(cl_be(be_), K_BATCHNORM_TRAIN);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_u32(&a, spatial);
    ka_view(&a, gamma);
    ka_view(&a, beta);
    ka_view(&a, stats);
    ka_f32(&a, eps);
    return LAUNCH_COLUMNS(&a, rows * spatial, cols);
}

enum clann_status op_moving_average(struct clann_backend *be_, struct clann_view avg,
                                    struct clann_view x, size_t n, float momentum,
                                    struct clann_view guard)
{
    const char *op = "moving_average";
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, op, n));
    struct kargs a = ka_begin(cl_be(be_), K_MOVING_AVERAGE);
    ka_view(&a, avg);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_f32(&a, momentum);
    ka_guard(&a, guard);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_batchnorm_backward(struct clann_backend *be_, struct clann_view x,
                                        struct clann_view dy, size_t rows, size_t cols,
                                        size_t spatial, struct clann_view gamma,
                                        struct clann_view mean, struct clann_view invstd,
                                        struct clann_view dx, struct clann_view dgamma,
                                        struct clann_view dbeta)
{
    const char *op = "batchnorm_backward";
    size_t n;
    CHECK(check_matrix(be_, op, rows, cols * spatial, &n));
    if (cols == 0)
        return CLANN_OK;
    if (n == 0)
        x = dy = dx = gamma; /* rows = 0: dgamma = dbeta = 0 and no row is touched */
    struct kargs a = ka_begin(cl_be(be_), K_BATCHNORM_BACKWARD);
    ka_view(&a, x);
    ka_view(&a, dy);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_u32(&a, spatial);
    ka_view(&a, gamma);
    ka_view(&a, mean);
    ka_view(&a, invstd);
    ka_view(&a, dx);
    ka_view(&a, dgamma);
    ka_view(&a, dbeta);
    return LAUNCH_COLUMNS(&a, rows * spatial, cols);
}


/* rows * channels * spatial within the kernels' 32-bit counts; *values: rows * spatial. */
static enum clann_status check_bn(struct clann_backend *be_, const char *op, size_t rows,
                                  size_t channels, size_t spatial, size_t *values)
{
    size_t n;
    enum clann_status st = check_matrix(be_, op, rows, channels, &n);
    if (st == CLANN_OK)
        st = check_matrix(be_, op, n, spatial, &n);
    *values = rows * spatial;
    return st;
}

enum clann_status op_batchnorm_sums(struct clann_backend *be_, struct clann_view x, size_t rows,
                                    size_t channels, size_t spatial, struct clann_view center,
                                    struct clann_view out)
{
    size_t values;
    CHECK(check_bn(be_, "batchnorm_sums", rows, channels, spatial, &values));
    if (channels == 0)
        return CLANN_OK;
    if (values == 0)
        x = out; /* no rows: zero sums, nothing read */
    struct kargs a = ka_begin(cl_be(be_), K_BATCHNORM_SUMS);
    ka_view(&a, x);
    ka_u32(&a, rows);
    ka_u32(&a, channels);
    ka_u32(&a, spatial);
    ka_view(&a, center.buf ? center : out);
    ka_u32(&a, center.buf != NULL);
    ka_view(&a, out);
    return LAUNCH_COLUMNS(&a, values, channels);
}

enum clann_status op_batchnorm_dx(struct clann_backend *be_, struct clann_view x,
                                  struct clann_view dy, size_t rows, size_t channels,
                                  size_t spatial, struct clann_view gamma, struct clann_view mean,
                                  struct clann_view invstd, struct clann_view dgamma,
                                  struct clann_view dbeta, float count, struct clann_view dx)
{
    size_t values;
    CHECK(check_bn(be_, "batchnorm_dx", rows, channels, spatial, &values));
    if (channels == 0 || values == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_BATCHNORM_DX);
    ka_view(&a, x);
    ka_view(&a, dy);
    ka_u32(&a, rows);
    ka_u32(&a, channels);
    ka_u32(&a, spatial);
    ka_view(&a, gamma);
    ka_view(&a, mean);
    ka_view(&a, invstd);
    ka_view(&a, dgamma);
    ka_view(&a, dbeta);
    ka_f32(&a, count);
    ka_view(&a, dx);
    return LAUNCH_COLUMNS(&a, values, channels);
}
