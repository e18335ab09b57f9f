/*
 * opencl_runtime.c - the OpenCL backend's runtime helpers: error names and statuses, the
 * kernel table, kernel arguments and launches, and the backend's own size limits.
 */
#include "backend/opencl_impl.h"

#include <stdio.h>

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

const char *cl_error_name(cl_int err)
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
const char *clblast_error_name(int status)
{
    switch (status) {
        CLBLAST_ERROR_MAP(CL_ERROR_CASE_)
    default:
        return cl_error_name((cl_int)status);
    }
}
#endif
#undef CL_ERROR_CASE_

enum clann_status cl_status_of(cl_int err)
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

enum clann_status cl_fail(struct clann_context *ctx, cl_int err, const char *call,
                          const char *file, int line)
{
    return clann__error(ctx, cl_status_of(err), "%s failed: %s (%d) at %s:%d", call,
                        cl_error_name(err), (int)err, file, line);
}

/* ---------------------------------------------------------------------------------------------
 * Argument checks shared by the ops: the OpenCL backend's own limits (32-bit counts). Views,
 * kinds and leading dimensions arrive checked by the clann__op_ wrappers (ops.c).
 */
enum clann_status check_count(struct clann_backend *be, const char *op, size_t n)
{
    if (n > UINT32_MAX)
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE,
                            "%s: %zu elements exceed the OpenCL backend's limit of 2^32 - 1", op,
                            n);
    return CLANN_OK;
}

/* rows * cols without overflow and within the kernels' 32-bit counts. */
enum clann_status check_matrix(struct clann_backend *be, const char *op, size_t rows,
                               size_t cols, size_t *n)
{
    if (!clann__mul_size(rows, cols, n) || *n > UINT32_MAX)
        return clann__error(be->ctx, CLANN_ERR_TOO_LARGE,
                            "%s: %zu x %zu exceeds the OpenCL backend's limit of 2^32 - 1", op,
                            rows, cols);
    return CLANN_OK;
}


/* ---------------------------------------------------------------------------------------------
 * Kernels: names and programs (KERNEL_MAP in opencl_impl.h).
 */
const struct kernel_row kernel_table[K__COUNT] = {
#define KERNEL_ROW_(id, name, file) {#name, file},
    KERNEL_MAP(KERNEL_ROW_)
#undef KERNEL_ROW_
};

/* ---------------------------------------------------------------------------------------------
 * Kernel arguments and launches.
 */

struct kargs ka_begin(struct cl_backend *be, enum kernel_id id)
{
    struct kargs a = {be, id, 0, CL_SUCCESS, 0};
    return a;
}

void ka_set(struct kargs *a, size_t size, const void *value)
{
    if (a->err == CL_SUCCESS) {
        a->err = clSetKernelArg(a->be->kernels[a->id], a->index, size, value);
        if (a->err != CL_SUCCESS)
            a->failed = a->index;
    }
    a->index++;
}

void ka_mem(struct kargs *a, cl_mem m)
{
    ka_set(a, sizeof m, &m);
}

/* A view's buffer, or the dummy buffer for a NULL view (never read by the kernel). */
void ka_view(struct kargs *a, struct clann_view v)
{
    ka_mem(a, v.buf ? (cl_mem)v.buf->ptr : a->be->dummy);
    cl_ulong off = v.buf ? (cl_ulong)v.off : 0;
    ka_set(a, sizeof off, &off);
}

/* The NaN guard's flag as a kernel reads it: the view, then whether there is one. */
void ka_guard(struct kargs *a, struct clann_view guard)
{
    ka_view(a, guard);
    cl_int use = guard.buf != NULL;
    ka_set(a, sizeof use, &use);
}

void ka_u64(struct kargs *a, uint64_t v)
{
    cl_ulong x = v;
    ka_set(a, sizeof x, &x);
}

void ka_u32(struct kargs *a, size_t v)
{
    cl_uint x = (cl_uint)v;
    ka_set(a, sizeof x, &x);
}

void ka_i32(struct kargs *a, int v)
{
    cl_int x = v;
    ka_set(a, sizeof x, &x);
}

void ka_f32(struct kargs *a, float v)
{
    cl_float x = v;
    ka_set(a, sizeof x, &x);
}

void ka_local_floats(struct kargs *a, size_t n)
{
    ka_set(a, n * sizeof(cl_float), NULL);
}

/* A debugging aid for coverage checks (tests/oclgrind.sh): CLANN_KERNEL_LOG names a file to which
 * each kernel's name is appended at its first launch on this backend. A file that cannot be
 * opened is ignored: the log is no part of the results. */
static void log_first_launch(struct cl_backend *be, enum kernel_id id)
{
    if (be->launched[id])
        return;
    be->launched[id] = true;
    const char *path = clann__getenv("CLANN_KERNEL_LOG");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", kernel_table[id].name);
        fclose(f);
    }
}

enum clann_status ka_launch(struct kargs *a, cl_uint dims, const size_t *global,
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
    a->be->base.launches++;
    log_first_launch(a->be, a->id);
    if (err != CL_SUCCESS)
        st = clann__error(ctx, cl_status_of(err),
                          "clEnqueueNDRangeKernel(%s) failed: %s (%d) at %s:%d",
                          kernel_table[a->id].name, cl_error_name(err), (int)err, file, line);
    return st;
}

size_t round_up(size_t n, size_t m)
{
    return (n + m - 1) / m * m;
}

/* 1-D launch over n items, the global size rounded up to the kernel's work-group size. */
enum clann_status ka_launch_1d(struct kargs *a, size_t n, const char *file, int line)
{
    size_t local = a->be->wgs[a->id];
    size_t global = round_up(n, local);
    return ka_launch(a, 1, &global, &local, file, line);
}

