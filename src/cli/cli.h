/*
 * cli.h - what the subcommands of the `clann` command share: option parsing, data sources and
 * exit codes (0 ok, 1 runtime failure, 2 usage error; errors as one line on stderr).
 */
#ifndef CLANN_CLI_H
#define CLANN_CLI_H

#include "clann.h"

#include <stdbool.h>
#include <stddef.h>

enum { CLI_OK = 0, CLI_FAILED = 1, CLI_USAGE = 2 };

/* One option of a subcommand: "--name VALUE" (or "--name=VALUE"), or a flag when takes_value is
 * false. Parsed values land in *value (NULL when absent) or *flag. */
struct cli_option {
    const char *name;
    bool takes_value;
    const char **value;
    bool *flag;
    const char *help;
};

/* Parses argv against options; prints a one-line error and returns CLI_USAGE on an unknown
 * option or a missing value; returns -1 after printing help for --help. */
int cli_parse(const char *command, int argc, char **argv, const struct cli_option *options,
              size_t n_options);
void cli_print_help(const char *command, const char *synopsis, const struct cli_option *options,
                    size_t n_options);

/* Number parsing with a usage error naming the option. */
bool cli_size(const char *option, const char *text, size_t *out);
bool cli_float(const char *option, const char *text, float *out);
bool cli_u64(const char *option, const char *text, unsigned long long *out);
/* A float in a range (the same ranges the model-file reader applies), and a size > 0; each
 * prints one usage error when the text is not one. */
enum cli_range { CLI_RANGE_NONNEG, CLI_RANGE_POSITIVE, CLI_RANGE_UNIT_OPEN /* [0, 1) */ };
bool cli_float_in(const char *option, const char *text, enum cli_range range, float *out);
bool cli_positive_size(const char *option, const char *text, size_t *out);
/* Comma-separated sizes ("256,128"): *out allocated, free() it. */
bool cli_size_list(const char *option, const char *text, size_t **out, size_t *count);

/* The names of a library kind as "a|b|c" (clann_name_at), for help texts and messages, so
 * that they list every accepted value. Static storage. */
const char *cli_names(enum clann_name_list list);
/* printf into one of a ring of static buffers (help texts built once at start-up). */
const char *cli_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "clann: <what>: <library message>" and returns CLI_FAILED. */
int cli_fail(const char *what, enum clann_status status);
/* Prints "clann: <what>: <message>" and returns CLI_FAILED (runtime failures found by the CLI). */
int cli_fail_text(const char *what, const char *fmt, ...);
/* Prints "clann: <message>" for usage errors and returns CLI_USAGE. */
int cli_usage(const char *fmt, ...);
/* Writes path through the library's atomic writer (clann_file_create): fill(f, user) writes the
 * contents. A failure prints the library's message (naming the path and the system error) and
 * returns CLI_FAILED; an existing file is then left as it was. */
int cli_write_file(const char *path, void (*fill)(FILE *f, const void *user), const void *user);
/* mkdir -p dir, best effort: a folder that cannot be made shows when a file in it is written. */
void cli_make_dirs(const char *dir);
/* A note on stderr (what was chosen, what happens), printed by rank 0 alone under mpirun. */
void cli_note(const char *fmt, ...);

/* How a CSV's columns are read for training: the label column (name or 0-based index; NULL: the
 * last), the columns left out (--ignore) or the only inputs (--features), comma-separated, and
 * the --fill policy (NULL: none, missing cells are an error). */
struct cli_table_opts {
    const char *label, *ignore, *features, *fill;
    struct cli_column_flags {
        /* categorical.c: feature columns chosen by flag, each a comma-separated list of items:
         * --bucketize COL=B1,B2,..., --hash COL=BUCKETS, --identity COL=BUCKETS,
         * --cross COLA,COLB[,...]=BUCKETS, --embed FEATURE=DIM|onehot */
        const char *bucketize, *hash, *identity, *cross, *embed;
    } columns;
    /* --resume: the checkpoint, whose classes text labels map through (none fitted here) */
    const struct clann_model *resumed;
};

/* A data set loaded from a SRC argument: a CSV file, an NPY or IDX file pair "X,y", or the
 * built-in name "fashion-mnist" (train files; its t10k files are the test set). */
struct cli_data {
    struct clann_matrix x, y;
    /* A CSV: its tables (train, dev, test parts), the label column's name, and for text inputs
     * the feature set fitted on the training table, which turns each table into x. */
    struct clann_table *table, *dev_table, *test_table;
    struct clann_features *features;
    char label[128];
    char **inputs;       /* the input columns of a table, by name, in input order */
    size_t n_inputs;
    bool categorical;    /* some input is a text column: x comes from feature columns */
    struct cli_column_flags columns; /* feature columns chosen by flag (categorical.c) */
    bool model_columns;  /* --spec, --resume: x comes from the model's own feature columns
                            (cli_table_model_parts), not from columns fitted here */
    char **classes;      /* text labels: the vocabulary (sorted), class k is classes[k] */
    size_t n_classes;
    enum clann_fill_policy fill;
    char **fill_columns, **fill_values; /* fitted on the training table */
    size_t n_fill;
    struct clann_matrix dev_x, dev_y;   /* from --split (or held out for early stopping) */
    struct clann_matrix test_x, test_y; /* filled for fashion-mnist */
    bool has_dev, has_test;
    char name[256];
};

/* Loads SRC; a CSV is read as a table with its columns resolved per o (tabular.c): inputs,
 * missing cells (refused, or rows dropped), labels (text labels through a vocabulary). */
int cli_data_load(const char *src, const struct cli_table_opts *o, struct cli_data *d);
/* Whether SRC names a CSV file (.csv, .txt, .tsv). */
bool cli_is_csv(const char *src);

/* src/cli/tabular.c: reads a CSV as a table into d->table and resolves its label column's name
 * into d->label (o->label, or the last column; "" when o->label is ""). */
int cli_table_load(const char *src, const char *label, struct cli_data *d);
/* Training data: inputs per --ignore/--features, missing cells (refused naming the columns, or
 * dropped with --fill drop), the labels into d->y (a vocabulary for text labels). */
int cli_table_prepare(struct cli_data *d, const struct cli_table_opts *o);
/* Labels of another table of the same columns (--test, tune's --dev) through d's vocabulary:
 * an unseen label is an error naming source (t's file), its row and value. */
int cli_table_labels(const struct cli_data *d, const struct clann_table *t, const char *source,
                     struct clann_matrix *y);
/* Fits the fill values on d->table (the training part) and fills every part's missing cells. */
int cli_table_fill(struct cli_data *d);
/* x of a table from the named numeric columns, in order. */
int cli_table_matrix(const struct clann_table *t, char *const *names, size_t n,
                     struct clann_matrix *x);
/* Stores d's columns (inputs, label, vocabulary, fill values) in a model trained on it. */
int cli_train_columns(struct clann_model *m, const struct cli_data *d);
/* eval and predict: x (and y when need_labels) of d->table as the model reads its table: inputs
 * by name, the model's fill values, labels through its vocabulary. */
int cli_table_model_data(const struct clann_model *m, struct cli_data *d, bool need_labels);
/* x of d->table through a model's own feature set (eval and predict). */
int cli_table_model_input(const struct clann_model *m, struct cli_data *d);
/* Frees d's column lists (inputs, vocabulary, fill values). */
void cli_table_free_columns(struct cli_data *d);
/* Whether labels are one column of small non-negative integers (a split can stratify). */
bool cli_class_labels(const struct clann_matrix *y);
/* Splits d->table (and d->y) into train/dev/test tables. */
int cli_table_split(struct cli_data *d, const struct clann_split_params *p);
/* Fills missing cells, then turns every table part into x: through feature columns fitted on
 * d->table for text inputs or column flags, else the input columns by name. */
int cli_table_features(struct cli_data *d);
/* The column flags' syntax (d NULL: before any data is read), or their columns against d's
 * table and inputs; usage errors name the flag and the column. */
int cli_column_flags_check(const struct cli_column_flags *c, const struct cli_data *d);
/* --spec and --resume: every table part of d into x through the model's own feature columns
 * (a model without any takes the numeric inputs by name; a text input is then an error). */
int cli_table_model_parts(const struct clann_model *m, struct cli_data *d, const char *source);
void cli_data_free(struct cli_data *d);

/* `clann train`'s options, shared with `clann tune` (which varies some of them per run). */
struct cli_train_args {
    const char *data, *label, *test, *task, *hidden, *activation, *dropout, *optimizer, *lr;
    const char *batch, *epochs, *seed, *device, *out, *shards;
    const char *l1, *l2, *max_norm, *clip_norm, *clip_value, *early_stop, *monitor;
    const char *logdir, *monitor_every, *spec, *resume, *checkpoint;
    const char *split, *scale, *scale_target, *lr_decay;
    const char *fill, *ignore, *features;
    const char *conv, *pool, *input_shape, *spatial_dropout;
    const char *init_from, *freeze;
    struct cli_column_flags columns;
    const char *lr_schedule, *min_lr, *clip_global_norm, *checkpoint_best, *checkpoint_monitor;
    const char *gradient_noise, *weight_noise, *label_noise;
    bool json, quiet, batchnorm, no_batchnorm;
    bool no_batchnorm_refresh;
};

#define CLI_TRAIN_MAX_OPTIONS 80

/* How train's options read a CSV (label, inputs, fill and column flags). */
struct cli_table_opts cli_table_opts_of(const struct cli_train_args *a);
/* Writes train's options, bound to *a, into out (room for CLI_TRAIN_MAX_OPTIONS); returns
 * their count. */
size_t cli_train_options(struct cli_train_args *a, struct cli_option *out);

enum cli_task { CLI_TASK_AUTO, CLI_TASK_REGRESSION, CLI_TASK_BINARY, CLI_TASK_MULTICLASS,
                CLI_TASK_MULTILABEL };

/* The task of --task, or the one the labels imply (announced on stderr), and the class count. */
int cli_train_task(const struct cli_train_args *a, const struct clann_matrix *y,
                   const struct clann_matrix *test_y, size_t text_classes, enum cli_task *task,
                   size_t *n_classes);
/* A new compiled model from the model options (an estimator for the task) with inputs
 * columns; checks that they agree with the data. */
int cli_train_model(const struct cli_train_args *a, struct clann_context *ctx, size_t inputs,
                    enum cli_task task, const struct clann_matrix *y, size_t n_classes,
                    const struct clann_features *features, struct clann_model **out);
/* transfer.c: checks --init-from and --freeze (usage errors), and applies them to a new
 * model (copies layers, freezes layers), announcing its trained and total parameters. */
int cli_transfer_check(const char *init_from, const char *freeze);
int cli_transfer_apply(const char *init_from, const char *freeze, struct clann_model *m);
/* The one way train and tune make a model for prepared data d: the model (from --spec, its
 * open feature columns fitted on d, or cli_train_model), its scalers fitted on d's training
 * rows (cli_train_scale) and d's columns. */
int cli_train_build(const struct cli_train_args *a, struct clann_context *ctx,
                    struct cli_data *d, enum cli_task task, size_t n_classes,
                    struct clann_model **m);
/* The fit parameters train and tune run m with on rows training rows: the options over the
 * defaults (or a --spec's training section), the per-epoch decay counted. */
int cli_train_run_params(const struct cli_train_args *a, const struct clann_model *m,
                         size_t rows, struct clann_fit_params *fp);
/* Checks every model and training option's value (usage errors) without building anything. */
int cli_train_check(const struct cli_train_args *a);
/* The task a model was built for, from its loss and width. */
enum cli_task cli_model_task(const struct clann_model *m);
/* Checks labels y (named `what` in the message) against the task of a model with `outputs`
 * outputs (0: any width): 0/1 for binary and multi-label tasks, class indices below outputs
 * for multiclass; training labels must hold two classes or more. One line on stderr and
 * CLI_FAILED when they do not. */
int cli_check_labels(const char *what, enum cli_task task, size_t outputs,
                     const struct clann_matrix *y, bool training);
/* Splits d per --split (train/dev or train/dev/test, stratified for class labels), or holds
 * out 10% of the training rows as dev data when early stopping needs it; records the split
 * in logdir/split.json. */
int cli_train_split(const struct cli_train_args *a, struct cli_data *d);
/* cli_train_split with the split's seed and the early-stopping holdout given (--resume: the
 * checkpoint's seed and training options). */
int cli_split_data(const struct cli_train_args *a, struct cli_data *d, unsigned long long seed,
                   bool early);
/* --test (dev false) or tune's --dev (dev true): another part of d from src, read as d's own
 * parts are (a CSV next to a CSV: its labels through d's vocabulary, its missing cells filled
 * with the training values later; other sources loaded alone, of d's width). */
int cli_load_part(const char *src, const struct cli_table_opts *o, struct cli_data *d, bool dev);
/* Parses --split's "0.8,0.1,0.1" or "0.9,0.1" into f (n fractions); a usage error unless they
 * are 2 or 3 numbers in [0, 1] summing to 1. */
int cli_split_fractions(const char *text, double f[3], size_t *n);
/* Parses a --scale value (standard, minmax, log, none). */
int cli_scaler_params(const char *option, const char *text, struct clann_scaler_params *p);
/* Fits --scale on the training rows and --scale-target on the training labels. */
int cli_train_scale(const struct cli_train_args *a, struct clann_model *m,
                    const struct cli_data *d);
/* fit_options.c: fit parameters from the training options (no callbacks), over base: the
 * training options of a --spec's model, or NULL for the CLI's defaults. */
int cli_train_fit_params(const struct cli_train_args *a, const struct clann_fit_params *base,
                         struct clann_fit_params *fp);
/* --lr-decay (or an exponential schedule without STEPS): sets the per-epoch decay's step count
 * for rows training rows. */
void cli_train_decay_steps(struct clann_fit_params *fp, size_t rows);
/* Writes logdir/run.json (run_info.c; nothing without --logdir): the model's layers with their
 * shapes and parameters, and every training option of the run as resolved. */
int cli_run_info_write(const struct cli_train_args *a, const struct cli_data *d,
                       const struct clann_model *m, const struct clann_fit_params *fp,
                       const char *device);

int cli_devices(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_train(int argc, char **argv);
int cli_eval(int argc, char **argv);
int cli_predict(int argc, char **argv);
int cli_info(int argc, char **argv);
int cli_tune(int argc, char **argv);
int cli_bench(int argc, char **argv);
int cli_report(int argc, char **argv);

/* Options of the full evaluation (src/cli/evaluation.c). */
struct cli_eval_options {
    bool print;            /* print the metrics */
    bool json;             /* as one JSON object instead of text */
    const char *threshold; /* binary: a number, f1, accuracy, precision=P or recall=R */
    bool has_slice;
    size_t slice;          /* binary: prediction bias per value of this feature column */
    const char *logdir;    /* write eval.json there (curves included) */
};

/* Checks a --threshold value (a usage error when it is none of the accepted forms). */
int cli_threshold_check(const char *text);

/* Every metric that applies to the model's task (binary: threshold metrics, ROC AUC, average
 * precision, log loss, bias, calibration; multiclass: accuracy, top-5, log loss, macro P/R/F1,
 * confusion matrix; regression: MSE, RMSE, MAE, R^2, bias). */
int cli_evaluate_all(struct clann_model *m, const struct clann_matrix *x,
                     const struct clann_matrix *y, const struct cli_eval_options *o);

/* Whether a model is a regressor (its loss is not a classification loss). */
bool cli_is_regression(const struct clann_model *m);
/* A loss on scaled regression targets in the targets' own units (MSE: times the scale squared,
 * MAE: times the scale); NaN when no single factor converts it. Unscaled: unchanged. */
double cli_loss_in_units(const struct clann_model *m, double loss);

/* Seconds from a monotonic clock. */
double cli_now(void);

/* Creates a context on --device (or CLANN_DEVICE / auto), logging the choice to stderr. */
int cli_context(const char *device, struct clann_context **ctx);

#endif /* CLANN_CLI_H */
