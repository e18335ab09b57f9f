/*
 * opencl_impl.h - what the files of the OpenCL backend share (never included outside
 * src/backend/opencl*.c): the error discipline (CL_TRY), the kernel table, the backend
 * structure, kernel-argument helpers, and each file's functions. opencl.c creates the backend
 * and holds its ops table; one host file per program of cl/ holds that program's ops, as
 * CLBlast pairs routines with kernels.
 */
#ifndef CLANN_BACKEND_OPENCL_IMPL_H
#define CLANN_BACKEND_OPENCL_IMPL_H

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
    X(GUARD_FINAL, guard_final, "blas.cl")                                                        \
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
    X(LOSS_BATCH, loss_batch, "loss.cl")                                                          \
    X(OPTIMIZER_STEP, optimizer_step, "optim.cl")                                                 \
    X(GUARD_CHECK, guard_check, "optim.cl")                                                       \
    X(ACCUMULATE_UNLESS, accumulate_unless, "optim.cl")                                           \
    X(GUARD_SKIP, guard_skip, "optim.cl")                                                         \
    X(SOFT_THRESHOLD, soft_threshold, "regularize.cl")                                            \
    X(CONSTRAIN_NON_NEG, constrain_non_neg, "regularize.cl")                                      \
    X(CONSTRAIN_COLUMNS, constrain_columns, "regularize.cl")                                      \
    X(ADD_NOISE, add_noise, "regularize.cl")                                                      \
    X(BATCHNORM_TRAIN, batchnorm_train, "regularize.cl")                                          \
    X(BATCHNORM_INFER, batchnorm_infer, "regularize.cl")                                          \
    X(MOVING_AVERAGE, moving_average, "regularize.cl")                                            \
    X(BATCHNORM_BACKWARD, batchnorm_backward, "regularize.cl")                                    \
    X(BATCHNORM_SUMS, batchnorm_sums, "regularize.cl")                                            \
    X(BATCHNORM_DX, batchnorm_dx, "regularize.cl")                                                \
    X(IM2COL, im2col, "conv.cl")                                                                  \
    X(IM2COL_CPU, im2col_cpu, "conv.cl")                                                          \
    X(COL2IM, col2im, "conv.cl")                                                                  \
    X(COL2IM_CPU, col2im_cpu, "conv.cl")                                                          \
    X(CHANNEL_BIAS, channel_bias, "conv.cl")                                                      \
    X(CHANNEL_BIAS_CPU, channel_bias_cpu, "conv.cl")                                              \
    X(CHANNEL_SUM, channel_sum, "conv.cl")                                                        \
    X(CHANNEL_SUM_WG, channel_sum_wg, "conv.cl")                                                  \
    X(POOL2D_FORWARD, pool2d_forward, "conv.cl")                                                  \
    X(POOL2D_FORWARD_CPU, pool2d_forward_cpu, "conv.cl")                                          \
    X(POOL2D_BACKWARD, pool2d_backward, "conv.cl")                                                \
    X(POOL2D_BACKWARD_CPU, pool2d_backward_cpu, "conv.cl")                                        \
    X(POOL2D_BACKWARD_DISJOINT, pool2d_backward_disjoint, "conv.cl")                              \
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

struct kernel_row {
    const char *name;
    const char *file;
};

extern const struct kernel_row kernel_table[K__COUNT];

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

/* loss_batch in one work-group up to this many rows a work-item (a training batch); larger
 * batches (evaluation) take loss, sum and count_correct, which spread the rows wider. */
enum { LOSS_BATCH_ROWS_PER_ITEM = 8 };

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
    int break_clblast; /* CLANN_TEST_BREAK_CLBLAST: 1 CLBlast errs, 2 it computes wrongly */
    bool cpu_device; /* reductions and small kernels take the CPU forms: a CPU-type device, unless
                      * the forms parameter or CLANN_OPENCL_FORMS says otherwise (cpu_forms()) */
    cl_ulong max_alloc;
    cl_ulong global_mem; /* CL_DEVICE_GLOBAL_MEM_SIZE */
    cl_ulong allocated;  /* bytes of the buffers this backend holds (op_buf_alloc) */
    char device_name[256];
    bool launched[K__COUNT]; /* CLANN_KERNEL_LOG: kernels already written to the log */
};

static inline struct cl_backend *cl_be(struct clann_backend *be)
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
#define LAUNCH_1D(a, n) ka_launch_1d((a), (n), __FILE__, __LINE__)
#define LAUNCH(a, dims, global, local) ka_launch((a), (dims), (global), (local), __FILE__, __LINE__)

#define CHECK(expr)                                                                               \
    do {                                                                                          \
        enum clann_status s_ = (expr);                                                            \
        if (s_ != CLANN_OK)                                                                       \
            return s_;                                                                            \
    } while (0)


/* opencl_runtime.c */
const char *cl_error_name(cl_int err);
const char *clblast_error_name(int status);
enum clann_status cl_status_of(cl_int err);
enum clann_status cl_fail(struct clann_context *ctx, cl_int err, const char *call,
                          const char *file, int line);
enum clann_status check_count(struct clann_backend *be, const char *op, size_t n);
enum clann_status check_matrix(struct clann_backend *be, const char *op, size_t rows,
                               size_t cols, size_t *n);
struct kargs ka_begin(struct cl_backend *be, enum kernel_id id);
void ka_set(struct kargs *a, size_t size, const void *value);
void ka_mem(struct kargs *a, cl_mem m);
void ka_view(struct kargs *a, struct clann_view v);
void ka_guard(struct kargs *a, struct clann_view guard);
void ka_u64(struct kargs *a, uint64_t v);
void ka_u32(struct kargs *a, size_t v);
void ka_i32(struct kargs *a, int v);
void ka_f32(struct kargs *a, float v);
void ka_local_floats(struct kargs *a, size_t n);
enum clann_status ka_launch(struct kargs *a, cl_uint dims, const size_t *global,
                            const size_t *local, const char *file, int line);
size_t round_up(size_t n, size_t m);
enum clann_status ka_launch_1d(struct kargs *a, size_t n, const char *file, int line);

/* opencl_device.c */
void device_string(cl_device_id dev, cl_device_info what, char *out, size_t cap);
void platform_string(cl_platform_id p, cl_platform_info what, char *out, size_t cap);

/* opencl_program.c */
enum clann_status build_programs(struct cl_backend *be,
                                 const struct clann_context_params *params,
                                 const char *options, const char *platform_version);
enum clann_status create_kernels(struct cl_backend *be);

/* opencl_blas.c */
enum clann_status op_fill(struct clann_backend *be_, struct clann_view x, size_t n,
                          float value);
enum clann_status op_copy(struct clann_backend *be_, struct clann_view dst,
                          struct clann_view src, size_t n);
enum clann_status op_sum(struct clann_backend *be, struct clann_view x, size_t n,
                         float scale, struct clann_view out, float beta);
enum clann_status op_sum_squares(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_view out, float beta);
enum clann_status op_count_zero(struct clann_backend *be, struct clann_view x, size_t n,
                                struct clann_view out, float beta);
enum clann_status op_sum_abs(struct clann_backend *be, struct clann_view x, size_t n,
                             struct clann_view out, float beta);
enum clann_status op_clip_by_norm(struct clann_backend *be_, struct clann_view x, size_t n,
                                  struct clann_view sumsq, float max_norm);
enum clann_status op_clip_by_value(struct clann_backend *be_, struct clann_view x,
                                   size_t n, float limit);
enum clann_status op_axpy(struct clann_backend *be_, size_t n, float alpha,
                          struct clann_view x, struct clann_view y);

/* opencl_gemm.c */
enum clann_status op_gemm(struct clann_backend *be_, bool trans_a, bool trans_b, size_t m,
                          size_t n, size_t k, float alpha, struct clann_view a, size_t lda,
                          struct clann_view b, size_t ldb, float beta, struct clann_view c,
                          size_t ldc);
enum clann_status op_gemm_batched(struct clann_backend *be_, bool trans_a, bool trans_b,
                                  size_t m, size_t n, size_t k, float alpha, struct clann_view a,
                                  size_t lda, struct clann_view b, size_t ldb, float beta,
                                  struct clann_view c, size_t ldc,
                                  const struct clann_gemm_batch *bt);

/* opencl_warmup.c: checks CLBlast (the current path) at creation; on a wrong result or an
 * error takes the tiled kernel unless forced, setting ctx->gemm_note and the warm-up time. */
enum clann_status gemm_warmup(struct cl_backend *be, bool forced);

/* opencl_rng.c */
enum clann_status op_rng_uniform(struct clann_backend *be, struct clann_view x, size_t n,
                                 struct clann_rng_key key, float lo, float hi);
enum clann_status op_rng_normal(struct clann_backend *be, struct clann_view x, size_t n,
                                struct clann_rng_key key, float mean, float stddev);

/* opencl_conv.c */
enum clann_status op_im2col(struct clann_backend *be_, const struct clann_conv_geom *g,
                            struct clann_view x, struct clann_view col);
enum clann_status op_col2im(struct clann_backend *be_, const struct clann_conv_geom *g,
                            struct clann_view col, struct clann_view x);
enum clann_status op_channel_bias(struct clann_backend *be_, struct clann_view x,
                                  struct clann_view bias, size_t n, size_t channels, size_t hw);
enum clann_status op_channel_sum(struct clann_backend *be_, struct clann_view x, size_t n,
                                 size_t channels, size_t hw, struct clann_view out, float beta);
enum clann_status op_pool2d_forward(struct clann_backend *be_, const struct clann_conv_geom *g,
                                    bool max, struct clann_view x, struct clann_view y);
enum clann_status op_pool2d_backward(struct clann_backend *be_, const struct clann_conv_geom *g,
                                     bool max, struct clann_view x, struct clann_view dy,
                                     struct clann_view dx);

/* opencl_nn.c */
enum clann_status op_bias_act_forward(struct clann_backend *be_,
                                      const struct clann_act *act, struct clann_view z,
                                      struct clann_view bias, struct clann_view prelu,
                                      struct clann_view y, size_t rows, size_t cols);
enum clann_status op_act_backward(struct clann_backend *be_, const struct clann_act *act,
                                  struct clann_view z, struct clann_view y,
                                  struct clann_view dy, struct clann_view prelu,
                                  struct clann_view dz, size_t rows, size_t cols);
enum clann_status op_prelu_grad(struct clann_backend *be_, struct clann_view z,
                                struct clann_view dy, struct clann_view dprelu, size_t rows,
                                size_t cols, float beta);
enum clann_status op_col_sum(struct clann_backend *be_, struct clann_view x, size_t rows,
                             size_t cols, struct clann_view out, float beta);
enum clann_status op_dropout(struct clann_backend *be_, struct clann_view x,
                             struct clann_view y, size_t n, size_t spatial, float rate,
                             struct clann_rng_key key);

/* opencl_loss.c */
enum clann_status op_loss(struct clann_backend *be_, const struct clann__loss *loss,
                          struct clann_view pred, struct clann_view labels, size_t rows,
                          size_t cols, struct clann_view row_loss, struct clann_view grad,
                          float grad_scale);
enum clann_status op_count_correct(struct clann_backend *be_, struct clann_view pred,
                                   struct clann_view labels, int rule, size_t rows,
                                   size_t cols, struct clann_view correct, float beta);

/* opencl_optim.c */
void opt_state_views(const struct clann_opt *opt, struct clann_view *s1,
                     struct clann_view *s2);
void ka_opt(struct kargs *a, const struct clann_opt *opt);
enum clann_status op_optimizer_step(struct clann_backend *be_, const struct clann_opt *opt,
                                    struct clann_view w, struct clann_view g,
                                    struct clann_view s1, struct clann_view s2, size_t n);
enum clann_status op_guard_check(struct clann_backend *be_, struct clann_view sumsq,
                                 struct clann_view flag, float value);
enum clann_status op_guard_skip(struct clann_backend *be_, struct clann_view flag,
                                struct clann_view run, struct clann_view stop, float limit,
                                float value);
enum clann_status op_accumulate_unless(struct clann_backend *be_, struct clann_view x,
                                       struct clann_view out, struct clann_view flag);
enum clann_status op_guard_grads(struct clann_backend *be_, struct clann_view x, size_t n,
                                 struct clann_view sumsq, struct clann_view batch,
                                 struct clann_view flag, float value, struct clann_view loss);
enum clann_status op_loss_batch(struct clann_backend *be_, const struct clann__loss *loss,
                                struct clann_view pred, struct clann_view labels, size_t rows,
                                size_t cols, struct clann_view row_loss, struct clann_view grad,
                                float grad_scale, struct clann_view sum, float sum_beta,
                                struct clann_view correct, int rule);

/* opencl_regularize.c */
enum clann_status op_soft_threshold(struct clann_backend *be_, struct clann_view x,
                                    size_t n, float threshold, struct clann_view v2, float delta,
                                    float eps, struct clann_view guard);
enum clann_status op_constrain(struct clann_backend *be_,
                               const struct clann_constraint_op *c, struct clann_view x,
                               size_t rows, size_t cols, struct clann_view guard);
enum clann_status op_add_noise(struct clann_backend *be_, struct clann_view x, size_t n,
                               struct clann_rng_key key, float stddev);
enum clann_status op_batchnorm_forward(struct clann_backend *be_, struct clann_view x,
                                       struct clann_view y, size_t rows, size_t cols,
                                       size_t spatial, struct clann_view gamma,
                                       struct clann_view beta, struct clann_view stats,
                                       struct clann_view running, float eps, bool training);
enum clann_status op_moving_average(struct clann_backend *be_, struct clann_view avg,
                                    struct clann_view x, size_t n, float momentum,
                                    struct clann_view guard);
enum clann_status op_batchnorm_backward(struct clann_backend *be_, struct clann_view x,
                                        struct clann_view dy, size_t rows, size_t cols,
                                        size_t spatial, struct clann_view gamma,
                                        struct clann_view mean, struct clann_view invstd,
                                        struct clann_view dx, struct clann_view dgamma,
                                        struct clann_view dbeta);
enum clann_status op_batchnorm_sums(struct clann_backend *be_, struct clann_view x, size_t rows,
                                    size_t channels, size_t spatial, struct clann_view center,
                                    struct clann_view out);
enum clann_status op_batchnorm_dx(struct clann_backend *be_, struct clann_view x,
                                  struct clann_view dy, size_t rows, size_t channels,
                                  size_t spatial, struct clann_view gamma, struct clann_view mean,
                                  struct clann_view invstd, struct clann_view dgamma,
                                  struct clann_view dbeta, float count, struct clann_view dx);

/* opencl_embedding.c */
enum clann_status op_copy_cols(struct clann_backend *be_, struct clann_view x, size_t ldx,
                               struct clann_view y, size_t ldy, size_t rows, size_t cols);
enum clann_status op_index_cols(struct clann_backend *be_, struct clann_view src,
                                struct clann_view dst, size_t rows, size_t width,
                                struct clann_view idx, size_t n, bool scatter);
enum clann_status op_embedding_forward(struct clann_backend *be_, struct clann_view ids,
                                       size_t ldi, size_t width, size_t rows,
                                       struct clann_view table, size_t n_ids, size_t dim,
                                       enum clann_combiner comb, struct clann_view y,
                                       size_t ldy);
enum clann_status op_embedding_backward(struct clann_backend *be_, struct clann_view dy,
                                        size_t ldy, struct clann_view ids, size_t ldi,
                                        size_t width, size_t rows, size_t n_ids,
                                        enum clann_combiner comb,
                                        struct clann_view offsets, struct clann_view occ,
                                        size_t n_occ, size_t n_unique, size_t dim,
                                        struct clann_view grad);
enum clann_status op_embedding_update(struct clann_backend *be_,
                                      const struct clann_opt *opt,
                                      struct clann_view table, struct clann_view s1,
                                      struct clann_view s2, size_t n_ids, size_t dim,
                                      struct clann_view uniq, struct clann_view grad,
                                      size_t n_unique);

#endif /* CLANN_BACKEND_OPENCL_IMPL_H */
