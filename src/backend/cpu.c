/*
 * cpu.c - the built-in CPU backend. It is the reference every other backend is tested against,
 * so each op is plain scalar C that computes the formula written in backend.h, with sums and
 * transcendental functions evaluated in double and rounded to float once at the end. The one
 * exception is FAST mode's GEMM, which goes through CBLAS (or a cache-blocked float loop when
 * the build has no CBLAS); every other op is memory-bound and shares the scalar code.
 *
 * FAST mode also runs the hot ops of a training step through loops written for the compiler
 * to vectorize (bias + ReLU, ReLU's backward pass, column sums, the optimizer update) that
 * compute bit for bit what the scalar code computes, and splits large GEMMs and the optimizer
 * update between the calling thread and one worker thread (see "Second thread" in
 * cpu_pool.c).
 *
 * Files: cpu.c (this one) holds buffers, transfers, the ops table and construction; cpu_pool.c
 * the second thread, cpu_gemm.c the GEMM, cpu_ops.c the other ops, cpu_conv.c convolution and
 * pooling, and cpu_embedding.c the feature-layer ops, sharing cpu_impl.h.
 *
 * Ops run synchronously on the calling thread, so upload/download/finish need no queue.
 * Views, kinds and sizes arrive checked by the clann__op_ wrappers (ops.c): every view an op
 * reads or writes lies within its buffer.
 */
#include "backend/cpu_impl.h"

#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Buffers and transfers.
 */

static void cpu_destroy(struct clann_backend *be)
{
    pool_destroy(((struct cpu_backend *)be)->pool);
    clann__free(be);
}

static enum clann_status cpu_buf_alloc(struct clann_backend *be, size_t n, struct clann_buf *buf)
{
    size_t bytes;
    /* One float at least: malloc(0) may return NULL, which would read as a failure. */
    if (!clann__mul_size(n ? n : 1, sizeof(float), &bytes))
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE, "cpu buf_alloc: %zu floats overflow",
                            n);
    buf->ptr = clann__malloc_large(bytes);
    if (!buf->ptr)
        return clann__error(be->ctx, CLANN_ERR_DEVICE_MEMORY,
                            "cpu buf_alloc: cannot allocate %zu bytes of host memory", bytes);
    buf->be = be;
    buf->n = n;
    return CLANN_OK;
}

static void cpu_buf_free(struct clann_backend *be, struct clann_buf *buf)
{
    clann__free(buf->ptr);
    buf->ptr = NULL;
    buf->n = 0;
}

static enum clann_status cpu_upload(struct clann_backend *be, struct clann_view dst,
                                    const float *src, size_t n, bool blocking)
{
    if (n)
        memcpy(at(dst), src, n * sizeof(float));
    return CLANN_OK;
}

static enum clann_status cpu_download(struct clann_backend *be, float *dst,
                                      struct clann_view src, size_t n)
{
    if (n)
        memcpy(dst, at(src), n * sizeof(float));
    return CLANN_OK;
}

static enum clann_status cpu_finish(struct clann_backend *be)
{
    return CLANN_OK; /* every op has completed when it returns */
}

static enum clann_status cpu_fill(struct clann_backend *be, struct clann_view x, size_t n,
                                  float value)
{
    for (size_t i = 0; i < n; i++)
        at(x)[i] = value;
    return CLANN_OK;
}

static enum clann_status cpu_copy(struct clann_backend *be, struct clann_view dst,
                                  struct clann_view src, size_t n)
{
    if (n) /* memmove: an overlapping (invalid) call still gives a defined result */
        memmove(at(dst), at(src), n * sizeof(float));
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Construction.
 */

static const struct clann_backend_ops cpu_ops = {
    .name = "cpu",
    .destroy = cpu_destroy,
    .buf_alloc = cpu_buf_alloc,
    .buf_free = cpu_buf_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .finish = cpu_finish,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .gemm = cpu_gemm,
    .gemm_batched = cpu_gemm_batched,
    .rng_uniform = cpu_rng_uniform,
    .rng_normal = cpu_rng_normal,
    .bias_act_forward = cpu_bias_act_forward,
    .act_backward = cpu_act_backward,
    .prelu_grad = cpu_prelu_grad,
    .col_sum = cpu_col_sum,
    .loss = cpu_loss,
    .sum = cpu_sum,
    .sum_squares = cpu_sum_squares,
    .count_correct = cpu_count_correct,
    .optimizer_step = cpu_optimizer_step,
    .clip_by_norm = cpu_clip_by_norm,
    .clip_by_value = cpu_clip_by_value,
    .axpy = cpu_axpy,
    .dropout = cpu_dropout,
    .sum_abs = cpu_sum_abs,
    .soft_threshold = cpu_soft_threshold,
    .constrain = cpu_constrain,
    .add_noise = cpu_add_noise,
    .batchnorm_forward = cpu_batchnorm_forward,
    .moving_average = cpu_moving_average,
    .batchnorm_backward = cpu_batchnorm_backward,
    .batchnorm_sums = cpu_batchnorm_sums,
    .batchnorm_dx = cpu_batchnorm_dx,
    .guard_check = cpu_guard_check,
    .accumulate_unless = cpu_accumulate_unless,
    .guard_skip = cpu_guard_skip,
    .count_zero = cpu_count_zero,
    .im2col = cpu_im2col,
    .col2im = cpu_col2im,
    .channel_bias = cpu_channel_bias,
    .channel_sum = cpu_channel_sum,
    .pool2d_forward = cpu_pool2d_forward,
    .pool2d_backward = cpu_pool2d_backward,
    .copy_cols = cpu_copy_cols,
    .index_cols = cpu_index_cols,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .embedding_update = cpu_embedding_update,
    .embedding_prefetch = cpu_embedding_prefetch,
};

enum clann_status clann__cpu_backend_create(struct clann_context *ctx, enum clann_cpu_mode mode,
                                            struct clann_backend **out)
{
    *out = NULL;
    if (mode != CLANN_CPU_MODE_FAST && mode != CLANN_CPU_MODE_REFERENCE)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "cpu backend: unknown cpu_mode %d",
                            (int)mode);
    struct cpu_backend *cb = clann__calloc(1, sizeof *cb);
    if (!cb)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "cpu backend: cannot allocate %zu bytes",
                            sizeof *cb);
    clann__backend_init(&cb->base, &cpu_ops, ctx);
    cb->mode = mode;
    if (mode == CLANN_CPU_MODE_FAST) {
        long threads = fast_threads();
        blas_setup(threads);
        cb->pool = threads == 2 ? pool_create() : NULL;
    }
    *out = &cb->base;
    return CLANN_OK;
}

