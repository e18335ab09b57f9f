/*
 * opencl.c - the OpenCL backend: its creation and destruction, buffers and transfers, and its
 * ops table. Every op of backend.h is a kernel from cl/ (GEMM: on CPU devices the
 * register-blocked kernels of cl/gemm_cpu.cl, elsewhere CLBlast when the library is built with
 * it, else the tiled kernel of cl/blas.cl), in one host file per program (opencl_blas.c,
 * opencl_gemm.c, opencl_rng.c, opencl_nn.c, opencl_loss.c, opencl_optim.c,
 * opencl_regularize.c, opencl_embedding.c); device enumeration is in opencl_device.c, program
 * building (with the on-disk binary cache of cl_cache.c) in opencl_program.c, and the runtime
 * helpers below in opencl_runtime.c, all sharing opencl_impl.h.
 *
 * Error discipline: every OpenCL call goes through CL_TRY (or CL_TRY_RET for calls that report
 * through an errcode_ret argument named err_), which records the call text, the error name and
 * file:line on the context and jumps to the function's one `cleanup` label. Kernel arguments
 * are set through the kargs helpers, which number them and keep the first failure.
 *
 * Environment (for development and tests): CLANN_KERNEL_DIR loads the programs from a folder;
 * CLANN_CACHE_DIR overrides the cache folder; CLANN_GEMM=cpu|clblast|tiled forces a GEMM
 * implementation and CLANN_NO_CLBLAST=1 means tiled; CLANN_MAX_WGS caps every work-group size
 * (a power of two is taken); CLANN_TEST_BREAK_CLBLAST=1|2 plants a fault in the CLBlast path (an
 * error; results 0.1% off) for the warm-up's fallback tests (opencl_warmup.c).
 */
#include "backend/opencl_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    /* Drivers allocate lazily, so running out of memory would show up later, blamed on some
     * kernel launch: count what this context holds against the device's total instead. */
    if (be->allocated + bytes > be->global_mem)
        return clann__error(be_->ctx, CLANN_ERR_DEVICE_MEMORY,
                            "buffer of %zu floats: this context would hold %llu bytes, more than "
                            "the %llu bytes of %s",
                            n, (unsigned long long)(be->allocated + bytes),
                            (unsigned long long)be->global_mem, be->device_name);
    CL_TRY_RET(be_->ctx, mem, clCreateBuffer(be->context, CL_MEM_READ_WRITE, bytes, NULL, &err_));
    buf->ptr = mem;
    buf->n = n;
    be->allocated += bytes;
cleanup:
    return st;
}

static void op_buf_free(struct clann_backend *be_, struct clann_buf *buf)
{
    struct cl_backend *be = cl_be(be_);
    if (buf && buf->ptr) {
        clReleaseMemObject((cl_mem)buf->ptr);
        buf->ptr = NULL;
        be->allocated -= (buf->n ? buf->n : 1) * sizeof(float);
    }
}

static enum clann_status op_upload(struct clann_backend *be_, struct clann_view dst,
                                   const float *src, size_t n, bool blocking)
{
    struct cl_backend *be = cl_be(be_);
    enum clann_status st = CLANN_OK;
    if (n == 0)
        return CLANN_OK;
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
    CL_TRY(be_->ctx, clEnqueueReadBuffer(be->queue, (cl_mem)src.buf->ptr, CL_TRUE,
                                         src.off * sizeof(float), n * sizeof(float), dst, 0, NULL,
                                         NULL));
cleanup:
    return st;
}

static enum clann_status op_download_start(struct clann_backend *be_, float *dst,
                                           struct clann_view src, size_t n, void **pending)
{
    struct cl_backend *be = cl_be(be_);
    enum clann_status st = CLANN_OK;
    cl_event ev = NULL;
    if (n == 0)
        return CLANN_OK;
    CL_TRY(be_->ctx, clEnqueueReadBuffer(be->queue, (cl_mem)src.buf->ptr, CL_FALSE,
                                         src.off * sizeof(float), n * sizeof(float), dst, 0, NULL,
                                         &ev));
    clFlush(be->queue); /* so that the read starts while the host goes on */
    *pending = ev;
cleanup:
    return st;
}

static enum clann_status op_download_test(struct clann_backend *be_, void *pending, bool wait,
                                          bool *done)
{
    cl_event ev = pending;
    cl_int state = CL_QUEUED;
    enum clann_status st = CLANN_OK;
    if (wait)
        CL_TRY(be_->ctx, clWaitForEvents(1, &ev));
    CL_TRY(be_->ctx, clGetEventInfo(ev, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state, &state,
                                    NULL));
    if (state < 0)
        st = cl_fail(be_->ctx, state, "clEnqueueReadBuffer (non-blocking)", __FILE__, __LINE__);
cleanup:
    *done = st != CLANN_OK || state == CL_COMPLETE;
    if (*done)
        clReleaseEvent(ev);
    return st;
}

static enum clann_status op_finish(struct clann_backend *be_)
{
    enum clann_status st = CLANN_OK;
    CL_TRY(be_->ctx, clFinish(cl_be(be_)->queue));
cleanup:
    return st;
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

static const struct clann_backend_ops cl_ops = {
    .name = "opencl",
    .destroy = op_destroy,
    .buf_alloc = op_buf_alloc,
    .buf_free = op_buf_free,
    .upload = op_upload,
    .download = op_download,
    .download_start = op_download_start,
    .download_test = op_download_test,
    .finish = op_finish,
    .fill = op_fill,
    .copy = op_copy,
    .gemm = op_gemm,
    .gemm_batched = op_gemm_batched,
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
    .batchnorm_sums = op_batchnorm_sums,
    .batchnorm_dx = op_batchnorm_dx,
    .guard_check = op_guard_check,
    .accumulate_unless = op_accumulate_unless,
    .guard_skip = op_guard_skip,
    .guard_grads = op_guard_grads,
    .loss_batch = op_loss_batch,
    .count_zero = op_count_zero,
    .im2col = op_im2col,
    .col2im = op_col2im,
    .channel_bias = op_channel_bias,
    .channel_sum = op_channel_sum,
    .pool2d_forward = op_pool2d_forward,
    .pool2d_backward = op_pool2d_backward,
    .index_cols = op_index_cols,
    .copy_cols = op_copy_cols,
    .embedding_forward = op_embedding_forward,
    .embedding_backward = op_embedding_backward,
    .embedding_update = op_embedding_update,
};

static const char *const gemm_impl_names[] = {"clann tiled kernel", "CLBlast",
                                               "clann CPU kernels"};

/* The context's gemm parameter (`clann check` takes every path), else CLANN_GEMM=tiled|clblast|cpu,
 * forces an implementation (tests, measurements), as does
 * CLANN_NO_CLBLAST=1 (tiled). Otherwise CPU devices get cl/gemm_cpu.cl, which beats CLBlast
 * several times over on PoCL and needs no CLBlast kernel compile at the first GEMM, and the
 * others CLBlast when it is built in. */
static enum gemm_impl pick_gemm_impl(bool cpu_device, const char *asked)
{
    const char *env = asked && strcmp(asked, "auto") != 0 ? asked : clann__getenv("CLANN_GEMM");
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

#if CLANN_HAVE_CLBLAST
/* Whether CLBlast was asked for by name (parameter or CLANN_GEMM), not picked by default. */
static bool gemm_forced(const char *asked)
{
    const char *env = asked && strcmp(asked, "auto") != 0 ? asked : clann__getenv("CLANN_GEMM");
    return env && strcmp(env, "clblast") == 0;
}
#endif

/* Whether the backend takes the CPU forms of its kernels: by device type, unless the context's
 * forms parameter (or CLANN_OPENCL_FORMS) asks for "gpu" or "cpu", so that the GPU forms run
 * in the tests on PoCL, a CPU device. */
static bool cpu_forms(cl_device_type type, const char *asked)
{
    const char *forms = asked && strcmp(asked, "auto") != 0 ? asked
                                                            : clann__getenv("CLANN_OPENCL_FORMS");
    if (forms && strcmp(forms, "gpu") == 0)
        return false;
    if (forms && strcmp(forms, "cpu") == 0)
        return true;
    return (type & CL_DEVICE_TYPE_CPU) != 0;
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
    clann__backend_init(&be->base, &cl_ops, ctx);
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
    CL_TRY(ctx, clGetDeviceInfo(be->device, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof be->global_mem,
                                &be->global_mem, NULL));

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
    be->cpu_device = cpu_forms(type, params ? params->forms : NULL);
    be->gemm_impl = pick_gemm_impl(be->cpu_device, params ? params->gemm : NULL);
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
    ctx->build_seconds = clann__now() - t0; /* clann's programs; CLBlast's warm-up apart */
#if CLANN_HAVE_CLBLAST
    if (be->gemm_impl == GEMM_IMPL_CLBLAST) {
        const char *brk = clann__getenv("CLANN_TEST_BREAK_CLBLAST");
        be->break_clblast = brk && (brk[0] == '1' || brk[0] == '2') ? brk[0] - '0' : 0;
        st = gemm_warmup(be, gemm_forced(params ? params->gemm : NULL));
        if (st != CLANN_OK)
            goto cleanup;
    }
#endif
    if (!ctx->gemm_note[0])
        snprintf(ctx->gemm_note, sizeof ctx->gemm_note, "%s", gemm_impl_names[be->gemm_impl]);
    clann__log(CLANN_LOG_LEVEL_INFO, "OpenCL programs for %s %s in %.3f s (GEMM: %s)",
               be->device_name, ctx->build_from_cache ? "loaded from the cache" : "built",
               ctx->build_seconds, ctx->gemm_note);
    *out = &be->base;
    be = NULL;
cleanup:
    if (be)
        op_destroy(&be->base);
    clann__free(devices);
    clann__free(platforms);
    return st;
}

