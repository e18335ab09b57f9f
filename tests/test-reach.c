/*
 * test-reach.c - the training options a model carries (issue 17, "Reach"): the spec's
 * "training" section holds every option of struct clann_fit_params and reads back to the same
 * parameters, its errors name the key, a fit records its options, best-only checkpoints watch
 * a monitor of their own and save exactly when it improves, and clann_name_at() lists the
 * kind tables.
 */
#include "testutil.h"

#include <sys/stat.h>

/* A small compiled binary classifier on the CPU backend, 4 inputs. */
static struct clann_model *small_model(struct clann_context *ctx)
{
    struct clann_estimator_params ep = clann_estimator_default_params();
    size_t hidden[] = {6};
    ep.hidden_units = hidden;
    ep.n_hidden = 1;
    ep.max_batch = 16;
    ep.seed = 5;
    ep.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAGRAD);
    ep.optimizer.learning_rate = 0.05f;
    struct clann_model *m = NULL;
    enum clann_status st = clann_dnn_create(ctx, 4, 1, CLANN_LOSS_SIGMOID_CROSS_ENTROPY, &ep, &m);
    ck_assert_msg(st == CLANN_OK, "%s", clann_last_error());
    return m;
}

/* Every option set away from its default. */
static struct clann_fit_params every_option(void)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 7;
    fp.max_steps = 1000;
    fp.batch_size = 8;
    fp.shuffle = false;
    fp.clip_value = 2.5f;
    fp.clip_norm = 1.25f;
    fp.clip_global_norm = 3.0f;
    fp.gradient_noise = 0.01f;
    fp.weight_noise = 0.02f;
    fp.label_noise = 0.0f;
    fp.early_stopping.enabled = true;
    fp.early_stopping.monitor = "val_accuracy";
    fp.early_stopping.mode = CLANN_MODE_MAX;
    fp.early_stopping.patience = 4;
    fp.early_stopping.min_delta = 0.001;
    fp.early_stopping.baseline = 0.3;
    fp.early_stopping.restore_best = false;
    fp.schedule.kind = CLANN_SCHEDULE_PLATEAU;
    fp.schedule.factor = 0.5f;
    fp.schedule.step_epochs = 3;
    fp.schedule.decay_rate = 0.9f;
    fp.schedule.decay_steps = 17;
    fp.schedule.patience = 2;
    fp.schedule.monitor = "val_loss";
    fp.schedule.min_lr = 1e-5f;
    fp.checkpoint_path = "best.safetensors";
    fp.save_best_only = true;
    fp.checkpoint_every = 2;
    fp.checkpoint_monitor = "val_auc";
    fp.nan_policy = CLANN_NAN_SKIP;
    fp.max_skips = 5;
    fp.monitor_every = 25;
    fp.logdir = "runs/a";
    fp.distributed = true;
    return fp;
}

static void assert_same_params(const struct clann_fit_params *a, const struct clann_fit_params *b)
{
    ck_assert_uint_eq(a->epochs, b->epochs);
    ck_assert_uint_eq(a->max_steps, b->max_steps);
    ck_assert_uint_eq(a->batch_size, b->batch_size);
    ck_assert(a->shuffle == b->shuffle);
    ck_assert(a->clip_value == b->clip_value && a->clip_norm == b->clip_norm &&
              a->clip_global_norm == b->clip_global_norm);
    ck_assert(a->gradient_noise == b->gradient_noise && a->weight_noise == b->weight_noise &&
              a->label_noise == b->label_noise);
    const struct clann_early_stopping *x = &a->early_stopping, *y = &b->early_stopping;
    ck_assert(x->enabled == y->enabled && x->mode == y->mode && x->patience == y->patience);
    ck_assert(x->min_delta == y->min_delta && x->baseline == y->baseline &&
              x->restore_best == y->restore_best);
    ck_assert_str_eq(x->monitor, y->monitor);
    const struct clann_lr_schedule *s = &a->schedule, *t = &b->schedule;
    ck_assert(s->kind == t->kind && s->factor == t->factor && s->step_epochs == t->step_epochs);
    ck_assert(s->decay_rate == t->decay_rate && s->decay_steps == t->decay_steps &&
              s->patience == t->patience && s->min_lr == t->min_lr);
    ck_assert_str_eq(s->monitor, t->monitor);
    ck_assert_str_eq(a->checkpoint_path, b->checkpoint_path);
    ck_assert_str_eq(a->checkpoint_monitor, b->checkpoint_monitor);
    ck_assert(a->save_best_only == b->save_best_only &&
              a->checkpoint_every == b->checkpoint_every);
    ck_assert(a->nan_policy == b->nan_policy && a->max_skips == b->max_skips);
    ck_assert_uint_eq(a->monitor_every, b->monitor_every);
    ck_assert_str_eq(a->logdir, b->logdir);
    ck_assert(a->distributed == b->distributed);
}

/* Every option survives spec -> model -> spec, and the second spec is the first, byte for byte. */
START_TEST(test_training_round_trip)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = small_model(ctx), *back = NULL;
    struct clann_fit_params fp = every_option(), got;
    ck_assert(!clann_model_fit_params(m, &got)); /* none yet: the defaults */
    ck_assert_uint_eq(got.epochs, 10);
    ck_assert_int_eq(got.schedule.kind, clann_fit_default_params().schedule.kind);
    ck_assert_int_eq(clann_model_set_fit_params(m, &fp), CLANN_OK);
    char *spec = NULL, *again = NULL;
    ck_assert_int_eq(clann_model_spec_json(m, &spec), CLANN_OK);
    ck_assert_ptr_nonnull(strstr(spec, "\"clip_global_norm\":3"));
    ck_assert_ptr_nonnull(strstr(spec, "\"monitor\":\"val_auc\""));
    ck_assert_int_eq(clann_model_from_spec_json(ctx, spec, &back), CLANN_OK);
    ck_assert(clann_model_fit_params(back, &got));
    assert_same_params(&fp, &got);
    ck_assert(got.on_epoch == NULL && got.user == NULL);
    ck_assert_int_eq(clann_model_spec_json(back, &again), CLANN_OK);
    ck_assert_str_eq(spec, again);
    clann_string_free(spec);
    clann_string_free(again);
    clann_model_destroy(back);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* The spec of a fresh model with its "training" member replaced by `training`; parsing it must
 * fail with ERR_FORMAT and a message holding `expect`. */
static void expect_bad(struct clann_context *ctx, const char *base, const char *training,
                       const char *expect)
{
    const char *at = strstr(base, ",\"training\":");
    ck_assert_ptr_nonnull(at);
    size_t head = (size_t)(at - base);
    char *text = malloc(head + strlen(training) + 32);
    sprintf(text, "%.*s,\"training\":%s}", (int)head, base, training);
    struct clann_model *m = NULL;
    enum clann_status st = clann_model_from_spec_json(ctx, text, &m);
    ck_assert_msg(st == CLANN_ERR_FORMAT, "%s: status %d", training, st);
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(clann_last_error(), expect), "%s: message '%s' lacks '%s'", training,
                  clann_last_error(), expect);
    free(text);
}

START_TEST(test_training_errors_name_the_key)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = small_model(ctx);
    struct clann_fit_params fp = clann_fit_default_params();
    ck_assert_int_eq(clann_model_set_fit_params(m, &fp), CLANN_OK);
    char *spec = NULL;
    ck_assert_int_eq(clann_model_spec_json(m, &spec), CLANN_OK);
    /* "training" is the last member the writer puts after the layers of this model */
    expect_bad(ctx, spec, "{\"gradient_nosie\":0.1}", "training.gradient_nosie: unknown key");
    expect_bad(ctx, spec, "{\"schedule\":{\"kind\":\"cosine\"}}", "training.schedule.kind");
    expect_bad(ctx, spec, "{\"schedule\":{\"every\":2}}", "training.schedule.every: unknown key");
    expect_bad(ctx, spec, "{\"early_stopping\":{\"monitor\":\"val_f1\"}}",
               "training.early_stopping.monitor: unknown monitor 'val_f1'");
    expect_bad(ctx, spec, "{\"checkpoint\":{\"monitor\":\"auc\"}}",
               "training.checkpoint.monitor: unknown monitor 'auc'");
    expect_bad(ctx, spec, "{\"weight_noise\":-1}", "training.weight_noise: expected a finite "
               "number >= 0");
    expect_bad(ctx, spec, "{\"epochs\":\"ten\"}", "training.epochs");
    expect_bad(ctx, spec, "{\"shuffle\":1}", "training.shuffle");
    expect_bad(ctx, spec, "{\"nan_policy\":\"ignore\"}", "training.nan_policy");
    expect_bad(ctx, spec, "{\"early_stopping\":{\"mode\":\"up\"}}", "training.early_stopping.mode");
    expect_bad(ctx, spec, "{\"checkpoint\":{\"path\":\"\"}}", "training.checkpoint.path");
    expect_bad(ctx, spec, "[1]", "training");
    /* values a fit refuses are refused by the setter too */
    fp.schedule.kind = CLANN_SCHEDULE_STEP;
    fp.schedule.factor = 1.5f;
    ck_assert_int_eq(clann_model_set_fit_params(m, &fp), CLANN_ERR_INVALID_ARG);
    fp = clann_fit_default_params();
    fp.checkpoint_monitor = "val_f1";
    ck_assert_int_eq(clann_model_set_fit_params(m, &fp), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "unknown monitor 'val_f1'"));
    ck_assert_int_eq(clann_model_set_fit_params(m, NULL), CLANN_ERR_INVALID_ARG);
    clann_string_free(spec);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* A spec of a newer minor format version may carry training options this clann does not
 * know (a newer writer's): they are skipped and the rest still applies; from this clann's own
 * version the same key is an error (above). */
START_TEST(test_training_newer_minor_skips_unknown_keys)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = small_model(ctx);
    struct clann_fit_params fp = clann_fit_default_params();
    ck_assert_int_eq(clann_model_set_fit_params(m, &fp), CLANN_OK);
    char *spec = NULL;
    ck_assert_int_eq(clann_model_spec_json(m, &spec), CLANN_OK);
    const char *version = strstr(spec, "\"format_version\":\"");
    const char *at = strstr(spec, ",\"training\":");
    ck_assert_ptr_nonnull(version);
    ck_assert_ptr_nonnull(at);
    size_t vhead = (size_t)(version - spec) + strlen("\"format_version\":\"");
    const char *vend = strchr(spec + vhead, '"');
    char *text = malloc(strlen(spec) + 128);
    sprintf(text, "%.*s1.99%.*s,\"training\":{\"epochs\":7,\"warmup_steps\":100,"
            "\"schedule\":{\"kind\":\"constant\",\"cycle\":3}}}", (int)vhead, spec,
            (int)(at - vend), vend);
    struct clann_model *back = NULL;
    ck_assert_msg(clann_model_from_spec_json(ctx, text, &back) == CLANN_OK, "%s",
                  clann_last_error());
    struct clann_fit_params got;
    ck_assert(clann_model_fit_params(back, &got));
    ck_assert_uint_eq(got.epochs, 7);
    ck_assert_int_eq(got.schedule.kind, CLANN_SCHEDULE_CONSTANT);
    /* a known key's bad value is still an error */
    sprintf(text, "%.*s1.99%.*s,\"training\":{\"epochs\":\"ten\"}}", (int)vhead, spec,
            (int)(at - vend), vend);
    struct clann_model *bad = NULL;
    ck_assert_int_eq(clann_model_from_spec_json(ctx, text, &bad), CLANN_ERR_FORMAT);
    ck_assert_ptr_null(bad);
    free(text);
    clann_string_free(spec);
    clann_model_destroy(back);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

/* Two noisy clusters: val_accuracy rises and stalls while the training loss keeps falling. */
static void make_data(size_t rows, uint32_t seed, struct clann_matrix *x, struct clann_matrix *y)
{
    ck_assert_int_eq(clann_matrix_create(rows, 4, x), CLANN_OK);
    ck_assert_int_eq(clann_matrix_create(rows, 1, y), CLANN_OK);
    uint32_t s = seed;
    for (size_t r = 0; r < rows; r++) {
        float sum = 0.0f;
        for (size_t c = 0; c < 4; c++) {
            s = s * 1664525u + 1013904223u;
            x->data[r * 4 + c] = (float)(s >> 8) / 16777216.0f * 2.0f - 1.0f;
            sum += x->data[r * 4 + c];
        }
        s = s * 1664525u + 1013904223u;
        y->data[r] = (sum + ((float)(s >> 8) / 16777216.0f - 0.5f)) > 0.0f ? 1.0f : 0.0f;
    }
}

struct saves {
    const char *path;
    ino_t inode;
    struct timespec mtime;
    bool saved[64];
    double values[64];
};

/* After each epoch: was the best-only file replaced (a save renames a new file over it)? */
static bool note_save(const struct clann_epoch_log *log, void *user)
{
    struct saves *s = user;
    struct stat sb;
    bool exists = stat(s->path, &sb) == 0;
    bool changed = exists && (sb.st_ino != s->inode || sb.st_mtim.tv_sec != s->mtime.tv_sec ||
                              sb.st_mtim.tv_nsec != s->mtime.tv_nsec);
    if (exists)
        s->inode = sb.st_ino, s->mtime = sb.st_mtim;
    s->saved[log->epoch] = changed;
    s->values[log->epoch] = log->accuracy;
    return true;
}

/* save_best_only on checkpoint_monitor "accuracy" while early stopping watches val_loss: the
 * file is written in exactly the epochs whose training accuracy beat every earlier one. */
START_TEST(test_best_checkpoint_own_monitor)
{
    char dir[4096], path[4200];
    ck_assert(test_scratch_make(dir, sizeof dir, "clann-reach"));
    snprintf(path, sizeof path, "%s/best.safetensors", dir);
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = small_model(ctx);
    struct clann_matrix x, y, vx, vy;
    make_data(96, 1, &x, &y);
    make_data(48, 2, &vx, &vy);
    struct saves s;
    memset(&s, 0, sizeof s);
    s.path = path;
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 12;
    fp.batch_size = 16;
    fp.early_stopping.monitor = "val_loss";
    fp.checkpoint_path = path;
    fp.save_best_only = true;
    fp.checkpoint_monitor = "accuracy";
    fp.on_epoch = note_save;
    fp.user = &s;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, &vx, &vy, &fp, NULL), CLANN_OK);
    double best = -1.0;
    size_t saves = 0, stalls = 0;
    for (size_t e = 1; e <= 12; e++) {
        bool improved = s.values[e] > best;
        ck_assert_msg(s.saved[e] == improved, "epoch %zu: accuracy %.6f (best %.6f) saved %d", e,
                      s.values[e], best, s.saved[e]);
        best = improved ? s.values[e] : best;
        saves += improved;
        stalls += !improved;
    }
    ck_assert_uint_ge(saves, 2);
    ck_assert_uint_ge(stalls, 1); /* the test saw both kinds of epoch */
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&vx), clann_matrix_free(&vy);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    test_remove_tree(dir);
}
END_TEST

/* A fit records what it ran with; a spec read back trains the same way. */
START_TEST(test_fit_records_options)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_model *m = small_model(ctx);
    struct clann_matrix x, y;
    make_data(64, 3, &x, &y);
    struct clann_fit_params fp = clann_fit_default_params(), got;
    fp.epochs = 2;
    fp.clip_global_norm = 0.5f;
    fp.schedule.kind = CLANN_SCHEDULE_STEP;
    fp.schedule.step_epochs = 1;
    fp.schedule.factor = 0.5f;
    struct clann_epoch_log last;
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, &last), CLANN_OK);
    ck_assert(clann_model_fit_params(m, &got));
    ck_assert_uint_eq(got.epochs, 2);
    ck_assert(got.clip_global_norm == 0.5f && got.schedule.kind == CLANN_SCHEDULE_STEP);
    /* the step schedule halved the rate once by epoch 2: lr0 * 0.5 */
    ck_assert_double_eq_tol(last.learning_rate, 0.05 * 0.5, 1e-7);
    /* fitting again with the record's own borrowed strings is safe */
    fp = got;
    fp.early_stopping.monitor = "loss";
    ck_assert_int_eq(clann_model_set_fit_params(m, &fp), CLANN_OK);
    ck_assert(clann_model_fit_params(m, &got));
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &got, NULL), CLANN_OK);
    ck_assert(clann_model_fit_params(m, &got));
    ck_assert_str_eq(got.early_stopping.monitor, "loss");
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_name_lists)
{
    ck_assert_str_eq(clann_name_at(CLANN_NAMES_MONITOR, 4), "val_auc");
    ck_assert_ptr_null(clann_name_at(CLANN_NAMES_MONITOR, 5));
    ck_assert_str_eq(clann_name_at(CLANN_NAMES_SCHEDULE, CLANN_SCHEDULE_PLATEAU), "plateau");
    ck_assert_str_eq(clann_name_at(CLANN_NAMES_SCALE, CLANN_SCALE_CLIP), "clip");
    ck_assert_str_eq(clann_name_at(CLANN_NAMES_NAN_POLICY, CLANN_NAN_SKIP), "skip");
    ck_assert_str_eq(clann_name_at(CLANN_NAMES_MODE, CLANN_MODE_MAX), "max");
    ck_assert_str_eq(clann_name_at(CLANN_NAMES_ACTIVATION, CLANN_ACTIVATION_SOFTMAX), "softmax");
    ck_assert_ptr_null(clann_name_at((enum clann_name_list)99, 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reach");
    TCase *tc = tcase_create("training options");
    tcase_add_test(tc, test_training_round_trip);
    tcase_add_test(tc, test_training_errors_name_the_key);
    tcase_add_test(tc, test_training_newer_minor_skips_unknown_keys);
    tcase_add_test(tc, test_best_checkpoint_own_monitor);
    tcase_add_test(tc, test_fit_records_options);
    tcase_add_test(tc, test_name_lists);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
