/*
 * ops.h - the front door of the ops table: one clann__op_<name>() per entry of struct
 * clann_backend_ops (backend.h), with the entry's argument list. Every caller outside a
 * backend goes through these instead of be->ops->NAME(be, ...), so that
 * - every view is checked once, here (non-NULL where the op reads or writes it, offset +
 *   extent within its buffer), and a backend receives only views it may use as they are;
 * - optional entries get their default (embedding_prefetch: no-op; the other embedding ops:
 *   CLANN_ERR_UNSUPPORTED with a message);
 * - scalars shared by every backend are computed once (Adam's bias-corrected lr_t and eps_t,
 *   written into the struct clann_opt the backend receives);
 * - a profiler set with clann__backend_set_profiler() sees every op with its own time.
 * Statuses are the backend's, or CLANN_ERR_INVALID_ARG / ERR_UNSUPPORTED recorded here.
 */
#ifndef CLANN_BACKEND_OPS_H
#define CLANN_BACKEND_OPS_H

#include "backend/backend.h"

void clann__op_destroy(struct clann_backend *be);
enum clann_status clann__op_buf_alloc(struct clann_backend *be, size_t n, struct clann_buf *buf);
void clann__op_buf_free(struct clann_backend *be, struct clann_buf *buf);
enum clann_status clann__op_upload(struct clann_backend *be, struct clann_view dst,
                                   const float *src, size_t n, bool blocking);
enum clann_status clann__op_download(struct clann_backend *be, float *dst, struct clann_view src,
                                     size_t n);
/* A download that does not wait (OpenCL: a non-blocking read), then its test (wait: until it
 * has landed); backends without it download at once and hand back *pending = NULL, which
 * clann__op_download_test reports done. */
enum clann_status clann__op_download_start(struct clann_backend *be, float *dst,
                                           struct clann_view src, size_t n, void **pending);
enum clann_status clann__op_download_test(struct clann_backend *be, void *pending, bool wait,
                                          bool *done);
enum clann_status clann__op_finish(struct clann_backend *be);
enum clann_status clann__op_fill(struct clann_backend *be, struct clann_view x, size_t n,
                                 float value);
enum clann_status clann__op_copy(struct clann_backend *be, struct clann_view dst,
                                 struct clann_view src, size_t n);
enum clann_status clann__op_gemm(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
                                 size_t n, size_t k, float alpha, struct clann_view a, size_t lda,
                                 struct clann_view b, size_t ldb, float beta, struct clann_view c,
                                 size_t ldc);
enum clann_status clann__op_gemm_batched(struct clann_backend *be, bool trans_a, bool trans_b,
                                         size_t m, size_t n, size_t k, float alpha,
                                         struct clann_view a, size_t lda, struct clann_view b,
                                         size_t ldb, float beta, struct clann_view c, size_t ldc,
                                         const struct clann_gemm_batch *batch);
enum clann_status clann__op_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_rng_key key, float lo, float hi);
enum clann_status clann__op_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_rng_key key, float mean, float stddev);
enum clann_status clann__op_bias_act_forward(struct clann_backend *be, const struct clann_act *act,
                                             struct clann_view z, struct clann_view bias,
                                             struct clann_view prelu, struct clann_view y,
                                             size_t rows, size_t cols);
enum clann_status clann__op_act_backward(struct clann_backend *be, const struct clann_act *act,
                                         struct clann_view z, struct clann_view y,
                                         struct clann_view dy, struct clann_view prelu,
                                         struct clann_view dz, size_t rows, size_t cols);
enum clann_status clann__op_prelu_grad(struct clann_backend *be, struct clann_view z,
                                       struct clann_view dy, struct clann_view dprelu, size_t rows,
                                       size_t cols, float beta);
enum clann_status clann__op_index_cols(struct clann_backend *be, struct clann_view src,
                                       struct clann_view dst, size_t rows, size_t width,
                                       struct clann_view idx, size_t n, bool scatter);
enum clann_status clann__op_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                                    size_t cols, struct clann_view out, float beta);
enum clann_status clann__op_loss(struct clann_backend *be, const struct clann__loss *loss,
                                 struct clann_view pred, struct clann_view labels, size_t rows,
                                 size_t cols, struct clann_view row_loss, struct clann_view grad,
                                 float grad_scale);
enum clann_status clann__op_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                float scale, struct clann_view out, float beta);
enum clann_status clann__op_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view out, float beta);
/* The backend's loss_batch, or loss, sum and count_correct where the backend has none. */
enum clann_status clann__op_loss_batch(struct clann_backend *be, const struct clann__loss *loss,
                                       struct clann_view pred, struct clann_view labels,
                                       size_t rows, size_t cols, struct clann_view row_loss,
                                       struct clann_view grad, float grad_scale,
                                       struct clann_view sum, float sum_beta,
                                       struct clann_view correct, int rule);
enum clann_status clann__op_count_correct(struct clann_backend *be, struct clann_view pred,
                                          struct clann_view labels, int rule, size_t rows,
                                          size_t cols, struct clann_view correct, float beta);
enum clann_status clann__op_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                           struct clann_view w, struct clann_view g,
                                           struct clann_view s1, struct clann_view s2, size_t n);
enum clann_status clann__op_clip_by_norm(struct clann_backend *be, struct clann_view x, size_t n,
                                         struct clann_view sumsq, float max_norm);
enum clann_status clann__op_clip_by_value(struct clann_backend *be, struct clann_view x, size_t n,
                                          float limit);
enum clann_status clann__op_axpy(struct clann_backend *be, size_t n, float a, struct clann_view x,
                                 struct clann_view y);
enum clann_status clann__op_dropout(struct clann_backend *be, struct clann_view x,
                                    struct clann_view y, size_t n, size_t spatial, float rate,
                                    struct clann_rng_key key);
enum clann_status clann__op_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                                    struct clann_view out, float beta);
enum clann_status clann__op_soft_threshold(struct clann_backend *be, struct clann_view x, size_t n,
                                           float threshold, struct clann_view v, float delta,
                                           float eps, struct clann_view guard);
enum clann_status clann__op_constrain(struct clann_backend *be, const struct clann_constraint_op *c,
                                      struct clann_view x, size_t rows, size_t cols,
                                      struct clann_view guard);
enum clann_status clann__op_add_noise(struct clann_backend *be, struct clann_view x, size_t n,
                                      struct clann_rng_key key, float stddev);
enum clann_status clann__op_batchnorm_forward(struct clann_backend *be, struct clann_view x,
                                              struct clann_view y, size_t rows, size_t cols,
                                              size_t spatial, struct clann_view gamma,
                                              struct clann_view beta, struct clann_view stats,
                                              struct clann_view running, float eps, bool training);
enum clann_status clann__op_moving_average(struct clann_backend *be, struct clann_view avg,
                                           struct clann_view x, size_t n, float momentum,
                                           struct clann_view guard);
enum clann_status clann__op_batchnorm_sums(struct clann_backend *be, struct clann_view x,
                                           size_t rows, size_t channels, size_t spatial,
                                           struct clann_view center, struct clann_view out);
enum clann_status clann__op_batchnorm_dx(struct clann_backend *be, struct clann_view x,
                                         struct clann_view dy, size_t rows, size_t channels,
                                         size_t spatial, struct clann_view gamma,
                                         struct clann_view mean, struct clann_view invstd,
                                         struct clann_view dgamma, struct clann_view dbeta,
                                         float count, struct clann_view dx);
enum clann_status clann__op_batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                               struct clann_view dy, size_t rows, size_t cols,
                                               size_t spatial, struct clann_view gamma,
                                               struct clann_view mean, struct clann_view invstd,
                                               struct clann_view dx, struct clann_view dgamma,
                                               struct clann_view dbeta);
enum clann_status clann__op_guard_check(struct clann_backend *be, struct clann_view sumsq,
                                        struct clann_view flag, float value);
enum clann_status clann__op_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                              struct clann_view out, struct clann_view flag);
enum clann_status clann__op_guard_skip(struct clann_backend *be, struct clann_view flag,
                                       struct clann_view run, struct clann_view stop,
                                       float limit, float value);
/* The backend's guard_grads, or its composition where the backend has none. */
enum clann_status clann__op_guard_grads(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view sumsq, struct clann_view batch,
                                        struct clann_view flag, float value,
                                        struct clann_view loss);
enum clann_status clann__op_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_view out, float beta);
enum clann_status clann__op_im2col(struct clann_backend *be, const struct clann_conv_geom *g,
                                   struct clann_view x, struct clann_view col);
enum clann_status clann__op_col2im(struct clann_backend *be, const struct clann_conv_geom *g,
                                   struct clann_view col, struct clann_view x);
enum clann_status clann__op_channel_bias(struct clann_backend *be, struct clann_view x,
                                         struct clann_view bias, size_t n, size_t channels,
                                         size_t hw);
enum clann_status clann__op_channel_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                        size_t channels, size_t hw, struct clann_view out,
                                        float beta);
enum clann_status clann__op_pool2d_forward(struct clann_backend *be,
                                           const struct clann_conv_geom *g, bool max,
                                           struct clann_view x, struct clann_view y);
enum clann_status clann__op_pool2d_backward(struct clann_backend *be,
                                            const struct clann_conv_geom *g, bool max,
                                            struct clann_view x, struct clann_view dy,
                                            struct clann_view dx);
enum clann_status clann__op_copy_cols(struct clann_backend *be, struct clann_view x, size_t ldx,
                                      struct clann_view y, size_t ldy, size_t rows, size_t cols);
enum clann_status clann__op_embedding_forward(struct clann_backend *be, struct clann_view ids,
                                              size_t ldi, size_t width, size_t rows,
                                              struct clann_view table, size_t n_ids, size_t dim,
                                              enum clann_combiner combiner, struct clann_view y,
                                              size_t ldy);
enum clann_status clann__op_embedding_backward(struct clann_backend *be, struct clann_view dy,
                                               size_t ldy, struct clann_view ids, size_t ldi,
                                               size_t width, size_t rows, size_t n_ids,
                                               enum clann_combiner combiner,
                                               struct clann_view offsets, struct clann_view occ,
                                               size_t n_occ, size_t n_unique, size_t dim,
                                               struct clann_view grad);
enum clann_status clann__op_embedding_update(struct clann_backend *be, const struct clann_opt *opt,
                                             struct clann_view table, struct clann_view s1,
                                             struct clann_view s2, size_t n_ids, size_t dim,
                                             struct clann_view uniq, struct clann_view grad,
                                             size_t n_unique);
void clann__op_embedding_prefetch(struct clann_backend *be, struct clann_view table,
                                  struct clann_view s1, struct clann_view s2, size_t n_ids,
                                  size_t dim, struct clann_view uniq, size_t n_unique);

#endif /* CLANN_BACKEND_OPS_H */
