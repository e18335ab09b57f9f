/*
 * train.c - `clann train`: load data, build the model for the task (or from --spec, or resume a
 * checkpoint), train with progress on stderr, report test metrics and write the model file.
 */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *const task_names[] = {"auto", "regression", "binary", "multiclass",
                                         "multilabel"};

/* Numeric labels make a classifier only when they look like class indices: the integers
 * 0..K-1, every one present, with K = 2 or K <= min(100, rows / 20) (20 rows a class on
 * average). Anything else (fractions, gaps, negative values, many distinct values) is a
 * regression target; several 0/1 columns are multi-label. *why says which rule decided. */
static enum cli_task detect_task(const struct clann_matrix *y, size_t *n_classes, char *why,
                                 size_t size)
{
    bool integral = true, binary = true;
    float max = 0.0f;
    for (size_t i = 0; i < y->rows * y->cols; i++) {
        float v = y->data[i];
        integral = integral && v >= 0.0f && v == floorf(v) && v < 1e6f;
        binary = binary && (v == 0.0f || v == 1.0f);
        max = v > max ? v : max;
    }
    *n_classes = integral ? (size_t)max + 1 : 0;
    if (y->cols > 1) {
        snprintf(why, size, "%zu label columns%s", y->cols, binary ? " of 0/1" : "");
        return binary ? CLI_TASK_MULTILABEL : CLI_TASK_REGRESSION;
    }
    if (!integral) {
        snprintf(why, size, "labels that are not all non-negative integers");
        return CLI_TASK_REGRESSION;
    }
    if (binary) {
        snprintf(why, size, "labels are 0/1 values");
        return CLI_TASK_BINARY;
    }
    size_t k = *n_classes, present = 0;
    unsigned char *seen = calloc(k, 1);
    for (size_t i = 0; seen && i < y->rows; i++) {
        present += !seen[(size_t)y->data[i]];
        seen[(size_t)y->data[i]] = 1;
    }
    free(seen);
    size_t limit = y->rows / 20 < 100 ? y->rows / 20 : 100;
    if (present < k || (k > 2 && k > limit)) {
        snprintf(why, size, "%zu distinct integer values in 0..%zu%s, not class indices 0..K-1 "
                 "with K <= min(100, rows/20) = %zu", present, k - 1,
                 present < k ? " with gaps" : "", limit);
        return CLI_TASK_REGRESSION;
    }
    snprintf(why, size, "labels are the class indices 0..%zu", k - 1);
    return k <= 2 ? CLI_TASK_BINARY : CLI_TASK_MULTICLASS;
}

static const char *task_list(void);

static int parse_task(const char *text, enum cli_task *out)
{
    for (size_t i = 1; i < sizeof task_names / sizeof *task_names; i++) {
        if (strcmp(text, task_names[i]) == 0) {
            *out = (enum cli_task)i;
            return CLI_OK;
        }
    }
    return cli_usage("--task: '%s' is not one of %s", text, task_list());
}

int cli_train_task(const struct cli_train_args *a, const struct clann_matrix *y,
                   const struct clann_matrix *test_y, size_t text_classes, enum cli_task *task,
                   size_t *n_classes)
{
    *task = CLI_TASK_AUTO;
    if (a->task && parse_task(a->task, task) != CLI_OK)
        return CLI_USAGE;
    char why[256];
    enum cli_task detected = detect_task(y, n_classes, why, sizeof why);
    if (text_classes) {
        *n_classes = text_classes;
        detected = text_classes == 2 ? CLI_TASK_BINARY : CLI_TASK_MULTICLASS;
        snprintf(why, sizeof why, "text labels of %zu classes", text_classes);
    }
    if (*task == CLI_TASK_AUTO) {
        *task = detected;
        cli_note("task: %s (%s; --task overrides)\n", task_names[*task], why);
    }
    if (test_y && *task == CLI_TASK_MULTICLASS && !text_classes) {
        size_t test_classes;
        detect_task(test_y, &test_classes, why, sizeof why);
        *n_classes = test_classes > *n_classes ? test_classes : *n_classes;
    }
    /* Labels that do not fit the task (or hold one class) are refused before a model is
     * built; check_labels() checks again whichever way the model came. Labels that are no
     * class indices at all under --task multiclass are task_head()'s usage error. */
    if (*task == CLI_TASK_MULTICLASS && *n_classes == 0)
        return CLI_OK;
    return cli_check_labels("training labels", *task,
                            *task == CLI_TASK_MULTICLASS ? *n_classes : 0, y, true);
}

/* Model outputs and loss for a task. */
static int task_head(enum cli_task task, const struct clann_matrix *y, size_t n_classes,
                     size_t *n_out, enum clann_loss *loss)
{
    switch (task) {
    case CLI_TASK_REGRESSION: *n_out = y->cols; *loss = CLANN_LOSS_MSE; break;
    case CLI_TASK_BINARY: *n_out = 1; *loss = CLANN_LOSS_SIGMOID_CROSS_ENTROPY; break;
    case CLI_TASK_MULTILABEL: *n_out = y->cols; *loss = CLANN_LOSS_SIGMOID_CROSS_ENTROPY; break;
    case CLI_TASK_MULTICLASS:
        if (y->cols != 1 || n_classes < 2)
            return cli_usage("--task multiclass needs one label column of class indices 0..K-1");
        *n_out = n_classes;
        *loss = CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY;
        break;
    default: return cli_usage("internal: no task");
    }
    return CLI_OK;
}

/* --conv F1xK1,F2xK2,...: filters then kernel sizes, 2 n values in *list (malloc'ed). */
static int conv_list(const char *text, size_t **list, size_t *n)
{
    size_t count = 1;
    for (const char *c = text; *c; c++)
        count += *c == ',';
    *list = calloc(2 * count, sizeof **list);
    if (!*list)
        return cli_usage("out of memory");
    const char *p = text;
    for (size_t i = 0; i < count; i++) {
        char buf[32];
        size_t len = strcspn(p, ",");
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), p);
        char *x = strchr(buf, 'x');
        if (x)
            *x = '\0';
        if (!x || !cli_size("conv", buf, &(*list)[i]) || !cli_size("conv", x + 1, &(*list)[count + i]) ||
            (*list)[i] == 0 || (*list)[count + i] == 0)
            return cli_usage("--conv: expected FILTERSxKERNEL,... with positive sizes, e.g. "
                             "16x3,32x3 (got '%s')", text);
        p += len + (p[len] == ',');
    }
    *n = count;
    return CLI_OK;
}

/* The image shape of the input: --input-shape C,H,W, or 1 x s x s for Fashion-MNIST and IDX
 * images of s^2 pixels (IDX keeps the sides, but the matrices the readers return do not). */
static int input_shape(const struct cli_train_args *a, size_t inputs, size_t shape[3])
{
    if (a->input_shape) {
        size_t *v = NULL, n = 0;
        if (!cli_size_list("input-shape", a->input_shape, &v, &n))
            return CLI_USAGE;
        bool ok = n == 3;
        if (ok)
            memcpy(shape, v, 3 * sizeof *shape);
        free(v);
        return ok ? CLI_OK : cli_usage("--input-shape: expected C,H,W (got '%s')",
                                       a->input_shape);
    }
    const char *src = a->data ? a->data : "fashion-mnist";
    bool idx_pair = strchr(src, ',') && !strstr(src, ".npy") && !strstr(src, ".csv");
    size_t side = 1;
    while (side * side < inputs)
        side++;
    if ((strcmp(src, "fashion-mnist") == 0 || idx_pair) && side * side == inputs) {
        shape[0] = 1;
        shape[1] = shape[2] = side;
        return CLI_OK;
    }
    return cli_usage("--conv needs --input-shape C,H,W for %s", src);
}

/* Fills estimator parameters from the options; defaults are the library's (Adam 0.002, ReLU)
 * and hidden layers 256,128. *conv (2 n_conv values, malloc'ed like *hidden) is set with --conv; inputs is the data's
 * width (0: not known yet, the image shape is not checked). */
static int estimator_params(const struct cli_train_args *a, struct clann_estimator_params *p,
                            size_t **hidden, size_t **conv, size_t inputs)
{
    *p = clann_estimator_default_params(); /* Adam 0.002: the library's one default */
    enum clann_optimizer opt;
    if (a->optimizer) {
        if (!clann_optimizer_from_name(a->optimizer, &opt))
            return cli_usage("--optimizer: '%s' is not one of %s|nesterov", a->optimizer,
                             cli_names(CLANN_NAMES_OPTIMIZER));
        if (opt != CLANN_OPTIMIZER_ADAM) /* Adam keeps the estimators' default rate */
            p->optimizer = clann_optimizer_default_params(opt);
        p->optimizer.nesterov = strcmp(a->optimizer, "nesterov") == 0;
    }
    if (a->lr && !cli_float_in("lr", a->lr, CLI_RANGE_POSITIVE, &p->optimizer.learning_rate))
        return CLI_USAGE;
    if (a->activation && !clann_activation_from_name(a->activation, &p->activation))
        return cli_usage("--activation: unknown activation '%s' (%s)", a->activation,
                         cli_names(CLANN_NAMES_ACTIVATION));
    if (a->dropout && !cli_float_in("dropout", a->dropout, CLI_RANGE_UNIT_OPEN, &p->dropout))
        return CLI_USAGE;
    if (a->l1 && !cli_float_in("l1", a->l1, CLI_RANGE_NONNEG, &p->regularizer.l1))
        return CLI_USAGE;
    if (a->l2 && !cli_float_in("l2", a->l2, CLI_RANGE_NONNEG, &p->regularizer.l2))
        return CLI_USAGE;
    if (a->max_norm && !cli_float_in("max-norm", a->max_norm, CLI_RANGE_POSITIVE, &p->max_norm))
        return CLI_USAGE;
    if (a->batch && !cli_positive_size("batch", a->batch, &p->max_batch))
        return CLI_USAGE;
    if (a->batchnorm && a->no_batchnorm)
        return cli_usage("--batchnorm and --no-batchnorm contradict each other");
    /* a CNN normalizes its channels unless told not to: chosen on a dev split (README
     * "Convolutional networks"); a dense network keeps batch norm opt-in */
    p->batchnorm = a->batchnorm || (a->conv && !a->no_batchnorm);
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
    if (a->pool && !cli_size("pool", a->pool, &p->pool))
        return CLI_USAGE;
    if (a->spatial_dropout && !a->conv)
        return cli_usage("--spatial-dropout drops channels of the --conv layers: give --conv");
    if (a->spatial_dropout && !cli_float_in("spatial-dropout", a->spatial_dropout,
                                            CLI_RANGE_UNIT_OPEN, &p->spatial_dropout))
        return CLI_USAGE;
    if (a->conv) {
        int rc = conv_list(a->conv, conv, &p->n_conv);
        if (rc != CLI_OK)
            return rc;
        p->conv_filters = *conv;
        p->conv_kernels = *conv + p->n_conv;
        /* the syntax of --input-shape is checked before the data is read (inputs 0) */
        if ((inputs || a->input_shape) && (rc = input_shape(a, inputs, p->input_shape)) != CLI_OK)
            return rc;
    }
    return CLI_OK;
}

/* Reads a whole text file (a --spec) into a NUL-terminated string; free() it. */
static int read_text(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "clann: %s: cannot open: %s\n", path, strerror(errno));
        return CLI_FAILED;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1 || cap > ((size_t)64 << 20))
            break;
        char *grown = realloc(buf, 2 * cap);
        if (!grown)
            free(buf);
        buf = grown;
        cap *= 2;
    }
    bool failed = ferror(f) || !buf || n >= ((size_t)64 << 20);
    fclose(f);
    if (failed) {
        free(buf);
        fprintf(stderr, "clann: %s: cannot read the spec (a read error, or over 64 MiB)\n", path);
        return CLI_FAILED;
    }
    buf[n] = '\0';
    *out = buf;
    return CLI_OK;
}

/* --spec: its model, with the feature columns it describes fitted on the training rows where
 * it leaves them open (a vocabulary it gives is the one trained and saved), and every table
 * part turned into inputs through them: one vocabulary, whichever way it came. */
static int spec_model(const char *path, struct clann_context *ctx, struct cli_data *d,
                      struct clann_model **m)
{
    char *text;
    int rc = read_text(path, &text);
    if (rc != CLI_OK)
        return rc;
    enum clann_status st = d->table ? clann_model_from_spec_table(ctx, text, d->table, m)
                                    : clann_model_from_spec_json(ctx, text, m);
    free(text);
    if (st != CLANN_OK)
        return cli_fail(path, st);
    return d->table ? cli_table_model_parts(*m, d, path) : CLI_OK;
}

/* The model must take the data's width. */
static int check_width(const char *source, const struct clann_model *m, size_t inputs)
{
    if (clann_model_input_count(m) == inputs)
        return CLI_OK;
    return cli_usage("%s takes %zu inputs but the data has %zu feature columns (is --label "
                     "right?)", source, clann_model_input_count(m), inputs);
}

int cli_train_model(const struct cli_train_args *a, struct clann_context *ctx, size_t inputs,
                    enum cli_task task, const struct clann_matrix *y, size_t n_classes,
                    const struct clann_features *features, struct clann_model **out)
{
    *out = NULL;
    struct clann_estimator_params ep;
    size_t *hidden = NULL, *conv = NULL, n_out = 0;
    enum clann_loss loss = CLANN_LOSS_MSE;
    int rc = estimator_params(a, &ep, &hidden, &conv, inputs);
    ep.features = features;
    if (rc == CLI_OK)
        rc = task_head(task, y, n_classes, &n_out, &loss);
    if (rc == CLI_OK) {
        enum clann_status st = clann_dnn_create(ctx, inputs, n_out, loss, &ep, out);
        rc = st == CLANN_OK ? CLI_OK : cli_fail("model", st);
    }
    free(hidden);
    free(conv);
    if (rc == CLI_OK)
        rc = check_width("the model", *out, inputs);
    if (rc == CLI_OK)
        rc = cli_transfer_apply(a->init_from, a->freeze, *out);
    if (rc != CLI_OK) {
        clann_model_destroy(*out);
        *out = NULL;
    }
    return rc;
}

int cli_train_check(const struct cli_train_args *a)
{
    struct clann_fit_params fp;
    int rc = cli_train_fit_params(a, NULL, &fp);
    double fractions[3];
    size_t n_fractions;
    if (rc == CLI_OK && a->split)
        rc = cli_split_fractions(a->split, fractions, &n_fractions);
    if (rc == CLI_OK)
        rc = cli_transfer_check(a->init_from, a->freeze);
    if (rc == CLI_OK)
        rc = cli_column_flags_check(&a->columns, NULL);
    const char *scales[2] = {a->scale, a->scale_target}, *names[2] = {"scale", "scale-target"};
    for (int i = 0; i < 2 && rc == CLI_OK; i++) {
        struct clann_scaler_params sp;
        if (scales[i])
            rc = cli_scaler_params(names[i], scales[i], &sp);
    }
    if (rc == CLI_OK && !a->spec && !a->resume) {
        struct clann_estimator_params ep;
        size_t *hidden = NULL, *conv = NULL;
        rc = estimator_params(a, &ep, &hidden, &conv, 0);
        free(hidden);
        free(conv);
    }
    return rc;
}

/* What the epoch callback needs: progress numbering continues a resumed run's epochs, and
 * --checkpoint saves after every epoch. */
struct progress {
    size_t first_epoch; /* epochs finished before this run (a resumed checkpoint's) */
    size_t epochs;      /* the total, as --epochs */
    bool quiet;
    bool bar;           /* stderr is a terminal: a progress bar within each epoch */
    double epoch_start; /* cli_now() at the epoch's first step */
    double last_draw;
    const char *val;    /* what the validation figures are on: "val" (dev data) or "test" */
    const char *checkpoint;
    struct clann_model *model;
    enum clann_status save_status;
};

/* The width of stderr's terminal, else $COLUMNS, else 80; asked at every redraw, so the bar
 * follows a resized window. */
static int terminal_width(void)
{
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    const char *env = getenv("COLUMNS");
    long cols = env ? strtol(env, NULL, 10) : 0;
    return cols > 0 && cols < 10000 ? (int)cols : 80;
}

/* One bar line in fewer than `width` columns (the last column would wrap on some terminals):
 * "epoch 3/15 [=====     ] 120/469  loss 0.4321  12.3s left". As the width shrinks the bar
 * narrows (30 to 10 cells), then goes, then the step count, the time left and the loss. */
static void bar_line(char *buf, size_t size, int width, const char *head, size_t step,
                     size_t steps, const char *loss, double eta)
{
    char count[48], left[32];
    snprintf(count, sizeof count, " %zu/%zu", step, steps);
    snprintf(left, sizeof left, "  %.1fs left", eta);
    const char *parts[3] = {count, left, loss}; /* dropped in this order */
    int room = width - 1, fixed = (int)(strlen(head) + strlen(count) + strlen(left) +
                                        strlen(loss));
    int cells = room - fixed - 3 < 30 ? room - fixed - 3 : 30;
    size_t dropped = 0;
    while (cells < 10 && dropped < 3 && fixed > room)
        fixed -= (int)strlen(parts[dropped++]);
    char bar[40] = "";
    if (cells >= 10) {
        int filled = (int)((double)cells * (double)step / (double)steps);
        snprintf(bar, sizeof bar, " [%.*s%*s]", filled, "==============================",
                 cells - filled, "");
    }
    snprintf(buf, size, "%s%s%s%s%s", head, bar, dropped > 0 ? "" : count, loss[0] && dropped <
             3 ? loss : "", dropped > 1 ? "" : left);
    if (room > 0 && strlen(buf) > (size_t)room)
        buf[room] = '\0'; /* a terminal narrower than "epoch 3/15" */
}

/* The bar within an epoch: steps done, the running loss and the time left; redrawn at most 10
 * times a second (each reads the loss back from the device), on a terminal only (plain
 * per-epoch lines otherwise). */
static void on_progress(size_t epoch, size_t step, size_t steps, void *user)
{
    struct progress *p = user;
    double now = cli_now();
    if (step == 1)
        p->epoch_start = now;
    if (!p->bar || (now - p->last_draw < 0.1 && step < steps))
        return;
    p->last_draw = now;
    double elapsed = now - p->epoch_start;
    double eta = step ? elapsed * (double)(steps - step) / (double)step : 0.0;
    double loss = NAN;
    char head[64], loss_text[48] = "", line[512];
    if (clann_model_running_loss(p->model, &loss) == CLANN_OK && cli_is_regression(p->model))
        loss = cli_loss_in_units(p->model, loss);
    if (isfinite(loss))
        snprintf(loss_text, sizeof loss_text, cli_is_regression(p->model) ? "  loss %.4g"
                                                                           : "  loss %.4f", loss);
    snprintf(head, sizeof head, "epoch %3zu/%zu", p->first_epoch + epoch, p->epochs);
    bar_line(line, sizeof line, terminal_width(), head, step, steps, loss_text, eta);
    fprintf(stderr, "\r%s\033[K", line);
}

static bool on_epoch(const struct clann_epoch_log *log, void *user)
{
    struct progress *p = user;
    size_t epoch = p->first_epoch + log->epoch;
    if (!p->quiet) {
        if (p->bar)
            fprintf(stderr, "\r\033[K"); /* clear the bar's line */
        /* regression losses in the targets' units (NaN where no factor converts them) */
        bool reg = cli_is_regression(p->model);
        double loss = reg ? cli_loss_in_units(p->model, log->loss) : log->loss;
        double val_loss = reg ? cli_loss_in_units(p->model, log->val_loss) : log->val_loss;
        fprintf(stderr, reg ? "epoch %3zu/%zu  loss %.4g" : "epoch %3zu/%zu  loss %.4f", epoch,
                p->epochs, loss);
        if (log->penalty > 0.0) /* apart: the losses are data losses, as eval's */
            fprintf(stderr, "  penalty %.4g", log->penalty);
        if (!isnan(log->accuracy))
            fprintf(stderr, "  accuracy %.4f", log->accuracy);
        if (!isnan(val_loss))
            fprintf(stderr, reg ? "  %s_loss %.4g" : "  %s_loss %.4f", p->val, val_loss);
        if (!isnan(log->val_accuracy))
            fprintf(stderr, "  %s_accuracy %.4f", p->val, log->val_accuracy);
        if (!isnan(log->val_auc))
            fprintf(stderr, "  %s_auc %.4f", p->val, log->val_auc);
        if (!isnan(log->val_hamming_accuracy)) /* multi-label: accuracy is the exact match */
            fprintf(stderr, "  %s_hamming_accuracy %.4f", p->val, log->val_hamming_accuracy);
        fprintf(stderr, "  %.1fs\n", log->seconds);
    }
    if (p->checkpoint) {
        p->save_status = clann_model_save_checkpoint(p->model, p->checkpoint, epoch);
        if (p->save_status != CLANN_OK)
            return false; /* a failed save stops training */
    }
    /* A resumed run's fit is told the run's total (so its record, in every checkpoint it
     * writes, says the total) and ends here when the total is reached. */
    return epoch < p->epochs;
}

static void print_json_number(const char *key, double v, bool comma)
{
    if (isnan(v))
        printf("\"%s\": null%s", key, comma ? ", " : "");
    else
        printf("\"%s\": %.6g%s", key, v, comma ? ", " : "");
}

/* Prints a string as a JSON string literal. */
static void print_json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

struct train_result {
    struct clann_epoch_log last;
    struct clann_metrics test;
    struct clann_regression_metrics reg; /* regression test metrics, in the targets' units */
    bool has_reg;
    double ml_hamming, ml_macro_auc, ml_micro_auc; /* multi-label test metrics */
    bool has_ml;
    size_t epochs; /* the last finished epoch, counting a resumed checkpoint's */
    double seconds;
    size_t samples;
};

static void report(const struct cli_train_args *a, enum cli_task task,
                   struct clann_context *ctx, const struct train_result *r, bool has_test,
                   const char *out)
{
    double rate = r->seconds > 0 ? (double)r->samples / r->seconds : 0;
    if (a->json) {
        printf("{\"task\": \"%s\", \"device\": ", task_names[task]);
        print_json_string(clann_context_device(ctx)->name);
        printf(", \"epochs\": %zu, ", r->epochs);
        print_json_number("train_loss", r->last.loss, true);
        print_json_number("train_accuracy", r->last.accuracy, true);
        print_json_number("test_loss", has_test ? r->test.loss : NAN, true);
        print_json_number("test_accuracy", has_test ? r->test.accuracy : NAN, true);
        if (r->has_reg) {
            print_json_number("test_mse", r->reg.mse, true);
            print_json_number("test_rmse", r->reg.rmse, true);
            print_json_number("test_mae", r->reg.mae, true);
            print_json_number("test_r2", r->reg.r2, true);
        }
        if (r->has_ml) { /* test_accuracy is the exact match (subset accuracy) */
            print_json_number("test_subset_accuracy", r->test.accuracy, true);
            print_json_number("test_hamming_accuracy", r->ml_hamming, true);
            print_json_number("test_macro_auc", r->ml_macro_auc, true);
            print_json_number("test_micro_auc", r->ml_micro_auc, true);
        }
        print_json_number("samples_per_second", rate, true);
        printf("\"ranks\": %d, \"model\": ", clann_world_size());
        print_json_string(out);
        printf("}\n");
        return;
    }
    printf("trained to epoch %zu in %.1fs (%.0f samples/s) on %s\n", r->epochs, r->seconds, rate,
           clann_context_device(ctx)->name);
    if (has_test) {
        printf("test loss %.6g", r->test.loss);
        if (!isnan(r->test.accuracy))
            printf("  test accuracy %.4f", r->test.accuracy);
        if (r->has_reg)
            printf("  test RMSE %.6g  MAE %.6g  R^2 %.4f", r->reg.rmse, r->reg.mae, r->reg.r2);
        if (r->has_ml)
            printf(" (exact match)  hamming accuracy %.4f  macro AUC %.4f", r->ml_hamming,
                   r->ml_macro_auc);
        printf("  (%zu rows)\n", r->test.count);
    }
    printf("model written to %s\n", out);
}

/* A regressor's figures in the targets' own units: the losses converted, and MSE, RMSE, MAE
 * and R^2 of its (unscaled) predictions on the test data. */
static int in_units(struct clann_model *m, const struct cli_data *d, struct train_result *r)
{
    r->last.loss = cli_loss_in_units(m, r->last.loss);
    r->test.loss = cli_loss_in_units(m, r->test.loss);
    if (!d->has_test)
        return CLI_OK;
    struct clann_matrix p;
    enum clann_status st = clann_model_predict(m, &d->test_x, &p);
    if (st == CLANN_OK)
        st = clann_regression_evaluate(p.data, d->test_y.data, p.rows, p.cols, &r->reg);
    clann_matrix_free(&p);
    if (st != CLANN_OK)
        return cli_fail("test metrics", st);
    r->has_reg = true;
    return CLI_OK;
}

/* A multi-label model's per-label figures on the test data (its accuracy, the exact match,
 * comes from clann_model_evaluate). */
static int multilabel_test(struct clann_model *m, const struct cli_data *d,
                           struct train_result *r)
{
    struct clann_matrix p;
    struct clann_multilabel_metrics ml;
    enum clann_status st = clann_model_predict(m, &d->test_x, &p);
    if (st == CLANN_OK)
        st = clann_multilabel_evaluate(p.data, d->test_y.data, p.rows, p.cols, 0.5f, &ml);
    clann_matrix_free(&p);
    if (st != CLANN_OK)
        return cli_fail("test metrics", st);
    r->ml_hamming = ml.hamming_accuracy;
    r->ml_macro_auc = ml.macro_roc_auc;
    r->ml_micro_auc = ml.micro_roc_auc;
    r->has_ml = true;
    clann_multilabel_metrics_free(&ml);
    return CLI_OK;
}

/* A regressor whose training loss ended no better than predicting the mean (MSE at or above
 * the training targets' variance) has learned next to nothing: often unscaled targets. */
static void regression_warning(const struct clann_model *m, const struct cli_data *d,
                               const struct train_result *r)
{
    if (clann_model_loss(m) != CLANN_LOSS_MSE || d->y.cols != 1 || d->y.rows < 2)
        return;
    double mean = 0, ss = 0;
    for (size_t i = 0; i < d->y.rows; i++)
        mean += d->y.data[i];
    mean /= (double)d->y.rows;
    for (size_t i = 0; i < d->y.rows; i++)
        ss += (d->y.data[i] - mean) * (d->y.data[i] - mean);
    double var = ss / (double)d->y.rows;
    if (r->last.loss >= var)
        fprintf(stderr, "warning: the training loss ended at %.4g, at or above the target's "
                "variance %.4g (no better than predicting the mean)%s\n", r->last.loss, var,
                clann_model_scaler_kind(m, true) == CLANN_SCALE_NONE
                    ? ": scale the target? (--scale-target standard)" : "");
}

/* Trains m from epoch first_epoch to --epochs, then evaluates, saves and reports. */
static int train_and_report(const struct cli_train_args *a, struct cli_data *d,
                            enum cli_task task, struct clann_model *m, size_t first_epoch,
                            struct clann_context *ctx)
{
    struct clann_fit_params fp;
    int rc = cli_train_run_params(a, m, d->x.rows, &fp);
    if (rc != CLI_OK)
        return rc;
    /* Without dev data the per-epoch figures are on the test set: say so (nothing is chosen by
     * them then; early stopping always gets dev data). */
    struct progress prog = {first_epoch, fp.epochs, a->quiet, !a->quiet && isatty(2),
                            0.0,         0.0,       d->has_dev ? "val" : "test",
                            a->checkpoint, m,       CLANN_OK};
    if ((rc = cli_run_info_write(a, d, m, &fp, clann_context_device(ctx)->name)) != CLI_OK)
        return rc;
    fp.on_epoch = on_epoch;
    fp.on_progress = on_progress;
    fp.user = &prog;
    struct train_result r;
    memset(&r, 0, sizeof r);
    r.last.loss = r.last.accuracy = NAN;
    r.epochs = first_epoch;
    enum clann_status st = CLANN_OK;
    if (fp.epochs <= first_epoch) {
        cli_note("nothing to train: the checkpoint is at epoch %zu of --epochs %zu\n",
                first_epoch, fp.epochs);
    } else {
        double t0 = cli_now();
        /* Validation (early stopping, plateau schedules) uses dev data, never the test set;
         * without dev data the test set is only reported alongside. */
        const struct clann_matrix *vx = d->has_dev ? &d->dev_x : d->has_test ? &d->test_x : NULL;
        const struct clann_matrix *vy = d->has_dev ? &d->dev_y : d->has_test ? &d->test_y : NULL;
        fp.validation_name = prog.val; /* log.csv and TensorBoard say test_* as the console */
        st = clann_model_fit(m, &d->x, &d->y, vx, vy, &fp, &r.last);
        r.seconds = cli_now() - t0;
        r.epochs = first_epoch + r.last.epoch;
        r.samples = r.last.epoch * d->x.rows;
    }
    if (prog.save_status != CLANN_OK)
        return cli_fail(a->checkpoint, prog.save_status);
    if (st != CLANN_OK)
        return cli_fail("train", st);
    if (d->has_test && (st = clann_model_evaluate(m, &d->test_x, &d->test_y, &r.test)))
        return cli_fail("evaluate", st);
    if (cli_is_regression(m) && (rc = in_units(m, d, &r)) != CLI_OK)
        return rc;
    if (cli_is_regression(m) && r.epochs > first_epoch)
        regression_warning(m, d, &r);
    if (d->has_test && cli_model_task(m) == CLI_TASK_MULTILABEL &&
        (rc = multilabel_test(m, d, &r)) != CLI_OK)
        return rc;
    if (d->has_test && a->logdir) {
        struct cli_eval_options eo = {false, false, NULL, false, 0, a->logdir};
        if ((rc = cli_evaluate_all(m, &d->test_x, &d->test_y, &eo)) != CLI_OK)
            return rc;
    }
    const char *out = a->out ? a->out : "clann-model.safetensors";
    if (clann_world_rank() != 0)
        return CLI_OK; /* rank 0 holds the same model: it alone writes and reports */
    if ((st = clann_model_save(m, out)) != CLANN_OK)
        return cli_fail(out, st);
    report(a, task, ctx, &r, d->has_test, out);
    return CLI_OK;
}

/* --resume: the options of the run the checkpoint was saved in (every checkpoint records
 * them, --epochs as the run's total), less where files went: this command line says that
 * (--logdir, --checkpoint-best), and a resumed run writing into the old run's folder would
 * replace its log. False for a checkpoint without a record (the CLI's defaults then). */
static bool resumed_options(const struct clann_model *m, struct clann_fit_params *base)
{
    if (!clann_model_fit_params(m, base))
        return false;
    base->logdir = NULL;
    base->monitor_every = 0;
    base->checkpoint_path = NULL;
    base->checkpoint_monitor = NULL;
    base->save_best_only = false;
    base->validation_name = NULL;
    return true;
}

static bool same_text(const char *x, const char *y)
{
    return x == y || (x && y && strcmp(x, y) == 0);
}

static bool same_schedule(const struct clann_lr_schedule *x, const struct clann_lr_schedule *y)
{
    return x->kind == y->kind && x->factor == y->factor && x->step_epochs == y->step_epochs &&
           x->decay_rate == y->decay_rate && x->decay_steps == y->decay_steps &&
           x->patience == y->patience && x->min_lr == y->min_lr &&
           same_text(x->monitor, y->monitor);
}

/* An option given on the resume command line that differs from the checkpoint's record makes
 * another run than the one it continues: allowed (a smaller batch to fit memory, a lower
 * rate floor), but said, with what the checkpoint had where it is one number. */
static void warn_overrides(const struct cli_train_args *a, const struct clann_fit_params *base,
                           const struct clann_fit_params *fp, size_t rows)
{
    struct clann_fit_params b = *base;
    cli_train_decay_steps(&b, rows);
    const struct clann_early_stopping *e = &b.early_stopping, *f = &fp->early_stopping;
    const struct { const char *name; bool changed; } options[] = {
        {"batch", b.batch_size != fp->batch_size},
        {"shards", b.shards != fp->shards},
        {"clip-value", b.clip_value != fp->clip_value},
        {"clip-norm", b.clip_norm != fp->clip_norm},
        {"clip-global-norm", b.clip_global_norm != fp->clip_global_norm},
        {"gradient-noise", b.gradient_noise != fp->gradient_noise},
        {"weight-noise", b.weight_noise != fp->weight_noise},
        {"label-noise", b.label_noise != fp->label_noise},
        {"early-stop/--monitor", e->enabled != f->enabled || e->patience != f->patience ||
                                     !same_text(e->monitor, f->monitor)},
        {"lr-schedule/--lr-decay/--min-lr", !same_schedule(&b.schedule, &fp->schedule)},
        {"no-batchnorm-refresh", b.no_batchnorm_refresh != fp->no_batchnorm_refresh},
    };
    for (size_t i = 0; i < sizeof options / sizeof *options; i++) {
        if (!options[i].changed || clann_world_rank() != 0)
            continue;
        fprintf(stderr, "warning: --%s differs from %s's training options", options[i].name,
                a->resume);
        if (i == 0)
            fprintf(stderr, " (batch %zu)", b.batch_size);
        fprintf(stderr, ": the resumed run is not the one the checkpoint was part of\n");
    }
}

int cli_train_run_params(const struct cli_train_args *a, const struct clann_model *m,
                         size_t rows, struct clann_fit_params *fp)
{
    /* A --spec's "training" section, or a --resume'd checkpoint's record of the run it was
     * saved in, is the base the flags override; otherwise the defaults. */
    struct clann_fit_params base;
    bool from_spec = a->spec && clann_model_fit_params(m, &base);
    bool resumed = a->resume && resumed_options(m, &base);
    int rc = cli_train_fit_params(a, from_spec || resumed ? &base : NULL, fp);
    if (rc != CLI_OK)
        return rc;
    cli_train_decay_steps(fp, rows);
    if (resumed)
        warn_overrides(a, &base, fp, rows);
    fp->distributed = true; /* under mpirun: one model, each rank a share of every batch */
    return CLI_OK;
}

int cli_train_build(const struct cli_train_args *a, struct clann_context *ctx,
                    struct cli_data *d, enum cli_task task, size_t n_classes,
                    struct clann_model **m)
{
    int rc;
    if (a->spec) { /* the spec's model, what it leaves open fitted on d's training rows */
        rc = spec_model(a->spec, ctx, d, m);
        if (rc == CLI_OK)
            rc = check_width(a->spec, *m, d->x.cols);
        if (rc == CLI_OK) /* cli_train_model applies them to the models it builds */
            rc = cli_transfer_apply(a->init_from, a->freeze, *m);
    } else {
        rc = cli_train_model(a, ctx, d->x.cols, task, &d->y, n_classes, d->features, m);
    }
    if (rc == CLI_OK)
        rc = cli_train_scale(a, *m, d);
    if (rc == CLI_OK)
        rc = cli_train_columns(*m, d);
    if (rc != CLI_OK) {
        clann_model_destroy(*m);
        *m = NULL;
    }
    return rc;
}

/* --resume: the checkpoint's model (its weights, optimizer state, scalers, classes and
 * training options), loaded before the data, which is read the way it says. */
static int resume_load(const struct cli_train_args *a, struct clann_context *ctx,
                       struct clann_model **m, size_t *epoch)
{
    enum clann_status st = clann_model_load_checkpoint(ctx, a->resume, m, epoch);
    return st == CLANN_OK ? CLI_OK : cli_fail(a->resume, st);
}

/* --resume's split: the checkpoint's seed (the seed of the split it was trained on, as --seed
 * is both for a new run), and the early-stopping holdout when its training
 * options (or --early-stop here) stop early, so that it trains on the rows it trained on. The
 * fractions are not recorded (nor whether the run had dev data): --split is given again. */
static int resume_split(const struct cli_train_args *a, const struct clann_model *m,
                        struct cli_data *d)
{
    struct clann_fit_params record;
    bool recorded = clann_model_fit_params(m, &record);
    bool early = a->early_stop ? strcmp(a->early_stop, "0") != 0
                               : recorded && record.early_stopping.enabled;
    return cli_split_data(a, d, (unsigned long long)clann_model_seed(m), early);
}

/* --resume reads a CSV as the checkpoint's run read it unless told otherwise: its label
 * column, its --fill policy and its input columns by name (*features, malloc'ed: --features
 * for the reader; resume_input_order() puts them in the checkpoint's order). */
static int resume_table_opts(const struct cli_train_args *a, const struct clann_model *m,
                             struct cli_table_opts *o, char **features)
{
    struct clann_columns c;
    o->resumed = m;
    if (!clann_model_columns(m, &c))
        return CLI_OK;
    if (!a->label && c.label)
        o->label = c.label; /* eval's default too */
    if (!a->fill && c.fill != CLANN_FILL_NONE)
        o->fill = clann_fill_name(c.fill);
    size_t n = 1;
    for (size_t i = 0; i < c.n_inputs; i++) {
        if (strchr(c.inputs[i], ','))
            return CLI_OK; /* not a --features list: the columns by position then */
        n += strlen(c.inputs[i]) + 1;
    }
    if (a->features || a->ignore || c.n_inputs == 0)
        return CLI_OK;
    if (!(*features = malloc(n)))
        return cli_usage("out of memory");
    **features = '\0';
    for (size_t i = 0; i < c.n_inputs; i++)
        strcat(strcat(*features, i ? "," : ""), c.inputs[i]);
    o->features = *features;
    return CLI_OK;
}

/* The input columns in the checkpoint's order (the reader lists them in the file's): a file
 * whose columns come in another order feeds the model the same inputs. */
static void resume_input_order(struct cli_data *d, const struct clann_model *m)
{
    struct clann_columns c;
    if (!d->table || !clann_model_columns(m, &c) || c.n_inputs != d->n_inputs)
        return;
    for (size_t i = 0; i < c.n_inputs; i++) {
        for (size_t j = i; j < d->n_inputs; j++) {
            if (strcmp(d->inputs[j], c.inputs[i]) != 0)
                continue;
            char *t = d->inputs[i];
            d->inputs[i] = d->inputs[j];
            d->inputs[j] = t;
            break;
        }
    }
}

/* --resume: the checkpoint's model must take the data's width (its feature columns make x). */
static int resume_model(const struct cli_train_args *a, struct cli_data *d,
                        struct clann_model *m, size_t epoch)
{
    int rc = d->table ? cli_table_model_parts(m, d, a->resume) : CLI_OK;
    if (rc != CLI_OK)
        return rc;
    size_t inputs = d->x.cols;
    if (clann_model_input_count(m) != inputs)
        return cli_usage("%s takes %zu inputs but the data has %zu feature columns (is --label "
                         "right?)", a->resume, clann_model_input_count(m), inputs);
    cli_note("resuming %s after epoch %zu\n", a->resume, epoch);
    return CLI_OK;
}

/* Every label part against the model's task, whichever way the model came (options, --spec
 * or --resume). */
static int check_labels(const struct clann_model *m, const struct cli_data *d)
{
    enum cli_task task = cli_model_task(m);
    size_t outputs = clann_model_output_count(m);
    int rc = cli_check_labels("training labels", task, outputs, &d->y, true);
    if (rc == CLI_OK && d->has_dev)
        rc = cli_check_labels("dev labels", task, outputs, &d->dev_y, false);
    if (rc == CLI_OK && d->has_test)
        rc = cli_check_labels("test labels", task, outputs, &d->test_y, false);
    return rc;
}

/* Builds the model (or takes the resumed checkpoint's, m, after epoch), trains and reports;
 * m goes with it. */
static int build_and_train(const struct cli_train_args *a, struct cli_data *d,
                           struct clann_context *ctx, struct clann_model *m, size_t epoch)
{
    enum cli_task task = CLI_TASK_AUTO;
    size_t n_classes = 0;
    int rc;
    if (m) {
        rc = resume_model(a, d, m, epoch);
    } else {
        rc = a->spec ? CLI_OK /* the spec says the task */
                     : cli_train_task(a, &d->y, d->has_test ? &d->test_y : NULL, d->n_classes,
                                      &task, &n_classes);
        if (rc == CLI_OK)
            rc = cli_train_build(a, ctx, d, task, n_classes, &m);
    }
    if (rc == CLI_OK)
        rc = check_labels(m, d);
    if (rc == CLI_OK)
        rc = train_and_report(a, d, cli_model_task(m), m, epoch, ctx);
    clann_model_destroy(m);
    return rc;
}

/* The options that describe a model: --spec and --resume bring their own. */
static int check_conflicts(const struct cli_train_args *a)
{
    if (a->spec && a->resume)
        return cli_usage("train: --spec and --resume cannot be combined (a checkpoint holds its "
                         "model)");
    if (a->resume && (a->init_from || a->freeze))
        return cli_usage("train: --%s cannot be combined with --resume (a checkpoint holds its "
                         "weights and frozen layers)", a->init_from ? "init-from" : "freeze");
    if (a->resume && (a->scale || a->scale_target))
        return cli_usage("train: --%s cannot be combined with --resume (a checkpoint holds the "
                         "scalers fitted on its training rows)",
                         a->scale ? "scale" : "scale-target");
    if (!a->spec && !a->resume)
        return CLI_OK;
    const char *given[] = {a->task, a->hidden, a->activation, a->dropout, a->optimizer, a->lr,
                           a->l1, a->l2, a->max_norm, a->seed, a->batchnorm ? "" : NULL,
                           a->no_batchnorm ? "" : NULL,
                           a->conv, a->pool, a->input_shape, a->columns.bucketize,
                           a->columns.hash, a->columns.identity, a->columns.cross,
                           a->columns.embed, a->spatial_dropout};
    const char *names[] = {"task", "hidden", "activation", "dropout", "optimizer", "lr",
                           "l1", "l2", "max-norm", "seed", "batchnorm", "no-batchnorm",
                           "conv", "pool", "input-shape", "bucketize", "hash", "identity",
                           "cross", "embed", "spatial-dropout"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (given[i])
            return cli_usage("train: --%s cannot be combined with %s (the model comes from the "
                             "file)", names[i], a->spec ? "--spec" : "--resume");
    }
    return CLI_OK;
}

/* "regression|binary|..." from task_names (auto is the default, not a value). */
static const char *task_list(void)
{
    static char buf[128];
    size_t used = 0;
    for (size_t i = 1; i < sizeof task_names / sizeof *task_names; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i > 1 ? "|" : "",
                                 task_names[i]);
    return buf;
}

/* The --fill policies that fill ("none" is not having --fill), from the library's names. */
static const char *fill_list(void)
{
    static char buf[128];
    size_t used = 0;
    for (int i = 1; strcmp(clann_fill_name((enum clann_fill_policy)i), "?") != 0; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i > 1 ? "|" : "",
                                 clann_fill_name((enum clann_fill_policy)i));
    return buf;
}

size_t cli_train_options(struct cli_train_args *a, struct cli_option *out)
{
    const struct cli_option options[] = {
        {"data", true, &a->data, NULL, "training data: CSV, X.npy,y.npy, IDX pair or "
                                       "fashion-mnist (default)"},
        {"label", true, &a->label, NULL, "label column of a CSV: name or 0-based index "
                                         "(default: last)"},
        {"test", true, &a->test, NULL, "test data, same forms as --data"},
        {"task", true, &a->task, NULL, cli_fmt("%s (default: from the labels)", task_list())},
        {"spec", true, &a->spec, NULL, "build the model from this JSON spec (as 'clann info "
                                       "FILE --spec' prints) instead of the model options"},
        {"resume", true, &a->resume, NULL, "continue this checkpoint's run (its training "
                                           "options, scalers and classes) up to --epochs in total"},
        {"checkpoint", true, &a->checkpoint, NULL, "write a checkpoint here after every epoch"},
        {"init-from", true, &a->init_from, NULL, "MODEL[:LAYERS]: copy these layers' weights "
                                                 "(default all) from a model file, e.g. base.safetensors:0,1"},
        {"freeze", true, &a->freeze, NULL, "LAYERS not to train: e.g. 0,1, all or all-but-last "
                                           "(layer numbers as clann info shows)"},
        {"hidden", true, &a->hidden, NULL, "hidden layer sizes, e.g. 256,128 ('none': linear)"},
        {"conv", true, &a->conv, NULL, "convolutions before the hidden layers, FILTERSxKERNEL,... "
                                       "e.g. 16x3,32x3 (same padding, --activation)"},
        {"pool", true, &a->pool, NULL, "max pooling size after each convolution (default 2; 0: "
                                       "none)"},
        {"input-shape", true, &a->input_shape, NULL, "C,H,W of an input image for --conv "
                                                     "(Fashion-MNIST and IDX: 1,28,28)"},
        {"activation", true, &a->activation, NULL,
         cli_fmt("hidden activation: %s (default relu)", cli_names(CLANN_NAMES_ACTIVATION))},
        {"dropout", true, &a->dropout, NULL, "drop rate after each hidden layer (default 0)"},
        {"spatial-dropout", true, &a->spatial_dropout, NULL, "channel drop rate after each "
                                                             "--conv block (default 0)"},
        {"batchnorm", false, NULL, &a->batchnorm, "batch normalization before each hidden "
                                                  "and --conv activation (per channel; the "
                                                  "default with --conv)"},
        {"no-batchnorm", false, NULL, &a->no_batchnorm, "no batch normalization (with --conv)"},
        {"no-batchnorm-refresh", false, NULL, &a->no_batchnorm_refresh, "keep batch norm's "
         "lagging momentum statistics (default: re-estimated after each epoch)"},
        {"l1", true, &a->l1, NULL, "L1 penalty on every kernel (l1 * sum |w|)"},
        {"l2", true, &a->l2, NULL, "L2 penalty on every kernel (l2 / 2 * sum w^2)"},
        {"max-norm", true, &a->max_norm, NULL, "max-norm constraint per unit on every kernel"},
        {"clip-norm", true, &a->clip_norm, NULL, "clip each gradient tensor to this L2 norm"},
        {"clip-value", true, &a->clip_value, NULL, "clip each gradient value to [-v, v]"},
        {"clip-global-norm", true, &a->clip_global_norm, NULL, "scale all gradients together "
                                                               "to at most this global L2 norm"},
        {"gradient-noise", true, &a->gradient_noise, NULL, "Gaussian noise of this standard "
                                                           "deviation on every gradient"},
        {"weight-noise", true, &a->weight_noise, NULL, "Gaussian noise on the weights in each "
                                                       "step's passes (not kept)"},
        {"label-noise", true, &a->label_noise, NULL, "Gaussian noise on regression targets "
                                                     "in training"},
        {"early-stop", true, &a->early_stop, NULL, "stop after PATIENCE epochs without "
                                                   "improvement; restores the best weights"},
        {"monitor", true, &a->monitor, NULL,
         cli_fmt("what early stopping watches: %s (default val_loss with dev data, else loss)",
                 cli_names(CLANN_NAMES_MONITOR))},
        {"checkpoint-best", true, &a->checkpoint_best, NULL, "save the model here after every "
                                                             "epoch that improves its monitor"},
        {"checkpoint-monitor", true, &a->checkpoint_monitor, NULL,
         cli_fmt("what --checkpoint-best watches: %s (default: --monitor's)",
                 cli_names(CLANN_NAMES_MONITOR))},
        {"optimizer", true, &a->optimizer, NULL,
         cli_fmt("%s|nesterov (default adam)", cli_names(CLANN_NAMES_OPTIMIZER))},
        {"lr", true, &a->lr, NULL, "starting learning rate (default: the optimizer's; 0.002 for "
                                   "adam)"},
        {"lr-decay", true, &a->lr_decay, NULL, "multiply the learning rate by this every epoch "
                                               "(smoothly; default: 0.75 every 400 steps; 1: constant)"},
        {"lr-schedule", true, &a->lr_schedule, NULL,
         cli_fmt("learning-rate schedule, one of %s, written constant, step:EVERY:FACTOR "
                 "(epochs), exponential:RATE[:STEPS] (per epoch without STEPS) or "
                 "plateau:PATIENCE:FACTOR[:MONITOR]", cli_names(CLANN_NAMES_SCHEDULE))},
        {"min-lr", true, &a->min_lr, NULL, "the schedules never go below this rate"},
        {"batch", true, &a->batch, NULL, "batch size (default 128)"},
        {"shards", true, &a->shards, NULL, "cut each batch into N shards added in order: the "
                                           "same bits on any rank count dividing N"},
        {"epochs", true, &a->epochs, NULL, "epochs in total (default 15)"},
        {"seed", true, &a->seed, NULL, "random seed (default 42)"},
        {"device", true, &a->device, NULL, "auto|cpu|opencl|opencl:P:D|name (default auto); "
                                             "A,B,...: local rank L of mpirun takes entry L mod k"},
        {"out", true, &a->out, NULL, "model file (default clann-model.safetensors)"},
        {"split", true, &a->split, NULL, "train,dev[,test] fractions of --data, e.g. "
                                          "0.8,0.1,0.1 (stratified for class labels)"},
        {"scale", true, &a->scale, NULL,
         cli_fmt("input scaling fitted on the training rows: %s (default standard; "
                 "minmax:LO:HI a range, clip:LO:HI clamps)", cli_names(CLANN_NAMES_SCALE))},
        {"scale-target", true, &a->scale_target, NULL,
         cli_fmt("regression target scaling: %s (default standard), as --scale",
                 cli_names(CLANN_NAMES_SCALE))},
        {"fill", true, &a->fill, NULL,
         cli_fmt("missing cells (empty, NA, N/A, NaN, null, ?): %s (default: refuse)",
                 fill_list())},
        {"ignore", true, &a->ignore, NULL, "CSV columns to leave out, e.g. id,date"},
        {"features", true, &a->features, NULL, "the only CSV columns to use as inputs"},
        {"bucketize", true, &a->columns.bucketize, NULL, "numeric columns as bucket ids, "
                                                         "COL=B1,B2,...[,COL2=B1,...]"},
        {"hash", true, &a->columns.hash, NULL, "columns as hash buckets (XXH64 of the text), "
                                               "COL=BUCKETS[,...]"},
        {"identity", true, &a->columns.identity, NULL, "integer columns as ids 0..BUCKETS-1, "
                                                       "COL=BUCKETS[,...]"},
        {"cross", true, &a->columns.cross, NULL, "crossed columns as hash buckets, added to the "
                                                 "inputs: COLA,COLB=BUCKETS[,...]"},
        {"embed", true, &a->columns.embed, NULL, "FEATURE=DIM|onehot[,...]: an embedding of DIM or "
                                                 "a one-hot (default: one-hot up to 16 ids)"},
        {"logdir", true, &a->logdir, NULL, "write log.csv, TensorBoard events, split.json and "
                                            "eval.json here"},
        {"monitor-every", true, &a->monitor_every, NULL, "per-layer monitors every N steps "
                                                         "(default 50 with --logdir)"},
        {"json", false, NULL, &a->json, "print final metrics as one JSON object on stdout"},
        {"quiet", false, NULL, &a->quiet, "no per-epoch progress"},
    };
    size_t n = sizeof options / sizeof *options;
    memcpy(out, options, sizeof options);
    return n;
}

static int train_on_rank(struct cli_train_args *a);

int cli_train(int argc, char **argv)
{
    struct cli_train_args a;
    memset(&a, 0, sizeof a);
    struct cli_option options[CLI_TRAIN_MAX_OPTIONS];
    size_t n_opt = cli_train_options(&a, options);
    int rc = cli_parse("train", argc, argv, options, n_opt);
    if (rc < 0) {
        cli_print_help("train", "[OPTIONS]", options, n_opt);
        return CLI_OK;
    }
    /* Every option is checked before the data is read: a typo costs no loading time. */
    if (rc != CLI_OK || (rc = check_conflicts(&a)) != CLI_OK || (rc = cli_train_check(&a)))
        return rc;
    enum cli_task task;
    if (a.task && (rc = parse_task(a.task, &task)) != CLI_OK)
        return rc;
    enum clann_status st = clann_world_init(NULL, NULL);
    if (st != CLANN_OK)
        return cli_fail("mpirun", st);
    rc = train_on_rank(&a);
    if (rc != CLI_OK)
        clann_world_abort(rc); /* the message is out: end every rank, none waits for this one */
    clann_world_finalize();
    return rc;
}

/* A run folder holds one run, as the library keeps log.csv and the event file: what an
 * earlier run left there (its evaluation, its split) goes before this one writes its own. */
static int reset_run_dir(const char *logdir)
{
    static const char *const stale[] = {"eval.json", "split.json"};
    for (size_t i = 0; logdir && i < sizeof stale / sizeof *stale; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", logdir, stale[i]);
        if (unlink(path) != 0 && errno != ENOENT && errno != ENOTDIR)
            return cli_fail_text(path, "cannot remove the earlier run's file: %s",
                                 strerror(errno));
    }
    return CLI_OK;
}

/* One rank's (or the only process's) training: under mpirun every rank reads the data (the
 * files are shared) and trains its share; rank 0 alone prints and writes files. */
static int train_on_rank(struct cli_train_args *a)
{
    int rc = CLI_OK;
    if (clann_world_rank() != 0) {
        a->logdir = NULL;
        a->checkpoint = NULL;
        a->quiet = true;
    }
    struct clann_context *ctx = NULL;
    struct clann_model *resumed = NULL;
    size_t epoch = 0;
    struct cli_table_opts o = cli_table_opts_of(a);
    char *features = NULL;
    if (a->resume) { /* first: the checkpoint says how its data is read */
        if ((rc = cli_context(a->device, &ctx)) == CLI_OK &&
            (rc = resume_load(a, ctx, &resumed, &epoch)) == CLI_OK)
            rc = resume_table_opts(a, resumed, &o, &features);
    }
    struct cli_data d;
    memset(&d, 0, sizeof d);
    if (rc == CLI_OK)
        rc = cli_data_load(a->data ? a->data : "fashion-mnist", &o, &d);
    if (rc == CLI_OK && resumed)
        resume_input_order(&d, resumed);
    d.model_columns = a->spec || a->resume; /* the model's feature columns, not new ones */
    if (rc == CLI_OK && a->test && !d.has_test)
        rc = cli_load_part(a->test, &o, &d, false);
    if (rc == CLI_OK)
        rc = reset_run_dir(a->logdir);
    if (rc == CLI_OK)
        rc = resumed ? resume_split(a, resumed, &d) : cli_train_split(a, &d);
    if (rc == CLI_OK && !ctx)
        rc = cli_context(a->device, &ctx);
    if (rc == CLI_OK)
        rc = build_and_train(a, &d, ctx, resumed, epoch);
    else
        clann_model_destroy(resumed);
    free(features);
    clann_context_destroy(ctx);
    cli_data_free(&d);
    return rc;
}
