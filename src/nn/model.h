/*
 * model.h - the model's internal structure, shared by src/nn (building, layers, predict),
 * src/io (model files) and src/train (fit, evaluate).
 *
 * The model is the network; what training keeps besides it is the trainer's
 * (src/train/trainer.h).
 *
 * Memory (docs/architecture.md, "Memory"): all trainable parameters live in one device buffer
 * `params`, their gradients in `grads` (same layout), optimizer state in `state1`/`state2`.
 * Layers hold offsets. Activations of every layer live in `acts` (z and y per layer, max_batch
 * rows each) and their gradients in `dacts`, so a training step allocates nothing.
 */
#ifndef CLANN_MODEL_H
#define CLANN_MODEL_H

#include "backend/ops.h"

struct clann_trainer;

/* Layer kinds: CLANN__LAYER_KINDS (core/kinds.h). LAYER_FEATURES is the first layer of a model
 * with feature columns (embedding.c). */
enum clann__layer_kind { CLANN__LAYER_KINDS(CLANN__KIND_ENUMERATOR) };

struct clann_layer {
    enum clann__layer_kind kind;
    size_t in, out;           /* widths */
    struct clann_act act;     /* dense (fused) and activation layers */
    struct clann_dense_params dense;
    float rate;               /* dropout rate, noise standard deviation */
    bool spatial;             /* dropout: whole channels of an image (clann__layer_channels) */
    float momentum, eps;      /* batch normalization */
    /* Parameter offsets in floats. Dense: kernel (in x out), bias (out), PReLU slopes (out).
     * Batch normalization: gamma at w_off, beta at b_off, then its running mean and variance,
     * which are not trained: they sit in params (so that saving, restoring and checkpoints carry
     * them) with a gradient that stays zero. n_trainable counts the trained ones. */
    size_t w_off, b_off, prelu_off, n_params, n_trainable;
    /* Activation offsets: z (pre-activation) and y (output), max_batch * out each. y_off ==
     * z_off when the backward pass needs only y. */
    size_t z_off, y_off;
    size_t bn_off; /* batch normalization: the batch's mean, variance, 1/stddev (3 x
                    * clann__layer_channels) in acts */
    /* Images (nn/conv.c): the output as channels x height x width (shape[0] == 0: a flat
     * vector); for conv2d and pooling the window geometry (batch set per pass) and whether
     * padding is same; for conv2d im2col's matrix of max_batch images at col_off in acts and
     * its gradient at col_off in dacts. conv2d keeps filters, activation, bias and
     * initializers in `dense` (units = filters). */
    size_t shape[3];
    struct clann_conv_geom geom;
    bool same;
    size_t col_off;
    /* Transfer learning (clann_model_set_trainable): a frozen layer's parameters and optimizer
     * state are never changed by fit (no update, penalty, noise or constraint) and its gradient
     * is not computed; a frozen batch norm runs in inference mode. */
    bool frozen;
    /* Where its parameters were copied from (clann_model_load_layers; kept for the spec):
     * a clann__malloc'ed path, owned, or NULL, and the layer index in that file. */
    char *source_file;
    size_t source_layer;
};

/* Batch normalization's features: the channels of an image input (statistics per channel over
 * its rows H W values, PyTorch's BatchNorm2d), else its width (per column, over the rows); it
 * keeps gamma, beta and the statistics per feature. clann__layer_spatial is the values per row
 * of a feature (H W, or 1). Spatial dropout draws once per row and channel alike. */
size_t clann__layer_channels(const struct clann_layer *l);
size_t clann__layer_spatial(const struct clann_layer *l);

/* A fitted feature scaler (see enum clann_scale): a and b per feature, owned. */
struct clann_scaler {
    enum clann_scale kind;
    float lo, hi;
    size_t n;
    float *a, *b; /* STANDARD: mean, std; MINMAX: min, max */
};

/* Training options as a model or a parsed spec keeps them (nn/training.c): a fit's parameters
 * without callbacks, their strings copies owned here. present false: none known. */
#define CLANN__TRAINING_STRINGS 6 /* the string members of struct clann_fit_params */
struct clann__training {
    bool present;
    struct clann_fit_params p;
    char *strings[CLANN__TRAINING_STRINGS]; /* the owned copies p's string members point to */
};

/* Replaces *dst by a copy of src (callbacks dropped, strings copied), after checking src's
 * values (ERR_INVALID_ARG naming `what` and the option). */
enum clann_status clann__training_set(struct clann_context *ctx, const char *what,
                                      struct clann__training *dst,
                                      const struct clann_fit_params *src);
void clann__training_free(struct clann__training *t);
/* The value checks of clann__training_set alone (fit applies them too). */
enum clann_status clann__fit_params_check(struct clann_context *ctx, const char *what,
                                          const struct clann_fit_params *p);

/* y = scale(x) for one row of n values, in place; and its inverse (targets). */
void clann__scaler_apply(const struct clann_scaler *s, float *row);
void clann__scaler_invert(const struct clann_scaler *s, float *row);

struct clann_model {
    struct clann_context *ctx;
    struct clann_backend *be;
    size_t n_inputs;
    size_t in_shape[3]; /* channels, height, width of an input image; 0s: flat input */
    struct clann_layer *layers;
    size_t n_layers, cap_layers;

    bool compiled;
    struct clann_compile_params cp;
    struct clann__loss loss;
    struct clann_opt opt; /* the optimizer's configuration; lr, step and guard are the
                           * trainer's, filled in for each update (train/trainer.h) */
    size_t n_params;
    size_t n_acts;

    struct clann_buf params, grads, state1, state2;
    struct clann_buf acts, dacts;
    struct clann_buf input, labels; /* one batch: max_batch x n_inputs, max_batch x label cols */
    struct clann_buf row_loss;      /* max_batch */
    struct clann_buf scalars;       /* see enum below, then 4 per layer */
    /* Sampled softmax (src/nn/sampled.c): the device's candidate ids and gathered columns,
     * the host's candidates per staging slot (ids, then the batch's labels as places among
     * them), and per class its place (or -1) and whether it is a label or a draw. Training
     * alone uses them, but as the output layer's working memory of a training pass (like
     * dacts), read by the layers' passes and the loss, so they are the network's. */
    struct clann_buf cand;
    size_t max_cand, n_cand;
    float *cand_host;
    int32_t *cand_pos;
    unsigned char *cand_flag;
    uint32_t *cand_list;
    size_t dinput_off;              /* input gradient in dacts (first-layer batch norm) */
    /* Host batch assembly: the current slot of a ring of CLANN__STAGING_SLOTS buffers, so that
     * batch uploads need not wait for the device (src/nn/batch.c). */
    float *staging_x, *staging_y;
    float *staging_x_ring, *staging_y_ring;
    size_t staging_slot; /* the next batch's */
    size_t batch_slot;   /* the slot of the batch uploaded last: other per-batch host data
                            that uploads without waiting (embedding index, sampled-softmax
                            mask) uses its own ring at the same slot, safe for the same reason */
    /* The fit state (src/train/trainer.h): made by train at the first fit or checkpoint load,
     * carried between fit calls, freed with the model through trainer_free; nn never looks
     * inside. NULL before. */
    struct clann_trainer *trainer;
    void (*trainer_free)(struct clann_trainer *t);
    struct clann_scaler in_scaler, out_scaler; /* kind NONE: absent */
    /* Feature columns (embedding.h): the fitted set, owned, and one table per embedding
     * feature, outside the collated parameters. NULL and 0 without feature columns. */
    struct clann_features *features;
    struct clann__emb *emb;
    size_t n_emb;
    struct clann_columns *columns; /* columns.c: what it knows of its table; NULL: nothing */
    struct clann__training training; /* how it was (or is to be) trained: the spec's "training" */
    /* Data-parallel training (train/dist.c): this rank's batch is rows [row0, row0 + rows) of
     * a global batch of global_rows rows. Dropout and noise are keyed by the global row and
     * the loss gradient is scaled by 1 / global_rows, so the ranks' gradients sum to the one
     * process gradient. 0, 0 outside such a step. */
    size_t batch_row0, batch_global_rows;
    /* Set by train for the overlapped gradient exchange (train/exchange.c): called by
     * clann__model_backward once layer i's backward is done, when the parameter gradients of
     * layers i and up are final, so that their exchange starts while the layers below compute.
     * nn never looks at user. NULL: no hook. */
    enum clann_status (*grads_ready)(struct clann_model *m, size_t layer, void *user);
    void *grads_ready_user;
    /* Set by train under data parallelism: replaces v[0..n) by its sum over the ranks, the
     * same on every rank (nn/batchnorm_dist.c: statistics over the global batch). In a step
     * (batch_global_rows > 0), every rank must make the same calls in the same order. */
    enum clann_status (*sum_ranks)(struct clann_model *m, float *v, size_t n, void *user);
    void *sum_ranks_user;
    /* This step's sums over the ranks (batchnorm_dist.c; train zeroes them each step): the
     * calls made, whether one carried a failed rank's flag (every rank then makes no more),
     * and whether that flag was another rank's while this one had not failed. */
    size_t sum_ranks_calls;
    bool sum_ranks_stopped, sum_ranks_peer_failed;
};

/* Batch normalization over a global batch spread across ranks (batchnorm_dist.c), in a
 * training step with m->sum_ranks set: layer i's forward pass in training mode and its
 * backward pass (dx may be the only gradient wanted: the layer's dgamma and dbeta stay this
 * rank's share, which the gradient exchange sums). A rank without rows in the step calls
 * batchnorm_dist_idle instead of both passes: its share of every sum is zero.
 * Every sum carries a flag, 1 from a rank that failed in the step: a rank whose step fails
 * calls batchnorm_dist_fail, which makes the next sum of the step (if any remain) with zeros
 * and the flag; every rank sees it in that same sum and makes no more, and the others' passes
 * return an error with m->sum_ranks_peer_failed set, so that all meet in the step's status
 * agreement, which names the failed rank. */
bool clann__batchnorm_dist(const struct clann_model *m);
enum clann_status clann__batchnorm_dist_forward(struct clann_model *m, size_t i,
                                                struct clann_view x, size_t rows);
enum clann_status clann__batchnorm_dist_backward(struct clann_model *m, size_t i,
                                                 struct clann_view x, struct clann_view dx,
                                                 size_t rows);
enum clann_status clann__batchnorm_dist_idle(struct clann_model *m);
enum clann_status clann__batchnorm_dist_fail(struct clann_model *m);

/* A deep copy of c (one clann__malloc'ed block per string and array), and its release. */
enum clann_status clann__columns_copy(struct clann_context *ctx, const struct clann_columns *c,
                                      struct clann_columns **out);
void clann__columns_free(struct clann_columns *c);

/* Appends a layer (before compile), its input width and shape taken from the layer before;
 * the model's output width so far. */
enum clann_status clann__model_push_layer(struct clann_model *m, const struct clann_layer *layer);
size_t clann__model_width(const struct clann_model *m);
/* The output shape of the last layer (the input's when there is none); shape[0] == 0: flat. */
const size_t *clann__model_shape(const struct clann_model *m);

/* Appends the feature layer of m->features (the first layer; embedding.c). */
enum clann_status clann__model_add_features_layer(struct clann_model *m);

#define CLANN__STAGING_SLOTS 4

/* Device scalars in model->scalars. */
enum {
    CLANN__SCALAR_LOSS = 0,
    CLANN__SCALAR_CORRECT = 1,
    CLANN__SCALAR_SCRATCH = 2,
    CLANN__SCALAR_GUARD = 3,  /* NaN guard flag: the first bad step, or 1 for this step */
    CLANN__SCALAR_SKIPS = 4,  /* steps skipped by the NaN guard in a row, in this epoch */
    CLANN__SCALAR_BATCH = 5,  /* this batch's loss sum, for the guard */
    CLANN__SCALAR_SKIP_STOP = 6, /* the step whose skip passed max_skips in a row, or 0 */
    CLANN__SCALAR_REFRESH = 7,   /* batch-norm refresh: this batch's statistics are not finite */
    CLANN__SCALAR_COUNT = 8   /* then 4 per layer: kernel and bias sums of squares and of |w| */
};

/* Label columns the loss expects: 1 for the sparse softmax loss, else the output width. */
size_t clann__model_label_cols(const struct clann_model *m);
bool clann__loss_is_classification(enum clann_loss loss);
/* Labels are one class index per row (sparse and sampled softmax). */
bool clann__loss_is_sparse(enum clann_loss loss);

/* Forward pass over `rows` rows already in m->input. training selects dropout and RReLU
 * sampling, whose random streams are keyed by `step` (the optimizer steps taken; any value
 * in inference). Returns the view of the last layer's output. */
enum clann_status clann__model_forward(struct clann_model *m, size_t rows, bool training,
                                       uint64_t step, struct clann_view *out);
/* Backward pass from the loss gradient in m->dacts at the last layer's y, for the forward
 * pass of the same step; fills m->grads. */
enum clann_status clann__model_backward(struct clann_model *m, size_t rows, uint64_t step);
/* Initializes every layer's parameters from the compile seed. */
enum clann_status clann__model_init_params(struct clann_model *m);
/* Whether the layer has trainable parameters a kernel regularizer or constraint applies to. */
static inline bool clann__layer_is_dense(const struct clann_layer *l)
{
    return l->kind == CLANN__LAYER_DENSE;
}

/* Whether fit changes layer l's parameters: it has trained ones and is not frozen (the
 * feature layer's tables are checked per table, embedding.c). */
static inline bool clann__layer_trains(const struct clann_layer *l)
{
    return l->n_trainable && !l->frozen;
}
/* The lowest layer whose parameters train (n_layers when none): the backward pass stops
 * there, since no layer below needs a gradient. */
size_t clann__model_first_trained(const struct clann_model *m);

/* Records (file NULL: forgets) where layer's parameters came from; the path is copied. */
enum clann_status clann__model_set_source(struct clann_model *m, size_t layer, const char *file,
                                          size_t src_layer);

/* Views of a layer's output and output-gradient activations. */
struct clann_view clann__layer_y(struct clann_model *m, size_t i);
struct clann_view clann__layer_dy(struct clann_model *m, size_t i);

#endif /* CLANN_MODEL_H */
