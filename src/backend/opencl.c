/*
 * opencl.c - the OpenCL backend: device enumeration, program building (with the on-disk binary
 * cache of cl_cache.c), and every op of backend.h as a kernel from cl/ (GEMM: on CPU devices
 * the register-blocked kernels of cl/gemm_cpu.cl, elsewhere CLBlast when the library is built
 * with it, else the tiled kernel of cl/blas.cl).
 *
 * Error discipline: every OpenCL call goes through CL_TRY (or CL_TRY_RET for calls that report
 * through an errcode_ret argument named err_), which records the call text, the error name and
 * file:line on the context and jumps to the function's one `cleanup` label. Kernel arguments
 * are set through the kargs helpers, which number them and keep the first failure.
 *
 * Environment (for development and tests): CLANN_KERNEL_DIR loads the programs from a folder;
 * CLANN_CACHE_DIR overrides the cache folder; CLANN_GEMM=cpu|clblast|tiled forces a GEMM
 * implementation and CLANN_NO_CLBLAST=1 means tiled; CLANN_MAX_WGS caps every work-group size
 * (a power of two is taken).
 */
#include "backend/backend.h"
#include "backend/cl_cache.h"
#include "cl/cl_sources.h"

#include <CL/cl.h>
#if CLANN_HAVE_CLBLAST
#include <clblast_c.h>
#endif

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------------
 * Error names.
 */
#define CL_ERROR_MAP(X)                                                                           \
    X(0, CL_SUCCESS)                                                                              \
    X(-1, CL_DEVICE_NOT_FOUND)                                                                    \
    X(-2, CL_DEVICE_NOT_AVAILABLE)                                                                \
    X(-3, CL_COMPILER_NOT_AVAILABLE)                                                              \
    X(-4, CL_MEM_OBJECT_ALLOCATION_FAILURE)                                                       \
    X(-5, CL_OUT_OF_RESOURCES)                                                                    \
    X(-6, CL_OUT_OF_HOST_MEMORY)                                                                  \
    X(-7, CL_PROFILING_INFO_NOT_AVAILABLE)                                                        \
    X(-8, CL_MEM_COPY_OVERLAP)                                                                    \
    X(-9, CL_IMAGE_FORMAT_MISMATCH)                                                               \
    X(-10, CL_IMAGE_FORMAT_NOT_SUPPORTED)                                                         \
    X(-11, CL_BUILD_PROGRAM_FAILURE)                                                              \
    X(-12, CL_MAP_FAILURE)                                                                        \
    X(-13, CL_MISALIGNED_SUB_BUFFER_OFFSET)                                                       \
    X(-14, CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)                                          \
    X(-15, CL_COMPILE_PROGRAM_FAILURE)                                                            \
    X(-16, CL_LINKER_NOT_AVAILABLE)                                                               \
    X(-17, CL_LINK_PROGRAM_FAILURE)                                                               \
    X(-18, CL_DEVICE_PARTITION_FAILED)                                                            \
    X(-19, CL_KERNEL_ARG_INFO_NOT_AVAILABLE)                                                      \
    X(-30, CL_INVALID_VALUE)                                                                      \
    X(-31, CL_INVALID_DEVICE_TYPE)                                                                \
    X(-32, CL_INVALID_PLATFORM)                                                                   \
    X(-33, CL_INVALID_DEVICE)                                                                     \
    X(-34, CL_INVALID_CONTEXT)                                                                    \
    X(-35, CL_INVALID_QUEUE_PROPERTIES)                                                           \
    X(-36, CL_INVALID_COMMAND_QUEUE)                                                              \
    X(-37, CL_INVALID_HOST_PTR)                                                                   \
    X(-38, CL_INVALID_MEM_OBJECT)                                                                 \
    X(-39, CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)                                                    \
    X(-40, CL_INVALID_IMAGE_SIZE)                                                                 \
    X(-41, CL_INVALID_SAMPLER)                                                                    \
    X(-42, CL_INVALID_BINARY)                                                                     \
    X(-43, CL_INVALID_BUILD_OPTIONS)                                                              \
    X(-44, CL_INVALID_PROGRAM)                                                                    \
    X(-45, CL_INVALID_PROGRAM_EXECUTABLE)                                                         \
    X(-46, CL_INVALID_KERNEL_NAME)                                                                \
    X(-47, CL_INVALID_KERNEL_DEFINITION)                                                          \
    X(-48, CL_INVALID_KERNEL)                                                                     \
    X(-49, CL_INVALID_ARG_INDEX)                                                                  \
    X(-50, CL_INVALID_ARG_VALUE)                                                                  \
    X(-51, CL_INVALID_ARG_SIZE)                                                                   \
    X(-52, CL_INVALID_KERNEL_ARGS)                                                                \
    X(-53, CL_INVALID_WORK_DIMENSION)                                                             \
    X(-54, CL_INVALID_WORK_GROUP_SIZE)                                                            \
    X(-55, CL_INVALID_WORK_ITEM_SIZE)                                                             \
    X(-56, CL_INVALID_GLOBAL_OFFSET)                                                              \
    X(-57, CL_INVALID_EVENT_WAIT_LIST)                                                            \
    X(-58, CL_INVALID_EVENT)                                                                      \
    X(-59, CL_INVALID_OPERATION)                                                                  \
    X(-60, CL_INVALID_GL_OBJECT)                                                                  \
    X(-61, CL_INVALID_BUFFER_SIZE)                                                                \
    X(-62, CL_INVALID_MIP_LEVEL)                                                                  \
    X(-63, CL_INVALID_GLOBAL_WORK_SIZE)                                                           \
    X(-64, CL_INVALID_PROPERTY)                                                                   \
    X(-65, CL_INVALID_IMAGE_DESCRIPTOR)                                                           \
    X(-66, CL_INVALID_COMPILER_OPTIONS)                                                           \
    X(-67, CL_INVALID_LINKER_OPTIONS)                                                             \
    X(-68, CL_INVALID_DEVICE_PARTITION_COUNT)                                                     \
    X(-69, CL_INVALID_PIPE_SIZE)                                                                  \
    X(-70, CL_INVALID_DEVICE_QUEUE)                                                               \
    X(-71, CL_INVALID_SPEC_ID)                                                                    \
    X(-72, CL_MAX_SIZE_RESTRICTION_EXCEEDED)                                                      \
    X(-1000, CL_INVALID_GL_SHAREGROUP_REFERENCE_KHR)                                              \
    X(-1001, CL_PLATFORM_NOT_FOUND_KHR)                                                           \
    X(-1002, CL_INVALID_D3D10_DEVICE_KHR)                                                         \
    X(-1003, CL_INVALID_D3D10_RESOURCE_KHR)                                                       \
    X(-1057, CL_DEVICE_PARTITION_FAILED_EXT)                                                      \
    X(-1058, CL_INVALID_PARTITION_COUNT_EXT)                                                      \
    X(-1059, CL_INVALID_PARTITION_NAME_EXT)                                                       \
    X(-1092, CL_DEVICE_NOT_FOUND_EXT)

/* CLBlast's own codes; the ones above -1000 mirror OpenCL errors. */
#define CLBLAST_ERROR_MAP(X)                                                                      \
    X(-1024, CLBlastNotImplemented)                                                               \
    X(-1022, CLBlastInvalidMatrixA)                                                               \
    X(-1021, CLBlastInvalidMatrixB)                                                               \
    X(-1020, CLBlastInvalidMatrixC)                                                               \
    X(-1019, CLBlastInvalidVectorX)                                                               \
    X(-1018, CLBlastInvalidVectorY)                                                               \
    X(-1017, CLBlastInvalidDimension)                                                             \
    X(-1016, CLBlastInvalidLeadDimA)                                                              \
    X(-1015, CLBlastInvalidLeadDimB)                                                              \
    X(-1014, CLBlastInvalidLeadDimC)                                                              \
    X(-1013, CLBlastInvalidIncrementX)                                                            \
    X(-1012, CLBlastInvalidIncrementY)                                                            \
    X(-1011, CLBlastInsufficientMemoryA)                                                          \
    X(-1010, CLBlastInsufficientMemoryB)                                                          \
    X(-1009, CLBlastInsufficientMemoryC)                                                          \
    X(-1008, CLBlastInsufficientMemoryX)                                                          \
    X(-1007, CLBlastInsufficientMemoryY)                                                          \
    X(-2050, CLBlastInsufficientMemoryTemp)                                                       \
    X(-2049, CLBlastInvalidBatchCount)                                                            \
    X(-2048, CLBlastInvalidOverrideKernel)                                                        \
    X(-2047, CLBlastMissingOverrideParameter)                                                     \
    X(-2046, CLBlastInvalidLocalMemUsage)                                                         \
    X(-2045, CLBlastNoHalfPrecision)                                                              \
    X(-2044, CLBlastNoDoublePrecision)                                                            \
    X(-2043, CLBlastInvalidVectorScalar)                                                          \
    X(-2042, CLBlastInsufficientMemoryScalar)                                                     \
    X(-2041, CLBlastDatabaseError)                                                                \
    X(-2040, CLBlastUnknownError)                                                                 \
    X(-2039, CLBlastUnexpectedError)

static const char *cl_error_name(cl_int err)
{
    switch (err) {
#define CL_ERROR_CASE_(code, name)                                                                \
    case code:                                                                                    \
        return #name;
        CL_ERROR_MAP(CL_ERROR_CASE_)
    default:
        return "unknown OpenCL error";
    }
}

#if CLANN_HAVE_CLBLAST
static const char *clblast_error_name(int status)
{
    switch (status) {
        CLBLAST_ERROR_MAP(CL_ERROR_CASE_)
    default:
        return cl_error_name((cl_int)status);
    }
}
#endif
#undef CL_ERROR_CASE_

static enum clann_status cl_status_of(cl_int err)
{
    switch (err) {
    case CL_MEM_OBJECT_ALLOCATION_FAILURE:
    case CL_INVALID_BUFFER_SIZE:
        return CLANN_ERR_DEVICE_MEMORY;
    case CL_OUT_OF_HOST_MEMORY:
        return CLANN_ERR_NO_MEMORY;
    default:
        return CLANN_ERR_OPENCL;
    }
}

static enum clann_status cl_fail(struct clann_context *ctx, cl_int err, const char *call,
                                 const char *file, int line)
{
    return clann__error(ctx, cl_status_of(err), "%s failed: %s (%d) at %s:%d", call,
                        cl_error_name(err), (int)err, file, line);
}

/* Runs an OpenCL call returning cl_int; on failure records it and jumps to cleanup. */
#define CL_TRY(ctx, call)                                                                         \
    do {                                                                                          \
        cl_int e_ = (call);                                                                       \
        if (e_ != CL_SUCCESS) {                                                                   \
            st = cl_fail((ctx), e_, #call, __FILE__, __LINE__);                                   \
            goto cleanup;                                                                         \
        }                                                                                         \
    } while (0)

/* var = call, where call passes &err_ as its errcode_ret. */
#define CL_TRY_RET(ctx, var, call)                                                                \
    do {                                                                                          \
        cl_int err_ = CL_SUCCESS;                                                                 \
        (var) = (call);                                                                           \
        if (err_ != CL_SUCCESS) {                                                                 \
            st = cl_fail((ctx), err_, #call, __FILE__, __LINE__);                                 \
            goto cleanup;                                                                         \
        }                                                                                         \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Kernels: one table gives each its enum id, its name in the .cl file and that file.
 */
#define KERNEL_MAP(X)                                                                             \
    X(FILL, fill, "blas.cl")                                                                      \
    X(COPY, copy, "blas.cl")                                                                      \
    X(SCALE_MATRIX, scale_matrix, "blas.cl")                                                      \
    X(AXPY, axpy, "blas.cl")                                                                      \
    X(CLIP_BY_VALUE, clip_by_value, "blas.cl")                                                    \
    X(CLIP_BY_NORM, clip_by_norm, "blas.cl")                                                      \
    X(REDUCE_PARTIAL, reduce_partial, "blas.cl")                                                  \
    X(REDUCE_FINAL, reduce_final, "blas.cl")                                                      \
    X(REDUCE_CHUNKS, reduce_chunks, "blas.cl")                                                    \
    X(GEMM, gemm, "blas.cl")                                                                      \
    X(GEMM_NN, gemm_nn, "gemm_cpu.cl")                                                            \
    X(GEMM_TN, gemm_tn, "gemm_cpu.cl")                                                            \
    X(GEMM_NT, gemm_nt, "gemm_cpu.cl")                                                            \
    X(RNG_UNIFORM, rng_uniform, "rng.cl")                                                         \
    X(RNG_NORMAL, rng_normal, "rng.cl")                                                           \
    X(BIAS_ACT_FORWARD, bias_act_forward, "nn.cl")                                                \
    X(SOFTMAX_FORWARD, softmax_forward, "nn.cl")                                                  \
    X(ACT_BACKWARD, act_backward, "nn.cl")                                                        \
    X(SOFTMAX_BACKWARD, softmax_backward, "nn.cl")                                                \
    X(PRELU_GRAD, prelu_grad, "nn.cl")                                                            \
    X(COL_SUM, col_sum, "nn.cl")                                                                  \
    X(DROPOUT, dropout, "nn.cl")                                                                  \
    X(LOSS, loss, "loss.cl")                                                                      \
    X(COUNT_CORRECT, count_correct, "loss.cl")                                                    \
    X(OPTIMIZER_STEP, optimizer_step, "optim.cl")                                                 \
    X(GUARD_CHECK, guard_check, "optim.cl")                                                       \
    X(ACCUMULATE_UNLESS, accumulate_unless, "optim.cl")                                           \
    X(SOFT_THRESHOLD, soft_threshold, "regularize.cl")                                            \
    X(CONSTRAIN_NON_NEG, constrain_non_neg, "regularize.cl")                                      \
    X(CONSTRAIN_COLUMNS, constrain_columns, "regularize.cl")                                      \
    X(ADD_NOISE, add_noise, "regularize.cl")                                                      \
    X(BATCHNORM_TRAIN, batchnorm_train, "regularize.cl")                                          \
    X(BATCHNORM_INFER, batchnorm_infer, "regularize.cl")                                          \
    X(MOVING_AVERAGE, moving_average, "regularize.cl")                                            \
    X(BATCHNORM_BACKWARD, batchnorm_backward, "regularize.cl")                                    \
    X(COPY_COLS, copy_cols, "embedding.cl")                                                       \
    X(INDEX_COLS, index_cols, "embedding.cl")                                                     \
    X(EMBEDDING_FORWARD, embedding_forward, "embedding.cl")                                       \
    X(EMBEDDING_BACKWARD, embedding_backward, "embedding.cl")                                     \
    X(EMBEDDING_UPDATE, embedding_update, "embedding.cl")

enum kernel_id {
#define KERNEL_ENUM_(id, name, file) K_##id,
    KERNEL_MAP(KERNEL_ENUM_)
#undef KERNEL_ENUM_
        K__COUNT
};

static const struct {
    const char *name;
    const char *file;
} kernel_table[K__COUNT] = {
#define KERNEL_ROW_(id, name, file) {#name, file},
    KERNEL_MAP(KERNEL_ROW_)
#undef KERNEL_ROW_
};

/* Parameters per work-item of optimizer_step (OPT_VEC in cl/optim.cl). */
enum { OPT_VEC = 8 };

/* Which GEMM runs: CLBlast (GPUs), the register-blocked kernels of cl/gemm_cpu.cl (CPU
 * devices, where they beat CLBlast several times over), or the tiled kernel of cl/blas.cl. */
enum gemm_impl { GEMM_IMPL_TILED, GEMM_IMPL_CLBLAST, GEMM_IMPL_CPU };

/* Work-group count of the first reduction stage (at most). */
enum { REDUCE_GROUPS = 64, MAX_WGS = 256 };

/* CPU devices: the first reduction stage's chunks (at most REDUCE_CPU_GROUPS <= REDUCE_GROUPS,
 * each at least REDUCE_CHUNK_MIN floats, a multiple of 8). */
enum { REDUCE_CPU_GROUPS = 16, REDUCE_CHUNK_MIN = 8192 };

struct cl_backend {
    struct clann_backend base; /* first: the ops table sees a struct clann_backend * */
    cl_platform_id platform;
    cl_device_id device;
    cl_context context;
    cl_command_queue queue;
    cl_program *programs; /* one per embedded source, clann__cl_source_count */
    size_t n_programs;
    cl_kernel kernels[K__COUNT];
    size_t wgs[K__COUNT]; /* power of two, <= MAX_WGS and the kernel's limit */
    cl_mem partials;      /* REDUCE_GROUPS floats for the first reduction stage */
    cl_mem dummy;         /* bound to buffer arguments a kernel does not read */
    unsigned gemm_ts;
    enum gemm_impl gemm_impl;
    bool cpu_device; /* CL_DEVICE_TYPE_CPU: reductions and small kernels take the CPU forms */
    cl_ulong max_alloc;
    char device_name[256];
};

static struct cl_backend *cl_be(struct clann_backend *be)
{
    return (struct cl_backend *)be;
}

/* ---------------------------------------------------------------------------------------------
 * Kernel arguments and launches.
 */
struct kargs {
    struct cl_backend *be;
    enum kernel_id id;
    cl_uint index;  /* next argument */
    cl_int err;     /* first failure */
    cl_uint failed; /* its argument index */
};

static struct kargs ka_begin(struct cl_backend *be, enum kernel_id id)
{
    struct kargs a = {be, id, 0, CL_SUCCESS, 0};
    return a;
}

static void ka_set(struct kargs *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS) {
        a->err = clSetKernelArg(a->be->kernels[a->id], a->index, size, value);
        if (a->err != CL_SUCCESS)
            a->failed = a->index;
    }
    a->index++;
}

static void ka_mem(struct kargs *a, cl_mem m)
{
    ka_set(a, sizeof m, &m);
}

/* A view's buffer, or the dummy buffer for a NULL view (never read by the kernel). */
static void ka_view(struct kargs *a, struct clann_view v)
{
    ka_mem(a, v.buf ? (cl_mem)v.buf->ptr : a->be->dummy);
    cl_ulong off = v.buf ? (cl_ulong)v.off : 0;
    ka_set(a, sizeof off, &off);
}

/* The NaN guard's flag as a kernel reads it: the view, then whether there is one. */
static void ka_guard(struct kargs *a, struct clann_view guard)
{
    ka_view(a, guard);
    cl_int use = guard.buf != NULL;
    ka_set(a, sizeof use, &use);
}

static void ka_u64(struct kargs *a, uint64_t v)
{
    cl_ulong x = v;
    ka_set(a, sizeof x, &x);
}

static void ka_u32(struct kargs *a, size_t v)
{
    cl_uint x = (cl_uint)v;
    ka_set(a, sizeof x, &x);
}

static void ka_i32(struct kargs *a, int v)
{
    cl_int x = v;
    ka_set(a, sizeof x, &x);
}

static void ka_f32(struct kargs *a, float v)
{
    cl_float x = v;
    ka_set(a, sizeof x, &x);
}

static void ka_local_floats(struct kargs *a, size_t n)
{
    ka_set(a, n * sizeof(cl_float), NULL);
}

static enum clann_status ka_launch(struct kargs *a, cl_uint dims, const size_t *global,
                                   const size_t *local, const char *file, int line)
{
    struct clann_context *ctx = a->be->base.ctx;
    enum clann_status st = CLANN_OK;
    if (a->err != CL_SUCCESS)
        return clann__error(ctx, cl_status_of(a->err),
                            "clSetKernelArg(%s, argument %u) failed: %s (%d) at %s:%d",
                            kernel_table[a->id].name, (unsigned)a->failed, cl_error_name(a->err),
                            (int)a->err, file, line);
    cl_int err = clEnqueueNDRangeKernel(a->be->queue, a->be->kernels[a->id], dims, NULL, global,
                                        local, 0, NULL, NULL);
    if (err != CL_SUCCESS)
        st = clann__error(ctx, cl_status_of(err),
                          "clEnqueueNDRangeKernel(%s) failed: %s (%d) at %s:%d",
                          kernel_table[a->id].name, cl_error_name(err), (int)err, file, line);
    return st;
}

static size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* 1-D launch over n items, the global size rounded up to the kernel's work-group size. */
static enum clann_status ka_launch_1d(struct kargs *a, size_t n, const char *file, int line)
{
    size_t local = a->be->wgs[a->id];
    size_t global = round_up(n, local);
    return ka_launch(a, 1, &global, &local, file, line);
}

#define LAUNCH_1D(a, n) ka_launch_1d((a), (n), __FILE__, __LINE__)
#define LAUNCH(a, dims, global, local) ka_launch((a), (dims), (global), (local), __FILE__, __LINE__)

/* ---------------------------------------------------------------------------------------------
 * Argument checks shared by the ops.
 */
static enum clann_status check_view(struct clann_backend *be, const char *op, const char *what,
                                    struct clann_view v, size_t extent)
{
    if (!v.buf || !v.buf->ptr)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG, "%s: %s is a NULL view", op, what);
    if (v.off > v.buf->n || extent > v.buf->n - v.off)
        return clann__error(be->ctx, CLANN_ERR_INVALID_ARG,
                            "%s: %s [%zu, %zu + %zu) exceeds its buffer of %zu floats", op, what,
                            v.off, v.off, extent, v.buf->n);
    return CLANN_OK;
}

static enum clann_status check_count(struct clann_backend *be, const char *op, size_t n)
{
    if (n > UINT32_MAX)
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE,
                            "%s: %zu elements exceed the OpenCL backend's limit of 2^32 - 1", op,
                            n);
    return CLANN_OK;
}

/* rows * cols without overflow and within the kernels' 32-bit counts. */
static enum clann_status check_matrix(struct clann_backend *be, const char *op, size_t rows,
                                      size_t cols, size_t *n)
{
    if (!clann__mul_size(rows, cols, n) || *n > UINT32_MAX)
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE,
                            "%s: %zu x %zu exceeds the OpenCL backend's limit of 2^32 - 1", op,
                            rows, cols);
    return CLANN_OK;
}

#define CHECK(expr)                                                                               \
    do {                                                                                          \
        enum clann_status s_ = (expr);                                                            \
        if (s_ != CLANN_OK)                                                                       \
            return s_;                                                                            \
    } while (0)

/* ---------------------------------------------------------------------------------------------
 * Buffers and transfers.
 */
static enum clann_status op_buf_alloc(struct clann_backend *be_, size_t n, struct clann_buf *buf)
{
    struct cl_backend *be = cl_be(be_);
    enum clann_status st = CLANN_OK;
    size_t bytes;
    cl_mem mem = NULL;
    if (!clann__mul_size(n ? n : 1, sizeof(float), &bytes) || bytes > be->max_alloc)
        return clann__error(be_->ctx, CLANN_ERR_DEVICE_MEMORY,
                            "buffer of %zu floats exceeds the device's maximum allocation of "
                            "%llu bytes (%s)",
                            n, (unsigned long long)be->max_alloc, be->device_name);
    CL_TRY_RET(be_->ctx, mem, clCreateBuffer(be->context, CL_MEM_READ_WRITE, bytes, NULL, &err_));
    buf->ptr = mem;
    buf->n = n;
cleanup:
    return st;
}

static void op_buf_free(struct clann_backend *be, struct clann_buf *buf)
{
    (void)be;
    if (buf && buf->ptr) {
        clReleaseMemObject((cl_mem)buf->ptr);
        buf->ptr = NULL;
    }
}

static enum clann_status op_upload(struct clann_backend *be_, struct clann_view dst,
                                   const float *src, size_t n, bool blocking)
{
    struct cl_backend *be = cl_be(be_);
    enum clann_status st = CLANN_OK;
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "upload", "dst", dst, n));
    CL_TRY(be_->ctx, clEnqueueWriteBuffer(be->queue, (cl_mem)dst.buf->ptr,
                                          blocking ? CL_TRUE : CL_FALSE, dst.off * sizeof(float),
                                          n * sizeof(float), src, 0, NULL, NULL));
cleanup:
    return st;
}

static enum clann_status op_download(struct clann_backend *be_, float *dst, struct clann_view src,
                                     size_t n)
{
    struct cl_backend *be = cl_be(be_);
    enum clann_status st = CLANN_OK;
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "download", "src", src, n));
    CL_TRY(be_->ctx, clEnqueueReadBuffer(be->queue, (cl_mem)src.buf->ptr, CL_TRUE,
                                         src.off * sizeof(float), n * sizeof(float), dst, 0, NULL,
                                         NULL));
cleanup:
    return st;
}

static enum clann_status op_finish(struct clann_backend *be_)
{
    enum clann_status st = CLANN_OK;
    CL_TRY(be_->ctx, clFinish(cl_be(be_)->queue));
cleanup:
    return st;
}

/* One kernel over x[0..n) in place with one float parameter: fill and clip_by_value share
 * their checks and arguments (x, n, value). */
static enum clann_status launch_inplace(struct clann_backend *be_, const char *op,
                                        enum kernel_id id, struct clann_view x, size_t n,
                                        float value)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, op, "x", x, n));
    CHECK(check_count(be_, op, n));
    struct kargs a = ka_begin(cl_be(be_), id);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_f32(&a, value);
    return LAUNCH_1D(&a, n);
}

static enum clann_status op_fill(struct clann_backend *be_, struct clann_view x, size_t n,
                                 float value)
{
    return launch_inplace(be_, "fill", K_FILL, x, n, value);
}

static enum clann_status op_copy(struct clann_backend *be_, struct clann_view dst,
                                 struct clann_view src, size_t n)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "copy", "dst", dst, n));
    CHECK(check_view(be_, "copy", "src", src, n));
    CHECK(check_count(be_, "copy", n));
    struct kargs a = ka_begin(cl_be(be_), K_COPY);
    ka_view(&a, dst);
    ka_view(&a, src);
    ka_u32(&a, n);
    return LAUNCH_1D(&a, n);
}

/* ---------------------------------------------------------------------------------------------
 * GEMM.
 */

/* C[0..m) x [0..n) = beta * C (beta = 0 writes zeros). */
static enum clann_status scale_matrix(struct cl_backend *be, struct clann_view c, size_t ldc,
                                      size_t m, size_t n, float beta)
{
    struct kargs a = ka_begin(be, K_SCALE_MATRIX);
    ka_view(&a, c);
    ka_u32(&a, ldc);
    ka_u32(&a, m);
    ka_u32(&a, n);
    ka_f32(&a, beta);
    size_t local[2] = {be->wgs[K_SCALE_MATRIX], 1};
    size_t global[2] = {round_up(n, local[0]), m};
    return LAUNCH(&a, 2, global, local);
}

/* Floats spanned by a rows x cols row-major matrix with row stride ld. */
static size_t matrix_extent(size_t rows, size_t cols, size_t ld)
{
    return (rows - 1) * ld + cols;
}

/* The arguments after the transpose flags, common to every GEMM kernel. */
static void ka_gemm_args(struct kargs *ka, size_t m, size_t n, size_t k, float alpha,
                         struct clann_view a, size_t lda, struct clann_view b, size_t ldb,
                         float beta, struct clann_view c, size_t ldc)
{
    ka_u32(ka, m);
    ka_u32(ka, n);
    ka_u32(ka, k);
    ka_f32(ka, alpha);
    ka_view(ka, a);
    ka_u32(ka, lda);
    ka_view(ka, b);
    ka_u32(ka, ldb);
    ka_f32(ka, beta);
    ka_view(ka, c);
    ka_u32(ka, ldc);
}

/* Blocks of C per work-item of the cl/gemm_cpu.cl kernels (their GEMM_* defines). */
enum { GEMM_MR = 8, GEMM_NV = 16 };

/* NN, TN and NT through cl/gemm_cpu.cl: one work-item per block of C, the work-group left to
 * the runtime (results do not depend on it). */
static enum clann_status gemm_cpu(struct cl_backend *be, bool trans_a, bool trans_b, size_t m,
                                  size_t n, size_t k, float alpha, struct clann_view a,
                                  size_t lda, struct clann_view b, size_t ldb, float beta,
                                  struct clann_view c, size_t ldc)
{
    enum kernel_id id = trans_b ? K_GEMM_NT : trans_a ? K_GEMM_TN : K_GEMM_NN;
    size_t rows = GEMM_MR, cols = GEMM_NV;
    struct kargs ka = ka_begin(be, id);
    ka_gemm_args(&ka, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    size_t global[2] = {(n + cols - 1) / cols, (m + rows - 1) / rows};
    return LAUNCH(&ka, 2, global, NULL);
}

#if CLANN_HAVE_CLBLAST
static enum clann_status gemm_clblast(struct cl_backend *be, bool trans_a, bool trans_b,
                                      size_t m, size_t n, size_t k, float alpha,
                                      struct clann_view a, size_t lda, struct clann_view b,
                                      size_t ldb, float beta, struct clann_view c, size_t ldc)
{
    /* beta = 0 must overwrite: clear C first so that NaN in it cannot leak through 0 * NaN
     * inside CLBlast. */
    if (beta == 0.0f)
        CHECK(scale_matrix(be, c, ldc, m, n, 0.0f));
    CLBlastStatusCode s = CLBlastSgemm(
        CLBlastLayoutRowMajor, trans_a ? CLBlastTransposeYes : CLBlastTransposeNo,
        trans_b ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, alpha, (cl_mem)a.buf->ptr,
        a.off, lda, (cl_mem)b.buf->ptr, b.off, ldb, beta, (cl_mem)c.buf->ptr, c.off, ldc,
        &be->queue, NULL);
    if (s == CLBlastSuccess)
        return CLANN_OK;
    return clann__error(be->base.ctx, s > -1000 ? cl_status_of((cl_int)s) : CLANN_ERR_OPENCL,
                        "CLBlastSgemm(m %zu, n %zu, k %zu, trans_a %d, trans_b %d, lda %zu, "
                        "ldb %zu, ldc %zu) failed: %s (%d) at %s:%d",
                        m, n, k, (int)trans_a, (int)trans_b, lda, ldb, ldc,
                        clblast_error_name(s), (int)s, __FILE__, __LINE__);
}
#endif

static enum clann_status op_gemm(struct clann_backend *be_, bool trans_a, bool trans_b, size_t m,
                                 size_t n, size_t k, float alpha, struct clann_view a, size_t lda,
                                 struct clann_view b, size_t ldb, float beta, struct clann_view c,
                                 size_t ldc)
{
    struct cl_backend *be = cl_be(be_);
    struct clann_context *ctx = be_->ctx;
    if (m == 0 || n == 0)
        return CLANN_OK;
    size_t a_rows = trans_a ? k : m, a_cols = trans_a ? m : k;
    size_t b_rows = trans_b ? n : k, b_cols = trans_b ? k : n;
    if (ldc < n || (k > 0 && (lda < a_cols || ldb < b_cols)))
        return clann__error(ctx, CLANN_ERR_INVALID_ARG,
                            "gemm: leading dimension too small (lda %zu, ldb %zu, ldc %zu for "
                            "m %zu, n %zu, k %zu, trans_a %d, trans_b %d)",
                            lda, ldb, ldc, m, n, k, (int)trans_a, (int)trans_b);
    if (m > UINT32_MAX || n > UINT32_MAX || k > UINT32_MAX || lda > UINT32_MAX ||
        ldb > UINT32_MAX || ldc > UINT32_MAX)
        return clann__error(ctx, CLANN_ERR_TOO_LARGE, "gemm: dimension beyond 2^32 - 1");
    CHECK(check_view(be_, "gemm", "C", c, matrix_extent(m, n, ldc)));
    if (k == 0 || alpha == 0.0f)
        return beta == 1.0f ? CLANN_OK : scale_matrix(be, c, ldc, m, n, beta);
    CHECK(check_view(be_, "gemm", "A", a, matrix_extent(a_rows, a_cols, lda)));
    CHECK(check_view(be_, "gemm", "B", b, matrix_extent(b_rows, b_cols, ldb)));

#if CLANN_HAVE_CLBLAST
    if (be->gemm_impl == GEMM_IMPL_CLBLAST)
        return gemm_clblast(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
    if (be->gemm_impl == GEMM_IMPL_CPU && !(trans_a && trans_b))
        return gemm_cpu(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    struct kargs ka = ka_begin(be, K_GEMM);
    ka_i32(&ka, trans_a);
    ka_i32(&ka, trans_b);
    ka_gemm_args(&ka, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    size_t local[2] = {be->gemm_ts, be->gemm_ts};
    size_t global[2] = {round_up(n, be->gemm_ts), round_up(m, be->gemm_ts)};
    return LAUNCH(&ka, 2, global, local);
}

/* ---------------------------------------------------------------------------------------------
 * Random numbers.
 */
static enum clann_status rng_fill(struct clann_backend *be_, enum kernel_id id, const char *op,
                                  struct clann_view x, size_t n, struct clann_rng_key key,
                                  float p0, float p1)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, op, "x", x, n));
    CHECK(check_count(be_, op, n));
    struct kargs a = ka_begin(cl_be(be_), id);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_u64(&a, key.seed);
    ka_u32(&a, key.stream);
    ka_u64(&a, key.offset);
    ka_f32(&a, p0);
    ka_f32(&a, p1);
    return LAUNCH_1D(&a, n);
}

static enum clann_status op_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_rng_key key, float lo, float hi)
{
    return rng_fill(be, K_RNG_UNIFORM, "rng_uniform", x, n, key, lo, hi);
}

static enum clann_status op_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_rng_key key, float mean, float stddev)
{
    return rng_fill(be, K_RNG_NORMAL, "rng_normal", x, n, key, mean, stddev);
}

/* ---------------------------------------------------------------------------------------------
 * Layers.
 */
static void ka_act(struct kargs *a, const struct clann_act *act, int kind)
{
    ka_i32(a, kind);
    ka_f32(a, act->alpha);
    ka_f32(a, act->lower);
    ka_f32(a, act->upper);
    ka_i32(a, act->training);
    ka_u64(a, act->rng.seed);
    ka_u32(a, act->rng.stream);
    ka_u64(a, act->rng.offset);
}

static enum clann_status op_bias_act_forward(struct clann_backend *be_,
                                             const struct clann_act *act, struct clann_view z,
                                             struct clann_view bias, struct clann_view prelu,
                                             struct clann_view y, size_t rows, size_t cols)
{
    struct cl_backend *be = cl_be(be_);
    size_t n;
    if ((unsigned)act->kind >= CLANN__ACT_COUNT)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "bias_act_forward: bad kind %d",
                            (int)act->kind);
    CHECK(check_matrix(be_, "bias_act_forward", rows, cols, &n));
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "bias_act_forward", "z", z, n));
    CHECK(check_view(be_, "bias_act_forward", "y", y, n));
    if (bias.buf)
        CHECK(check_view(be_, "bias_act_forward", "bias", bias, cols));
    if (act->kind == CLANN__ACT_PRELU)
        CHECK(check_view(be_, "bias_act_forward", "prelu", prelu, cols));
    else
        prelu.buf = NULL;

    bool softmax = act->kind == CLANN__ACT_SOFTMAX;
    if (!softmax || bias.buf) {
        /* softmax: z += bias here (y = z in place), the rows below */
        struct kargs a = ka_begin(be, K_BIAS_ACT_FORWARD);
        ka_view(&a, z);
        ka_view(&a, bias);
        ka_i32(&a, bias.buf != NULL);
        ka_view(&a, prelu);
        ka_view(&a, softmax ? z : y);
        ka_u32(&a, rows);
        ka_u32(&a, cols);
        ka_act(&a, act, softmax ? CLANN__ACT_LINEAR : (int)act->kind);
        CHECK(LAUNCH_1D(&a, n));
    }
    if (softmax) {
        struct kargs a = ka_begin(be, K_SOFTMAX_FORWARD);
        ka_view(&a, z);
        ka_view(&a, y);
        ka_u32(&a, rows);
        ka_u32(&a, cols);
        CHECK(LAUNCH_1D(&a, rows));
    }
    return CLANN_OK;
}

static enum clann_status op_act_backward(struct clann_backend *be_, const struct clann_act *act,
                                         struct clann_view z, struct clann_view y,
                                         struct clann_view dy, struct clann_view prelu,
                                         struct clann_view dz, size_t rows, size_t cols)
{
    struct cl_backend *be = cl_be(be_);
    size_t n;
    enum clann__act_kind kind = act->kind;
    if ((unsigned)kind >= CLANN__ACT_COUNT)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "act_backward: bad kind %d",
                            (int)kind);
    CHECK(check_matrix(be_, "act_backward", rows, cols, &n));
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "act_backward", "dy", dy, n));
    CHECK(check_view(be_, "act_backward", "dz", dz, n));
    bool uses_y = kind == CLANN__ACT_SIGMOID || kind == CLANN__ACT_TANH ||
                  kind == CLANN__ACT_SOFTMAX;
    bool uses_z = !uses_y && kind != CLANN__ACT_LINEAR;
    if (uses_y)
        CHECK(check_view(be_, "act_backward", "y", y, n));
    else
        y.buf = NULL;
    if (uses_z)
        CHECK(check_view(be_, "act_backward", "z", z, n));
    else
        z.buf = NULL;
    if (kind == CLANN__ACT_PRELU)
        CHECK(check_view(be_, "act_backward", "prelu", prelu, cols));
    else
        prelu.buf = NULL;

    if (kind == CLANN__ACT_SOFTMAX) {
        struct kargs a = ka_begin(be, K_SOFTMAX_BACKWARD);
        ka_view(&a, y);
        ka_view(&a, dy);
        ka_view(&a, dz);
        ka_u32(&a, rows);
        ka_u32(&a, cols);
        return LAUNCH_1D(&a, rows);
    }
    struct kargs a = ka_begin(be, K_ACT_BACKWARD);
    ka_view(&a, z);
    ka_view(&a, y);
    ka_view(&a, dy);
    ka_view(&a, prelu);
    ka_view(&a, dz);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_act(&a, act, (int)kind);
    return LAUNCH_1D(&a, n);
}

static enum clann_status op_prelu_grad(struct clann_backend *be_, struct clann_view z,
                                       struct clann_view dy, struct clann_view dprelu, size_t rows,
                                       size_t cols, float beta)
{
    size_t n;
    CHECK(check_matrix(be_, "prelu_grad", rows, cols, &n));
    if (cols == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "prelu_grad", "dprelu", dprelu, cols));
    if (n > 0) {
        CHECK(check_view(be_, "prelu_grad", "z", z, n));
        CHECK(check_view(be_, "prelu_grad", "dy", dy, n));
    }
    struct kargs a = ka_begin(cl_be(be_), K_PRELU_GRAD);
    ka_view(&a, n ? z : dprelu);
    ka_view(&a, n ? dy : dprelu);
    ka_view(&a, dprelu);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_f32(&a, beta);
    return LAUNCH_1D(&a, cols);
}

static enum clann_status op_col_sum(struct clann_backend *be_, struct clann_view x, size_t rows,
                                    size_t cols, struct clann_view out, float beta)
{
    size_t n;
    CHECK(check_matrix(be_, "col_sum", rows, cols, &n));
    if (cols == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "col_sum", "out", out, cols));
    if (n > 0)
        CHECK(check_view(be_, "col_sum", "x", x, n));
    struct kargs a = ka_begin(cl_be(be_), K_COL_SUM);
    ka_view(&a, n ? x : out);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, out);
    ka_f32(&a, beta);
    return LAUNCH_1D(&a, cols);
}

static enum clann_status op_dropout(struct clann_backend *be_, struct clann_view x,
                                    struct clann_view y, size_t n, float rate,
                                    struct clann_rng_key key)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "dropout", "x", x, n));
    CHECK(check_view(be_, "dropout", "y", y, n));
    CHECK(check_count(be_, "dropout", n));
    struct kargs a = ka_begin(cl_be(be_), K_DROPOUT);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_u32(&a, n);
    ka_f32(&a, rate);
    ka_u64(&a, key.seed);
    ka_u32(&a, key.stream);
    ka_u64(&a, key.offset);
    return LAUNCH_1D(&a, n);
}

/* ---------------------------------------------------------------------------------------------
 * Losses, reductions, metrics.
 */
static enum clann_status op_loss(struct clann_backend *be_, const struct clann__loss *loss,
                                 struct clann_view pred, struct clann_view labels, size_t rows,
                                 size_t cols, struct clann_view row_loss, struct clann_view grad,
                                 float grad_scale)
{
    size_t n;
    if ((unsigned)loss->kind >= CLANN__LOSS_COUNT)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "loss: bad kind %d",
                            (int)loss->kind);
    CHECK(check_matrix(be_, "loss", rows, cols, &n));
    if (rows == 0)
        return CLANN_OK;
    if (cols == 0)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "loss: zero columns");
    bool sparse = loss->kind == CLANN__LOSS_SPARSE_SOFTMAX_CE;
    CHECK(check_view(be_, "loss", "pred", pred, n));
    CHECK(check_view(be_, "loss", "labels", labels, sparse ? rows : n));
    CHECK(check_view(be_, "loss", "row_loss", row_loss, rows));
    if (grad.buf)
        CHECK(check_view(be_, "loss", "grad", grad, n));
    struct kargs a = ka_begin(cl_be(be_), K_LOSS);
    ka_view(&a, pred);
    ka_view(&a, labels);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_i32(&a, (int)loss->kind);
    ka_f32(&a, loss->huber_delta);
    ka_view(&a, row_loss);
    ka_view(&a, grad);
    ka_i32(&a, grad.buf != NULL);
    ka_f32(&a, grad_scale);
    return LAUNCH_1D(&a, rows);
}

/* What reduce_partial adds up: the values of REDUCE_* in cl/blas.cl. */
enum reduce_mode { REDUCE_PLAIN = 0, REDUCE_SQUARES = 1, REDUCE_ABS = 2, REDUCE_ZEROS = 3 };

/* Stage 1 on GPUs: at most REDUCE_GROUPS work-groups, each item adding strided elements (the
 * reads of a group coalesce); *groups = the partial sums written. */
static enum clann_status reduce_partial(struct cl_backend *be, struct clann_view x, size_t n,
                                        enum reduce_mode mode, size_t *groups)
{
    size_t local = be->wgs[K_REDUCE_PARTIAL];
    size_t g = (n + local - 1) / local;
    g = g < 1 ? 1 : g > REDUCE_GROUPS ? REDUCE_GROUPS : g;
    struct kargs a = ka_begin(be, K_REDUCE_PARTIAL);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_i32(&a, (int)mode);
    ka_mem(&a, be->partials);
    ka_local_floats(&a, local);
    size_t global = g * local;
    *groups = g;
    return LAUNCH(&a, 1, &global, &local);
}

/* Stage 1 on CPU devices: contiguous chunks of at least REDUCE_CHUNK_MIN floats, one
 * single-item work-group each (a multi-item group would loop with barriers); a single chunk
 * finishes the reduction itself (*groups = 0), else *groups = the partial sums written. */
static enum clann_status reduce_chunks(struct cl_backend *be, struct clann_view x, size_t n,
                                       enum reduce_mode mode, float scale, struct clann_view out,
                                       float beta, size_t *groups)
{
    size_t chunk = round_up((n + REDUCE_CPU_GROUPS - 1) / REDUCE_CPU_GROUPS, 8);
    chunk = chunk < REDUCE_CHUNK_MIN ? REDUCE_CHUNK_MIN : chunk;
    size_t g = n > chunk ? (n + chunk - 1) / chunk : 1;
    struct kargs a = ka_begin(be, K_REDUCE_CHUNKS);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_i32(&a, (int)mode);
    ka_mem(&a, be->partials);
    ka_u32(&a, chunk);
    ka_view(&a, out);
    ka_f32(&a, scale);
    ka_f32(&a, beta);
    size_t local = 1;
    *groups = g > 1 ? g : 0;
    return LAUNCH(&a, 1, &g, &local);
}

/* out[0] = beta * out[0] + scale * sum_i f(x[i]) (f per mode), in two stages with a work-group
 * count that depends only on n and the device's work-group size. */
static enum clann_status reduce(struct clann_backend *be_, const char *op, struct clann_view x,
                                size_t n, enum reduce_mode mode, float scale,
                                struct clann_view out, float beta)
{
    struct cl_backend *be = cl_be(be_);
    CHECK(check_view(be_, op, "out", out, 1));
    CHECK(check_count(be_, op, n));
    if (n > 0)
        CHECK(check_view(be_, op, "x", x, n));
    else
        x = out;
    size_t groups = 0;
    if (be->cpu_device)
        CHECK(reduce_chunks(be, x, n, mode, scale, out, beta, &groups));
    else
        CHECK(reduce_partial(be, x, n, mode, &groups));
    if (groups == 0)
        return CLANN_OK; /* reduce_chunks did it all */

    /* one work-item on CPU devices, where a work-group's barriers cost more than the sum */
    size_t local2 = be->cpu_device ? 1 : be->wgs[K_REDUCE_FINAL];
    struct kargs b = ka_begin(be, K_REDUCE_FINAL);
    ka_mem(&b, be->partials);
    ka_u32(&b, groups);
    ka_view(&b, out);
    ka_f32(&b, scale);
    ka_f32(&b, beta);
    ka_local_floats(&b, local2);
    return LAUNCH(&b, 1, &local2, &local2);
}

static enum clann_status op_sum(struct clann_backend *be, struct clann_view x, size_t n,
                                float scale, struct clann_view out, float beta)
{
    return reduce(be, "sum", x, n, REDUCE_PLAIN, scale, out, beta);
}

static enum clann_status op_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                        struct clann_view out, float beta)
{
    return reduce(be, "sum_squares", x, n, REDUCE_SQUARES, 1.0f, out, beta);
}

static enum clann_status op_count_correct(struct clann_backend *be_, struct clann_view pred,
                                          struct clann_view labels, bool sparse_labels,
                                          size_t rows, size_t cols, struct clann_view correct,
                                          float beta)
{
    struct cl_backend *be = cl_be(be_);
    size_t n;
    CHECK(check_matrix(be_, "count_correct", rows, cols, &n));
    CHECK(check_view(be_, "count_correct", "correct", correct, 1));
    if (rows > 0 && cols == 0)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "count_correct: zero columns");
    if (rows > 0) {
        CHECK(check_view(be_, "count_correct", "pred", pred, n));
        CHECK(check_view(be_, "count_correct", "labels", labels,
                         (sparse_labels || cols == 1) ? rows : n));
    } else {
        pred = labels = correct;
    }
    /* one work-item on CPU devices: the rows are few and a group's barriers cost more */
    size_t local = be->cpu_device ? 1 : be->wgs[K_COUNT_CORRECT];
    struct kargs a = ka_begin(be, K_COUNT_CORRECT);
    ka_view(&a, pred);
    ka_view(&a, labels);
    ka_i32(&a, sparse_labels);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, correct);
    ka_f32(&a, beta);
    ka_local_floats(&a, local);
    return LAUNCH(&a, 1, &local, &local);
}

/* ---------------------------------------------------------------------------------------------
 * Optimizer and clipping.
 */
/* Checks an optimizer's kind and state views (n floats each) and returns its step scalars:
 * Adam's bias correction folds into lr and eps (TensorFlow form), as cl/optim.clh expects.
 * Unused state views become NULL (the dummy buffer). */
static enum clann_status opt_prepare(struct clann_backend *be_, const char *op,
                                     const struct clann_opt *opt, struct clann_view *s1,
                                     struct clann_view *s2, size_t n, float *lr, float *eps)
{
    if ((unsigned)opt->kind >= CLANN__OPT_COUNT)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "%s: bad kind %d", op,
                            (int)opt->kind);
    if (opt->kind != CLANN__OPT_SGD)
        CHECK(check_view(be_, op, "s1", *s1, n));
    else
        s1->buf = NULL;
    if (opt->kind == CLANN__OPT_ADAM)
        CHECK(check_view(be_, op, "s2", *s2, n));
    else
        s2->buf = NULL;
    if (opt->guard.buf)
        CHECK(check_view(be_, op, "guard", opt->guard, 1));
    *lr = opt->lr;
    *eps = opt->eps;
    if (opt->kind == CLANN__OPT_ADAM) {
        if (opt->step < 1)
            return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "%s: Adam needs step >= 1",
                                op);
        double t = (double)opt->step;
        double c2 = sqrt(1.0 - pow((double)opt->beta2, t));
        *lr = (float)((double)opt->lr * c2 / (1.0 - pow((double)opt->beta1, t)));
        *eps = (float)((double)opt->eps * c2);
    }
    return CLANN_OK;
}

/* The hyperparameter and guard arguments every optimizer kernel ends with. */
static void ka_opt(struct kargs *a, const struct clann_opt *opt, float lr, float eps)
{
    ka_i32(a, (int)opt->kind);
    ka_f32(a, lr);
    ka_f32(a, opt->momentum);
    ka_i32(a, opt->nesterov);
    ka_f32(a, opt->beta1);
    ka_f32(a, opt->beta2);
    ka_f32(a, eps);
    ka_f32(a, opt->rho);
    ka_guard(a, opt->guard);
}

static enum clann_status op_optimizer_step(struct clann_backend *be_, const struct clann_opt *opt,
                                           struct clann_view w, struct clann_view g,
                                           struct clann_view s1, struct clann_view s2, size_t n)
{
    float lr = 0.0f, eps = 0.0f; /* set by opt_prepare */
    CHECK(opt_prepare(be_, "optimizer_step", opt, &s1, &s2, n, &lr, &eps));
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "optimizer_step", n));
    CHECK(check_view(be_, "optimizer_step", "w", w, n));
    CHECK(check_view(be_, "optimizer_step", "g", g, n));
    struct kargs a = ka_begin(cl_be(be_), K_OPTIMIZER_STEP);
    ka_view(&a, w);
    ka_view(&a, g);
    ka_view(&a, s1);
    ka_view(&a, s2);
    ka_u32(&a, n);
    ka_opt(&a, opt, lr, eps);
    return LAUNCH_1D(&a, (n + OPT_VEC - 1) / OPT_VEC);
}

static enum clann_status op_guard_check(struct clann_backend *be_, struct clann_view sumsq,
                                        struct clann_view flag, float value)
{
    CHECK(check_view(be_, "guard_check", "sumsq", sumsq, 1));
    CHECK(check_view(be_, "guard_check", "flag", flag, 1));
    struct kargs a = ka_begin(cl_be(be_), K_GUARD_CHECK);
    ka_view(&a, sumsq);
    ka_view(&a, flag);
    ka_f32(&a, value);
    return LAUNCH_1D(&a, 1);
}

static enum clann_status op_accumulate_unless(struct clann_backend *be_, struct clann_view x,
                                              struct clann_view out, struct clann_view flag)
{
    CHECK(check_view(be_, "accumulate_unless", "x", x, 1));
    CHECK(check_view(be_, "accumulate_unless", "out", out, 1));
    CHECK(check_view(be_, "accumulate_unless", "flag", flag, 1));
    struct kargs a = ka_begin(cl_be(be_), K_ACCUMULATE_UNLESS);
    ka_view(&a, x);
    ka_view(&a, out);
    ka_view(&a, flag);
    return LAUNCH_1D(&a, 1);
}

static enum clann_status op_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                       struct clann_view out, float beta)
{
    return reduce(be, "count_zero", x, n, REDUCE_ZEROS, 1.0f, out, beta);
}

static enum clann_status op_clip_by_norm(struct clann_backend *be_, struct clann_view x, size_t n,
                                         struct clann_view sumsq, float max_norm)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "clip_by_norm", n));
    CHECK(check_view(be_, "clip_by_norm", "x", x, n));
    CHECK(check_view(be_, "clip_by_norm", "sumsq", sumsq, 1));
    struct kargs a = ka_begin(cl_be(be_), K_CLIP_BY_NORM);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_view(&a, sumsq);
    ka_f32(&a, max_norm);
    return LAUNCH_1D(&a, n);
}

static enum clann_status op_clip_by_value(struct clann_backend *be_, struct clann_view x,
                                          size_t n, float limit)
{
    return launch_inplace(be_, "clip_by_value", K_CLIP_BY_VALUE, x, n, limit);
}

static enum clann_status op_axpy(struct clann_backend *be_, size_t n, float alpha,
                                 struct clann_view x, struct clann_view y)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "axpy", n));
    CHECK(check_view(be_, "axpy", "x", x, n));
    CHECK(check_view(be_, "axpy", "y", y, n));
    struct kargs a = ka_begin(cl_be(be_), K_AXPY);
    ka_u32(&a, n);
    ka_f32(&a, alpha);
    ka_view(&a, x);
    ka_view(&a, y);
    return LAUNCH_1D(&a, n);
}

/* ---------------------------------------------------------------------------------------------
 * Regularization: penalties, constraints, noise, batch normalization (cl/regularize.cl).
 */

/* Launches a one-work-group-per-column kernel over `cols` columns of `rows` rows, appending its
 * local scratch as the last argument. The group size, the smallest power of two covering rows
 * (capped by the kernel's limit), depends on rows and the device alone, so the summation order
 * of every column is fixed. */
static enum clann_status ka_launch_columns(struct kargs *a, size_t rows, size_t cols,
                                           const char *file, int line)
{
    size_t local = 1;
    while (local < rows && local < a->be->wgs[a->id])
        local *= 2;
    ka_local_floats(a, local);
    size_t global = cols * local;
    return ka_launch(a, 1, &global, &local, file, line);
}

#define LAUNCH_COLUMNS(a, rows, cols) ka_launch_columns((a), (rows), (cols), __FILE__, __LINE__)

static enum clann_status op_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                                    struct clann_view out, float beta)
{
    return reduce(be, "sum_abs", x, n, REDUCE_ABS, 1.0f, out, beta);
}

static enum clann_status op_soft_threshold(struct clann_backend *be_, struct clann_view x,
                                           size_t n, float threshold, struct clann_view guard)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_view(be_, "soft_threshold", "x", x, n));
    CHECK(check_count(be_, "soft_threshold", n));
    if (guard.buf)
        CHECK(check_view(be_, "soft_threshold", "guard", guard, 1));
    struct kargs a = ka_begin(cl_be(be_), K_SOFT_THRESHOLD);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_f32(&a, threshold);
    ka_guard(&a, guard);
    return LAUNCH_1D(&a, n);
}

static enum clann_status op_constrain(struct clann_backend *be_,
                                      const struct clann_constraint_op *c, struct clann_view x,
                                      size_t rows, size_t cols, struct clann_view guard)
{
    size_t n;
    if (!c || (unsigned)c->kind > CLANN__CONSTRAINT_NON_NEG)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "constrain: bad kind %d",
                            c ? (int)c->kind : -1);
    CHECK(check_matrix(be_, "constrain", rows, cols, &n));
    if (n == 0 || c->kind == CLANN__CONSTRAINT_NONE)
        return CLANN_OK;
    CHECK(check_view(be_, "constrain", "x", x, n));
    if (guard.buf)
        CHECK(check_view(be_, "constrain", "guard", guard, 1));
    if (c->kind == CLANN__CONSTRAINT_NON_NEG) {
        struct kargs a = ka_begin(cl_be(be_), K_CONSTRAIN_NON_NEG);
        ka_view(&a, x);
        ka_u32(&a, n);
        ka_guard(&a, guard);
        return LAUNCH_1D(&a, n);
    }
    struct kargs a = ka_begin(cl_be(be_), K_CONSTRAIN_COLUMNS);
    ka_view(&a, x);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_i32(&a, (int)c->kind);
    ka_f32(&a, c->min_value);
    ka_f32(&a, c->max_value);
    ka_f32(&a, c->rate);
    ka_guard(&a, guard);
    return LAUNCH_COLUMNS(&a, rows, cols);
}

static enum clann_status op_add_noise(struct clann_backend *be_, struct clann_view x, size_t n,
                                      struct clann_rng_key key, float stddev)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "add_noise", n));
    CHECK(check_view(be_, "add_noise", "x", x, n));
    struct kargs a = ka_begin(cl_be(be_), K_ADD_NOISE);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_u64(&a, key.seed);
    ka_u32(&a, key.stream);
    ka_u64(&a, key.offset);
    ka_f32(&a, stddev);
    return LAUNCH_1D(&a, n);
}

/* Inference: y from the running statistics, one work-item per element. */
static enum clann_status batchnorm_infer(struct cl_backend *be, struct clann_view x,
                                         struct clann_view y, size_t rows, size_t cols,
                                         struct clann_view gamma, struct clann_view beta,
                                         struct clann_view running_mean,
                                         struct clann_view running_var, float eps)
{
    struct kargs a = ka_begin(be, K_BATCHNORM_INFER);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, gamma);
    ka_view(&a, beta);
    ka_view(&a, running_mean);
    ka_view(&a, running_var);
    ka_f32(&a, eps);
    return LAUNCH_1D(&a, rows * cols);
}

static enum clann_status op_batchnorm_forward(struct clann_backend *be_, struct clann_view x,
                                              struct clann_view y, size_t rows, size_t cols,
                                              struct clann_view gamma, struct clann_view beta,
                                              struct clann_view stats, struct clann_view running,
                                              float eps, bool training)
{
    const char *op = "batchnorm_forward";
    size_t n;
    CHECK(check_matrix(be_, op, rows, cols, &n));
    if (cols == 0 || (n == 0 && !training))
        return CLANN_OK;
    CHECK(check_view(be_, op, "gamma", gamma, cols));
    CHECK(check_view(be_, op, "beta", beta, cols));
    if (n > 0) {
        CHECK(check_view(be_, op, "x", x, n));
        CHECK(check_view(be_, op, "y", y, n));
    } else {
        x = y = gamma; /* rows = 0 (training): the statistics alone are written, as the CPU */
    }
    if (!training) {
        CHECK(check_view(be_, op, "running", running, 2 * cols));
        struct clann_view running_var = {running.buf, running.off + cols};
        return batchnorm_infer(cl_be(be_), x, y, rows, cols, gamma, beta, running,
                               running_var, eps);
    }
    CHECK(check_view(be_, op, "stats", stats, 3 * cols));
    struct kargs a = ka_begin(cl_be(be_), K_BATCHNORM_TRAIN);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, gamma);
    ka_view(&a, beta);
    ka_view(&a, stats);
    ka_f32(&a, eps);
    return LAUNCH_COLUMNS(&a, rows, cols);
}

static enum clann_status op_moving_average(struct clann_backend *be_, struct clann_view avg,
                                           struct clann_view x, size_t n, float momentum,
                                           struct clann_view guard)
{
    const char *op = "moving_average";
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, op, n));
    CHECK(check_view(be_, op, "avg", avg, n));
    CHECK(check_view(be_, op, "x", x, n));
    if (guard.buf)
        CHECK(check_view(be_, op, "guard", guard, 1));
    struct kargs a = ka_begin(cl_be(be_), K_MOVING_AVERAGE);
    ka_view(&a, avg);
    ka_view(&a, x);
    ka_u32(&a, n);
    ka_f32(&a, momentum);
    ka_guard(&a, guard);
    return LAUNCH_1D(&a, n);
}

static enum clann_status op_batchnorm_backward(struct clann_backend *be_, struct clann_view x,
                                               struct clann_view dy, size_t rows, size_t cols,
                                               struct clann_view gamma, struct clann_view mean,
                                               struct clann_view invstd, struct clann_view dx,
                                               struct clann_view dgamma, struct clann_view dbeta)
{
    const char *op = "batchnorm_backward";
    size_t n;
    CHECK(check_matrix(be_, op, rows, cols, &n));
    if (cols == 0)
        return CLANN_OK;
    CHECK(check_view(be_, op, "gamma", gamma, cols));
    CHECK(check_view(be_, op, "mean", mean, cols));
    CHECK(check_view(be_, op, "invstd", invstd, cols));
    CHECK(check_view(be_, op, "dgamma", dgamma, cols));
    CHECK(check_view(be_, op, "dbeta", dbeta, cols));
    if (n > 0) {
        CHECK(check_view(be_, op, "x", x, n));
        CHECK(check_view(be_, op, "dy", dy, n));
        CHECK(check_view(be_, op, "dx", dx, n));
    } else {
        x = dy = dx = gamma; /* rows = 0: dgamma = dbeta = 0 and no row is touched */
    }
    struct kargs a = ka_begin(cl_be(be_), K_BATCHNORM_BACKWARD);
    ka_view(&a, x);
    ka_view(&a, dy);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, gamma);
    ka_view(&a, mean);
    ka_view(&a, invstd);
    ka_view(&a, dx);
    ka_view(&a, dgamma);
    ka_view(&a, dbeta);
    return LAUNCH_COLUMNS(&a, rows, cols);
}

/* ---------------------------------------------------------------------------------------------
 * Creation and destruction.
 */
static void op_destroy(struct clann_backend *be_)
{
    struct cl_backend *be = cl_be(be_);
    if (!be)
        return;
    if (be->queue)
        clFinish(be->queue);
    for (size_t i = 0; i < K__COUNT; i++)
        if (be->kernels[i])
            clReleaseKernel(be->kernels[i]);
    for (size_t i = 0; i < be->n_programs; i++)
        if (be->programs && be->programs[i])
            clReleaseProgram(be->programs[i]);
    clann__free(be->programs);
    if (be->partials)
        clReleaseMemObject(be->partials);
    if (be->dummy)
        clReleaseMemObject(be->dummy);
    if (be->queue)
        clReleaseCommandQueue(be->queue);
    if (be->context)
        clReleaseContext(be->context);
    clann__free(be);
}

/* ---------------------------------------------------------------------------------------------
 * Feature layer (cl/embedding.cl). Sizes go to the kernels as uint: a check keeps each below
 * 2^32 (tables have at most 2^24 ids).
 */
static bool fits_u32(size_t a, size_t b)
{
    size_t n;
    return clann__mul_size(a, b, &n) && n <= UINT32_MAX && a <= UINT32_MAX && b <= UINT32_MAX;
}

static enum clann_status op_copy_cols(struct clann_backend *be_, struct clann_view x, size_t ldx,
                                      struct clann_view y, size_t ldy, size_t rows, size_t cols)
{
    if (rows == 0 || cols == 0)
        return CLANN_OK;
    if (!fits_u32(rows, ldx > ldy ? ldx : ldy))
        return clann__error(be_->ctx, CLANN_ERR_TOO_LARGE, "copy_cols: too large");
    CHECK(check_view(be_, "copy_cols", "x", x, matrix_extent(rows, cols, ldx)));
    CHECK(check_view(be_, "copy_cols", "y", y, matrix_extent(rows, cols, ldy)));
    struct kargs a = ka_begin(cl_be(be_), K_COPY_COLS);
    ka_view(&a, x);
    ka_u32(&a, ldx);
    ka_view(&a, y);
    ka_u32(&a, ldy);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    return LAUNCH_1D(&a, rows * cols);
}

static enum clann_status op_index_cols(struct clann_backend *be_, struct clann_view src,
                                       struct clann_view dst, size_t rows, size_t width,
                                       struct clann_view idx, size_t n, bool scatter)
{
    if (rows == 0 || n == 0)
        return CLANN_OK;
    if (!fits_u32(rows, width) || n > width)
        return clann__error(be_->ctx, CLANN_ERR_TOO_LARGE, "index_cols: too large");
    CHECK(check_view(be_, "index_cols", "idx", idx, n));
    CHECK(check_view(be_, "index_cols", "src", src, rows * (scatter ? n : width)));
    CHECK(check_view(be_, "index_cols", "dst", dst, rows * (scatter ? width : n)));
    struct kargs a = ka_begin(cl_be(be_), K_INDEX_COLS);
    ka_view(&a, src);
    ka_view(&a, dst);
    ka_u32(&a, rows);
    ka_u32(&a, width);
    ka_view(&a, idx);
    ka_u32(&a, n);
    ka_i32(&a, scatter);
    return LAUNCH_1D(&a, rows * n);
}

static enum clann_status op_embedding_forward(struct clann_backend *be_, struct clann_view ids,
                                              size_t ldi, size_t width, size_t rows,
                                              struct clann_view table, size_t n_ids, size_t dim,
                                              enum clann_combiner comb, struct clann_view y,
                                              size_t ldy)
{
    if (rows == 0 || dim == 0)
        return CLANN_OK;
    if (!fits_u32(rows, ldi > ldy ? ldi : ldy) || !fits_u32(n_ids, dim) ||
        (!table.buf && dim != n_ids))
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "embedding_forward: bad sizes");
    CHECK(check_view(be_, "embedding_forward", "ids", ids, matrix_extent(rows, width, ldi)));
    CHECK(check_view(be_, "embedding_forward", "y", y, matrix_extent(rows, dim, ldy)));
    if (table.buf)
        CHECK(check_view(be_, "embedding_forward", "table", table, n_ids * dim));
    struct kargs a = ka_begin(cl_be(be_), K_EMBEDDING_FORWARD);
    ka_view(&a, ids);
    ka_u32(&a, ldi);
    ka_u32(&a, width);
    ka_u32(&a, rows);
    ka_view(&a, table);
    ka_i32(&a, table.buf != NULL);
    ka_u32(&a, n_ids);
    ka_u32(&a, dim);
    ka_i32(&a, (int)comb);
    ka_view(&a, y);
    ka_u32(&a, ldy);
    return LAUNCH_1D(&a, rows * dim);
}

static enum clann_status op_embedding_backward(struct clann_backend *be_, struct clann_view dy,
                                               size_t ldy, struct clann_view ids, size_t ldi,
                                               size_t width, size_t rows, size_t n_ids,
                                               enum clann_combiner comb,
                                               struct clann_view offsets, struct clann_view occ,
                                               size_t n_occ, size_t n_unique, size_t dim,
                                               struct clann_view grad)
{
    if (n_unique == 0 || dim == 0)
        return CLANN_OK;
    if (!fits_u32(rows, ldi > ldy ? ldi : ldy) || !fits_u32(n_unique, dim) ||
        n_occ > UINT32_MAX || n_ids > UINT32_MAX)
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "embedding_backward: bad sizes");
    CHECK(check_view(be_, "embedding_backward", "dy", dy, matrix_extent(rows, dim, ldy)));
    CHECK(check_view(be_, "embedding_backward", "ids", ids, matrix_extent(rows, width, ldi)));
    CHECK(check_view(be_, "embedding_backward", "offsets", offsets, n_unique + 1));
    CHECK(check_view(be_, "embedding_backward", "occ", occ, n_occ));
    CHECK(check_view(be_, "embedding_backward", "grad", grad, n_unique * dim));
    struct kargs a = ka_begin(cl_be(be_), K_EMBEDDING_BACKWARD);
    ka_view(&a, dy);
    ka_u32(&a, ldy);
    ka_view(&a, ids);
    ka_u32(&a, ldi);
    ka_u32(&a, width);
    ka_u32(&a, rows);
    ka_u32(&a, n_ids);
    ka_i32(&a, (int)comb);
    ka_view(&a, offsets);
    ka_view(&a, n_occ ? occ : offsets); /* an empty occ is never read */
    ka_u32(&a, n_occ);
    ka_u32(&a, n_unique);
    ka_u32(&a, dim);
    ka_view(&a, grad);
    return LAUNCH_1D(&a, n_unique * dim);
}

static enum clann_status op_embedding_update(struct clann_backend *be_,
                                             const struct clann_opt *opt,
                                             struct clann_view table, struct clann_view s1,
                                             struct clann_view s2, size_t n_ids, size_t dim,
                                             struct clann_view uniq, struct clann_view grad,
                                             size_t n_unique)
{
    if (n_unique == 0 || dim == 0)
        return (unsigned)opt->kind < CLANN__OPT_COUNT
                   ? CLANN_OK
                   : clann__error(be_->ctx, CLANN_ERR_INVALID_ARG,
                                  "embedding_update: bad kind %d", (int)opt->kind);
    if (!fits_u32(n_ids, dim) || !fits_u32(n_unique, dim))
        return clann__error(be_->ctx, CLANN_ERR_INVALID_ARG, "embedding_update: bad sizes");
    size_t tn = n_ids * dim;
    float lr = 0.0f, eps = 0.0f; /* set by opt_prepare */
    CHECK(opt_prepare(be_, "embedding_update", opt, &s1, &s2, tn, &lr, &eps));
    CHECK(check_view(be_, "embedding_update", "table", table, tn));
    CHECK(check_view(be_, "embedding_update", "uniq", uniq, n_unique));
    CHECK(check_view(be_, "embedding_update", "grad", grad, n_unique * dim));
    struct kargs a = ka_begin(cl_be(be_), K_EMBEDDING_UPDATE);
    ka_view(&a, table);
    ka_view(&a, s1);
    ka_view(&a, s2);
    ka_u32(&a, n_ids);
    ka_u32(&a, dim);
    ka_view(&a, uniq);
    ka_view(&a, grad);
    ka_u32(&a, n_unique);
    ka_opt(&a, opt, lr, eps);
    return LAUNCH_1D(&a, n_unique * dim);
}

static const struct clann_backend_ops cl_ops = {
    .name = "opencl",
    .destroy = op_destroy,
    .buf_alloc = op_buf_alloc,
    .buf_free = op_buf_free,
    .upload = op_upload,
    .download = op_download,
    .finish = op_finish,
    .fill = op_fill,
    .copy = op_copy,
    .gemm = op_gemm,
    .rng_uniform = op_rng_uniform,
    .rng_normal = op_rng_normal,
    .bias_act_forward = op_bias_act_forward,
    .act_backward = op_act_backward,
    .prelu_grad = op_prelu_grad,
    .col_sum = op_col_sum,
    .loss = op_loss,
    .sum = op_sum,
    .sum_squares = op_sum_squares,
    .count_correct = op_count_correct,
    .optimizer_step = op_optimizer_step,
    .clip_by_norm = op_clip_by_norm,
    .clip_by_value = op_clip_by_value,
    .axpy = op_axpy,
    .dropout = op_dropout,
    .sum_abs = op_sum_abs,
    .soft_threshold = op_soft_threshold,
    .constrain = op_constrain,
    .add_noise = op_add_noise,
    .batchnorm_forward = op_batchnorm_forward,
    .moving_average = op_moving_average,
    .batchnorm_backward = op_batchnorm_backward,
    .guard_check = op_guard_check,
    .accumulate_unless = op_accumulate_unless,
    .count_zero = op_count_zero,
    .index_cols = op_index_cols,
    .copy_cols = op_copy_cols,
    .embedding_forward = op_embedding_forward,
    .embedding_backward = op_embedding_backward,
    .embedding_update = op_embedding_update,
};

/* A string property of a device or platform into out (always NUL-terminated). */
static void device_string(cl_device_id dev, cl_device_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetDeviceInfo(dev, what, cap, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[cap - 1] = '\0';
}

static void platform_string(cl_platform_id p, cl_platform_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetPlatformInfo(p, what, cap, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[cap - 1] = '\0';
}

/* Reads a whole file into a NUL-terminated clann__malloc'd buffer. */
static enum clann_status read_text_file(struct clann_context *ctx, const char *path, char **out,
                                        size_t *len)
{
    enum clann_status st = CLANN_OK;
    char *buf = NULL;
    size_t size = 0, cap = 0;
    FILE *f = fopen(path, "rb");
    *out = NULL;
    if (!f)
        return clann__error(ctx, CLANN_ERR_IO, "cannot open kernel source %s", path);
    for (;;) {
        if (cap - size < 4097) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb = clann__realloc(buf, ncap);
            if (!nb) {
                st = clann__error(ctx, CLANN_ERR_NO_MEMORY, "reading %s: out of memory", path);
                goto cleanup;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + size, 1, cap - size - 1, f);
        size += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        st = clann__error(ctx, CLANN_ERR_IO, "error reading kernel source %s", path);
        goto cleanup;
    }
    buf[size] = '\0';
    *out = buf;
    *len = size;
    buf = NULL;
cleanup:
    clann__free(buf);
    fclose(f);
    return st;
}

struct build_info {
    const char *options;
    const char *device_name;
    const char *driver;
    const char *platform_version;
    bool use_cache;
    char cache_dir[4096];
    bool all_from_cache;
};

/* The cache key: everything the binary depends on, fields separated by NULs, then the source
 * (cl_cache.c stores it whole, so another program's entry can never pass for this one).
 * clann__malloc'd; NULL without memory. */
static char *program_key(const struct build_info *bi, const char *name, const char *src,
                         size_t len, size_t *key_len)
{
    const char *parts[] = {"clann-program-cache-v2", CLANN_VERSION, name, bi->options,
                           bi->device_name, bi->driver, bi->platform_version};
    size_t n = len;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        n += strlen(parts[i]) + 1;
    char *key = clann__malloc(n), *at = key;
    for (size_t i = 0; key && i < sizeof parts / sizeof parts[0]; i++)
        at += strlen(strcpy(at, parts[i])) + 1; /* the NUL separates fields */
    if (key)
        memcpy(at, src, len);
    *key_len = n;
    return key;
}

/* Whether every kernel of program `name` can be created from prog: a cached binary that
 * builds but lacks one is another program's, and is rebuilt from source. */
static bool has_its_kernels(cl_program prog, const char *name)
{
    for (size_t k = 0; k < K__COUNT; k++) {
        if (strcmp(kernel_table[k].file, name) != 0)
            continue;
        cl_int err = CL_SUCCESS;
        cl_kernel kernel = clCreateKernel(prog, kernel_table[k].name, &err);
        if (err != CL_SUCCESS || !kernel)
            return false;
        clReleaseKernel(kernel);
    }
    return true;
}

/* Tries the cached binary for this program; true when it loaded, built and has its kernels.
 * Any failure falls back to building from source. */
static bool program_from_cache(struct cl_backend *be, const struct build_info *bi,
                               const char *key, size_t key_len, const char *name,
                               cl_program *out)
{
    unsigned char *bin = NULL;
    size_t len = 0;
    cl_int err = CL_SUCCESS, bin_status = CL_SUCCESS;
    *out = NULL;
    if (!key || !clann__cl_cache_load(bi->cache_dir, key, key_len, &bin, &len))
        return false;
    const unsigned char *bins[1] = {bin};
    cl_program prog = clCreateProgramWithBinary(be->context, 1, &be->device, &len, bins,
                                                &bin_status, &err);
    clann__free(bin);
    if (err == CL_SUCCESS && bin_status == CL_SUCCESS)
        err = clBuildProgram(prog, 1, &be->device, bi->options, NULL, NULL);
    else if (err == CL_SUCCESS)
        err = bin_status;
    if (err == CL_SUCCESS && !has_its_kernels(prog, name))
        err = CL_INVALID_KERNEL_NAME;
    if (err != CL_SUCCESS) {
        clann__log(CLANN_LOG_LEVEL_DEBUG,
                   "cached binary of %s unusable (%s); rebuilding from source", name,
                   cl_error_name(err));
        if (prog)
            clReleaseProgram(prog);
        return false;
    }
    *out = prog;
    return true;
}

static void program_to_cache(struct cl_backend *be, const struct build_info *bi,
                             const char *key, size_t key_len, cl_program prog)
{
    size_t size = 0;
    unsigned char *bin = NULL;
    (void)be;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof size, &size, NULL) !=
            CL_SUCCESS ||
        size == 0)
        return;
    bin = clann__malloc(size);
    if (!bin)
        return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS &&
        !clann__cl_cache_store(bi->cache_dir, key, key_len, bin, size))
        clann__log(CLANN_LOG_LEVEL_DEBUG, "could not write the program cache in %s",
                   bi->cache_dir);
    clann__free(bin);
}

/* Builds program `name` from src (or loads it from the cache) into *out. */
static enum clann_status build_program(struct cl_backend *be, struct build_info *bi,
                                       const char *name, const char *src, size_t len,
                                       cl_program *out)
{
    struct clann_context *ctx = be->base.ctx;
    enum clann_status st = CLANN_OK;
    cl_program prog = NULL;
    char *log = NULL, *key = NULL;
    size_t key_len = 0;
    *out = NULL;
    if (bi->use_cache) {
        key = program_key(bi, name, src, len, &key_len);
        if (program_from_cache(be, bi, key, key_len, name, out)) {
            clann__free(key);
            return CLANN_OK;
        }
    }
    bi->all_from_cache = false;
    CL_TRY_RET(ctx, prog, clCreateProgramWithSource(be->context, 1, &src, &len, &err_));
    cl_int err = clBuildProgram(prog, 1, &be->device, bi->options, NULL, NULL);
    if (err != CL_SUCCESS) {
        size_t log_size = 0;
        clGetProgramBuildInfo(prog, be->device, CL_PROGRAM_BUILD_LOG, 0, NULL, &log_size);
        log = clann__malloc(log_size + 1);
        if (log) {
            log[0] = '\0';
            if (log_size > 0 && clGetProgramBuildInfo(prog, be->device, CL_PROGRAM_BUILD_LOG,
                                                      log_size, log, NULL) != CL_SUCCESS)
                log[0] = '\0';
            log[log_size] = '\0';
        }
        st = clann__error(ctx,
                          err == CL_BUILD_PROGRAM_FAILURE || err == CL_INVALID_BUILD_OPTIONS
                              ? CLANN_ERR_KERNEL_BUILD
                              : cl_status_of(err),
                          "building OpenCL program %s for device \"%s\" with options \"%s\" "
                          "failed: %s (%d) at %s:%d; build log:\n",
                          name, bi->device_name, bi->options, cl_error_name(err), (int)err,
                          __FILE__, __LINE__);
        clann__error_append(ctx, "%s", log ? log : "(no memory for the build log)");
        goto cleanup;
    }
    if (key)
        program_to_cache(be, bi, key, key_len, prog);
    *out = prog;
    prog = NULL;
cleanup:
    clann__free(log);
    clann__free(key);
    if (prog)
        clReleaseProgram(prog);
    return st;
}

static enum clann_status build_programs(struct cl_backend *be,
                                        const struct clann_context_params *params,
                                        const char *options, const char *platform_version)
{
    struct clann_context *ctx = be->base.ctx;
    enum clann_status st = CLANN_OK;
    char driver[128];
    char *text = NULL;
    const char *kernel_dir = params && params->kernel_dir ? params->kernel_dir
                                                          : clann__getenv("CLANN_KERNEL_DIR");
    struct build_info bi = {options, be->device_name, driver, platform_version, false, "", true};
    device_string(be->device, CL_DRIVER_VERSION, driver, sizeof driver);
    bi.use_cache = (!params || params->use_cache) &&
                   clann__cl_cache_dir(params, bi.cache_dir, sizeof bi.cache_dir);

    be->n_programs = clann__cl_source_count;
    be->programs = clann__calloc(be->n_programs, sizeof *be->programs);
    if (!be->programs) {
        st = clann__error(ctx, CLANN_ERR_NO_MEMORY, "OpenCL backend: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < be->n_programs; i++) {
        const struct clann_cl_source *s = &clann__cl_sources[i];
        const char *src = (const char *)s->text;
        size_t len = s->len;
        if (kernel_dir) {
            char path[4096];
            int n = snprintf(path, sizeof path, "%s/%s", kernel_dir, s->name);
            if (n < 0 || (size_t)n >= sizeof path) {
                st = clann__error(ctx, CLANN_ERR_INVALID_ARG, "kernel folder path too long");
                goto cleanup;
            }
            st = read_text_file(ctx, path, &text, &len);
            if (st != CLANN_OK)
                goto cleanup;
            src = text;
        }
        st = build_program(be, &bi, s->name, src, len, &be->programs[i]);
        clann__free(text);
        text = NULL;
        if (st != CLANN_OK)
            goto cleanup;
    }
    be->base.ctx->build_from_cache = bi.use_cache && bi.all_from_cache;
cleanup:
    clann__free(text);
    return st;
}

static size_t pow2_floor(size_t x)
{
    size_t p = 1;
    while (p * 2 <= x)
        p *= 2;
    return p;
}

static enum clann_status create_kernels(struct cl_backend *be)
{
    struct clann_context *ctx = be->base.ctx;
    enum clann_status st = CLANN_OK;
    size_t cap = MAX_WGS;
    const char *env = clann__getenv("CLANN_MAX_WGS");
    if (env) {
        long v = strtol(env, NULL, 10);
        if (v >= 1 && v < MAX_WGS)
            cap = (size_t)v;
    }
    for (size_t k = 0; k < K__COUNT; k++) {
        size_t p = 0;
        while (p < be->n_programs && strcmp(clann__cl_sources[p].name, kernel_table[k].file) != 0)
            p++;
        if (p == be->n_programs) {
            st = clann__error(ctx, CLANN_ERR_INTERNAL, "kernel %s: program %s is not embedded",
                              kernel_table[k].name, kernel_table[k].file);
            goto cleanup;
        }
        CL_TRY_RET(ctx, be->kernels[k],
                   clCreateKernel(be->programs[p], kernel_table[k].name, &err_));
        size_t max = 0;
        CL_TRY(ctx, clGetKernelWorkGroupInfo(be->kernels[k], be->device, CL_KERNEL_WORK_GROUP_SIZE,
                                             sizeof max, &max, NULL));
        be->wgs[k] = pow2_floor(max < cap ? (max ? max : 1) : cap);
    }
    if (be->wgs[K_GEMM] < (size_t)be->gemm_ts * be->gemm_ts) {
        /* the tile cannot run on this device: only CLBlast can do GEMM then */
        if (be->gemm_impl == GEMM_IMPL_TILED && CLANN_HAVE_CLBLAST)
            be->gemm_impl = GEMM_IMPL_CLBLAST;
        if (!CLANN_HAVE_CLBLAST) {
            st = clann__error(ctx, CLANN_ERR_UNSUPPORTED,
                              "gemm kernel: work-group of %u x %u exceeds the limit %zu on %s",
                              be->gemm_ts, be->gemm_ts, be->wgs[K_GEMM], be->device_name);
            goto cleanup;
        }
    }
cleanup:
    return st;
}

static const char *const gemm_impl_names[] = {"clann tiled kernel", "CLBlast",
                                               "clann CPU kernels"};

/* CLANN_GEMM=tiled|clblast|cpu forces an implementation (tests, measurements), as does
 * CLANN_NO_CLBLAST=1 (tiled). Otherwise CPU devices get cl/gemm_cpu.cl, which beats CLBlast
 * several times over on PoCL and needs no CLBlast kernel compile at the first GEMM, and the
 * others CLBlast when it is built in. */
static enum gemm_impl pick_gemm_impl(bool cpu_device)
{
    const char *env = clann__getenv("CLANN_GEMM");
    const char *no_clblast = clann__getenv("CLANN_NO_CLBLAST");
    if (env && strcmp(env, "tiled") == 0)
        return GEMM_IMPL_TILED;
    if (env && strcmp(env, "cpu") == 0)
        return GEMM_IMPL_CPU;
    if (env && strcmp(env, "clblast") == 0)
        return CLANN_HAVE_CLBLAST ? GEMM_IMPL_CLBLAST : GEMM_IMPL_TILED;
    if (no_clblast && strcmp(no_clblast, "0") != 0)
        return GEMM_IMPL_TILED;
    if (cpu_device)
        return GEMM_IMPL_CPU;
    return CLANN_HAVE_CLBLAST ? GEMM_IMPL_CLBLAST : GEMM_IMPL_TILED;
}

enum clann_status clann__opencl_backend_create(struct clann_context *ctx, int p, int d,
                                               const struct clann_context_params *params,
                                               struct clann_backend **out)
{
    enum clann_status st = CLANN_OK;
    cl_platform_id *platforms = NULL;
    cl_device_id *devices = NULL;
    cl_uint np = 0, nd = 0;
    struct cl_backend *be = NULL;
    char options[512], platform_version[256];
    double t0 = clann__now();
    *out = NULL;

    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        st = clann__error(ctx, CLANN_ERR_NO_DEVICE, "no OpenCL platform found");
        goto cleanup;
    }
    if (err != CL_SUCCESS) {
        st = cl_fail(ctx, err, "clGetPlatformIDs", __FILE__, __LINE__);
        goto cleanup;
    }
    if (p < 0 || (cl_uint)p >= np) {
        st = clann__error(ctx, CLANN_ERR_NO_DEVICE, "no OpenCL platform %d (%u found)", p,
                          (unsigned)np);
        goto cleanup;
    }
    platforms = clann__calloc(np, sizeof *platforms);
    be = clann__calloc(1, sizeof *be);
    if (!platforms || !be) {
        st = clann__error(ctx, CLANN_ERR_NO_MEMORY, "OpenCL backend: out of memory");
        goto cleanup;
    }
    be->base.ops = &cl_ops;
    be->base.ctx = ctx;
    CL_TRY(ctx, clGetPlatformIDs(np, platforms, NULL));
    be->platform = platforms[p];
    err = clGetDeviceIDs(be->platform, CL_DEVICE_TYPE_ALL, 0, NULL, &nd);
    if (err != CL_SUCCESS && err != CL_DEVICE_NOT_FOUND) {
        st = cl_fail(ctx, err, "clGetDeviceIDs", __FILE__, __LINE__);
        goto cleanup;
    }
    if (d < 0 || (cl_uint)d >= nd) {
        st = clann__error(ctx, CLANN_ERR_NO_DEVICE,
                          "no OpenCL device %d on platform %d (%u found)", d, p, (unsigned)nd);
        goto cleanup;
    }
    devices = clann__calloc(nd, sizeof *devices);
    if (!devices) {
        st = clann__error(ctx, CLANN_ERR_NO_MEMORY, "OpenCL backend: out of memory");
        goto cleanup;
    }
    CL_TRY(ctx, clGetDeviceIDs(be->platform, CL_DEVICE_TYPE_ALL, nd, devices, NULL));
    be->device = devices[d];
    device_string(be->device, CL_DEVICE_NAME, be->device_name, sizeof be->device_name);
    platform_string(be->platform, CL_PLATFORM_VERSION, platform_version,
                    sizeof platform_version);
    CL_TRY(ctx, clGetDeviceInfo(be->device, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof be->max_alloc,
                                &be->max_alloc, NULL));

    cl_context_properties props[] = {CL_CONTEXT_PLATFORM, (cl_context_properties)be->platform, 0};
    CL_TRY_RET(ctx, be->context, clCreateContext(props, 1, &be->device, NULL, NULL, &err_));
    CL_TRY_RET(ctx, be->queue, clCreateCommandQueue(be->context, be->device, 0, &err_));
    CL_TRY_RET(ctx, be->partials,
               clCreateBuffer(be->context, CL_MEM_READ_WRITE, REDUCE_GROUPS * sizeof(cl_float),
                              NULL, &err_));
    CL_TRY_RET(ctx, be->dummy,
               clCreateBuffer(be->context, CL_MEM_READ_WRITE, sizeof(cl_float), NULL, &err_));

    /* Build options: the GEMM tile fits the device's work-group limit; correctly rounded
     * division and sqrt where the device offers them (parity with the CPU reference); never
     * fast-math or mad. */
    size_t max_wg = 0;
    CL_TRY(ctx, clGetDeviceInfo(be->device, CL_DEVICE_MAX_WORK_GROUP_SIZE, sizeof max_wg, &max_wg,
                                NULL));
    be->gemm_ts = max_wg >= 256 ? 16 : max_wg >= 64 ? 8 : max_wg >= 16 ? 4 : 1;
    cl_device_type type = 0;
    CL_TRY(ctx, clGetDeviceInfo(be->device, CL_DEVICE_TYPE, sizeof type, &type, NULL));
    be->cpu_device = (type & CL_DEVICE_TYPE_CPU) != 0;
    be->gemm_impl = pick_gemm_impl(be->cpu_device);
    cl_device_fp_config fp = 0;
    CL_TRY(ctx, clGetDeviceInfo(be->device, CL_DEVICE_SINGLE_FP_CONFIG, sizeof fp, &fp, NULL));
    const char *kernel_dir = params && params->kernel_dir ? params->kernel_dir
                                                          : clann__getenv("CLANN_KERNEL_DIR");
    int n = snprintf(options, sizeof options, "-cl-std=CL1.2 -DGEMM_TS=%u%s%s%s%s",
                     be->gemm_ts,
                     (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT)
                         ? " -cl-fp32-correctly-rounded-divide-sqrt"
                         : "",
                     kernel_dir ? (strchr(kernel_dir, ' ') ? " -I \"" : " -I ") : "",
                     kernel_dir ? kernel_dir : "",
                     kernel_dir && strchr(kernel_dir, ' ') ? "\"" : "");
    if (n < 0 || (size_t)n >= sizeof options) {
        st = clann__error(ctx, CLANN_ERR_INVALID_ARG, "kernel folder path too long");
        goto cleanup;
    }

    st = build_programs(be, params, options, platform_version);
    if (st != CLANN_OK)
        goto cleanup;
    st = create_kernels(be);
    if (st != CLANN_OK)
        goto cleanup;
    ctx->build_seconds = clann__now() - t0;
    clann__log(CLANN_LOG_LEVEL_INFO, "OpenCL programs for %s %s in %.3f s (GEMM: %s)",
               be->device_name, ctx->build_from_cache ? "loaded from the cache" : "built",
               ctx->build_seconds, gemm_impl_names[be->gemm_impl]);
    *out = &be->base;
    be = NULL;
cleanup:
    if (be)
        op_destroy(&be->base);
    clann__free(devices);
    clann__free(platforms);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Device list.
 */
static void fill_device_info(cl_platform_id platform, cl_device_id dev, int p, int d,
                             struct clann_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform = p;
    info->device = d;
    platform_string(platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    device_string(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(dev, CL_DEVICE_OPENCL_C_VERSION, info->version, sizeof info->version);
    device_string(dev, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    cl_device_type type = 0;
    cl_uint cu = 0;
    cl_ulong mem = 0, alloc = 0;
    cl_device_fp_config fp64 = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? CLANN_DEVICE_TYPE_GPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CLANN_DEVICE_TYPE_ACCELERATOR
                 : (type & CL_DEVICE_TYPE_CPU)         ? CLANN_DEVICE_TYPE_CPU
                                                       : CLANN_DEVICE_TYPE_OTHER;
    info->compute_units = cu;
    info->global_memory = mem;
    info->max_allocation = alloc;
    info->fp64 = fp64 != 0;
}

enum clann_status clann__opencl_devices_append(struct clann_device_info **list, size_t *count,
                                               const char **why)
{
    enum clann_status st = CLANN_OK;
    cl_platform_id *platforms = NULL;
    cl_device_id *devices = NULL;
    cl_uint np = 0;
    size_t added = 0;
    const char *reason = NULL;

    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        reason = "no OpenCL platform found: clGetPlatformIDs reports no installed ICD "
                 "(CL_PLATFORM_NOT_FOUND_KHR); install an OpenCL driver such as "
                 "pocl-opencl-icd or check OCL_ICD_VENDORS";
        goto cleanup;
    }
    if (err != CL_SUCCESS) {
        reason = "no OpenCL platform usable: clGetPlatformIDs failed";
        goto cleanup;
    }
    platforms = clann__calloc(np, sizeof *platforms);
    if (!platforms) {
        st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "listing OpenCL devices: out of memory");
        goto cleanup;
    }
    if (clGetPlatformIDs(np, platforms, NULL) != CL_SUCCESS) {
        reason = "no OpenCL platform usable: clGetPlatformIDs failed";
        goto cleanup;
    }
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS ||
            nd == 0)
            continue;
        clann__free(devices);
        devices = clann__calloc(nd, sizeof *devices);
        if (!devices) {
            st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "listing OpenCL devices: out of memory");
            goto cleanup;
        }
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, devices, NULL) != CL_SUCCESS)
            continue;
        struct clann_device_info *grown = clann__realloc(*list, (*count + nd) * sizeof **list);
        if (!grown) {
            st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "listing OpenCL devices: out of memory");
            goto cleanup;
        }
        *list = grown;
        for (cl_uint d = 0; d < nd; d++)
            fill_device_info(platforms[p], devices[d], (int)p, (int)d, &(*list)[(*count)++]);
        added += nd;
    }
    if (added == 0)
        reason = "OpenCL platforms found, but none has a device";
cleanup:
    if (why)
        *why = reason;
    clann__free(devices);
    clann__free(platforms);
    return st;
}
