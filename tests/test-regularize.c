/*
 * test-regularize.c - generalization and stability on the CPU backend: L1 feature selection,
 * constraints after every step, penalties in the reported loss, dropout and noise layers,
 * batch normalization (gradient check and inference mode), the vanishing- and exploding-
 * gradient cases of the lectures, gradient clipping, early stopping and learning-rate schedules.
 */
#include "testutil.h"

#include <unistd.h>

#include "backend/ops.h"
#include "core/rng.h"

static struct clann_context *cpu(void)
{
    return test_context("cpu", CLANN_CPU_MODE_FAST);
}

/* Two concentric circles (radius 0.5 and 1, small noise): class 1 is the outer circle. */
static void two_circles(size_t n, uint64_t seed, struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(n, 2, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        double a = 6.283185307 * clann__rng_uniform(seed, 1, i);
        double r = (i % 2 ? 1.0 : 0.5) + 0.05 * clann__rng_normal(seed, 2, i);
        x->data[2 * i] = (float)(r * cos(a));
        x->data[2 * i + 1] = (float)(r * sin(a));
        y->data[i] = (float)(i % 2);
    }
}

static void free2(struct clann_matrix *a, struct clann_matrix *b)
{
    clann_matrix_free(a);
    clann_matrix_free(b);
}

/* n rows of d normal features, the first `informative` of which make the target. */
static void sparse_regression(size_t n, size_t d, size_t informative, struct clann_matrix *x,
                              struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(n, d, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        double t = 0.0;
        for (size_t j = 0; j < d; j++) {
            x->data[i * d + j] = clann__rng_normal(21, 1, i * d + j);
            if (j < informative)
                t += (j % 2 ? -1.0 : 1.0) * (1.0 + 0.2 * j) * x->data[i * d + j];
        }
        y->data[i] = (float)(t + 0.1 * clann__rng_normal(21, 2, i));
    }
}

/* 200 features, 10 informative: L1 zeroes >= 90% of the irrelevant weights and keeps every
 * informative feature. */
START_TEST(test_l1_feature_selection)
{
    struct clann_context *ctx = cpu();
    const size_t n = 2000, d = 200, informative = 10;
    struct clann_matrix x, y;
    sparse_regression(n, d, informative, &x, &y);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, d, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    dp.kernel_regularizer.l1 = 0.1f;
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.optimizer.learning_rate = 0.01f;
    cp.max_batch = 50;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 30;
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    float w[201];
    ck_assert_int_eq(clann_model_get_params(m, w, d + 1), CLANN_OK);
    size_t zero_irrelevant = 0;
    for (size_t j = 0; j < d; j++) {
        if (j < informative)
            ck_assert_msg(w[j] != 0.0f, "informative feature %zu dropped", j);
        else
            zero_irrelevant += w[j] == 0.0f;
    }
    size_t dropped, zeros, total;
    ck_assert_int_eq(clann_model_dropped_inputs(m, NULL, 0, &dropped), CLANN_OK);
    ck_assert_int_eq(clann_model_layer_sparsity(m, 0, &zeros, &total), CLANN_OK);
    printf("L1: %zu of %zu irrelevant weights are exactly zero\n", zero_irrelevant,
           d - informative);
    ck_assert_uint_ge(zero_irrelevant * 10, 9 * (d - informative));
    ck_assert_uint_eq(dropped, zero_irrelevant);
    ck_assert_uint_eq(zeros, zero_irrelevant);
    ck_assert_uint_eq(total, d);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

/* The fraction of exactly zero weights in the first kernel of a 200-32-1 ReLU regressor
 * trained with Adam (lr 0.01, 800 steps) and L1 penalty l1 on every kernel; *kept: whether
 * every informative input keeps a nonzero weight. */
static double adam_l1_zeros(float l1, bool *kept)
{
    struct clann_context *ctx = cpu();
    const size_t d = 200, informative = 10, units = 32;
    struct clann_matrix x, y;
    sparse_regression(2000, d, informative, &x, &y);
    for (size_t i = 0; i < y.rows; i++)
        y.data[i] *= 0.15f; /* about unit variance */
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {units};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.01f;
    ep.regularizer.l1 = l1;
    ep.max_batch = 50;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_regressor_create(ctx, d, 1, &ep, &m), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 20;
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    size_t n = clann_model_param_count(m);
    float *w = malloc(n * sizeof *w); /* the first kernel first, d x units */
    ck_assert_int_eq(clann_model_get_params(m, w, n), CLANN_OK);
    size_t zeros = 0;
    *kept = true;
    for (size_t j = 0; j < d; j++) {
        size_t row_zeros = 0;
        for (size_t u = 0; u < units; u++)
            row_zeros += w[j * units + u] == 0.0f;
        zeros += row_zeros;
        *kept = *kept && (j >= informative || row_zeros < units);
    }
    free(w);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
    return (double)zeros / (double)(d * units);
}

/* L1 under Adam acts at Adam's scale (the proximal step in its metric): l1 = 0.001 zeroes most
 * of the first kernel (0.958), where the plain step lr * l1 = 1e-5 moves a weight by 0.008 at
 * most in 800 steps, against a Glorot range of 0.16 (that old behaviour zeroed none here);
 * without L1 no weight is zero. The informative inputs keep their weights. */
START_TEST(test_l1_adam_strength)
{
    bool kept0, kept1;
    double without = adam_l1_zeros(0.0f, &kept0), with = adam_l1_zeros(0.001f, &kept1);
    printf("Adam, first kernel: %.3f exactly zero with L1 0.001, %.3f without\n", with,
           without);
    ck_assert(without == 0.0);
    ck_assert_msg(with >= 0.5, "L1 under Adam zeroed only %.3f", with);
    ck_assert(kept0 && kept1);
}
END_TEST

struct constraint_check {
    struct clann_model *m;
    size_t in, units;
    float max_norm;
    double worst;
};

static bool check_norms(const struct clann_epoch_log *log, void *user)
{
    (void)log;
    struct constraint_check *c = user;
    size_t n = clann_model_param_count(c->m);
    float *p = malloc(n * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(c->m, p, n), CLANN_OK);
    for (size_t j = 0; j < c->units; j++) {
        double ss = 0;
        for (size_t i = 0; i < c->in; i++)
            ss += (double)p[i * c->units + j] * p[i * c->units + j];
        double excess = sqrt(ss) - c->max_norm;
        c->worst = excess > c->worst ? excess : c->worst;
    }
    free(p);
    return true;
}

/* Max-norm holds after every step (one step per epoch here) to 1e-5. */
START_TEST(test_max_norm_every_step)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(64, 3, &x, &y);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(32, CLANN_ACTIVATION_RELU);
    dp.kernel_constraint.kind = CLANN_CONSTRAINT_MAX_NORM;
    dp.kernel_constraint.max_value = 0.5f;
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    dp = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_SIGMOID_CROSS_ENTROPY);
    cp.optimizer.learning_rate = 0.1f;
    cp.max_batch = 64;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    struct constraint_check c = {m, 2, 32, 0.5f, -1.0};
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 50;
    fp.on_epoch = check_norms;
    fp.user = &c;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_msg(c.worst <= 1e-5, "a unit's norm exceeded the limit by %g", c.worst);
    ck_assert_msg(c.worst >= -1e-3, "the constraint never bound (worst %g): test too weak",
                  c.worst);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

/* Other constraints through the backend op: unit norm, min-max norm, non-negative. */
START_TEST(test_constraint_kinds)
{
    struct clann_context *ctx = cpu();
    struct clann_backend *be = ctx->be;
    struct clann_buf b;
    ck_assert_int_eq(clann__buf_create(be, 12, &b), CLANN_OK);
    float w[12], out[12];
    for (size_t i = 0; i < 12; i++)
        w[i] = (float)i - 5.5f;
    const struct clann_constraint_op ops[] = {
        {CLANN__CONSTRAINT_UNIT_NORM, 0, 0, 0},
        {CLANN__CONSTRAINT_MIN_MAX_NORM, 1.0f, 2.0f, 1.0f},
        {CLANN__CONSTRAINT_NON_NEG, 0, 0, 0},
    };
    for (size_t k = 0; k < 3; k++) {
        clann__op_upload(be, clann__view(&b, 0), w, 12, true);
        ck_assert_int_eq(clann__op_constrain(be, &ops[k], clann__view(&b, 0), 4, 3,
                                            clann__view(NULL, 0)), CLANN_OK);
        clann__op_download(be, out, clann__view(&b, 0), 12);
        for (size_t j = 0; j < 3; j++) {
            double ss = 0;
            for (size_t i = 0; i < 4; i++)
                ss += out[3 * i + j] * out[3 * i + j];
            if (k == 0)
                ck_assert_double_eq_tol(sqrt(ss), 1.0, 1e-5);
            if (k == 1)
                ck_assert(sqrt(ss) <= 2.0 + 1e-5 && sqrt(ss) >= 1.0 - 1e-5);
        }
        for (size_t i = 0; k == 2 && i < 12; i++)
            ck_assert(out[i] == (w[i] > 0 ? w[i] : 0.0f));
    }
    clann__buf_destroy(&b);
    clann_context_destroy(ctx);
}
END_TEST

/* The reported loss is the data loss, as evaluate's; the penalty l2/2 sum w^2 + l1 sum |w| is
 * reported apart. */
START_TEST(test_penalty_apart_from_loss)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(32, 4, &x, &y);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    dp.kernel_regularizer.l2 = 0.5f;
    dp.kernel_regularizer.l1 = 0.25f;
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.optimizer.learning_rate = 1e-30f; /* the weights stay put */
    cp.max_batch = 32;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    float w[3] = {1.5f, -2.0f, 0.0f};
    ck_assert_int_eq(clann_model_set_params(m, w, 3), CLANN_OK);
    struct clann_metrics data;
    ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &data), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1;
    struct clann_epoch_log log;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &log), CLANN_OK);
    double penalty = 0.25 * (1.5 * 1.5 + 2.0 * 2.0) + 0.25 * 3.5;
    ck_assert_double_eq_tol(log.loss, data.loss, 1e-4);
    ck_assert_double_eq_tol(log.penalty, penalty, 1e-4);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

/* The logged val_loss is evaluate's loss on the same data at the same weights, bit for bit,
 * with L1 and L2 penalties in training (they are not in either); the penalty is apart. */
START_TEST(test_val_loss_is_eval_loss)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y, vx, vy;
    two_circles(128, 4, &x, &y);
    two_circles(64, 9, &vx, &vy);
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {16};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.regularizer.l2 = 0.01f;
    ep.regularizer.l1 = 0.001f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 2, 2, &ep, &m), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 5;
    struct clann_epoch_log log;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, &vx, &vy, &fp, &log), CLANN_OK);
    struct clann_metrics mv;
    ck_assert_int_eq(clann_model_evaluate(m, &vx, &vy, &mv), CLANN_OK);
    printf("val_loss %.6f, evaluate %.6f, penalty %.6f\n", log.val_loss, mv.loss, log.penalty);
    ck_assert(log.val_loss == mv.loss && log.val_accuracy == mv.accuracy);
    ck_assert(log.penalty > 0.0);
    clann_model_destroy(m);
    free2(&x, &y);
    free2(&vx, &vy);
    clann_context_destroy(ctx);
}
END_TEST

/* Batch normalization across ranks (nn/batchnorm_dist.c), simulated: a batch of 9 rows cut in
 * two "ranks" of 4 and 5 rows. Their summed batchnorm_sums give the one-process mean and
 * variance, and batchnorm_dx from the summed dgamma and dbeta gives the one-process dx. */
START_TEST(test_batchnorm_split)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_backend *be = ctx->be;
    enum { ROWS = 9, COLS = 3, N = ROWS * COLS, CUT = 4 };
    float x[N], dy[N], gamma[COLS] = {0.7f, 1.3f, 1.1f}, beta[COLS] = {0.1f, -0.2f, 0.3f};
    for (size_t i = 0; i < N; i++) {
        x[i] = 3.0f * clann__rng_uniform(9, 1, i) - 1.0f;
        dy[i] = 2.0f * clann__rng_uniform(9, 2, i) - 1.0f;
    }
    struct clann_buf b;
    ck_assert_int_eq(clann__buf_create(be, 4 * N + 12 * COLS, &b), CLANN_OK);
    struct clann_view vx = clann__view(&b, 0), vy = clann__view(&b, N), vdy = clann__view(&b, 2 * N);
    struct clann_view vdx = clann__view(&b, 3 * N);
    size_t p = 4 * N;
    struct clann_view vg = clann__view(&b, p), vb = clann__view(&b, p + COLS);
    struct clann_view stats = clann__view(&b, p + 2 * COLS), vrun = clann__view(&b, p + 5 * COLS);
    struct clann_view vdg = clann__view(&b, p + 7 * COLS), vdb = clann__view(&b, p + 8 * COLS);
    struct clann_view part = clann__view(&b, p + 9 * COLS), center = clann__view(&b, p + 10 * COLS);
    struct clann_view invstd = clann__view(&b, p + 4 * COLS);
    clann__op_upload(be, vx, x, N, true);
    clann__op_upload(be, vdy, dy, N, true);
    clann__op_upload(be, vg, gamma, COLS, true);
    clann__op_upload(be, vb, beta, COLS, true);
    ck_assert_int_eq(clann__op_batchnorm_forward(be, vx, vy, ROWS, COLS, 1, vg, vb, stats, vrun,
                                                 1e-3f, true), CLANN_OK);
    ck_assert_int_eq(clann__op_batchnorm_backward(be, vx, vdy, ROWS, COLS, 1, vg, stats, invstd,
                                                  vdx, vdg, vdb), CLANN_OK);
    float one[3 * COLS], dx_one[N];
    clann__op_download(be, one, stats, 3 * COLS);
    clann__op_download(be, dx_one, vdx, N);
    /* the two ranks' sums: x, then (x - mean)^2 about the one-process mean */
    size_t lo[2] = {0, CUT}, rows[2] = {CUT, ROWS - CUT};
    double s1[COLS] = {0}, s2[COLS] = {0};
    clann__op_upload(be, center, one, COLS, true);
    for (int r = 0; r < 2; r++) {
        float got[COLS];
        struct clann_view xr = clann__view(&b, lo[r] * COLS);
        ck_assert_int_eq(clann__op_batchnorm_sums(be, xr, rows[r], COLS, 1, clann__view(NULL, 0),
                                                  part), CLANN_OK);
        clann__op_download(be, got, part, COLS);
        for (size_t c = 0; c < COLS; c++)
            s1[c] += got[c];
        ck_assert_int_eq(clann__op_batchnorm_sums(be, xr, rows[r], COLS, 1, center, part),
                         CLANN_OK);
        clann__op_download(be, got, part, COLS);
        for (size_t c = 0; c < COLS; c++)
            s2[c] += got[c];
    }
    for (size_t c = 0; c < COLS; c++) {
        ck_assert_double_eq_tol(s1[c] / ROWS, one[c], 1e-6);
        ck_assert_double_eq_tol(s2[c] / ROWS, one[COLS + c], 1e-6);
    }
    /* dx of each rank's rows from the whole batch's dgamma and dbeta */
    for (int r = 0; r < 2; r++) {
        float dx[N];
        struct clann_view off = clann__view(&b, lo[r] * COLS);
        struct clann_view dyr = clann__view(&b, 2 * N + lo[r] * COLS);
        struct clann_view dxr = clann__view(&b, 3 * N + lo[r] * COLS);
        ck_assert_int_eq(clann__op_batchnorm_dx(be, off, dyr, rows[r], COLS, 1, vg, stats, invstd,
                                                vdg, vdb, (float)ROWS, dxr), CLANN_OK);
        clann__op_download(be, dx, dxr, rows[r] * COLS);
        for (size_t i = 0; i < rows[r] * COLS; i++)
            ck_assert_double_eq_tol(dx[i], dx_one[lo[r] * COLS + i], 1e-5);
    }
    /* channel-wise: 2 channels of 3 values each (spatial 3) are the sums over 3 columns */
    float ch[2];
    ck_assert_int_eq(clann__op_batchnorm_sums(be, vx, 3, 2, 3, clann__view(NULL, 0), part),
                     CLANN_OK);
    clann__op_download(be, ch, part, 2);
    for (size_t c = 0; c < 2; c++) {
        double want = 0;
        for (size_t r = 0; r < 3; r++)
            for (size_t k = 0; k < 3; k++)
                want += x[r * 6 + c * 3 + k];
        ck_assert_double_eq_tol(ch[c], want, 1e-5);
    }
    /* a zero count is refused */
    ck_assert_int_eq(clann__op_batchnorm_dx(be, vx, vdy, ROWS, COLS, 1, vg, stats, invstd, vdg,
                                            vdb, 0.0f, vdx), CLANN_ERR_INVALID_ARG);
    clann__buf_destroy(&b);
    clann_context_destroy(ctx);
}
END_TEST

/* Batch normalization: finite-difference check of the backward pass through the op pair. */
START_TEST(test_batchnorm_gradcheck)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_backend *be = ctx->be;
    const size_t rows = 7, cols = 5, n = rows * cols;
    struct clann_buf b;
    /* x, y, dy, dx | gamma, beta, stats (mean, var, invstd), running (mean, var), dgamma,
     * dbeta */
    ck_assert_int_eq(clann__buf_create(be, 4 * n + 9 * cols, &b), CLANN_OK);
    float x[35], dy[35], gamma[5], beta[5], ones[5] = {1, 1, 1, 1, 1}, zeros[5] = {0};
    for (size_t i = 0; i < n; i++) {
        x[i] = 2.0f * clann__rng_uniform(8, 1, i) - 1.0f;
        dy[i] = 2.0f * clann__rng_uniform(8, 2, i) - 1.0f; /* loss = sum dy * y */
    }
    for (size_t c = 0; c < cols; c++) {
        gamma[c] = 0.5f + clann__rng_uniform(8, 3, c);
        beta[c] = clann__rng_uniform(8, 4, c) - 0.5f;
    }
    struct clann_view vx = clann__view(&b, 0), vy = clann__view(&b, n), vdy = clann__view(&b, 2 * n),
                      vdx = clann__view(&b, 3 * n);
    size_t p = 4 * n;
    struct clann_view vg = clann__view(&b, p), vb = clann__view(&b, p + cols),
                      vm = clann__view(&b, p + 2 * cols), vi = clann__view(&b, p + 4 * cols),
                      vrm = clann__view(&b, p + 5 * cols), vrv = clann__view(&b, p + 6 * cols),
                      vdg = clann__view(&b, p + 7 * cols), vdb = clann__view(&b, p + 8 * cols);
    clann__op_upload(be, vg, gamma, cols, true);
    clann__op_upload(be, vb, beta, cols, true);
    clann__op_upload(be, vdy, dy, n, true);
    /* loss(x) = sum dy * bn(x), evaluated in double from float outputs. */
    double analytic[35], numeric[35];
    float out[35];
    clann__op_upload(be, vx, x, n, true);
    clann__op_upload(be, vrm, zeros, cols, true);
    clann__op_upload(be, vrv, ones, cols, true);
    ck_assert_int_eq(clann__op_batchnorm_forward(be, vx, vy, rows, cols, 1, vg, vb, vm, vrm,
                                                1e-3f, true), CLANN_OK);
    ck_assert_int_eq(clann__op_batchnorm_backward(be, vx, vdy, rows, cols, 1, vg, vm, vi, vdx,
                                                 vdg, vdb), CLANN_OK);
    clann__op_download(be, out, vdx, n);
    for (size_t i = 0; i < n; i++)
        analytic[i] = out[i];
    /* dgamma = sum dy * xhat and dbeta = sum dy, checked against their definitions. */
    float dg[5], db[5], mean[5], invstd[5];
    clann__op_download(be, dg, vdg, cols);
    clann__op_download(be, db, vdb, cols);
    clann__op_download(be, mean, vm, cols);
    clann__op_download(be, invstd, vi, cols);
    for (size_t c = 0; c < cols; c++) {
        double sg = 0, sb = 0;
        for (size_t r = 0; r < rows; r++) {
            sb += dy[r * cols + c];
            sg += dy[r * cols + c] * (x[r * cols + c] - mean[c]) * invstd[c];
        }
        ck_assert_double_eq_tol(dg[c], sg, 1e-5);
        ck_assert_double_eq_tol(db[c], sb, 1e-5);
    }
    const float eps = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        double f[2];
        for (int s = 0; s < 2; s++) {
            float xp[35];
            memcpy(xp, x, sizeof xp);
            xp[i] += s ? -eps : eps;
            clann__op_upload(be, vx, xp, n, true);
            clann__op_batchnorm_forward(be, vx, vy, rows, cols, 1, vg, vb, vm, vrm, 1e-3f, true);
            clann__op_download(be, out, vy, n);
            f[s] = 0;
            for (size_t k = 0; k < n; k++)
                f[s] += (double)dy[k] * out[k];
        }
        numeric[i] = (f[0] - f[1]) / (2.0 * eps);
    }
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        ck_assert_msg(fabs(analytic[i] - numeric[i]) <= 1e-3 + 1e-2 * fabs(numeric[i]),
                      "dx[%zu]: %g vs %g", i, analytic[i], numeric[i]);
        num += (analytic[i] - numeric[i]) * (analytic[i] - numeric[i]);
        den += numeric[i] * numeric[i];
    }
    ck_assert_msg(sqrt(num / den) <= 1e-3, "relative L2 error %g", sqrt(num / den));
    clann__buf_destroy(&b);
    clann_context_destroy(ctx);
}
END_TEST

/* A deep sigmoid net with batch norm (momentum 0.99) after 40 steps, with or without the
 * end-of-epoch refresh of the running statistics: the logged validation metrics; *loaded_acc:
 * the accuracy on the validation data of the saved and reloaded model. */
static struct clann_epoch_log bn_run(bool refresh, double *loaded_acc)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y, vx, vy;
    two_circles(256, 5, &x, &y);
    two_circles(256, 6, &vx, &vy);
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {16, 16, 16, 16, 16};
    ep.hidden_units = hidden;
    ep.n_hidden = 5;
    ep.activation = CLANN_ACTIVATION_SIGMOID;
    ep.batchnorm = true;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.01f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 2, 2, &ep, &m), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 5;
    fp.no_batchnorm_refresh = !refresh;
    struct clann_epoch_log log;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, &vx, &vy, &fp, &log), CLANN_OK);
    char path[] = "/tmp/clann-bn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    struct clann_model *loaded;
    ck_assert_msg(clann_model_load(ctx, path, &loaded) == CLANN_OK, "%s", clann_last_error());
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(loaded, &vx, &vy, &mt), CLANN_OK);
    *loaded_acc = mt.accuracy;
    ck_assert(mt.loss == log.val_loss); /* the logged metrics are the saved model's */
    clann_model_destroy(loaded);
    unlink(path);
    clann_model_destroy(m);
    free2(&x, &y);
    free2(&vx, &vy);
    clann_context_destroy(ctx);
    return log;
}

/* Validation during training uses the inference-mode statistics, so the logged val metrics
 * are what the saved model scores; the end-of-epoch refresh makes those statistics the current
 * weights' where the momentum average still lags (0.99^40 of the initial statistics left). */
START_TEST(test_batchnorm_refresh)
{
    double lagging_acc, fresh_acc;
    struct clann_epoch_log lagging = bn_run(false, &lagging_acc);
    struct clann_epoch_log fresh = bn_run(true, &fresh_acc);
    printf("batch norm after 40 steps: training-mode accuracy %.3f; validation %.3f with the "
           "momentum statistics, %.3f refreshed\n", fresh.accuracy, lagging.val_accuracy,
           fresh.val_accuracy);
    ck_assert(lagging.val_accuracy == lagging_acc && fresh.val_accuracy == fresh_acc);
    ck_assert(fresh.loss == lagging.loss); /* the refresh leaves training alone */
    ck_assert_msg(fresh.val_accuracy >= lagging.val_accuracy + 0.1, "%g vs %g",
                  fresh.val_accuracy, lagging.val_accuracy);
    ck_assert_msg(fresh.val_accuracy >= fresh.accuracy - 0.1, "%g vs training %g",
                  fresh.val_accuracy, fresh.accuracy);
}
END_TEST

/* Batch norm in a deep model trains, and inference uses the running statistics: predictions
 * do not depend on the rest of the batch. */
START_TEST(test_batchnorm_model)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(400, 5, &x, &y);
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {32, 32, 32};
    ep.hidden_units = hidden;
    ep.n_hidden = 3;
    ep.batchnorm = true;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.01f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 2, 2, &ep, &m), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 40;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &mt), CLANN_OK);
    ck_assert_msg(mt.accuracy >= 0.95, "accuracy with batch norm %g", mt.accuracy);
    struct clann_matrix one = {1, 2, x.data}, all, single;
    ck_assert_int_eq(clann_model_predict(m, &x, &all), CLANN_OK);
    ck_assert_int_eq(clann_model_predict(m, &one, &single), CLANN_OK);
    /* Equal up to the GEMM's summation order for a batch of 1 vs 400. */
    ck_assert_double_eq_tol(all.data[0], single.data[0], 1e-6 * fabs(all.data[0]) + 1e-7);
    /* The model file carries gamma, beta and the running statistics. */
    char path[] = "/tmp/clann-bn-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    struct clann_model *loaded;
    ck_assert_msg(clann_model_load(ctx, path, &loaded) == CLANN_OK, "%s", clann_last_error());
    struct clann_matrix again;
    ck_assert_int_eq(clann_model_predict(loaded, &x, &again), CLANN_OK);
    ck_assert(memcmp(all.data, again.data, all.rows * all.cols * sizeof(float)) == 0);
    clann_matrix_free(&again);
    clann_model_destroy(loaded);
    unlink(path);
    clann_matrix_free(&all);
    clann_matrix_free(&single);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

/* Dropout and noise are random in training and the identity at inference. */
START_TEST(test_random_layers_inference)
{
    struct clann_context *ctx = cpu();
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 4, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_add_noise(m, 0.5f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dropout(m, 0.5f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.5f, 1e-3f), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(2, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    /* Batch norm at initialization (gamma 1, beta 0, running mean 0, variance 1) scales by
     * 1 / sqrt(1 + eps) at inference. */
    float w[26] = {1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1,
                   1, 0, 0, 1, 1, 1, 2, -1, 0.5f, 0.25f}, xs[4] = {1, 2, 3, 4};
    ck_assert_uint_eq(clann_model_param_count(m), 26);
    ck_assert_int_eq(clann_model_set_params(m, w, 26), CLANN_OK);
    for (int i = 0; i < 4; i++)
        xs[i] *= sqrtf(1.001f);
    struct clann_matrix x = {1, 4, xs}, a, b;
    ck_assert_int_eq(clann_model_predict(m, &x, &a), CLANN_OK);
    ck_assert_int_eq(clann_model_predict(m, &x, &b), CLANN_OK);
    ck_assert_double_eq_tol(a.data[0], 1 * 1 + 3 * 1 + 4 * 2 + 0.5f, 1e-5);
    ck_assert_double_eq_tol(a.data[1], 2 * 1 + 3 * 1 - 4 * 1 + 0.25f, 1e-5);
    ck_assert_float_eq(a.data[0], b.data[0]);
    ck_assert_float_eq(a.data[1], b.data[1]);
    ck_assert_int_eq(clann_model_add_noise(m, -1.0f), CLANN_ERR_INVALID_ARG);
    clann_matrix_free(&a);
    clann_matrix_free(&b);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

static struct clann_model *deep_net(struct clann_context *ctx, enum clann_activation act,
                                    struct clann_init init, float lr)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m), CLANN_OK);
    for (int i = 0; i < 5; i++) {
        struct clann_dense_params dp = clann_dense_default_params(16, act);
        dp.kernel_init = init;
        ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    }
    struct clann_dense_params dp = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_SIGMOID_CROSS_ENTROPY);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.optimizer.learning_rate = lr;
    cp.max_batch = 32;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    return m;
}

/* The lecture's vanishing-gradient case: 5 tanh layers initialized U(0, 1) on two circles
 * stall, with gradient norms shrinking toward the input; ReLU with He-uniform learns. */
START_TEST(test_vanishing_gradients)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(400, 6, &x, &y);
    struct clann_init uniform01 = {CLANN_INIT_UNIFORM, 0.0f, 1.0f};
    struct clann_model *bad = deep_net(ctx, CLANN_ACTIVATION_TANH, uniform01, 0.05f);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 60;
    ck_assert_int_eq(clann_model_fit(bad, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    double norms[6];
    ck_assert_int_eq(clann_model_grad_norms(bad, norms, 6), CLANN_OK);
    printf("tanh + U(0,1) gradient norms, input to output:");
    for (int i = 0; i < 6; i++)
        printf(" %.2e", norms[i]);
    struct clann_metrics mb, mg;
    ck_assert_int_eq(clann_model_evaluate(bad, &x, &y, &mb), CLANN_OK);
    printf("\n  accuracy %.3f\n", mb.accuracy);
    ck_assert_msg(mb.accuracy < 0.7, "the saturated tanh network learned (%g)", mb.accuracy);
    ck_assert_msg(norms[0] < 1e-2 * norms[5], "first-layer gradient %g not vanishing vs %g",
                  norms[0], norms[5]);

    struct clann_init he = {CLANN_INIT_HE_UNIFORM, 0, 0};
    struct clann_model *good = deep_net(ctx, CLANN_ACTIVATION_RELU, he, 0.05f);
    fp.epochs = 150;
    ck_assert_int_eq(clann_model_fit(good, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_evaluate(good, &x, &y, &mg), CLANN_OK);
    printf("ReLU + He uniform: accuracy %.3f\n", mg.accuracy);
    ck_assert_msg(mg.accuracy >= 0.95, "ReLU + He reached only %g", mg.accuracy);
    clann_model_destroy(bad);
    clann_model_destroy(good);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

static struct clann_model *momentum_regressor(struct clann_context *ctx)
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {16};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_MOMENTUM);
    ep.optimizer.learning_rate = 0.01f;
    ep.max_batch = 16;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_regressor_create(ctx, 2, 1, &ep, &m), CLANN_OK);
    return m;
}

/* The exploding-gradient case: an unscaled target (~1e4) with SGD + momentum diverges and is
 * stopped with a diagnosis; clipping the gradient norm to 1, or standardizing the target,
 * trains to a finite, small loss. */
START_TEST(test_exploding_gradients)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(256, 7, &x, &y);
    for (size_t i = 0; i < y.rows; i++)
        y.data[i] = 1e4f * (x.data[2 * i] + 2.0f * x.data[2 * i + 1]) + 2e4f;
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 20;
    struct clann_model *m = momentum_regressor(ctx);
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_NONFINITE);
    ck_assert_msg(strstr(clann_last_error(), "clip"), "%s", clann_last_error());
    ck_assert_msg(!strstr(clann_last_error(), "no layer could be named"), "%s",
                  clann_last_error());
    clann_model_destroy(m);

    m = momentum_regressor(ctx);
    fp.clip_norm = 1.0f;
    fp.epochs = 5;
    struct clann_epoch_log first, last;
    fp.epochs = 1;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &first), CLANN_OK);
    fp.epochs = 40;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &last), CLANN_OK);
    printf("clipped at norm 1: loss %.4g after 1 epoch, %.4g after 41 (finite, falling)\n",
           first.loss, last.loss);
    ck_assert(isfinite(last.loss) && last.loss < first.loss);
    clann_model_destroy(m);

    double mean = 0, var = 0;
    for (size_t i = 0; i < y.rows; i++)
        mean += y.data[i] / y.rows;
    for (size_t i = 0; i < y.rows; i++)
        var += (y.data[i] - mean) * (y.data[i] - mean) / y.rows;
    for (size_t i = 0; i < y.rows; i++)
        y.data[i] = (float)((y.data[i] - mean) / sqrt(var));
    m = momentum_regressor(ctx);
    fp.clip_norm = 0.0f;
    fp.epochs = 60;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &last), CLANN_OK);
    printf("standardized target: loss %.3g\n", last.loss);
    ck_assert(last.loss < 0.05);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

/* Clipping by value bounds every step of plain SGD with lr 1 to clip_value per weight. */
START_TEST(test_clip_by_value)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(16, 8, &x, &y);
    for (size_t i = 0; i < y.rows; i++)
        y.data[i] *= 1000.0f;
    struct clann_estimator_params ep = clann_estimator_default_params();
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    ep.optimizer.learning_rate = 1.0f;
    ep.max_batch = 16;
    struct clann_model *m;
    ck_assert_int_eq(clann_linear_regressor_create(ctx, 2, 1, &ep, &m), CLANN_OK);
    float before[3], after[3];
    ck_assert_int_eq(clann_model_get_params(m, before, 3), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1;
    fp.clip_value = 0.01f;
    fp.clip_global_norm = 100.0f; /* combined with the value clip */
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_get_params(m, after, 3), CLANN_OK);
    for (int i = 0; i < 3; i++)
        ck_assert_msg(fabsf(after[i] - before[i]) <= 0.01f + 1e-6f, "w%d moved %g", i,
                      after[i] - before[i]);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

struct snapshots {
    struct clann_model *m;
    float *p[200];
    size_t epochs;
};

static bool snapshot(const struct clann_epoch_log *log, void *user)
{
    struct snapshots *s = user;
    size_t n = clann_model_param_count(s->m);
    s->p[log->epoch] = malloc(n * sizeof(float));
    ck_assert_int_eq(clann_model_get_params(s->m, s->p[log->epoch], n), CLANN_OK);
    s->epochs = log->epoch;
    return true;
}

/* Early stopping on an overfitting network: stops within patience + 1 epochs of the best
 * epoch and restores the best epoch's weights bit for bit. */
START_TEST(test_early_stopping)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y, vx, vy;
    two_circles(40, 9, &x, &y);
    two_circles(400, 10, &vx, &vy);
    for (size_t i = 0; i < 8; i++)
        y.data[i] = 1.0f - y.data[i]; /* label noise to overfit */
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {256, 256};
    ep.hidden_units = hidden;
    ep.n_hidden = 2;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.01f;
    ep.max_batch = 8;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 2, 2, &ep, &m), CLANN_OK);
    struct snapshots s = {m, {0}, 0};
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 150;
    fp.early_stopping.enabled = true;
    fp.early_stopping.patience = 5;
    fp.on_epoch = snapshot;
    fp.user = &s;
    struct clann_epoch_log last;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, &vx, &vy, &fp, &last), CLANN_OK);
    printf("early stopping: best epoch %zu, stopped after epoch %zu\n", last.best_epoch, s.epochs);
    ck_assert_uint_lt(s.epochs, 150);
    ck_assert_uint_eq(s.epochs, last.best_epoch + fp.early_stopping.patience);
    size_t n = clann_model_param_count(m);
    float *now = malloc(n * sizeof *now);
    ck_assert_int_eq(clann_model_get_params(m, now, n), CLANN_OK);
    ck_assert_msg(memcmp(now, s.p[last.best_epoch], n * sizeof *now) == 0,
                  "restored weights differ from the best epoch's");
    free(now);
    for (size_t e = 1; e <= s.epochs; e++)
        free(s.p[e]);
    clann_model_destroy(m);
    free2(&x, &y);
    free2(&vx, &vy);
    clann_context_destroy(ctx);
}
END_TEST

static bool check_auc(const struct clann_epoch_log *log, void *user)
{
    *(double *)user = log->val_auc;
    ck_assert_msg(log->val_auc >= 0.5 && log->val_auc <= 1.0, "val_auc %g", log->val_auc);
    return true;
}

/* A 2-16-`classes` classifier (Adam, learning rate 0.05) and fit parameters for `epochs` that
 * check every epoch's val_auc and leave the last in *auc. */
static struct clann_model *auc_classifier(struct clann_context *ctx, size_t classes,
                                          size_t epochs, struct clann_fit_params *fp,
                                          double *auc)
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {16};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.05f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_classifier_create(ctx, 2, classes, &ep, &m), CLANN_OK);
    *fp = clann_fit_default_params();
    fp->epochs = epochs;
    fp->on_epoch = check_auc;
    fp->user = auc;
    return m;
}

/* Binary classifiers log the validation ROC AUC, and early stopping can watch it. */
START_TEST(test_val_auc_monitor)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y, vx, vy;
    two_circles(200, 12, &x, &y);
    two_circles(200, 13, &vx, &vy);
    double auc = 0;
    struct clann_fit_params fp;
    struct clann_model *m = auc_classifier(ctx, 2, 30, &fp, &auc);
    fp.early_stopping.enabled = true;
    fp.early_stopping.monitor = "val_auc";
    fp.early_stopping.patience = 5;
    ck_assert_msg(clann_model_fit(m, &x, &y, &vx, &vy, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_msg(auc > 0.9, "validation AUC %g", auc);
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_INVALID_ARG);
    ck_assert_msg(strstr(clann_last_error(), "needs validation data"), "%s", clann_last_error());
    clann_model_destroy(m);
    free2(&x, &y);
    free2(&vx, &vy);
    clann_context_destroy(ctx);
}
END_TEST

/* Softmax classifiers log the macro one-vs-rest AUC: three rings (radius 0.5, 1, 1.5), and
 * the last epoch's val_auc is that of the final model's predictions. */
START_TEST(test_val_auc_multiclass)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x[2], y[2];
    for (int k = 0; k < 2; k++) {
        two_circles(300, 20 + (uint64_t)k, &x[k], &y[k]);
        for (size_t i = 0; i < 300; i++) {
            y[k].data[i] = (float)(i % 3);
            float scale = (float)(i % 3 + 1) / (i % 2 ? 1.0f : 0.5f) * 0.5f; /* radius 0.5i */
            x[k].data[2 * i] *= scale;
            x[k].data[2 * i + 1] *= scale;
        }
    }
    double auc = 0;
    struct clann_fit_params fp;
    struct clann_model *m = auc_classifier(ctx, 3, 20, &fp, &auc);
    ck_assert_msg(clann_model_fit(m, &x[0], &y[0], &x[1], &y[1], &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_msg(auc > 0.9, "validation AUC %g", auc);
    struct clann_matrix p;
    double direct;
    ck_assert_int_eq(clann_model_predict(m, &x[1], &p), CLANN_OK);
    ck_assert_int_eq(clann_multiclass_roc_auc(p.data, y[1].data, 300, 3, NULL, &direct),
                     CLANN_OK);
    ck_assert_msg(fabs(direct - auc) < 1e-12, "logged %g, predicted %g", auc, direct);
    clann_matrix_free(&p);
    clann_model_destroy(m);
    for (int k = 0; k < 2; k++)
        free2(&x[k], &y[k]);
    clann_context_destroy(ctx);
}
END_TEST

static bool record_lr(const struct clann_epoch_log *log, void *user)
{
    ((double *)user)[log->epoch] = log->learning_rate;
    return true;
}

START_TEST(test_schedules)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    two_circles(32, 11, &x, &y);
    struct clann_estimator_params ep = clann_estimator_default_params();
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    ep.optimizer.learning_rate = 0.1f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_linear_classifier_create(ctx, 2, 2, &ep, &m), CLANN_OK);
    double lr[16] = {0};
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 6;
    fp.schedule.kind = CLANN_SCHEDULE_STEP;
    fp.schedule.step_epochs = 2;
    fp.schedule.factor = 0.5f;
    fp.on_epoch = record_lr;
    fp.user = lr;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_double_eq_tol(lr[1], 0.1, 1e-7);
    ck_assert_double_eq_tol(lr[2], 0.1, 1e-7);
    ck_assert_double_eq_tol(lr[3], 0.05, 1e-7);
    ck_assert_double_eq_tol(lr[6], 0.025, 1e-7);
    fp.schedule.kind = CLANN_SCHEDULE_EXPONENTIAL; /* one step per epoch here */
    fp.schedule.decay_rate = 0.5f;
    fp.schedule.decay_steps = 1;
    fp.epochs = 3;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_double_eq_tol(lr[3], 0.1 * pow(0.5, 9), 1e-9);
    fp.schedule.kind = CLANN_SCHEDULE_PLATEAU; /* loss cannot improve with lr 1e-12 */
    fp.schedule.patience = 1;
    fp.schedule.factor = 0.5f;
    fp.schedule.min_lr = 1e-13f;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    clann_model_destroy(m);
    free2(&x, &y);
    clann_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("regularize");
    TCase *tc = tcase_create("regularize");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, test_l1_feature_selection);
    tcase_add_test(tc, test_l1_adam_strength);
    tcase_add_test(tc, test_max_norm_every_step);
    tcase_add_test(tc, test_constraint_kinds);
    tcase_add_test(tc, test_penalty_apart_from_loss);
    tcase_add_test(tc, test_val_loss_is_eval_loss);
    tcase_add_test(tc, test_batchnorm_gradcheck);
    tcase_add_test(tc, test_batchnorm_split);
    tcase_add_test(tc, test_batchnorm_model);
    tcase_add_test(tc, test_batchnorm_refresh);
    tcase_add_test(tc, test_random_layers_inference);
    tcase_add_test(tc, test_vanishing_gradients);
    tcase_add_test(tc, test_exploding_gradients);
    tcase_add_test(tc, test_clip_by_value);
    tcase_add_test(tc, test_early_stopping);
    tcase_add_test(tc, test_schedules);
    tcase_add_test(tc, test_val_auc_monitor);
    tcase_add_test(tc, test_val_auc_multiclass);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
