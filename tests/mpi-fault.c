/*
 * mpi-fault.c - a rank that fails inside a step with batch normalization across ranks, through
 * the library API (clann_model_fit with distributed = true), for test-mpi.sh under mpirun.
 *
 *     mpi-fault OP CALL [BATCH]
 *
 * Every rank trains input 6 -> dense 32 -> batch norm -> relu -> dense 32 -> batch norm ->
 * dense 2 (softmax) on the same data; on rank 1 the CALL-th call of backend op OP in step 3
 * fails as an OpenCL error would (the op table is wrapped). The step's sums over the ranks
 * are, in order: the two forward sums of each batch norm (before each: one batchnorm_sums),
 * then one backward sum per batch norm, the top one first (before each: one
 * batchnorm_backward; after each: one batchnorm_dx), so OP and CALL put the failure before
 * any sum (upload 1: the batch), between them or after the last (batchnorm_dx 2). OP "none"
 * plants nothing. BATCH (default 40) below the rank count leaves a rank without rows. With
 * CLANN_DIST_BUCKET_KB=1 the gradients go in two buckets, the upper one in flight from the
 * second dense layer's backward on (before the lower batch norm's backward sum).
 *
 * Each rank writes "rank R: status S: MESSAGE" (or "rank R: ok") to stderr and to the file
 * mpi-fault.R (which mpirun cannot cut short when it ends the job), and exits 1 on a failed
 * fit, 0 otherwise; it must return, not hang: the test's timeout catches a hang. The device
 * is CLANN_DEVICE's (test-mpi.sh: cpu).
 */
#include "clann.h"
#include "core/internal.h"
#include "backend/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct clann_backend_ops wrapped;       /* the backend's table with the fault planted */
static const struct clann_backend_ops *real;   /* the backend's own */
static const char *fault_op = "none";
static int fault_call, calls, steps_done;
static bool armed;                             /* in step 3 on rank 1 */

/* True on the planted call of op: it then records the device error the op returns. */
static bool fails(struct clann_backend *be, const char *op)
{
    if (!armed || strcmp(op, fault_op) != 0 || ++calls != fault_call)
        return false;
    clann__error(be->ctx, CLANN_ERR_OPENCL, "%s: planted OpenCL error (call %d of step 3)", op,
                 fault_call);
    return true;
}

static enum clann_status upload(struct clann_backend *be, struct clann_view dst,
                                const float *src, size_t n, bool blocking)
{
    return fails(be, "upload") ? CLANN_ERR_OPENCL : real->upload(be, dst, src, n, blocking);
}

static enum clann_status batchnorm_sums(struct clann_backend *be, struct clann_view x,
                                        size_t rows, size_t channels, size_t spatial,
                                        struct clann_view center, struct clann_view out)
{
    return fails(be, "batchnorm_sums")
               ? CLANN_ERR_OPENCL
               : real->batchnorm_sums(be, x, rows, channels, spatial, center, out);
}

static enum clann_status batchnorm_backward(struct clann_backend *be, struct clann_view x,
                                            struct clann_view dy, size_t rows, size_t cols,
                                            size_t spatial, struct clann_view gamma,
                                            struct clann_view mean, struct clann_view invstd,
                                            struct clann_view dx, struct clann_view dgamma,
                                            struct clann_view dbeta)
{
    return fails(be, "batchnorm_backward")
               ? CLANN_ERR_OPENCL
               : real->batchnorm_backward(be, x, dy, rows, cols, spatial, gamma, mean, invstd,
                                          dx, dgamma, dbeta);
}

static enum clann_status batchnorm_dx(struct clann_backend *be, struct clann_view x,
                                      struct clann_view dy, size_t rows, size_t channels,
                                      size_t spatial, struct clann_view gamma,
                                      struct clann_view mean, struct clann_view invstd,
                                      struct clann_view dgamma, struct clann_view dbeta,
                                      float count, struct clann_view dx)
{
    return fails(be, "batchnorm_dx")
               ? CLANN_ERR_OPENCL
               : real->batchnorm_dx(be, x, dy, rows, channels, spatial, gamma, mean, invstd,
                                    dgamma, dbeta, count, dx);
}

/* After each step: the fault is live in step 3 only. */
static void on_progress(size_t epoch, size_t step, size_t steps, void *user)
{
    (void)epoch, (void)step, (void)steps, (void)user;
    armed = ++steps_done == 2 && clann_world_rank() == 1;
}

static enum clann_status build(struct clann_context *ctx, size_t batch, struct clann_model **m)
{
    enum clann_status st = clann_model_create(ctx, 6, m);
    struct clann_dense_params d32 = clann_dense_default_params(32, CLANN_ACTIVATION_LINEAR);
    struct clann_dense_params out = clann_dense_default_params(2, CLANN_ACTIVATION_LINEAR);
    if (st == CLANN_OK)
        st = clann_model_add_dense(*m, &d32);
    if (st == CLANN_OK)
        st = clann_model_add_batchnorm(*m, 0.0f, 0.0f);
    if (st == CLANN_OK)
        st = clann_model_add_activation(*m, CLANN_ACTIVATION_RELU, 0.0f);
    if (st == CLANN_OK)
        st = clann_model_add_dense(*m, &d32);
    if (st == CLANN_OK)
        st = clann_model_add_batchnorm(*m, 0.0f, 0.0f);
    if (st == CLANN_OK)
        st = clann_model_add_dense(*m, &out);
    enum clann_loss loss = CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY;
    struct clann_compile_params cp = clann_compile_default_params(loss);
    cp.max_batch = batch;
    cp.seed = 11;
    return st == CLANN_OK ? clann_model_compile(*m, &cp) : st;
}

/* 400 rows of a two-class problem, the same on every rank. */
static enum clann_status data(struct clann_matrix *x, struct clann_matrix *y)
{
    enum clann_status st = clann_matrix_create(400, 6, x);
    if (st == CLANN_OK)
        st = clann_matrix_create(400, 1, y);
    unsigned s = 12345;
    for (size_t r = 0; st == CLANN_OK && r < x->rows; r++) {
        for (size_t j = 0; j < 6; j++) {
            s = s * 1103515245u + 12345u;
            x->data[r * 6 + j] = (float)((s >> 8) % 2000) / 1000.0f - 1.0f;
        }
        y->data[r] = x->data[r * 6] - 0.5f * x->data[r * 6 + 1] > 0.0f ? 1.0f : 0.0f;
    }
    return st;
}

int main(int argc, char **argv)
{
    if (clann_world_init(&argc, &argv) != CLANN_OK) {
        fprintf(stderr, "world init: %s\n", clann_last_error());
        return 2;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: mpi-fault OP CALL [BATCH]\n");
        return 2;
    }
    fault_op = argv[1];
    fault_call = atoi(argv[2]);
    size_t batch = argc > 3 ? (size_t)atoi(argv[3]) : 40;
    struct clann_context_params cp = clann_context_default_params();
    struct clann_context *ctx = NULL;
    struct clann_model *m = NULL;
    struct clann_matrix x = {0}, y = {0};
    enum clann_status st = clann_context_create(&cp, &ctx);
    if (st == CLANN_OK) {
        real = ctx->be->ops;
        wrapped = *real;
        wrapped.upload = upload;
        wrapped.batchnorm_sums = batchnorm_sums;
        wrapped.batchnorm_backward = batchnorm_backward;
        wrapped.batchnorm_dx = batchnorm_dx;
        ctx->be->ops = &wrapped;
        st = build(ctx, batch, &m);
    }
    if (st == CLANN_OK)
        st = data(&x, &y);
    if (st == CLANN_OK) {
        struct clann_fit_params p = clann_fit_default_params();
        p.epochs = 2;
        p.batch_size = batch;
        p.distributed = true;
        p.on_progress = on_progress;
        st = clann_model_fit(m, &x, &y, NULL, NULL, &p, NULL);
    }
    char line[1024], path[32];
    if (st == CLANN_OK)
        snprintf(line, sizeof line, "rank %d: ok\n", clann_world_rank());
    else
        snprintf(line, sizeof line, "rank %d: status %s: %s\n", clann_world_rank(),
                 clann_status_name(st), ctx ? clann_context_last_error(ctx) : clann_last_error());
    fputs(line, stderr);
    snprintf(path, sizeof path, "mpi-fault.%d", clann_world_rank());
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(line, f);
        fclose(f);
    }
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    clann_world_finalize();
    return st == CLANN_OK ? 0 : 1;
}
