/*
 * test-transfer.c - transfer learning for dense layers: frozen layers stay bit for bit through
 * training on every backend (with penalties, noise, constraints and batch norm), their
 * gradients are not computed; layers loaded from another model file equal its tensors; shape
 * mismatches fail clearly; the flags and sources survive the spec, model files and
 * checkpoints; and a transferred, frozen feature extractor beats training from scratch on a
 * related task with few examples.
 */
#include "testutil.h"

static char scratch[4096];

static const char *tmp_path(const char *name)
{
    static char buf[4][4200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", scratch, name);
    return buf[k];
}

/* A seeded normal generator (Box-Muller over a 64-bit LCG): the data are the same everywhere. */
static uint64_t lcg_state;
static double uniform01(void)
{
    lcg_state = lcg_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return ((double)(lcg_state >> 11) + 0.5) / 9007199254740992.0;
}
static float gauss(void)
{
    return (float)(sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01()));
}

/* Inputs x (rows x 20, N(0,1)) and class labels argmax(tanh(x W) V) for a head V: tasks with
 * different heads V share the hidden features tanh(x W). */
#define IN 20
#define HID 8
#define CLASSES 4
static void make_task(size_t rows, const float *w, const float *v, uint64_t seed,
                      struct clann_matrix *x, struct clann_matrix *y)
{
    lcg_state = seed;
    ck_assert_int_eq(clann_matrix_create(rows, IN, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(rows, 1, y), CLANN_OK);
    for (size_t r = 0; r < rows; r++) {
        float h[HID], best = -INFINITY;
        for (size_t i = 0; i < IN; i++)
            x->data[r * IN + i] = gauss();
        for (size_t j = 0; j < HID; j++) {
            double s = 0.0;
            for (size_t i = 0; i < IN; i++)
                s += x->data[r * IN + i] * w[i * HID + j];
            h[j] = (float)tanh(s);
        }
        for (size_t c = 0; c < CLASSES; c++) {
            float s = 0.0f;
            for (size_t j = 0; j < HID; j++)
                s += h[j] * v[j * CLASSES + c];
            if (s > best) {
                best = s;
                y->data[r] = (float)c;
            }
        }
    }
}

static void random_fill(float *a, size_t n, uint64_t seed, float scale)
{
    lcg_state = seed;
    for (size_t i = 0; i < n; i++)
        a[i] = scale * gauss();
}

/* 20 -> 32 relu -> 32 relu -> outputs, sparse softmax, Adam. */
static struct clann_model *mlp(struct clann_context *ctx, size_t outputs, uint64_t seed,
                               bool batchnorm)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, IN, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(32, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    if (batchnorm)
        ck_assert_int_eq(clann_model_add_batchnorm(m, 0.9f, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    d = clann_dense_default_params(outputs, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.seed = seed;
    cp.max_batch = 32;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    return m;
}

static void fit(struct clann_model *m, const struct clann_matrix *x, const struct clann_matrix *y,
                size_t epochs, const struct clann_fit_params *base)
{
    struct clann_fit_params fp = base ? *base : clann_fit_default_params();
    fp.schedule.kind = CLANN_SCHEDULE_CONSTANT; /* figures that do not move with the defaults */
    fp.epochs = epochs;
    fp.batch_size = 32;
    ck_assert_msg(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
}

static float *params_of(struct clann_model *m)
{
    size_t n = clann_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(m, p, n), CLANN_OK);
    return p;
}

/* The offset and count of layer i's parameters in the collated array. */
static void layer_range(struct clann_model *m, size_t layer, size_t *off, size_t *n)
{
    *off = 0;
    for (size_t i = 0; i <= layer; i++) {
        size_t width, params;
        ck_assert_int_eq(clann_model_layer_shape(m, i, &width, NULL, &params, NULL), CLANN_OK);
        if (i < layer)
            *off += params;
        else
            *n = params;
    }
}

static bool layer_equal(struct clann_model *m, size_t layer, const float *a, const float *b)
{
    size_t off = 0, n = 0;
    layer_range(m, layer, &off, &n);
    return memcmp(a + off, b + off, n * sizeof *a) == 0;
}

/* ---- frozen layers, bit for bit, on every device -------------------------------------------- */

/* Layers 0 (dense) and 1 (batch norm) frozen, or (middle) layer 2 frozen between trained
 * layers; with L1, L2, a max-norm constraint on every kernel, weight and gradient noise and
 * global-norm clipping, which must all leave a frozen layer alone. */
static void check_frozen(const char *device, bool middle)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_REFERENCE);
    struct clann_matrix x, y;
    float w[IN * HID], v[HID * CLASSES];
    random_fill(w, IN * HID, 1, 0.5f);
    random_fill(v, HID * CLASSES, 2, 1.0f);
    make_task(256, w, v, 3, &x, &y);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, IN, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(32, CLANN_ACTIVATION_RELU);
    d.kernel_regularizer = (struct clann_regularizer){1e-3f, 1e-2f};
    d.kernel_constraint.kind = CLANN_CONSTRAINT_MAX_NORM;
    d.kernel_constraint.max_value = 0.5f; /* binding: the initial columns are longer */
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.9f, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    d.units = CLASSES;
    d.activation = CLANN_ACTIVATION_LINEAR;
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.max_batch = 32;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    size_t frozen[2] = {0, 1}, n_frozen = middle ? 1 : 2;
    if (middle)
        frozen[0] = 2;
    for (size_t i = 0; i < n_frozen; i++)
        ck_assert_int_eq(clann_model_set_trainable(m, frozen[i], false), CLANN_OK);
    ck_assert(!clann_model_layer_trainable(m, frozen[0]));
    ck_assert(clann_model_layer_trainable(m, 3));
    size_t width, params, trainable;
    ck_assert_int_eq(clann_model_layer_shape(m, frozen[0], &width, NULL, &params, &trainable),
                     CLANN_OK);
    ck_assert_uint_gt(params, 0);
    ck_assert_uint_eq(trainable, 0);
    float *before = params_of(m);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.weight_noise = 0.01f;
    fp.gradient_noise = 0.01f;
    fp.clip_global_norm = 1.0f;
    fit(m, &x, &y, 3, &fp);
    float *after = params_of(m);
    for (size_t i = 0; i < n_frozen; i++)
        ck_assert_msg(layer_equal(m, frozen[i], before, after), "%s: frozen layer %zu changed",
                      device, frozen[i]);
    for (size_t i = middle ? 0 : 2; i < 4; i++) /* every trained layer moved */
        if (i != frozen[0] || !middle)
            ck_assert_msg(i == 1 || !layer_equal(m, i, before, after),
                          "%s: trained layer %zu did not change", device, i);
    /* Frozen layers' gradients: not computed (zero) */
    double norms[4];
    ck_assert_int_eq(clann_model_grad_norms(m, norms, 4), CLANN_OK);
    for (size_t i = 0; i < n_frozen; i++)
        ck_assert_msg(norms[frozen[i]] == 0.0, "%s: layer %zu has gradient norm %g", device,
                      frozen[i], norms[frozen[i]]);
    ck_assert_msg(norms[3] > 0.0, "%s: the head has no gradient", device);
    if (middle) /* the gradient went through the frozen layer to layer 0 */
        ck_assert_msg(norms[0] > 0.0, "%s: no gradient below the frozen layer", device);
    /* Unfrozen again, the layer trains (fine-tuning). */
    ck_assert_int_eq(clann_model_set_trainable(m, frozen[0], true), CLANN_OK);
    fit(m, &x, &y, 1, NULL);
    float *later = params_of(m);
    ck_assert_msg(!layer_equal(m, frozen[0], after, later), "%s: unfrozen layer %zu stayed",
                  device, frozen[0]);
    free(before), free(after), free(later);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}

START_TEST(test_frozen_cpu)
{
    check_frozen("cpu", false);
    check_frozen("cpu", true);
}
END_TEST

START_TEST(test_frozen_opencl)
{
    char sel[8][32];
    size_t n = test_opencl_devices(sel);
    for (size_t i = 0; i < n; i++) {
        check_frozen(sel[i], false);
        check_frozen(sel[i], true);
    }
}
END_TEST

/* A frozen batch norm normalizes with its running statistics (inference mode): a model whose
 * every layer but the head is frozen predicts in training what it predicts in inference, so
 * its training loss of one epoch at learning rate ~0 equals evaluate's loss. */
START_TEST(test_frozen_batchnorm_inference)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_matrix x, y;
    float w[IN * HID], v[HID * CLASSES];
    random_fill(w, IN * HID, 1, 0.5f);
    random_fill(v, HID * CLASSES, 2, 1.0f);
    make_task(256, w, v, 5, &x, &y);
    struct clann_model *m = mlp(ctx, CLASSES, 9, true);
    fit(m, &x, &y, 2, NULL); /* running statistics away from their 0/1 start */
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(clann_model_set_trainable(m, i, false), CLANN_OK);
    struct clann_metrics ev;
    ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &ev), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1;
    fp.batch_size = 32;
    fp.shuffle = false;
    struct clann_epoch_log log;
    float *before = params_of(m);
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &log), CLANN_OK);
    float *after = params_of(m);
    ck_assert_int_eq(memcmp(before, after, clann_model_param_count(m) * sizeof *before), 0);
    ck_assert_msg(fabs(log.loss - ev.loss) < 1e-5 * ev.loss, "training-mode loss %.9g vs "
                  "inference %.9g: a frozen batch norm must normalize with running statistics",
                  log.loss, ev.loss);
    free(before), free(after);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* The gradient through a frozen batch norm (inference mode: dy gamma / sqrt(var + eps)) is
 * the loss's: one full-batch SGD step on the trained layer 0 below it, (w - w') / lr, against
 * central differences of evaluate's loss (inference mode, as the frozen layer computes). */
START_TEST(test_frozen_batchnorm_gradient)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_matrix x, y;
    float w[IN * HID], v[HID * CLASSES];
    random_fill(w, IN * HID, 1, 0.5f);
    random_fill(v, HID * CLASSES, 2, 1.0f);
    make_task(32, w, v, 8, &x, &y);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, IN, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(16, CLANN_ACTIVATION_TANH);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.5f, 0.0f), CLANN_OK);
    d = clann_dense_default_params(CLASSES, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.max_batch = 32;
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
    const float lr = 0.01f;
    cp.optimizer.learning_rate = lr;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.schedule.kind = CLANN_SCHEDULE_CONSTANT; /* the step is lr times the gradient */
    fp.batch_size = 32;
    fp.epochs = 3; /* running statistics, gamma and beta away from 0, 1 */
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_set_trainable(m, 1, false), CLANN_OK);
    ck_assert_int_eq(clann_model_set_trainable(m, 2, false), CLANN_OK);
    size_t n = clann_model_param_count(m);
    float *p0 = params_of(m);
    fp.epochs = 1;
    fp.shuffle = false;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    float *p1 = params_of(m);
    for (size_t i = 0; i < 40; i += 3) { /* kernel entries of layer 0 */
        double g = ((double)p0[i] - p1[i]) / lr, eps = 1e-2;
        float *q = malloc(n * sizeof *q);
        memcpy(q, p0, n * sizeof *q);
        double loss[2];
        for (int k = 0; k < 2; k++) {
            q[i] = (float)(p0[i] + (k ? -eps : eps));
            ck_assert_int_eq(clann_model_set_params(m, q, n), CLANN_OK);
            struct clann_metrics ev;
            ck_assert_int_eq(clann_model_evaluate(m, &x, &y, &ev), CLANN_OK);
            loss[k] = ev.loss;
        }
        double fd = (loss[0] - loss[1]) / (2 * eps);
        ck_assert_msg(fabs(fd - g) <= 0.02 * fabs(fd) + 2e-4, "weight %zu: gradient %.6g, "
                      "finite difference %.6g", i, g, fd);
        free(q);
    }
    free(p0), free(p1);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* Convolutions freeze too: conv2d (layer 0) frozen under a trained conv2d (layer 1): its
 * kernel and bias stay, the gradient passes through it to nothing, and layer 1 trains. */
START_TEST(test_frozen_conv)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 36, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_set_input_shape(m, 1, 6, 6), CLANN_OK);
    struct clann_conv2d_params c = clann_conv2d_default_params(3, 3, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_conv2d(m, &c), CLANN_OK);
    ck_assert_int_eq(clann_model_add_conv2d(m, &c), CLANN_OK);
    ck_assert_int_eq(clann_model_add_flatten(m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.max_batch = 16;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(64, 36, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(64, 1, &y), CLANN_OK);
    random_fill(x.data, 64 * 36, 7, 1.0f);
    for (size_t r = 0; r < 64; r++)
        y.data[r] = (float)(r % 3);
    ck_assert_int_eq(clann_model_set_trainable(m, 0, false), CLANN_OK);
    float *before = params_of(m);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.batch_size = 16;
    fp.epochs = 2;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
    float *after = params_of(m);
    ck_assert(layer_equal(m, 0, before, after));
    ck_assert(!layer_equal(m, 1, before, after));
    ck_assert(!layer_equal(m, 3, before, after));
    free(before), free(after);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* ---- loading layers ------------------------------------------------------------------------- */

START_TEST(test_load_layers)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y;
    float w[IN * HID], v[HID * CLASSES];
    random_fill(w, IN * HID, 1, 0.5f);
    random_fill(v, HID * CLASSES, 2, 1.0f);
    make_task(256, w, v, 3, &x, &y);
    struct clann_model *base = mlp(ctx, CLASSES, 1, false);
    fit(base, &x, &y, 2, NULL);
    const char *path = tmp_path("base.safetensors");
    ck_assert_msg(clann_model_save(base, path) == CLANN_OK, "%s", clann_last_error());
    float *bp = params_of(base);

    struct clann_model *m = mlp(ctx, 6, 2, false); /* another head */
    float *fresh = params_of(m);
    size_t layers[2] = {0, 1};
    ck_assert_msg(clann_model_load_layers(m, path, layers, NULL, 2) == CLANN_OK, "%s",
                  clann_last_error());
    float *mp = params_of(m);
    ck_assert(layer_equal(m, 0, bp, mp));
    ck_assert(layer_equal(m, 1, bp, mp));
    ck_assert(layer_equal(m, 2, fresh, mp)); /* the head is its own */

    /* The head does not fit: a clear error naming both layers and shapes, nothing copied. */
    struct clann_model *c = mlp(ctx, 6, 3, false);
    float *c0 = params_of(c);
    size_t src[2] = {0, 2};
    ck_assert_int_eq(clann_model_load_layers(c, path, src, NULL, 2), CLANN_ERR_SHAPE);
    const char *msg = clann_last_error();
    ck_assert_msg(strstr(msg, "layer 2 of") && strstr(msg, "base.safetensors") &&
                      strstr(msg, "dense 32x4 +bias") && strstr(msg, "dense 32x6 +bias"),
                  "unclear message: %s", msg);
    float *c1 = params_of(c);
    ck_assert_int_eq(memcmp(c0, c1, clann_model_param_count(c) * sizeof *c0), 0);
    size_t far = 7, dst = 0;
    ck_assert_int_eq(clann_model_load_layers(c, path, &far, &dst, 1), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "no layer 7"));
    src[0] = 1; /* layer 1 (32x32) into layer 0 (20x32) */
    ck_assert_int_eq(clann_model_load_layers(c, path, src, &dst, 1), CLANN_ERR_SHAPE);
    ck_assert_int_eq(clann_model_load_layers(c, tmp_path("missing.safetensors"), layers, NULL, 1),
                     CLANN_ERR_IO);

    /* Spec, model file and checkpoint keep the flags and the sources. */
    ck_assert_int_eq(clann_model_set_trainable(m, 0, false), CLANN_OK);
    char *spec;
    ck_assert_int_eq(clann_model_spec_json(m, &spec), CLANN_OK);
    ck_assert_ptr_nonnull(strstr(spec, "\"trainable\":false,\"init_from\":{\"file\":"));
    ck_assert_ptr_nonnull(strstr(spec, "\"init_from\":{\"file\":"));
    const char *mpath = tmp_path("model.safetensors"), *cpath = tmp_path("run.ckpt");
    ck_assert_int_eq(clann_model_save(m, mpath), CLANN_OK);
    ck_assert_int_eq(clann_model_save_checkpoint(m, cpath, 1), CLANN_OK);
    struct clann_model *l, *k, *s;
    ck_assert_msg(clann_model_load(ctx, mpath, &l) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(clann_model_load_checkpoint(ctx, cpath, &k, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    for (int i = 0; i < 2; i++) {
        struct clann_model *o = i ? k : l;
        ck_assert(!clann_model_layer_trainable(o, 0));
        ck_assert(clann_model_layer_trainable(o, 1));
        char *again;
        ck_assert_int_eq(clann_model_spec_json(o, &again), CLANN_OK);
        ck_assert_str_eq(spec, again);
        clann_string_free(again);
    }
    /* A spec builds a model to train: its init_from copies the layers from the base file. */
    ck_assert_msg(clann_model_from_spec_json(ctx, spec, &s) == CLANN_OK, "%s", clann_last_error());
    float *sp = params_of(s);
    ck_assert(layer_equal(s, 0, bp, sp) && layer_equal(s, 1, bp, sp));
    ck_assert(!clann_model_layer_trainable(s, 0));
    free(sp);
    clann_model_destroy(s);
    /* ... and fails clearly when the file is gone. */
    unlink(path);
    ck_assert_int_eq(clann_model_from_spec_json(ctx, spec, &s), CLANN_ERR_IO);
    ck_assert_ptr_null(s);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "base.safetensors"));
    clann_string_free(spec);
    free(bp), free(fresh), free(mp), free(c0), free(c1);
    clann_model_destroy(l), clann_model_destroy(k);
    clann_model_destroy(c), clann_model_destroy(m), clann_model_destroy(base);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_bad_arguments)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = mlp(ctx, CLASSES, 1, false);
    ck_assert_int_eq(clann_model_set_trainable(m, 3, false), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "no layer 3"));
    ck_assert_int_eq(clann_model_set_trainable(NULL, 0, false), CLANN_ERR_INVALID_ARG);
    ck_assert(!clann_model_layer_trainable(m, 3));
    ck_assert(!clann_model_layer_trainable(NULL, 0));
    size_t l = 0;
    ck_assert_int_eq(clann_model_load_layers(m, NULL, &l, NULL, 1), CLANN_ERR_INVALID_ARG);
    struct clann_model *raw;
    ck_assert_int_eq(clann_model_create(ctx, IN, &raw), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(4, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(raw, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_load_layers(raw, "x.safetensors", &l, NULL, 1), CLANN_ERR_STATE);
    ck_assert_int_eq(clann_model_set_trainable(raw, 0, false), CLANN_OK); /* before compile */
    ck_assert(!clann_model_layer_trainable(raw, 0));
    /* A spec's bad keys are named. */
    struct clann_model *s;
    const char *bad = "{\"format\":\"clann-model\",\"format_version\":\"1.2\",\"inputs\":3,"
                      "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":1,"
                      "\"init_from\":{\"file\":\"a.safetensors\"}}]}";
    ck_assert_int_eq(clann_model_from_spec_json(ctx, bad, &s), CLANN_ERR_FORMAT);
    ck_assert_msg(strstr(clann_last_error(), "layers[0].init_from.layer"), "%s",
                  clann_last_error());
    const char *bad2 = "{\"format\":\"clann-model\",\"format_version\":\"1.2\",\"inputs\":3,"
                       "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":1,"
                       "\"trainable\":0}]}";
    ck_assert_int_eq(clann_model_from_spec_json(ctx, bad2, &s), CLANN_ERR_FORMAT);
    ck_assert_msg(strstr(clann_last_error(), "layers[0].trainable"), "%s", clann_last_error());
    clann_model_destroy(raw);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* ---- the transfer experiment ---------------------------------------------------------------- */

/* The hidden features tanh(x W) of rows of x: the base task's regression targets. */
static void features_of(const struct clann_matrix *x, const float *w, struct clann_matrix *h)
{
    ck_assert_int_eq(clann_matrix_create(x->rows, HID, h), CLANN_OK);
    for (size_t r = 0; r < x->rows; r++)
        for (size_t j = 0; j < HID; j++) {
            double s = 0.0;
            for (size_t i = 0; i < IN; i++)
                s += x->data[r * IN + i] * w[i * HID + j];
            h->data[r * HID + j] = (float)tanh(s);
        }
}

/* A base network learns the 8 features tanh(x W) by regression from 4000 rows (MSE); the
 * related task classifies rows by a linear head on those features, argmax(tanh(x W) V), from
 * 40 rows. The base's two hidden layers, frozen, under a new head trained on the 40 rows,
 * against the same network trained on them from scratch; both judged on 4000 test rows. */
START_TEST(test_transfer_experiment)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    float w[IN * HID], v[HID * CLASSES];
    random_fill(w, IN * HID, 11, 0.5f);
    random_fill(v, HID * CLASSES, 12, 1.0f);
    struct clann_matrix xa, ya, ha, xb, yb, xt, yt;
    make_task(4000, w, v, 21, &xa, &ya);
    features_of(&xa, w, &ha);
    make_task(40, w, v, 22, &xb, &yb);
    make_task(4000, w, v, 23, &xt, &yt);
    struct clann_model *base;
    ck_assert_int_eq(clann_model_create(ctx, IN, &base), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(32, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_dense(base, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dense(base, &d), CLANN_OK);
    d = clann_dense_default_params(HID, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(base, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = 32;
    ck_assert_int_eq(clann_model_compile(base, &cp), CLANN_OK);
    fit(base, &xa, &ha, 40, NULL);
    struct clann_metrics mb;
    ck_assert_int_eq(clann_model_evaluate(base, &xa, &ha, &mb), CLANN_OK);
    const char *path = tmp_path("base.safetensors");
    ck_assert_int_eq(clann_model_save(base, path), CLANN_OK);

    struct clann_model *scratch_m = mlp(ctx, CLASSES, 2, false);
    struct clann_model *transfer = mlp(ctx, CLASSES, 2, false); /* its own head */
    size_t layers[2] = {0, 1};
    ck_assert_int_eq(clann_model_load_layers(transfer, path, layers, NULL, 2), CLANN_OK);
    ck_assert_int_eq(clann_model_set_trainable(transfer, 0, false), CLANN_OK);
    ck_assert_int_eq(clann_model_set_trainable(transfer, 1, false), CLANN_OK);
    fit(scratch_m, &xb, &yb, 500, NULL);
    fit(transfer, &xb, &yb, 500, NULL);
    struct clann_metrics ms, mt;
    ck_assert_int_eq(clann_model_evaluate(scratch_m, &xt, &yt, &ms), CLANN_OK);
    ck_assert_int_eq(clann_model_evaluate(transfer, &xt, &yt, &mt), CLANN_OK);
    fprintf(stderr, "transfer experiment: base feature MSE %.4f; 4 classes from 40 rows: "
                    "scratch %.4f, transferred+frozen %.4f (test accuracy, 4000 rows)\n",
            mb.loss, ms.accuracy, mt.accuracy);
    ck_assert_msg(mb.loss < 0.02, "the base did not learn the features: MSE %g", mb.loss);
    ck_assert_msg(mt.accuracy > ms.accuracy + 0.10, "transfer %.4f does not beat scratch %.4f",
                  mt.accuracy, ms.accuracy);
    clann_model_destroy(base), clann_model_destroy(scratch_m), clann_model_destroy(transfer);
    struct clann_matrix *all[] = {&xa, &ya, &ha, &xb, &yb, &xt, &yt};
    for (size_t i = 0; i < 7; i++)
        clann_matrix_free(all[i]);
    clann_context_destroy(ctx);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transfer");
    TCase *tc = tcase_create("transfer");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_frozen_cpu);
    tcase_add_test(tc, test_frozen_opencl);
    tcase_add_test(tc, test_frozen_batchnorm_inference);
    tcase_add_test(tc, test_frozen_batchnorm_gradient);
    tcase_add_test(tc, test_frozen_conv);
    tcase_add_test(tc, test_load_layers);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_transfer_experiment);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!test_scratch_make(scratch, sizeof scratch, "clann-transfer"))
        return 1;
    int failed = test_run_suite(suite());
    test_remove_tree(scratch);
    return failed;
}
