/*
 * opencl_program.c - building the programs of cl/ (embedded sources or CLANN_KERNEL_DIR),
 * through the on-disk binary cache of cl_cache.c, and creating their kernels.
 */
#include "backend/opencl_impl.h"
#include "backend/cl_cache.h"
#include "cl/cl_sources.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum clann_status build_programs(struct cl_backend *be,
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
        /* The CPU-device GEMM kernels only where they are the GEMM path: a GPU never builds
         * them (their float16 register tiles cost a GPU compiler seconds for nothing). */
        if (strcmp(s->name, "gemm_cpu.cl") == 0 && be->gemm_impl != GEMM_IMPL_CPU)
            continue;
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

enum clann_status create_kernels(struct cl_backend *be)
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
        if (!be->programs[p]) { /* a program not built for this device (build_programs) */
            be->wgs[k] = 1;
            continue;
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
