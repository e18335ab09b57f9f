/*
 * tune.c - `clann tune`: grid search over training options. Every combination of the --grid
 * values is trained --repeats times (seeds --seed, --seed + 1, ...) and scored on a dev split:
 * --dev data, or else the dev part of --split (default 0.8,0.2), prepared by the path train
 * prepares its data with (options mean the same in both commands). The test
 * set is never looked at, so that the chosen options can still be judged on it. Prints the mean
 * and standard deviation of the monitored metric per combination and saves the best model.
 */
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 16
#define MAX_RUNS 10000

/* Options a grid may vary: those of the model and of its training. */
static const char *const tunable[] = {
    "hidden", "activation", "dropout", "l1", "l2", "max-norm", "clip-norm", "clip-value",
    "clip-global-norm", "gradient-noise", "weight-noise", "label-noise", "early-stop",
    "optimizer", "lr", "lr-decay", "lr-schedule", "min-lr", "batch", "epochs", "scale",
};

struct grid_key {
    const char *name;
    const char **slot; /* the train option's value */
    char **values;
    size_t n;
};

struct grid {
    struct grid_key keys[MAX_KEYS];
    size_t n;
    size_t combos;
    char *text; /* owns every name and value */
};

struct tune_args {
    struct cli_train_args t;
    const char *grid, *repeats, *dev;
};

static void grid_free(struct grid *g)
{
    for (size_t i = 0; i < g->n; i++)
        free(g->keys[i].values);
    free(g->text);
    memset(g, 0, sizeof *g);
}

static const struct cli_option *find(const struct cli_option *o, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(o[i].name, name) == 0)
            return &o[i];
    return NULL;
}

static bool is_tunable(const char *name)
{
    for (size_t i = 0; i < sizeof tunable / sizeof *tunable; i++)
        if (strcmp(tunable[i], name) == 0)
            return true;
    return false;
}

/* "hidden, activation, ...": the tunable options, for messages and help. */
static const char *tunable_list(void)
{
    static char buf[320];
    size_t used = 0;
    for (size_t i = 0; i < sizeof tunable / sizeof *tunable && used < sizeof buf; i++)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", i ? ", " : "",
                                 tunable[i]);
    return buf;
}

/* Splits "v1,v2" (or "v1|v2" when a value holds commas, as hidden=64,32|128) in place. */
static int split_values(struct grid_key *k, char *list)
{
    char sep = strchr(list, '|') ? '|' : ',';
    size_t n = 1;
    for (char *p = list; *p; p++)
        n += *p == sep;
    k->values = calloc(n, sizeof *k->values);
    if (!k->values)
        return cli_usage("out of memory");
    for (char *p = list; p; k->n++) {
        char *end = strchr(p, sep);
        if (end)
            *end = '\0';
        if (!*p)
            return cli_usage("--grid: %s has an empty value", k->name);
        k->values[k->n] = p;
        p = end ? end + 1 : NULL;
    }
    return CLI_OK;
}

/* Parses "key=v1,v2 key2=..." against the train options (bound to the args). */
static int grid_parse(const char *text, const struct cli_option *o, size_t n_opt,
                      struct grid *g)
{
    memset(g, 0, sizeof *g);
    g->text = malloc(strlen(text) + 1);
    if (!g->text)
        return cli_usage("out of memory");
    strcpy(g->text, text);
    g->combos = 1;
    char *save = NULL;
    for (char *tok = strtok_r(g->text, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n",
                                                                            &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            return cli_usage("--grid: '%s' is not KEY=V1,V2,...", tok);
        *eq = '\0';
        if (g->n == MAX_KEYS)
            return cli_usage("--grid: at most %d options", MAX_KEYS);
        struct grid_key *k = &g->keys[g->n];
        const struct cli_option *opt = find(o, n_opt, tok);
        if (!opt || !is_tunable(tok))
            return cli_usage("--grid: '%s' cannot be tuned (options: %s)", tok, tunable_list());
        for (size_t i = 0; i < g->n; i++)
            if (strcmp(g->keys[i].name, tok) == 0)
                return cli_usage("--grid: '%s' is given twice", tok);
        k->name = tok;
        k->slot = opt->value;
        g->n++;
        int rc = split_values(k, eq + 1);
        if (rc != CLI_OK)
            return rc;
        g->combos *= k->n;
        if (g->combos > MAX_RUNS)
            return cli_usage("--grid: more than %d combinations", MAX_RUNS);
    }
    if (g->n == 0)
        return cli_usage("--grid: no options given (e.g. --grid \"dropout=0.1,0.2 lr=0.01\")");
    return CLI_OK;
}

/* Sets the options of combination c (mixed radix over the keys' value counts). */
static void grid_apply(const struct grid *g, size_t c, size_t *choice)
{
    for (size_t i = g->n; i-- > 0;) {
        const struct grid_key *k = &g->keys[i];
        choice[i] = c % k->n;
        *k->slot = k->values[choice[i]];
        c /= k->n;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Runs and scores.
 */
struct scoring {
    const char *monitor;
    bool maximize;
    bool on_dev; /* val_*: scored on the dev split; else the last epoch's training value */
    bool auc;    /* val_auc: the last epoch's, on the dev split */
};

/* Any monitor early stopping accepts (the library's list), scored as its name says. */
static int scoring_from(const char *monitor, enum cli_task task, struct scoring *s)
{
    s->monitor = monitor ? monitor : "val_loss";
    size_t i = 0;
    while (clann_name_at(CLANN_NAMES_MONITOR, i) &&
           strcmp(clann_name_at(CLANN_NAMES_MONITOR, i), s->monitor) != 0)
        i++;
    if (!clann_name_at(CLANN_NAMES_MONITOR, i))
        return cli_usage("--monitor: '%s' is not one of %s", s->monitor,
                         cli_names(CLANN_NAMES_MONITOR));
    s->on_dev = strncmp(s->monitor, "val_", 4) == 0;
    s->auc = strcmp(s->monitor, "val_auc") == 0;
    s->maximize = strstr(s->monitor, "loss") == NULL;
    if (s->maximize && task == CLI_TASK_REGRESSION)
        return cli_usage("--monitor %s: a regression task has no %s", s->monitor,
                         s->auc ? "AUC" : "accuracy");
    return CLI_OK;
}

struct tune_state {
    struct tune_args *a;
    struct grid g;
    struct scoring sc;
    struct cli_data train, dev;
    enum cli_task task;
    size_t n_classes, repeats;
    unsigned long long seed;
    struct clann_context *ctx;
    double *scores;            /* combos x repeats */
    struct clann_model *best;  /* the best run of the best combination so far */
    size_t best_combo;
    double best_mean;
};

/* Trains one run with the options now set, as `clann train` would on the same prepared data
 * (its model, scalers, columns and fit parameters); *score is the monitored value. */
static int run_once(struct tune_state *s, struct clann_model **m, double *score)
{
    struct clann_fit_params fp;
    int rc = cli_train_build(&s->a->t, s->ctx, &s->train, s->task, s->n_classes, m);
    if (rc == CLI_OK)
        rc = cli_train_run_params(&s->a->t, *m, s->train.x.rows, &fp);
    if (rc != CLI_OK)
        return rc;
    struct clann_epoch_log last;
    enum clann_status st = clann_model_fit(*m, &s->train.x, &s->train.y, &s->dev.x, &s->dev.y,
                                           &fp, &last);
    struct clann_metrics mt;
    if (st == CLANN_OK && s->sc.on_dev)
        st = clann_model_evaluate(*m, &s->dev.x, &s->dev.y, &mt);
    if (st != CLANN_OK)
        return cli_fail("train", st);
    if (s->sc.auc)
        *score = last.val_auc;
    else if (s->sc.on_dev)
        *score = s->sc.maximize ? mt.accuracy : mt.loss;
    else
        *score = s->sc.maximize ? last.accuracy : last.loss;
    return CLI_OK;
}

static void label_of(const struct grid *g, const size_t *choice, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->n && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s=%s", i ? " " : "",
                                 g->keys[i].name, g->keys[i].values[choice[i]]);
}

static void mean_std(const double *x, size_t n, double *mean, double *std)
{
    double s = 0.0, ss = 0.0;
    for (size_t i = 0; i < n; i++)
        s += x[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        ss += (x[i] - *mean) * (x[i] - *mean);
    *std = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0; /* sample standard deviation */
}

static bool better(const struct scoring *sc, double a, double b)
{
    if (isnan(b))
        return !isnan(a);
    return sc->maximize ? a > b : a < b;
}

/* Trains every repeat of combination c; keeps its best model when it is the best so far. */
static int run_combo(struct tune_state *s, size_t c, size_t *choice)
{
    grid_apply(&s->g, c, choice);
    char label[512], seed[32];
    label_of(&s->g, choice, label, sizeof label);
    struct clann_model *keep = NULL;
    double keep_score = NAN, *scores = s->scores + c * s->repeats;
    int rc = CLI_OK;
    for (size_t r = 0; r < s->repeats && rc == CLI_OK; r++) {
        snprintf(seed, sizeof seed, "%llu", s->seed + r);
        s->a->t.seed = seed;
        struct clann_model *m = NULL;
        double t0 = cli_now();
        rc = run_once(s, &m, &scores[r]);
        if (rc == CLI_OK && !s->a->t.quiet)
            fprintf(stderr, "run %zu/%zu  %s seed=%s: %s %.6g  (%.1fs)\n",
                    c * s->repeats + r + 1, s->g.combos * s->repeats, label, seed,
                    s->sc.monitor, scores[r], cli_now() - t0);
        if (rc == CLI_OK && (!keep || better(&s->sc, scores[r], keep_score))) {
            clann_model_destroy(keep);
            keep = m;
            keep_score = scores[r];
            m = NULL;
        }
        clann_model_destroy(m);
    }
    s->a->t.seed = NULL;
    double mean, std;
    mean_std(scores, s->repeats, &mean, &std);
    if (rc == CLI_OK && (!s->best || better(&s->sc, mean, s->best_mean))) {
        clann_model_destroy(s->best);
        s->best = keep;
        s->best_combo = c;
        s->best_mean = mean;
        keep = NULL;
    }
    clann_model_destroy(keep);
    return rc;
}

/* Checks every grid value (and the other options) before any data is read or model trained. */
static int validate(struct tune_state *s, size_t *choice)
{
    int rc = cli_train_check(&s->a->t);
    for (size_t i = 0; i < s->g.n && rc == CLI_OK; i++) {
        for (size_t v = 0; v < s->g.keys[i].n && rc == CLI_OK; v++) {
            grid_apply(&s->g, 0, choice);
            *s->g.keys[i].slot = s->g.keys[i].values[v];
            rc = cli_train_check(&s->a->t);
        }
    }
    return rc;
}

static void print_table(const struct tune_state *s, size_t *choice)
{
    printf("%-40s %14s %12s %5s\n", "options", s->sc.monitor, "std", "runs");
    for (size_t c = 0; c < s->g.combos; c++) {
        grid_apply(&s->g, c, choice);
        char label[512];
        label_of(&s->g, choice, label, sizeof label);
        double mean, std;
        mean_std(s->scores + c * s->repeats, s->repeats, &mean, &std);
        printf("%-40s %14.6g %12.4g %5zu%s\n", label, mean, std, s->repeats,
               c == s->best_combo ? "  *best" : "");
    }
}

static void print_json_value(double v)
{
    if (isfinite(v))
        printf("%.9g", v);
    else
        printf("null");
}

static void print_json_string(const char *str)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)str; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static void print_json_combo(const struct tune_state *s, size_t c, size_t *choice)
{
    grid_apply(&s->g, c, choice);
    printf("{\"options\": {");
    for (size_t i = 0; i < s->g.n; i++) {
        printf(i ? ", " : "");
        print_json_string(s->g.keys[i].name);
        printf(": ");
        print_json_string(s->g.keys[i].values[choice[i]]);
    }
    double mean, std;
    const double *scores = s->scores + c * s->repeats;
    mean_std(scores, s->repeats, &mean, &std);
    printf("}, \"mean\": ");
    print_json_value(mean);
    printf(", \"std\": ");
    print_json_value(std);
    printf(", \"scores\": [");
    for (size_t r = 0; r < s->repeats; r++) {
        printf(r ? ", " : "");
        print_json_value(scores[r]);
    }
    printf("]}");
}

static void print_json(const struct tune_state *s, const char *out, size_t *choice)
{
    printf("{\"monitor\": \"%s\", \"mode\": \"%s\", \"dev\": ", s->sc.monitor,
           s->sc.maximize ? "max" : "min");
    print_json_string(s->a->dev ? s->a->dev
                                : cli_fmt("split:%s", s->a->t.split ? s->a->t.split : "0.8,0.2"));
    printf(", \"repeats\": %zu, \"results\": [", s->repeats);
    for (size_t c = 0; c < s->g.combos; c++) {
        printf(c ? ", " : "");
        print_json_combo(s, c, choice);
    }
    printf("], \"best\": ");
    print_json_combo(s, s->best_combo, choice);
    printf(", \"model\": ");
    print_json_string(out);
    printf("}\n");
}

/* The training and dev labels against the task (as train checks them). */
static int tune_labels(const struct tune_state *s)
{
    size_t outputs = s->task == CLI_TASK_MULTICLASS ? s->n_classes
                     : s->task == CLI_TASK_BINARY   ? 1
                                                    : s->train.y.cols;
    int rc = cli_check_labels("training labels", s->task, outputs, &s->train.y, true);
    return rc == CLI_OK ? cli_check_labels("dev labels", s->task, outputs, &s->dev.y, false)
                        : rc;
}

/* Runs the whole grid, then reports and saves the best model. */
static int search(struct tune_state *s)
{
    size_t choice[MAX_KEYS];
    s->scores = calloc(s->g.combos * s->repeats, sizeof *s->scores);
    if (!s->scores)
        return cli_fail("tune", CLANN_ERR_NO_MEMORY);
    s->best_mean = NAN;
    int rc = CLI_OK;
    for (size_t c = 0; c < s->g.combos && rc == CLI_OK; c++)
        rc = run_combo(s, c, choice);
    const char *out = s->a->t.out ? s->a->t.out : "clann-model.safetensors";
    if (rc == CLI_OK && !s->best)
        rc = cli_usage("tune: no run produced a model");
    enum clann_status st = CLANN_OK;
    if (rc == CLI_OK && (st = clann_model_save(s->best, out)) != CLANN_OK)
        rc = cli_fail(out, st);
    if (rc == CLI_OK && s->a->t.json) {
        print_json(s, out, choice);
    } else if (rc == CLI_OK) {
        print_table(s, choice);
        grid_apply(&s->g, s->best_combo, choice);
        char label[512];
        label_of(&s->g, choice, label, sizeof label);
        printf("best: %s (%s mean over %zu seeds); its best run written to %s\n", label,
               s->sc.monitor, s->repeats, out);
    }
    free(s->scores);
    clann_model_destroy(s->best);
    return rc;
}

/* The training data and the dev split, prepared as `clann train` prepares them (one path,
 * prepare.c and tabular.c): --dev read as train reads --test, or else --split (default
 * 0.8,0.2: stratified for class labels, seeded by --seed); feature columns and fill values
 * fitted on the training part alone. The test set, built in or split off, is never looked
 * at. */
static int load_data(struct tune_state *s)
{
    struct tune_args *a = s->a;
    struct cli_data *d = &s->train;
    struct cli_table_opts o = cli_table_opts_of(&a->t);
    if (a->dev && a->t.split)
        return cli_usage("tune: --dev and --split cannot be combined (--dev is the dev part)");
    int rc = cli_data_load(a->t.data ? a->t.data : "fashion-mnist", &o, d);
    if (rc != CLI_OK)
        return rc;
    clann_matrix_free(&d->test_x);
    clann_matrix_free(&d->test_y);
    d->has_test = false;
    if (a->dev) {
        rc = cli_load_part(a->dev, &o, d, true);
        if (rc == CLI_OK && d->table)
            rc = cli_table_features(d);
    } else {
        const char *split = a->t.split;
        a->t.split = split ? split : "0.8,0.2";
        rc = cli_train_split(&a->t, d);
        a->t.split = split;
    }
    if (rc == CLI_OK && !d->has_dev)
        rc = cli_usage("tune: no dev rows to score on (give --dev or a --split with a dev part)");
    if (rc == CLI_OK) {
        s->dev.x = d->dev_x, s->dev.y = d->dev_y;
        memset(&d->dev_x, 0, sizeof d->dev_x), memset(&d->dev_y, 0, sizeof d->dev_y);
    }
    return rc;
}

static int tune(struct tune_args *a, const struct cli_option *options, size_t n_opt)
{
    struct tune_state s;
    memset(&s, 0, sizeof s);
    s.a = a;
    s.seed = 42;
    s.repeats = 3;
    if (!a->grid)
        return cli_usage("tune: --grid is required (e.g. --grid \"dropout=0.1,0.2 "
                         "lr=0.001,0.01\")");
    if ((a->t.seed && !cli_u64("seed", a->t.seed, &s.seed)) ||
        (a->repeats && !cli_size("repeats", a->repeats, &s.repeats)))
        return CLI_USAGE;
    if (s.repeats == 0 || s.repeats > 1000)
        return cli_usage("--repeats: must be between 1 and 1000");
    int rc = grid_parse(a->grid, options, n_opt, &s.g);
    if (rc == CLI_OK && s.g.combos * s.repeats > MAX_RUNS)
        rc = cli_usage("tune: %zu runs are more than %d", s.g.combos * s.repeats, MAX_RUNS);
    size_t choice[MAX_KEYS];
    if (rc == CLI_OK)
        rc = validate(&s, choice);
    if (rc == CLI_OK)
        rc = load_data(&s); /* splits with --seed, as train does */
    a->t.seed = NULL;       /* each run sets its own */
    if (rc == CLI_OK)
        rc = cli_train_task(&a->t, &s.train.y, &s.dev.y, s.train.n_classes, &s.task,
                            &s.n_classes);
    if (rc == CLI_OK)
        rc = tune_labels(&s);
    if (rc == CLI_OK)
        rc = scoring_from(a->t.monitor, s.task, &s.sc);
    if (rc == CLI_OK)
        rc = cli_context(a->t.device, &s.ctx);
    if (rc == CLI_OK)
        rc = search(&s);
    clann_context_destroy(s.ctx);
    cli_data_free(&s.train);
    cli_data_free(&s.dev);
    grid_free(&s.g);
    return rc;
}

/* Train's options less those that make no sense per run, plus tune's own. */
static size_t tune_options(struct tune_args *a, struct cli_option *out)
{
    struct cli_option train[CLI_TRAIN_MAX_OPTIONS];
    size_t n_train = cli_train_options(&a->t, train), n = 0;
    static const char *const dropped[] = {"test", "spec", "resume", "checkpoint", "logdir",
                                          "monitor-every"};
    for (size_t i = 0; i < n_train; i++) {
        bool keep = true;
        for (size_t j = 0; j < sizeof dropped / sizeof *dropped; j++)
            keep = keep && strcmp(train[i].name, dropped[j]) != 0;
        if (keep)
            out[n++] = train[i];
    }
    const struct cli_option own[] = {
        {"grid", true, &a->grid, NULL, cli_fmt("options to search, e.g. \"dropout=0.1,0.2 "
                                               "lr=0.001,0.01\" (hidden=64,32|128: '|' "
                                               "separates); any of %s", tunable_list())},
        {"repeats", true, &a->repeats, NULL, "runs per combination, seeds --seed, --seed + 1, "
                                             "... (default 3)"},
        {"dev", true, &a->dev, NULL, "dev data to score on (default: the dev part of --split, "
                                     "0.8,0.2 unless given, stratified, seeded by --seed)"},
    };
    for (size_t i = 0; i < sizeof own / sizeof *own; i++)
        out[n++] = own[i];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(out[i].name, "monitor") == 0)
            out[i].help = cli_fmt("what to score, and what early stopping watches: %s "
                                  "(default val_loss; val_*: on the dev part, else the last "
                                  "training epoch)", cli_names(CLANN_NAMES_MONITOR));
        else if (strcmp(out[i].name, "out") == 0)
            out[i].help = "write the best model here (default clann-model.safetensors)";
        else if (strcmp(out[i].name, "json") == 0)
            out[i].help = "print the results as one JSON object on stdout";
        else if (strcmp(out[i].name, "quiet") == 0)
            out[i].help = "no per-run progress";
    }
    return n;
}

int cli_tune(int argc, char **argv)
{
    struct tune_args a;
    memset(&a, 0, sizeof a);
    struct cli_option options[CLI_TRAIN_MAX_OPTIONS + 3];
    size_t n_opt = tune_options(&a, options);
    int rc = cli_parse("tune", argc, argv, options, n_opt);
    if (rc < 0) {
        cli_print_help("tune", "--grid \"KEY=V1,V2 ...\" [--repeats N] [--dev SRC] [train "
                       "options]", options, n_opt);
        return CLI_OK;
    }
    return rc == CLI_OK ? tune(&a, options, n_opt) : rc;
}
