/*
 * test-guard.c - the NaN trap guard, the training monitors and the run log: a non-finite batch
 * stops training at its step with the weights of the step before, bit for bit; skip mode goes
 * on; monitors show dead ReLU layers; log.csv and the event file hold the run.
 */
#include "testutil.h"

#include "core/rng.h"

#include <dirent.h>
#include <unistd.h>

static struct clann_context *cpu(void)
{
    return test_context("cpu", CLANN_CPU_MODE_FAST);
}

/* 64 rows of a smooth regression problem; row `bad` (if < 64) gets a feature of 1e30, finite
 * but large enough to overflow the squared error. */
static void data(size_t bad, struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(64, 3, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(64, 1, y), CLANN_OK);
    for (size_t i = 0; i < 64; i++) {
        for (size_t j = 0; j < 3; j++)
            x->data[3 * i + j] = clann__rng_uniform(2, 1, 3 * i + j) - 0.5f;
        y->data[i] = x->data[3 * i] - 2.0f * x->data[3 * i + 1];
    }
    if (bad < 64)
        x->data[3 * bad] = 1e30f;
}

static struct clann_model *net(struct clann_context *ctx)
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {8};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    ep.max_batch = 8;
    struct clann_model *m;
    ck_assert_int_eq(clann_dnn_regressor_create(ctx, 3, 1, &ep, &m), CLANN_OK);
    return m;
}

static float *params_after(struct clann_model *m, struct clann_matrix *x, struct clann_matrix *y,
                           size_t steps, size_t *n)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.shuffle = false;
    fp.max_steps = steps;
    fp.no_batchnorm_refresh = true; /* the statistics the steps themselves leave */
    ck_assert_int_eq(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL), CLANN_OK);
    *n = clann_model_param_count(m);
    float *p = malloc(*n * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(m, p, *n), CLANN_OK);
    return p;
}

/* m's parameters equal expect[0..n) bit for bit (those after step 2 in the tests below). */
static void assert_params_bitwise(struct clann_model *m, const float *expect, size_t n,
                                  const char *device)
{
    float *got = malloc(n * sizeof *got);
    ck_assert_int_eq(clann_model_get_params(m, got, n), CLANN_OK);
    for (size_t i = 0; i < n; i++)
        ck_assert_msg(memcmp(&got[i], &expect[i], sizeof *got) == 0, "%s: parameter %zu is %g, "
                      "%g after step 2", device, i, (double)got[i], (double)expect[i]);
    free(got);
}

/* Runs check on the CPU backend and on every OpenCL device. */
static void on_every_device(void (*check)(const char *device))
{
    check("cpu");
    char devices[8][32];
    for (size_t i = 0, n = test_opencl_devices(devices); i < n; i++)
        check(devices[i]);
}

/* Row 21 sits in batch 3 (rows 16..23): training stops at step 3 and the weights are those
 * after step 2, bit for bit; on the CPU backend and on every OpenCL device. */
static void nan_stops_at_its_step(const char *device)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y, cx, cy;
    data(21, &x, &y);
    data(64, &cx, &cy);
    struct clann_model *ref = net(ctx);
    size_t n;
    float *expect = params_after(ref, &cx, &cy, 2, &n); /* batches 1-2 are the same */

    struct clann_model *m = net(ctx);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.shuffle = false;
    fp.epochs = 2;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_NONFINITE);
    const char *msg = clann_last_error();
    /* Outputs of ~1e29 are finite; their squared error is not. */
    ck_assert_msg(strstr(msg, "step 3 ") && strstr(msg, "batch 3") &&
                      strstr(msg, "first non-finite: the loss") && strstr(msg, "learning rate"),
                  "%s", msg);
    assert_params_bitwise(m, expect, n, device);
    free(expect);
    clann_model_destroy(m);
    clann_model_destroy(ref);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&cx), clann_matrix_free(&cy);
    clann_context_destroy(ctx);
}

START_TEST(test_nan_stops_at_its_step)
{
    on_every_device(nan_stops_at_its_step);
}
END_TEST

/* Skip mode: the bad step changes nothing, training goes on and ends finite; too many skips in
 * an epoch is an error. */
START_TEST(test_nan_skip)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    data(21, &x, &y);
    struct clann_model *m = net(ctx);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.shuffle = false;
    fp.epochs = 3;
    fp.nan_policy = CLANN_NAN_SKIP;
    struct clann_epoch_log log;
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &log) == CLANN_OK, "%s",
                  clann_last_error());
    struct clann_matrix good = {16, 3, x.data}, good_y = {16, 1, y.data};
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, &good, &good_y, &mt), CLANN_OK);
    ck_assert(isfinite(mt.loss));
    for (size_t i = 0; i < 8; i++)
        x.data[3 * (8 * i + 1)] = 1e30f; /* every batch bad */
    fp.max_skips = 3;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_NONFINITE);
    ck_assert_msg(strstr(clann_last_error(), "skipped"), "%s", clann_last_error());
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* max_skips counts skipped steps in a row and is enforced at the step that passes it: with
 * batches 3-6 bad and 2 allowed, training stops at step 5 (the third in a row), inside the
 * first of 3 epochs, with the weights after step 2 bit for bit; the message names the steps and
 * the first non-finite value. Bad batches 3, 4, 6 and 7 (never three in a row) train on. */
static void max_skips_at_its_step(const char *device)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y, cx, cy;
    data(17, &x, &y);
    for (size_t b = 4; b <= 6; b++)
        x.data[3 * (8 * (b - 1) + 1)] = 1e30f;
    data(64, &cx, &cy);
    struct clann_model *ref = net(ctx);
    size_t n;
    float *expect = params_after(ref, &cx, &cy, 2, &n);
    struct clann_model *m = net(ctx);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.shuffle = false;
    fp.epochs = 3;
    fp.nan_policy = CLANN_NAN_SKIP;
    fp.max_skips = 2;
    struct clann_epoch_log log = {0};
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &log), CLANN_ERR_NONFINITE);
    const char *msg = clann_last_error();
    ck_assert_msg(strstr(msg, "3 steps in a row (steps 3 to 5, epoch 1)") &&
                      strstr(msg, "stopped at step 5") && strstr(msg, "after step 2") &&
                      strstr(msg, "first non-finite: the loss"), "%s: %s", device, msg);
    ck_assert_uint_eq(log.epoch, 0); /* no epoch ended */
    assert_params_bitwise(m, expect, n, device);
    clann_model_destroy(m);

    x.data[3 * (8 * 4 + 1)] = 0.5f; /* batch 5 clean: bad 3, 4, 6 and a new 7 */
    x.data[3 * (8 * 6 + 1)] = 1e30f;
    m = net(ctx);
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &log) == CLANN_OK, "%s: %s",
                  device, clann_last_error());
    ck_assert_uint_eq(log.epoch, 3);
    ck_assert_uint_eq(log.steps, 24);
    free(expect);
    clann_model_destroy(m);
    clann_model_destroy(ref);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&cx), clann_matrix_free(&cy);
    clann_context_destroy(ctx);
}

START_TEST(test_max_skips_at_its_step)
{
    on_every_device(max_skips_at_its_step);
}
END_TEST

/* Exploding gradients with every value finite (an unscaled target of ~2e4 and plain SGD):
 * the squared gradient norm overflows first, and the guard names the layer whose gradient
 * exploded and its norm, not "no layer could be named". */
START_TEST(test_explosion_named)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    ck_assert_int_eq(clann_matrix_create(256, 2, &x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(256, 1, &y), CLANN_OK);
    for (size_t i = 0; i < 256; i++) {
        x.data[2 * i] = 3.4f * clann__rng_uniform(5, 1, 2 * i) - 1.7f;
        x.data[2 * i + 1] = 3.4f * clann__rng_uniform(5, 1, 2 * i + 1) - 1.7f;
        y.data[i] = 6e3f * (x.data[2 * i] + 2.0f * x.data[2 * i + 1]) + 2e4f;
    }
    size_t named = 0;
    const float rates[] = {0.002f, 0.003f, 0.005f, 0.007f, 0.02f, 0.05f, 0.2f, 0.3f};
    for (size_t k = 0; k < 8; k++) {
        struct clann_estimator_params ep = clann_estimator_default_params();
        size_t hidden[] = {16};
        ep.hidden_units = hidden;
        ep.n_hidden = 1;
        ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
        ep.optimizer.learning_rate = rates[k];
        ep.max_batch = 16;
        struct clann_model *m;
        ck_assert_int_eq(clann_dnn_regressor_create(ctx, 2, 1, &ep, &m), CLANN_OK);
        struct clann_fit_params fp = clann_fit_default_params();
        fp.epochs = 5;
        enum clann_status st = clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL);
        const char *msg = st == CLANN_ERR_NONFINITE ? clann_last_error() : "trained";
        printf("lr %g: %s\n", rates[k], msg);
        ck_assert(st == CLANN_OK || st == CLANN_ERR_NONFINITE);
        ck_assert_msg(!strstr(msg, "no layer could be named"), "lr %g: %s", rates[k], msg);
        named += strstr(msg, "explodes: norm ") != NULL;
        clann_model_destroy(m);
    }
    ck_assert_uint_gt(named, 0); /* the overflowing-norm case was met and named */
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* 3-8(batch norm)-1 with L1 on the first kernel and a min-max-norm constraint at rate 0.5 on
 * the second (neither is a no-op when repeated, so a skipped step that ran them would show). */
static struct clann_model *regularized_net(struct clann_context *ctx)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 3, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(8, CLANN_ACTIVATION_LINEAR);
    d.kernel_regularizer.l1 = 0.01f;
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_batchnorm(m, 0.9f, 1e-3f), CLANN_OK);
    ck_assert_int_eq(clann_model_add_activation(m, CLANN_ACTIVATION_RELU, 0.0f), CLANN_OK);
    d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    d.kernel_constraint.kind = CLANN_CONSTRAINT_MIN_MAX_NORM;
    d.kernel_constraint.min_value = 2.0f;
    d.kernel_constraint.max_value = 3.0f;
    d.kernel_constraint.rate = 0.5f;
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    cp.max_batch = 8;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    return m;
}

/* A skipped step changes nothing at all: batch normalization's running statistics (the bad
 * batch's variance is infinite), L1's proximal step and the constraint stay out of it too, so
 * the parameters after clean steps 1-2 and a skipped step 3 are those after steps 1-2, bit for
 * bit; on the CPU backend and on every OpenCL device. */
static void skip_changes_nothing(const char *device)
{
    struct clann_context *ctx = test_context(device, CLANN_CPU_MODE_FAST);
    struct clann_matrix x, y, cx, cy;
    data(21, &x, &y);
    data(64, &cx, &cy);
    struct clann_model *ref = regularized_net(ctx);
    size_t n;
    float *expect = params_after(ref, &cx, &cy, 2, &n);
    struct clann_model *m = regularized_net(ctx);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.shuffle = false;
    fp.max_steps = 3;
    fp.nan_policy = CLANN_NAN_SKIP;
    fp.no_batchnorm_refresh = true; /* the refresh reads other rows than the steps */
    ck_assert_msg(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    assert_params_bitwise(m, expect, n, device);
    free(expect);
    clann_model_destroy(m);
    clann_model_destroy(ref);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&cx), clann_matrix_free(&cy);
    clann_context_destroy(ctx);
}

START_TEST(test_skip_changes_nothing)
{
    on_every_device(skip_changes_nothing);
}
END_TEST

struct dead {
    double max_zero_fraction;
    size_t samples;
};

static void on_monitor(uint64_t step, const struct clann_layer_monitor *l, size_t n, void *user)
{
    (void)step;
    struct dead *d = user;
    ck_assert_uint_eq(n, 3);
    d->samples++;
    d->max_zero_fraction = l[1].zero_fraction; /* the last sample wins */
    ck_assert(isnan(l[1].grad_norm) && isfinite(l[0].grad_norm) && l[0].weight_norm > 0);
    ck_assert(l[0].update_ratio >= 0);
}

/* Dead ReLUs: a learning rate far too high drives the hidden ReLU layer's outputs to zero; a
 * sensible one keeps the fraction low. */
START_TEST(test_dead_relu_monitor)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    data(64, &x, &y);
    double fraction[2];
    const float rates[2] = {0.001f, 5.0f};
    for (int k = 0; k < 2; k++) {
        struct clann_model *m;
        ck_assert_int_eq(clann_model_create(ctx, 3, &m), CLANN_OK);
        struct clann_dense_params d = clann_dense_default_params(32, CLANN_ACTIVATION_LINEAR);
        ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
        ck_assert_int_eq(clann_model_add_activation(m, CLANN_ACTIVATION_RELU, 0), CLANN_OK);
        d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
        ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
        struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
        cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD);
        cp.optimizer.learning_rate = rates[k];
        cp.max_batch = 8;
        ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
        struct dead dd = {0, 0};
        struct clann_fit_params fp = clann_fit_default_params();
        fp.epochs = 20;
        fp.monitor_every = 4;
        fp.on_monitor = on_monitor;
        fp.user = &dd;
        fp.nan_policy = CLANN_NAN_SKIP;
        fp.max_skips = 1000;
        enum clann_status st = clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL);
        ck_assert_msg(st == CLANN_OK, "lr %g: %s", rates[k], clann_last_error());
        ck_assert_uint_eq(dd.samples, 20 * 8 / 4);
        fraction[k] = dd.max_zero_fraction;
        clann_model_destroy(m);
    }
    printf("dead ReLU fraction: %.2f at lr 0.001, %.2f at lr 5\n", fraction[0], fraction[1]);
    ck_assert(fraction[0] < 0.7);
    ck_assert(fraction[1] > 0.9);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* The run log: one epoch row per epoch, monitor rows, and an event file. */
START_TEST(test_run_log)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    data(64, &x, &y);
    struct clann_model *m = net(ctx);
    char dir[] = "/tmp/clann-runlog-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char logdir[64];
    snprintf(logdir, sizeof logdir, "%s/run", dir);
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 3;
    fp.logdir = logdir;
    fp.monitor_every = 2;
    ck_assert_msg(clann_model_fit(m, &x, &y, &x, &y, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    char path[512], line[4096];
    snprintf(path, sizeof path, "%s/log.csv", logdir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t epochs = 0, monitors = 0;
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    ck_assert(strncmp(line, "kind,epoch,step,loss,accuracy,val_loss", 38) == 0);
    ck_assert(strstr(line, "layer1/update_ratio") != NULL);
    while (fgets(line, sizeof line, f)) {
        epochs += strncmp(line, "epoch,", 6) == 0;
        monitors += strncmp(line, "monitor,", 8) == 0;
    }
    fclose(f);
    ck_assert_uint_eq(epochs, 3);
    ck_assert_uint_eq(monitors, 3 * 8 / 2);
    DIR *d = opendir(logdir);
    struct dirent *e;
    bool events = false;
    while ((e = readdir(d))) {
        events = events || strncmp(e->d_name, "events.out.tfevents.", 20) == 0;
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", logdir, e->d_name);
            unlink(path);
        }
    }
    closedir(d);
    rmdir(logdir);
    rmdir(dir);
    ck_assert(events);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* What the progress callback saw: the running loss after each step of the epoch. */
struct running {
    struct clann_model *m;
    double last;      /* after the epoch's last step */
    size_t calls, failures;
    double epoch_loss[4];
};

static void record_running(size_t epoch, size_t step, size_t steps, void *user)
{
    (void)epoch;
    struct running *r = user;
    double loss;
    r->failures += clann_model_running_loss(r->m, &loss) != CLANN_OK || !isfinite(loss);
    r->calls++;
    if (step == steps)
        r->last = loss;
}

static bool compare_running(const struct clann_epoch_log *log, void *user)
{
    struct running *r = user;
    /* No penalty here: the last step's running loss is the epoch's loss, from the same sum. */
    ck_assert_msg(fabs(r->last - log->loss) <= 1e-6 * fabs(log->loss), "running %g, epoch %g",
                  r->last, log->loss);
    r->epoch_loss[log->epoch - 1] = log->loss;
    return true;
}

static size_t event_files(const char *logdir, const char *tag)
{
    size_t n = 0, tagged = 0;
    DIR *d = opendir(logdir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "events.out.tfevents.", 20) != 0)
            continue;
        char path[512], buf[8192];
        snprintf(path, sizeof path, "%s/%s", logdir, e->d_name);
        FILE *f = fopen(path, "rb");
        size_t len = fread(buf, 1, sizeof buf, f);
        fclose(f);
        n++;
        bool found = false;
        for (size_t i = 0; i + strlen(tag) <= len && !found; i++)
            found = memcmp(buf + i, tag, strlen(tag)) == 0;
        tagged += found;
    }
    closedir(d);
    ck_assert_uint_eq(tagged, n);
    return n;
}

/* The running loss of an epoch (clann_model_running_loss) ends at the epoch's loss; the
 * validation figures carry validation_name in log.csv and the event file; a second fit into the
 * folder leaves one event file. */
START_TEST(test_running_loss_and_names)
{
    struct clann_context *ctx = cpu();
    struct clann_matrix x, y;
    data(64, &x, &y);
    struct clann_model *m = net(ctx);
    double loss;
    ck_assert_int_eq(clann_model_running_loss(m, &loss), CLANN_ERR_INVALID_ARG);
    char dir[] = "/tmp/clann-runlog-XXXXXX", logdir[64], path[512], line[4096];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(logdir, sizeof logdir, "%s/run", dir);
    struct running r = {.m = m};
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 3;
    fp.logdir = logdir;
    fp.validation_name = "bad name";
    ck_assert_int_eq(clann_model_fit(m, &x, &y, &x, &y, &fp, NULL), CLANN_ERR_INVALID_ARG);
    fp.validation_name = "test";
    fp.on_progress = record_running;
    fp.on_epoch = compare_running;
    fp.user = &r;
    ck_assert_msg(clann_model_fit(m, &x, &y, &x, &y, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_uint_eq(r.calls, 3 * 8);
    ck_assert_uint_eq(r.failures, 0);
    ck_assert(r.epoch_loss[2] < r.epoch_loss[0]);
    ck_assert_int_eq(clann_model_running_loss(m, &loss), CLANN_ERR_INVALID_ARG);
    snprintf(path, sizeof path, "%s/log.csv", logdir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_msg(strncmp(line, "kind,epoch,step,loss,accuracy,test_loss,test_accuracy,test_auc,",
                          63) == 0, "%s", line);
    ck_assert_uint_eq(event_files(logdir, "test_loss"), 1);
    fp.validation_name = NULL;
    fp.epochs = 1;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, &x, &y, &fp, NULL), CLANN_OK);
    ck_assert_uint_eq(event_files(logdir, "val_loss"), 1);
    test_remove_tree(dir);
    clann_model_destroy(m);
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("guard");
    TCase *tc = tcase_create("guard");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_nan_stops_at_its_step);
    tcase_add_test(tc, test_nan_skip);
    tcase_add_test(tc, test_max_skips_at_its_step);
    tcase_add_test(tc, test_explosion_named);
    tcase_add_test(tc, test_skip_changes_nothing);
    tcase_add_test(tc, test_dead_relu_monitor);
    tcase_add_test(tc, test_run_log);
    tcase_add_test(tc, test_running_loss_and_names);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
