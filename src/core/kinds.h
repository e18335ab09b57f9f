/*
 * kinds.h - every kind that has a name (activations, losses, optimizers, initializers,
 * constraints, scalers, layer kinds, feature columns), each as one X-macro table. The tables
 * are the one place where a kind's value and name are written; everything else is generated:
 *
 * - the internal enums (enum clann__act_kind in backend/backend.h, ...), through
 *   CLANN__KIND_ENUMERATOR;
 * - the name tables behind clann__kind_name / clann__kind_parse (kinds.c), used for JSON specs,
 *   the command line and messages;
 * - the kernels' #defines: cl/gen_kinds.c writes cl/kinds.clh from the tables, and the build
 *   fails when the copy in cl/ differs (the copy lets the programs compile from cl/ alone);
 * - _Static_asserts (kinds.c) that each public constant of clann.h equals its row's value:
 *   clann.h keeps plain enums for users, and a change there that is not made here (or the
 *   other way round) does not compile.
 *
 * A row is X(public constant, short name, value, "name"). The short name, prefixed with
 * CLANN__, is the internal enumerator where the kind has an internal enum; unprefixed, it is the
 * kernels' #define for the kinds the kernels use. Values run 0..n-1 without gaps (kinds.c
 * checks): the name tables are indexed by value. Names are what specs and model files store,
 * so a name never changes once released; a new kind takes a new value at the end.
 */
#ifndef CLANN_KINDS_H
#define CLANN_KINDS_H

#include <stdbool.h>
#include <stddef.h>

/* enum clann_activation; internal enum clann__act_kind (backend.h); kernels ACT_*. */
#define CLANN__ACTIVATIONS(X)                                     \
    X(CLANN_ACTIVATION_LINEAR, ACT_LINEAR, 0, "linear")           \
    X(CLANN_ACTIVATION_SIGMOID, ACT_SIGMOID, 1, "sigmoid")        \
    X(CLANN_ACTIVATION_TANH, ACT_TANH, 2, "tanh")                 \
    X(CLANN_ACTIVATION_RELU, ACT_RELU, 3, "relu")                 \
    X(CLANN_ACTIVATION_LEAKY_RELU, ACT_LEAKY_RELU, 4, "leaky_relu") \
    X(CLANN_ACTIVATION_PRELU, ACT_PRELU, 5, "prelu")              \
    X(CLANN_ACTIVATION_RRELU, ACT_RRELU, 6, "rrelu")              \
    X(CLANN_ACTIVATION_RELU6, ACT_RELU6, 7, "relu6")              \
    X(CLANN_ACTIVATION_ELU, ACT_ELU, 8, "elu")                    \
    X(CLANN_ACTIVATION_SOFTPLUS, ACT_SOFTPLUS, 9, "softplus")     \
    X(CLANN_ACTIVATION_SOFTMAX, ACT_SOFTMAX, 10, "softmax")

/* enum clann_loss; internal enum clann__loss_kind (backend.h); kernels LOSS_*. P rows are
 * losses the backends do not compute themselves: sampled softmax is the model's (sparse
 * softmax cross-entropy over the gathered columns), so the backends refuse its kind and the
 * kernels have no define for it. NCE is computed by the backends over the gathered columns. */
#define CLANN__LOSSES(X, P)                                                                    \
    X(CLANN_LOSS_MSE, LOSS_MSE, 0, "mse")                                                      \
    X(CLANN_LOSS_MAE, LOSS_MAE, 1, "mae")                                                      \
    X(CLANN_LOSS_HUBER, LOSS_HUBER, 2, "huber")                                                \
    X(CLANN_LOSS_SIGMOID_CROSS_ENTROPY, LOSS_SIGMOID_CE, 3, "sigmoid_cross_entropy")           \
    X(CLANN_LOSS_SOFTMAX_CROSS_ENTROPY, LOSS_SOFTMAX_CE, 4, "softmax_cross_entropy")           \
    X(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, LOSS_SPARSE_SOFTMAX_CE, 5,                      \
      "sparse_softmax_cross_entropy")                                                          \
    P(CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY, LOSS_SAMPLED_SOFTMAX_CE, 6,                    \
      "sampled_softmax_cross_entropy")                                                         \
    X(CLANN_LOSS_NCE, LOSS_NCE, 7, "nce")

/* enum clann_sampler (host only): the candidate samplers of sampled softmax and NCE. */
#define CLANN__SAMPLERS(X)                                         \
    X(CLANN_SAMPLER_UNIFORM, SAMPLER_UNIFORM, 0, "uniform")        \
    X(CLANN_SAMPLER_LOG_UNIFORM, SAMPLER_LOG_UNIFORM, 1, "log_uniform")

/* enum clann_optimizer; internal enum clann__opt_kind (backend.h); kernels OPT_*. "nesterov"
 * is also accepted as a name (momentum with nesterov set): clann_optimizer_from_name. */
#define CLANN__OPTIMIZERS(X)                              \
    X(CLANN_OPTIMIZER_SGD, OPT_SGD, 0, "sgd")             \
    X(CLANN_OPTIMIZER_MOMENTUM, OPT_MOMENTUM, 1, "momentum") \
    X(CLANN_OPTIMIZER_ADAGRAD, OPT_ADAGRAD, 2, "adagrad") \
    X(CLANN_OPTIMIZER_ADAM, OPT_ADAM, 3, "adam")          \
    X(CLANN_OPTIMIZER_RMSPROP, OPT_RMSPROP, 4, "rmsprop")

/* enum clann_initializer (host only). */
#define CLANN__INITIALIZERS(X)                                          \
    X(CLANN_INIT_DEFAULT, INIT_DEFAULT, 0, "default")                   \
    X(CLANN_INIT_ZEROS, INIT_ZEROS, 1, "zeros")                         \
    X(CLANN_INIT_CONSTANT, INIT_CONSTANT, 2, "constant")                \
    X(CLANN_INIT_UNIFORM, INIT_UNIFORM, 3, "uniform")                   \
    X(CLANN_INIT_NORMAL, INIT_NORMAL, 4, "normal")                      \
    X(CLANN_INIT_GLOROT_UNIFORM, INIT_GLOROT_UNIFORM, 5, "glorot_uniform") \
    X(CLANN_INIT_GLOROT_NORMAL, INIT_GLOROT_NORMAL, 6, "glorot_normal") \
    X(CLANN_INIT_HE_UNIFORM, INIT_HE_UNIFORM, 7, "he_uniform")          \
    X(CLANN_INIT_HE_NORMAL, INIT_HE_NORMAL, 8, "he_normal")

/* enum clann_constraint; internal enum clann__constraint_kind (backend.h); kernels
 * CONSTRAINT_*. */
#define CLANN__CONSTRAINTS(X)                                                   \
    X(CLANN_CONSTRAINT_NONE, CONSTRAINT_NONE, 0, "none")                        \
    X(CLANN_CONSTRAINT_MAX_NORM, CONSTRAINT_MAX_NORM, 1, "max_norm")            \
    X(CLANN_CONSTRAINT_MIN_MAX_NORM, CONSTRAINT_MIN_MAX_NORM, 2, "min_max_norm") \
    X(CLANN_CONSTRAINT_UNIT_NORM, CONSTRAINT_UNIT_NORM, 3, "unit_norm")         \
    X(CLANN_CONSTRAINT_NON_NEG, CONSTRAINT_NON_NEG, 4, "non_neg")

/* enum clann_scale (host only). */
#define CLANN__SCALES(X)                                    \
    X(CLANN_SCALE_NONE, SCALE_NONE, 0, "none")              \
    X(CLANN_SCALE_STANDARD, SCALE_STANDARD, 1, "standard")  \
    X(CLANN_SCALE_MINMAX, SCALE_MINMAX, 2, "minmax")        \
    X(CLANN_SCALE_LOG, SCALE_LOG, 3, "log")                 \
    X(CLANN_SCALE_CLIP, SCALE_CLIP, 4, "clip")

/* Internal enum clann__layer_kind (nn/model.h); no public constant (CLANN__NONE, never
 * expanded). */
#define CLANN__LAYER_KINDS(X)                                  \
    X(CLANN__NONE, LAYER_DENSE, 0, "dense")                    \
    X(CLANN__NONE, LAYER_ACTIVATION, 1, "activation")          \
    X(CLANN__NONE, LAYER_DROPOUT, 2, "dropout")                \
    X(CLANN__NONE, LAYER_NOISE, 3, "noise")                    \
    X(CLANN__NONE, LAYER_BATCHNORM, 4, "batchnorm")            \
    X(CLANN__NONE, LAYER_FEATURES, 5, "features")              \
    X(CLANN__NONE, LAYER_CONV2D, 6, "conv2d")                  \
    X(CLANN__NONE, LAYER_MAX_POOL2D, 7, "max_pool2d")          \
    X(CLANN__NONE, LAYER_AVG_POOL2D, 8, "avg_pool2d")          \
    X(CLANN__NONE, LAYER_FLATTEN, 9, "flatten")

/* enum clann_combiner (the backends take the public enum); kernels COMB_*. */
#define CLANN__COMBINERS(X)                          \
    X(CLANN_COMBINER_MEAN, COMB_MEAN, 0, "mean")     \
    X(CLANN_COMBINER_SUM, COMB_SUM, 1, "sum")        \
    X(CLANN_COMBINER_SQRTN, COMB_SQRTN, 2, "sqrtn")

/* enum clann_feature_kind (host only). */
#define CLANN__FEATURE_KINDS(X)                                         \
    X(CLANN_FEATURE_NUMERIC, FEATURE_NUMERIC, 0, "numeric")             \
    X(CLANN_FEATURE_BUCKETIZED, FEATURE_BUCKETIZED, 1, "bucketized")    \
    X(CLANN_FEATURE_VOCABULARY, FEATURE_VOCABULARY, 2, "vocabulary")    \
    X(CLANN_FEATURE_IDENTITY, FEATURE_IDENTITY, 3, "identity")          \
    X(CLANN_FEATURE_HASH, FEATURE_HASH, 4, "hash")                      \
    X(CLANN_FEATURE_CROSSED, FEATURE_CROSSED, 5, "crossed")

/* enum clann_feature_output (host only). */
#define CLANN__FEATURE_OUTPUTS(X)                                       \
    X(CLANN_FEATURE_EMBEDDING, FEATURE_EMBEDDING, 0, "embedding")       \
    X(CLANN_FEATURE_INDICATOR, FEATURE_INDICATOR, 1, "indicator")

/* enum clann_schedule (host only). */
#define CLANN__SCHEDULES(X)                                                  \
    X(CLANN_SCHEDULE_CONSTANT, SCHEDULE_CONSTANT, 0, "constant")             \
    X(CLANN_SCHEDULE_STEP, SCHEDULE_STEP, 1, "step")                         \
    X(CLANN_SCHEDULE_EXPONENTIAL, SCHEDULE_EXPONENTIAL, 2, "exponential")    \
    X(CLANN_SCHEDULE_PLATEAU, SCHEDULE_PLATEAU, 3, "plateau")

/* enum clann_mode (host only): whether a watched value improves upward or downward. */
#define CLANN__MODES(X)                            \
    X(CLANN_MODE_AUTO, MODE_AUTO, 0, "auto")       \
    X(CLANN_MODE_MIN, MODE_MIN, 1, "min")          \
    X(CLANN_MODE_MAX, MODE_MAX, 2, "max")

/* enum clann_nan_policy (host only). */
#define CLANN__NAN_POLICIES(X)                     \
    X(CLANN_NAN_STOP, NAN_STOP, 0, "stop")         \
    X(CLANN_NAN_SKIP, NAN_SKIP, 1, "skip")

/* The epoch values fit can watch (early stopping, plateau schedules, best-only checkpoints);
 * names only: train/monitor.c maps each value to its field of the epoch log. */
#define CLANN__MONITORS(X)                                   \
    X(CLANN__NONE, MONITOR_LOSS, 0, "loss")                  \
    X(CLANN__NONE, MONITOR_ACCURACY, 1, "accuracy")          \
    X(CLANN__NONE, MONITOR_VAL_LOSS, 2, "val_loss")          \
    X(CLANN__NONE, MONITOR_VAL_ACCURACY, 3, "val_accuracy")  \
    X(CLANN__NONE, MONITOR_VAL_AUC, 4, "val_auc")

/* Row expanders. An internal enum is written
 *   enum clann__act_kind { CLANN__ACTIVATIONS(CLANN__KIND_ENUMERATOR) CLANN__ACT_COUNT };
 * (a count after the last row is one past the largest value, since values have no gaps). */
#define CLANN__KIND_ENUMERATOR(pub, short_name, value, name) CLANN__##short_name = (value),
#define CLANN__KIND_SKIP(pub, short_name, value, name)

/* A kind's names indexed by value, for messages and for reading and writing names. */
struct clann__kind_table {
    const char *what; /* "activation", "loss", ...: what a message calls one */
    const char *const *names;
    size_t count;
};

extern const struct clann__kind_table clann__activation_kinds, clann__loss_kinds,
    clann__optimizer_kinds, clann__initializer_kinds, clann__constraint_kinds,
    clann__scale_kinds, clann__layer_kinds, clann__combiner_kinds, clann__feature_kinds,
    clann__feature_output_kinds, clann__sampler_kinds, clann__schedule_kinds,
    clann__mode_kinds, clann__nan_policy_kinds, clann__monitor_kinds;

/* The name of value `value`, or "?" when it is not one of the kind's. */
const char *clann__kind_name(const struct clann__kind_table *t, size_t value);
/* The value named `name` (exact, case-sensitive) into *out; false, *out untouched, when no
 * row has that name or name is NULL. */
bool clann__kind_parse(const struct clann__kind_table *t, const char *name, size_t *out);

#endif /* CLANN_KINDS_H */
