/*
 * test-checkpoint.c - checkpoints (docs/testing.md #22 and #23): training resumed from a
 * checkpoint continues bitwise identically to an uninterrupted run on the same device, on the
 * CPU backend and on every OpenCL device; checkpoints and plain model files load both ways
 * where they should, and malformed checkpoints fail with a specific status.
 */
#include "testutil.h"

#include <stdint.h>
#include <unistd.h>

#define ROWS 96
#define INPUTS 5

static char scratch[256];

static void scratch_make(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(scratch, sizeof scratch, "%s/clann-ckpt-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(scratch)) { /* outside a test: Check's asserts cannot report here */
        perror("mkdtemp");
        exit(EXIT_FAILURE);
    }
}

static void scratch_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", scratch, name);
}

/* A fixed, seeded regression-ish three-class task. */
static void make_data(struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(ROWS, INPUTS, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(ROWS, 1, y), CLANN_OK);
    uint32_t s = 12345u;
    for (size_t i = 0; i < ROWS; i++) {
        float sum = 0.0f;
        for (size_t j = 0; j < INPUTS; j++) {
            s = s * 1664525u + 1013904223u;
            x->data[i * INPUTS + j] = (float)(s >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
            sum += x->data[i * INPUTS + j] * (float)(j + 1);
        }
        y->data[i] = sum > 1.0f ? 2.0f : sum > -1.0f ? 1.0f : 0.0f;
    }
}

/* A model with every kind of training state: dropout and noise (step-keyed randomness), batch
 * normalization (running statistics), PReLU slopes, and the optimizer's two state buffers. */
static struct clann_model *make_model(struct clann_context *ctx, enum clann_optimizer opt)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, INPUTS, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(16, CLANN_ACTIVATION_PRELU);
    d.kernel_regularizer.l2 = 1e-3f;
    ck_assert_int_eq(clann_model_add_noise(m, 0.05f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.0f, 0.0f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dropout(m, 0.25f), CLANN_OK);
    d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.optimizer = clann_optimizer_default_params(opt);
    cp.optimizer.nesterov = opt == CLANN_OPTIMIZER_MOMENTUM;
    cp.max_batch = 16;
    cp.seed = 7;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    return m;
}

static float *params_of(struct clann_model *m)
{
    size_t n = clann_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(clann_model_get_params(m, p, n), CLANN_OK);
    return p;
}

static struct clann_fit_params fit_params(size_t epochs)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = epochs;
    fp.batch_size = 12; /* 8 steps an epoch */
    fp.schedule.kind = CLANN_SCHEDULE_EXPONENTIAL; /* the rate changes every step */
    fp.schedule.decay_rate = 0.5f;
    fp.schedule.decay_steps = 10;
    return fp;
}

/* 4 epochs straight against 2 + checkpoint + load + 2, on one device. */
static void check_resume(const char *device, enum clann_optimizer opt)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y;
    make_data(&x, &y);
    struct clann_fit_params four = fit_params(4), two = fit_params(2);
    struct clann_epoch_log straight_log, resumed_log;

    struct clann_model *a = make_model(ctx, opt);
    ck_assert_int_eq(clann_model_fit(a, &x, &y, &x, &y, &four, &straight_log), CLANN_OK);

    char path[320];
    scratch_path(path, sizeof path, "resume.ckpt");
    struct clann_model *b = make_model(ctx, opt), *c = NULL;
    ck_assert_int_eq(clann_model_fit(b, &x, &y, &x, &y, &two, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_save_checkpoint(b, path, 2), CLANN_OK);
    clann_model_destroy(b);
    size_t epoch = 0;
    ck_assert_msg(clann_model_load_checkpoint(ctx, path, &c, &epoch) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_uint_eq(epoch, 2);
    ck_assert_int_eq(clann_model_fit(c, &x, &y, &x, &y, &two, &resumed_log), CLANN_OK);

    float *pa = params_of(a), *pc = params_of(c);
    size_t n = clann_model_param_count(a);
    ck_assert_uint_eq(clann_model_param_count(c), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&pa[i], &pc[i], sizeof(float)) == 0,
                      "%s, optimizer %d: parameter %zu differs after resuming: %.9g vs %.9g",
                      device, (int)opt, i, pa[i], pc[i]);
    ck_assert_uint_eq(straight_log.steps, resumed_log.steps);
    ck_assert(straight_log.loss == resumed_log.loss);
    ck_assert(straight_log.val_loss == resumed_log.val_loss);
    ck_assert(straight_log.learning_rate == resumed_log.learning_rate);
    printf("resume parity on %s (optimizer %d): %zu parameters bitwise equal\n", device,
           (int)opt, n);
    free(pa);
    free(pc);
    clann_model_destroy(a);
    clann_model_destroy(c);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
    unlink(path);
}

START_TEST(test_resume_cpu)
{
    enum clann_optimizer opts[] = {CLANN_OPTIMIZER_ADAM, CLANN_OPTIMIZER_MOMENTUM,
                                   CLANN_OPTIMIZER_ADAGRAD, CLANN_OPTIMIZER_RMSPROP};
    for (size_t i = 0; i < sizeof opts / sizeof *opts; i++)
        check_resume("cpu", opts[i]);
}
END_TEST

START_TEST(test_resume_opencl)
{
    char sel[8][32];
    size_t n = test_opencl_devices(sel);
    if (n == 0)
        printf("no OpenCL device: resume parity checked on the CPU backend only\n");
    for (size_t i = 0; i < n; i++) {
        check_resume(sel[i], CLANN_OPTIMIZER_ADAM);
        check_resume(sel[i], CLANN_OPTIMIZER_MOMENTUM);
    }
}
END_TEST

/* A model with an embedding column (ids 0..49, dimension 4) beside one numeric column: its
 * tables and their per-row optimizer state live outside the parameter array. */
struct feature_task {
    struct clann_features *fs;
    struct clann_matrix x, y;
};

static void feature_task_make(struct feature_task *t)
{
    float id[ROWS], v[ROWS];
    ck_assert_int_eq(clann_matrix_create(ROWS, 1, &t->y), CLANN_OK);
    for (size_t i = 0; i < ROWS; i++) {
        id[i] = (float)((i * 37u) % 50u);
        v[i] = (float)((i * 11u) % 7u) / 7.0f - 0.5f;
        t->y.data[i] = v[i] + (float)((size_t)id[i] % 5u) * 0.25f;
    }
    struct clann_table *tab;
    ck_assert_int_eq(clann_table_create(ROWS, &tab), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(tab, "v", v), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(tab, "id", id), CLANN_OK);
    struct clann_feature_column c[2] = {
        clann_feature_column_default(CLANN_FEATURE_NUMERIC, "v"),
        clann_feature_column_default(CLANN_FEATURE_IDENTITY, "id")};
    c[1].num_buckets = 50;
    c[1].dimension = 4;
    ck_assert_int_eq(clann_features_create(c, 2, &t->fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(t->fs, tab), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(t->fs, tab, &t->x), CLANN_OK);
    clann_table_destroy(tab);
}

static struct clann_model *feature_model(struct clann_context *ctx, const struct feature_task *t)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create_with_features(ctx, t->fs, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(8, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    cp.max_batch = 16;
    cp.seed = 3;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    return m;
}

static void assert_same_model(struct clann_model *a, struct clann_model *b, const char *what)
{
    float *pa = params_of(a), *pb = params_of(b);
    size_t n = clann_model_param_count(a);
    ck_assert_msg(memcmp(pa, pb, n * sizeof *pa) == 0, "%s: parameters differ", what);
    struct clann_matrix ta, tb;
    ck_assert_int_eq(clann_model_embedding_get(a, "id", &ta), CLANN_OK);
    ck_assert_int_eq(clann_model_embedding_get(b, "id", &tb), CLANN_OK);
    for (size_t i = 0; i < ta.rows * ta.cols; i++)
        ck_assert_msg(memcmp(&ta.data[i], &tb.data[i], sizeof(float)) == 0, "%s: embedding "
                      "value %zu differs: %.9g vs %.9g", what, i, ta.data[i], tb.data[i]);
    clann_matrix_free(&ta), clann_matrix_free(&tb);
    free(pa), free(pb);
}

/* Resuming continues the embedding rows' lazy Adam moments too: 4 epochs straight equal 2 +
 * checkpoint + load + 2, tables included, bit for bit. */
static void check_resume_features(const char *device)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_FAST);
    struct feature_task t;
    feature_task_make(&t);
    struct clann_fit_params four = fit_params(4), two = fit_params(2);
    struct clann_model *a = feature_model(ctx, &t), *b = feature_model(ctx, &t), *c = NULL;
    ck_assert_int_eq(clann_model_fit(a, &t.x, &t.y, NULL, NULL, &four, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_fit(b, &t.x, &t.y, NULL, NULL, &two, NULL), CLANN_OK);
    char path[320];
    scratch_path(path, sizeof path, "features.ckpt");
    ck_assert_int_eq(clann_model_save_checkpoint(b, path, 2), CLANN_OK);
    clann_model_destroy(b);
    ck_assert_msg(clann_model_load_checkpoint(ctx, path, &c, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_int_eq(clann_model_fit(c, &t.x, &t.y, NULL, NULL, &two, NULL), CLANN_OK);
    assert_same_model(a, c, device);
    printf("resume parity with an embedding table on %s: bitwise equal\n", device);
    /* A plain model file of the same model leaves the optimizer state out and still loads. */
    ck_assert_int_eq(clann_model_save(c, path), CLANN_OK);
    clann_model_destroy(c);
    ck_assert_msg(clann_model_load(ctx, path, &c) == CLANN_OK, "%s", clann_last_error());
    clann_model_destroy(c);
    clann_model_destroy(a);
    clann_features_destroy(t.fs);
    clann_matrix_free(&t.x), clann_matrix_free(&t.y);
    clann_context_destroy(ctx);
    unlink(path);
}

START_TEST(test_resume_features)
{
    check_resume_features("cpu");
    char sel[8][32];
    for (size_t i = 0, n = test_opencl_devices(sel); i < n; i++)
        check_resume_features(sel[i]);
}
END_TEST

/* Early stopping's restore-best covers the embedding tables: the model after a run that
 * stopped equals, tables included, a fresh run of just its best epochs. */
START_TEST(test_restore_best_features)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct feature_task t;
    feature_task_make(&t);
    struct clann_matrix vx = {16, t.x.cols, t.x.data}, vy;
    ck_assert_int_eq(clann_matrix_create(16, 1, &vy), CLANN_OK);
    for (size_t i = 0; i < 16; i++)
        vy.data[i] = -t.y.data[i]; /* validation the training contradicts: it gets worse */
    struct clann_fit_params fp = fit_params(12);
    fp.early_stopping.enabled = true;
    fp.early_stopping.patience = 2;
    struct clann_epoch_log log;
    struct clann_model *a = feature_model(ctx, &t), *b = feature_model(ctx, &t);
    ck_assert_int_eq(clann_model_fit(a, &t.x, &t.y, &vx, &vy, &fp, &log), CLANN_OK);
    ck_assert_msg(log.best_epoch >= 1 && log.best_epoch < log.epoch, "best epoch %zu of %zu",
                  log.best_epoch, log.epoch);
    struct clann_fit_params best = fit_params(log.best_epoch);
    ck_assert_int_eq(clann_model_fit(b, &t.x, &t.y, NULL, NULL, &best, NULL), CLANN_OK);
    assert_same_model(a, b, "restore best");
    clann_model_destroy(a), clann_model_destroy(b);
    clann_matrix_free(&vy);
    clann_features_destroy(t.fs);
    clann_matrix_free(&t.x), clann_matrix_free(&t.y);
    clann_context_destroy(ctx);
}
END_TEST

/* A checkpoint is a model file, and a model file is not a checkpoint. */
START_TEST(test_load_both_ways)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = make_model(ctx, CLANN_OPTIMIZER_ADAM), *l = NULL;
    char model[320], ckpt[320];
    scratch_path(model, sizeof model, "plain.safetensors");
    scratch_path(ckpt, sizeof ckpt, "state.ckpt");
    ck_assert_int_eq(clann_model_save(m, model), CLANN_OK);
    ck_assert_int_eq(clann_model_save_checkpoint(m, ckpt, 0), CLANN_OK);

    ck_assert_int_eq(clann_model_load(ctx, ckpt, &l), CLANN_OK);
    float *pm = params_of(m), *pl = params_of(l);
    ck_assert_int_eq(memcmp(pm, pl, clann_model_param_count(m) * sizeof(float)), 0);
    clann_model_destroy(l);

    size_t epoch = 99;
    ck_assert_int_eq(clann_model_load_checkpoint(ctx, model, &l, &epoch), CLANN_ERR_FORMAT);
    ck_assert_ptr_null(l);
    ck_assert_uint_eq(epoch, 0);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "not a checkpoint"));
    ck_assert_int_eq(clann_model_load_checkpoint(ctx, "/nonexistent/x.ckpt", &l, NULL),
                     CLANN_ERR_IO);
    free(pm);
    free(pl);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    unlink(model);
    unlink(ckpt);
}
END_TEST

/* The step count and the learning rate in effect are the trainer's: a second fit call on the
 * same model and a checkpoint both carry them on, and a checkpoint saved before any fit holds
 * step 0 and the compile-time rate. */
START_TEST(test_trainer_state_carries)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y;
    make_data(&x, &y);
    struct clann_fit_params decay = fit_params(1), flat = fit_params(1);
    flat.schedule.kind = CLANN_SCHEDULE_CONSTANT;
    struct clann_epoch_log first, again, resumed, fresh, loaded;
    char path[320];
    scratch_path(path, sizeof path, "trainer.ckpt");

    struct clann_model *m = make_model(ctx, CLANN_OPTIMIZER_ADAM), *c = NULL;
    ck_assert_int_eq(clann_model_save_checkpoint(m, path, 0), CLANN_OK); /* before any fit */
    ck_assert_int_eq(clann_model_load_checkpoint(ctx, path, &c, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &flat, &fresh), CLANN_OK);
    ck_assert_int_eq(clann_model_fit(c, &x, &y, NULL, NULL, &flat, &loaded), CLANN_OK);
    ck_assert_uint_eq(loaded.steps, fresh.steps);
    ck_assert(loaded.loss == fresh.loss);
    ck_assert(loaded.learning_rate == clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM)
                                          .learning_rate);
    clann_model_destroy(c);
    clann_model_destroy(m);

    m = make_model(ctx, CLANN_OPTIMIZER_ADAM);
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &decay, &first), CLANN_OK);
    ck_assert(first.learning_rate < fresh.learning_rate); /* the decay lowered it */
    ck_assert_int_eq(clann_model_save_checkpoint(m, path, 1), CLANN_OK);
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &flat, &again), CLANN_OK);
    ck_assert_int_eq(clann_model_load_checkpoint(ctx, path, &c, NULL), CLANN_OK);
    ck_assert_int_eq(clann_model_fit(c, &x, &y, NULL, NULL, &flat, &resumed), CLANN_OK);
    ck_assert(again.learning_rate == first.learning_rate);
    ck_assert(resumed.learning_rate == first.learning_rate);
    ck_assert_uint_eq(again.steps, 2 * first.steps);
    ck_assert_uint_eq(resumed.steps, again.steps);
    ck_assert(resumed.loss == again.loss);
    clann_model_destroy(c);
    clann_model_destroy(m);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
    unlink(path);
}
END_TEST

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(*len + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Replaces the first occurrence of `from` in the header with `to` (same length). */
static void patch(unsigned char *buf, size_t len, const char *from, const char *to)
{
    size_t n = strlen(from);
    ck_assert_uint_eq(strlen(to), n);
    for (size_t i = 8; i + n <= len; i++) {
        if (memcmp(buf + i, from, n) == 0) {
            memcpy(buf + i, to, n);
            return;
        }
    }
    ck_abort_msg("'%s' not found", from);
}

static enum clann_status load_patched(struct clann_context *ctx, const unsigned char *orig,
                                      size_t len, const char *from, const char *to,
                                      bool as_checkpoint)
{
    unsigned char *buf = malloc(len);
    ck_assert_ptr_nonnull(buf);
    memcpy(buf, orig, len);
    patch(buf, len, from, to);
    char path[320];
    scratch_path(path, sizeof path, "patched.ckpt");
    write_file(path, buf, len);
    free(buf);
    struct clann_model *m = NULL;
    enum clann_status st = as_checkpoint ? clann_model_load_checkpoint(ctx, path, &m, NULL)
                                         : clann_model_load(ctx, path, &m);
    ck_assert(st == CLANN_OK ? m != NULL : m == NULL);
    clann_model_destroy(m);
    unlink(path);
    return st;
}

/* Malformed checkpoints: each fails with its status, with no crash. */
START_TEST(test_bad_checkpoints)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = make_model(ctx, CLANN_OPTIMIZER_ADAM);
    char path[320];
    scratch_path(path, sizeof path, "good.ckpt");
    ck_assert_int_eq(clann_model_save_checkpoint(m, path, 3), CLANN_OK);
    size_t len;
    unsigned char *orig = read_file(path, &len);
    /* An unknown extra tensor is refused even by a plain load. */
    ck_assert_int_eq(load_patched(ctx, orig, len, "optimizer.state2", "optimizer.stateX", false),
                     CLANN_ERR_FORMAT);
    ck_assert_int_eq(load_patched(ctx, orig, len, "\\\"step\\\":0", "\\\"step\\\":x", true),
                     CLANN_ERR_FORMAT);
    ck_assert_int_eq(load_patched(ctx, orig, len, "\\\"epoch\\\":3", "\\\"epoch\\\":-", true),
                     CLANN_ERR_FORMAT);
    ck_assert_int_eq(load_patched(ctx, orig, len, "\\\"format_version\\\":\\\"1",
                                  "\\\"format_version\\\":\\\"9", true),
                     CLANN_ERR_UNSUPPORTED);
    ck_assert_int_eq(load_patched(ctx, orig, len, "clann_checkpoint", "clann_checkpoinX", true),
                     CLANN_ERR_FORMAT);
    ck_assert_int_eq(load_patched(ctx, orig, len, "clann_checkpoint", "clann_checkpoinX", false),
                     CLANN_OK);
    /* Every truncation fails cleanly. */
    for (size_t cut = 0; cut < len; cut += cut < 64 ? 1 : 97) {
        write_file(path, orig, cut);
        struct clann_model *l = NULL;
        enum clann_status st = clann_model_load_checkpoint(ctx, path, &l, NULL);
        ck_assert_msg(st == CLANN_ERR_TRUNCATED || st == CLANN_ERR_FORMAT,
                      "cut at %zu: %s", cut, clann_status_name(st));
        ck_assert_ptr_null(l);
    }
    free(orig);
    unlink(path);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

int main(void)
{
    scratch_make();
    Suite *s = suite_create("checkpoint");
    TCase *tc = tcase_create("checkpoint");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_resume_cpu);
    tcase_add_test(tc, test_resume_opencl);
    tcase_add_test(tc, test_resume_features);
    tcase_add_test(tc, test_restore_best_features);
    tcase_add_test(tc, test_load_both_ways);
    tcase_add_test(tc, test_trainer_state_carries);
    tcase_add_test(tc, test_bad_checkpoints);
    suite_add_tcase(s, tc);
    int rc = test_run_suite(s);
    rmdir(scratch);
    return rc;
}
