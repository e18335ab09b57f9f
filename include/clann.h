/*
 * clann.h - the one public header of clann, a dense neural-network training engine that runs the
 * same model code on any OpenCL device and on a built-in CPU backend.
 *
 * Overview
 * --------
 * A program creates a context on one device (an OpenCL device or the CPU backend), builds a
 * model as a stack of layers, compiles it with a loss and an optimizer, and trains it with
 * clann_model_fit() on host arrays. Parameters, gradients, optimizer state and activations stay
 * on the device for the whole run; only batches travel to it.
 *
 * Worked example: a DNN classifier with two hidden layers on 784 inputs and 10 classes.
 *
 *     struct clann_context *ctx;
 *     struct clann_context_params cp = clann_context_default_params();
 *     cp.device = "auto";
 *     if (clann_context_create(&cp, &ctx) != CLANN_OK) {
 *         fprintf(stderr, "%s\n", clann_last_error());
 *         return 1;
 *     }
 *     struct clann_estimator_params ep = clann_estimator_default_params();
 *     size_t hidden[] = {256, 128};
 *     ep.hidden_units = hidden;
 *     ep.n_hidden = 2;
 *     struct clann_model *m;
 *     clann_dnn_classifier_create(ctx, 784, 10, &ep, &m);
 *     struct clann_fit_params fp = clann_fit_default_params();
 *     clann_model_fit(m, &train, NULL, &fp, NULL);
 *     clann_model_evaluate(m, &test, &metrics);
 *     clann_model_destroy(m);
 *     clann_context_destroy(ctx);
 *
 * Conventions
 * -----------
 * - Every fallible function returns enum clann_status; CLANN_OK is 0 and errors are negative.
 *   Objects are returned through an out-parameter that is set to NULL on failure.
 * - The message of the last failure on this thread is clann_last_error(); the context keeps
 *   its own copy, clann_context_last_error(). Messages say what failed and where (file, row,
 *   column; layer, step; OpenCL call and error name; the kernel build log).
 * - Destroy functions accept NULL. The library never exits, aborts or prints: it reports
 *   through return values and the log callback (clann_log_set()).
 * - Matrices are row-major float32: rows are examples, columns are features.
 */
#ifndef CLANN_H
#define CLANN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(CLANN_BUILD)
#define CLANN_API __declspec(dllexport)
#elif defined(__GNUC__)
#define CLANN_API __attribute__((visibility("default")))
#else
#define CLANN_API
#endif

#define CLANN_VERSION_MAJOR 0
#define CLANN_VERSION_MINOR 1
#define CLANN_VERSION_PATCH 0

/* Returns the library version as "MAJOR.MINOR.PATCH". */
CLANN_API const char *clann_version(void);

/* ---------------------------------------------------------------------------------------------
 * Status codes. One table gives each code its value, name and meaning.
 */
#define CLANN_STATUS_MAP(X)                                                                       \
    X(OK, 0, "success")                                                                           \
    X(ERR_INVALID_ARG, -1, "invalid argument")                                                    \
    X(ERR_NO_MEMORY, -2, "out of host memory")                                                    \
    X(ERR_NO_DEVICE, -3, "no usable device")                                                      \
    X(ERR_OPENCL, -4, "OpenCL call failed")                                                       \
    X(ERR_KERNEL_BUILD, -5, "kernel build failed")                                                \
    X(ERR_DEVICE_MEMORY, -6, "out of device memory")                                              \
    X(ERR_IO, -7, "input/output error")                                                           \
    X(ERR_FORMAT, -8, "malformed input")                                                          \
    X(ERR_TRUNCATED, -9, "input is truncated")                                                    \
    X(ERR_SHAPE, -10, "shapes do not match")                                                      \
    X(ERR_NONFINITE, -11, "non-finite value")                                                     \
    X(ERR_UNSUPPORTED, -12, "not supported")                                                      \
    X(ERR_STATE, -13, "object is in the wrong state for this call")                               \
    X(ERR_TOO_LARGE, -14, "size exceeds a limit")                                                 \
    X(ERR_INTERNAL, -15, "internal error")

enum clann_status {
#define CLANN_STATUS_ENUM_(name, value, text) CLANN_##name = value,
    CLANN_STATUS_MAP(CLANN_STATUS_ENUM_)
#undef CLANN_STATUS_ENUM_
};

/* Returns a static description of a status, e.g. "kernel build failed". Never NULL. */
CLANN_API const char *clann_status_str(enum clann_status status);
/* Returns the status' name without prefix, e.g. "ERR_KERNEL_BUILD". Never NULL. */
CLANN_API const char *clann_status_name(enum clann_status status);
/* The detailed message of the last failure on the calling thread ("" when none). The string
 * is owned by the library and valid until the next failing call on this thread. */
CLANN_API const char *clann_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Logging. The library prints nothing itself; messages go to the callback. Without a
 * callback, messages are dropped. The callback may be called from any clann call.
 */
enum clann_log_level {
    CLANN_LOG_LEVEL_DEBUG = 0,
    CLANN_LOG_LEVEL_INFO = 1,
    CLANN_LOG_LEVEL_WARN = 2,
    CLANN_LOG_LEVEL_ERROR = 3
};

typedef void (*clann_log_fn)(enum clann_log_level level, const char *message, void *user);

/* Sets the process-wide log callback and the lowest level passed to it. NULL removes it. */
CLANN_API void clann_log_set(clann_log_fn fn, enum clann_log_level min_level, void *user);

/* ---------------------------------------------------------------------------------------------
 * Devices.
 */
enum clann_device_type {
    CLANN_DEVICE_TYPE_CPU_BACKEND = 0, /* the built-in C backend */
    CLANN_DEVICE_TYPE_GPU = 1,
    CLANN_DEVICE_TYPE_ACCELERATOR = 2,
    CLANN_DEVICE_TYPE_CPU = 3, /* an OpenCL CPU device, e.g. PoCL */
    CLANN_DEVICE_TYPE_OTHER = 4
};

/* One device as listed by clann_devices_list(). OpenCL devices have platform >= 0. */
struct clann_device_info {
    int platform;               /* OpenCL platform index, -1 for the CPU backend */
    int device;                 /* device index within the platform, -1 for the CPU backend */
    char platform_name[128];
    char name[128];
    char version[64];           /* OpenCL C version, "" for the CPU backend */
    char driver[64];
    enum clann_device_type type;
    uint32_t compute_units;
    uint64_t global_memory;     /* bytes */
    uint64_t max_allocation;    /* bytes */
    bool fp64;
};

/* Lists the CPU backend (always first) and every OpenCL device. *out is an array of *count
 * entries owned by the caller (free it with clann_devices_free()). *auto_index is the entry
 * "auto" selects; *auto_reason says why (a static string). No ICD, no platform or no device
 * is not an error: the list then holds the CPU backend alone. */
CLANN_API enum clann_status clann_devices_list(struct clann_device_info **out, size_t *count,
                                               size_t *auto_index, const char **auto_reason);
CLANN_API void clann_devices_free(struct clann_device_info *list);

/* ---------------------------------------------------------------------------------------------
 * Context: one device, its compiled kernels and its queue.
 */
struct clann_context;

enum clann_cpu_mode {
    CLANN_CPU_MODE_FAST = 0,      /* GEMM through CBLAS when built with it, else blocked C */
    CLANN_CPU_MODE_REFERENCE = 1  /* scalar loops only: the reference every device is tested on */
};

struct clann_context_params {
    /* "auto" (default; or the CLANN_DEVICE environment variable when set), "cpu", "opencl"
     * (first OpenCL device), "opencl:P:D", or a substring of a device name. */
    const char *device;
    enum clann_cpu_mode cpu_mode;
    /* Load kernel sources from this folder instead of the embedded copies (also
     * CLANN_KERNEL_DIR). NULL: embedded. */
    const char *kernel_dir;
    /* Program binary cache folder. NULL: $XDG_CACHE_HOME/clann or ~/.cache/clann. */
    const char *cache_dir;
    bool use_cache; /* default true */
};

CLANN_API struct clann_context_params clann_context_default_params(void);

/* Creates a context on the selected device. Statuses: ERR_INVALID_ARG (bad selector),
 * ERR_NO_DEVICE (explicit selector that matches nothing), ERR_OPENCL, ERR_KERNEL_BUILD (the
 * message carries the build log), ERR_NO_MEMORY. */
CLANN_API enum clann_status clann_context_create(const struct clann_context_params *params,
                                                 struct clann_context **out);
CLANN_API void clann_context_destroy(struct clann_context *ctx);
/* The message of the last failure on this context ("" when none); owned by ctx. */
CLANN_API const char *clann_context_last_error(const struct clann_context *ctx);
/* The selected device, as in clann_devices_list(). Owned by ctx. */
CLANN_API const struct clann_device_info *clann_context_device(const struct clann_context *ctx);
/* "cpu" or "opencl". */
CLANN_API const char *clann_context_backend_name(const struct clann_context *ctx);
/* Seconds spent building (or loading from the cache) the kernel programs at creation, and
 * whether the binary cache served them. */
CLANN_API double clann_context_build_seconds(const struct clann_context *ctx, bool *from_cache);

/* ---------------------------------------------------------------------------------------------
 * Host data: dense float matrices and the readers that fill them. Readers check every declared
 * size against the file before allocating, and report malformed input with its location
 * (file, row, column, byte offset) and a specific status: ERR_IO (cannot open or read),
 * ERR_FORMAT (bad magic, bad token, ragged row, ...), ERR_TRUNCATED (file shorter than
 * declared), ERR_TOO_LARGE (declared size beyond the file or a limit), ERR_NONFINITE (NaN or
 * infinity where a number is required and no fill policy is given), ERR_UNSUPPORTED (a valid
 * but unsupported variant, e.g. an object dtype).
 */
struct clann_matrix {
    size_t rows;
    size_t cols;
    float *data; /* rows * cols floats, row-major; owned by the matrix (clann_matrix_free) */
};

/* Allocates a rows x cols matrix of zeros. */
CLANN_API enum clann_status clann_matrix_create(size_t rows, size_t cols, struct clann_matrix *out);
/* Frees m->data and zeroes *m. Accepts NULL and an empty matrix. */
CLANN_API void clann_matrix_free(struct clann_matrix *m);

/* Reads an IDX file (raw or gzip-compressed, as MNIST and Fashion-MNIST ship): the first
 * dimension becomes rows, the product of the others cols (a 1-D file gives cols = 1). Values
 * are converted to float unchanged (uint8 pixels stay 0..255). */
CLANN_API enum clann_status clann_idx_load(const char *path, struct clann_matrix *out);

/* Reads a NumPy .npy file (format versions 1, 2 and 3; dtypes f4, f8, i1, i2, i4, i8, u1, u2,
 * u4, u8, b1; little- or big-endian; C or Fortran order, converted to row-major). A 1-D array
 * gives cols = 1; an N-D array flattens all but the first dimension into cols. */
CLANN_API enum clann_status clann_npy_load(const char *path, struct clann_matrix *out);

enum clann_fill_policy {
    CLANN_FILL_NONE = 0, /* a missing or non-numeric value is an error */
    CLANN_FILL_ZERO = 1, /* replaced by 0 */
    CLANN_FILL_MEAN = 2  /* replaced by the mean of the column's valid values */
};

struct clann_csv_params {
    char delimiter;           /* default ',' */
    bool has_header;          /* default true */
    /* Label column: a header name, or a 0-based index written in decimal ("3"); NULL: the last
     * column; "" : no label column (labels output left empty). */
    const char *label_column;
    enum clann_fill_policy fill; /* default CLANN_FILL_NONE */
};

CLANN_API struct clann_csv_params clann_csv_default_params(void);

/* Reads a numeric CSV file (RFC 4180 quoting, LF or CRLF line ends) into features (every
 * column but the label) and labels (one column). Errors name the file, the 1-based row (the
 * header is row 1 when present) and column, and the offending text. */
CLANN_API enum clann_status clann_csv_load(const char *path, const struct clann_csv_params *params,
                                           struct clann_matrix *features,
                                           struct clann_matrix *labels);

/* Loads Fashion-MNIST from dir (NULL: /usr/share/datasets/fashion-mnist, Debian's
 * dataset-fashion-mnist package, or the CLANN_FASHION_MNIST folder when set): 60000 training
 * and 10000 test images as rows of 784 floats scaled to [0, 1], labels as class indices. */
CLANN_API enum clann_status clann_fashion_mnist_load(const char *dir, struct clann_matrix *train_x,
                                                     struct clann_matrix *train_y,
                                                     struct clann_matrix *test_x,
                                                     struct clann_matrix *test_y);

/* ---------------------------------------------------------------------------------------------
 * Models: a stack of layers trained on one context.
 *
 * Build a model with clann_model_create() and clann_model_add_*(), then clann_model_compile()
 * it with a loss and an optimizer; or use an estimator shortcut (clann_dnn_classifier_create()
 * ...), which returns a compiled model. The last layer's output is the model's raw output:
 * logits for the cross-entropy losses, values for the regression losses. clann_model_predict()
 * turns logits into probabilities.
 */
struct clann_model;

enum clann_activation {
    CLANN_ACTIVATION_LINEAR = 0,     /* identity */
    CLANN_ACTIVATION_SIGMOID = 1,    /* 1 / (1 + exp(-z)) */
    CLANN_ACTIVATION_TANH = 2,
    CLANN_ACTIVATION_RELU = 3,       /* max(z, 0) */
    CLANN_ACTIVATION_LEAKY_RELU = 4, /* z > 0 ? z : alpha z, alpha default 0.01 */
    CLANN_ACTIVATION_PRELU = 5,      /* z > 0 ? z : a_j z, a_j learned per unit (starts at alpha,
                                        default 0.25) */
    CLANN_ACTIVATION_RRELU = 6,      /* training: slope ~ U(lower, upper) per element (default
                                        1/8, 1/3); inference: (lower + upper) / 2 */
    CLANN_ACTIVATION_RELU6 = 7,      /* min(max(z, 0), 6) */
    CLANN_ACTIVATION_ELU = 8,        /* z > 0 ? z : alpha (exp(z) - 1), alpha default 1 */
    CLANN_ACTIVATION_SOFTPLUS = 9,   /* log(1 + exp(z)) */
    CLANN_ACTIVATION_SOFTMAX = 10    /* per row exp(z_j) / sum_k exp(z_k) */
};

/* Parses "relu", "leaky_relu", ... (the names above in lower case); false if unknown. */
CLANN_API bool clann_activation_from_name(const char *name, enum clann_activation *out);
CLANN_API const char *clann_activation_name(enum clann_activation a);

enum clann_initializer {
    CLANN_INIT_DEFAULT = 0,        /* He uniform for the ReLU family, Glorot uniform otherwise */
    CLANN_INIT_ZEROS = 1,
    CLANN_INIT_CONSTANT = 2,       /* value a */
    CLANN_INIT_UNIFORM = 3,        /* U(a, b) */
    CLANN_INIT_NORMAL = 4,         /* N(a, b^2): mean a, standard deviation b */
    CLANN_INIT_GLOROT_UNIFORM = 5, /* U(-l, l), l = sqrt(6 / (fan_in + fan_out)) */
    CLANN_INIT_GLOROT_NORMAL = 6,  /* N(0, 2 / (fan_in + fan_out)) */
    CLANN_INIT_HE_UNIFORM = 7,     /* U(-l, l), l = sqrt(6 / fan_in) */
    CLANN_INIT_HE_NORMAL = 8       /* N(0, 2 / fan_in) (not truncated) */
};

struct clann_init {
    enum clann_initializer kind;
    float a, b; /* see enum clann_initializer */
};

struct clann_dense_params {
    size_t units;
    enum clann_activation activation; /* fused into the layer's forward pass */
    float alpha;                      /* leaky ReLU slope, ELU alpha, PReLU initial slope */
    float rrelu_lower, rrelu_upper;
    bool use_bias;                    /* default true */
    struct clann_init kernel_init;    /* default CLANN_INIT_DEFAULT */
    struct clann_init bias_init;      /* default zeros */
};

/* Defaults: linear activation, bias on, default initializers, the activation constants above. */
CLANN_API struct clann_dense_params clann_dense_default_params(size_t units,
                                                               enum clann_activation activation);

enum clann_loss {
    CLANN_LOSS_MSE = 0,                          /* mean over outputs of (p - y)^2 */
    CLANN_LOSS_MAE = 1,                          /* mean of |p - y| */
    CLANN_LOSS_HUBER = 2,                        /* quadratic within delta, linear beyond */
    CLANN_LOSS_SIGMOID_CROSS_ENTROPY = 3,        /* binary or multi-label; labels in [0, 1] */
    CLANN_LOSS_SOFTMAX_CROSS_ENTROPY = 4,        /* labels one-hot or soft, one column a class */
    CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY = 5  /* labels: one column holding the class index */
};

enum clann_optimizer {
    CLANN_OPTIMIZER_SGD = 0,
    CLANN_OPTIMIZER_MOMENTUM = 1, /* set nesterov for Nesterov momentum */
    CLANN_OPTIMIZER_ADAGRAD = 2,
    CLANN_OPTIMIZER_ADAM = 3,
    CLANN_OPTIMIZER_RMSPROP = 4
};

struct clann_optimizer_params {
    enum clann_optimizer kind;
    float learning_rate;
    float momentum;            /* momentum: default 0.9 */
    bool nesterov;
    float beta1, beta2;        /* Adam: 0.9, 0.999 */
    float epsilon;             /* Adam, RMSProp, Adagrad: 1e-7 */
    float rho;                 /* RMSProp: 0.9 */
    float initial_accumulator; /* Adagrad: 0.1 */
};

/* Keras' defaults for each optimizer (learning rate 0.01 for SGD and momentum, 0.001
 * otherwise). */
CLANN_API struct clann_optimizer_params clann_optimizer_default_params(enum clann_optimizer kind);
CLANN_API bool clann_optimizer_from_name(const char *name, enum clann_optimizer *out);

struct clann_compile_params {
    enum clann_loss loss;
    float huber_delta;                       /* default 1 */
    struct clann_optimizer_params optimizer; /* default Adam */
    size_t max_batch;                        /* largest batch fit/evaluate/predict use; 128 */
    uint64_t seed;                           /* weights, shuffles and random layers; 42 */
};

CLANN_API struct clann_compile_params clann_compile_default_params(enum clann_loss loss);

/* Creates an empty model taking n_inputs features. */
CLANN_API enum clann_status clann_model_create(struct clann_context *ctx, size_t n_inputs,
                                               struct clann_model **out);
CLANN_API void clann_model_destroy(struct clann_model *model);

/* Adds a dense layer y = act(x W + b), W of shape inputs x units. ERR_STATE once compiled. */
CLANN_API enum clann_status clann_model_add_dense(struct clann_model *model,
                                                  const struct clann_dense_params *params);
/* Adds an activation layer of its own (alpha as in clann_dense_params; 0 picks the default). */
CLANN_API enum clann_status clann_model_add_activation(struct clann_model *model,
                                                       enum clann_activation activation,
                                                       float alpha);
/* Adds inverted dropout: in training each value is dropped (set to 0) with probability `rate`
 * and kept values are scaled by 1 / (1 - rate); at inference the layer is the identity. rate is
 * the DROP probability, in [0, 1]. */
CLANN_API enum clann_status clann_model_add_dropout(struct clann_model *model, float rate);

/* Allocates parameters, gradients, optimizer state and activations on the device for batches
 * of up to params->max_batch rows, and initializes the weights from params->seed. Statuses:
 * ERR_SHAPE (no layers, or a loss that does not fit the output width), ERR_DEVICE_MEMORY. */
CLANN_API enum clann_status clann_model_compile(struct clann_model *model,
                                                const struct clann_compile_params *params);

CLANN_API size_t clann_model_input_count(const struct clann_model *model);
CLANN_API size_t clann_model_output_count(const struct clann_model *model);
CLANN_API size_t clann_model_layer_count(const struct clann_model *model);
/* The loss the model was compiled with. */
CLANN_API enum clann_loss clann_model_loss(const struct clann_model *model);
/* Number of trainable parameters (after compile). */
CLANN_API size_t clann_model_param_count(const struct clann_model *model);
/* Copies all parameters (layer by layer: kernel, bias, PReLU slopes) to or from host memory of
 * n floats; n must equal clann_model_param_count(). */
CLANN_API enum clann_status clann_model_get_params(struct clann_model *model, float *dst, size_t n);
CLANN_API enum clann_status clann_model_set_params(struct clann_model *model, const float *src,
                                                   size_t n);

/* One epoch's summary, passed to the fit callback. NaN where not applicable (accuracy of a
 * regressor, validation values without validation data). */
struct clann_epoch_log {
    size_t epoch; /* 1-based */
    size_t steps; /* total optimizer steps so far */
    double loss;
    double accuracy;
    double val_loss;
    double val_accuracy;
    double seconds; /* wall time of this epoch, including validation */
};

/* Called after every epoch; return false to stop training. */
typedef bool (*clann_epoch_fn)(const struct clann_epoch_log *log, void *user);

struct clann_fit_params {
    size_t epochs;      /* default 10 */
    size_t max_steps;   /* stop after this many optimizer steps in total; 0: no limit */
    size_t batch_size;  /* default: the compiled max_batch; must not exceed it */
    bool shuffle;       /* reshuffle every epoch from the model's seed; default true */
    clann_epoch_fn on_epoch;
    void *user;
};

CLANN_API struct clann_fit_params clann_fit_default_params(void);

/* Trains on x (rows x inputs) and y (rows x label columns: one class index per row for the
 * sparse softmax loss, else one column per output). val_x/val_y may be NULL. The last partial
 * batch of each epoch is used. *last receives the final epoch's log (may be NULL). Statuses:
 * ERR_SHAPE, ERR_NONFINITE (the loss became NaN or infinite: the message names the epoch and
 * suggests remedies), device errors. */
CLANN_API enum clann_status clann_model_fit(struct clann_model *model, const struct clann_matrix *x,
                                            const struct clann_matrix *y,
                                            const struct clann_matrix *val_x,
                                            const struct clann_matrix *val_y,
                                            const struct clann_fit_params *params,
                                            struct clann_epoch_log *last);

struct clann_metrics {
    size_t count;    /* rows evaluated */
    double loss;     /* mean loss */
    double accuracy; /* classification: fraction correct; NaN for regression */
};

/* Mean loss (and accuracy for classifiers) over x, y in inference mode. */
CLANN_API enum clann_status clann_model_evaluate(struct clann_model *model,
                                                 const struct clann_matrix *x,
                                                 const struct clann_matrix *y,
                                                 struct clann_metrics *out);

/* Outputs for x in inference mode into *out (allocated, rows x outputs): probabilities for the
 * cross-entropy losses (softmax or sigmoid of the logits), raw values otherwise. */
CLANN_API enum clann_status clann_model_predict(struct clann_model *model,
                                                const struct clann_matrix *x,
                                                struct clann_matrix *out);

/* ---------------------------------------------------------------------------------------------
 * Model files: one .safetensors file (readable by the standard safetensors readers) holding
 * every parameter as F32 little-endian tensors named layers.<i>.<kind>.<param>, and in
 * __metadata__ the JSON model spec (format version, clann version, layers with all options,
 * loss, optimizer, compile parameters). Saves are atomic: a temporary file in the same folder,
 * fsync, rename, fsync of the folder; on any error the previous file is left intact.
 */

/* Writes a compiled model. Statuses: ERR_STATE (not compiled), ERR_IO (naming the path and the
 * system error). */
CLANN_API enum clann_status clann_model_save(struct clann_model *model, const char *path);

/* Reads a model file into a new compiled model on ctx. Every size and offset is validated
 * before anything is allocated from it. Statuses: ERR_IO, ERR_FORMAT (bad header or JSON, with
 * what is wrong), ERR_TRUNCATED, ERR_TOO_LARGE, ERR_UNSUPPORTED (a newer major format version:
 * the message names both versions). */
CLANN_API enum clann_status clann_model_load(struct clann_context *ctx, const char *path,
                                             struct clann_model **out);

/* The model's JSON spec (the same text stored in its file), allocated; free with
 * clann_string_free(). */
CLANN_API enum clann_status clann_model_spec_json(const struct clann_model *model, char **out);
CLANN_API void clann_string_free(char *s);

/* ---------------------------------------------------------------------------------------------
 * Estimators: compiled models in one call, as TensorFlow's LinearRegressor,
 * LinearClassifier, DNNRegressor and DNNClassifier.
 */
struct clann_estimator_params {
    const size_t *hidden_units;           /* DNN only: units per hidden layer */
    size_t n_hidden;
    enum clann_activation activation;     /* hidden layers; default ReLU */
    float dropout;                        /* drop rate after each hidden layer; default 0 */
    struct clann_optimizer_params optimizer; /* default Adagrad, learning rate 0.05 (as TF) */
    size_t max_batch;                     /* default 128 */
    uint64_t seed;                        /* default 42 */
};

CLANN_API struct clann_estimator_params clann_estimator_default_params(void);

/* The general form: hidden layers from p (none when p->n_hidden is 0), then n_outputs linear
 * outputs trained with `loss`. The shortcuts below call it. */
CLANN_API enum clann_status clann_dnn_create(struct clann_context *ctx, size_t n_inputs,
                                             size_t n_outputs, enum clann_loss loss,
                                             const struct clann_estimator_params *p,
                                             struct clann_model **out);

/* Regressors use mean squared error with n_outputs linear outputs. Classifiers with 2 classes
 * use one logit and sigmoid cross-entropy (labels 0/1); with more, n_classes logits and sparse
 * softmax cross-entropy (labels are class indices). Linear models have no hidden layers. */
CLANN_API enum clann_status clann_linear_regressor_create(struct clann_context *ctx, size_t n_inputs,
                                                          size_t n_outputs,
                                                          const struct clann_estimator_params *p,
                                                          struct clann_model **out);
CLANN_API enum clann_status clann_linear_classifier_create(struct clann_context *ctx,
                                                           size_t n_inputs, size_t n_classes,
                                                           const struct clann_estimator_params *p,
                                                           struct clann_model **out);
CLANN_API enum clann_status clann_dnn_regressor_create(struct clann_context *ctx, size_t n_inputs,
                                                       size_t n_outputs,
                                                       const struct clann_estimator_params *p,
                                                       struct clann_model **out);
CLANN_API enum clann_status clann_dnn_classifier_create(struct clann_context *ctx, size_t n_inputs,
                                                        size_t n_classes,
                                                        const struct clann_estimator_params *p,
                                                        struct clann_model **out);

/* ---------------------------------------------------------------------------------------------
 * Metrics on predictions (host arrays).
 */
/* @metrics-api: declarations of src/metrics go here. */

#ifdef __cplusplus
}
#endif

#endif /* CLANN_H */
