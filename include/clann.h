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

#ifdef __cplusplus
}
#endif

#endif /* CLANN_H */
