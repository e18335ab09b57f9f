/*
 * test-grad64.c - float64 finite-difference gradient checks of the CPU reference formulas
 * (src/backend/formulas.h, the code cpu.c runs): every activation, softmax, every loss, and a
 * whole dense layer y = act(xW + b) with a loss on top, its gradients composed by the chain rule
 * from the same formulas. The tolerances are PyTorch gradcheck's defaults: central differences
 * with eps = 1e-6, and every element must satisfy |analytic - numeric| <= atol + rtol * |numeric|
 * with atol = 1e-5, rtol = 1e-3. Points are kept more than 2 eps away from kinks, where a
 * central difference straddles two pieces and means nothing.
 *
 * Each test prints the largest |analytic - numeric| it saw; in double it is ~1e-9 or less, so
 * a wrong derivative (an error of order 1) cannot hide under the tolerance.
 */
#include "backend/formulas.h"

#include "testutil.h"

#include <stdint.h>

#define GC_EPS 1e-6
#define GC_ATOL 1e-5
#define GC_RTOL 1e-3

/* Asserts one element of a gradient and returns its error, for the running maximum. */
static double gc_check(const char *what, size_t i, double analytic, double numeric)
{
    double err = fabs(analytic - numeric);
    ck_assert_msg(err <= GC_ATOL + GC_RTOL * fabs(numeric),
                  "%s [%zu]: analytic %.17g, numeric %.17g", what, i, analytic, numeric);
    return err;
}

static void gc_report(const char *group, double max_err)
{
    printf("grad64 %-12s max |analytic - numeric| = %.3g\n", group, max_err);
    fflush(stdout);
}

/* A fixed stream of uniforms in [lo, hi): the checks see the same points on every run. */
static double uniform(uint64_t *state, double lo, double hi)
{
    *state = *state * 6364136223846793005ull + 1442695040888963407ull;
    return lo + (hi - lo) * (double)(*state >> 11) / 9007199254740992.0;
}

/* ---------------------------------------------------------------------------------------------
 * Elementwise activations.
 */

static double act_at(const struct clann_act *act, double z, double slope)
{
    return clann__act_value(act, z, slope);
}

/* Kinks: 0 for the ReLU family and ELU (whose second derivative jumps there unless alpha is 1),
 * and 6 for ReLU6. */
static bool near_kink(double z)
{
    return fabs(z) <= 2 * GC_EPS || fabs(z - 6.0) <= 2 * GC_EPS;
}

static double check_act_point(const struct clann_act *act, double z, double slope)
{
    double y = act_at(act, z, slope);
    double analytic = clann__act_derivative(act, z, y, slope);
    double numeric = (act_at(act, z + GC_EPS, slope) - act_at(act, z - GC_EPS, slope)) /
                     (2 * GC_EPS);
    char what[64];
    snprintf(what, sizeof what, "act %d alpha/slope %g at z = %g", (int)act->kind, slope, z);
    return gc_check(what, 0, analytic, numeric);
}

START_TEST(test_activations)
{
    const float alphas[] = {0.01f, 0.2f, 1.0f, 1.7f};
    const double extra[] = {3e-6, -3e-6, 6.0 - 3e-6, 6.0 + 3e-6, 1e-3, -1e-3, 30.0, -30.0};
    double worst = 0.0;
    for (int k = 0; k < CLANN__ACT_COUNT; k++) {
        if (k == CLANN__ACT_SOFTMAX)
            continue;
        for (size_t a = 0; a < sizeof alphas / sizeof *alphas; a++) {
            /* alpha is leaky ReLU's slope and ELU's alpha; PReLU and RReLU get it as the
             * learned or drawn slope. */
            struct clann_act act = {.kind = (enum clann__act_kind)k, .alpha = alphas[a]};
            for (int i = 0; i <= 40; i++) {
                double z = -9.7 + 0.4737 * i;
                if (!near_kink(z))
                    worst = fmax(worst, check_act_point(&act, z, alphas[a]));
            }
            for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
                worst = fmax(worst, check_act_point(&act, extra[i], alphas[a]));
        }
    }
    gc_report("activations", worst);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Softmax: the full Jacobian, one output at a time (dy = e_j), and a random dy.
 */

#define MAX_COLS 8

/* sum_c dy_c softmax(z)_c: a scalar whose gradient is the softmax backward of dy. */
static double softmax_dot(const double *z, const double *dy, size_t cols)
{
    double y[MAX_COLS], sum = 0.0;
    clann__softmax_row(clann__row_d(z), clann__out_d(y), cols);
    for (size_t c = 0; c < cols; c++)
        sum += dy[c] * y[c];
    return sum;
}

static double check_softmax_dy(double *z, const double *dy, size_t cols)
{
    double y[MAX_COLS], dz[MAX_COLS], worst = 0.0;
    clann__softmax_row(clann__row_d(z), clann__out_d(y), cols);
    clann__softmax_backward_row(clann__row_d(y), clann__row_d(dy), clann__out_d(dz), cols);
    for (size_t k = 0; k < cols; k++) {
        double saved = z[k];
        z[k] = saved + GC_EPS;
        double plus = softmax_dot(z, dy, cols);
        z[k] = saved - GC_EPS;
        double minus = softmax_dot(z, dy, cols);
        z[k] = saved;
        worst = fmax(worst, gc_check("softmax dz", k, dz[k], (plus - minus) / (2 * GC_EPS)));
    }
    return worst;
}

START_TEST(test_softmax)
{
    const size_t widths[] = {1, 2, 3, 7};
    uint64_t rng = 1;
    double worst = 0.0;
    for (size_t w = 0; w < sizeof widths / sizeof *widths; w++) {
        size_t cols = widths[w];
        for (int trial = 0; trial < 4; trial++) {
            double z[MAX_COLS], dy[MAX_COLS];
            for (size_t c = 0; c < cols; c++) {
                z[c] = uniform(&rng, -4.0, 4.0) * (trial + 1); /* up to +-16: peaked rows */
                dy[c] = uniform(&rng, -1.0, 1.0);
            }
            worst = fmax(worst, check_softmax_dy(z, dy, cols));
            for (size_t j = 0; j < cols; j++) {
                double e[MAX_COLS] = {0};
                e[j] = 1.0;
                worst = fmax(worst, check_softmax_dy(z, e, cols));
            }
        }
    }
    gc_report("softmax", worst);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Losses: the row loss against its gradient (grad_scale 1).
 */

static double loss_value(const struct clann__loss *loss, const double *p, const double *y,
                         size_t cols)
{
    struct clann__row_out none = {NULL, NULL};
    return clann__loss_row(loss, clann__row_d(p), clann__row_d(y), cols, none, 1.0);
}

static double check_loss_row(const struct clann__loss *loss, double *p, const double *y,
                             size_t cols)
{
    double g[MAX_COLS], worst = 0.0;
    char what[64];
    snprintf(what, sizeof what, "loss %d (delta %g) cols %zu", (int)loss->kind,
             (double)loss->huber_delta, cols);
    clann__loss_row(loss, clann__row_d(p), clann__row_d(y), cols, clann__out_d(g), 1.0);
    for (size_t c = 0; c < cols; c++) {
        double saved = p[c];
        p[c] = saved + GC_EPS;
        double plus = loss_value(loss, p, y, cols);
        p[c] = saved - GC_EPS;
        double minus = loss_value(loss, p, y, cols);
        p[c] = saved;
        worst = fmax(worst, gc_check(what, c, g[c], (plus - minus) / (2 * GC_EPS)));
    }
    return worst;
}

/* Fills one row of predictions and labels for `kind`. Regression labels sit at least 0.05 from
 * their prediction (MAE's kink at p == y), and for Huber either well inside (|e| <= delta / 2)
 * or well outside (|e| >= 2 delta) the quadratic zone, alternating by column so that a row
 * exercises both regimes. */
static void fill_row(enum clann__loss_kind kind, double delta, uint64_t *rng, double *p,
                     double *y, size_t cols, int trial)
{
    for (size_t c = 0; c < cols; c++) {
        p[c] = uniform(rng, -3.0, 3.0);
        double mag = kind == CLANN__LOSS_HUBER
                         ? ((c + trial) % 2 ? uniform(rng, 0.05, 0.5) * delta
                                            : uniform(rng, 2.0, 4.0) * delta)
                         : uniform(rng, 0.05, 2.0);
        y[c] = p[c] + (uniform(rng, 0.0, 1.0) < 0.5 ? -mag : mag);
    }
    if (kind == CLANN__LOSS_SIGMOID_CE) {
        const double labels[] = {0.0, 1.0, 0.3};
        for (size_t c = 0; c < cols; c++)
            y[c] = labels[(c + trial) % 3];
    }
}

static double check_regression_losses(void)
{
    const enum clann__loss_kind kinds[] = {CLANN__LOSS_MSE, CLANN__LOSS_MAE, CLANN__LOSS_HUBER,
                                           CLANN__LOSS_SIGMOID_CE};
    const float deltas[] = {0.5f, 1.0f, 2.5f};
    const size_t widths[] = {1, 3, 7};
    uint64_t rng = 2;
    double worst = 0.0;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (size_t d = 0; d < 3; d++)
            for (size_t w = 0; w < 3; w++)
                for (int trial = 0; trial < 4; trial++) {
                    struct clann__loss loss = {kinds[k], deltas[d]};
                    double p[MAX_COLS], y[MAX_COLS];
                    fill_row(kinds[k], deltas[d], &rng, p, y, widths[w], trial);
                    worst = fmax(worst, check_loss_row(&loss, p, y, widths[w]));
                }
    return worst;
}

/* Softmax CE with one-hot, soft (a distribution) and unnormalized soft labels, and sparse
 * softmax CE with the class index as the row's one label. */
static double check_softmax_losses(void)
{
    const size_t widths[] = {1, 3, 7};
    uint64_t rng = 3;
    double worst = 0.0;
    for (size_t w = 0; w < 3; w++) {
        size_t cols = widths[w];
        for (int trial = 0; trial < 6; trial++) {
            double p[MAX_COLS], y[MAX_COLS], sum = 0.0;
            for (size_t c = 0; c < cols; c++) {
                p[c] = uniform(&rng, -5.0, 5.0);
                y[c] = uniform(&rng, 0.0, 1.0);
                sum += y[c];
            }
            size_t label = (size_t)trial % cols;
            struct clann__loss dense = {CLANN__LOSS_SOFTMAX_CE, 1.0f};
            struct clann__loss sparse = {CLANN__LOSS_SPARSE_SOFTMAX_CE, 1.0f};
            worst = fmax(worst, check_loss_row(&dense, p, y, cols)); /* sum(y) != 1 */
            for (size_t c = 0; c < cols; c++)
                y[c] /= sum;
            worst = fmax(worst, check_loss_row(&dense, p, y, cols));
            for (size_t c = 0; c < cols; c++)
                y[c] = c == label ? 1.0 : 0.0;
            worst = fmax(worst, check_loss_row(&dense, p, y, cols));
            double index = (double)label;
            worst = fmax(worst, check_loss_row(&sparse, p, &index, cols));
        }
    }
    return worst;
}

/* NCE: the row's true column and its flagged negatives (every third column unflagged, so other
 * rows' true columns take no part), against central differences; an unflagged column's
 * gradient is exactly 0. */
static double check_nce_loss(void)
{
    uint64_t rng = 5;
    double worst = 0.0;
    for (size_t cols = 1; cols <= 7; cols += 3) {
        for (int trial = 0; trial < 6; trial++) {
            double p[MAX_COLS], flags[MAX_COLS], g[MAX_COLS];
            double label = (double)((size_t)trial % cols);
            for (size_t c = 0; c < cols; c++) {
                p[c] = uniform(&rng, -6.0, 6.0);
                flags[c] = c % 3 != 2;
            }
            struct clann__row_out none = {NULL, NULL};
            clann__nce_row(clann__row_d(p), label, clann__row_d(flags), cols, clann__out_d(g), 1.0);
            for (size_t c = 0; c < cols; c++) {
                double saved = p[c];
                p[c] = saved + GC_EPS;
                double plus = clann__nce_row(clann__row_d(p), label, clann__row_d(flags), cols,
                                             none, 1.0);
                p[c] = saved - GC_EPS;
                double minus = clann__nce_row(clann__row_d(p), label, clann__row_d(flags), cols,
                                              none, 1.0);
                p[c] = saved;
                worst = fmax(worst, gc_check("nce", c, g[c], (plus - minus) / (2 * GC_EPS)));
                if (c % 3 == 2 && c != (size_t)label)
                    ck_assert_double_eq(g[c], 0.0);
            }
        }
    }
    /* The sum of softplus terms: true column -log sigmoid(z), negatives -log(1 - sigmoid(z)). */
    double z[3] = {0.5, -1.0, 2.0}, f[3] = {1.0, 0.0, 1.0};
    struct clann__row_out none = {NULL, NULL};
    double want = log1p(exp(-0.5)) + log1p(exp(2.0));
    ck_assert_double_eq_tol(clann__nce_row(clann__row_d(z), 0.0, clann__row_d(f), 3, none, 1.0),
                            want, 1e-12);
    ck_assert(isnan(clann__nce_row(clann__row_d(z), 3.0, clann__row_d(f), 3, none, 1.0)));
    return worst;
}

START_TEST(test_losses)
{
    gc_report("losses", fmax(fmax(check_regression_losses(), check_softmax_losses()),
                             check_nce_loss()));
}
END_TEST

/* The gradient is scaled by grad_scale exactly: the trainer passes 1 / batch through it. */
START_TEST(test_loss_grad_scale)
{
    double p[3] = {0.3, -1.2, 2.0}, y[3] = {0.0, 1.0, 0.3}, g1[3], g2[3];
    for (int k = 0; k < CLANN__LOSS_COUNT; k++) {
        if (!clann__loss_computed(k) || k == CLANN__LOSS_NCE) /* NCE: clann__nce_row */
            continue;
        struct clann__loss loss = {(enum clann__loss_kind)k, 1.0f};
        clann__loss_row(&loss, clann__row_d(p), clann__row_d(y), 3, clann__out_d(g1), 1.0);
        clann__loss_row(&loss, clann__row_d(p), clann__row_d(y), 3, clann__out_d(g2), 0.25);
        for (size_t c = 0; c < 3; c++)
            ck_assert_double_eq(g2[c], 0.25 * g1[c]);
    }
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * A dense layer with a loss: L = (1/B) sum_r loss(act(x_r W + b), t_r). The analytic
 * gradients come from the formulas by the chain rule, in the order the trainer applies them:
 * dL/dy from the loss (grad_scale 1/B), dz from the activation's backward, then
 * dW = x^T dz, db = column sums of dz, dx = dz W^T.
 */

#define B 3
#define IN 4
#define OUT 5

struct dense_case {
    enum clann__act_kind act;
    float alpha;
    enum clann__loss_kind loss;
    float delta;
    size_t out;
    double w_scale; /* wider pre-activations reach ReLU6's upper kink */
};

struct dense {
    struct dense_case dc;
    struct clann_act act;
    struct clann__loss loss;
    double x[B * IN], w[IN * OUT], b[OUT];
    double slope[B * OUT]; /* leaky: alpha; PReLU: per column; RReLU: per element */
    double t[B * OUT];     /* labels; sparse: one class index per row */
};

static size_t label_cols(const struct dense *d)
{
    return d->dc.loss == CLANN__LOSS_SPARSE_SOFTMAX_CE ? 1 : d->dc.out;
}

static void dense_forward(const struct dense *d, double *z, double *y)
{
    size_t out = d->dc.out;
    for (size_t r = 0; r < B; r++) {
        for (size_t o = 0; o < out; o++) {
            double acc = d->b[o];
            for (size_t i = 0; i < IN; i++)
                acc += d->x[r * IN + i] * d->w[i * out + o];
            z[r * out + o] = acc;
            y[r * out + o] = clann__act_value(&d->act, acc, d->slope[r * out + o]);
        }
        if (d->act.kind == CLANN__ACT_SOFTMAX)
            clann__softmax_row(clann__row_d(z + r * out), clann__out_d(y + r * out), out);
    }
}

static double dense_loss(const struct dense *d)
{
    double z[B * OUT], y[B * OUT], total = 0.0;
    struct clann__row_out none = {NULL, NULL};
    dense_forward(d, z, y);
    for (size_t r = 0; r < B; r++)
        total += clann__loss_row(&d->loss, clann__row_d(y + r * d->dc.out),
                                 clann__row_d(d->t + r * label_cols(d)), d->dc.out, none, 1.0);
    return total / B;
}

/* dL/dz for every row: the loss gradient through the activation's backward. */
static void dense_dz(const struct dense *d, const double *z, const double *y, double *dz)
{
    size_t out = d->dc.out;
    double dy[OUT];
    for (size_t r = 0; r < B; r++) {
        clann__loss_row(&d->loss, clann__row_d(y + r * out), clann__row_d(d->t + r * label_cols(d)),
                        out, clann__out_d(dy), 1.0 / B);
        if (d->act.kind == CLANN__ACT_SOFTMAX) {
            clann__softmax_backward_row(clann__row_d(y + r * out), clann__row_d(dy),
                                        clann__out_d(dz + r * out), out);
            continue;
        }
        for (size_t o = 0; o < out; o++) {
            size_t e = r * out + o;
            dz[e] = dy[o] * clann__act_derivative(&d->act, z[e], y[e], d->slope[e]);
        }
    }
}

static void dense_backward(const struct dense *d, double *gx, double *gw, double *gb)
{
    size_t out = d->dc.out;
    double z[B * OUT], y[B * OUT], dz[B * OUT];
    dense_forward(d, z, y);
    dense_dz(d, z, y, dz);
    for (size_t o = 0; o < out; o++) {
        gb[o] = 0.0;
        for (size_t r = 0; r < B; r++)
            gb[o] += dz[r * out + o];
        for (size_t i = 0; i < IN; i++) {
            gw[i * out + o] = 0.0;
            for (size_t r = 0; r < B; r++)
                gw[i * out + o] += d->x[r * IN + i] * dz[r * out + o];
        }
    }
    for (size_t r = 0; r < B; r++)
        for (size_t i = 0; i < IN; i++) {
            gx[r * IN + i] = 0.0;
            for (size_t o = 0; o < out; o++)
                gx[r * IN + i] += dz[r * out + o] * d->w[i * out + o];
        }
}

/* Central differences of the composed loss in each element of `param` (x, W or b). */
static double check_param(struct dense *d, double *param, const double *analytic, size_t n,
                          const char *name)
{
    char what[80];
    snprintf(what, sizeof what, "dense act %d loss %d: d%s", (int)d->dc.act, (int)d->dc.loss,
             name);
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        double saved = param[i];
        param[i] = saved + GC_EPS;
        double plus = dense_loss(d);
        param[i] = saved - GC_EPS;
        double minus = dense_loss(d);
        param[i] = saved;
        worst = fmax(worst, gc_check(what, i, analytic[i], (plus - minus) / (2 * GC_EPS)));
    }
    return worst;
}

static double element_slope(const struct dense_case *dc, uint64_t *rng, size_t e, size_t out)
{
    switch (dc->act) {
    case CLANN__ACT_LEAKY_RELU:
        return dc->alpha;
    case CLANN__ACT_PRELU:
        return 0.05 + 0.1 * (double)(e % out); /* a[col] */
    case CLANN__ACT_RRELU:
        return uniform(rng, 0.125, 1.0 / 3.0); /* a drawn slope per element */
    default:
        return 0.0;
    }
}

static void dense_labels(struct dense *d, uint64_t *rng)
{
    size_t out = d->dc.out;
    for (size_t r = 0; r < B; r++) {
        if (d->dc.loss == CLANN__LOSS_SPARSE_SOFTMAX_CE) {
            d->t[r] = (double)((r * 2 + 1) % out);
            continue;
        }
        for (size_t o = 0; o < out; o++) {
            const double bce[] = {0.0, 1.0, 0.3};
            double *t = &d->t[r * out + o];
            *t = d->dc.loss == CLANN__LOSS_SIGMOID_CE ? bce[(r + o) % 3]
                 : d->dc.loss == CLANN__LOSS_SOFTMAX_CE ? uniform(rng, 0.0, 1.0)
                                                        : uniform(rng, -2.0, 2.0);
        }
    }
}

static void dense_init(struct dense *d, const struct dense_case *dc, uint64_t seed)
{
    uint64_t rng = seed;
    memset(d, 0, sizeof *d);
    d->dc = *dc;
    d->act.kind = dc->act;
    d->act.alpha = dc->alpha;
    d->loss.kind = dc->loss;
    d->loss.huber_delta = dc->delta;
    for (size_t i = 0; i < B * IN; i++)
        d->x[i] = uniform(&rng, -1.0, 1.0);
    for (size_t i = 0; i < IN * dc->out; i++)
        d->w[i] = dc->w_scale * uniform(&rng, -1.0, 1.0);
    for (size_t o = 0; o < dc->out; o++)
        d->b[o] = uniform(&rng, -0.5, 0.5);
    for (size_t e = 0; e < B * dc->out; e++)
        d->slope[e] = element_slope(dc, &rng, e, dc->out);
    dense_labels(d, &rng);
}

/* The finite differences move z by at most eps * (|x| or |W| sums) < 1e-4; a point is a fair
 * test only when every kink (of the activation, and of MAE and Huber) is farther than that. */
static bool off_kinks(const struct dense *d)
{
    double z[B * OUT], y[B * OUT];
    bool act_kinked = d->dc.act != CLANN__ACT_SOFTMAX && d->dc.act != CLANN__ACT_LINEAR;
    bool loss_kinked = d->dc.loss == CLANN__LOSS_MAE || d->dc.loss == CLANN__LOSS_HUBER;
    dense_forward(d, z, y);
    for (size_t e = 0; e < B * d->dc.out; e++) {
        double err = fabs(y[e] - d->t[e]);
        if (act_kinked && (fabs(z[e]) < 1e-3 || fabs(z[e] - 6.0) < 1e-3))
            return false;
        if (loss_kinked && (err < 1e-3 || fabs(err - d->dc.delta) < 1e-3))
            return false;
    }
    return true;
}

/* The first seed from `seed` on whose point is off every kink (the seeds are fixed, so this
 * picks the same point on every run). */
static void dense_pick(struct dense *d, const struct dense_case *dc, uint64_t seed)
{
    for (uint64_t s = seed; s < seed + 50; s++) {
        dense_init(d, dc, s);
        if (off_kinks(d))
            return;
    }
    ck_abort_msg("no point off the kinks for act %d loss %d", (int)dc->act, (int)dc->loss);
}

static const struct dense_case dense_cases[] = {
    {CLANN__ACT_LINEAR, 0.0f, CLANN__LOSS_MSE, 1.0f, 5, 1.0},
    {CLANN__ACT_TANH, 0.0f, CLANN__LOSS_MSE, 1.0f, 5, 1.0},
    {CLANN__ACT_SIGMOID, 0.0f, CLANN__LOSS_MAE, 1.0f, 3, 1.0},
    {CLANN__ACT_RELU, 0.0f, CLANN__LOSS_MSE, 1.0f, 5, 1.0},
    {CLANN__ACT_LEAKY_RELU, 0.1f, CLANN__LOSS_MAE, 1.0f, 4, 1.0},
    {CLANN__ACT_PRELU, 0.0f, CLANN__LOSS_MSE, 1.0f, 5, 1.0},
    {CLANN__ACT_RRELU, 0.0f, CLANN__LOSS_HUBER, 2.0f, 4, 1.0},
    {CLANN__ACT_RELU6, 0.0f, CLANN__LOSS_MSE, 1.0f, 5, 4.0},
    {CLANN__ACT_ELU, 0.7f, CLANN__LOSS_HUBER, 0.5f, 4, 1.0},
    {CLANN__ACT_SOFTPLUS, 0.0f, CLANN__LOSS_MSE, 1.0f, 1, 1.0},
    {CLANN__ACT_SOFTMAX, 0.0f, CLANN__LOSS_MSE, 1.0f, 5, 2.0},
    {CLANN__ACT_LINEAR, 0.0f, CLANN__LOSS_SIGMOID_CE, 1.0f, 3, 2.0},
    {CLANN__ACT_LINEAR, 0.0f, CLANN__LOSS_SOFTMAX_CE, 1.0f, 5, 2.0},
    {CLANN__ACT_LINEAR, 0.0f, CLANN__LOSS_SPARSE_SOFTMAX_CE, 1.0f, 5, 2.0},
};

START_TEST(test_dense_layer)
{
    double worst = 0.0;
    for (size_t k = 0; k < sizeof dense_cases / sizeof *dense_cases; k++) {
        struct dense d;
        double gx[B * IN], gw[IN * OUT], gb[OUT];
        dense_pick(&d, &dense_cases[k], 100 * (k + 1));
        dense_backward(&d, gx, gw, gb);
        worst = fmax(worst, check_param(&d, d.w, gw, IN * d.dc.out, "W"));
        worst = fmax(worst, check_param(&d, d.b, gb, d.dc.out, "b"));
        worst = fmax(worst, check_param(&d, d.x, gx, B * IN, "x"));
    }
    gc_report("dense layer", worst);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("grad64");
    TCase *tc = tcase_create("gradcheck");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_losses);
    tcase_add_test(tc, test_loss_grad_scale);
    tcase_add_test(tc, test_dense_layer);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
