/*
 * test-cpu-ops.c - the CPU backend ops against their formulas in backend.h: float32
 * finite-difference gradient checks (docs/testing.md #2: central differences, eps = 1e-2,
 * every element |a - n| <= 1e-3 + 1e-2 |n| and relative L2 error <= 1e-3), GEMM against a
 * double reference (NMSE <= 1e-7, canaries, NaN-free beta = 0) in both CPU modes, numerics at
 * extreme logits, optimizers against hand-written scalar updates, dropout statistics and the
 * small ops. Every random input comes from the Philox test stream under SEED, printed in
 * failure messages.
 */
#include "backend/ops.h"
#include "core/rng.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED 42u
#define EPS 1e-2f       /* central-difference step (docs/testing.md, "Tolerances") */
#define GC_ATOL 1e-3    /* elementwise: |a - n| <= GC_ATOL + GC_RTOL |n| */
#define GC_RTOL 1e-2
#define GC_REL_L2 1e-3  /* ||a - n|| / ||n|| */
#define NMSE_MAX 1e-7
#define CANARY 127      /* floats after C, as in CLBlast */
#define CANARY_BITS 0x7fc0deadu /* a NaN with a payload no op produces */

static struct clann_context *g_ctx;
static struct clann_backend *g_be;
static uint64_t g_draw; /* next value of the test stream */

/* ck_assert records a checkpoint on every call (a pipe write in fork mode); checks in hot
 * loops use EXPECT, which costs nothing until it fails. */
#define EXPECT(cond, ...)                                                                         \
    do {                                                                                          \
        if (!(cond))                                                                              \
            ck_abort_msg(__VA_ARGS__);                                                            \
    } while (0)
#define OK(call)                                                                                  \
    EXPECT((call) == CLANN_OK, "%s failed: %s (seed %u)", #call, clann_last_error(), SEED)

/* ---------------------------------------------------------------------------------------------
 * Fixture and helpers.
 */

static void use_mode(enum clann_cpu_mode mode)
{
    if (g_ctx)
        clann_context_destroy(g_ctx);
    struct clann_context_params p = clann_context_default_params();
    p.device = "cpu";
    p.cpu_mode = mode;
    g_ctx = NULL;
    ck_assert_msg(clann_context_create(&p, &g_ctx) == CLANN_OK, "context: %s", clann_last_error());
    g_be = g_ctx->be;
}

static void setup(void)
{
    g_draw = 0;
    use_mode(CLANN_CPU_MODE_REFERENCE);
}

static void teardown(void)
{
    clann_context_destroy(g_ctx);
    g_ctx = NULL;
    g_be = NULL;
}

static float urand(float lo, float hi)
{
    return lo + (hi - lo) * clann__rng_uniform(SEED, CLANN__RNG_STREAM_TEST, g_draw++);
}

static float *hnew(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

static float *hrand(size_t n, float lo, float hi)
{
    float *p = hnew(n);
    for (size_t i = 0; i < n; i++)
        p[i] = urand(lo, hi);
    return p;
}

static struct clann_buf dnew(size_t n)
{
    struct clann_buf b;
    OK(clann__buf_create(g_be, n, &b));
    return b;
}

/* A device copy of a host array. */
static struct clann_buf dfrom(const float *x, size_t n)
{
    struct clann_buf b = dnew(n);
    OK(clann__op_upload(g_be, clann__view(&b, 0), x, n, true));
    return b;
}

static struct clann_view V(struct clann_buf *b)
{
    return clann__view(b, 0);
}

static const struct clann_view NO_VIEW = {NULL, 0};

static void up(struct clann_buf *b, const float *x, size_t n)
{
    OK(clann__op_upload(g_be, V(b), x, n, true));
}

static void down(float *x, struct clann_buf *b, size_t n)
{
    OK(clann__op_download(g_be, x, V(b), n));
}

static float scalar(struct clann_buf *b)
{
    float v;
    down(&v, b, 1);
    return v;
}

static uint32_t bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float nan_pattern(void)
{
    float f;
    uint32_t u = CANARY_BITS;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Moves v at least gap away from kink (keeps its side). */
static float away_from(float v, float kink, float gap)
{
    if (fabsf(v - kink) >= gap)
        return v;
    return v >= kink ? kink + gap : kink - gap;
}

/* ---------------------------------------------------------------------------------------------
 * Gradient checking.
 */

/* Central difference of f with respect to each of x[0..n), with the step actually taken in
 * float as the denominator. */
static void numeric_grad(double (*f)(void *), void *arg, float *x, size_t n, double *out)
{
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i], xp = x0 + EPS, xm = x0 - EPS;
        x[i] = xp;
        double fp = f(arg);
        x[i] = xm;
        double fm = f(arg);
        x[i] = x0;
        out[i] = (fp - fm) / ((double)xp - (double)xm);
    }
}

/* Checks analytic ana against numeric num (docs/testing.md #2); returns relL2. */
static double check_grad(const char *what, const float *ana, const double *num, size_t n)
{
    double diff2 = 0.0, norm2 = 0.0, worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(ana[i] - num[i]);
        EXPECT(d <= GC_ATOL + GC_RTOL * fabs(num[i]),
                      "%s: element %zu analytic %.7g numeric %.7g (seed %u)", what, i,
                      (double)ana[i], num[i], SEED);
        diff2 += d * d;
        norm2 += num[i] * num[i];
        worst = d > worst ? d : worst;
    }
    /* An all-zero numerical gradient (e.g. softmax over one column) is checked absolutely. */
    double rel = norm2 > 0.0 ? sqrt(diff2 / norm2) : sqrt(diff2);
    ck_assert_msg(rel <= GC_REL_L2, "%s: relL2 %.3g > %g (seed %u)", what, rel, GC_REL_L2, SEED);
    printf("gradcheck %-40s n %5zu relL2 %.3g max|a-n| %.3g\n", what, n, rel, worst);
    return rel;
}

static void gradcheck(const char *what, double (*f)(void *), void *arg, float *x, size_t n,
                      const float *ana)
{
    double *num = malloc((n ? n : 1) * sizeof *num);
    ck_assert_ptr_nonnull(num);
    numeric_grad(f, arg, x, n, num);
    check_grad(what, ana, num, n);
    free(num);
}

struct shape {
    size_t rows, cols;
};

static const struct shape gc_shapes[] = {{1, 1}, {1, 7}, {7, 1}, {7, 65}, {65, 7}, {1, 65}};
#define N_GC_SHAPES (sizeof gc_shapes / sizeof gc_shapes[0])

/* ---- activations: L = sum_rc w[r,c] * act(z[r,c] + b[c]) ---- */

struct act_case {
    struct clann_act act;
    size_t rows, cols;
    float *z, *b, *a, *w, *y;
    struct clann_buf bz, bb, ba, bw, by, bdz, bdb, bda;
};

static struct clann_view prelu_view(struct act_case *t)
{
    return t->act.kind == CLANN__ACT_PRELU ? V(&t->ba) : NO_VIEW;
}

static double act_objective(void *arg)
{
    struct act_case *t = arg;
    size_t n = t->rows * t->cols;
    up(&t->bz, t->z, n);
    up(&t->bb, t->b, t->cols);
    up(&t->ba, t->a, t->cols);
    OK(clann__op_bias_act_forward(g_be, &t->act, V(&t->bz), V(&t->bb), prelu_view(t), V(&t->by),
                             t->rows, t->cols));
    down(t->y, &t->by, n);
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)t->w[i] * t->y[i];
    return sum;
}

static void act_make_inputs(struct act_case *t)
{
    enum clann__act_kind k = t->act.kind;
    bool relu_like = k == CLANN__ACT_RELU || k == CLANN__ACT_LEAKY_RELU || k == CLANN__ACT_PRELU ||
                     k == CLANN__ACT_RRELU || k == CLANN__ACT_ELU || k == CLANN__ACT_RELU6;
    size_t n = t->rows * t->cols;
    t->z = hrand(n, k == CLANN__ACT_RELU6 ? -2.0f : -3.0f, k == CLANN__ACT_RELU6 ? 8.0f : 3.0f);
    t->b = hrand(t->cols, -0.5f, 0.5f);
    t->a = hrand(t->cols, 0.05f, 0.5f);
    t->w = hrand(n, -1.0f, 1.0f);
    t->y = hnew(n);
    /* Kinks: keep z + b at least 3 eps from them, so that +-eps on z or b stays on one side
     * (docs/testing.md #7 skips elements within 2 eps). */
    for (size_t i = 0; relu_like && i < n; i++) {
        float bias = t->b[i % t->cols];
        t->z[i] = away_from(t->z[i] + bias, 0.0f, 3 * EPS) - bias;
        if (k == CLANN__ACT_RELU6)
            t->z[i] = away_from(t->z[i] + bias, 6.0f, 3 * EPS) - bias;
    }
}

static void act_case_run(const struct clann_act *act, size_t rows, size_t cols)
{
    struct act_case t = {.act = *act, .rows = rows, .cols = cols};
    size_t n = rows * cols;
    act_make_inputs(&t);
    t.bz = dnew(n), t.bb = dnew(cols), t.ba = dnew(cols), t.by = dnew(n);
    t.bw = dfrom(t.w, n), t.bdz = dnew(n), t.bdb = dnew(cols), t.bda = dnew(cols);

    act_objective(&t); /* leaves z + b in bz and y in by */
    OK(clann__op_act_backward(g_be, &t.act, V(&t.bz), V(&t.by), V(&t.bw), prelu_view(&t), V(&t.bdz),
                         rows, cols));
    OK(clann__op_col_sum(g_be, V(&t.bdz), rows, cols, V(&t.bdb), 0.0f));
    float *dz = hnew(n), *db = hnew(cols), *da = hnew(cols);
    down(dz, &t.bdz, n);
    down(db, &t.bdb, cols);

    char what[96];
    snprintf(what, sizeof what, "act %d%s %zux%zu dz", (int)act->kind,
             act->training ? " train" : "", rows, cols);
    gradcheck(what, act_objective, &t, t.z, n, dz);
    snprintf(what, sizeof what, "act %d%s %zux%zu dbias", (int)act->kind,
             act->training ? " train" : "", rows, cols);
    gradcheck(what, act_objective, &t, t.b, cols, db);
    if (act->kind == CLANN__ACT_PRELU) {
        act_objective(&t);
        OK(clann__op_prelu_grad(g_be, V(&t.bz), V(&t.bw), V(&t.bda), rows, cols, 0.0f));
        down(da, &t.bda, cols);
        snprintf(what, sizeof what, "act prelu %zux%zu dslope", rows, cols);
        gradcheck(what, act_objective, &t, t.a, cols, da);
    }
    struct clann_buf *bufs[] = {&t.bz, &t.bb, &t.ba, &t.bw, &t.by, &t.bdz, &t.bdb, &t.bda};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clann__buf_destroy(bufs[i]);
    free(t.z), free(t.b), free(t.a), free(t.w), free(t.y), free(dz), free(db), free(da);
}

START_TEST(test_grad_activations)
{
    enum clann__act_kind kind = (enum clann__act_kind)_i;
    struct clann_act act = {.kind = kind, .alpha = 0.7f, .lower = 0.1f, .upper = 0.4f};
    act.rng.seed = SEED;
    act.rng.stream = CLANN__RNG_STREAM_RRELU;
    act.rng.offset = 1000;
    for (size_t s = 0; s < N_GC_SHAPES; s++) {
        act_case_run(&act, gc_shapes[s].rows, gc_shapes[s].cols);
        if (kind == CLANN__ACT_RRELU) { /* training: a fixed key fixes the slopes */
            act.training = true;
            act_case_run(&act, gc_shapes[s].rows, gc_shapes[s].cols);
            act.training = false;
        }
    }
}
END_TEST

/* ---- losses: L = grad_scale * sum_r row_loss[r] ---- */

struct loss_case {
    struct clann__loss loss;
    size_t rows, cols, label_cols, n_labels;
    float scale;
    float *p, *y, *rl;
    struct clann_buf bp, by, brl, bg;
};

static double loss_objective(void *arg)
{
    struct loss_case *t = arg;
    up(&t->bp, t->p, t->rows * t->cols);
    OK(clann__op_loss(g_be, &t->loss, V(&t->bp), V(&t->by), t->rows, t->cols, V(&t->brl), NO_VIEW,
                 t->scale));
    down(t->rl, &t->brl, t->rows);
    double sum = 0.0;
    for (size_t r = 0; r < t->rows; r++)
        sum += t->rl[r];
    return t->scale * sum;
}

static void loss_make_inputs(struct loss_case *t)
{
    size_t n = t->rows * t->cols;
    enum clann__loss_kind k = t->loss.kind;
    t->p = hnew(n);
    t->y = hnew(t->n_labels);
    for (size_t c = 0; k == CLANN__LOSS_NCE && c < t->cols; c++)
        t->y[t->rows + c] = (float)(c % 2); /* every other column a drawn negative */
    for (size_t i = 0; i < n; i++) {
        size_t r = i / t->cols, c = i % t->cols;
        if (k == CLANN__LOSS_SPARSE_SOFTMAX_CE || k == CLANN__LOSS_NCE) {
            t->p[i] = urand(-3.0f, 3.0f);
            t->y[r] = (float)((r * 3) % t->cols);
        } else if (k == CLANN__LOSS_SOFTMAX_CE) {
            /* Peaked but unnormalized rows: sum(y) != 1 exercises softmax * sum(y) - y. */
            t->p[i] = urand(-3.0f, 3.0f);
            t->y[i] = c == r % t->cols ? urand(0.8f, 1.2f) : urand(0.0f, 0.02f);
        } else if (k == CLANN__LOSS_SIGMOID_CE) {
            t->p[i] = urand(-4.0f, 4.0f);
            t->y[i] = urand(0.0f, 1.0f);
        } else {
            /* Residuals kept 3 eps from the kinks of MAE (0) and Huber (+-delta). */
            float e = urand(-3.0f, 3.0f);
            e = away_from(e, 0.0f, 3 * EPS);
            e = away_from(e, t->loss.huber_delta, 3 * EPS);
            e = away_from(e, -t->loss.huber_delta, 3 * EPS);
            t->y[i] = urand(-1.0f, 1.0f);
            t->p[i] = t->y[i] + e;
        }
    }
}

START_TEST(test_grad_losses)
{
    struct loss_case t = {.loss = {.kind = (enum clann__loss_kind)_i, .huber_delta = 1.0f}};
    if (!clann__loss_computed(_i))
        return; /* sampled softmax: the model's, tested in test-model.c */
    for (size_t s = 0; s < N_GC_SHAPES; s++) {
        t.rows = gc_shapes[s].rows;
        t.cols = gc_shapes[s].cols;
        t.label_cols = t.loss.kind == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : t.cols;
        t.n_labels = t.loss.kind == CLANN__LOSS_NCE ? t.rows + t.cols : t.rows * t.label_cols;
        t.scale = 0.75f / (float)t.rows;
        size_t n = t.rows * t.cols;
        loss_make_inputs(&t);
        t.rl = hnew(t.rows);
        t.bp = dfrom(t.p, n), t.by = dfrom(t.y, t.n_labels);
        t.brl = dnew(t.rows), t.bg = dnew(n);
        OK(clann__op_loss(g_be, &t.loss, V(&t.bp), V(&t.by), t.rows, t.cols, V(&t.brl), V(&t.bg),
                     t.scale));
        float *g = hnew(n);
        down(g, &t.bg, n);
        char what[96];
        snprintf(what, sizeof what, "loss %d %zux%zu", (int)t.loss.kind, t.rows, t.cols);
        gradcheck(what, loss_objective, &t, t.p, n, g);
        clann__buf_destroy(&t.bp), clann__buf_destroy(&t.by), clann__buf_destroy(&t.brl);
        clann__buf_destroy(&t.bg);
        free(t.p), free(t.y), free(t.rl), free(g);
    }
}
END_TEST

/* ---- a dense layer: Z = X W + b, Y = act(Z), L = scale * sum loss(Y, T) ---- */

struct dense_case {
    size_t rows, in, out, label_cols;
    struct clann_act act;
    struct clann__loss loss;
    float scale;
    float *x, *w, *b, *t, *rl;
    struct clann_buf bx, bw, bb, bt, bz, by, brl, bg, bdz, bdw, bdb, bdx;
};

static void dense_forward(struct dense_case *d, bool with_grad)
{
    up(&d->bx, d->x, d->rows * d->in);
    up(&d->bw, d->w, d->in * d->out);
    up(&d->bb, d->b, d->out);
    OK(clann__op_gemm(g_be, false, false, d->rows, d->out, d->in, 1.0f, V(&d->bx), d->in, V(&d->bw),
                 d->out, 0.0f, V(&d->bz), d->out));
    OK(clann__op_bias_act_forward(g_be, &d->act, V(&d->bz), V(&d->bb), NO_VIEW, V(&d->by), d->rows,
                             d->out));
    OK(clann__op_loss(g_be, &d->loss, V(&d->by), V(&d->bt), d->rows, d->out, V(&d->brl),
                 with_grad ? V(&d->bg) : NO_VIEW, d->scale));
}

static double dense_objective(void *arg)
{
    struct dense_case *d = arg;
    dense_forward(d, false);
    down(d->rl, &d->brl, d->rows);
    double sum = 0.0;
    for (size_t r = 0; r < d->rows; r++)
        sum += d->rl[r];
    return d->scale * sum;
}

static void dense_backward(struct dense_case *d)
{
    size_t rows = d->rows, in = d->in, out = d->out;
    dense_forward(d, true);
    OK(clann__op_act_backward(g_be, &d->act, V(&d->bz), V(&d->by), V(&d->bg), NO_VIEW, V(&d->bdz),
                         rows, out));
    OK(clann__op_col_sum(g_be, V(&d->bdz), rows, out, V(&d->bdb), 0.0f));
    /* dW = X^T dZ, dX = dZ W^T */
    OK(clann__op_gemm(g_be, true, false, in, out, rows, 1.0f, V(&d->bx), in, V(&d->bdz), out, 0.0f,
                 V(&d->bdw), out));
    OK(clann__op_gemm(g_be, false, true, rows, in, out, 1.0f, V(&d->bdz), out, V(&d->bw), out, 0.0f,
                 V(&d->bdx), in));
}

static void dense_case_run(size_t rows, size_t in, size_t out, enum clann__act_kind act,
                           enum clann__loss_kind loss)
{
    struct dense_case d = {.rows = rows, .in = in, .out = out};
    d.act.kind = act;
    d.loss.kind = loss;
    d.loss.huber_delta = 1.0f;
    d.scale = 1.0f / (float)rows;
    d.label_cols = loss == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : out;
    d.x = hrand(rows * in, -1.0f, 1.0f);
    d.w = hrand(in * out, -1.0f / sqrtf((float)in), 1.0f / sqrtf((float)in));
    d.b = hrand(out, -0.5f, 0.5f);
    d.t = hnew(rows * d.label_cols);
    for (size_t i = 0; i < rows * d.label_cols; i++)
        d.t[i] = loss == CLANN__LOSS_SPARSE_SOFTMAX_CE ? (float)(i * 5 % out)
                 : loss == CLANN__LOSS_SIGMOID_CE      ? (float)(i % 2)
                                                       : urand(-1.0f, 1.0f);
    d.rl = hnew(rows);
    d.bx = dnew(rows * in), d.bw = dnew(in * out), d.bb = dnew(out);
    d.bt = dfrom(d.t, rows * d.label_cols);
    d.bz = dnew(rows * out), d.by = dnew(rows * out), d.brl = dnew(rows), d.bg = dnew(rows * out);
    d.bdz = dnew(rows * out), d.bdw = dnew(in * out), d.bdb = dnew(out), d.bdx = dnew(rows * in);

    dense_backward(&d);
    float *dw = hnew(in * out), *db = hnew(out), *dx = hnew(rows * in);
    down(dw, &d.bdw, in * out);
    down(db, &d.bdb, out);
    down(dx, &d.bdx, rows * in);
    char what[96];
    snprintf(what, sizeof what, "dense %zux%zux%zu act %d loss %d dW", rows, in, out, (int)act,
             (int)loss);
    gradcheck(what, dense_objective, &d, d.w, in * out, dw);
    snprintf(what, sizeof what, "dense %zux%zux%zu act %d loss %d db", rows, in, out, (int)act,
             (int)loss);
    gradcheck(what, dense_objective, &d, d.b, out, db);
    snprintf(what, sizeof what, "dense %zux%zux%zu act %d loss %d dX", rows, in, out, (int)act,
             (int)loss);
    gradcheck(what, dense_objective, &d, d.x, rows * in, dx);

    struct clann_buf *bufs[] = {&d.bx, &d.bw, &d.bb, &d.bt, &d.bz, &d.by,
                                &d.brl, &d.bg, &d.bdz, &d.bdw, &d.bdb, &d.bdx};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        clann__buf_destroy(bufs[i]);
    free(d.x), free(d.w), free(d.b), free(d.t), free(d.rl), free(dw), free(db), free(dx);
}

START_TEST(test_grad_dense)
{
    use_mode(_i ? CLANN_CPU_MODE_FAST : CLANN_CPU_MODE_REFERENCE);
    dense_case_run(7, 65, 7, CLANN__ACT_TANH, CLANN__LOSS_SOFTMAX_CE);
    dense_case_run(65, 7, 1, CLANN__ACT_LINEAR, CLANN__LOSS_SIGMOID_CE);
    dense_case_run(1, 7, 65, CLANN__ACT_TANH, CLANN__LOSS_MSE);
    dense_case_run(65, 65, 7, CLANN__ACT_SOFTPLUS, CLANN__LOSS_SPARSE_SOFTMAX_CE);
    dense_case_run(7, 1, 7, CLANN__ACT_SIGMOID, CLANN__LOSS_HUBER);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * GEMM against a double reference.
 */

/* C buffer layout: oc floats of canary, then m rows of ldc floats (n of them C, the rest
 * canary), then CANARY floats of canary. Returns the NMSE and fails on a touched canary. */
static double gemm_case(bool ta, bool tb, size_t m, size_t n, size_t k, float alpha, float beta)
{
    size_t lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 2, ldc = n + 5;
    size_t oa = 5, ob = 11, oc = 17;
    size_t na = oa + (ta ? k : m) * lda, nb = ob + (tb ? n : k) * ldb, nc = oc + m * ldc + CANARY;
    float *a = hrand(na, -2.0f, 2.0f), *b = hrand(nb, -2.0f, 2.0f), *c = hnew(nc);
    float *out = hnew(nc);
    for (size_t i = 0; i < nc; i++)
        c[i] = nan_pattern();
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) /* beta = 0: C holds NaN, which must not come through */
            c[oc + i * ldc + j] = beta == 0.0f ? NAN : urand(-2.0f, 2.0f);
    struct clann_buf ba = dfrom(a, na), bb = dfrom(b, nb), bc = dfrom(c, nc);
    OK(clann__op_gemm(g_be, ta, tb, m, n, k, alpha, clann__view(&ba, oa), lda, clann__view(&bb, ob),
                 ldb, beta, clann__view(&bc, oc), ldc));
    down(out, &bc, nc);

    double err2 = 0.0, ref2 = 0.0;
    for (size_t i = 0; i < m; i++) {
        for (size_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (size_t p = 0; p < k; p++) {
                double av = ta ? a[oa + p * lda + i] : a[oa + i * lda + p];
                double bv = tb ? b[ob + j * ldb + p] : b[ob + p * ldb + j];
                acc += av * bv;
            }
            double ref = alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * c[oc + i * ldc + j]);
            double got = out[oc + i * ldc + j];
            EXPECT(isfinite(got), "gemm %d%d %zux%zux%zu a%g b%g: C[%zu,%zu] = %g (seed %u)",
                          ta, tb, m, n, k, (double)alpha, (double)beta, i, j, got, SEED);
            err2 += (got - ref) * (got - ref);
            ref2 += ref * ref;
            out[oc + i * ldc + j] = nan_pattern(); /* so that the canary scan below is uniform */
        }
    }
    for (size_t i = 0; i < nc; i++)
        EXPECT(bits(out[i]) == CANARY_BITS,
                      "gemm %d%d %zux%zux%zu: canary at float %zu overwritten (seed %u)", ta, tb,
                      m, n, k, i, SEED);
    double nmse = ref2 > 0.0 ? err2 / ref2 : err2;
    ck_assert_msg(nmse <= NMSE_MAX, "gemm %d%d %zux%zux%zu a%g b%g: NMSE %.3g (seed %u)", ta, tb,
                  m, n, k, (double)alpha, (double)beta, nmse, SEED);
    clann__buf_destroy(&ba), clann__buf_destroy(&bb), clann__buf_destroy(&bc);
    free(a), free(b), free(c), free(out);
    return nmse;
}

static const size_t gemm_sizes[] = {1, 7, 64, 65, 257};
static const float gemm_scalars[] = {0.0f, 1.0f, 2.5f};

/* _i = mode * 4 + transpose combination: every M, N, K in gemm_sizes, alpha and beta cycling
 * through the 3 x 3 grid, plus the full grid on two shapes and a few with 784. */
START_TEST(test_gemm)
{
    bool fast = _i >= 4, ta = _i & 1, tb = (_i >> 1) & 1;
    use_mode(fast ? CLANN_CPU_MODE_FAST : CLANN_CPU_MODE_REFERENCE);
    double worst = 0.0, e;
    size_t idx = 0;
    for (size_t im = 0; im < 5; im++)
        for (size_t in = 0; in < 5; in++)
            for (size_t ik = 0; ik < 5; ik++, idx++) {
                e = gemm_case(ta, tb, gemm_sizes[im], gemm_sizes[in], gemm_sizes[ik],
                              gemm_scalars[idx % 3], gemm_scalars[(idx / 3) % 3]);
                worst = e > worst ? e : worst;
            }
    for (size_t ia = 0; ia < 3; ia++)
        for (size_t ib = 0; ib < 3; ib++) {
            e = gemm_case(ta, tb, 65, 7, 257, gemm_scalars[ia], gemm_scalars[ib]);
            worst = e > worst ? e : worst;
            e = gemm_case(ta, tb, 1, 64, 1, gemm_scalars[ia], gemm_scalars[ib]);
            worst = e > worst ? e : worst;
        }
    const size_t big[][3] = {{784, 65, 257}, {65, 784, 7}, {7, 257, 784}};
    for (size_t i = 0; i < 3; i++) {
        e = gemm_case(ta, tb, big[i][0], big[i][1], big[i][2], 1.0f, i == 1 ? 2.5f : 0.0f);
        worst = e > worst ? e : worst;
    }
    printf("gemm %s trans %d%d: max NMSE %.3g\n", fast ? "fast" : "reference", ta, tb, worst);
}
END_TEST

START_TEST(test_gemm_invalid)
{
    struct clann_buf b = dnew(64);
    float before[64], after[64];
    for (int i = 0; i < 64; i++)
        before[i] = (float)i;
    up(&b, before, 64);
    /* lda below the stored width, then C running past its buffer: errors, nothing written. */
    ck_assert_int_eq(clann__op_gemm(g_be, false, false, 4, 4, 4, 1.0f, V(&b), 3, V(&b), 4, 0.0f,
                               V(&b), 4),
                     CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__op_gemm(g_be, false, false, 4, 4, 4, 1.0f, V(&b), 4, V(&b), 4, 0.0f,
                               clann__view(&b, 50), 4),
                     CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__op_fill(g_be, clann__view(&b, 60), 5, 1.0f), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__op_fill(g_be, NO_VIEW, 5, 1.0f), CLANN_ERR_INVALID_ARG);
    down(after, &b, 64);
    ck_assert(memcmp(before, after, sizeof before) == 0);
    ck_assert_ptr_nonnull(strstr(clann_context_last_error(g_ctx), "cpu_fill"));
    /* Empty shapes are no-ops, even on NULL views. */
    OK(clann__op_gemm(g_be, false, false, 0, 4, 4, 1.0f, NO_VIEW, 4, NO_VIEW, 4, 0.0f, NO_VIEW, 4));
    OK(clann__op_fill(g_be, NO_VIEW, 0, 1.0f));
    clann__buf_destroy(&b);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Numerics at extreme logits.
 */

START_TEST(test_softmax_extreme)
{
    enum { ROWS = 4, COLS = 65 };
    float z[ROWS * COLS], y[ROWS * COLS], lab[ROWS * COLS], rl[ROWS], g[ROWS * COLS];
    for (size_t i = 0; i < ROWS * COLS; i++) {
        size_t r = i / COLS, c = i % COLS;
        z[i] = r == 0 ? (c % 2 ? 1e4f : -1e4f) : r == 1 ? -1e4f : r == 2 ? 0.5f
                                                                    : (c == 3 ? 1e4f : -1e4f);
        lab[i] = c == (r == 3 ? 7 : 0) ? 1.0f : 0.0f; /* row 3: label far below the maximum */
    }
    struct clann_buf bz = dfrom(z, ROWS * COLS), by = dnew(ROWS * COLS);
    struct clann_act act = {.kind = CLANN__ACT_SOFTMAX};
    OK(clann__op_bias_act_forward(g_be, &act, V(&bz), NO_VIEW, NO_VIEW, V(&by), ROWS, COLS));
    down(y, &by, ROWS * COLS);
    for (size_t r = 0; r < ROWS; r++) {
        double sum = 0.0;
        for (size_t c = 0; c < COLS; c++) {
            ck_assert_msg(isfinite(y[r * COLS + c]) && y[r * COLS + c] >= 0.0f,
                          "softmax row %zu col %zu = %g", r, c, (double)y[r * COLS + c]);
            sum += y[r * COLS + c];
        }
        ck_assert_msg(fabs(sum - 1.0) <= 1e-6, "softmax row %zu sums to %.9g", r, sum);
    }
    struct clann_buf bl = dfrom(lab, ROWS * COLS), brl = dnew(ROWS), bg = dnew(ROWS * COLS);
    struct clann__loss loss = {.kind = CLANN__LOSS_SOFTMAX_CE};
    OK(clann__op_loss(g_be, &loss, V(&bz), V(&bl), ROWS, COLS, V(&brl), V(&bg), 1.0f));
    down(rl, &brl, ROWS);
    down(g, &bg, ROWS * COLS);
    for (size_t r = 0; r < ROWS; r++)
        ck_assert_msg(isfinite(rl[r]) && rl[r] >= 0.0f, "CE row %zu = %g", r, (double)rl[r]);
    ck_assert_float_eq_tol(rl[3], 2e4f, 1.0f);
    for (size_t i = 0; i < ROWS * COLS; i++)
        ck_assert_msg(isfinite(g[i]), "CE grad %zu = %g", i, (double)g[i]);
    clann__buf_destroy(&bz), clann__buf_destroy(&by), clann__buf_destroy(&bl);
    clann__buf_destroy(&brl), clann__buf_destroy(&bg);
}
END_TEST

START_TEST(test_sparse_label_out_of_range)
{
    enum { ROWS = 6, COLS = 5 };
    float labels[ROWS] = {2.0f, -1.0f, 5.0f, -0.5f, NAN, 1e9f};
    float z[ROWS * COLS], rl[ROWS], g[ROWS * COLS];
    for (size_t i = 0; i < ROWS * COLS; i++)
        z[i] = urand(-1e4f, 1e4f);
    struct clann_buf bz = dfrom(z, ROWS * COLS), bl = dfrom(labels, ROWS), brl = dnew(ROWS);
    struct clann_buf bg = dnew(ROWS * COLS);
    struct clann__loss loss = {.kind = CLANN__LOSS_SPARSE_SOFTMAX_CE};
    OK(clann__op_loss(g_be, &loss, V(&bz), V(&bl), ROWS, COLS, V(&brl), V(&bg), 1.0f));
    down(rl, &brl, ROWS);
    down(g, &bg, ROWS * COLS);
    ck_assert(isfinite(rl[0]) && rl[0] >= 0.0f);
    for (size_t r = 1; r < ROWS; r++) {
        ck_assert_msg(isnan(rl[r]), "label %g: row loss %g, not NaN", (double)labels[r],
                      (double)rl[r]);
        for (size_t c = 0; c < COLS; c++)
            ck_assert_msg(bits(g[r * COLS + c]) == 0, "label %g: grad %g", (double)labels[r],
                          (double)g[r * COLS + c]);
    }
    clann__buf_destroy(&bz), clann__buf_destroy(&bl), clann__buf_destroy(&brl);
    clann__buf_destroy(&bg);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Optimizers against scalar updates written from backend.h, 3 steps.
 */

START_TEST(test_optimizers)
{
    enum { N = 9, STEPS = 3 };
    struct clann_opt opts[] = {
        {.kind = CLANN__OPT_SGD, .lr = 0.1f},
        {.kind = CLANN__OPT_MOMENTUM, .lr = 0.05f, .momentum = 0.9f},
        {.kind = CLANN__OPT_MOMENTUM, .lr = 0.05f, .momentum = 0.9f, .nesterov = true},
        {.kind = CLANN__OPT_ADAGRAD, .lr = 0.1f, .eps = 1e-7f, .initial_accumulator = 0.1f},
        {.kind = CLANN__OPT_ADAM, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-7f},
        {.kind = CLANN__OPT_RMSPROP, .lr = 1e-3f, .rho = 0.9f, .eps = 1e-7f},
    };
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        struct clann_opt opt = opts[o];
        float w[N], s1[N], s2[N], got[N];
        double rw[N], r1[N], r2[N];
        for (size_t i = 0; i < N; i++) {
            w[i] = urand(-1.0f, 1.0f);
            s1[i] = opt.kind == CLANN__OPT_ADAGRAD ? opt.initial_accumulator : 0.0f;
            s2[i] = 0.0f;
            rw[i] = w[i], r1[i] = s1[i], r2[i] = 0.0;
        }
        struct clann_buf bw = dfrom(w, N), b1 = dfrom(s1, N), b2 = dfrom(s2, N), bg = dnew(N);
        for (uint64_t t = 1; t <= STEPS; t++) {
            float g[N];
            for (size_t i = 0; i < N; i++)
                g[i] = urand(-2.0f, 2.0f);
            up(&bg, g, N);
            opt.step = t;
            OK(clann__op_optimizer_step(g_be, &opt, V(&bw), V(&bg), V(&b1), V(&b2), N));
            double lr_t = opt.lr * sqrt(1.0 - pow(opt.beta2, (double)t)) /
                          (1.0 - pow(opt.beta1, (double)t));
            double eps_t = opt.eps * sqrt(1.0 - pow(opt.beta2, (double)t));
            for (size_t i = 0; i < N; i++) {
                double gi = g[i], mu = opt.momentum;
                switch (opt.kind) {
                case CLANN__OPT_SGD:
                    rw[i] -= opt.lr * gi;
                    break;
                case CLANN__OPT_MOMENTUM:
                    r1[i] = mu * r1[i] + gi;
                    rw[i] -= opt.lr * (opt.nesterov ? gi + mu * r1[i] : r1[i]);
                    break;
                case CLANN__OPT_ADAGRAD:
                    r1[i] += gi * gi;
                    rw[i] -= opt.lr * gi / (sqrt(r1[i]) + opt.eps);
                    break;
                case CLANN__OPT_ADAM:
                    r1[i] = opt.beta1 * r1[i] + (1.0 - opt.beta1) * gi;
                    r2[i] = opt.beta2 * r2[i] + (1.0 - opt.beta2) * gi * gi;
                    rw[i] -= lr_t * r1[i] / (sqrt(r2[i]) + eps_t);
                    break;
                default:
                    r1[i] = opt.rho * r1[i] + (1.0 - opt.rho) * gi * gi;
                    rw[i] -= opt.lr * gi / (sqrt(r1[i]) + opt.eps);
                    break;
                }
            }
        }
        down(got, &bw, N);
        for (size_t i = 0; i < N; i++)
            ck_assert_msg(fabs(got[i] - rw[i]) <= 1e-6 * (1.0 + fabs(rw[i])),
                          "optimizer %d%s: w[%zu] = %.9g, expected %.9g (seed %u)",
                          (int)opt.kind, opt.nesterov ? " nesterov" : "", i, (double)got[i],
                          rw[i], SEED);
        clann__buf_destroy(&bw), clann__buf_destroy(&b1), clann__buf_destroy(&b2);
        clann__buf_destroy(&bg);
    }
    /* Adam's first step moves every weight by about lr (the bias correction at work). */
    struct clann_opt adam = opts[4];
    adam.step = 1;
    float w = 0.0f, g = 3.0f, m = 0.0f, v = 0.0f;
    struct clann_buf bw = dfrom(&w, 1), bg = dfrom(&g, 1), bm = dfrom(&m, 1), bv = dfrom(&v, 1);
    OK(clann__op_optimizer_step(g_be, &adam, V(&bw), V(&bg), V(&bm), V(&bv), 1));
    ck_assert_float_eq_tol(scalar(&bw), -1e-3f, 1e-8f);
    adam.step = 0;
    ck_assert_int_eq(clann__op_optimizer_step(g_be, &adam, V(&bw), V(&bg), V(&bm), V(&bv), 1),
                     CLANN_ERR_INVALID_ARG);
    clann__buf_destroy(&bw), clann__buf_destroy(&bg), clann__buf_destroy(&bm);
    clann__buf_destroy(&bv);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Random numbers and dropout.
 */

START_TEST(test_rng_ops)
{
    enum { N = 1000 };
    float x[N];
    struct clann_buf b = dnew(N + 3);
    struct clann_rng_key key = {SEED, 7, 123456789012ull};
    OK(clann__op_rng_uniform(g_be, clann__view(&b, 3), N, key, -0.5f, 2.0f));
    OK(clann__op_download(g_be, x, clann__view(&b, 3), N));
    for (size_t i = 0; i < N; i++) {
        float want = -0.5f + (2.0f - -0.5f) * clann__rng_uniform(SEED, 7, key.offset + i);
        EXPECT(bits(x[i]) == bits(want), "uniform %zu: %.9g vs %.9g", i, (double)x[i],
                      (double)want);
    }
    OK(clann__op_rng_normal(g_be, V(&b), N, key, 1.0f, 0.25f));
    down(x, &b, N);
    for (size_t i = 0; i < N; i++) {
        float want = 1.0f + 0.25f * clann__rng_normal(SEED, 7, key.offset + i);
        EXPECT(bits(x[i]) == bits(want), "normal %zu: %.9g vs %.9g", i, (double)x[i],
                      (double)want);
    }
    clann__buf_destroy(&b);
}
END_TEST

START_TEST(test_dropout)
{
    const size_t n = 1000000;
    const float rate = 0.3f;
    float *x = hrand(n, 0.0f, 2.0f), *y = hnew(n), *y2 = hnew(n);
    struct clann_buf bx = dfrom(x, n), by = dnew(n);
    struct clann_rng_key key = {SEED, CLANN__RNG_STREAM_DROPOUT, 77};
    OK(clann__op_dropout(g_be, V(&bx), V(&by), n, 1, rate, key));
    down(y, &by, n);
    size_t zeros = 0;
    double sx = 0.0, sy = 0.0;
    for (size_t i = 0; i < n; i++) {
        zeros += y[i] == 0.0f;
        EXPECT(y[i] == 0.0f || y[i] == x[i] / (1.0f - rate), "y[%zu] = %g, x %g", i,
               (double)y[i], (double)x[i]);
        sx += x[i];
        sy += y[i];
    }
    double frac = (double)zeros / (double)n, sigma = sqrt(rate * (1.0 - rate) / (double)n);
    ck_assert_msg(fabs(frac - rate) <= 3.0 * sigma, "zero fraction %.6f, rate %g, 3 sigma %.2g",
                  frac, (double)rate, 3.0 * sigma);
    ck_assert_msg(fabs(sy / sx - 1.0) <= 0.01, "mean ratio %.6f", sy / sx);
    printf("dropout: zero fraction %.6f (rate %g, sigma %.2g), mean ratio %.6f\n", frac,
           (double)rate, sigma, sy / sx);

    /* Same key: same mask (backward regenerates it); another offset: another mask. */
    OK(clann__op_dropout(g_be, V(&bx), V(&by), n, 1, rate, key));
    down(y2, &by, n);
    ck_assert(memcmp(y, y2, n * sizeof *y) == 0);
    key.offset += n;
    OK(clann__op_dropout(g_be, V(&bx), V(&by), n, 1, rate, key));
    down(y2, &by, n);
    ck_assert(memcmp(y, y2, n * sizeof *y) != 0);

    OK(clann__op_dropout(g_be, V(&bx), V(&by), n, 1, 0.0f, key));
    down(y2, &by, n);
    ck_assert_msg(memcmp(x, y2, n * sizeof *x) == 0, "rate 0 is not the identity");
    OK(clann__op_dropout(g_be, V(&bx), V(&by), n, 1, 1.0f, key));
    down(y2, &by, n);
    for (size_t i = 0; i < n; i++)
        EXPECT(bits(y2[i]) == 0, "rate 1: y[%zu] = %g", i, (double)y2[i]);
    ck_assert_int_eq(clann__op_dropout(g_be, V(&bx), V(&by), n, 1, NAN, key),
                     CLANN_ERR_INVALID_ARG);
    clann__buf_destroy(&bx), clann__buf_destroy(&by);
    free(x), free(y), free(y2);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Small ops.
 */

START_TEST(test_basic_ops)
{
    float h[8] = {1, -2, 3, -4, 5, -6, 7, -8}, o[8];
    struct clann_buf a = dfrom(h, 8), b = dnew(8), s = dnew(1);
    OK(clann__op_fill(g_be, V(&b), 8, 0.5f));
    OK(clann__op_copy(g_be, clann__view(&b, 2), clann__view(&a, 4), 3));
    down(o, &b, 8);
    const float want_copy[8] = {0.5f, 0.5f, 5, -6, 7, 0.5f, 0.5f, 0.5f};
    ck_assert(memcmp(o, want_copy, sizeof o) == 0);

    OK(clann__op_axpy(g_be, 8, 2.0f, V(&a), V(&b))); /* b = 2a + b */
    down(o, &b, 8);
    ck_assert_float_eq(o[0], 2.5f);
    ck_assert_float_eq(o[3], -14.0f);

    /* sum: beta = 0 ignores a NaN already in out; beta = 1 accumulates. */
    float nanv = NAN;
    up(&s, &nanv, 1);
    OK(clann__op_sum(g_be, V(&a), 8, 0.5f, V(&s), 0.0f));
    ck_assert_float_eq(scalar(&s), -2.0f);
    OK(clann__op_sum(g_be, V(&a), 3, 1.0f, V(&s), 1.0f));
    ck_assert_float_eq(scalar(&s), 0.0f);
    OK(clann__op_sum_squares(g_be, V(&a), 8, V(&s), 0.0f));
    ck_assert_float_eq(scalar(&s), 204.0f);

    /* clip_by_norm: ||a|| = sqrt(204) > 2 scales a to norm 2; a larger max_norm leaves it. */
    OK(clann__op_clip_by_norm(g_be, V(&a), 8, V(&s), 100.0f));
    down(o, &a, 8);
    ck_assert(memcmp(o, h, sizeof o) == 0);
    OK(clann__op_clip_by_norm(g_be, V(&a), 8, V(&s), 2.0f));
    OK(clann__op_sum_squares(g_be, V(&a), 8, V(&s), 0.0f));
    ck_assert_float_eq_tol(scalar(&s), 4.0f, 1e-5f);

    up(&a, h, 8);
    OK(clann__op_clip_by_value(g_be, V(&a), 8, 3.5f));
    down(o, &a, 8);
    const float want_clip[8] = {1, -2, 3, -3.5f, 3.5f, -3.5f, 3.5f, -3.5f};
    ck_assert(memcmp(o, want_clip, sizeof o) == 0);

    /* col_sum and prelu_grad, overwrite then accumulate (2 rows x 4 cols of h). */
    up(&a, h, 8);
    OK(clann__op_col_sum(g_be, V(&a), 2, 4, V(&b), 0.0f));
    OK(clann__op_col_sum(g_be, V(&a), 2, 4, V(&b), 2.0f));
    down(o, &b, 4);
    ck_assert_float_eq(o[0], 18.0f);
    ck_assert_float_eq(o[3], -36.0f);
    OK(clann__op_prelu_grad(g_be, V(&a), V(&a), V(&b), 2, 4, 0.0f)); /* sum_r z * min(z, 0) */
    down(o, &b, 4);
    ck_assert_float_eq(o[0], 0.0f);
    ck_assert_float_eq(o[1], 4.0f + 36.0f);
    clann__buf_destroy(&a), clann__buf_destroy(&b), clann__buf_destroy(&s);
}
END_TEST

START_TEST(test_count_correct)
{
    /* 4 rows x 3 classes; row 1 ties between classes 0 and 2 (the first wins). */
    float pred[12] = {0.1f, 0.7f, 0.2f, 0.5f, 0.1f, 0.5f, 0, 0, 1, 3, 2, 1};
    float sparse[4] = {1, 0, 1, 0};
    float dense[12] = {0, 1, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0};
    float logits[4] = {2.0f, -1.0f, 0.0f, 0.3f}, binary[4] = {1, 0, 0, 0};
    struct clann_buf bp = dfrom(pred, 12), bs = dfrom(sparse, 4), bd = dfrom(dense, 12);
    struct clann_buf bl = dfrom(logits, 4), bb = dfrom(binary, 4), c = dnew(1);
    OK(clann__op_count_correct(g_be, V(&bp), V(&bs), true, 4, 3, V(&c), 0.0f));
    ck_assert_float_eq(scalar(&c), 3.0f);
    OK(clann__op_count_correct(g_be, V(&bp), V(&bd), false, 4, 3, V(&c), 1.0f));
    ck_assert_float_eq(scalar(&c), 3.0f + 2.0f);
    OK(clann__op_count_correct(g_be, V(&bl), V(&bb), false, 4, 1, V(&c), 0.0f));
    ck_assert_float_eq(scalar(&c), 3.0f);
    /* Multi-label: pred as logits (0 is not positive); rows 0 and 2 match in every label. */
    float multi[12] = {1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0};
    struct clann_buf bm = dfrom(multi, 12);
    OK(clann__op_count_correct(g_be, V(&bp), V(&bm), CLANN__COUNT_MULTILABEL, 4, 3, V(&c), 0.0f));
    ck_assert_float_eq(scalar(&c), 2.0f);
    clann__buf_destroy(&bm);
    clann__buf_destroy(&bp), clann__buf_destroy(&bs), clann__buf_destroy(&bd);
    clann__buf_destroy(&bl), clann__buf_destroy(&bb), clann__buf_destroy(&c);
}
END_TEST

/* y may alias z for linear, sigmoid, tanh and softmax; dz may alias dy. */
START_TEST(test_act_aliasing)
{
    enum { ROWS = 7, COLS = 9, N = ROWS * COLS };
    const enum clann__act_kind kinds[] = {CLANN__ACT_LINEAR, CLANN__ACT_SIGMOID, CLANN__ACT_TANH,
                                          CLANN__ACT_SOFTMAX};
    float *z = hrand(N, -3, 3), *bias = hrand(COLS, -1, 1), *dy = hrand(N, -1, 1);
    float y1[N], y2[N], d1[N], d2[N];
    for (size_t k = 0; k < 4; k++) {
        struct clann_act act = {.kind = kinds[k]};
        struct clann_buf bz = dfrom(z, N), bz2 = dfrom(z, N), bb = dfrom(bias, COLS), by = dnew(N);
        struct clann_buf bdy = dfrom(dy, N), bdy2 = dfrom(dy, N), bdz = dnew(N);
        OK(clann__op_bias_act_forward(g_be, &act, V(&bz), V(&bb), NO_VIEW, V(&by), ROWS, COLS));
        OK(clann__op_bias_act_forward(g_be, &act, V(&bz2), V(&bb), NO_VIEW, V(&bz2), ROWS, COLS));
        down(y1, &by, N);
        down(y2, &bz2, N);
        ck_assert(memcmp(y1, y2, sizeof y1) == 0);
        OK(clann__op_act_backward(g_be, &act, NO_VIEW, V(&by), V(&bdy), NO_VIEW, V(&bdz), ROWS, COLS));
        OK(clann__op_act_backward(g_be, &act, NO_VIEW, V(&by), V(&bdy2), NO_VIEW, V(&bdy2), ROWS,
                             COLS));
        down(d1, &bdz, N);
        down(d2, &bdy2, N);
        ck_assert_msg(memcmp(d1, d2, sizeof d1) == 0, "act %d: aliased backward differs",
                      (int)kinds[k]);
        struct clann_buf *bufs[] = {&bz, &bz2, &bb, &by, &bdy, &bdy2, &bdz};
        for (size_t i = 0; i < 7; i++)
            clann__buf_destroy(bufs[i]);
    }
    free(z), free(bias), free(dy);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Runner.
 */

/* ---------------------------------------------------------------------------------------------
 * The front door (backend/ops.c) and the context's lifetime and profile.
 */

/* A model outlives clann_context_destroy(): the context is freed by the model's destruction,
 * after the model's buffers went back to its backend (ASan reports a use-after-free here if
 * the order is wrong). */
START_TEST(test_context_outlived_by_model)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "cpu";
    struct clann_context *ctx = NULL;
    ck_assert_int_eq(clann_context_create(&p, &ctx), CLANN_OK);
    struct clann_model *m = NULL, *m2 = NULL;
    ck_assert_int_eq(clann_model_create(ctx, 4, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_create(ctx, 4, &m2), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = 8;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    clann_context_destroy(ctx); /* deferred: two models live */
    clann_model_destroy(m2);
    ck_assert_str_eq(clann_context_backend_name(ctx), "cpu"); /* still alive for m */
    clann_model_destroy(m); /* frees the buffers, then the context */
}
END_TEST

/* Profiling counts every op through the public accessor; GEMM carries 2 m n k flops. */
START_TEST(test_profile)
{
    struct clann_buf a = dnew(16), c = dnew(16);
    ck_assert_int_eq(clann_context_profile(g_ctx, true), CLANN_OK);
    OK(clann__op_fill(g_be, V(&a), 16, 1.0f));
    OK(clann__op_gemm(g_be, false, false, 4, 4, 4, 1.0f, V(&a), 4, V(&a), 4, 0.0f, V(&c), 4));
    OK(clann__op_gemm(g_be, false, false, 2, 4, 4, 1.0f, V(&a), 4, V(&a), 4, 0.0f, V(&c), 4));
    float out[16];
    down(out, &c, 16);
    ck_assert_int_eq(clann_context_profile(g_ctx, false), CLANN_OK);
    OK(clann__op_fill(g_be, V(&a), 16, 2.0f)); /* not counted: profiling is off */
    const struct clann_op_profile *ops = NULL;
    size_t n = 0;
    ck_assert_int_eq(clann_context_profile_ops(g_ctx, &ops, &n), CLANN_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(ops[0].name, "fill");
    ck_assert_uint_eq(ops[0].calls, 1);
    ck_assert_int_eq(ops[0].op_class, CLANN_OP_KERNEL);
    ck_assert_str_eq(ops[1].name, "gemm");
    ck_assert_uint_eq(ops[1].calls, 2);
    ck_assert_int_eq(ops[1].op_class, CLANN_OP_GEMM);
    ck_assert(ops[1].flops == 2.0 * (4 * 4 * 4 + 2 * 4 * 4));
    ck_assert_str_eq(ops[2].name, "download");
    ck_assert_int_eq(ops[2].op_class, CLANN_OP_TRANSFER);
    ck_assert(ops[0].seconds >= 0.0 && ops[1].seconds >= 0.0);
    ck_assert_int_eq(clann_context_profile(NULL, true), CLANN_ERR_INVALID_ARG);
    clann__buf_destroy(&a);
    clann__buf_destroy(&c);
}
END_TEST

/* The wrappers' defaults for optional entries, and Adam's shared step scalars. */
START_TEST(test_front_door)
{
    struct clann_backend_ops bare = *g_be->ops;
    const struct clann_backend_ops *real = g_be->ops;
    bare.embedding_forward = NULL;
    bare.embedding_prefetch = NULL;
    g_be->ops = &bare;
    struct clann_buf b = dnew(8);
    ck_assert_int_eq(clann__op_embedding_forward(g_be, V(&b), 1, 1, 1, V(&b), 2, 2,
                                                 CLANN_COMBINER_SUM, V(&b), 2),
                     CLANN_ERR_UNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(clann_context_last_error(g_ctx), "embedding_forward"));
    clann__op_embedding_prefetch(g_be, V(&b), NO_VIEW, NO_VIEW, 2, 2, V(&b), 1); /* no-op */
    g_be->ops = real;
    /* Adam with step 0 has no bias correction: refused before the backend runs. */
    struct clann_opt o;
    memset(&o, 0, sizeof o);
    o.kind = CLANN__OPT_ADAM;
    o.lr = 0.1f;
    o.beta1 = 0.9f;
    o.beta2 = 0.999f;
    o.eps = 1e-7f;
    ck_assert_int_eq(clann__op_optimizer_step(g_be, &o, V(&b), V(&b), V(&b), V(&b), 2),
                     CLANN_ERR_INVALID_ARG);
    clann__buf_destroy(&b);
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_set_tags(tc, "unit");
    suite_add_tcase(s, tc);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("cpu-ops");
    tcase_add_loop_test(tcase(s, "grad-activations"), test_grad_activations, 0, CLANN__ACT_COUNT);
    tcase_add_loop_test(tcase(s, "grad-losses"), test_grad_losses, 0, CLANN__LOSS_COUNT);
    tcase_add_loop_test(tcase(s, "grad-dense"), test_grad_dense, 0, 2);
    TCase *gemm = tcase(s, "gemm");
    tcase_add_loop_test(gemm, test_gemm, 0, 8);
    tcase_add_test(gemm, test_gemm_invalid);
    TCase *num = tcase(s, "numerics");
    tcase_add_test(num, test_softmax_extreme);
    tcase_add_test(num, test_sparse_label_out_of_range);
    tcase_add_test(num, test_act_aliasing);
    tcase_add_test(tcase(s, "optimizers"), test_optimizers);
    TCase *rng = tcase(s, "rng");
    tcase_add_test(rng, test_rng_ops);
    tcase_add_test(rng, test_dropout);
    TCase *basic = tcase(s, "basic");
    tcase_add_test(basic, test_basic_ops);
    tcase_add_test(basic, test_count_correct);
    TCase *front = tcase(s, "front-door");
    tcase_add_test(front, test_context_outlived_by_model);
    tcase_add_test(front, test_profile);
    tcase_add_test(front, test_front_door);

    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
