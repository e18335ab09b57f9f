/*
 * cpu_ops.c - the CPU backend's element-wise, layer, loss, reduction, optimizer and
 * regularization ops: scalar reference code, plus FAST mode's vectorizable loops that compute
 * the same bits.
 */
#include "backend/cpu_impl.h"
#include "backend/formulas.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__SSE2__)
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------------------------------------
 * Random numbers: the shared Philox streams, with the affine map written exactly as the
 * OpenCL kernels write it (float arithmetic, no contraction), so results are bit-identical.
 */

enum clann_status cpu_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                  struct clann_rng_key key, float lo, float hi)
{
    float *p = n ? at(x) : NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = lo + (hi - lo) * clann__rng_uniform(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

enum clann_status cpu_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_rng_key key, float mean, float stddev)
{
    float *p = n ? at(x) : NULL;
    for (size_t i = 0; i < n; i++)
        p[i] = mean + stddev * clann__rng_normal(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Activations. The element and row formulas are in formulas.h (shared with the float64
 * gradient checks); the loops here feed them floats and round each result to float once.
 */

/* Slope on the z <= 0 side for the ReLU family; element (r, c) of a rows x cols matrix. */
static float neg_slope(const struct clann_act *act, const float *prelu, size_t r, size_t c,
                       size_t cols)
{
    switch (act->kind) {
    case CLANN__ACT_LEAKY_RELU:
        return act->alpha;
    case CLANN__ACT_PRELU:
        return prelu[c];
    case CLANN__ACT_RRELU:
        if (!act->training)
            return (act->lower + act->upper) / 2.0f;
        return act->lower + (act->upper - act->lower) *
                                clann__rng_uniform(act->rng.seed, act->rng.stream,
                                                   act->rng.offset + r * cols + c);
    default:
        return 0.0f;
    }
}

static bool act_reads_z(enum clann__act_kind kind)
{
    return kind != CLANN__ACT_LINEAR && kind != CLANN__ACT_SIGMOID && kind != CLANN__ACT_TANH &&
           kind != CLANN__ACT_SOFTMAX;
}

/* FAST mode's bias + ReLU (or + identity), the same float operations as the scalar path in
 * loops the compiler vectorizes. y may alias z (identity), so no restrict. */
static void bias_relu_fast(float *z, const float *bias, float *y, size_t rows, size_t cols,
                           bool relu)
{
    for (size_t r = 0; r < rows; r++) {
        float *zr = z + r * cols, *yr = y + r * cols;
        if (bias)
            for (size_t c = 0; c < cols; c++)
                zr[c] += bias[c];
        if (relu)
            for (size_t c = 0; c < cols; c++)
                yr[c] = zr[c] < 0.0f ? 0.0f : zr[c]; /* NaN and -0 pass through as before */
        else if (yr != zr)
            for (size_t c = 0; c < cols; c++)
                yr[c] = zr[c];
    }
}

/* dz = dy * relu'(z): a product by exactly 1 or 0, the same in float as in double. The
 * factor goes through a variable so that gcc keeps the product (it would otherwise branch
 * between dy and dy * 0, which does not vectorize). */
static void relu_backward_fast(const float *z, const float *dy, float *dz, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float slope = z[i] > 0.0f ? 1.0f : 0.0f;
        dz[i] = dy[i] * slope;
    }
}

enum clann_status cpu_bias_act_forward(struct clann_backend *be,
                                       const struct clann_act *act, struct clann_view z,
                                       struct clann_view bias, struct clann_view prelu,
                                       struct clann_view y, size_t rows, size_t cols)
{
    size_t total = rows * cols;
    if (total == 0)
        return CLANN_OK;
    if (fast_mode(be) && (act->kind == CLANN__ACT_RELU || act->kind == CLANN__ACT_LINEAR)) {
        bias_relu_fast(at(z), is_null(bias) ? NULL : at(bias), at(y), rows, cols,
                       act->kind == CLANN__ACT_RELU);
        return CLANN_OK;
    }
    const float *a = act->kind == CLANN__ACT_PRELU ? at(prelu) : NULL;
    for (size_t r = 0; r < rows; r++) {
        float *zr = at(z) + r * cols, *yr = at(y) + r * cols;
        if (!is_null(bias))
            for (size_t c = 0; c < cols; c++)
                zr[c] += at(bias)[c];
        if (act->kind == CLANN__ACT_SOFTMAX) {
            clann__softmax_row(clann__row_f(zr), clann__out_f(yr), cols);
            continue;
        }
        for (size_t c = 0; c < cols; c++)
            yr[c] = (float)clann__act_value(act, zr[c], neg_slope(act, a, r, c, cols));
    }
    return CLANN_OK;
}

enum clann_status cpu_act_backward(struct clann_backend *be, const struct clann_act *act,
                                   struct clann_view z, struct clann_view y,
                                   struct clann_view dy, struct clann_view prelu,
                                   struct clann_view dz, size_t rows, size_t cols)
{
    size_t total = rows * cols;
    /* Only the input the formula uses is read, so callers may pass a NULL view for the other. */
    bool reads_z = act_reads_z(act->kind);
    bool reads_y = act->kind != CLANN__ACT_LINEAR && !reads_z;
    if (total == 0)
        return CLANN_OK;
    if (fast_mode(be) && act->kind == CLANN__ACT_RELU) {
        relu_backward_fast(at(z), at(dy), at(dz), total);
        return CLANN_OK;
    }
    const float *a = act->kind == CLANN__ACT_PRELU ? at(prelu) : NULL;
    for (size_t r = 0; r < rows; r++) {
        const float *zr = reads_z ? at(z) + r * cols : NULL;
        const float *yr = reads_y ? at(y) + r * cols : NULL;
        const float *dyr = at(dy) + r * cols; /* may alias dzr: each element is read first */
        float *dzr = at(dz) + r * cols;
        if (act->kind == CLANN__ACT_SOFTMAX) {
            clann__softmax_backward_row(clann__row_f(yr), clann__row_f(dyr), clann__out_f(dzr),
                                        cols);
            continue;
        }
        for (size_t c = 0; c < cols; c++) {
            float zv = zr ? zr[c] : 0.0f, yv = yr ? yr[c] : 0.0f;
            double slope = neg_slope(act, a, r, c, cols);
            dzr[c] = (float)(dyr[c] * clann__act_derivative(act, zv, yv, slope));
        }
    }
    return CLANN_OK;
}

enum clann_status cpu_prelu_grad(struct clann_backend *be, struct clann_view z,
                                 struct clann_view dy, struct clann_view dprelu,
                                 size_t rows, size_t cols, float beta)
{
    for (size_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++) {
            float zv = at(z)[r * cols + c];
            acc += (double)at(dy)[r * cols + c] * (zv < 0.0f ? zv : 0.0f);
        }
        at(dprelu)[c] = accumulate(at(dprelu)[c], beta, acc);
    }
    return CLANN_OK;
}

/* Columns per block of FAST mode's column sums: the double accumulators stay on the stack. */
#define COL_BLOCK 256

/* Column sums row by row (unit stride, vectorizable) instead of column by column (stride
 * cols): each column still adds its rows in order 0, 1, ... in double, so the result is the
 * same to the bit. */
static void col_sum_fast(const float *x, size_t rows, size_t cols, float *out, float beta)
{
    double acc[COL_BLOCK];
    for (size_t c0 = 0; c0 < cols; c0 += COL_BLOCK) {
        size_t nc = cols - c0 < COL_BLOCK ? cols - c0 : COL_BLOCK;
        for (size_t c = 0; c < nc; c++)
            acc[c] = 0.0;
        for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * cols + c0;
            for (size_t c = 0; c < nc; c++)
                acc[c] += xr[c];
        }
        for (size_t c = 0; c < nc; c++)
            out[c0 + c] = accumulate(out[c0 + c], beta, acc[c]);
    }
}

enum clann_status cpu_col_sum(struct clann_backend *be, struct clann_view x, size_t rows,
                              size_t cols, struct clann_view out, float beta)
{
    if (fast_mode(be) && rows && cols) {
        col_sum_fast(at(x), rows, cols, at(out), beta);
        return CLANN_OK;
    }
    for (size_t c = 0; c < cols; c++) {
        double acc = 0.0;
        for (size_t r = 0; r < rows; r++)
            acc += at(x)[r * cols + c];
        at(out)[c] = accumulate(at(out)[c], beta, acc);
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Losses: the row formulas are in formulas.h (clann__loss_row).
 */

enum clann_status cpu_loss(struct clann_backend *be, const struct clann__loss *loss,
                           struct clann_view pred, struct clann_view labels, size_t rows,
                           size_t cols, struct clann_view row_loss, struct clann_view grad,
                           float grad_scale)
{
    size_t label_cols = loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : cols;
    if (cols == 0)
        rows = 0; /* an empty row has no loss to report */
    for (size_t r = 0; r < rows; r++) {
        float *g = is_null(grad) ? NULL : at(grad) + r * cols;
        if (loss->kind == CLANN__LOSS_NCE) { /* true columns, then the columns' flags */
            at(row_loss)[r] = (float)clann__nce_row(clann__row_f(at(pred) + r * cols),
                                                    at(labels)[r],
                                                    clann__row_f(at(labels) + rows), cols,
                                                    clann__out_f(g), grad_scale);
            continue;
        }
        double row = clann__loss_row(loss, clann__row_f(at(pred) + r * cols),
                                     clann__row_f(at(labels) + r * label_cols), cols,
                                     clann__out_f(g), grad_scale);
        at(row_loss)[r] = (float)row;
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Reductions: one sequential pass in double, so the order (and the result) is fixed for a
 * given n.
 */

enum clann_status cpu_sum(struct clann_backend *be, struct clann_view x, size_t n,
                          float scale, struct clann_view out, float beta)
{
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += at(x)[i];
    at(out)[0] = accumulate(at(out)[0], beta, (double)scale * acc);
    return CLANN_OK;
}

/* FAST mode's sum of squares (the NaN guard runs it over every gradient each step): 8
 * partial sums, which the compiler vectorizes, combined in a fixed order - the same result
 * for a given n every run, as backend.h asks, though not always the reference's last bit. */
static double sum_squares_fast(const float *x, size_t n)
{
    double acc[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; j++)
            acc[j] += (double)x[i + j] * x[i + j];
    for (; i < n; i++)
        acc[i % 8] += (double)x[i] * x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Two halves at a fixed cut, added in a fixed order: which thread ran which half does not
 * change the result. */
struct sumsq_job {
    const float *x;
    size_t n, cut;
    double part[2];
};

static void sumsq_half(void *arg, int half)
{
    struct sumsq_job *j = arg;
    j->part[half] = half ? sum_squares_fast(j->x + j->cut, j->n - j->cut)
                         : sum_squares_fast(j->x, j->cut);
}

enum clann_status cpu_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                  struct clann_view out, float beta)
{
    if (fast_mode(be) && n) {
        /* Long vectors always in two halves, so that the thread count never changes it. */
        bool halves = n >= SPLIT_MIN_ELEMENTS;
        struct sumsq_job j = {at(x), n, halves ? (n / 2 + 15) & ~(size_t)15 : n, {0.0, 0.0}};
        struct cpu_pool *pool = ((struct cpu_backend *)be)->pool;
        if (pool && halves) {
            pool_run(pool, sumsq_half, &j);
        } else {
            sumsq_half(&j, 0);
            if (halves)
                sumsq_half(&j, 1);
        }
        at(out)[0] = accumulate(at(out)[0], beta, j.part[0] + j.part[1]);
        return CLANN_OK;
    }
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += (double)at(x)[i] * at(x)[i];
    at(out)[0] = accumulate(at(out)[0], beta, acc);
    return CLANN_OK;
}

/* Index of the largest value, the first one on ties (NaN never wins). */
static size_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* A multi-label row is right when every label is: logit > 0 exactly where the label is 1. */
static bool all_signs_agree(const float *p, const float *y, size_t cols)
{
    for (size_t c = 0; c < cols; c++)
        if ((p[c] > 0.0f) != (y[c] > 0.5f))
            return false;
    return true;
}

enum clann_status cpu_count_correct(struct clann_backend *be, struct clann_view pred,
                                    struct clann_view labels, int rule, size_t rows,
                                    size_t cols, struct clann_view correct, float beta)
{
    size_t label_cols = rule == CLANN__COUNT_SPARSE || cols == 1 ? 1 : cols;
    if (cols == 0)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "cpu count_correct: cols is 0");
    double count = 0.0;
    for (size_t r = 0; r < rows; r++) {
        const float *p = at(pred) + r * cols, *y = at(labels) + r * label_cols;
        bool ok;
        if (cols == 1)
            ok = (p[0] > 0.0f) == (y[0] > 0.5f);
        else if (rule == CLANN__COUNT_MULTILABEL)
            ok = all_signs_agree(p, y, cols);
        else if (rule == CLANN__COUNT_SPARSE)
            ok = (float)argmax(p, cols) == y[0];
        else
            ok = argmax(p, cols) == argmax(y, cols);
        count += ok ? 1.0 : 0.0;
    }
    at(correct)[0] = accumulate(at(correct)[0], beta, count);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Optimizers: element updates in float, exactly as written in backend.h.
 */

/* FAST mode's update: one loop per kind over restrict pointers, so that the compiler
 * vectorizes it. Each element sees the same float operations in the same order as the scalar
 * loop in cpu_optimizer_step, so the weights are the same to the bit. The loops with sqrtf
 * do not vectorize while sqrtf may set errno (the build keeps -fmath-errno), so Adam's is
 * written with SSE2 intrinsics on x86-64: IEEE sqrt and division per lane, the same values. */
struct opt_job {
    const struct clann_opt *opt;
    float lr, eps;
    float *w, *s1, *s2;
    const float *g;
    size_t n, cut;
};

static void opt_sgd(float *restrict w, const float *restrict g, size_t n, float lr)
{
    for (size_t i = 0; i < n; i++)
        w[i] = w[i] - lr * g[i];
}

static void opt_momentum(float *restrict w, const float *restrict g, float *restrict a, size_t n,
                         float lr, float mu, bool nesterov)
{
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            a[i] = mu * a[i] + g[i];
            w[i] = w[i] - lr * (g[i] + mu * a[i]);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = mu * a[i] + g[i];
        w[i] = w[i] - lr * a[i];
    }
}

/* Adagrad (a += g^2) and RMSprop (a = rho a + (1 - rho) g^2). */
static void opt_scaled(float *restrict w, const float *restrict g, float *restrict a, size_t n,
                       float lr, float eps, float rho, bool rmsprop)
{
    float c = 1.0f - rho;
    if (rmsprop) {
        for (size_t i = 0; i < n; i++) {
            a[i] = rho * a[i] + c * g[i] * g[i];
            w[i] = w[i] - lr * g[i] / (sqrtf(a[i]) + eps);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        a[i] = a[i] + g[i] * g[i];
        w[i] = w[i] - lr * g[i] / (sqrtf(a[i]) + eps);
    }
}

/* Adam's lanes: m = b1 m + c1 g; v = b2 v + (c2 g) g; w -= (lr m) / (sqrt(v) + eps), the
 * scalar loop's operations in its order (no contraction: the build has -ffp-contract=off). */
#define ADAM_LANES(VEC, SET1, LOAD, STORE, ADD, SUB, MUL, DIV, SQRT, WIDTH)                       \
    VEC vb1 = SET1(p->beta1), vb2 = SET1(p->beta2), vc1 = SET1(1.0f - p->beta1);                  \
    VEC vc2 = SET1(1.0f - p->beta2), vlr = SET1(lr), veps = SET1(eps);                            \
    size_t i = 0;                                                                                 \
    for (; i + (WIDTH) <= n; i += (WIDTH)) {                                                      \
        VEC gi = LOAD(g + i);                                                                     \
        VEC mi = ADD(MUL(vb1, LOAD(m + i)), MUL(vc1, gi));                                        \
        VEC vi = ADD(MUL(vb2, LOAD(v + i)), MUL(MUL(vc2, gi), gi));                               \
        VEC step = DIV(MUL(vlr, mi), ADD(SQRT(vi), veps));                                        \
        STORE(m + i, mi);                                                                         \
        STORE(v + i, vi);                                                                         \
        STORE(w + i, SUB(LOAD(w + i), step));                                                     \
    }                                                                                             \
    return i

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ADAM_WIDE 1
__attribute__((target("avx512f"))) static size_t
adam_avx512(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
            size_t n, const struct clann_opt *p, float lr, float eps)
{
    ADAM_LANES(__m512, _mm512_set1_ps, _mm512_loadu_ps, _mm512_storeu_ps, _mm512_add_ps,
               _mm512_sub_ps, _mm512_mul_ps, _mm512_div_ps, _mm512_sqrt_ps, 16);
}

__attribute__((target("avx"))) static size_t
adam_avx(float *restrict w, const float *restrict g, float *restrict m, float *restrict v,
         size_t n, const struct clann_opt *p, float lr, float eps)
{
    ADAM_LANES(__m256, _mm256_set1_ps, _mm256_loadu_ps, _mm256_storeu_ps, _mm256_add_ps,
               _mm256_sub_ps, _mm256_mul_ps, _mm256_div_ps, _mm256_sqrt_ps, 8);
}
#endif

#if defined(__SSE2__)
static size_t adam_sse2(float *restrict w, const float *restrict g, float *restrict m,
                        float *restrict v, size_t n, const struct clann_opt *p, float lr,
                        float eps)
{
    ADAM_LANES(__m128, _mm_set1_ps, _mm_loadu_ps, _mm_storeu_ps, _mm_add_ps, _mm_sub_ps,
               _mm_mul_ps, _mm_div_ps, _mm_sqrt_ps, 4);
}
#endif

/* The widest lanes the CPU has (sqrt and division dominate: 16 lanes run 4x as fast as 4),
 * then scalar code for the tail. */
static void opt_adam(float *restrict w, const float *restrict g, float *restrict m,
                     float *restrict v, size_t n, const struct clann_opt *o, float lr, float eps)
{
    size_t i = 0;
#if defined(ADAM_WIDE)
    if (__builtin_cpu_supports("avx512f"))
        i = adam_avx512(w, g, m, v, n, o, lr, eps);
    else if (__builtin_cpu_supports("avx"))
        i = adam_avx(w, g, m, v, n, o, lr, eps);
#endif
#if defined(__SSE2__)
    i += adam_sse2(w + i, g + i, m + i, v + i, n - i, o, lr, eps);
#endif
    float b1 = o->beta1, b2 = o->beta2, c1 = 1.0f - o->beta1, c2 = 1.0f - o->beta2;
    for (; i < n; i++) {
        m[i] = b1 * m[i] + c1 * g[i];
        v[i] = b2 * v[i] + c2 * g[i] * g[i];
        w[i] = w[i] - lr * m[i] / (sqrtf(v[i]) + eps);
    }
}

static void opt_range(const struct opt_job *j, size_t lo, size_t hi)
{
    const struct clann_opt *o = j->opt;
    float *w = j->w + lo, *a = j->s1 ? j->s1 + lo : NULL;
    const float *g = j->g + lo;
    switch (o->kind) {
    case CLANN__OPT_SGD:
        opt_sgd(w, g, hi - lo, j->lr);
        break;
    case CLANN__OPT_MOMENTUM:
        opt_momentum(w, g, a, hi - lo, j->lr, o->momentum, o->nesterov);
        break;
    case CLANN__OPT_ADAGRAD:
        opt_scaled(w, g, a, hi - lo, j->lr, j->eps, 0.0f, false);
        break;
    case CLANN__OPT_ADAM:
        opt_adam(w, g, a, j->s2 + lo, hi - lo, o, j->lr, j->eps);
        break;
    default:
        opt_scaled(w, g, a, hi - lo, j->lr, j->eps, o->rho, true);
        break;
    }
}

static void opt_half(void *arg, int half)
{
    const struct opt_job *j = arg;
    if (half)
        opt_range(j, j->cut, j->n);
    else
        opt_range(j, 0, j->cut);
}

enum clann_status cpu_optimizer_step(struct clann_backend *be, const struct clann_opt *opt,
                                     struct clann_view w, struct clann_view g,
                                     struct clann_view s1, struct clann_view s2, size_t n)
{
    RETURN_IF_GUARDED(opt->guard); /* a non-finite gradient: weights and state stay */
    if (n == 0)
        return CLANN_OK;
    float *wp = at(w), *a = opt->kind != CLANN__OPT_SGD ? at(s1) : NULL;
    const float *gp = at(g);
    float lr = opt->lr_t, eps = opt->eps_t; /* Adam's bias correction folded in (ops.c) */
    if (fast_mode(be)) {
        struct opt_job j = {opt, lr, eps, wp, a, opt->kind == CLANN__OPT_ADAM ? at(s2) : NULL,
                            gp, n, (n / 2 + 15) & ~(size_t)15};
        struct cpu_pool *pool = ((struct cpu_backend *)be)->pool;
        if (pool && n >= SPLIT_MIN_ELEMENTS)
            pool_run(pool, opt_half, &j);
        else
            opt_range(&j, 0, n);
        return CLANN_OK;
    }
    for (size_t i = 0; i < n; i++) {
        float gi = gp[i];
        switch (opt->kind) {
        case CLANN__OPT_SGD:
            wp[i] = wp[i] - lr * gi;
            break;
        case CLANN__OPT_MOMENTUM:
            a[i] = opt->momentum * a[i] + gi;
            wp[i] = wp[i] - lr * (opt->nesterov ? gi + opt->momentum * a[i] : a[i]);
            break;
        case CLANN__OPT_ADAGRAD:
            a[i] = a[i] + gi * gi;
            wp[i] = wp[i] - lr * gi / (sqrtf(a[i]) + eps);
            break;
        case CLANN__OPT_ADAM: {
            float *v = at(s2);
            a[i] = opt->beta1 * a[i] + (1.0f - opt->beta1) * gi;
            v[i] = opt->beta2 * v[i] + (1.0f - opt->beta2) * gi * gi;
            wp[i] = wp[i] - lr * a[i] / (sqrtf(v[i]) + eps);
            break;
        }
        default: /* RMSprop */
            a[i] = opt->rho * a[i] + (1.0f - opt->rho) * gi * gi;
            wp[i] = wp[i] - lr * gi / (sqrtf(a[i]) + eps);
            break;
        }
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Element-wise helpers.
 */

enum clann_status cpu_clip_by_norm(struct clann_backend *be, struct clann_view x, size_t n,
                                   struct clann_view sumsq, float max_norm)
{
    float factor = max_norm / sqrtf(at(sumsq)[0] + 1e-12f);
    if (!(factor < 1.0f)) /* min(1, factor); a NaN norm leaves x (already non-finite) alone */
        return CLANN_OK;
    for (size_t i = 0; i < n; i++)
        at(x)[i] *= factor;
    return CLANN_OK;
}

enum clann_status cpu_clip_by_value(struct clann_backend *be, struct clann_view x, size_t n,
                                    float limit)
{
    for (size_t i = 0; i < n; i++) {
        float v = at(x)[i];
        at(x)[i] = v > limit ? limit : v < -limit ? -limit : v; /* NaN stays NaN */
    }
    return CLANN_OK;
}

enum clann_status cpu_axpy(struct clann_backend *be, size_t n, float a,
                           struct clann_view x, struct clann_view y)
{
    for (size_t i = 0; i < n; i++)
        at(y)[i] = a * at(x)[i] + at(y)[i];
    return CLANN_OK;
}

enum clann_status cpu_dropout(struct clann_backend *be, struct clann_view x,
                              struct clann_view y, size_t n, size_t spatial, float rate,
                              struct clann_rng_key key)
{
    for (size_t i = 0; i < n; i++) {
        bool keep = rate < 1.0f &&
                    clann__rng_uniform(key.seed, key.stream, key.offset + i / spatial) >= rate;
        at(y)[i] = keep ? at(x)[i] / (1.0f - rate) : 0.0f;
    }
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Regularization: penalties, constraints, noise, batch normalization.
 */

enum clann_status cpu_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                              struct clann_view out, float beta)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += fabsf(at(x)[i]);
    at(out)[0] = accumulate(at(out)[0], beta, s);
    return CLANN_OK;
}

enum clann_status cpu_soft_threshold(struct clann_backend *be, struct clann_view x,
                                     size_t n, float threshold, struct clann_view v2,
                                     float delta, float eps, struct clann_view guard)
{
    RETURN_IF_GUARDED(guard);
    for (size_t i = 0; i < n; i++) {
        float v = at(x)[i];
        float t = v2.buf ? threshold / (sqrtf(at(v2)[i] + delta) + eps) : threshold;
        at(x)[i] = v > t ? v - t : v < -t ? v + t : v * 0.0f;
    }
    return CLANN_OK;
}

/* The factor a column of norm n is scaled by (Keras' constraints, epsilon 1e-7). */
static float constraint_factor(const struct clann_constraint_op *c, float n)
{
    switch (c->kind) {
    case CLANN__CONSTRAINT_MAX_NORM:
        return (n > c->max_value ? c->max_value : n) / (1e-7f + n);
    case CLANN__CONSTRAINT_MIN_MAX_NORM: {
        float clipped = n < c->min_value ? c->min_value : n > c->max_value ? c->max_value : n;
        return (c->rate * clipped + (1.0f - c->rate) * n) / (1e-7f + n);
    }
    case CLANN__CONSTRAINT_UNIT_NORM:
        return 1.0f / (1e-7f + n);
    default:
        return 1.0f;
    }
}

enum clann_status cpu_constrain(struct clann_backend *be,
                                const struct clann_constraint_op *c, struct clann_view x,
                                size_t rows, size_t cols, struct clann_view guard)
{
    RETURN_IF_GUARDED(guard);
    float *w = at(x);
    if (c->kind == CLANN__CONSTRAINT_NON_NEG) {
        for (size_t i = 0; i < rows * cols; i++)
            w[i] = w[i] < 0.0f ? 0.0f : w[i]; /* NaN stays NaN */
        return CLANN_OK;
    }
    for (size_t j = 0; j < cols; j++) {
        double ss = 0.0;
        for (size_t i = 0; i < rows; i++)
            ss += (double)w[i * cols + j] * w[i * cols + j];
        float factor = constraint_factor(c, (float)sqrt(ss));
        for (size_t i = 0; i < rows; i++)
            w[i * cols + j] *= factor;
    }
    return CLANN_OK;
}

enum clann_status cpu_add_noise(struct clann_backend *be, struct clann_view x, size_t n,
                                struct clann_rng_key key, float stddev)
{
    for (size_t i = 0; i < n; i++)
        at(x)[i] += stddev * clann__rng_normal(key.seed, key.stream, key.offset + i);
    return CLANN_OK;
}

/* Mean and biased variance of feature c of a rows x (cols spatial) matrix (its values
 * x[r][c spatial + s]), in double, summed row by row and within a row in order: with
 * spatial = 1, column c. */
static void feature_moments(const float *x, size_t rows, size_t cols, size_t spatial, size_t c,
                            double *mean, double *var)
{
    size_t width = cols * spatial;
    const float *xc = x + c * spatial;
    double s = 0.0, ss = 0.0;
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < spatial; k++)
            s += xc[r * width + k];
    *mean = s / ((double)rows * (double)spatial);
    for (size_t r = 0; r < rows; r++)
        for (size_t k = 0; k < spatial; k++) {
            double d = xc[r * width + k] - *mean;
            ss += d * d;
        }
    *var = ss / ((double)rows * (double)spatial);
}

enum clann_status cpu_batchnorm_forward(struct clann_backend *be, struct clann_view x,
                                        struct clann_view y, size_t rows, size_t cols,
                                        size_t spatial, struct clann_view gamma,
                                        struct clann_view beta, struct clann_view stats,
                                        struct clann_view running, float eps, bool training)
{
    size_t width = cols * spatial;
    for (size_t c = 0; c < cols; c++) {
        float m, is;
        if (training) {
            double mu, var;
            feature_moments(at(x), rows, cols, spatial, c, &mu, &var);
            at(stats)[c] = m = (float)mu;
            at(stats)[cols + c] = (float)var;
            at(stats)[2 * cols + c] = is = (float)(1.0 / sqrt(var + eps));
        } else {
            m = at(running)[c];
            is = (float)(1.0 / sqrt(at(running)[cols + c] + eps));
        }
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0, i = r * width + c * spatial; k < spatial; k++, i++)
                at(y)[i] = at(gamma)[c] * (at(x)[i] - m) * is + at(beta)[c];
    }
    return CLANN_OK;
}

enum clann_status cpu_moving_average(struct clann_backend *be, struct clann_view avg,
                                     struct clann_view x, size_t n, float momentum,
                                     struct clann_view guard)
{
    RETURN_IF_GUARDED(guard);
    for (size_t i = 0; i < n; i++)
        at(avg)[i] = (float)(momentum * (double)at(avg)[i] + (1.0 - momentum) * at(x)[i]);
    return CLANN_OK;
}

enum clann_status cpu_batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                         struct clann_view dy, size_t rows, size_t cols,
                                         size_t spatial, struct clann_view gamma,
                                         struct clann_view mean, struct clann_view invstd,
                                         struct clann_view dx, struct clann_view dgamma,
                                         struct clann_view dbeta)
{
    const float *xp = at(x), *dyp = at(dy);
    size_t width = cols * spatial;
    double count = (double)rows * (double)spatial;
    for (size_t c = 0; c < cols; c++) {
        double m = at(mean)[c], is = at(invstd)[c], sdy = 0.0, sdyx = 0.0;
        for (size_t r = 0; r < rows; r++)
            for (size_t k = 0, i = r * width + c * spatial; k < spatial; k++, i++) {
                double xhat = (xp[i] - m) * is;
                sdy += dyp[i];
                sdyx += dyp[i] * xhat;
            }
        at(dbeta)[c] = (float)sdy;
        at(dgamma)[c] = (float)sdyx;
        double k = at(gamma)[c] * is / count;
        for (size_t r = 0; r < rows; r++)
            for (size_t j = 0, i = r * width + c * spatial; j < spatial; j++, i++) {
                double xhat = (xp[i] - m) * is;
                at(dx)[i] = (float)(k * (count * dyp[i] - sdy - xhat * sdyx));
            }
    }
    return CLANN_OK;
}

/* Element s of channel c in row r of a rows x (channels * spatial) matrix. */
static size_t bn_at(size_t r, size_t c, size_t s, size_t channels, size_t spatial)
{
    return (r * channels + c) * spatial + s;
}

enum clann_status cpu_batchnorm_sums(struct clann_backend *be, struct clann_view x, size_t rows,
                                     size_t channels, size_t spatial, struct clann_view center,
                                     struct clann_view out)
{
    const float *xp = at(x);
    for (size_t c = 0; c < channels; c++) {
        double sum = 0.0, m = center.buf ? at(center)[c] : 0.0;
        for (size_t r = 0; r < rows; r++)
            for (size_t s = 0; s < spatial; s++) {
                double v = xp[bn_at(r, c, s, channels, spatial)];
                sum += center.buf ? (v - m) * (v - m) : v;
            }
        at(out)[c] = (float)sum;
    }
    return CLANN_OK;
}

enum clann_status cpu_batchnorm_dx(struct clann_backend *be, struct clann_view x,
                                   struct clann_view dy, size_t rows, size_t channels,
                                   size_t spatial, struct clann_view gamma, struct clann_view mean,
                                   struct clann_view invstd, struct clann_view dgamma,
                                   struct clann_view dbeta, float count, struct clann_view dx)
{
    for (size_t c = 0; c < channels; c++) {
        double m = at(mean)[c], is = at(invstd)[c], sdy = at(dbeta)[c], sdyx = at(dgamma)[c];
        double k = at(gamma)[c] * is / (double)count;
        for (size_t r = 0; r < rows; r++)
            for (size_t s = 0; s < spatial; s++) {
                size_t i = bn_at(r, c, s, channels, spatial);
                double xhat = (at(x)[i] - m) * is;
                at(dx)[i] = (float)(k * ((double)count * at(dy)[i] - sdy - xhat * sdyx));
            }
    }
    return CLANN_OK;
}

enum clann_status cpu_guard_check(struct clann_backend *be, struct clann_view sumsq,
                                  struct clann_view flag, float value)
{
    if (!isfinite(at(sumsq)[0]) && at(flag)[0] == 0.0f)
        at(flag)[0] = value;
    return CLANN_OK;
}

enum clann_status cpu_guard_skip(struct clann_backend *be, struct clann_view flag,
                                 struct clann_view run, struct clann_view stop, float limit,
                                 float value)
{
    (void)be;
    at(run)[0] = at(flag)[0] != 0.0f ? at(run)[0] + 1.0f : 0.0f;
    if (at(run)[0] > limit && at(stop)[0] == 0.0f)
        at(stop)[0] = value;
    return CLANN_OK;
}

enum clann_status cpu_accumulate_unless(struct clann_backend *be, struct clann_view x,
                                        struct clann_view out, struct clann_view flag)
{
    if (at(flag)[0] == 0.0f)
        at(out)[0] += at(x)[0];
    return CLANN_OK;
}

enum clann_status cpu_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_view out, float beta)
{
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += at(x)[i] == 0.0f;
    at(out)[0] = accumulate(at(out)[0], beta, (double)zeros);
    return CLANN_OK;
}

