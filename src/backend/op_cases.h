/*
 * op_cases.h - each backend op as a clann__parity_fn (parity.h): the op's views in an array and
 * its scalars in one of the argument structs below. The device self-check (check.c) and the
 * backend parity tests (tests/test-backend.c) run the same invokers, so the two cannot drift.
 */
#ifndef CLANN_BACKEND_OP_CASES_H
#define CLANN_BACKEND_OP_CASES_H

#include "backend/ops.h"

struct scalar_args {
    size_t n;
    float a, b;
    struct clann_rng_key key;
};

struct act_args {
    struct clann_act act;
    size_t rows, cols;
    float beta;
};

struct index_args {
    size_t rows, width, n;
    bool scatter;
};

struct loss_args {
    struct clann__loss loss;
    size_t rows, cols;
    float scale;
    int rule;       /* count_correct's enum clann__count_rule */
    float sum_beta; /* loss_batch */
};

struct opt_args {
    struct clann_opt opt;
    size_t n;
};

struct constrain_args {
    struct clann_constraint_op op;
    size_t rows, cols;
};

struct bn_args {
    size_t rows, cols;
    float momentum, eps;
    bool training;
};

/* The feature layer's ops (backend.h); ids are rows x width (ldi = width), y and dy rows x dim. */
struct embed_args {
    size_t rows, width, n_ids, dim;
    enum clann_combiner combiner;
    size_t n_occ, n_unique; /* the batch index (clann__case_embedding_index) */
    struct clann_opt opt;   /* embedding_update; its guard is the case's view */
};

/* Batch normalization across ranks: x is rows x (channels * spatial); count for batchnorm_dx;
 * centered: batchnorm_sums of (x - center)^2. */
struct bn_dist_args {
    size_t rows, channels, spatial;
    float count;
    bool centered;
};

/* Channel batch norm (spatial values per row and feature) and spatial dropout (spatial values
 * per draw). */
struct spatial_bn_args {
    struct bn_args bn;
    size_t spatial;
};

struct spatial_dropout_args {
    struct scalar_args s;
    size_t spatial;
};

struct conv_args {
    struct clann_conv_geom g;
    bool max;   /* pooling: max (else average) */
    float beta; /* channel_sum */
};

/* Convolution and pooling; v as each comment says. */
/* gemm_batched: the transposes, sizes, scalars and row strides of one product, and the batch */
struct gemm_batch_args {
    bool ta, tb;
    size_t m, n, k, lda, ldb, ldc;
    float alpha, beta;
    struct clann_gemm_batch batch;
};
enum clann_status clann__case_gemm_batched(struct clann_backend *be, struct clann_view *v,
                                           const void *p); /* a, b, c */
enum clann_status clann__case_im2col(struct clann_backend *be, struct clann_view *v,
                                     const void *p); /* x, col */
enum clann_status clann__case_col2im(struct clann_backend *be, struct clann_view *v,
                                     const void *p); /* col, x */
enum clann_status clann__case_channel_bias(struct clann_backend *be, struct clann_view *v,
                                           const void *p); /* x, bias */
enum clann_status clann__case_channel_sum(struct clann_backend *be, struct clann_view *v,
                                          const void *p); /* x, out */
enum clann_status clann__case_pool_forward(struct clann_backend *be, struct clann_view *v,
                                           const void *p); /* x, y */
enum clann_status clann__case_pool_backward(struct clann_backend *be, struct clann_view *v,
                                            const void *p); /* x (NULL for avg), dy, dx */

/* v: ids, table (NULL: indicator, dim = n_ids), y */
enum clann_status clann__case_embedding_forward(struct clann_backend *be, struct clann_view *v,
                                                const void *p);
/* v: x (rows x width), y (rows x dim): the first dim columns */
enum clann_status clann__case_copy_cols(struct clann_backend *be, struct clann_view *v,
                                        const void *p);
/* v: dy, ids, offsets (n_unique + 1), occ (n_occ), grad (n_unique x dim) */
enum clann_status clann__case_embedding_backward(struct clann_backend *be, struct clann_view *v,
                                                 const void *p);
/* v: table (n_ids x dim), s1, s2 (NULL: none), uniq (n_unique), grad (n_unique x dim), guard
 * (NULL: none) */
enum clann_status clann__case_embedding_update(struct clann_backend *be, struct clann_view *v,
                                               const void *p);
/* The index a batch's backward pass and sparse update take (nn/embedding.c builds it the same
 * way): the distinct ids of rows x width slots in increasing order into uniq, and for each the
 * rows holding it into occ (a row twice when it holds the id twice), delimited by offsets
 * (n_unique + 1 floats). uniq and occ hold rows * width floats, offsets one more. Returns
 * n_unique; *n_occ gets the occurrences. Quadratic: for the cases' small tables only. */
size_t clann__case_embedding_index(const float *ids, size_t rows, size_t width, size_t n_ids,
                                   float *uniq, float *offsets, float *occ, size_t *n_occ);

enum clann_status clann__case_fill(struct clann_backend *be, struct clann_view *v,
                                   const void *p);
enum clann_status clann__case_copy(struct clann_backend *be, struct clann_view *v,
                                   const void *p);
enum clann_status clann__case_axpy(struct clann_backend *be, struct clann_view *v,
                                   const void *p);
enum clann_status clann__case_clip_value(struct clann_backend *be, struct clann_view *v,
                                         const void *p);
enum clann_status clann__case_clip_norm(struct clann_backend *be, struct clann_view *v,
                                        const void *p);
enum clann_status clann__case_sum(struct clann_backend *be, struct clann_view *v,
                                  const void *p);
enum clann_status clann__case_sum_squares(struct clann_backend *be, struct clann_view *v,
                                          const void *p);
enum clann_status clann__case_dropout(struct clann_backend *be, struct clann_view *v,
                                      const void *p);
enum clann_status clann__case_spatial_dropout(struct clann_backend *be, struct clann_view *v,
                                              const void *p); /* spatial_dropout_args */
enum clann_status clann__case_forward(struct clann_backend *be, struct clann_view *v,
                                      const void *p);
enum clann_status clann__case_backward(struct clann_backend *be, struct clann_view *v,
                                       const void *p);
enum clann_status clann__case_prelu_grad(struct clann_backend *be, struct clann_view *v,
                                         const void *p);
enum clann_status clann__case_col_sum(struct clann_backend *be, struct clann_view *v,
                                      const void *p);
enum clann_status clann__case_index_cols(struct clann_backend *be, struct clann_view *v,
                                         const void *p);
enum clann_status clann__case_loss(struct clann_backend *be, struct clann_view *v,
                                   const void *p);
/* The count rule a training step pairs with a loss kind (nn/loss.c): a class index per row for
 * sparse and NCE labels (NCE's first `rows` floats), exact match for sigmoid heads. */
int clann__case_count_rule(int kind);
/* v: pred, labels, row_loss, grad (NULL: none), sum, correct (NULL: none) */
enum clann_status clann__case_loss_batch(struct clann_backend *be, struct clann_view *v,
                                         const void *p);
/* v: x, sumsq, batch, flag, loss (NULL: none); scalar_args: n, a = the flag's value */
enum clann_status clann__case_guard_grads(struct clann_backend *be, struct clann_view *v,
                                          const void *p);
/* The NaN guard's parts. v: sumsq, flag; scalar_args: a = the flag's value */
enum clann_status clann__case_guard_check(struct clann_backend *be, struct clann_view *v,
                                          const void *p);
/* v: x, out, flag */
enum clann_status clann__case_accumulate_unless(struct clann_backend *be, struct clann_view *v,
                                                const void *p);
/* v: flag, run, stop; scalar_args: a = the limit, b = the stop's value */
enum clann_status clann__case_guard_skip(struct clann_backend *be, struct clann_view *v,
                                         const void *p);
enum clann_status clann__case_count(struct clann_backend *be, struct clann_view *v,
                                    const void *p);
enum clann_status clann__case_opt(struct clann_backend *be, struct clann_view *v,
                                  const void *p);
/* An activation of `kind` with the cases' constants (alpha, RReLU bounds and stream); training
 * draws RReLU slopes. */
struct clann_act clann__case_act(int kind, bool training);
enum clann_status clann__case_sum_abs(struct clann_backend *be, struct clann_view *v,
                                      const void *p);
/* L1's proximal step; v: x, guard (NULL: none); scalar_args: n, a = the threshold */
enum clann_status clann__case_soft_threshold(struct clann_backend *be, struct clann_view *v,
                                            const void *p);
/* Its per-weight form in an optimizer's metric; v: x, second moments, guard; b = delta */
enum clann_status clann__case_soft_threshold_v(struct clann_backend *be, struct clann_view *v,
                                              const void *p);
enum clann_status clann__case_add_noise(struct clann_backend *be, struct clann_view *v,
                                        const void *p);
enum clann_status clann__case_bn_forward(struct clann_backend *be, struct clann_view *v,
                                         const void *p);
enum clann_status clann__case_moving_average(struct clann_backend *be, struct clann_view *v,
                                             const void *p);
/* v: x, center, out */
enum clann_status clann__case_bn_sums(struct clann_backend *be, struct clann_view *v,
                                      const void *p);
/* v: x, dy, gamma, mean, invstd, dgamma, dbeta, dx */
enum clann_status clann__case_bn_dx(struct clann_backend *be, struct clann_view *v,
                                    const void *p);
enum clann_status clann__case_bn_backward(struct clann_backend *be, struct clann_view *v,
                                          const void *p);
/* The same views, spatial_bn_args: channel batch norm. */
enum clann_status clann__case_spatial_bn_forward(struct clann_backend *be, struct clann_view *v,
                                                 const void *p);
enum clann_status clann__case_spatial_bn_backward(struct clann_backend *be, struct clann_view *v,
                                                  const void *p);

#endif
