/*
 * cpu_impl.h - what the files of the CPU backend share (never included outside
 * src/backend/cpu*.c): the backend structure, view access, and each file's functions. cpu.c
 * creates the backend and holds its ops table; cpu_pool.c is the second thread, cpu_gemm.c
 * the GEMM, cpu_ops.c the other ops and cpu_embedding.c the feature-layer ops.
 */
#ifndef CLANN_BACKEND_CPU_IMPL_H
#define CLANN_BACKEND_CPU_IMPL_H

#include "backend/backend.h"
#include "backend/formulas.h"
#include "core/rng.h"

#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


/* Blocked GEMM panel of B: GEMM_KB rows by GEMM_NB columns (128 KiB, L2-sized). */
#define GEMM_KB 128
#define GEMM_NB 256

struct cpu_pool;

struct cpu_backend {
    struct clann_backend base;
    enum clann_cpu_mode mode;
    struct cpu_pool *pool; /* FAST mode with two threads; NULL otherwise */
    float pack[GEMM_KB * GEMM_NB]; /* B panel for the blocked GEMM, so that ops never allocate */
};

/* ---------------------------------------------------------------------------------------------
 * Views.
 */

static inline float *at(struct clann_view v)
{
    return (float *)v.buf->ptr + v.off;
}

static inline bool is_null(struct clann_view v)
{
    return v.buf == NULL;
}

/* A step the NaN guard skipped (guard[0] != 0; a null guard view: no guard) changes nothing. */
#define RETURN_IF_GUARDED(guard)                                                                  \
    do {                                                                                          \
        if (!is_null(guard) && at(guard)[0] != 0.0f)                                              \
            return CLANN_OK;                                                                      \
    } while (0)

static inline bool fast_mode(const struct clann_backend *be)
{
    return ((const struct cpu_backend *)be)->mode == CLANN_CPU_MODE_FAST;
}

/* out = beta * out + value, where beta = 0 never reads out (NaN there must not propagate). */
static inline float accumulate(float out, float beta, double value)
{
    return (float)(beta == 0.0f ? value : (double)beta * out + value);
}


/* Element-wise ops and reductions over fewer elements run on one thread (about 15 us). */
#define SPLIT_MIN_ELEMENTS 32768

/* cpu_pool.c */
void pool_run(struct cpu_pool *p, void (*fn)(void *, int), void *arg);
void pool_destroy(struct cpu_pool *p);
struct cpu_pool *pool_create(void);
long fast_threads(void);

/* cpu_gemm.c */
void blas_setup(long threads);
void blas_setup(long threads);
enum clann_status cpu_gemm(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
                           size_t n, size_t k, float alpha, struct clann_view a,
                           size_t lda, struct clann_view b, size_t ldb, float beta,
                           struct clann_view c, size_t ldc);
enum clann_status cpu_gemm_batched(struct clann_backend *be, bool trans_a, bool trans_b,
                                   size_t m, size_t n, size_t k, float alpha, struct clann_view a,
                                   size_t lda, struct clann_view b, size_t ldb, float beta,
                                   struct clann_view c, size_t ldc,
                                   const struct clann_gemm_batch *batch);

/* cpu_ops.c */
enum clann_status cpu_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                  struct clann_rng_key key, float lo, float hi);
enum clann_status cpu_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_rng_key key, float mean, float stddev);
enum clann_status cpu_bias_act_forward(struct clann_backend *be,
                                       const struct clann_act *act, struct clann_view z,
                                       struct clann_view bias, struct clann_view prelu,
                                       struct clann_view y, size_t rows, size_t cols);
enum clann_status cpu_act_backward(struct clann_backend *be, const struct clann_act *act,
                                   struct clann_view z, struct clann_view y,
                                   struct clann_view dy, struct clann_view prelu,
                                   struct clann_view dz, size_t rows, size_t cols);
enum clann_status cpu_prelu_grad(struct clann_backend *be, struct clann_view z,
                                 struct clann_view dy, struct clann_view dprelu,
                                 size_t rows, size_t cols, float beta);
enum clann_status cpu_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                              size_t cols, struct clann_view out, float beta);
enum clann_status cpu_loss(struct clann_backend *be, const struct clann__loss *loss,
                           struct clann_view pred, struct clann_view labels, size_t rows,
                           size_t cols, struct clann_view row_loss, struct clann_view grad,
                           float grad_scale);
enum clann_status cpu_sum(struct clann_backend *be, struct clann_view x, size_t n,
                          float scale, struct clann_view out, float beta);
enum clann_status cpu_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                  struct clann_view out, float beta);
enum clann_status cpu_count_correct(struct clann_backend *be, struct clann_view pred,
                                    struct clann_view labels, int rule, size_t rows,
                                    size_t cols, struct clann_view correct, float beta);
enum clann_status cpu_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                     struct clann_view w, struct clann_view g,
                                     struct clann_view s1, struct clann_view s2, size_t n);
enum clann_status cpu_clip_by_norm(struct clann_backend *be, struct clann_view x, size_t n,
                                   struct clann_view sumsq, float max_norm);
enum clann_status cpu_clip_by_value(struct clann_backend *be, struct clann_view x, size_t n,
                                    float limit);
enum clann_status cpu_axpy(struct clann_backend *be, size_t n, float a,
                           struct clann_view x, struct clann_view y);
enum clann_status cpu_dropout(struct clann_backend *be, struct clann_view x,
                              struct clann_view y, size_t n, size_t spatial, float rate,
                              struct clann_rng_key key);
enum clann_status cpu_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                              struct clann_view out, float beta);
enum clann_status cpu_soft_threshold(struct clann_backend *be, struct clann_view x,
                                     size_t n, float threshold, struct clann_view v2,
                                     float delta, float eps, struct clann_view guard);
enum clann_status cpu_constrain(struct clann_backend *be,
                                const struct clann_constraint_op *c, struct clann_view x,
                                size_t rows, size_t cols, struct clann_view guard);
enum clann_status cpu_add_noise(struct clann_backend *be, struct clann_view x, size_t n,
                                struct clann_rng_key key, float stddev);
enum clann_status cpu_batchnorm_forward(struct clann_backend *be, struct clann_view x,
                                        struct clann_view y, size_t rows, size_t cols,
                                        size_t spatial, struct clann_view gamma,
                                        struct clann_view beta, struct clann_view stats,
                                        struct clann_view running, float eps, bool training);
enum clann_status cpu_moving_average(struct clann_backend *be, struct clann_view avg,
                                     struct clann_view x, size_t n, float momentum,
                                     struct clann_view guard);
enum clann_status cpu_batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                         struct clann_view dy, size_t rows, size_t cols,
                                         size_t spatial, struct clann_view gamma,
                                         struct clann_view mean, struct clann_view invstd,
                                         struct clann_view dx, struct clann_view dgamma,
                                         struct clann_view dbeta);
enum clann_status cpu_batchnorm_sums(struct clann_backend *be, struct clann_view x, size_t rows,
                                     size_t channels, size_t spatial, struct clann_view center,
                                     struct clann_view out);
enum clann_status cpu_batchnorm_dx(struct clann_backend *be, struct clann_view x,
                                   struct clann_view dy, size_t rows, size_t channels,
                                   size_t spatial, struct clann_view gamma, struct clann_view mean,
                                   struct clann_view invstd, struct clann_view dgamma,
                                   struct clann_view dbeta, float count, struct clann_view dx);
enum clann_status cpu_guard_check(struct clann_backend *be, struct clann_view sumsq,
                                  struct clann_view flag, float value);
enum clann_status cpu_guard_skip(struct clann_backend *be, struct clann_view flag,
                                 struct clann_view run, struct clann_view stop, float limit,
                                 float value);
enum clann_status cpu_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                        struct clann_view out, struct clann_view flag);
enum clann_status cpu_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_view out, float beta);

/* cpu_conv.c */
enum clann_status cpu_im2col(struct clann_backend *be, const struct clann_conv_geom *g,
                             struct clann_view x, struct clann_view col);
enum clann_status cpu_col2im(struct clann_backend *be, const struct clann_conv_geom *g,
                             struct clann_view col, struct clann_view x);
enum clann_status cpu_channel_bias(struct clann_backend *be, struct clann_view x,
                                   struct clann_view bias, size_t n, size_t channels,
                                   size_t hw);
enum clann_status cpu_channel_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                  size_t channels, size_t hw, struct clann_view out, float beta);
enum clann_status cpu_pool2d_forward(struct clann_backend *be, const struct clann_conv_geom *g,
                                     bool max, struct clann_view x, struct clann_view y);
enum clann_status cpu_pool2d_backward(struct clann_backend *be, const struct clann_conv_geom *g,
                                      bool max, struct clann_view x, struct clann_view dy,
                                      struct clann_view dx);

/* cpu_embedding.c */
enum clann_status cpu_index_cols(struct clann_backend *be, struct clann_view src,
                                 struct clann_view dst, size_t rows, size_t width,
                                 struct clann_view idx, size_t n, bool scatter);
enum clann_status cpu_copy_cols(struct clann_backend *be, struct clann_view x, size_t ldx,
                                struct clann_view y, size_t ldy, size_t rows, size_t cols);
enum clann_status cpu_embedding_forward(struct clann_backend *be, struct clann_view ids,
                                        size_t ldi, size_t width, size_t rows,
                                        struct clann_view table, size_t n_ids,
                                        size_t dim, enum clann_combiner comb,
                                        struct clann_view y, size_t ldy);
enum clann_status cpu_embedding_backward(struct clann_backend *be, struct clann_view dy,
                                         size_t ldy, struct clann_view ids, size_t ldi,
                                         size_t width, size_t rows, size_t n_ids,
                                         enum clann_combiner comb,
                                         struct clann_view offsets, struct clann_view occ,
                                         size_t n_occ, size_t n_unique, size_t dim,
                                         struct clann_view grad);
void cpu_embedding_prefetch(struct clann_backend *be, struct clann_view table,
                            struct clann_view s1, struct clann_view s2, size_t n_ids,
                            size_t dim, struct clann_view uniq, size_t n_unique);
enum clann_status cpu_embedding_update(struct clann_backend *be,
                                       const struct clann_opt *opt,
                                       struct clann_view table, struct clann_view s1,
                                       struct clann_view s2, size_t n_ids, size_t dim,
                                       struct clann_view uniq, struct clann_view grad,
                                       size_t n_unique);

#endif /* CLANN_BACKEND_CPU_IMPL_H */
