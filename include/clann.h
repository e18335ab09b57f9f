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
 * Worked example: a DNN classifier with two hidden layers, trained on a CSV file whose last
 * column holds class indices 0, 1, 2, then evaluated on another. It is compiled and run by the
 * test suite exactly as written here (tests/header-example.py extracts it), so it stays true.
 *
 *     #include <clann.h>
 *     #include <stdio.h>
 *
 *     int main(int argc, char **argv)
 *     {
 *         const char *train_csv = argc > 2 ? argv[1] : "train.csv";
 *         const char *test_csv = argc > 2 ? argv[2] : "test.csv";
 *         struct clann_context *ctx = NULL;
 *         struct clann_model *model = NULL;
 *         struct clann_matrix x = {0}, y = {0}, test_x = {0}, test_y = {0}, probs = {0};
 *
 *         // Device "auto" (or $CLANN_DEVICE): a GPU if there is one, else the CPU backend.
 *         struct clann_context_params cp = clann_context_default_params();
 *         enum clann_status st = clann_context_create(&cp, &ctx);
 *         struct clann_csv_params csv = clann_csv_default_params(); // label: the last column
 *         if (st == CLANN_OK)
 *             st = clann_csv_load(train_csv, &csv, &x, &y);
 *         if (st == CLANN_OK)
 *             st = clann_csv_load(test_csv, &csv, &test_x, &test_y);
 *
 *         struct clann_estimator_params ep = clann_estimator_default_params();
 *         size_t hidden[] = {32, 16};
 *         ep.hidden_units = hidden;
 *         ep.n_hidden = 2;
 *         if (st == CLANN_OK) // a compiled model: sparse softmax cross-entropy, Adam
 *             st = clann_dnn_classifier_create(ctx, x.cols, 3, &ep, &model);
 *
 *         struct clann_fit_params fp = clann_fit_default_params();
 *         fp.epochs = 20;
 *         fp.batch_size = 32;
 *         struct clann_epoch_log last;
 *         if (st == CLANN_OK) // the test set doubles as validation data here
 *             st = clann_model_fit(model, &x, &y, &test_x, &test_y, &fp, &last);
 *         struct clann_metrics metrics;
 *         if (st == CLANN_OK)
 *             st = clann_model_evaluate(model, &test_x, &test_y, &metrics);
 *         if (st == CLANN_OK)
 *             st = clann_model_predict(model, &test_x, &probs); // allocated: we free it
 *         if (st == CLANN_OK)
 *             printf("test loss %.4f, accuracy %.4f; row 0: P(class 0) = %.3f\n", metrics.loss,
 *                    metrics.accuracy, probs.data[0]);
 *         else
 *             fprintf(stderr, "clann: %s: %s\n", clann_status_name(st), clann_last_error());
 *
 *         // Every destroy and free accepts NULL and zeroed structs.
 *         clann_matrix_free(&probs);
 *         clann_matrix_free(&x);
 *         clann_matrix_free(&y);
 *         clann_matrix_free(&test_x);
 *         clann_matrix_free(&test_y);
 *         clann_model_destroy(model);
 *         clann_context_destroy(ctx);
 *         return st == CLANN_OK ? 0 : 1;
 *     }
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
 *
 * Ownership: who frees what
 * -------------------------
 * - Every object a function creates through an out-parameter belongs to the caller, who
 *   releases it with the matching function, once:
 *       clann_context_create()                                  -> clann_context_destroy()
 *       clann_model_create(), clann_model_create_with_features(), clann_model_load(),
 *       clann_model_load_checkpoint(), clann_model_from_spec_json(), clann_dnn_create() and
 *       the four estimator shortcuts (clann_*_regressor/classifier_create()) -> clann_model_destroy()
 *       clann_table_load_csv(), clann_table_create(), clann_table_select() -> clann_table_destroy()
 *       clann_features_create()                                 -> clann_features_destroy()
 *       clann_devices_list()                                    -> clann_devices_free()
 *       clann_model_spec_json()                                 -> clann_string_free()
 *       clann_binary_slice_bias()                               -> clann_slice_bias_free()
 * - Functions that fill a caller's struct with allocated arrays make the caller the owner of
 *   those arrays: struct clann_matrix from clann_matrix_create(), clann_csv_load() (both
 *   matrices), clann_idx_load(), clann_npy_load(), clann_fashion_mnist_load() (all four),
 *   clann_model_predict(), clann_model_predict_table(), clann_table_numeric(),
 *   clann_features_transform() and clann_model_embedding_get() -> clann_matrix_free();
 *   clann_data_split() -> clann_split_free(); clann_roc_curve_compute() ->
 *   clann_roc_curve_free(); clann_pr_curve_compute() -> clann_pr_curve_free();
 *   clann_multiclass_evaluate() -> clann_multiclass_metrics_free(); clann_multilabel_evaluate()
 *   -> clann_multilabel_metrics_free(). These functions overwrite
 *   the struct without freeing what it held (free it first when reusing one), and leave it
 *   zeroed on failure, so the free function is always safe to call.
 * - Strings and structs returned by pointer are borrowed and never freed by the caller:
 *   clann_status_str(), clann_status_name() and *auto_reason are static; clann_last_error()
 *   lives until the next failure on the same thread; clann_context_last_error(),
 *   clann_context_device() and clann_context_backend_name() until the context is destroyed;
 *   clann_model_features() and clann_model_scaler_stats() until the model is destroyed;
 *   clann_table_column_name() and clann_features_value() until their table or feature set is.
 * - Inputs are borrowed for the call only: matrices, tables, parameter structs and the strings
 *   in them (paths, monitor names, log folder) are read and never kept. Feature sets passed to
 *   clann_model_create_with_features() (or in clann_estimator_params) are copied, so they may
 *   be destroyed right after.
 *
 * Destroy order
 * -------------
 * A model holds a reference to the context it was created on (its device buffers live
 * there). Destroy models before or after their context, in any order: clann_context_destroy()
 * on a context with live models only drops the caller's reference, and the context (its queue,
 * kernels and device memory) is released when its last model is destroyed. The context must
 * not be used through the destroyed handle afterwards. Tables, feature sets, matrices and
 * metric results are independent of contexts and models.
 *
 * Threads
 * -------
 * - A context and every model created on it form one unit that must be used by one thread at
 *   a time (they share the device queue and, on the CPU backend, its worker threads); use one
 *   context per thread for parallel work, or serialize calls with a lock of your own. Contexts
 *   on different threads are independent and may run at the same time, on the same device or
 *   not. A unit may move between threads between calls.
 * - clann_last_error() is per thread: it is the message of the calling thread's last failure,
 *   so read it on the thread that made the failing call. clann_context_last_error() is shared
 *   by everything using that context.
 * - clann_log_set() changes process-wide state without locking: call it once, before other
 *   threads call into clann. The log callback may then be called from any thread that calls
 *   clann, concurrently when several do, so it must be thread-safe itself.
 * - The callbacks of clann_fit_params (on_epoch, on_progress, on_monitor) run on the thread
 *   that called clann_model_fit(), inside that call; they must not call into the same model
 *   or context.
 * - Functions without a context or model (status names, clann_version(), metrics, data
 *   readers, tables and feature sets, clann_devices_list()) keep no shared state and may be
 *   called from any thread; one table or feature set may be read by several threads at once
 *   but not read while another thread changes it (add, fit, destroy).
 */
#ifndef CLANN_H
#define CLANN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

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
    bool unified_memory;        /* shares the host's memory (an integrated GPU, a CPU) */
    /* Auto's order: 1 is tried first, then 2, ... (a device whose context cannot be created,
     * e.g. its kernels fail to build, falls back to the next); the CPU backend comes last.
     * 0: auto never picks it (simulators and emulators such as Oclgrind or Intel's FPGA
     * emulator, a device a second driver lists again, OpenCL CPU devices). */
    unsigned rank;
    char note[128];             /* why it ranks where it does, or why auto skips it */
};

/* Lists the CPU backend (always first) and every OpenCL device, each with its rank in auto's
 * order and a note. *out is an array of *count entries owned by the caller (free it with
 * clann_devices_free()). *auto_index is the entry "auto" tries first; *auto_reason says why (a
 * static string). Auto ranks discrete GPUs over integrated ones over accelerators, then by
 * memory, then by compute units. No ICD, no platform or no device is not an error: the list
 * then holds the CPU backend alone. */
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
     * (first OpenCL device), "opencl:P:D", or a substring of a device name. A comma-separated
     * list gives one per process of a parallel job on a machine: local rank L (Open MPI's
     * OMPI_COMM_WORLD_LOCAL_RANK, MPICH's MPI_LOCALRANKID, Slurm's SLURM_LOCALID) takes entry
     * L mod k, a process alone the first. */
    const char *device;
    enum clann_cpu_mode cpu_mode;
    /* Load kernel sources from this folder instead of the embedded copies (also
     * CLANN_KERNEL_DIR). NULL: embedded. */
    const char *kernel_dir;
    /* Program binary cache folder. NULL: $XDG_CACHE_HOME/clann or ~/.cache/clann. */
    const char *cache_dir;
    bool use_cache; /* default true */
    /* OpenCL GEMM path: NULL or "auto" (the device's default: clann's CPU-device kernels on CPU
     * devices, CLBlast elsewhere), "clblast", "tiled" (clann's portable tiled kernel) or "cpu"
     * (the CPU-device kernels). CLANN_GEMM overrides "auto". Ignored by the CPU backend. */
    const char *gemm;
    /* OpenCL kernel forms: NULL or "auto" (by device type: CPU devices take one-work-item
     * reductions and count_correct and clann's CPU-device GEMM, other devices work-group
     * reductions and CLBlast), "gpu" or "cpu" to force one set on any device (tests, `clann
     * check`). CLANN_OPENCL_FORMS overrides "auto". Ignored by the CPU backend. */
    const char *forms;
};

CLANN_API struct clann_context_params clann_context_default_params(void);

/* Creates a context on the selected device. Statuses: ERR_INVALID_ARG (bad selector),
 * ERR_NO_DEVICE (explicit selector that matches nothing), ERR_OPENCL, ERR_KERNEL_BUILD (the
 * message carries the build log), ERR_NO_MEMORY. */
CLANN_API enum clann_status clann_context_create(const struct clann_context_params *params,
                                                 struct clann_context **out);
/* Destroys a context. Models keep their context alive: when models created on ctx are still
 * alive, this only marks ctx, and the last of them to be destroyed (clann_model_destroy())
 * frees it. Either order is therefore safe; ctx must not be used by the caller afterwards
 * except through those models. NULL is ignored. */
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
/* The GEMM path the context's backend takes and why, e.g. "CLBlast, warm-up 0.19 s" or "clann
 * tiled kernel (CLBlast failed its warm-up: ...)" ("" for the CPU backend), and the seconds of
 * CLBlast's warm-up at creation (its kernel compile and a check of each shape class against a
 * host product; 0 without CLBlast). Owned by ctx. */
CLANN_API const char *clann_context_gemm(const struct clann_context *ctx,
                                         double *warmup_seconds);

/* Op profiling (what `clann bench` splits a step with). While on, every backend op on ctx
 * waits for the device before it starts and after it ends, so that each op is charged its own
 * execution time; that serializes the queue, so a profiled run is slower than an unprofiled
 * one. */
enum clann_op_class {
    CLANN_OP_GEMM = 0,    /* matrix products */
    CLANN_OP_KERNEL = 1,  /* every other op on device data */
    CLANN_OP_TRANSFER = 2 /* uploads and downloads */
};

/* One op's totals since profiling was last switched on. */
struct clann_op_profile {
    const char *name;  /* the op, e.g. "gemm", "upload", "optimizer_step" (static string) */
    enum clann_op_class op_class;
    unsigned long calls;
    double seconds;    /* wall time, waited for */
    double flops;      /* GEMM: 2 m n k summed over the calls; 0 for the others */
    unsigned long launches; /* OpenCL kernel launches (a CLBlast call counts as one) */
};

/* Switches op profiling on (the totals restart from zero) or off (the totals stay readable). */
CLANN_API enum clann_status clann_context_profile(struct clann_context *ctx, bool on);
/* The totals: *ops points at *count entries owned by ctx, in the order the ops were first
 * called, valid until profiling is switched on again or ctx is destroyed. */
CLANN_API enum clann_status clann_context_profile_ops(const struct clann_context *ctx,
                                                      const struct clann_op_profile **ops,
                                                      size_t *count);

/* ---------------------------------------------------------------------------------------------
 * Device self-check (`clann check`): every backend op at several shapes (odd sizes, offsets,
 * NaN and infinities), every GEMM path, the random streams and a short training run on one
 * device, each compared with the CPU reference under the tolerances of docs/testing.md.
 */
struct clann_check_entry {
    char op[64];       /* what ran, e.g. "bias_act_forward sigmoid", "gemm NT [tiled]" */
    char shape[48];    /* e.g. "65x7", "n=100003", "m=65 n=7 k=257" */
    double error;      /* NMSE against the reference; bit-exact checks: values that differ;
                        * INFINITY for a NaN, a wrong infinity, a broken canary or an error */
    double tolerance;  /* the largest error that passes */
    bool pass;
    char detail[192];  /* why it failed (first differing value, canary, message); "" if passed */
};

/* One device's results: entries in the order they ran, `failed` of them failing. */
struct clann_check_report {
    struct clann_device_info device;
    struct clann_check_entry *entries;
    size_t count;
    size_t failed;
    double seconds;
};

/* Checks the device params->device selects (kernel_dir, cache_dir and use_cache apply; gemm is
 * ignored: every path the device can take is checked) against the CPU backend in REFERENCE
 * mode. quick: fewer shapes and a shorter training run (seconds rather than tens of seconds).
 * Returns CLANN_OK when the check ran, whatever it found (report->failed says); ERR_NO_DEVICE,
 * ERR_KERNEL_BUILD, ERR_OPENCL or ERR_NO_MEMORY when it could not run. Free the report with
 * clann_check_report_free(), also after a failure (it is then empty). */
CLANN_API enum clann_status clann_device_check(const struct clann_context_params *params,
                                               bool quick, struct clann_check_report *report);
CLANN_API void clann_check_report_free(struct clann_check_report *report);

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

/* How missing cells are handled (clann_csv_load() takes NONE, ZERO and MEAN; tables, below,
 * every policy). */
enum clann_fill_policy {
    CLANN_FILL_NONE = 0,   /* a missing or non-numeric value is an error */
    CLANN_FILL_ZERO = 1,   /* replaced by 0 */
    CLANN_FILL_MEAN = 2,   /* replaced by the mean of the column's valid values */
    CLANN_FILL_MEDIAN = 3, /* tables: the median of the present values (mean of the middle two) */
    CLANN_FILL_MODE = 4,   /* tables: the most frequent value (ties: the smallest); text columns
                              take the mode under every filling policy */
    CLANN_FILL_DROP = 5    /* tables: rows with a missing cell are left out */
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

struct clann_model;
struct clann_features;

/* ---------------------------------------------------------------------------------------------
 * Splits and outliers.
 */
struct clann_split_params {
    double train, dev, test; /* fractions summing to 1 (0.8, 0.1, 0.1 by default) */
    uint64_t seed;           /* the shuffle; default 42 */
    bool stratify;           /* keep class proportions in every part (labels: class indices) */
};

CLANN_API struct clann_split_params clann_split_default_params(void);

/* Three parts of a data set, each a copy (free with clann_split_free). */
struct clann_split {
    struct clann_matrix train_x, train_y, dev_x, dev_y, test_x, test_y;
};

/* Splits rows of x and y (same row count; y may have any number of columns) at random with
 * the seed. Every part with a nonzero fraction gets at least one row when there are enough
 * rows; stratified splits do this per class. ERR_INVALID_ARG for fractions that are negative
 * or do not sum to 1, or stratification on labels that are not class indices. */
CLANN_API enum clann_status clann_data_split(const struct clann_matrix *x,
                                             const struct clann_matrix *y,
                                             const struct clann_split_params *params,
                                             struct clann_split *out);
CLANN_API void clann_split_free(struct clann_split *split);

/* Removes, in place, the rows of x (and y) with any feature more than z_max standard
 * deviations from its column's mean (statistics of x itself: call it on the training split
 * only). *removed receives the count. */
CLANN_API enum clann_status clann_remove_outliers(struct clann_matrix *x, struct clann_matrix *y,
                                                  double z_max, size_t *removed);

/* ---------------------------------------------------------------------------------------------
 * Feature scaling without leakage: a scaler is fitted on training data only, stored in the
 * model (and its file), and applied to every row the model sees in fit, evaluate and predict,
 * so raw data goes in everywhere.
 */
enum clann_scale {
    CLANN_SCALE_NONE = 0,
    CLANN_SCALE_STANDARD = 1, /* (x - mean) / std per feature (std 0 counts as 1) */
    CLANN_SCALE_MINMAX = 2,   /* lo + (x - min) (hi - lo) / (max - min) per feature */
    CLANN_SCALE_LOG = 3,      /* sign(x) log(1 + |x|): no fitting, defined everywhere */
    CLANN_SCALE_CLIP = 4      /* clamp to [lo, hi] */
};

struct clann_scaler_params {
    enum clann_scale kind;
    float lo, hi; /* MINMAX target range (default 0, 1); CLIP bounds */
};

CLANN_API bool clann_scale_from_name(const char *name, enum clann_scale *out);

/* Fits a scaler on train_x (rows x inputs) and attaches it to the model's inputs. */
CLANN_API enum clann_status clann_model_scale_inputs(struct clann_model *model,
                                                     const struct clann_scaler_params *params,
                                                     const struct clann_matrix *train_x);
/* Fits a scaler on regression targets train_y: training sees scaled targets, evaluate reports
 * the loss on scaled targets, predict maps outputs back to the targets' own units. */
CLANN_API enum clann_status clann_model_scale_targets(struct clann_model *model,
                                                      const struct clann_scaler_params *params,
                                                      const struct clann_matrix *train_y);
/* The fitted statistics of the input (targets: false) or target (true) scaler: a and b per
 * feature (STANDARD: mean and standard deviation; MINMAX: min and max). Borrowed, valid until
 * the model is destroyed; NULL when there is no such scaler. */
/* The kind of the input (targets: false) or target (true) scaler; NONE when there is none. */
CLANN_API enum clann_scale clann_model_scaler_kind(const struct clann_model *model, bool targets);
CLANN_API const float *clann_model_scaler_stats(const struct clann_model *model, bool targets,
                                                const float **b, size_t *n);

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

/* Weight penalties, added to the mean loss of a batch as
 *     l1 * sum |w| + (l2 / 2) * sum w^2
 * (so the gradient of the L2 term is l2 * w). Reported losses leave them out (the penalty is
 * reported apart: clann_epoch_log.penalty). L1 is applied as a proximal step after each update,
 * w = sign(w) max(|w| - t, 0), which makes weights exactly zero instead of letting them hover
 * around it. With SGD and momentum t = lr l1. Adaptive optimizers take steps of about lr
 * whatever the gradient's scale, so there t is the proximal step in their own metric, per
 * weight, as strong as Keras' L1 gradient through the same optimizer:
 *     t = lr' l1 / (sqrt(v + delta) + eps')
 * with v the optimizer's second moment (Adam's v, RMSprop's average, Adagrad's sum of squares)
 * and delta the penalty's own l1^2 in it: Adam lr' = lr sqrt(1 - b2^t), eps' = eps
 * sqrt(1 - b2^t), delta = (1 - b2^t) l1^2; RMSprop delta = l1^2; Adagrad delta = t l1^2. So
 * t <= lr (a weight with no gradient goes to 0 at Adam's pace) and t ~ lr l1 / |g| where
 * gradients are large. */
struct clann_regularizer {
    float l1;
    float l2;
};

enum clann_constraint {
    CLANN_CONSTRAINT_NONE = 0,
    CLANN_CONSTRAINT_MAX_NORM = 1,     /* per unit: norm <= max_value */
    CLANN_CONSTRAINT_MIN_MAX_NORM = 2, /* per unit: norm pulled into [min, max] at `rate` */
    CLANN_CONSTRAINT_UNIT_NORM = 3,    /* per unit: norm = 1 */
    CLANN_CONSTRAINT_NON_NEG = 4       /* every weight >= 0 */
};

/* A constraint applied after every update, as in Keras: for a kernel the norm is taken per unit
 * (over its inputs, Keras axis 0); for a bias over the whole vector. */
struct clann_constraint_params {
    enum clann_constraint kind;
    float min_value, max_value; /* max_value defaults to 2 when left 0 for MAX_NORM */
    float rate;                 /* MIN_MAX_NORM: 1 = enforce strictly (default) */
};

struct clann_dense_params {
    size_t units;
    enum clann_activation activation; /* fused into the layer's forward pass */
    float alpha;                      /* leaky ReLU slope, ELU alpha, PReLU initial slope */
    float rrelu_lower, rrelu_upper;
    bool use_bias;                    /* default true */
    struct clann_init kernel_init;    /* default CLANN_INIT_DEFAULT */
    struct clann_init bias_init;      /* default zeros */
    struct clann_regularizer kernel_regularizer, bias_regularizer; /* default none */
    struct clann_constraint_params kernel_constraint, bias_constraint; /* default none */
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
    CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY = 5, /* labels: one column holding the class index */
    /* Sampled softmax (candidate sampling) for many classes: in training each batch's softmax
     * runs over its own labels plus num_sampled classes drawn without replacement (by
     * `sampler`, uniform by default) from the seeded stream; the output layer computes those candidates' logits alone, and only
     * their kernel and bias columns get gradient, so a step's output layer costs
     * rows x inputs x candidates instead of x classes. Evaluation and prediction use the full
     * softmax. Training loss and accuracy are over the candidates. Labels as for the sparse
     * loss. With uniform sampling the log-Q correction is the same for every class and cancels.
     * Needs a dense output layer (compile says so otherwise). With the log-uniform sampler the
     * logits are corrected by -log E(class) as for NCE below. */
    CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY = 6,
    /* Noise-contrastive estimation (Gutmann and Hyvarinen; TensorFlow's nce_loss) for many
     * classes: in training the candidates are drawn as for sampled softmax (num_sampled
     * negatives per batch from `sampler`, plus the batch's labels), each candidate's logit is
     * corrected to z - log E(class), E the expected count of the class among the draws (K Q
     * for uniform draws, 1 - (1 - Q)^tries for log-uniform ones), and each row's loss is the
     * sigmoid cross-entropy of its true class (target 1) plus those of the K negatives
     * (target 0), summed over the row and averaged over the batch. A negative that is the
     * row's own label counts as its positive only, and other rows' labels take no part.
     * Evaluation and prediction use the full softmax (their loss is the sparse softmax
     * cross-entropy); training accuracy is over the candidates. Labels as for the sparse loss;
     * needs a dense output layer. */
    CLANN_LOSS_NCE = 7
};

/* How sampled softmax and NCE draw their negatives: uniformly over the classes, or from the
 * log-uniform (Zipf) distribution Q(c) = log((c + 2) / (c + 1)) / log(classes + 1), which
 * favours low class indices: sort classes by frequency, most frequent first, to use it. */
enum clann_sampler { CLANN_SAMPLER_UNIFORM = 0, CLANN_SAMPLER_LOG_UNIFORM = 1 };

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
    size_t num_sampled;                      /* sampled softmax, NCE: negatives per batch; 64 */
    enum clann_sampler sampler;              /* sampled softmax, NCE: default uniform */
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
/* Adds spatial dropout (Keras' SpatialDropout2D, PyTorch's Dropout2d) after an image layer: in
 * training each channel of each image is dropped whole with probability `rate`, the kept ones
 * scaled by 1 / (1 - rate); at inference the identity. ERR_SHAPE when the input is no image. */
CLANN_API enum clann_status clann_model_add_spatial_dropout(struct clann_model *model,
                                                            float rate);

/* Adds a Gaussian noise layer: in training y = x + N(0, stddev^2) per value; at inference the
 * identity. Put it first for input noise, or after any layer (before or after an activation). */
CLANN_API enum clann_status clann_model_add_noise(struct clann_model *model, float stddev);

/* Adds batch normalization: in training each unit is normalized by the batch's mean and
 * (biased) variance, then scaled by a learned gamma and shifted by a learned beta; running
 * averages (running = momentum * running + (1 - momentum) * batch) are used at inference.
 * After an image layer each channel is a unit (PyTorch's BatchNorm2d): its statistics run over
 * the batch's images and positions, and it keeps one gamma, beta, mean and variance.
 * momentum 0 and epsilon 0 pick Keras' defaults, 0.99 and 0.001. */
CLANN_API enum clann_status clann_model_add_batchnorm(struct clann_model *model, float momentum,
                                                      float epsilon);

/* Convolutional layers work on images: a row of the model's input is then one image of
 * channels x height x width values in that order (NCHW, as PyTorch), declared with
 * clann_model_set_input_shape() before the first image layer. conv2d and the pooling layers
 * output images; activation, dropout, noise and batch normalization keep their input's shape
 * (batch normalization then normalizes each channel); flatten and dense output
 * flat vectors. Padding follows TensorFlow: valid windows lie inside the image (output
 * floor((size - span) / stride) + 1, span = (kernel - 1) dilation + 1); same pads with zeros
 * so that the output is ceil(size / stride), the odd padding value after. */
CLANN_API enum clann_status clann_model_set_input_shape(struct clann_model *model,
                                                        size_t channels, size_t height,
                                                        size_t width);

struct clann_conv2d_params {
    size_t filters;                   /* output channels */
    size_t kernel_h, kernel_w;
    size_t stride;                    /* default 1 */
    size_t dilation;                  /* default 1 */
    bool same;                        /* padding: true same (default), false valid */
    enum clann_activation activation; /* fused; any element-wise kind (not PReLU, softmax) */
    float alpha;                      /* leaky ReLU slope, ELU alpha */
    bool use_bias;                    /* default true: one bias per filter */
    struct clann_init kernel_init;    /* default CLANN_INIT_DEFAULT (He for the ReLU family,
                                         else Glorot; fans C kh kw and filters kh kw) */
    struct clann_init bias_init;      /* default zeros */
};

/* Defaults for a filters x kernel x kernel convolution: stride 1, same padding, bias. */
CLANN_API struct clann_conv2d_params clann_conv2d_default_params(size_t filters, size_t kernel,
                                                                 enum clann_activation activation);

/* Adds a 2-D convolution (cross-correlation, as every framework): out[f][y][x] = act(b[f] +
 * sum over c, i, j of w[f][c][i][j] in[c][y s + i d - pad][x s + j d - pad]), with the kernel
 * stored filters x channels x kernel_h x kernel_w (PyTorch's layout). Same in training and
 * inference. Its kernel takes no regularizer or constraint (they are the dense layers'). */
CLANN_API enum clann_status clann_model_add_conv2d(struct clann_model *model,
                                                   const struct clann_conv2d_params *p);
/* Adds size x size pooling per channel with the given stride (0: stride = size), valid
 * padding: the maximum of each window (its gradient goes to the first maximum) or its mean. */
CLANN_API enum clann_status clann_model_add_max_pool2d(struct clann_model *model, size_t size,
                                                       size_t stride);
CLANN_API enum clann_status clann_model_add_avg_pool2d(struct clann_model *model, size_t size,
                                                       size_t stride);
/* Adds a flatten layer: the image's values as one vector, in the same order (no computation;
 * marks where the image layers end). */
CLANN_API enum clann_status clann_model_add_flatten(struct clann_model *model);

/* Allocates parameters, gradients, optimizer state and activations on the device for batches
 * of up to params->max_batch rows, and initializes the weights from params->seed. Statuses:
 * ERR_SHAPE (no layers, or a loss that does not fit the output width), ERR_DEVICE_MEMORY. */
CLANN_API enum clann_status clann_model_compile(struct clann_model *model,
                                                const struct clann_compile_params *params);

CLANN_API size_t clann_model_input_count(const struct clann_model *model);
CLANN_API size_t clann_model_output_count(const struct clann_model *model);
CLANN_API size_t clann_model_layer_count(const struct clann_model *model);
/* The seed the model was compiled with (clann_compile_params.seed; a loaded model's recorded
 * one): the seed of its shuffles and random layers, which a resumed run keeps. 0 for NULL. */
CLANN_API uint64_t clann_model_seed(const struct clann_model *model);
/* A layer's output: its width, and (shape may be NULL) its channels, height and width when it
 * is an image (0s when flat); and its parameters (params may be NULL): all of them, and
 * *trainable those trained (batch normalization's running statistics are not; a feature
 * layer's are its embedding tables, frozen ones not trained). ERR_INVALID_ARG
 * for a layer index out of range. */
CLANN_API enum clann_status clann_model_layer_shape(const struct clann_model *model, size_t layer,
                                                    size_t *width, size_t shape[3],
                                                    size_t *params, size_t *trainable);
/* The loss the model was compiled with. */
CLANN_API enum clann_loss clann_model_loss(const struct clann_model *model);
/* Number of trainable parameters (after compile). */
CLANN_API size_t clann_model_param_count(const struct clann_model *model);
/* Weights of a dense layer that are exactly zero (*zeros) out of its kernel's *total (L1's
 * sparsity). ERR_INVALID_ARG for a layer that is not dense. */
CLANN_API enum clann_status clann_model_layer_sparsity(struct clann_model *model, size_t layer,
                                                       size_t *zeros, size_t *total);
/* Input features whose every weight in the first dense layer is exactly zero: the features L1
 * dropped. Writes up to cap indices to indices (may be NULL) and the count to *count. */
CLANN_API enum clann_status clann_model_dropped_inputs(struct clann_model *model, size_t *indices,
                                                       size_t cap, size_t *count);
/* L2 norm of each layer's parameter gradient after the last training step (0 for layers
 * without parameters): out has clann_model_layer_count() entries. */
CLANN_API enum clann_status clann_model_grad_norms(struct clann_model *model, double *out,
                                                   size_t n);

/* Transfer learning, as Keras' `layer.trainable = False`: a frozen layer (trainable false)
 * keeps its parameters and their optimizer state bit for bit through clann_model_fit(): no
 * update, no weight penalty (its L1/L2 term is left out of the penalty), no weight or gradient
 * noise, no constraint; its parameter gradient is not computed, and layers below the lowest
 * trained layer get no backward pass at all. A frozen batch normalization runs in inference
 * mode (its running statistics normalize, and are not updated), as in Keras 2.1+. A frozen
 * feature layer freezes its embedding tables. Any time, before or after compile; the flag is
 * saved in the model spec (and so in model files and checkpoints). ERR_INVALID_ARG for a layer
 * out of range. */
CLANN_API enum clann_status clann_model_set_trainable(struct clann_model *model, size_t layer,
                                                      bool trainable);
/* false for a frozen layer (and a layer out of range). */
CLANN_API bool clann_model_layer_trainable(const struct clann_model *model, size_t layer);
/* Copies the parameters of layers src_layers[k] of the model file at path into layers
 * dst_layers[k] of this compiled model (dst_layers NULL: the same indices), k < n: kernels,
 * biases, PReLU slopes, batch-norm scales and running statistics. Layers must be of the same
 * kind and shape; layers without parameters (dropout, pooling) may be named and are skipped.
 * The source is recorded per layer in the spec ("init_from"). Nothing changes unless every
 * layer fits. Statuses as clann_model_load(), ERR_STATE (not compiled), ERR_INVALID_ARG (a
 * layer index out of range in either model), ERR_SHAPE (kinds or shapes differ: the message
 * names both layers and both shapes). */
CLANN_API enum clann_status clann_model_load_layers(struct clann_model *model, const char *path,
                                                    const size_t *src_layers,
                                                    const size_t *dst_layers, size_t n);

/* Copies all parameters (layer by layer: kernel, bias, PReLU slopes) to or from host memory of
 * n floats; n must equal clann_model_param_count(). */
CLANN_API enum clann_status clann_model_get_params(struct clann_model *model, float *dst, size_t n);
CLANN_API enum clann_status clann_model_set_params(struct clann_model *model, const float *src,
                                                   size_t n);

/* One epoch's summary, passed to the fit callback. NaN where not applicable (accuracy of a
 * regressor, validation values without validation data). */
/* loss and val_loss are the data loss alone (the mean of the loss over the rows), as
 * clann_model_evaluate() reports it; the weight penalty is apart, in penalty. */
struct clann_epoch_log {
    size_t epoch; /* 1-based */
    size_t steps; /* total optimizer steps so far */
    double loss;  /* the mean training loss over the epoch's steps (training mode) */
    double accuracy;
    double val_loss;
    double val_accuracy;
    double seconds; /* wall time of this epoch, including validation */
    double learning_rate; /* in effect at the end of the epoch */
    size_t best_epoch;    /* early stopping: the best epoch so far (0 without it) */
    double val_auc;       /* classifiers with validation data: ROC AUC (sigmoid: the mean over
                             outputs; softmax: the macro one-vs-rest mean), else NaN; above 64
                             classes only when early stopping or a schedule watches it */
    double val_hamming_accuracy; /* multi-label (several sigmoid outputs) with validation data:
                                    the fraction of (row, label) pairs right at 0.5 (accuracy
                                    is the exact match of whole rows), else NaN */
    double penalty;       /* the L1 and L2 penalty (l1 sum |w| + l2/2 sum w^2) at the end of
                             the epoch; 0 without penalties */
};

/* Called after every training step is enqueued (host side only: no device wait), e.g. for a
 * progress bar: the epoch, the step within it (1-based) and the epoch's step count. */
typedef void (*clann_progress_fn)(size_t epoch, size_t step, size_t steps, void *user);

enum clann_nan_policy { CLANN_NAN_STOP = 0, CLANN_NAN_SKIP = 1 };

/* One monitor sample of one layer (see clann_fit_params.monitor_every). NaN where a value does
 * not apply (no parameters: gradient, weight and update values). */
struct clann_layer_monitor {
    size_t layer;
    double zero_fraction;
    double grad_norm;
    double weight_norm;
    double update_ratio; /* ||w_after - w_before|| / ||w_before|| over the step */
};

typedef void (*clann_monitor_fn)(uint64_t step, const struct clann_layer_monitor *layers,
                                 size_t n_layers, void *user);

/* Called after every epoch; return false to stop training. */
typedef bool (*clann_epoch_fn)(const struct clann_epoch_log *log, void *user);

/* Early stopping: watch `monitor` ("val_loss", "val_accuracy", "val_auc", "loss" or "accuracy") after
 * every epoch; stop when it has not improved by more than min_delta for `patience` epochs (or
 * never beaten `baseline`, when given). restore_best puts back the weights of the best epoch,
 * embedding tables included, bit for bit. */
enum clann_mode { CLANN_MODE_AUTO = 0, CLANN_MODE_MIN = 1, CLANN_MODE_MAX = 2 };

struct clann_early_stopping {
    bool enabled;
    const char *monitor;  /* default "val_loss" ("loss" without validation data) */
    enum clann_mode mode; /* auto: max for accuracy-like names, min otherwise */
    size_t patience;
    double min_delta;
    double baseline;      /* NAN: none */
    bool restore_best;
};

enum clann_schedule {
    CLANN_SCHEDULE_CONSTANT = 0,
    CLANN_SCHEDULE_STEP = 1,        /* lr * factor every step_epochs epochs the model trained
                                       (counted from its step: earlier fit calls and a
                                       resumed checkpoint's epochs count) */
    CLANN_SCHEDULE_EXPONENTIAL = 2, /* lr * decay_rate ^ (step / decay_steps), every step */
    CLANN_SCHEDULE_PLATEAU = 3      /* lr * factor when `monitor` stalls for patience epochs */
};

struct clann_lr_schedule {
    enum clann_schedule kind;
    float factor;        /* step and plateau; default 0.1 */
    size_t step_epochs;  /* step */
    float decay_rate;    /* exponential */
    size_t decay_steps;  /* exponential */
    size_t patience;     /* plateau */
    const char *monitor; /* plateau; default as early stopping */
    float min_lr;        /* never below */
};

struct clann_fit_params {
    size_t epochs;      /* default 10 */
    size_t max_steps;   /* stop after this many optimizer steps in total; 0: no limit */
    size_t batch_size;  /* default: the compiled max_batch; must not exceed it */
    bool shuffle;       /* reshuffle every epoch from the model's seed; default true */
    /* Batch normalization: at the end of every epoch, before validation, the running mean and
     * variance are re-estimated at the epoch's final weights as the mean over up to 50
     * training batches (a forward pass each, no update), instead of keeping the momentum
     * average that lags the weights; true keeps the lagging average. */
    bool no_batchnorm_refresh;
    clann_epoch_fn on_epoch;
    clann_progress_fn on_progress;
    void *user; /* passed to on_epoch, on_progress and on_monitor */
    /* Gradient clipping, any combination (0: off): each gradient value to [-v, v]; each
     * parameter tensor's gradient to L2 norm <= clip_norm (Keras clipnorm); all gradients
     * together to global norm <= clip_global_norm. Applied in that order. */
    float clip_value, clip_norm, clip_global_norm;
    /* Gaussian noise (standard deviations, 0: off) added in training to the gradients, to the
     * weights during each step's forward and backward pass (restored before the update), and to
     * regression labels. */
    float gradient_noise, weight_noise, label_noise;
    struct clann_early_stopping early_stopping;
    /* Default: exponential, decay_rate 0.75 every 400 steps (as `clann train`); set kind to
     * CLANN_SCHEDULE_CONSTANT for a constant rate. */
    struct clann_lr_schedule schedule;
    /* Save the model here after every epoch that improves the early-stopping monitor
     * (save_best_only) or every checkpoint_every epochs; NULL: no checkpoints. */
    const char *checkpoint_path;
    bool save_best_only;
    size_t checkpoint_every;
    /* What save_best_only watches (a monitor name as for early stopping; mode auto, no
     * min_delta); NULL: the early-stopping monitor with its mode, min_delta and baseline. */
    const char *checkpoint_monitor;
    /* NaN trap guard: a step whose loss or gradients are not finite never reaches the weights.
     * CLANN_NAN_STOP (default) ends training with ERR_NONFINITE naming the step and the first
     * layer with a non-finite value (or, when every value is finite but a sum overflows, the
     * layer whose gradient norm exploded, or the loss of the output layer), the weights left as
     * after the previous step; CLANN_NAN_SKIP skips such steps and goes on, and stops at the
     * step that makes more than max_skips skipped in a row within an epoch (ERR_NONFINITE
     * naming those steps; no later step changes the weights). */
    enum clann_nan_policy nan_policy;
    size_t max_skips; /* default 3 */
    /* Training monitors, sampled every monitor_every steps (0: off) on the device: per layer,
     * the fraction of zero outputs (dead ReLUs), the gradient and weight L2 norms and the
     * update/weight norm ratio. Passed to on_monitor, and written to logdir. */
    size_t monitor_every;
    clann_monitor_fn on_monitor;
    /* Run log folder (NULL: none): log.csv with every logged value and a TensorBoard event file
     * (events.out.tfevents.*) with the same scalars. The folder holds one fit call: a new fit
     * replaces log.csv and removes the older event files, so TensorBoard shows one run per
     * folder (give each run its own folder, runs/a, runs/b, and point TensorBoard at runs). */
    const char *logdir;
    /* The name of the validation figures in logdir (log.csv columns, TensorBoard tags): NULL
     * or "val" gives val_loss, val_accuracy, val_auc; a program whose validation data is its
     * test set says "test" (test_loss, ...). Letters, digits and '_', up to 15. Early stopping
     * and plateau schedules call them "val_*" whatever this is. */
    const char *validation_name;
    /* Data-parallel training over the MPI world (clann_world_init; default false). With more
     * than one rank, every rank calls fit with the same model, data, options and seed, and
     * batch_size is the global batch: each rank takes a contiguous share of every batch in the
     * one-process order, gradients are summed over the ranks in rank order and every rank takes
     * the same optimizer step, so all ranks hold the same weights and repeated runs are bitwise
     * identical. Batch normalization uses the global batch's statistics; feature columns and
     * sampled losses exchange their rows. on_epoch must answer alike on every rank (its
     * figures are the same everywhere). A rank whose step fails makes every rank's fit return
     * an error naming it, in that step (batch normalization included); clann_world_abort()
     * after a failed fit ends every rank at once. */
    bool distributed;
    /* Virtual shards (0 or 1: none): each batch is cut into this many contiguous shards whose
     * gradients are computed one by one and added in shard order, so that any number of ranks
     * that divides it (each computing its shards) gives bitwise the model of one process with
     * the same shards. Costs one process about a pass per shard (small batches run less
     * efficiently); refused (ERR_UNSUPPORTED) with batch normalization in training mode,
     * feature columns and sampled losses. */
    size_t shards;
};

CLANN_API struct clann_fit_params clann_fit_default_params(void);

/* The training options a model carries: those of its last clann_model_fit() call, or of the
 * "training" section of the spec or file it was built from, or what
 * clann_model_set_fit_params() set. The model spec (clann_model_spec_json(), model files)
 * stores them, so a spec says how its model was trained and `clann train --spec` trains that
 * way again. Callbacks are not kept (NULL in *out); strings are borrowed until the next fit,
 * set or destroy. Returns false, and the defaults in *out, when the model carries none. */
CLANN_API bool clann_model_fit_params(const struct clann_model *model,
                                      struct clann_fit_params *out);
/* Stores a copy of params (strings copied, callbacks dropped) as the model's training options.
 * ERR_INVALID_ARG for values no fit accepts (negative or non-finite clipping limits and noise
 * levels, an unknown monitor name, a schedule factor outside (0, 1]). */
CLANN_API enum clann_status clann_model_set_fit_params(struct clann_model *model,
                                                       const struct clann_fit_params *params);

/* The names an enumerated option accepts, in order (for help texts and messages): the i-th
 * name of a list, NULL past its end. They come from the tables the library parses names with,
 * so a list built from them misses no value. */
enum clann_name_list {
    CLANN_NAMES_ACTIVATION = 0,
    CLANN_NAMES_LOSS = 1,
    CLANN_NAMES_OPTIMIZER = 2,
    CLANN_NAMES_INITIALIZER = 3,
    CLANN_NAMES_CONSTRAINT = 4,
    CLANN_NAMES_SCALE = 5,
    CLANN_NAMES_SCHEDULE = 6,   /* enum clann_schedule */
    CLANN_NAMES_MODE = 7,       /* enum clann_mode */
    CLANN_NAMES_NAN_POLICY = 8, /* enum clann_nan_policy */
    CLANN_NAMES_MONITOR = 9     /* what early stopping, plateau schedules and best-only
                                   checkpoints can watch */
};
CLANN_API const char *clann_name_at(enum clann_name_list list, size_t i);

/* ---------------------------------------------------------------------------------------------
 * The MPI world (README "Training on several processes or machines"). clann_world_init starts
 * MPI when an MPI launcher (mpirun) started this process and does nothing otherwise, so the
 * same program runs alone or as one of N ranks; call it first, before any thread exists.
 * ERR_UNSUPPORTED when launched with several processes by a clann built without MPI. */
CLANN_API enum clann_status clann_world_init(int *argc, char ***argv);
/* This process's rank (0 alone) and the number of ranks (1 alone). */
CLANN_API int clann_world_rank(void);
CLANN_API int clann_world_size(void);
/* Ends every rank of the job with `code` (MPI_Abort) after a failure, so that no rank waits in
 * a collective for this one; returns at once when the world is one process. */
CLANN_API void clann_world_abort(int code);
/* Shuts MPI down (after every fit); the world is one process again. */
CLANN_API void clann_world_finalize(void);

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
/* The mean training loss of the epoch under way so far (as Keras' and tqdm's progress bars
 * show it), for an on_progress callback: the loss of the steps taken this epoch, plus the
 * weight penalty as of the last epoch's end; NaN before an epoch's first step. It waits for
 * the queued steps to finish (a device read-back), so call it a few times a second at most.
 * ERR_INVALID_ARG outside a fit call's training; device errors. */
CLANN_API enum clann_status clann_model_running_loss(struct clann_model *model, double *loss);

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
 * the message names both versions), ERR_NONFINITE (a NaN or infinity in a tensor: the message
 * names the tensor and the index). */
CLANN_API enum clann_status clann_model_load(struct clann_context *ctx, const char *path,
                                             struct clann_model **out);

/* Checkpoints: a model file (it loads with clann_model_load() too) that also holds the
 * optimizer state (tensors optimizer.state1 and optimizer.state2, and for each embedding table
 * optimizer.embedding.<feature>.state1 and .state2 as its optimizer keeps them) and, in
 * __metadata__.clann_checkpoint, the step count, the epoch and the learning rate in effect.
 * Loading one restores all of it, so clann_model_fit() continues exactly as an uninterrupted
 * run would on the same device (its shuffles and random layers are keyed by the step). epoch
 * is the caller's count of finished epochs, stored as given. Saves are atomic as above. */
CLANN_API enum clann_status clann_model_save_checkpoint(struct clann_model *model,
                                                        const char *path, size_t epoch);
/* Reads a checkpoint into a new compiled model on ctx; *epoch (may be NULL) receives the saved
 * epoch. Statuses as clann_model_load(), and ERR_FORMAT for a plain model file (no optimizer
 * state) or malformed checkpoint metadata. */
CLANN_API enum clann_status clann_model_load_checkpoint(struct clann_context *ctx,
                                                        const char *path,
                                                        struct clann_model **out,
                                                        size_t *epoch);

/* What a model file or checkpoint holds, read and validated (header, spec, every tensor's
 * dtype, shape and place; the tensor values are not read) without building the model. */
struct clann_tensor_info {
    char *name;       /* "layers.0.dense.kernel", "optimizer.state1", ... */
    size_t rank;      /* 1 or 2 */
    size_t shape[2];
    uint64_t offset;  /* bytes into the file */
    uint64_t bytes;
};
struct clann_model_file_info {
    char *format_version;   /* the spec's format version, "MAJOR.MINOR" */
    char *spec_json;        /* the model spec (__metadata__.clann_spec) */
    char *metadata_json;    /* the whole __metadata__ object, as JSON */
    struct clann_tensor_info *tensors; /* in file order */
    size_t n_tensors;
    bool is_checkpoint;     /* checkpoint metadata and optimizer state both present */
    char *checkpoint_json;  /* __metadata__.clann_checkpoint; NULL when absent */
    uint64_t step, epoch;   /* checkpoints: the step count and the epoch saved */
    float learning_rate;    /* checkpoints: the learning rate in effect */
};

/* Reads what path holds into *out (NULL on failure), which the caller frees with
 * clann_model_file_info_free() (all its strings and arrays go with it). Statuses: as
 * clann_model_load() except ERR_NONFINITE (values are not read), and ERR_FORMAT or
 * ERR_UNSUPPORTED for malformed or newer checkpoint metadata. */
CLANN_API enum clann_status clann_model_file_info(const char *path,
                                                  struct clann_model_file_info **out);
CLANN_API void clann_model_file_info_free(struct clann_model_file_info *info);

/* Builds and compiles the model a JSON spec describes (the format clann_model_spec_json()
 * writes; weights initialized from its seed). Statuses: ERR_FORMAT (naming the JSON path),
 * ERR_UNSUPPORTED, ERR_TOO_LARGE, ERR_SHAPE, ERR_STATE (feature columns left to fit: see
 * clann_model_from_spec_table()). */
CLANN_API enum clann_status clann_model_from_spec_json(struct clann_context *ctx,
                                                       const char *json_text,
                                                       struct clann_model **out);

/* The model's JSON spec (the same text stored in its file), allocated; free with
 * clann_string_free(). */
CLANN_API enum clann_status clann_model_spec_json(const struct clann_model *model, char **out);
CLANN_API void clann_string_free(char *s);

/* ---------------------------------------------------------------------------------------------
 * Output files, written the way clann writes all its files: into a temporary file in the same
 * folder (a short fixed-length name, so any target name fits), fsynced, renamed over the target,
 * the folder fsynced. A failure (full disk, I/O error, read-only folder) removes the temporary
 * file and leaves an existing target as it was. An existing target must be a regular file:
 * devices, fifos and folders are refused (so /dev/null survives); a symbolic link is followed
 * and the file it points to replaced, the link kept. Errors are ERR_IO naming the path and the
 * system's error text.
 */
struct clann_file;

/* Starts writing path. *out (NULL on failure) is finished by clann_file_commit() or
 * clann_file_discard(), which free it. Statuses: ERR_INVALID_ARG, ERR_IO, ERR_NO_MEMORY. */
CLANN_API enum clann_status clann_file_create(const char *path, struct clann_file **out);
/* A stdio stream to write the contents with, owned by file (do not fclose it); NULL when out
 * of memory. */
CLANN_API FILE *clann_file_stream(struct clann_file *file);
/* Flushes and syncs what was written and puts it in the target's place; ERR_IO when any write
 * failed. Frees file in every case. */
CLANN_API enum clann_status clann_file_commit(struct clann_file *file);
/* Drops what was written, leaving the target untouched; frees file (NULL: no-op). */
CLANN_API void clann_file_discard(struct clann_file *file);

/* ---------------------------------------------------------------------------------------------
 * Estimators: compiled models in one call, as TensorFlow's LinearRegressor,
 * LinearClassifier, DNNRegressor and DNNClassifier.
 */
struct clann_estimator_params {
    const size_t *hidden_units;           /* DNN only: units per hidden layer */
    size_t n_hidden;
    enum clann_activation activation;     /* hidden layers; default ReLU */
    float dropout;                        /* drop rate after each hidden layer; default 0 */
    bool batchnorm;                       /* batch normalization before each hidden activation */
    struct clann_regularizer regularizer; /* on every kernel; default none */
    float max_norm;                       /* max-norm constraint on every kernel; 0: none */
    struct clann_optimizer_params optimizer; /* default Adam, learning rate 0.002 (the CLI's) */
    size_t max_batch;                     /* default 128 */
    uint64_t seed;                        /* default 42 */
    /* A fitted feature set (categorical columns, embeddings): the model's input stage, as
     * clann_model_create_with_features(); n_inputs must then be its input count. NULL: a plain
     * numeric input. */
    const struct clann_features *features;
    /* A convolutional front (DNN only; n_conv 0: none): convolution i has conv_filters[i]
     * filters of conv_kernels[i] x conv_kernels[i], stride 1, same padding and the hidden
     * activation, and is followed by pool x pool max pooling (default 2; 0 or 1: none); a
     * flatten then leads to the hidden layers. The input is then an image of input_shape
     * (channels, height, width), whose product must be n_inputs. With batchnorm each
     * convolution is linear without bias, then a channel batch norm and the activation (as the
     * hidden layers); spatial_dropout > 0 adds spatial dropout of that rate after each pooling
     * (after each convolution without one). dropout applies to the hidden layers alone. */
    const size_t *conv_filters, *conv_kernels;
    size_t n_conv;
    size_t pool;
    size_t input_shape[3];
    float spatial_dropout;
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
 * Feature columns and embeddings, as TensorFlow's feature columns.
 *
 * Raw data comes as a table of named columns (numeric or text). A feature set describes how
 * each column becomes model input: numeric columns are copied; categorical columns (bucketized
 * numbers, values looked up in a vocabulary, integer ids, hash buckets, crossed columns) become
 * integer ids, and a model's first layer turns each categorical column's ids into an embedding
 * (a trained vector per id, combined over the values of a multi-valued cell) or an indicator
 * (one-hot, or counts for multi-valued cells). Sparse inputs are never expanded on the host:
 * clann_features_transform() writes, per row, the numeric values followed by id slots (ids as
 * floats, -1 for an empty slot), and the device gathers the embeddings.
 *
 * Workflow: clann_features_create() from a list of columns, clann_features_fit() on the
 * training table only (vocabularies, widths), clann_model_create_with_features(), add layers,
 * compile, clann_features_transform() each table and train with clann_model_fit(). The model
 * keeps a copy of the fitted feature set (clann_model_features()); its file stores it, the
 * vocabularies and the embedding tables (tensors layers.0.embedding.<feature>), so a loaded
 * model predicts from raw tables (clann_model_predict_table()).
 *
 * Hashing: hash buckets, crossed columns and vocabulary out-of-vocabulary (OOV) buckets use
 * XXH64 with seed 0 (xxHash 0.8) of the value's text, modulo the bucket count. Numeric cells
 * hash as their shortest decimal text ("42" for 42.0). Crossed columns hash the values of
 * their columns joined with the byte 0x1F.
 *
 * Embedding tables live outside the collated parameters (clann_model_get_params() does not
 * see them): each training step gathers the rows of its batch, sums their gradients in a fixed
 * order (deterministic on every device) and updates only those rows, so a step costs the same
 * for 10^3 or 10^6 ids. Optimizer state is kept per row and updated lazily (TensorFlow's
 * LazyAdam: a row's moments change only in steps that see it). Gradient clipping covers the
 * tables (per table, by value, and in the global norm, with the batch's rows as the table's
 * gradient); gradient noise, weight noise and weight penalties apply to the dense parameters
 * only. The NaN guard checks the tables' gradients and skips their updates too. Checkpoints
 * hold the rows' optimizer state, so a resumed run continues them exactly (a checkpoint
 * without those tensors still loads: its rows resume from the optimizer's initial state).
 */

/* A host table: named columns, each numeric (float) or text. Opaque. */
struct clann_table;

struct clann_table_params {
    char delimiter;  /* default ',' */
    bool has_header; /* default true; without one the columns are named c0, c1, ... */
};

CLANN_API struct clann_table_params clann_table_default_params(void);

/* Reads a CSV file (RFC 4180 quoting, LF or CRLF line ends). A column whose every cell is a
 * finite number or missing (clann_is_missing(): empty, NA, N/A, NaN, null, ?), one at least a
 * number, is numeric with NaN in its missing cells; any other is text (multi-valued cells such
 * as "a|b" are text). Any other number-like cell that is no finite float ("inf", "-nan",
 * "1e999") is an error in a column that also holds numbers or holds nothing else (among words
 * it is a word).
 * Errors name the file, the 1-based row and the column: ERR_IO, ERR_FORMAT (ragged row, bad
 * quoting, NUL byte, duplicate or empty column name, no data rows, a number beyond the float
 * range), ERR_NONFINITE, ERR_TOO_LARGE (over 65536 columns), ERR_NO_MEMORY. */
CLANN_API enum clann_status clann_table_load_csv(const char *path,
                                                 const struct clann_table_params *params,
                                                 struct clann_table **out);
/* An empty table of `rows` rows, for columns added in memory. */
CLANN_API enum clann_status clann_table_create(size_t rows, struct clann_table **out);
/* Adds a column (values copied; rows of them). ERR_INVALID_ARG for a duplicate or empty name,
 * ERR_NONFINITE for a non-finite number. NULL strings are empty cells. */
CLANN_API enum clann_status clann_table_add_numeric(struct clann_table *t, const char *name,
                                                    const float *values);
CLANN_API enum clann_status clann_table_add_strings(struct clann_table *t, const char *name,
                                                    const char *const *values);
CLANN_API void clann_table_destroy(struct clann_table *t);
CLANN_API size_t clann_table_rows(const struct clann_table *t);
CLANN_API size_t clann_table_cols(const struct clann_table *t);
/* The name of column `col` (owned by t), NULL when out of range. */
CLANN_API const char *clann_table_column_name(const struct clann_table *t, size_t col);
CLANN_API bool clann_table_column_is_numeric(const struct clann_table *t, size_t col);
/* Cells of a loaded column that read as numbers: all rows for a numeric column; for a text
 * column, nonzero means numbers mixed with text or empty cells (a numeric column with bad or
 * missing values, more likely than a category). 0 for columns added in memory as text. */
CLANN_API size_t clann_table_column_numbers(const struct clann_table *t, size_t col);
/* A numeric column as a rows x 1 matrix (labels). ERR_INVALID_ARG for an unknown name (the
 * message lists the columns), ERR_FORMAT for a text column. */
CLANN_API enum clann_status clann_table_numeric(const struct clann_table *t, const char *column,
                                                struct clann_matrix *out);
/* A new table of the rows rows[0..n) of t (copies; a row may repeat), e.g. for splits. */
CLANN_API enum clann_status clann_table_select(const struct clann_table *t, const size_t *rows,
                                               size_t n, struct clann_table **out);

/* The text of cell (row, col): a text cell as stored, a number as its shortest decimal ("42",
 * not "42.0"; NaN for a missing numeric cell) written into buf (size >= 32). NULL out of
 * range. */
CLANN_API const char *clann_table_cell(const struct clann_table *t, size_t col, size_t row,
                                       char *buf, size_t size);

/* Missing values. A cell is missing when it is empty or one of NA, N/A, NaN, null, ? (any case,
 * spaces around ignored). A loaded column whose cells are numbers or missing is numeric, with NaN
 * in its missing cells; clann_table_add_numeric() takes finite numbers only. Training data with
 * missing cells must be filled or dropped first: a fill value is fitted on the training rows
 * (clann_table_fill_value()) and put into every part's missing cells (clann_table_fill_missing());
 * clann_model_set_columns() stores the values in the model for later data. */

/* "none", "zero", "mean", "median", "mode", "drop". */
CLANN_API bool clann_fill_from_name(const char *name, enum clann_fill_policy *out);
CLANN_API const char *clann_fill_name(enum clann_fill_policy fill);
/* Whether a CSV cell's text reads as missing. */
CLANN_API bool clann_is_missing(const char *cell);
/* Missing cells of a column (0 out of range). */
CLANN_API size_t clann_table_column_missing(const struct clann_table *t, size_t col);
/* The value `fill` (not NONE or DROP) puts into column col, fitted on the table `train`, as
 * text into buf (size >= 32; numbers with 9 significant digits). ERR_INVALID_ARG when every
 * training cell of the column is missing. */
CLANN_API enum clann_status clann_table_fill_value(const struct clann_table *train, size_t col,
                                                   enum clann_fill_policy fill, char *buf, size_t size);
/* Replaces the missing cells of column col by value (a finite number for a numeric column). */
CLANN_API enum clann_status clann_table_fill_missing(struct clann_table *t, size_t col,
                                                     const char *value);
/* A new table of t's rows that have no missing cell in the named columns (all columns when
 * columns is NULL); *dropped (may be NULL) receives the count left out. */
CLANN_API enum clann_status clann_table_drop_missing(const struct clann_table *t,
                                                     const char *const *columns, size_t n,
                                                     struct clann_table **out, size_t *dropped);

enum clann_feature_kind {
    CLANN_FEATURE_NUMERIC = 0,    /* a numeric column, copied */
    CLANN_FEATURE_BUCKETIZED = 1, /* a numeric column cut at boundaries: id = number of
                                     boundaries <= x, so n_boundaries + 1 ids */
    CLANN_FEATURE_VOCABULARY = 2, /* values looked up in a vocabulary (list, file or fitted);
                                     unknown values go to OOV buckets after it */
    CLANN_FEATURE_IDENTITY = 3,   /* integer ids in [0, num_buckets); others are an error */
    CLANN_FEATURE_HASH = 4,       /* XXH64(value) mod num_buckets */
    CLANN_FEATURE_CROSSED = 5     /* XXH64(values of `columns` joined by 0x1F) mod num_buckets */
};

enum clann_feature_output {
    CLANN_FEATURE_EMBEDDING = 0, /* a trained vector of `dimension` floats per id */
    CLANN_FEATURE_INDICATOR = 1  /* one-hot over the ids (multi-valued: combined as below) */
};

/* How the values of a multi-valued cell combine: with c valid values v_1..v_c, sum = sum_i
 * e(v_i), mean = sum / c, sqrtn = sum / sqrt(c); a cell without values gives zeros. */
enum clann_combiner {
    CLANN_COMBINER_MEAN = 0,
    CLANN_COMBINER_SUM = 1,
    CLANN_COMBINER_SQRTN = 2
};

/* One feature column. Pointers are read by clann_features_create() (and the vocabulary file
 * by clann_features_fit()) and not kept. */
struct clann_feature_column {
    enum clann_feature_kind kind;
    /* The feature's name: letters, digits, '_', '-', '.', at most 40 characters; NULL: the
     * column's name (crossed: the columns' names joined by '_x_'). */
    const char *name;
    const char *column;            /* the table column (every kind but crossed) */
    const char *const *columns;    /* crossed: the table columns, at least 2 */
    size_t n_columns;
    const float *boundaries;       /* bucketized: strictly increasing */
    size_t n_boundaries;
    const char *const *vocabulary; /* vocabulary: a fixed list of distinct values, or */
    size_t vocabulary_size;
    const char *vocabulary_file;   /* a file of one value per line; neither: fitted */
    size_t max_vocabulary;         /* fitted: the most frequent values (ties: byte order); 0: all */
    size_t min_count;              /* fitted: values seen fewer times are OOV; default 1 */
    size_t oov_buckets;            /* vocabulary: default 1; 0: unknown values are ignored */
    size_t num_buckets;            /* identity, hash, crossed */
    char separator;                /* multi-valued cells (e.g. '|'); 0: one value per cell */
    size_t max_values;             /* multi-valued: id slots per row; 0: the training maximum.
                                      Values beyond it are ignored. */
    enum clann_combiner combiner;  /* default mean */
    enum clann_feature_output output; /* default embedding */
    size_t dimension;              /* embedding: 0 is round(n_ids^0.25), at least 1 */
    bool trainable;                /* default true; false keeps the table frozen */
    struct clann_init init;        /* default: N(0, 1/dimension), TensorFlow's scale */
};

/* Defaults for a column of `kind` reading table column `column`. */
CLANN_API struct clann_feature_column clann_feature_column_default(enum clann_feature_kind kind,
                                                                   const char *column);

/* A feature set. Opaque. */
struct clann_features;

/* Copies and validates the columns (names, kinds, boundaries, bucket counts). ERR_INVALID_ARG
 * names the offending column. */
CLANN_API enum clann_status clann_features_create(const struct clann_feature_column *columns,
                                                  size_t n, struct clann_features **out);
CLANN_API void clann_features_destroy(struct clann_features *fs);
/* Fits on the training table only: vocabularies (fitted ones, and files, read now), widths of
 * multi-valued columns, embedding dimensions. Refitting replaces the previous fit. Statuses:
 * ERR_INVALID_ARG (a column name the table lacks: the message lists the table's columns; a text
 * column where numbers are needed), ERR_IO and ERR_FORMAT for vocabulary files (file and line:
 * empty value, duplicate value, NUL byte), ERR_TOO_LARGE (more than 2^24 ids). */
CLANN_API enum clann_status clann_features_fit(struct clann_features *fs,
                                               const struct clann_table *train);
/* Model input of every row of t: rows x clann_features_input_count() floats (the numeric
 * features, then each categorical feature's id slots, -1 when empty). ERR_STATE before fit;
 * ERR_INVALID_ARG and ERR_FORMAT (an identity value that is not an id in range) name the
 * feature, column and row. */
CLANN_API enum clann_status clann_features_transform(const struct clann_features *fs,
                                                     const struct clann_table *t,
                                                     struct clann_matrix *out);
/* Columns of clann_features_transform()'s output (0 before fit). */
CLANN_API size_t clann_features_input_count(const struct clann_features *fs);
/* Ids of a categorical feature (vocabulary and OOV buckets, or buckets); 0 when unknown. */
CLANN_API size_t clann_features_id_count(const struct clann_features *fs, const char *feature);
/* The vocabulary value of an id of a vocabulary feature (owned by fs), NULL for an OOV bucket,
 * another kind, or an unknown feature. */
CLANN_API const char *clann_features_value(const struct clann_features *fs, const char *feature,
                                           size_t id);
/* The documented hash bucket of a value: XXH64(value, strlen(value), seed 0) mod n (n >= 1). */
CLANN_API uint64_t clann_hash_bucket(const char *value, uint64_t n);

/* Creates a model whose first layer is the feature layer of a fitted feature set (copied): its
 * input is clann_features_transform()'s output and its output the numeric features followed by
 * each categorical feature's embedding or indicator. Add layers and compile as usual. The
 * input scaler (clann_model_scale_inputs()) applies to the numeric features only. Compile
 * returns ERR_UNSUPPORTED on a backend without the embedding ops. */
CLANN_API enum clann_status clann_model_create_with_features(struct clann_context *ctx,
                                                             const struct clann_features *fs,
                                                             struct clann_model **out);
/* clann_model_from_spec_json() for a spec whose "features" leave something to fit. Feature
 * columns may be described in a spec as struct clann_feature_column does ("kind", "columns",
 * and any of "name", "boundaries", "vocabulary", "vocabulary_file", "max_vocabulary",
 * "min_count", "oov_buckets", "num_buckets", "separator", "width", "combiner", "output",
 * "dimension", "trainable", "init"; "inputs" may then be left out): what is left out is fitted
 * on the training table, what is given is kept. A given vocabulary is the one the model
 * trains and saves with (values outside it go to its OOV buckets); one left out is fitted on
 * `train`. clann_model_from_spec_json() takes such a spec only when nothing is left to fit
 * (ERR_STATE otherwise). Statuses: those of clann_model_from_spec_json() and
 * clann_features_fit(). */
CLANN_API enum clann_status clann_model_from_spec_table(struct clann_context *ctx,
                                                        const char *json_text,
                                                        const struct clann_table *train,
                                                        struct clann_model **out);
/* The model's feature set (owned by the model), NULL for a model without one. */
CLANN_API const struct clann_features *clann_model_features(const struct clann_model *model);

/* What a model trained on a table remembers of it, so that later files are read the same way:
 * the input columns of a model without feature columns (by name, in input order), the label
 * column, the label vocabulary (class k's text; classifiers trained on text labels) and the
 * fill values put into missing cells (per column). All arrays may be empty; text is copied. */
struct clann_columns {
    const char *const *inputs;
    size_t n_inputs;
    const char *label;               /* NULL: not recorded */
    const char *const *classes;
    size_t n_classes;
    enum clann_fill_policy fill;
    const char *const *fill_columns; /* the columns with a fill value, and the values */
    const char *const *fill_values;
    size_t n_fill;
};

/* Stores c in the model (replacing any earlier one; saved in its file). ERR_INVALID_ARG for
 * NULL text, empty or duplicate names, more inputs than the model takes, or a class count that
 * does not match a classifier's outputs. */
CLANN_API enum clann_status clann_model_set_columns(struct clann_model *model,
                                                    const struct clann_columns *c);
/* The stored columns (views owned by the model, valid until it changes or is destroyed);
 * false, with *out zeroed, when none were stored. */
CLANN_API bool clann_model_columns(const struct clann_model *model, struct clann_columns *out);
/* clann_model_predict() of the model's transform of raw table rows. */
CLANN_API enum clann_status clann_model_predict_table(struct clann_model *model,
                                                      const struct clann_table *t,
                                                      struct clann_matrix *out);
/* Copies a feature's embedding table to a new n_ids x dimension matrix, or replaces it from
 * one of that shape (compiled models). ERR_INVALID_ARG for a feature without a table. */
CLANN_API enum clann_status clann_model_embedding_get(struct clann_model *model,
                                                      const char *feature,
                                                      struct clann_matrix *out);
CLANN_API enum clann_status clann_model_embedding_set(struct clann_model *model,
                                                      const char *feature,
                                                      const struct clann_matrix *src);
/* Transfer learning: initializes a feature's table from tensor `tensor` (e.g.
 * "layers.0.embedding.movie") of a model file (any safetensors file with that F32 tensor) of
 * the same shape; ids mean what they meant there, so use the same vocabulary. Statuses as
 * clann_model_load(), and ERR_SHAPE for a shape mismatch, ERR_INVALID_ARG for a missing
 * tensor. */
CLANN_API enum clann_status clann_model_embedding_load(struct clann_model *model,
                                                       const char *feature, const char *path,
                                                       const char *tensor);

/* ---------------------------------------------------------------------------------------------
 * Metrics on predictions (host arrays).
 */
/*
 * Conventions shared by every metric below:
 * - Inputs are host arrays of n examples, read and never kept. Sums are taken in double.
 * - Binary metrics take scores (for the probability-based ones, probabilities in [0, 1]) and
 *   labels that are exactly 0 or 1. An example is predicted positive when its score is >= the
 *   threshold (the rule sklearn's roc_curve uses for its thresholds).
 * - Statuses: ERR_INVALID_ARG (NULL pointer, n == 0, a label that is not 0/1 or not a class
 *   index, a probability outside [0, 1], a metric that is undefined for these labels), and
 *   ERR_NONFINITE (a NaN or infinite score or label); both messages name the offending index.
 *   ERR_NO_MEMORY where a function allocates. Outputs are unchanged on failure unless noted.
 * - Undefined ratios follow sklearn's zero_division=0: precision is 0 when nothing is predicted
 *   positive, recall 0 without positive labels, F1 0 when precision + recall is 0.
 * - Log losses clip probabilities to [1e-7, 1 - 1e-7] and do not renormalize rows.
 */

/* Confusion counts of a binary classifier at one threshold. */
struct clann_binary_counts {
    size_t tp, fp, tn, fn;
};

/* Everything clann_binary_evaluate() computes. */
struct clann_binary_metrics {
    size_t count;                      /* examples */
    float threshold;                   /* the threshold the counts were taken at */
    struct clann_binary_counts counts;
    double accuracy;                   /* (tp + tn) / count */
    double precision;                  /* tp / (tp + fp) */
    double recall;                     /* tp / (tp + fn) */
    double f1;                         /* 2 p r / (p + r) */
    double log_loss;                   /* -mean(y log p + (1 - y) log(1 - p)) */
    double roc_auc;                    /* NaN when all labels are one class */
    double average_precision;          /* PR AUC; NaN when no label is positive */
    double mean_prediction;            /* mean(score) */
    double mean_label;                 /* mean(label), the positive rate */
    double prediction_bias;            /* mean(score) - mean(label) */
};

/* Counts tp/fp/tn/fn of scores >= threshold against labels. Scores may be any finite value. */
CLANN_API enum clann_status clann_binary_confusion(const float *scores, const float *labels,
                                                   size_t n, float threshold,
                                                   struct clann_binary_counts *out);

/* Every binary metric at once, scores being probabilities in [0, 1]. ROC AUC and average
 * precision are NaN (not an error) when the labels do not define them. */
CLANN_API enum clann_status clann_binary_evaluate(const float *scores, const float *labels,
                                                  size_t n, float threshold,
                                                  struct clann_binary_metrics *out);

/* Binary log loss of probabilities (sklearn log_loss with eps 1e-7):
 * -1/n sum y log(clip(p)) + (1 - y) log(1 - clip(p)). */
CLANN_API enum clann_status clann_binary_log_loss(const float *probs, const float *labels,
                                                  size_t n, double *out);

/* Area under the ROC curve, exact: trapezoids over the distinct score thresholds, so tied
 * scores get half credit (sklearn roc_auc_score). Scores may be any finite value. When every
 * label is the same class the AUC is undefined: *out is set to NaN and ERR_INVALID_ARG is
 * returned with a message saying so. */
CLANN_API enum clann_status clann_binary_roc_auc(const float *scores, const float *labels,
                                                 size_t n, double *out);

/* Area under the precision-recall curve as average precision, sum over the distinct thresholds
 * (descending) of (R_k - R_k-1) P_k (sklearn average_precision_score). Without a positive
 * label it is undefined: *out is set to NaN and ERR_INVALID_ARG is returned. */
CLANN_API enum clann_status clann_binary_average_precision(const float *scores,
                                                           const float *labels, size_t n,
                                                           double *out);

/* Prediction bias of one slice of the examples. */
struct clann_slice_bias {
    int64_t slice;          /* the slice id */
    size_t count;
    double mean_prediction;
    double mean_label;
    double bias;            /* mean_prediction - mean_label */
};

/* Prediction bias (mean probability - mean label) per slice: slices[i] is example i's slice
 * id. *out receives *n_out entries, one per distinct id in increasing id order; the array is
 * allocated and owned by the caller (free with clann_slice_bias_free()). On failure *out is
 * NULL and *n_out 0. */
CLANN_API enum clann_status clann_binary_slice_bias(const float *probs, const float *labels,
                                                    const int64_t *slices, size_t n,
                                                    struct clann_slice_bias **out,
                                                    size_t *n_out);
/* Frees an array from clann_binary_slice_bias(). Accepts NULL. */
CLANN_API void clann_slice_bias_free(struct clann_slice_bias *s);

/* ROC curve with a point per distinct score (sklearn roc_curve, drop_intermediate=False): point
 * 0 is (0, 0) at threshold +inf, then thresholds decrease; fpr[i] and tpr[i] are the rates of
 * scores >= thresholds[i]. The arrays are owned by the struct (clann_roc_curve_free()). */
struct clann_roc_curve {
    size_t count; /* points: distinct scores + 1 */
    double *fpr;
    double *tpr;
    double *thresholds;
};

/* Computes the ROC curve of any finite scores. The rates need both classes: with one class,
 * ERR_INVALID_ARG (as sklearn, which would return NaN rates). On failure *out is zeroed. */
CLANN_API enum clann_status clann_roc_curve_compute(const float *scores, const float *labels,
                                                    size_t n, struct clann_roc_curve *out);
/* Frees the arrays and zeroes *c. Accepts NULL and a zeroed struct. */
CLANN_API void clann_roc_curve_free(struct clann_roc_curve *c);

/* Precision-recall curve (sklearn precision_recall_curve): thresholds are the distinct scores
 * in increasing order (count - 1 of them); precision[i] and recall[i] are those of scores >=
 * thresholds[i], and the last point is precision 1, recall 0 with no threshold. Arrays are
 * owned by the struct (clann_pr_curve_free()). */
struct clann_pr_curve {
    size_t count; /* points: distinct scores + 1 */
    double *precision;
    double *recall;
    double *thresholds; /* count - 1 entries */
};

/* Computes the PR curve of any finite scores. Recall needs a positive label: without one,
 * ERR_INVALID_ARG. On failure *out is zeroed. */
CLANN_API enum clann_status clann_pr_curve_compute(const float *scores, const float *labels,
                                                   size_t n, struct clann_pr_curve *out);
/* Frees the arrays and zeroes *c. Accepts NULL and a zeroed struct. */
CLANN_API void clann_pr_curve_free(struct clann_pr_curve *c);

enum clann_threshold_goal {
    CLANN_THRESHOLD_MAX_F1 = 0,        /* the threshold of the highest F1 */
    CLANN_THRESHOLD_MAX_ACCURACY = 1,  /* the threshold of the highest accuracy */
    CLANN_THRESHOLD_MIN_FOR_PRECISION = 2, /* the smallest threshold with precision >= target */
    CLANN_THRESHOLD_MAX_FOR_RECALL = 3 /* the largest threshold with recall >= target */
};

/* A chosen threshold and the classifier's figures there. */
struct clann_threshold_choice {
    float threshold;
    struct clann_binary_counts counts;
    double accuracy, precision, recall, f1;
};

/* Chooses a decision threshold among the distinct scores (plus the one just above the largest
 * score, which predicts everything negative). Ties in F1 or accuracy go to the larger
 * threshold. target (in [0, 1]) is read by the precision and recall goals only. Statuses as
 * above; ERR_INVALID_ARG also when no threshold reaches the target (the message gives the best
 * value reached) or the goal is unknown. */
CLANN_API enum clann_status clann_binary_threshold_choose(const float *scores,
                                                          const float *labels, size_t n,
                                                          enum clann_threshold_goal goal,
                                                          double target,
                                                          struct clann_threshold_choice *out);

/* One bucket of a calibration table. Empty buckets have count 0 and NaN means. */
struct clann_calibration_bucket {
    double lower, upper;     /* the bucket covers [lower, upper), the last one [lower, 1] */
    size_t count;
    double mean_prediction;
    double positive_rate;    /* observed fraction of positive labels */
};

/* Calibration table: the probabilities are bucketed into n_buckets equal-width buckets over
 * [0, 1]; out is a caller-provided array of n_buckets entries. ERR_INVALID_ARG also when
 * n_buckets is 0. */
CLANN_API enum clann_status clann_binary_calibration(const float *probs, const float *labels,
                                                     size_t n, size_t n_buckets,
                                                     struct clann_calibration_bucket *out);

/* Multiclass metrics: probs is n x classes row-major (a row's probabilities), labels holds n
 * class indices (integral values in [0, classes)). The predicted class is the row's argmax, the
 * first one on ties. */
struct clann_multiclass_metrics {
    size_t count;
    size_t classes;
    double accuracy;
    double log_loss;          /* -mean log clip(p[label]) */
    size_t *confusion;        /* classes x classes, row = true class, column = predicted */
    size_t *support;          /* classes: examples of each true class */
    double *precision;        /* classes, per class, zero_division 0 */
    double *recall;           /* classes */
    double *f1;               /* classes */
    double macro_precision;   /* unweighted means over all classes */
    double macro_recall;
    double macro_f1;
    double *roc_auc;          /* classes: one-vs-rest ROC AUC, NaN for a class that is absent
                                 or alone in the labels */
    double macro_roc_auc;     /* their mean over the defined classes (sklearn roc_auc_score
                                 with multi_class="ovr", average="macro"); NaN when none is */
};

/* Computes every multiclass metric; the arrays are allocated and owned by *out (free with
 * clann_multiclass_metrics_free()). On failure *out is zeroed. classes must be >= 2. */
CLANN_API enum clann_status clann_multiclass_evaluate(const float *probs, const float *labels,
                                                      size_t n, size_t classes,
                                                      struct clann_multiclass_metrics *out);
/* Frees the arrays and zeroes *m. Accepts NULL and a zeroed struct. */
CLANN_API void clann_multiclass_metrics_free(struct clann_multiclass_metrics *m);

/* Fraction of rows whose argmax is the label. */
CLANN_API enum clann_status clann_multiclass_accuracy(const float *probs, const float *labels,
                                                      size_t n, size_t classes, double *out);

/* Fraction of rows whose label is among the k highest probabilities (sklearn
 * top_k_accuracy_score, including its tie rule: among equal probabilities the higher class
 * index ranks first). k must be in [1, classes]. */
CLANN_API enum clann_status clann_multiclass_top_k_accuracy(const float *probs,
                                                            const float *labels, size_t n,
                                                            size_t classes, size_t k,
                                                            double *out);

/* One-vs-rest ROC AUC of each class (probs[:, k] against label == k; per_class may be NULL)
 * and their macro mean, over the classes the labels define (present, and not the only one).
 * When none is defined *macro is NaN and ERR_INVALID_ARG is returned. */
CLANN_API enum clann_status clann_multiclass_roc_auc(const float *probs, const float *labels,
                                                     size_t n, size_t classes,
                                                     double *per_class, double *macro);

/* Multiclass log loss, -1/n sum log clip(p[i, label_i]) (sklearn log_loss with eps 1e-7 on
 * rows that sum to 1). */
CLANN_API enum clann_status clann_multiclass_log_loss(const float *probs, const float *labels,
                                                      size_t n, size_t classes, double *out);

/* Multi-label metrics: probs and labels are n x n_labels row-major, every label an independent
 * 0/1 decision (labels exactly 0 or 1, probabilities in [0, 1]); a label is predicted when its
 * probability is >= threshold. The definitions are scikit-learn's on label-indicator matrices. */
struct clann_multilabel_metrics {
    size_t count;             /* rows */
    size_t labels;            /* label columns */
    float threshold;
    double subset_accuracy;   /* rows with every label right (sklearn accuracy_score) */
    double hamming_accuracy;  /* (row, label) pairs right: 1 - sklearn hamming_loss */
    size_t *support;          /* labels: rows with the label set */
    double *precision;        /* labels, per label, zero_division 0 */
    double *recall;           /* labels */
    double *f1;               /* labels */
    double macro_f1;          /* mean of f1 over all labels (sklearn average="macro") */
    double micro_precision;   /* of the pooled counts (sklearn average="micro") */
    double micro_recall;
    double micro_f1;
    double *roc_auc;          /* labels: each label's ROC AUC, NaN when its column holds one
                                 class */
    double macro_roc_auc;     /* their mean over the defined labels (sklearn roc_auc_score
                                 average="macro" when every label is defined); NaN if none is */
    double micro_roc_auc;     /* ROC AUC of every (row, label) pair pooled (average="micro");
                                 NaN when all pairs are one class */
};

/* Computes every multi-label metric; the arrays are allocated and owned by *out (free with
 * clann_multilabel_metrics_free()). On failure *out is zeroed. Statuses as above (the index a
 * message names is row * n_labels + label); ERR_INVALID_ARG also for n_labels 0 or a
 * threshold outside [0, 1]. */
CLANN_API enum clann_status clann_multilabel_evaluate(const float *probs, const float *labels,
                                                      size_t n, size_t n_labels,
                                                      float threshold,
                                                      struct clann_multilabel_metrics *out);
/* Frees the arrays and zeroes *m. Accepts NULL and a zeroed struct. */
CLANN_API void clann_multilabel_metrics_free(struct clann_multilabel_metrics *m);

/* Regression metrics over n x outputs predictions and labels (row-major). */
struct clann_regression_metrics {
    size_t count;           /* rows */
    size_t outputs;
    double mse;             /* mean of (p - y)^2 over every value */
    double rmse;            /* mean over outputs of each output's RMSE (sklearn) */
    double mae;             /* mean of |p - y| */
    double r2;              /* mean over outputs of 1 - SS_res / SS_tot (sklearn r2_score:
                               1 when SS_tot = SS_res = 0, 0 when only SS_tot = 0; NaN
                               for a single row) */
    double prediction_bias; /* mean(p) - mean(y) */
};

/* Computes the regression metrics. outputs must be >= 1. */
CLANN_API enum clann_status clann_regression_evaluate(const float *predictions,
                                                      const float *labels, size_t n,
                                                      size_t outputs,
                                                      struct clann_regression_metrics *out);

#ifdef __cplusplus
}
#endif

#endif /* CLANN_H */
