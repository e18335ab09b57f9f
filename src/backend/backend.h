/*
 * backend.h - the ops table every backend implements. The CPU backend (cpu.c) is the reference:
 * every formula below is what its scalar code computes, and every other backend is tested
 * against it (NMSE <= 1e-7 per op, bit-identical for the RNG).
 *
 * Conventions for every op:
 * - Data is float32. Matrices are row-major: `rows` examples by `cols` features, leading
 *   dimension = cols unless an ld argument says otherwise.
 * - A view is a buffer plus an offset in floats. Ops never read or write outside
 *   [off, off + extent) of each view they are given.
 * - Ops are enqueued in order on the backend's one queue; an op may return before the device
 *   has finished. Only download() and finish() wait. Nothing allocates inside an op.
 * - "accumulate" arguments: out = beta * out + result, with beta = 0 meaning overwrite (out is
 *   then never read, so NaN in it does not propagate).
 * - Statuses: CLANN_OK, or an error recorded with clann__error() on the backend's context.
 * - GEMM with alpha = 0 or k = 0 reads neither A nor B (as BLAS). act_backward reads only the
 *   input its formula needs (y for linear, sigmoid, tanh and softmax; z for the rest), so the
 *   other may be a NULL view; loss accepts a NULL row_loss view.
 * - Non-finite values propagate: NaN in gives NaN out in every elementwise op (ReLU included),
 *   so a NaN is never silently turned into a number on one device and not on another.
 */
#ifndef CLANN_BACKEND_H
#define CLANN_BACKEND_H

#include "core/internal.h"
#include "core/kinds.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct clann_buf {
    struct clann_backend *be;
    size_t n;  /* capacity in floats */
    void *ptr; /* CPU backend: float *; OpenCL backend: cl_mem */
};

struct clann_view {
    struct clann_buf *buf;
    size_t off; /* in floats */
};

static inline struct clann_view clann__view(struct clann_buf *buf, size_t off)
{
    struct clann_view v = {buf, off};
    return v;
}

/* A position in a counter-based random stream (Philox4x32-10, see cl/philox.clh). Value i of
 * an op that consumes the stream is number (offset + i) of stream `stream` under key `seed`. */
struct clann_rng_key {
    uint64_t seed;
    uint32_t stream;
    uint64_t offset;
};

/* Activation kinds: values and names in CLANN__ACTIVATIONS (core/kinds.h), equal to the public
 * enum clann_activation's. Formulas:
 *   LINEAR      y = z
 *   SIGMOID     y = 1 / (1 + exp(-z))
 *   TANH        y = tanh(z)
 *   RELU        y = max(z, 0)
 *   LEAKY_RELU  y = z > 0 ? z : alpha * z
 *   PRELU       y = z > 0 ? z : a[col] * z, a learned per unit
 *   RRELU       training: slope ~ U(lower, upper) per element from the rng; inference: slope
 *               (lower + upper) / 2
 *   RELU6       y = min(max(z, 0), 6)
 *   ELU         y = z > 0 ? z : alpha * (exp(z) - 1)
 *   SOFTPLUS    y = log(1 + exp(z)), computed stably
 *   SOFTMAX     row-wise: y = exp(z - max) / sum(exp(z - max)) */
enum clann__act_kind { CLANN__ACTIVATIONS(CLANN__KIND_ENUMERATOR) CLANN__ACT_COUNT };

struct clann_act {
    enum clann__act_kind kind;
    float alpha;        /* leaky ReLU slope, ELU alpha */
    float lower, upper; /* RReLU slope range */
    bool training;      /* RReLU draws slopes only in training */
    struct clann_rng_key rng; /* RReLU: element (r, c) uses stream value r * cols + c */
};

/* Derivative at the kinks: ReLU-like functions use the derivative of the z <= 0 side at z = 0
 * (0 for ReLU, alpha for leaky), ReLU6 uses 0 at z = 6. */

/* Loss kinds: the rows of CLANN__LOSSES (core/kinds.h) that the backends compute. Per row:
 *   MSE                sum_c (p - y)^2 / cols
 *   MAE                sum_c |p - y| / cols; d/dp at p == y is 0
 *   HUBER              sum_c h(p - y) / cols, h(e) = e^2/2 for |e| <= delta, else
 *                      delta * (|e| - delta/2)
 *   SIGMOID_CE         logits z, labels y in [0,1] (binary or multi-label):
 *                      (1/cols) sum_c [max(z,0) - z*y + log(1 + exp(-|z|))]
 *   SOFTMAX_CE         logits z, labels y a distribution per row (one-hot or soft):
 *                      -sum_c y_c * log_softmax(z)_c
 *   SPARSE_SOFTMAX_CE  logits z, labels: one float per row holding the class index:
 *                      -log_softmax(z)_label
 *   NCE                logits z of the candidate columns (nn/sampled.c), labels: one float per
 *                      row holding its true column k_r, then one flag per column (nonzero: a
 *                      sampled negative), rows + cols floats in all:
 *                      sum_c m_c [max(z,0) - z*t_c + log(1 + exp(-|z|))], t_c = (c == k_r),
 *                      m_c = t_c or flag_c != 0; a true column outside [0, cols) gives NaN
 *                      and a zero gradient row, as for the sparse kind.
 * SAMPLED_SOFTMAX_CE is an enumerator only so that the values match clann_loss: no backend
 * computes it (clann__loss_computed). */
enum clann__loss_kind {
    CLANN__LOSSES(CLANN__KIND_ENUMERATOR, CLANN__KIND_ENUMERATOR) CLANN__LOSS_COUNT
};

/* Whether the backends compute loss kind k (every kind but sampled softmax's). */
static inline bool clann__loss_computed(int k)
{
    return k >= 0 && k < CLANN__LOSS_COUNT && k != CLANN__LOSS_SAMPLED_SOFTMAX_CE;
}

struct clann__loss {
    enum clann__loss_kind kind;
    float huber_delta;
};

/* Optimizer kinds: CLANN__OPTIMIZERS (core/kinds.h). Updates:
 *   SGD       w -= lr * g
 *   MOMENTUM  v = momentum * v + g; w -= lr * (nesterov ? g + momentum * v : v)
 *   ADAGRAD   a += g^2; w -= lr * g / (sqrt(a) + eps); the caller fills a with
 *             initial_accumulator before the first step
 *   ADAM      m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; w -= lr_t * m / (sqrt(v) + eps_t),
 *             lr_t = lr * sqrt(1-b2^t) / (1-b1^t), eps_t = eps * sqrt(1-b2^t) (TensorFlow/Keras
 *             form)
 *   RMSPROP   a = rho a + (1-rho) g^2; w -= lr * g / (sqrt(a) + eps) */
enum clann__opt_kind { CLANN__OPTIMIZERS(CLANN__KIND_ENUMERATOR) CLANN__OPT_COUNT };

struct clann_opt {
    enum clann__opt_kind kind;
    float lr;
    float momentum;
    bool nesterov;
    float beta1, beta2;
    float eps;
    float rho;
    float initial_accumulator;
    uint64_t step; /* t, 1-based, for Adam's bias correction */
    /* NaN guard: when guard.buf is set and guard[0] != 0 the step changes nothing (neither the
     * weights nor the optimizer state), so a bad gradient never reaches the weights. */
    struct clann_view guard;
    /* Filled by the clann__op_ wrappers (ops.c) before a backend sees the struct: the step's
     * learning rate and epsilon, Adam's bias correction folded in (lr_t, eps_t above), lr and
     * eps as they are for the other kinds. Backends read these, never lr and eps. */
    float lr_t, eps_t;
};

/* Constraint kinds: CLANN__CONSTRAINTS (core/kinds.h). With n the norm below:
 *   NONE          nothing
 *   MAX_NORM      w *= clip(n, 0, max) / (eps + n)
 *   MIN_MAX_NORM  w *= (rate clip(n, min, max) + (1 - rate) n) / (eps + n)
 *   UNIT_NORM     w /= eps + n
 *   NON_NEG       w = max(w, 0) element-wise */
enum clann__constraint_kind { CLANN__CONSTRAINTS(CLANN__KIND_ENUMERATOR) };

/* A weight constraint (Keras semantics, eps = 1e-7): n is the L2 norm of each column of a
 * rows x cols matrix (for a kernel: over its inputs, per unit). */
struct clann_constraint_op {
    enum clann__constraint_kind kind;
    float min_value, max_value, rate;
};

/* The batch of a strided-batched GEMM (gemm_batched): count products, the matrices of product
 * i at i * stride floats past each operand's view. */
struct clann_gemm_batch {
    size_t count, stride_a, stride_b, stride_c;
};

/* Geometry of a 2-D convolution or pooling window sliding over a batch of NCHW images (row r of
 * an activation matrix is image r, its C x H x W values in that order). Output position
 * (oy, ox) and window element (i, j) read input row oy * stride + i * dilation - pad_top and
 * column ox * stride + j * dilation - pad_left; positions outside the image are padding (zero
 * for im2col, left out for pooling). clann__conv_geom_init() resolves same/valid padding into
 * pad_top, pad_left, out_h and out_w; padding after the last row or column is implied. */
/* How count_correct decides that a row is right. ARGMAX and SPARSE are 0 and 1 so that a bool
 * "sparse labels" reads as the rule it always meant; the kernels take the same numbers. */
enum clann__count_rule {
    CLANN__COUNT_ARGMAX = 0,    /* argmax of pred equals argmax of the label row */
    CLANN__COUNT_SPARSE = 1,    /* argmax of pred equals the row's class index */
    CLANN__COUNT_MULTILABEL = 2 /* every logit's sign agrees with its 0/1 label */
};

struct clann_conv_geom {
    size_t batch;                   /* N images */
    size_t channels, height, width; /* C, H, W of one input image */
    size_t kernel_h, kernel_w;
    size_t stride, dilation;        /* both >= 1 */
    size_t pad_top, pad_left;
    size_t out_h, out_w;
};

struct clann_backend_ops {
    const char *name;
    void (*destroy)(struct clann_backend *be);

    /* Buffers. alloc sets buf->ptr and buf->n; contents are unspecified. free accepts a buffer
     * whose ptr is NULL. */
    enum clann_status (*buf_alloc)(struct clann_backend *be, size_t n, struct clann_buf *buf);
    void (*buf_free)(struct clann_backend *be, struct clann_buf *buf);
    /* dst[0..n) = src[0..n). blocking = false lets the call return before the copy is done;
     * the host array must then stay untouched until the next finish() or download(). */
    enum clann_status (*upload)(struct clann_backend *be, struct clann_view dst, const float *src,
                                size_t n, bool blocking);
    /* dst[0..n) = src[0..n); blocks until the data is on the host. */
    enum clann_status (*download)(struct clann_backend *be, float *dst, struct clann_view src,
                                  size_t n);
    /* Optional (clann__op_download_start: a blocking download without it). dst[0..n) =
     * src[0..n) without waiting: *pending receives a handle for download_test, or NULL when
     * the data is already on the host. dst must stay untouched until the download is done. */
    enum clann_status (*download_start)(struct clann_backend *be, float *dst,
                                        struct clann_view src, size_t n, void **pending);
    /* Whether a download_start has landed (*done); wait: blocks until it has. Once done the
     * handle is released. */
    enum clann_status (*download_test)(struct clann_backend *be, void *pending, bool wait,
                                       bool *done);
    /* Waits for every enqueued op. */
    enum clann_status (*finish)(struct clann_backend *be);
    /* x[0..n) = value */
    enum clann_status (*fill)(struct clann_backend *be, struct clann_view x, size_t n, float value);
    /* dst[0..n) = src[0..n); the ranges must not overlap. */
    enum clann_status (*copy)(struct clann_backend *be, struct clann_view dst,
                              struct clann_view src, size_t n);

    /* C = alpha * op(A) * op(B) + beta * C, row-major; op(A) is m x k, op(B) is k x n, C is
     * m x n; lda/ldb/ldc are the row strides of the stored (untransposed) matrices. */
    enum clann_status (*gemm)(struct clann_backend *be, bool trans_a, bool trans_b, size_t m,
                              size_t n, size_t k, float alpha, struct clann_view a, size_t lda,
                              struct clann_view b, size_t ldb, float beta, struct clann_view c,
                              size_t ldc);
    /* Strided-batched GEMM over b->count products, X_i at X's offset + i * b->stride_x floats
     * (stride 0 shares one matrix, as a convolution's weights): C_i = alpha op(A_i) op(B_i) +
     * beta C_i, the C_i not overlapping. b->stride_c = 0 sums into one C instead, i = 0, 1, ...
     * in order: C = alpha sum_i op(A_i) op(B_i) + beta C (a convolution's weight gradient over
     * a batch's images). One launch where the device can, so that a convolution costs O(1)
     * launches a step, not O(batch). */
    enum clann_status (*gemm_batched)(struct clann_backend *be, bool trans_a, bool trans_b,
                                      size_t m, size_t n, size_t k, float alpha,
                                      struct clann_view a, size_t lda, struct clann_view b,
                                      size_t ldb, float beta, struct clann_view c, size_t ldc,
                                      const struct clann_gemm_batch *batch);

    /* x[i] = lo + (hi - lo) * u_i with u_i uniform in (0, 1), i < n. */
    enum clann_status (*rng_uniform)(struct clann_backend *be, struct clann_view x, size_t n,
                                     struct clann_rng_key key, float lo, float hi);
    /* x[i] = mean + stddev * n_i with n_i standard normal, i < n. */
    enum clann_status (*rng_normal)(struct clann_backend *be, struct clann_view x, size_t n,
                                    struct clann_rng_key key, float mean, float stddev);

    /* Dense forward epilogue, in place on z (rows x cols, the GEMM output):
     * z[r,c] += bias[c] (skipped when bias.buf is NULL); then y = act(z). y may alias z only for
     * kinds whose backward needs y alone (linear, sigmoid, tanh, softmax) - callers keep z
     * separate otherwise. prelu: per-column slopes (PReLU only). */
    enum clann_status (*bias_act_forward)(struct clann_backend *be, const struct clann_act *act,
                                          struct clann_view z, struct clann_view bias,
                                          struct clann_view prelu, struct clann_view y,
                                          size_t rows, size_t cols);
    /* dz = dy * act'(z) (softmax: dz = y * (dy - sum_c dy * y) per row). dz may alias dy. */
    enum clann_status (*act_backward)(struct clann_backend *be, const struct clann_act *act,
                                      struct clann_view z, struct clann_view y,
                                      struct clann_view dy, struct clann_view prelu,
                                      struct clann_view dz, size_t rows, size_t cols);
    /* PReLU slope gradient: dprelu[c] = beta * dprelu[c] + sum_r dy[r,c] * min(z[r,c], 0). */
    enum clann_status (*prelu_grad)(struct clann_backend *be, struct clann_view z,
                                    struct clann_view dy, struct clann_view dprelu, size_t rows,
                                    size_t cols, float beta);
    /* Selected columns of a rows x width matrix (sampled softmax's output layer), with
     * c_j = idx[j] for j < n (distinct integer-valued floats below width), r < rows:
     * gather (scatter false): dst[r * n + j] = src[r * width + c_j];
     * scatter: dst[r * width + c_j] = src[r * n + j], dst's other columns untouched. */
    enum clann_status (*index_cols)(struct clann_backend *be, struct clann_view src,
                                    struct clann_view dst, size_t rows, size_t width,
                                    struct clann_view idx, size_t n, bool scatter);
    /* out[c] = beta * out[c] + sum_r x[r,c] (bias gradients). */
    enum clann_status (*col_sum)(struct clann_backend *be, struct clann_view x, size_t rows,
                                 size_t cols, struct clann_view out, float beta);
    /* Loss on a batch: row_loss[r] = loss of row r (formulas above); grad[r,c] = grad_scale *
     * d row_loss[r] / d pred[r,c]. labels has `cols` floats per row, or one per row for the
     * sparse kind; a sparse label outside [0, cols) gives row_loss NaN and a zero gradient row.
     * grad may be a NULL view (evaluation). */
    enum clann_status (*loss)(struct clann_backend *be, const struct clann__loss *loss,
                              struct clann_view pred, struct clann_view labels, size_t rows,
                              size_t cols, struct clann_view row_loss, struct clann_view grad,
                              float grad_scale);
    /* Optional (NULL: the ops wrapper composes it from loss, sum and count_correct): a batch's
     * loss in one call, for devices where launches cost. loss as above; sum[0] = sum_beta *
     * sum[0] + sum_r row_loss[r]; when correct is not a NULL view, correct[0] += the rows
     * count_correct counts by rule (as there). */
    enum clann_status (*loss_batch)(struct clann_backend *be, const struct clann__loss *loss,
                                    struct clann_view pred, struct clann_view labels, size_t rows,
                                    size_t cols, struct clann_view row_loss,
                                    struct clann_view grad, float grad_scale,
                                    struct clann_view sum, float sum_beta,
                                    struct clann_view correct, int rule);
    /* out[0] = beta * out[0] + scale * sum_i x[i], i < n. The order of summation is fixed for a
     * given n on a given backend (run-to-run determinism). */
    enum clann_status (*sum)(struct clann_backend *be, struct clann_view x, size_t n, float scale,
                             struct clann_view out, float beta);
    /* out[0] = beta * out[0] + sum_i x[i]^2 (norms for clipping and monitors). */
    enum clann_status (*sum_squares)(struct clann_backend *be, struct clann_view x, size_t n,
                                     struct clann_view out, float beta);
    /* Classification counts for metrics: correct[0] = beta * correct[0] + number of rows
     * right by rule (enum clann__count_rule): the argmax over pred (first index on ties)
     * equals the label (SPARSE: labels one float per row; ARGMAX: argmax of the label row), or
     * (MULTILABEL) every logit's sign agrees with its 0/1 label, an exact match. cols == 1
     * means binary whatever the rule: pred is a logit, correct when (pred > 0) == (label >
     * 0.5). */
    enum clann_status (*count_correct)(struct clann_backend *be, struct clann_view pred,
                                       struct clann_view labels, int rule, size_t rows,
                                       size_t cols, struct clann_view correct, float beta);
    /* One optimizer step over n parameters: w, g and the state arrays s1 (velocity, accumulator
     * or Adam's m) and s2 (Adam's v); views of unused state are ignored. */
    enum clann_status (*optimizer_step)(struct clann_backend *be, const struct clann_opt *opt,
                                        struct clann_view w, struct clann_view g,
                                        struct clann_view s1, struct clann_view s2, size_t n);
    /* x[i] *= scale[0] when scale is a device scalar (gradient clipping by global norm):
     * factor = min(1, max_norm / sqrt(sumsq[0] + 1e-12)). */
    enum clann_status (*clip_by_norm)(struct clann_backend *be, struct clann_view x, size_t n,
                                      struct clann_view sumsq, float max_norm);
    /* x[i] = clamp(x[i], -limit, limit). */
    enum clann_status (*clip_by_value)(struct clann_backend *be, struct clann_view x, size_t n,
                                       float limit);
    /* y = a * x + y */
    enum clann_status (*axpy)(struct clann_backend *be, size_t n, float a, struct clann_view x,
                              struct clann_view y);
    /* Inverted dropout: keep element i with probability 1 - rate (u_i >= rate, u_i the rng
     * uniform stream's number offset + i / spatial), y = keep ? x / (1 - rate) : 0; rate >= 1
     * gives y = 0. spatial >= 1 elements in a row share a draw: spatial = 1 drops elements,
     * spatial = H W drops whole channels of NCHW images (spatial dropout); n is a multiple of
     * spatial. backward applies the same mask to dy (regenerated from the same key). */
    enum clann_status (*dropout)(struct clann_backend *be, struct clann_view x,
                                 struct clann_view y, size_t n, size_t spatial, float rate,
                                 struct clann_rng_key key);

    /* out[0] = beta * out[0] + sum_i |x[i]| (L1 penalty reporting). */
    enum clann_status (*sum_abs)(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_view out, float beta);
    /* Proximal step of an L1 penalty: x[i] = sign(x[i]) * max(|x[i]| - t_i, 0); weights reach
     * exactly 0. t_i = threshold, or with a second-moment view v (the optimizer's per-weight
     * metric; v may be a null view) t_i = threshold / (sqrt(v[i] + delta) + eps). Like the
     * optimizer, a nonzero guard[0] (guard may be a null view) makes it change nothing: a step
     * the NaN guard skipped leaves every weight as it was. */
    enum clann_status (*soft_threshold)(struct clann_backend *be, struct clann_view x, size_t n,
                                        float threshold, struct clann_view v, float delta,
                                        float eps, struct clann_view guard);
    /* Applies a constraint to a rows x cols matrix (see struct clann_constraint_op); honours
     * guard as soft_threshold does. */
    enum clann_status (*constrain)(struct clann_backend *be, const struct clann_constraint_op *c,
                                   struct clann_view x, size_t rows, size_t cols,
                                   struct clann_view guard);
    /* x[i] += stddev * n_i with n_i from the normal stream of key (Gaussian noise on
     * activations, weights, gradients and labels). */
    enum clann_status (*add_noise)(struct clann_backend *be, struct clann_view x, size_t n,
                                   struct clann_rng_key key, float stddev);
    /* Batch normalization over the rows of x (rows x (cols spatial)), per feature c < cols,
     * whose values are x[r][c spatial + s] for every row r and s < spatial: spatial = 1 is a
     * dense layer's (one feature a column), spatial = H W a channel of NCHW images (PyTorch's
     * BatchNorm2d). The averages below run over those rows * spatial values:
     * training: stats = [mean | var | invstd] (3 cols floats) with mean[c] = avg x,
     *   var = avg (x - mean)^2 (biased), invstd = 1 / sqrt(var + eps);
     *   y = gamma[c] (x - mean) invstd + beta[c]; running is not touched (the step folds the
     *   batch's mean and var into it with moving_average once the NaN guard has passed it);
     * inference (training false): running = [mean | var] (2 cols floats),
     *   y = gamma (x - running mean) / sqrt(running var + eps) + beta; stats is not touched. */
    enum clann_status (*batchnorm_forward)(struct clann_backend *be, struct clann_view x,
                                           struct clann_view y, size_t rows, size_t cols,
                                           size_t spatial, struct clann_view gamma,
                                           struct clann_view beta,
                                           struct clann_view stats, struct clann_view running,
                                           float eps, bool training);
    /* avg[i] = momentum avg[i] + (1 - momentum) x[i] for i < n, unless guard[0] != 0 (guard may
     * be a null view): batch normalization's running statistics. */
    enum clann_status (*moving_average)(struct clann_backend *be, struct clann_view avg,
                                        struct clann_view x, size_t n, float momentum,
                                        struct clann_view guard);
    /* The exact backward pass of training-mode batch normalization, with xhat = (x - mean)
     * invstd and m = rows spatial values per feature (layout as the forward's): dbeta[c] =
     * sum dy, dgamma[c] = sum dy xhat, dx = gamma invstd / m (m dy - dbeta - xhat dgamma).
     * dx may not alias dy. */
    enum clann_status (*batchnorm_backward)(struct clann_backend *be, struct clann_view x,
                                            struct clann_view dy, size_t rows, size_t cols,
                                            size_t spatial, struct clann_view gamma,
                                            struct clann_view mean, struct clann_view invstd,
                                            struct clann_view dx, struct clann_view dgamma,
                                            struct clann_view dbeta);
    /* Batch normalization over a batch spread across ranks (nn/batchnorm_dist.c), optional (NULL:
     * CLANN_ERR_UNSUPPORTED). x is rows x (channels * spatial), the statistics per channel
     * over rows * spatial values (spatial 1: per column).
     * batchnorm_sums: out[c] = sum x, or with center (not a null view) sum (x - center[c])^2:
     * this rank's share of the sums the mean and the variance are made of. */
    enum clann_status (*batchnorm_sums)(struct clann_backend *be, struct clann_view x,
                                        size_t rows, size_t channels, size_t spatial,
                                        struct clann_view center, struct clann_view out);
    /* batchnorm_backward's dx from sums over the whole batch of count values per channel:
     * dx = gamma invstd / count (count dy - dbeta - xhat dgamma), xhat = (x - mean) invstd. dx
     * may not alias dy. */
    enum clann_status (*batchnorm_dx)(struct clann_backend *be, struct clann_view x,
                                      struct clann_view dy, size_t rows, size_t channels,
                                      size_t spatial, struct clann_view gamma,
                                      struct clann_view mean, struct clann_view invstd,
                                      struct clann_view dgamma, struct clann_view dbeta,
                                      float count, struct clann_view dx);

    /* NaN guard: if sumsq[0] is not finite and flag[0] == 0, flag[0] = value (the first bad
     * step's number, or 1 to mark this step). Reads and writes one float each. */
    enum clann_status (*guard_check)(struct clann_backend *be, struct clann_view sumsq,
                                     struct clann_view flag, float value);
    /* out[0] += x[0] unless flag[0] != 0: the epoch's loss leaves out steps the guard skipped. */
    enum clann_status (*accumulate_unless)(struct clann_backend *be, struct clann_view x,
                                           struct clann_view out, struct clann_view flag);
    /* The NaN guard's skip policy, after a step (one float each): a step the guard flagged
     * (flag[0] != 0) makes run[0] += 1, and once run[0] > limit, stop[0] = value if stop[0] is
     * 0; a clean step sets run[0] = 0. run counts the skipped steps in a row. */
    enum clann_status (*guard_skip)(struct clann_backend *be, struct clann_view flag,
                                    struct clann_view run, struct clann_view stop, float limit,
                                    float value);
    /* Optional (NULL: the ops wrapper composes it from guard_check, sum_squares and
     * accumulate_unless): a step's NaN guard in one call, for devices where launches cost.
     * sumsq[0] = sum_i x[i]^2; flag[0] = value when batch[0] or sumsq[0] is not finite and
     * flag[0] == 0; then, when loss is not a NULL view, loss[0] += batch[0] unless flag[0]. */
    enum clann_status (*guard_grads)(struct clann_backend *be, struct clann_view x, size_t n,
                                     struct clann_view sumsq, struct clann_view batch,
                                     struct clann_view flag, float value, struct clann_view loss);
    /* out[0] = beta * out[0] + number of i < n with x[i] == 0 (dead-unit monitors). */
    enum clann_status (*count_zero)(struct clann_backend *be, struct clann_view x, size_t n,
                                    struct clann_view out, float beta);

    /* Convolution and pooling over NCHW images (struct clann_conv_geom), K = C kh kw window
     * values per output position and P = out_h out_w positions per image.
     * im2col: col[n][(c kh + i) kw + j][oy out_w + ox] = x[n][c][y][x'] at the window element's
     *   input position, 0 in the padding; col holds N K P floats, x N C H W.
     * col2im, its adjoint: x[n][c][y][x'] = sum of the col elements im2col reads from that
     *   position, in the order of (i, j) - a gather per input element, no atomics. */
    enum clann_status (*im2col)(struct clann_backend *be, const struct clann_conv_geom *g,
                                struct clann_view x, struct clann_view col);
    enum clann_status (*col2im)(struct clann_backend *be, const struct clann_conv_geom *g,
                                struct clann_view col, struct clann_view x);
    /* Per-channel bias of an n x channels x hw tensor: x[i][c][p] += bias[c]. */
    enum clann_status (*channel_bias)(struct clann_backend *be, struct clann_view x,
                                      struct clann_view bias, size_t n, size_t channels,
                                      size_t hw);
    /* out[c] = beta * out[c] + sum over i < n, then p < hw, of x[i][c][p] (bias gradients). */
    enum clann_status (*channel_sum)(struct clann_backend *be, struct clann_view x, size_t n,
                                     size_t channels, size_t hw, struct clann_view out,
                                     float beta);
    /* Pooling of each channel over the windows of g (padding left out of every window):
     * max: y = the window's value at its argmax, the first position in row-major window order
     *   holding the maximum (or the first NaN, so NaN propagates);
     * avg: y = sum of the window's values in that order / their count (0 for an empty window).
     * x holds N C H W floats, y N C out_h out_w. */
    enum clann_status (*pool2d_forward)(struct clann_backend *be, const struct clann_conv_geom *g,
                                        bool max, struct clann_view x, struct clann_view y);
    /* Its backward pass, a gather per input element: dx[n][c][y][x'] = sum over the windows
     * holding that position, in row-major output order (double on the CPU), of dy at the
     * window times (max) 1 when
     * the position is the window's argmax, else 0, or (avg) 1 / count. x is read by max only. */
    enum clann_status (*pool2d_backward)(struct clann_backend *be,
                                         const struct clann_conv_geom *g, bool max,
                                         struct clann_view x, struct clann_view dy,
                                         struct clann_view dx);

    /* Feature layer (src/nn/embedding.c). These entries may be NULL on a backend without them;
     * compiling a model with feature columns then fails with ERR_UNSUPPORTED.
     * Ids travel as floats: slot value v is the id v when v is an integer in [0, n_ids); any
     * other value (-1 pads empty slots) is no id and is skipped. For row r of an id matrix
     * (width slots, row stride ldi), c_r counts its ids and the combiner's scale is
     * s_r = 1 (sum), 1 / c_r (mean) or 1 / sqrt(c_r) (sqrtn), and 0 when c_r = 0. */
    /* y[r, j] = x[r, j] for r < rows, j < cols, with row strides ldx and ldy (no overlap). */
    enum clann_status (*copy_cols)(struct clann_backend *be, struct clann_view x, size_t ldx,
                                   struct clann_view y, size_t ldy, size_t rows, size_t cols);
    /* Gather and combine: y[r, k] = s_r * sum over ids v of row r of table[v * dim + k], for
     * k < dim. Indicator form (table a NULL view, dim == n_ids): y[r, k] = s_r * (number of
     * the row's ids equal to k). Sums in the order of the slots. */
    enum clann_status (*embedding_forward)(struct clann_backend *be, struct clann_view ids,
                                           size_t ldi, size_t width, size_t rows,
                                           struct clann_view table, size_t n_ids, size_t dim,
                                           enum clann_combiner combiner, struct clann_view y,
                                           size_t ldy);
    /* Deterministic scatter-add of the gradient, one output row per distinct id of the batch:
     * grad[u, k] = sum over o in [offsets[u], offsets[u + 1]) of s_{occ[o]} dy[occ[o], k],
     * for u < n_unique, k < dim, summed in the order of o. occ (n_occ floats) lists, for each
     * distinct id, the batch rows holding it (a row twice when it holds the id twice);
     * offsets has n_unique + 1 floats. No atomics: each (u, k) is one sequential sum. */
    enum clann_status (*embedding_backward)(struct clann_backend *be, struct clann_view dy,
                                            size_t ldy, struct clann_view ids, size_t ldi,
                                            size_t width, size_t rows, size_t n_ids,
                                            enum clann_combiner combiner,
                                            struct clann_view offsets, struct clann_view occ,
                                            size_t n_occ, size_t n_unique, size_t dim,
                                            struct clann_view grad);
    /* Sparse optimizer step: for u < n_unique, with row = uniq[u] (an id < n_ids), the
     * optimizer_step formulas on the dim floats at row * dim of table, s1 and s2 with gradient
     * grad[u * dim ..]; other rows are untouched (lazy state). Honours opt->guard. */
    enum clann_status (*embedding_update)(struct clann_backend *be, const struct clann_opt *opt,
                                          struct clann_view table, struct clann_view s1,
                                          struct clann_view s2, size_t n_ids, size_t dim,
                                          struct clann_view uniq, struct clann_view grad,
                                          size_t n_unique);
    /* Optional (NULL where a device has no use for it): a hint that the rows uniq[0..n_unique)
     * of table, s1 and s2 (either may be a null view) are read soon. Called when a batch's
     * index is built, a whole step before the sparse update needs the optimizer state, so a
     * host backend can have those scattered rows in cache by then. No effect on results. */
    void (*embedding_prefetch)(struct clann_backend *be, struct clann_view table,
                               struct clann_view s1, struct clann_view s2, size_t n_ids,
                               size_t dim, struct clann_view uniq, size_t n_unique);
};

/* What an op's time is charged to in a profile (the public enum clann_op_class has the same
 * values). */
enum clann__op_class { CLANN__OP_GEMM = 0, CLANN__OP_KERNEL = 1, CLANN__OP_TRANSFER = 2 };

/* Called after each op while profiling, with the op's name (the ops table's), its class, its
 * wall time, for GEMM its 2 m n k flops (0 otherwise), and the device launches it made. */
typedef void (*clann__profiler_fn)(void *user, const char *op, enum clann__op_class cls,
                                   double seconds, double flops, unsigned long launches);

struct clann_backend {
    /* The backend's own table. Everything outside src/backend calls it through the
     * clann__op_ wrappers (ops.h), which check the views and fill in the optional entries;
     * reading an entry (is it NULL?) is fine anywhere. */
    const struct clann_backend_ops *ops;
    struct clann_context *ctx; /* where errors are recorded */
    clann__profiler_fn profiler; /* NULL: not profiling (see ops.c) */
    void *profiler_user;
    /* Device launches so far (OpenCL: each kernel enqueue and each CLBlast call, which may
     * run more than one kernel inside; transfers are not launches). The profile's per-op
     * count, so fusions show in `clann bench`; 0 on the CPU backend. */
    unsigned long launches;
};

/* Sets up the base of a backend being created: its table and its context. Every backend
 * constructor calls it before its backend is used. */
void clann__backend_init(struct clann_backend *be, const struct clann_backend_ops *impl,
                         struct clann_context *ctx);

/* Sets (fn non-NULL) or clears the profiler. While one is set every op waits for the queue
 * before it starts and after it ends (finish), so that an asynchronous op is charged its own
 * execution and no other; that serializes the queue, so a profiled run is slower. */
void clann__backend_set_profiler(struct clann_backend *be, clann__profiler_fn fn, void *user);

/* Backend constructors. */
enum clann_status clann__cpu_backend_create(struct clann_context *ctx, enum clann_cpu_mode mode,
                                            struct clann_backend **out);

#ifdef CLANN_HAVE_OPENCL
/* Creates the OpenCL backend on platform p, device d, building (or loading from the binary
 * cache) every program in cl/. Fills ctx->build_seconds and ctx->build_from_cache. */
enum clann_status clann__opencl_backend_create(struct clann_context *ctx, int p, int d,
                                               const struct clann_context_params *params,
                                               struct clann_backend **out);
/* Appends the OpenCL devices to a list being built by clann_devices_list(). Never fails for
 * lack of an ICD, platform or device: it appends nothing then and sets *why. */
enum clann_status clann__opencl_devices_append(struct clann_device_info **list, size_t *count,
                                               const char **why);
#endif

/* Context lifetime (context.c): a model retains its context when it is created and releases
 * it when it is destroyed; a context whose clann_context_destroy() came first is freed by the
 * last release. */
void clann__context_retain(struct clann_context *ctx);
void clann__context_release(struct clann_context *ctx);

/* Fills g for kernel_h x kernel_w windows (dilated, strided) over batch x channels x height x
 * width images, with TensorFlow's padding rules: valid, out = floor((size - span) / stride) + 1
 * with span = (kernel - 1) dilation + 1 (0 when the span exceeds the size); same,
 * out = ceil(size / stride), the padding split evenly with the odd one after. */
void clann__conv_geom_init(struct clann_conv_geom *g, size_t batch, size_t channels,
                           size_t height, size_t width, size_t kernel_h, size_t kernel_w,
                           size_t stride, size_t dilation, bool same);

/* Buffer helpers over the ops table. */
enum clann_status clann__buf_create(struct clann_backend *be, size_t n, struct clann_buf *buf);
void clann__buf_destroy(struct clann_buf *buf);

#endif /* CLANN_BACKEND_H */
