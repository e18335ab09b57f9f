/*
 * train.c - `clann train`: load data, build the model for the task, train with progress on
 * stderr, report test metrics and write the model file.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum task { TASK_AUTO, TASK_REGRESSION, TASK_BINARY, TASK_MULTICLASS, TASK_MULTILABEL };

static const char *const task_names[] = {"auto", "regression", "binary", "multiclass",
                                         "multilabel"};

struct train_args {
    const char *data, *label, *test, *task, *hidden, *activation, *dropout, *optimizer, *lr;
    const char *batch, *epochs, *seed, *device, *out;
    const char *l1, *l2, *max_norm, *clip_norm, *clip_value, *early_stop, *monitor;
    const char *logdir, *monitor_every;
    bool json, quiet, batchnorm;
};

/* Infers the task from the labels: integer labels 0..K-1 (K <= 1000) are classes, anything else
 * is a regression target; several 0/1 columns are multi-label. */
static enum task detect_task(const struct clann_matrix *y, size_t *n_classes)
{
    bool integral = true, binary = true;
    float max = 0.0f;
    for (size_t i = 0; i < y->rows * y->cols; i++) {
        float v = y->data[i];
        integral = integral && v >= 0.0f && v == floorf(v) && v < 1000.0f;
        binary = binary && (v == 0.0f || v == 1.0f);
        max = v > max ? v : max;
    }
    *n_classes = integral ? (size_t)max + 1 : 0;
    if (y->cols > 1)
        return binary ? TASK_MULTILABEL : TASK_REGRESSION;
    if (!integral || max < 1.0f)
        return TASK_REGRESSION;
    return max == 1.0f ? TASK_BINARY : TASK_MULTICLASS;
}

static int parse_task(const char *text, enum task *out)
{
    for (size_t i = 0; i < sizeof task_names / sizeof *task_names; i++) {
        if (strcmp(text, task_names[i]) == 0) {
            *out = (enum task)i;
            return CLI_OK;
        }
    }
    return cli_usage("--task: '%s' is not regression, binary, multiclass or multilabel", text);
}

/* Model outputs and loss for a task. */
static int task_head(enum task task, const struct clann_matrix *y, size_t n_classes,
                     size_t *n_out, enum clann_loss *loss)
{
    switch (task) {
    case TASK_REGRESSION: *n_out = y->cols; *loss = CLANN_LOSS_MSE; break;
    case TASK_BINARY: *n_out = 1; *loss = CLANN_LOSS_SIGMOID_CROSS_ENTROPY; break;
    case TASK_MULTILABEL: *n_out = y->cols; *loss = CLANN_LOSS_SIGMOID_CROSS_ENTROPY; break;
    case TASK_MULTICLASS:
        if (y->cols != 1 || n_classes < 2)
            return cli_usage("--task multiclass needs one label column of class indices 0..K-1");
        *n_out = n_classes;
        *loss = CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY;
        break;
    default: return cli_usage("internal: no task");
    }
    return CLI_OK;
}

/* Fills estimator parameters from the options; defaults are Adam(0.001), ReLU, 256,128. */
static int estimator_params(const struct train_args *a, struct clann_estimator_params *p,
                            size_t **hidden)
{
    *p = clann_estimator_default_params();
    p->optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAM);
    enum clann_optimizer opt;
    if (a->optimizer) {
        if (!clann_optimizer_from_name(a->optimizer, &opt))
            return cli_usage("--optimizer: '%s' is not sgd, momentum, nesterov, adagrad, adam or "
                             "rmsprop", a->optimizer);
        p->optimizer = clann_optimizer_default_params(opt);
        p->optimizer.nesterov = strcmp(a->optimizer, "nesterov") == 0;
    }
    if (a->lr && !cli_float("lr", a->lr, &p->optimizer.learning_rate))
        return CLI_USAGE;
    if (a->activation && !clann_activation_from_name(a->activation, &p->activation))
        return cli_usage("--activation: unknown activation '%s'", a->activation);
    if (a->dropout && !cli_float("dropout", a->dropout, &p->dropout))
        return CLI_USAGE;
    if (a->l1 && !cli_float("l1", a->l1, &p->regularizer.l1))
        return CLI_USAGE;
    if (a->l2 && !cli_float("l2", a->l2, &p->regularizer.l2))
        return CLI_USAGE;
    if (a->max_norm && !cli_float("max-norm", a->max_norm, &p->max_norm))
        return CLI_USAGE;
    p->batchnorm = a->batchnorm;
    unsigned long long seed;
    if (a->seed) {
        if (!cli_u64("seed", a->seed, &seed))
            return CLI_USAGE;
        p->seed = seed;
    }
    const char *h = a->hidden ? a->hidden : "256,128";
    if (strcmp(h, "") != 0 && strcmp(h, "none") != 0) {
        if (!cli_size_list("hidden", h, hidden, &p->n_hidden))
            return CLI_USAGE;
        p->hidden_units = *hidden;
    }
    return CLI_OK;
}

static bool print_epoch(const struct clann_epoch_log *log, void *user)
{
    const size_t *epochs = user;
    fprintf(stderr, "epoch %3zu/%zu  loss %.4f", log->epoch, *epochs, log->loss);
    if (!isnan(log->accuracy))
        fprintf(stderr, "  accuracy %.4f", log->accuracy);
    if (!isnan(log->val_loss))
        fprintf(stderr, "  val_loss %.4f", log->val_loss);
    if (!isnan(log->val_accuracy))
        fprintf(stderr, "  val_accuracy %.4f", log->val_accuracy);
    fprintf(stderr, "  %.1fs\n", log->seconds);
    return true;
}

static void print_json_number(const char *key, double v, bool comma)
{
    if (isnan(v))
        printf("\"%s\": null%s", key, comma ? ", " : "");
    else
        printf("\"%s\": %.6g%s", key, v, comma ? ", " : "");
}

struct train_result {
    struct clann_epoch_log last;
    struct clann_metrics test;
    double seconds;
    size_t samples;
};

static void report(const struct train_args *a, enum task task, struct clann_context *ctx,
                   const struct train_result *r, bool has_test, const char *out)
{
    double rate = r->seconds > 0 ? (double)r->samples / r->seconds : 0;
    if (a->json) {
        printf("{\"task\": \"%s\", \"device\": \"%s\", \"epochs\": %zu, ", task_names[task],
               clann_context_device(ctx)->name, r->last.epoch);
        print_json_number("train_loss", r->last.loss, true);
        print_json_number("train_accuracy", r->last.accuracy, true);
        print_json_number("test_loss", has_test ? r->test.loss : NAN, true);
        print_json_number("test_accuracy", has_test ? r->test.accuracy : NAN, true);
        print_json_number("samples_per_second", rate, true);
        printf("\"model\": \"%s\"}\n", out);
        return;
    }
    printf("trained %zu epochs in %.1fs (%.0f samples/s) on %s\n", r->last.epoch, r->seconds,
           rate, clann_context_device(ctx)->name);
    if (has_test) {
        printf("test loss %.4f", r->test.loss);
        if (!isnan(r->test.accuracy))
            printf("  test accuracy %.4f", r->test.accuracy);
        printf("  (%zu rows)\n", r->test.count);
    }
    printf("model written to %s\n", out);
}

static int train_and_report(const struct train_args *a, struct cli_data *d, enum task task,
                            struct clann_model *m, struct clann_context *ctx)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 15; /* the default Fashion-MNIST classifier passes 0.88 test accuracy by then */
    if (a->epochs && !cli_size("epochs", a->epochs, &fp.epochs))
        return CLI_USAGE;
    if (a->batch && (!cli_size("batch", a->batch, &fp.batch_size) || fp.batch_size == 0))
        return cli_usage("--batch: must be a positive integer");
    if (a->clip_norm && !cli_float("clip-norm", a->clip_norm, &fp.clip_norm))
        return CLI_USAGE;
    if (a->clip_value && !cli_float("clip-value", a->clip_value, &fp.clip_value))
        return CLI_USAGE;
    if (a->early_stop) {
        if (!cli_size("early-stop", a->early_stop, &fp.early_stopping.patience))
            return CLI_USAGE;
        fp.early_stopping.enabled = fp.early_stopping.patience > 0;
    }
    fp.early_stopping.monitor = a->monitor;
    fp.logdir = a->logdir;
    fp.monitor_every = a->logdir ? 50 : 0;
    if (a->monitor_every && !cli_size("monitor-every", a->monitor_every, &fp.monitor_every))
        return CLI_USAGE;
    if (!a->quiet) {
        fp.on_epoch = print_epoch;
        fp.user = &fp.epochs;
    }
    struct train_result r;
    memset(&r, 0, sizeof r);
    double t0 = cli_now();
    enum clann_status st = clann_model_fit(m, &d->x, &d->y, d->has_test ? &d->test_x : NULL,
                                           d->has_test ? &d->test_y : NULL, &fp, &r.last);
    r.seconds = cli_now() - t0;
    r.samples = r.last.epoch * d->x.rows;
    if (st != CLANN_OK)
        return cli_fail("train", st);
    if (d->has_test && (st = clann_model_evaluate(m, &d->test_x, &d->test_y, &r.test)))
        return cli_fail("evaluate", st);
    const char *out = a->out ? a->out : "clann-model.safetensors";
    if ((st = clann_model_save(m, out)) != CLANN_OK)
        return cli_fail("save", st);
    report(a, task, ctx, &r, d->has_test, out);
    return CLI_OK;
}

static int build_and_train(const struct train_args *a, struct cli_data *d, enum task task,
                           size_t n_classes, struct clann_context *ctx)
{
    struct clann_estimator_params ep;
    size_t *hidden = NULL, n_out = 0;
    enum clann_loss loss = CLANN_LOSS_MSE;
    int rc = estimator_params(a, &ep, &hidden);
    if (rc == CLI_OK)
        rc = task_head(task, &d->y, n_classes, &n_out, &loss);
    if (rc == CLI_OK && a->batch) {
        if (!cli_size("batch", a->batch, &ep.max_batch) || ep.max_batch == 0)
            rc = cli_usage("--batch: must be a positive integer");
    }
    struct clann_model *m = NULL;
    if (rc == CLI_OK) {
        enum clann_status st = clann_dnn_create(ctx, d->x.cols, n_out, loss, &ep, &m);
        rc = st == CLANN_OK ? train_and_report(a, d, task, m, ctx) : cli_fail("model", st);
    }
    clann_model_destroy(m);
    free(hidden);
    return rc;
}

int cli_train(int argc, char **argv)
{
    struct train_args a;
    memset(&a, 0, sizeof a);
    const struct cli_option options[] = {
        {"data", true, &a.data, NULL, "training data: CSV, X.npy,y.npy, IDX pair or fashion-mnist "
                                      "(default)"},
        {"label", true, &a.label, NULL, "label column of a CSV: name or 0-based index (default: "
                                        "last)"},
        {"test", true, &a.test, NULL, "test data, same forms as --data"},
        {"task", true, &a.task, NULL, "regression|binary|multiclass|multilabel (default: from "
                                      "the labels)"},
        {"hidden", true, &a.hidden, NULL, "hidden layer sizes, e.g. 256,128 ('none': linear)"},
        {"activation", true, &a.activation, NULL, "hidden activation (default relu)"},
        {"dropout", true, &a.dropout, NULL, "drop rate after each hidden layer (default 0)"},
        {"batchnorm", false, NULL, &a.batchnorm, "batch normalization before each hidden "
                                                 "activation"},
        {"l1", true, &a.l1, NULL, "L1 penalty on every kernel (l1 * sum |w|)"},
        {"l2", true, &a.l2, NULL, "L2 penalty on every kernel (l2 / 2 * sum w^2)"},
        {"max-norm", true, &a.max_norm, NULL, "max-norm constraint per unit on every kernel"},
        {"clip-norm", true, &a.clip_norm, NULL, "clip each gradient tensor to this L2 norm"},
        {"clip-value", true, &a.clip_value, NULL, "clip each gradient value to [-v, v]"},
        {"early-stop", true, &a.early_stop, NULL, "stop after PATIENCE epochs without "
                                                  "improvement; restores the best weights"},
        {"monitor", true, &a.monitor, NULL, "what early stopping watches: val_loss (default "
                                            "with test data), val_accuracy, loss, accuracy"},
        {"optimizer", true, &a.optimizer, NULL, "sgd|momentum|nesterov|adagrad|adam|rmsprop "
                                                "(default adam)"},
        {"lr", true, &a.lr, NULL, "learning rate (default: the optimizer's, 0.001 for adam)"},
        {"batch", true, &a.batch, NULL, "batch size (default 128)"},
        {"epochs", true, &a.epochs, NULL, "epochs (default 15)"},
        {"seed", true, &a.seed, NULL, "random seed (default 42)"},
        {"device", true, &a.device, NULL, "auto|cpu|opencl|opencl:P:D|name (default auto)"},
        {"out", true, &a.out, NULL, "model file (default clann-model.safetensors)"},
        {"logdir", true, &a.logdir, NULL, "write log.csv and TensorBoard events here"},
        {"monitor-every", true, &a.monitor_every, NULL, "per-layer monitors every N steps "
                                                        "(default 50 with --logdir)"},
        {"json", false, NULL, &a.json, "print final metrics as one JSON object on stdout"},
        {"quiet", false, NULL, &a.quiet, "no per-epoch progress"},
    };
    size_t n_opt = sizeof options / sizeof *options;
    int rc = cli_parse("train", argc, argv, options, n_opt);
    if (rc < 0) {
        cli_print_help("train", "[OPTIONS]", options, n_opt);
        return CLI_OK;
    }
    if (rc != CLI_OK)
        return rc;
    enum task task = TASK_AUTO;
    if (a.task && (rc = parse_task(a.task, &task)) != CLI_OK)
        return rc;

    struct cli_data d;
    if ((rc = cli_data_load(a.data ? a.data : "fashion-mnist", a.label, &d)) != CLI_OK)
        return rc;
    if (a.test && !d.has_test) {
        struct cli_data t;
        if ((rc = cli_data_load(a.test, a.label, &t)) != CLI_OK) {
            cli_data_free(&d);
            return rc;
        }
        d.test_x = t.x;
        d.test_y = t.y;
        d.has_test = true;
    }
    size_t n_classes;
    enum task detected = detect_task(&d.y, &n_classes);
    if (task == TASK_AUTO) {
        task = detected;
        fprintf(stderr, "task: %s (from the labels; --task overrides)\n", task_names[task]);
    }
    if (d.has_test && task == TASK_MULTICLASS) {
        size_t test_classes;
        detect_task(&d.test_y, &test_classes);
        n_classes = test_classes > n_classes ? test_classes : n_classes;
    }
    struct clann_context *ctx = NULL;
    rc = cli_context(a.device, &ctx);
    if (rc == CLI_OK)
        rc = build_and_train(&a, &d, task, n_classes, ctx);
    clann_context_destroy(ctx);
    cli_data_free(&d);
    return rc;
}
