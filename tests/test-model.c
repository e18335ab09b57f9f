/*
 * test-model.c - the dense training core on the CPU backend: learning tests (XOR, two spirals,
 * a linear target), determinism, model algebra (no hidden layer = linear model, stacked linear
 * layers collapse to one), numerics of the output head, and every error path of fit.
 */
#include "testutil.h"

#include "core/rng.h"

static struct clann_context *cpu(void)
{
    return test_context("cpu", CLANN_CPU_MODE_FAST);
}

static struct clann_model *mlp(struct clann_context *ctx, size_t in, const size_t *hidden,
                               size_t n_hidden, enum clann_activation act, size_t out,
                               enum clann_loss loss, float lr, size_t batch, uint64_t seed)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, in, &m), CLANN_OK);
    for (size_t i = 0; i < n_hidden; i++) {
        struct clann_dense_params d = clann_dense_default_params(hidden[i], act);
        ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    }
    struct clann_dense_params d = clann_dense_default_params(out, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(loss);
    cp.optimizer.learning_rate = lr;
    cp.max_batch = batch;
    cp.seed = seed;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    return m;
}

static double fit_epochs(struct clann_model *m, struct clann_matrix *x, struct clann_matrix *y,
                         size_t epochs)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = epochs;
    struct clann_epoch_log log;
    ck_assert_msg(clann_model_fit(m, x, y, NULL, NULL, &fp, &log) == CLANN_OK, "%s",
                  clann_last_error());
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, x, y, &mt), CLANN_OK);
    return isnan(mt.accuracy) ? mt.loss : mt.accuracy;
}

START_TEST(test_xor)
{
    struct clann_context *ctx = cpu();
    size_t hidden[] = {8};
    struct clann_model *m = mlp(ctx, 2, hidden, 1, CLANN_ACTIVATION_TANH, 1,
                                CLANN_LOSS_SIGMOID_CROSS_ENTROPY, 0.05f, 4, 42);
    float xs[] = {0, 0, 0, 1, 1, 0, 1, 1}, ys[] = {0, 1, 1, 0};
    struct clann_matrix x = {4, 2, xs}, y = {4, 1, ys};
    ck_assert_double_eq(fit_epochs(m, &x, &y, 500), 1.0);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* Two interleaved spirals: the distribution no linear model or feature cross separates. */
static void spirals(size_t n_per_class, struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(2 * n_per_class, 2, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(2 * n_per_class, 1, y), CLANN_OK);
    for (size_t i = 0; i < 2 * n_per_class; i++) {
        size_t k = i % n_per_class, cls = i / n_per_class;
        double t = 0.25 + 3.0 * (double)k / (double)n_per_class; /* 1.5 turns */
        double angle = 2.0 * 3.14159265358979 * t * 0.5 + (cls ? 3.14159265358979 : 0.0);
        double r = t / 3.25;
        x->data[2 * i] = (float)(r * cos(angle) + 0.01 * clann__rng_normal(7, 1, 2 * i));
        x->data[2 * i + 1] = (float)(r * sin(angle) + 0.01 * clann__rng_normal(7, 1, 2 * i + 1));
        y->data[i] = (float)cls;
    }
}

START_TEST(test_two_spirals)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    spirals(200, &x, &y);
    size_t hidden[] = {64, 64};
    struct clann_model *m = mlp(ctx, 2, hidden, 2, CLANN_ACTIVATION_RELU, 1,
                                CLANN_LOSS_SIGMOID_CROSS_ENTROPY, 0.01f, 32, 3);
    double acc = fit_epochs(m, &x, &y, 400);
    ck_assert_msg(acc >= 0.99, "two spirals: training accuracy %.4f < 0.99", acc);
    clann_model_destroy(m);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_linear_target)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    const size_t n = 1000;
    const float w[3] = {1.5f, -2.0f, 0.5f}, b = 3.0f;
    ck_assert_int_eq(clann_matrix_create(n, 3, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, &y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        float t = b + 0.01f * clann__rng_normal(5, 2, i);
        for (size_t j = 0; j < 3; j++) {
            x.data[3 * i + j] = 4.0f * clann__rng_uniform(5, 1, 3 * i + j) - 2.0f;
            t += w[j] * x.data[3 * i + j];
        }
        y.data[i] = t;
    }
    struct clann_estimator_params ep = clann_estimator_default_params();
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.optimizer.learning_rate = 0.05f;
    ep.max_batch = 32;
    struct clann_model *m;
    ck_assert_int_eq(clann_linear_regressor_create(ctx, 3, 1, &ep, &m), CLANN_OK);
    fit_epochs(m, &x, &y, 60);
    float p[4];
    ck_assert_int_eq(clann_model_param_count(m), 4);
    ck_assert_int_eq(clann_model_get_params(m, p, 4), CLANN_OK);
    for (size_t j = 0; j < 3; j++)
        ck_assert_msg(fabsf(p[j] - w[j]) <= 1e-2f, "w%zu = %g, want %g", j, p[j], w[j]);
    ck_assert_msg(fabsf(p[3] - b) <= 1e-2f, "b = %g, want %g", p[3], b);
    clann_model_destroy(m);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

static float *trained_params(uint64_t seed, size_t *n)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    spirals(50, &x, &y);
    size_t hidden[] = {16, 8};
    struct clann_model *m = mlp(ctx, 2, hidden, 2, CLANN_ACTIVATION_RRELU, 1,
                                CLANN_LOSS_SIGMOID_CROSS_ENTROPY, 0.01f, 16, seed);
    fit_epochs(m, &x, &y, 3);
    *n = clann_model_param_count(m);
    float *p = malloc(*n * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(m, p, *n), CLANN_OK);
    clann_model_destroy(m);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
    return p;
}

START_TEST(test_determinism)
{
    size_t n1, n2, n3;
    float *a = trained_params(11, &n1), *b = trained_params(11, &n2), *c = trained_params(12, &n3);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(a, b, n1 * sizeof *a) == 0, "same seed, different weights");
    ck_assert_msg(memcmp(a, c, n1 * sizeof *a) != 0, "different seeds, same weights");
    free(a);
    free(b);
    free(c);
}
END_TEST

/* A model without hidden layers is exactly a linear model, and stacked linear layers compute
 * x W1 W2 + (b1 W2 + b2): one linear map. */
START_TEST(test_linear_algebra)
{
    struct clann_context *ctx = cpu();
    struct clann_estimator_params ep = clann_estimator_default_params();
    struct clann_model *lin;
    ck_assert_int_eq(clann_dnn_create(ctx, 5, 2, CLANN_LOSS_MSE, &ep, &lin), CLANN_OK);
    ck_assert_uint_eq(clann_model_layer_count(lin), 1);
    ck_assert_uint_eq(clann_model_param_count(lin), 5 * 2 + 2);
    clann_model_destroy(lin);

    size_t hidden[] = {4};
    struct clann_model *m = mlp(ctx, 3, hidden, 1, CLANN_ACTIVATION_LINEAR, 2, CLANN_LOSS_MSE,
                                0.01f, 8, 9);
    float p[3 * 4 + 4 + 4 * 2 + 2];
    ck_assert_int_eq(clann_model_get_params(m, p, 26), CLANN_OK);
    for (size_t i = 12; i < 16; i++)
        p[i] = 0.1f * (float)i; /* nonzero hidden bias */
    ck_assert_int_eq(clann_model_set_params(m, p, 26), CLANN_OK);
    const float *w1 = p, *b1 = p + 12, *w2 = p + 16, *b2 = p + 24;
    float xs[6] = {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f};
    struct clann_matrix x = {2, 3, xs}, out;
    ck_assert_int_eq(clann_model_predict(m, &x, &out), CLANN_OK);
    for (size_t r = 0; r < 2; r++) {
        for (size_t o = 0; o < 2; o++) {
            double v = b2[o];
            for (size_t h = 0; h < 4; h++) {
                double a = b1[h];
                for (size_t i = 0; i < 3; i++)
                    a += xs[3 * r + i] * w1[4 * i + h];
                v += a * w2[2 * h + o];
            }
            ck_assert_double_eq_tol(out.data[2 * r + o], v, 1e-5);
        }
    }
    clann_matrix_free(&out);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_extreme_logits)
{
    struct clann_context *ctx = cpu();
    struct clann_model *m = mlp(ctx, 1, NULL, 0, CLANN_ACTIVATION_LINEAR, 3,
                                CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, 0.01f, 4, 1);
    float p[6] = {1e4f, -1e4f, 0.0f, 0.0f, 0.0f, 0.0f};
    ck_assert_int_eq(clann_model_set_params(m, p, 6), CLANN_OK);
    float xs[3] = {1.0f, -1.0f, 0.0f}, ys[3] = {1.0f, 0.0f, 2.0f};
    struct clann_matrix x = {3, 1, xs}, y = {3, 1, ys}, out;
    ck_assert_int_eq(clann_model_predict(m, &x, &out), CLANN_OK);
    for (size_t r = 0; r < 3; r++) {
        double sum = 0;
        for (size_t c = 0; c < 3; c++) {
            ck_assert(isfinite(out.data[3 * r + c]) && out.data[3 * r + c] >= 0.0f);
            sum += out.data[3 * r + c];
        }
        ck_assert_double_eq_tol(sum, 1.0, 1e-6);
    }
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &mt), CLANN_OK);
    ck_assert(isfinite(mt.loss) && mt.loss >= 0.0);
    /* -log p of the labels: 2e4 for the two saturated rows, log 3 for the uniform one. */
    ck_assert_double_eq_tol(mt.loss, (4e4 + log(3.0)) / 3.0, 1e-2 * 4e4 / 3.0);
    clann_matrix_free(&out);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* Every activation trains a small regression without producing NaN, and lowers the loss. */
START_TEST(test_every_activation_trains)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    spirals(40, &x, &y);
    for (int a = CLANN_ACTIVATION_LINEAR; a <= CLANN_ACTIVATION_SOFTMAX; a++) {
        size_t hidden[] = {16};
        struct clann_model *m = mlp(ctx, 2, hidden, 1, (enum clann_activation)a, 1,
                                    CLANN_LOSS_SIGMOID_CROSS_ENTROPY, 0.01f, 16, 5);
        struct clann_metrics before, after;
        ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &before), CLANN_OK);
        fit_epochs(m, &x, &y, 20);
        ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &after), CLANN_OK);
        ck_assert_msg(isfinite(after.loss) && after.loss < before.loss,
                      "%s: loss %g -> %g", clann_activation_name((enum clann_activation)a),
                      before.loss, after.loss);
        clann_model_destroy(m);
    }
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_fit_errors)
{
    struct clann_context *ctx = cpu();
    size_t hidden[] = {4};
    struct clann_model *m = mlp(ctx, 2, hidden, 1, CLANN_ACTIVATION_RELU, 3,
                                CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, 0.01f, 4, 1);
    float xs[6] = {0, 1, 2, NAN, 4, 5}, ys[3] = {0, 1, 2};
    struct clann_matrix x = {3, 2, xs}, y = {3, 1, ys};
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, NULL, NULL), CLANN_ERR_NONFINITE);
    ck_assert_msg(strstr(clann_last_error(), "row 2, column 2"), "%s", clann_last_error());
    xs[3] = 3;
    ys[1] = 3; /* class 3 of 3 */
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, NULL, NULL), CLANN_ERR_FORMAT);
    ck_assert_msg(strstr(clann_last_error(), "row 2"), "%s", clann_last_error());
    ys[1] = 1;
    struct clann_matrix bad = {3, 3, xs};
    ck_assert_int_eq(clann_model_fit(m, &bad, &y, NULL, NULL, NULL, NULL), CLANN_ERR_SHAPE);
    struct clann_dense_params d = clann_dense_default_params(2, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_ERR_STATE);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.batch_size = 5;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_INVALID_ARG);
    clann_model_destroy(m);

    struct clann_model *m2;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m2), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_SOFTMAX_CROSS_ENTROPY);
    ck_assert_int_eq(clann_model_compile(m2, &cp), CLANN_ERR_SHAPE); /* no layers */
    d = clann_dense_default_params(3, CLANN_ACTIVATION_SOFTMAX);
    ck_assert_int_eq(clann_model_add_dense(m2, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_compile(m2, &cp), CLANN_ERR_SHAPE); /* CE wants logits */
    ck_assert_msg(strstr(clann_last_error(), "logits"), "%s", clann_last_error());
    ck_assert_int_eq(clann_model_add_dropout(m2, 1.5f), CLANN_ERR_INVALID_ARG);
    clann_model_destroy(m2);
    clann_context_destroy(ctx);
}
END_TEST

/* SGD with a learning rate of 1e6 on an unscaled target diverges: fit stops with
 * ERR_NONFINITE and a diagnosis. */
START_TEST(test_divergence_is_reported)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    spirals(50, &x, &y);
    for (size_t i = 0; i < y.rows; i++)
        y.data[i] *= 1e4f;
    size_t hidden[] = {16};
    struct clann_estimator_params ep = clann_estimator_default_params();
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    ep.optimizer.learning_rate = 1e6f;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_create(ctx, 2, 1, CLANN_LOSS_MSE, &ep, &m), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 20;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_NONFINITE);
    ck_assert_msg(strstr(clann_last_error(), "learning rate"), "%s", clann_last_error());
    clann_model_destroy(m);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* Sampled softmax on 300 classes: one step of plain SGD changes only the output columns of the
 * batch's labels and the sampled negatives; training reaches a high full-softmax accuracy. */
START_TEST(test_sampled_softmax)
{
    struct clann_context *ctx = cpu();
    const size_t classes = 300, n = 1200, d = 16;
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(n, d, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, &y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        size_t c = i % classes;
        y.data[i] = (float)c;
        for (size_t j = 0; j < d; j++) /* a fixed random code per class, plus noise */
            x.data[i * d + j] = clann__rng_normal(3, 1, c * d + j) + 0.05f * clann__rng_normal(3, 2, i * d + j);
    }
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, d, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(classes, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.optimizer.learning_rate = 0.5f;
    cp.max_batch = 16;
    cp.num_sampled = 20;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    size_t np = clann_model_param_count(m);
    float *before = malloc(np * sizeof *before), *after = malloc(np * sizeof *after);
    ck_assert_int_eq(clann_model_get_params(m, before, np), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.max_steps = 1;
    fp.shuffle = false;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_get_params(m, after, np), CLANN_OK);
    size_t changed = 0;
    for (size_t c = 0; c < classes; c++) {
        bool moved = after[d * classes + c] != before[d * classes + c]; /* the bias */
        for (size_t j = 0; j < d; j++)
            moved = moved || after[j * classes + c] != before[j * classes + c];
        changed += moved;
    }
    ck_assert_msg(changed >= 20 && changed <= 16 + 20, "%zu output columns moved", changed);
    fp.max_steps = 0;
    fp.shuffle = true;
    fp.epochs = 40;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &mt), CLANN_OK);
    printf("sampled softmax, 300 classes, 20 sampled: full-softmax accuracy %.3f\n", mt.accuracy);
    ck_assert(mt.accuracy > 0.9);
    free(before);
    free(after);
    clann_model_destroy(m);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* 12 inputs -> 16 tanh -> `classes` logits, trained 6 steps compiled with cp. */
static float *params_after(const char *device, const struct clann_compile_params *cp,
                           const struct clann_matrix *x, const struct clann_matrix *y,
                           size_t classes, size_t *np)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_FAST);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, x->cols, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(16, CLANN_ACTIVATION_TANH);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    dp = clann_dense_default_params(classes, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    ck_assert_msg(clann_model_compile(m, cp) == CLANN_OK, "%s", clann_last_error());
    struct clann_fit_params fp = clann_fit_default_params();
    fp.max_steps = 6;
    ck_assert_msg(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    *np = clann_model_param_count(m);
    float *p = malloc(*np * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(m, p, *np), CLANN_OK);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    return p;
}

/* The same, 6 steps of Adam with `loss`. */
static float *params_after_steps(const char *device, enum clann_loss loss, size_t num_sampled,
                                 const struct clann_matrix *x, const struct clann_matrix *y,
                                 size_t classes, size_t *np)
{
    struct clann_compile_params cp = clann_compile_default_params(loss);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    cp.max_batch = 16;
    cp.num_sampled = num_sampled;
    return params_after(device, &cp, x, y, classes, np);
}

static double nmse(const float *a, const float *b, size_t n)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)a[i] * a[i];
    }
    return num / den;
}

/* Sampled softmax gathers the candidates' output columns and scatters their gradients back;
 * with every class a candidate (num_sampled >= classes) that is the identity, and training
 * must equal the plain sparse softmax cross-entropy, on the CPU and every OpenCL device. */
static void sampled_all_classes_is_sparse(const char *device)
{
    const size_t classes = 9, n = 96, d = 12;
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(n, d, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, &y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        y.data[i] = (float)(i % classes);
        for (size_t j = 0; j < d; j++)
            x.data[i * d + j] = clann__rng_normal(5, 1, (i % classes) * d + j) +
                                0.3f * clann__rng_normal(5, 2, i * d + j);
    }
    size_t na, nb;
    float *a = params_after_steps(device, CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, 0, &x, &y,
                                  classes, &na);
    float *b = params_after_steps(device, CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY, classes, &x,
                                  &y, classes, &nb);
    ck_assert_uint_eq(na, nb);
    double num = 0, den = 0;
    for (size_t i = 0; i < na; i++) {
        num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        den += (double)a[i] * a[i];
    }
    printf("sampled softmax over all classes vs sparse softmax on %s: NMSE %.2g\n", device,
           num / den);
    ck_assert_msg(num / den <= 1e-12, "%s: NMSE %g", device, num / den);
    free(a), free(b);
    clann_matrix_free(&x), clann_matrix_free(&y);
}

START_TEST(test_sampled_all_classes_is_sparse)
{
    sampled_all_classes_is_sparse("cpu");
    char sel[8][32];
    for (size_t i = 0, n = test_opencl_devices(sel); i < n; i++)
        sampled_all_classes_is_sparse(sel[i]);
}
END_TEST

/* n rows of 16 features: a fixed random code per class (i % classes) plus noise of scale
 * `noise` from stream `draw` (another draw: another sample of the same problem). */
static void class_codes(size_t n, size_t classes, float noise, uint32_t draw,
                        struct clann_matrix *x, struct clann_matrix *y)
{
    const size_t d = 16;
    ck_assert_int_eq(clann_matrix_create(n, d, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        size_t c = i % classes;
        y->data[i] = (float)c;
        for (size_t j = 0; j < d; j++)
            x->data[i * d + j] = clann__rng_normal(3, 1, c * d + j) +
                                 noise * clann__rng_normal(3, draw, i * d + j);
    }
}

/* A 16 -> classes linear model trained 40 epochs of SGD with `loss` on (x, y); returns its
 * full-softmax accuracy on (tx, ty), and how many output columns its first step moved. */
static double train_codes(enum clann_loss loss, enum clann_sampler sampler,
                          const struct clann_matrix *x, const struct clann_matrix *y,
                          const struct clann_matrix *tx, const struct clann_matrix *ty,
                          size_t classes, size_t *moved)
{
    struct clann_context *ctx = cpu();
    struct clann_model *m;
    const size_t d = x->cols;
    ck_assert_int_eq(clann_model_create(ctx, d, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(classes, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(loss);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.optimizer.learning_rate = 0.5f;
    cp.max_batch = 16;
    cp.num_sampled = 20;
    cp.sampler = sampler;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    size_t np = clann_model_param_count(m);
    float *before = malloc(np * sizeof *before), *after = malloc(np * sizeof *after);
    ck_assert_int_eq(clann_model_get_params(m, before, np), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.schedule.kind = CLANN_SCHEDULE_CONSTANT; /* the losses compared at one learning rate */
    fp.max_steps = 1;
    fp.shuffle = false;
    ck_assert_int_eq(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_get_params(m, after, np), CLANN_OK);
    *moved = 0;
    for (size_t c = 0; c < classes; c++) {
        bool moved_c = after[d * classes + c] != before[d * classes + c]; /* the bias */
        for (size_t j = 0; j < d; j++)
            moved_c = moved_c || after[j * classes + c] != before[j * classes + c];
        *moved += moved_c;
    }
    fp.max_steps = 0;
    fp.shuffle = true;
    fp.epochs = 40;
    ck_assert_int_eq(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL), CLANN_OK);
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, tx, ty, &mt), CLANN_OK);
    ck_assert(isfinite(mt.loss)); /* the full softmax's cross-entropy */
    free(before);
    free(after);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    return mt.accuracy;
}

/* NCE on 300 equally frequent classes with 20 negatives a batch of 16, both samplers: a step
 * moves only the batch's labels' and the negatives' output columns, and the held-out accuracy
 * (the full softmax, as for every model at evaluation) comes near the full-softmax model's:
 * measured 0.890 uniform, 0.861 log-uniform, 0.888 sampled softmax log-uniform vs 0.935 (and
 * no closer at 100 epochs). Log-uniform draws seldom reach the high class indices, as frequent
 * here as the low ones, hence its wider margin. */
START_TEST(test_nce)
{
    const size_t classes = 300;
    struct clann_matrix x, y, tx, ty;
    class_codes(3000, classes, 0.6f, 2, &x, &y);
    class_codes(3000, classes, 0.6f, 4, &tx, &ty);
    size_t moved;
    double full = train_codes(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, CLANN_SAMPLER_UNIFORM, &x,
                              &y, &tx, &ty, classes, &moved);
    ck_assert_uint_eq(moved, classes);
    ck_assert_msg(full > 0.9, "the full softmax model reached %.3f", full);
    const enum clann_sampler samplers[] = {CLANN_SAMPLER_UNIFORM, CLANN_SAMPLER_LOG_UNIFORM};
    for (size_t s = 0; s < 2; s++) {
        double nce = train_codes(CLANN_LOSS_NCE, samplers[s], &x, &y, &tx, &ty, classes, &moved);
        printf("NCE (%s), 300 classes, 20 sampled: full-softmax accuracy %.3f (full softmax "
               "trained: %.3f); first step moved %zu columns\n",
               s ? "log-uniform" : "uniform", nce, full, moved);
        ck_assert_msg(moved >= 20 && moved <= 16 + 20, "%zu output columns moved", moved);
        double margin = samplers[s] == CLANN_SAMPLER_UNIFORM ? 0.06 : 0.10;
        ck_assert_msg(nce >= full - margin, "NCE %.3f vs full %.3f", nce, full);
    }
    /* Sampled softmax with log-uniform draws (corrected logits) learns as well. */
    double ss = train_codes(CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY, CLANN_SAMPLER_LOG_UNIFORM,
                            &x, &y, &tx, &ty, classes, &moved);
    printf("sampled softmax (log-uniform): accuracy %.3f\n", ss);
    ck_assert_msg(ss >= full - 0.06, "sampled softmax %.3f vs full %.3f", ss, full);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_matrix_free(&tx), clann_matrix_free(&ty);
}
END_TEST

/* NCE with every class drawn (num_sampled >= classes, so log E = 0 and every column of a row is
 * its class's or a negative) is the sigmoid cross-entropy against one-hot labels summed over the
 * classes instead of averaged: with SGD at a learning rate `classes` times smaller, training
 * must equal it, on the CPU and every OpenCL device. That checks NCE's gradient through the
 * gathered output layer against an independently tested loss. */
static void nce_all_classes_is_sigmoid(const char *device)
{
    const size_t classes = 9, n = 96, d = 12;
    struct clann_matrix x, y, onehot;
    ck_assert_int_eq(clann_matrix_create(n, d, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, &y), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, classes, &onehot), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        y.data[i] = (float)(i % classes);
        for (size_t c = 0; c < classes; c++)
            onehot.data[i * classes + c] = c == i % classes ? 1.0f : 0.0f;
        for (size_t j = 0; j < d; j++)
            x.data[i * d + j] = clann__rng_normal(5, 1, (i % classes) * d + j) +
                                0.3f * clann__rng_normal(5, 2, i * d + j);
    }
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_NCE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    cp.optimizer.learning_rate = 0.05f;
    cp.max_batch = 16;
    cp.num_sampled = classes;
    size_t na, nb;
    float *a = params_after(device, &cp, &x, &y, classes, &na);
    cp.loss = CLANN_LOSS_SIGMOID_CROSS_ENTROPY;
    cp.optimizer.learning_rate = 0.05f * (float)classes;
    float *b = params_after(device, &cp, &x, &onehot, classes, &nb);
    ck_assert_uint_eq(na, nb);
    double e = nmse(a, b, na);
    printf("NCE over all classes vs summed sigmoid cross-entropy on %s: NMSE %.2g\n", device, e);
    ck_assert_msg(e <= 1e-10, "%s: NMSE %g", device, e);
    free(a), free(b);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&onehot);
}

START_TEST(test_nce_all_classes_is_sigmoid)
{
    nce_all_classes_is_sigmoid("cpu");
    char sel[8][32];
    for (size_t i = 0, n = test_opencl_devices(sel); i < n; i++)
        nce_all_classes_is_sigmoid(sel[i]);
}
END_TEST

/* NCE with log-uniform draws over 40 classes, 6 steps of Adam: every OpenCL device ends where
 * the CPU does (whole-run parity, docs/testing.md: parameter NMSE <= 1e-5). */
START_TEST(test_nce_parity)
{
    const size_t classes = 40, n = 160;
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(n, 12, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(n, 1, &y), CLANN_OK);
    for (size_t i = 0; i < n; i++) {
        y.data[i] = (float)(i * 7 % classes);
        for (size_t j = 0; j < 12; j++)
            x.data[i * 12 + j] = clann__rng_normal(6, 1, i * 12 + j);
    }
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_NCE);
    cp.max_batch = 16;
    cp.num_sampled = 8;
    cp.sampler = CLANN_SAMPLER_LOG_UNIFORM;
    size_t na, nb;
    float *a = params_after("cpu", &cp, &x, &y, classes, &na);
    char sel[8][32];
    size_t devices = test_opencl_devices(sel);
    for (size_t i = 0; i < devices; i++) {
        float *b = params_after(sel[i], &cp, &x, &y, classes, &nb);
        ck_assert_uint_eq(na, nb);
        double e = nmse(a, b, na);
        printf("NCE training, CPU vs %s: parameter NMSE %.2g\n", sel[i], e);
        ck_assert_msg(e <= 1e-5, "%s: NMSE %g", sel[i], e);
        free(b);
    }
    free(a);
    clann_matrix_free(&x), clann_matrix_free(&y);
    if (!devices) /* test_opencl_devices fails a strict run; else the CPU ran alone */
        printf("NCE parity: no OpenCL device\n");
}
END_TEST

/* The spec carries NCE, its sampler and num_sampled; bad values are refused, naming them. */
START_TEST(test_nce_spec)
{
    struct clann_context *ctx = cpu();
    struct clann_model *m, *back;
    ck_assert_int_eq(clann_model_create(ctx, 4, &m), CLANN_OK);
    struct clann_dense_params dp = clann_dense_default_params(50, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &dp), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_NCE);
    cp.num_sampled = 7;
    cp.sampler = CLANN_SAMPLER_LOG_UNIFORM;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    char *spec;
    ck_assert_int_eq(clann_model_spec_json(m, &spec), CLANN_OK);
    ck_assert_ptr_nonnull(strstr(spec, "\"loss\":\"nce\""));
    ck_assert_ptr_nonnull(strstr(spec, "\"sampler\":\"log_uniform\""));
    ck_assert_ptr_nonnull(strstr(spec, "\"num_sampled\":7"));
    ck_assert_int_eq(clann_model_from_spec_json(ctx, spec, &back), CLANN_OK);
    ck_assert_int_eq(clann_model_loss(back), CLANN_LOSS_NCE);
    char *again;
    ck_assert_int_eq(clann_model_spec_json(back, &again), CLANN_OK);
    ck_assert_str_eq(spec, again);
    clann_string_free(again);
    clann_model_destroy(back);
    char *bad = strstr(spec, "log_uniform");
    memcpy(bad, "log_unifurm", 11);
    ck_assert_int_eq(clann_model_from_spec_json(ctx, spec, &back), CLANN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "sampler"));
    ck_assert_ptr_null(back);
    clann_string_free(spec);
    /* No draws: NCE has no negatives and log E would be -inf. */
    struct clann_model *m2;
    ck_assert_int_eq(clann_model_create(ctx, 4, &m2), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dense(m2, &dp), CLANN_OK);
    cp.num_sampled = 0;
    ck_assert_int_eq(clann_model_compile(m2, &cp), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "num_sampled"));
    cp.num_sampled = 5;
    cp.sampler = (enum clann_sampler)7;
    ck_assert_int_eq(clann_model_compile(m2, &cp), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "sampler"));
    clann_model_destroy(m2);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_xor);
    tcase_add_test(tc, test_two_spirals);
    tcase_add_test(tc, test_linear_target);
    tcase_add_test(tc, test_determinism);
    tcase_add_test(tc, test_linear_algebra);
    tcase_add_test(tc, test_extreme_logits);
    tcase_add_test(tc, test_every_activation_trains);
    tcase_add_test(tc, test_fit_errors);
    tcase_add_test(tc, test_divergence_is_reported);
    tcase_add_test(tc, test_sampled_softmax);
    tcase_add_test(tc, test_sampled_all_classes_is_sparse);
    tcase_add_test(tc, test_nce);
    tcase_add_test(tc, test_nce_all_classes_is_sigmoid);
    tcase_add_test(tc, test_nce_parity);
    tcase_add_test(tc, test_nce_spec);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
