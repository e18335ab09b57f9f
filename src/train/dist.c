/*
 * dist.c - the world of processes for data-parallel training over MPI (README "Training on
 * several processes or machines"; dist.h). MPI is started only when a launcher started this
 * process (its environment says so), so a plain `clann train` never touches MPI. Collectives
 * move data only (Alltoall, Allgather); every sum is done here in rank order, which is what
 * makes repeated runs bitwise identical: MPI_Allreduce does not fix its order.
 */
#include "train/dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if CLANN_HAVE_MPI
#include <mpi.h>
#endif

static int world_rank = 0, world_size = 1;
static bool world_mpi; /* MPI_Init was called by clann_world_init */
#if CLANN_HAVE_MPI
/* The overlapped exchange's all-gathers run on a communicator of their own: its all-to-alls
 * (on the world) and all-gathers then each start in bucket order on every rank, which is all
 * that MPI asks, however the two kinds interleave on each rank. */
static MPI_Comm gather_comm = MPI_COMM_NULL;
/* And batch normalization's sums over the ranks, blocking, taken while buckets of the same
 * backward pass may be in flight (their collectives start when their reads land: at different
 * moments on different ranks). */
static MPI_Comm stats_comm = MPI_COMM_NULL;
/* The ranks of this machine, when they are the whole world: the gradient sums then go through
 * shared-memory windows (dist.h, struct clann__reducer) unless CLANN_DIST_SHM=0. */
static MPI_Comm node_comm = MPI_COMM_NULL;
#endif

/* The number of processes a launcher says it started, 0 when none did. */
static int launcher_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return 0;
}

#if CLANN_HAVE_MPI
/* node_comm when every rank runs on this machine (its ranks in world order: key 0 keeps it). */
static enum clann_status shared_node_init(void)
{
    const char *v = getenv("CLANN_DIST_SHM");
    if (v && strcmp(v, "0") == 0)
        return CLANN_OK; /* every rank reads the same environment from the launcher */
    MPI_Comm node;
    int size = 0;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
        MPI_SUCCESS)
        return clann__error(NULL, CLANN_ERR_INTERNAL, "MPI_Comm_split_type failed");
    MPI_Comm_size(node, &size);
    int all_here = size == world_size, everywhere = 0;
    /* every rank must take the same path: each machine decides for its own ranks */
    MPI_Allreduce(&all_here, &everywhere, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (everywhere)
        node_comm = node;
    else
        MPI_Comm_free(&node);
    return CLANN_OK;
}
#endif

CLANN_API enum clann_status clann_world_init(int *argc, char ***argv)
{
    if (world_mpi || launcher_size() == 0)
        return CLANN_OK; /* already started, or a world of one */
#if CLANN_HAVE_MPI
    int done = 0;
    MPI_Initialized(&done);
    if (!done && MPI_Init(argc, argv) != MPI_SUCCESS)
        return clann__error(NULL, CLANN_ERR_INTERNAL, "MPI_Init failed");
    /* Errors come back as codes (reported with the rank) instead of aborting inside MPI. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (MPI_Comm_dup(MPI_COMM_WORLD, &gather_comm) != MPI_SUCCESS ||
        MPI_Comm_dup(MPI_COMM_WORLD, &stats_comm) != MPI_SUCCESS)
        return clann__error(NULL, CLANN_ERR_INTERNAL, "MPI_Comm_dup failed");
    world_mpi = true;
    return shared_node_init();
#else
    (void)argc, (void)argv;
    if (launcher_size() == 1)
        return CLANN_OK;
    return clann__error(NULL, CLANN_ERR_UNSUPPORTED, "started by an MPI launcher with %d "
                        "processes, but this clann was built without MPI (install Open MPI "
                        "and configure with -Dmpi=enabled)", launcher_size());
#endif
}

CLANN_API int clann_world_rank(void)
{
    return world_rank;
}

CLANN_API int clann_world_size(void)
{
    return world_size;
}

CLANN_API void clann_world_abort(int code)
{
#if CLANN_HAVE_MPI
    if (world_mpi && world_size > 1)
        MPI_Abort(MPI_COMM_WORLD, code); /* ends every rank: none waits in a collective */
#endif
    (void)code;
}

CLANN_API void clann_world_finalize(void)
{
#if CLANN_HAVE_MPI
    if (gather_comm != MPI_COMM_NULL)
        MPI_Comm_free(&gather_comm);
    if (stats_comm != MPI_COMM_NULL)
        MPI_Comm_free(&stats_comm);
    if (node_comm != MPI_COMM_NULL)
        MPI_Comm_free(&node_comm);
    if (world_mpi)
        MPI_Finalize();
#endif
    world_mpi = false;
    world_rank = 0;
    world_size = 1;
}

int clann__dist_size(void)
{
    return world_size;
}

int clann__dist_rank(void)
{
    return world_rank;
}

#if CLANN_HAVE_MPI
/* Waits for a non-blocking collective, sleeping between tests after a short spin: a rank that
 * waits for a slower one then leaves the cores to it. MPI's blocking collectives poll at full
 * speed, which on a loaded or oversubscribed machine took the CPU from the very rank being
 * waited for (2 ranks ran 5x slower than one process on a busy 2-core machine). */
static int wait_for(MPI_Request *req)
{
    struct timespec nap = {0, 20000}; /* 20 us */
    for (int tests = 0;; tests++) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS || done)
            return rc;
        if (tests >= 200)
            nanosleep(&nap, NULL);
    }
}

static int all_gather(const void *send, int count, MPI_Datatype type, void *recv)
{
    MPI_Request req;
    int rc = MPI_Iallgather(send, count, type, recv, count, type, MPI_COMM_WORLD, &req);
    return rc == MPI_SUCCESS ? wait_for(&req) : rc;
}

static int all_to_all(const void *send, int count, MPI_Datatype type, void *recv)
{
    MPI_Request req;
    int rc = MPI_Ialltoall(send, count, type, recv, count, type, MPI_COMM_WORLD, &req);
    return rc == MPI_SUCCESS ? wait_for(&req) : rc;
}

static enum clann_status mpi_failed(struct clann_context *ctx, int rc, const char *call)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", rc);
    return clann__error(ctx, CLANN_ERR_INTERNAL, "rank %d: %s failed: %s", world_rank, call,
                        text);
}
#endif

enum clann_status clann__dist_agree(struct clann_context *ctx, enum clann_status local,
                                    const char *what)
{
    if (world_size == 1)
        return local;
#if CLANN_HAVE_MPI
    int *all = clann__malloc((size_t)world_size * sizeof *all), mine = (int)local;
    if (!all)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    int rc = all_gather(&mine, 1, MPI_INT, all);
    int failed = -1;
    for (int r = 0; r < world_size && rc == MPI_SUCCESS && failed < 0; r++)
        failed = all[r] != CLANN_OK ? r : -1;
    enum clann_status st = failed >= 0 ? (enum clann_status)all[failed] : CLANN_OK;
    clann__free(all);
    if (rc != MPI_SUCCESS)
        return mpi_failed(ctx, rc, "MPI_Allgather");
    if (local != CLANN_OK || failed < 0)
        return local; /* the failed rank keeps its own message */
    return clann__error(ctx, st, "rank %d failed while %s (%s); see its message", failed, what,
                        clann_status_str(st));
#else
    (void)ctx, (void)what;
    return local;
#endif
}

enum clann_status clann__dist_check_same(struct clann_context *ctx, const uint64_t *v, size_t n,
                                         const char *const *names)
{
    if (world_size == 1)
        return CLANN_OK;
#if CLANN_HAVE_MPI
    uint64_t *all = clann__malloc((size_t)world_size * n * sizeof *all);
    if (!all)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    int rc = all_gather(v, (int)n, MPI_UINT64_T, all);
    enum clann_status st = rc == MPI_SUCCESS ? CLANN_OK : mpi_failed(ctx, rc, "MPI_Allgather");
    for (int r = 1; r < world_size && st == CLANN_OK; r++)
        for (size_t i = 0; i < n && st == CLANN_OK; i++)
            if (all[(size_t)r * n + i] != all[i])
                st = clann__error(ctx, CLANN_ERR_SHAPE, "rank %d differs from rank 0 in %s "
                                  "(%llu, rank 0 has %llu): every rank must train the same "
                                  "model on the same data with the same options", r, names[i],
                                  (unsigned long long)all[(size_t)r * n + i],
                                  (unsigned long long)all[i]);
    clann__free(all);
    return st;
#else
    (void)ctx, (void)v, (void)n, (void)names;
    return CLANN_OK;
#endif
}

#if CLANN_HAVE_MPI
/* The shared form of a reducer (dist.h): a window of two segments of size * chunk floats per
 * rank, each on its own pages (alloc_shared_noncontig), zeroed so that the padding sums to 0,
 * and locked for the window's life: the ranks order their reads and writes with
 * MPI_Win_sync and barriers (MPI's "unified" model of shared memory). */
static enum clann_status shared_init(struct clann_context *ctx, struct clann__reducer *r)
{
    size_t floats = r->shards * r->stride, ranks = (size_t)world_size;
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");
    float *mine = NULL;
    MPI_Win win;
    int rc = MPI_Win_allocate_shared((MPI_Aint)(2 * floats * sizeof(float)), sizeof(float),
                                     info, node_comm, &mine, &win);
    MPI_Info_free(&info);
    if (rc != MPI_SUCCESS) /* e.g. no room in the shared-memory file system */
        return mpi_failed(ctx, rc, "MPI_Win_allocate_shared (CLANN_DIST_SHM=0 sums through "
                                   "MPI's messages instead)");
    r->win = clann__malloc(sizeof win);
    r->seg = clann__calloc(2 * ranks, sizeof *r->seg);
    if (r->win)
        memcpy(r->win, &win, sizeof win);
    for (int k = 0; k < world_size && rc == MPI_SUCCESS && r->seg; k++) {
        MPI_Aint size;
        int unit;
        float *base = NULL;
        rc = MPI_Win_shared_query(win, k, &size, &unit, &base);
        r->seg[k] = base;
        r->seg[ranks + (size_t)k] = base + floats;
    }
    memset(mine, 0, 2 * floats * sizeof *mine);
    MPI_Win_lock_all(MPI_MODE_NOCHECK, win);
    r->data = r->seg ? r->seg[world_rank] : NULL;
    if (!r->win)
        MPI_Win_free(&win);
    if (!r->win || !r->seg || rc != MPI_SUCCESS) {
        clann__reducer_free(r);
        return rc != MPI_SUCCESS ? mpi_failed(ctx, rc, "MPI_Win_shared_query")
                                 : clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    }
    return CLANN_OK;
}
#endif

enum clann_status clann__reducer_init(struct clann_context *ctx, struct clann__reducer *r,
                                      size_t n, size_t shards, bool across)
{
    size_t ranks = across ? (size_t)world_size : 1, chunk = (n + ranks - 1) / ranks;
    if (r->data && r->n == n && r->shards == shards && r->ranks == ranks)
        return CLANN_OK;
    clann__reducer_free(r);
    r->ranks = ranks;
    r->n = n;
    r->chunk = chunk;
    r->stride = ranks * chunk;
    r->shards = shards;
    r->addends = clann__calloc(ranks * shards, sizeof *r->addends);
    if (!r->addends)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory");
#if CLANN_HAVE_MPI
    if (node_comm != MPI_COMM_NULL && ranks > 1)
        return shared_init(ctx, r);
#endif
    r->data = clann__calloc(shards * r->stride + 1, sizeof *r->data);
    r->scratch = clann__calloc(shards * r->stride + 1, sizeof *r->scratch);
    if (!r->data || !r->scratch) {
        clann__reducer_free(r);
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory for the gradient "
                            "exchange (%zu values)", n);
    }
    return CLANN_OK;
}

void clann__reducer_free(struct clann__reducer *r)
{
#if CLANN_HAVE_MPI
    if (r->win && world_mpi) { /* after MPI_Finalize, the memory went with MPI */
        MPI_Win_unlock_all(*(MPI_Win *)r->win);
        MPI_Win_free(r->win);
    }
#endif
    if (!r->win)
        clann__free(r->data);
    clann__free(r->scratch);
    clann__free(r->win);
    clann__free(r->seg);
    clann__free(r->addends);
    memset(r, 0, sizeof *r);
}

const float *clann__reducer_sums(const struct clann__reducer *r, size_t i, size_t *run)
{
    size_t k = r->chunk ? i / r->chunk : 0;
    if (!r->win) {
        *run = r->n - i;
        return r->data + i;
    }
    *run = (k + 1) * r->chunk - i;
    return r->seg[(size_t)((r->round + 1) % 2) * (size_t)world_size + k] + i;
}

/* out[0..n) = parts[0] + parts[1] + ... + parts[count - 1], added in that (shard) order, a
 * block at a time: out may be one of the parts (a rank's own chunk in its shared segment). */
static void sum_parts(float *out, const float *const *parts, size_t count, size_t n)
{
    enum { BLOCK = 1024 };
    float acc[BLOCK];
    for (size_t at = 0; at < n; at += BLOCK) {
        size_t len = n - at < BLOCK ? n - at : BLOCK;
        memcpy(acc, parts[0] + at, len * sizeof *acc);
        for (size_t k = 1; k < count; k++)
            for (size_t i = 0; i < len; i++)
                acc[i] += parts[k][at + i];
        memcpy(out + at, acc, len * sizeof *acc);
    }
}

#if CLANN_HAVE_MPI
/* After the reduce-scatter's data moves (the all-to-alls into scratch, or the barrier after
 * every rank wrote its shared segment): this rank's chunk of shard 0 becomes the sum of every
 * shard's chunk (rank r's shard j is shard r * shards + j of the batch), added in that order. */
static void sum_my_chunk(struct clann__reducer *r)
{
    size_t chunk = r->chunk, mine = (size_t)world_rank * chunk, n = 0;
    for (size_t k = 0; k < (size_t)world_size; k++)
        for (size_t j = 0; j < r->shards; j++)
            r->addends[n++] = (r->win ? r->seg[(size_t)(r->round % 2) * (size_t)world_size + k] +
                                            j * r->stride + mine
                                      : r->scratch + j * r->stride + k * chunk);
    sum_parts(r->data + mine, r->addends, n, chunk);
}

/* Orders the ranks' writes and reads of a shared reducer's segments around a barrier. */
static void shared_sync(const struct clann__reducer *r)
{
    MPI_Win_sync(*(MPI_Win *)r->win);
}

/* After the shared sum's second barrier: the next values go to the other segment, while the
 * ranks may still read this one's sums. */
static void next_round(struct clann__reducer *r)
{
    shared_sync(r);
    r->round++;
    r->data = r->seg[(size_t)(r->round % 2) * (size_t)world_size + (size_t)world_rank];
}

static int barrier(MPI_Comm comm)
{
    MPI_Request req;
    int rc = MPI_Ibarrier(comm, &req);
    return rc == MPI_SUCCESS ? wait_for(&req) : rc;
}

/* The shared form of clann__reducer_sum: a barrier once every rank has written its segment,
 * its chunk summed, a barrier once every chunk is. */
static int shared_sum(struct clann__reducer *r)
{
    shared_sync(r);
    int rc = barrier(MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return rc;
    shared_sync(r);
    sum_my_chunk(r);
    shared_sync(r);
    rc = barrier(MPI_COMM_WORLD);
    if (rc == MPI_SUCCESS)
        next_round(r);
    return rc;
}
#endif

enum clann_status clann__reducer_sum(struct clann_context *ctx, struct clann__reducer *r)
{
    if (r->ranks == 1) { /* this process's shards, in order */
        for (size_t j = 0; j < r->shards; j++)
            r->addends[j] = r->data + j * r->stride;
        if (r->shards > 1)
            sum_parts(r->data, r->addends, r->shards, r->n);
        return CLANN_OK;
    }
#if CLANN_HAVE_MPI
    if (r->win) {
        int rc = shared_sum(r);
        return rc == MPI_SUCCESS ? CLANN_OK : mpi_failed(ctx, rc, "MPI_Barrier");
    }
    /* Reduce-scatter by hand: rank k receives every rank's chunk k and adds them in rank
     * order; then every rank gathers every summed chunk. Same traffic as a ring allreduce. */
    int c = (int)r->chunk, rc = MPI_SUCCESS;
    for (size_t j = 0; j < r->shards && rc == MPI_SUCCESS; j++)
        rc = all_to_all(r->data + j * r->stride, c, MPI_FLOAT, r->scratch + j * r->stride);
    if (rc != MPI_SUCCESS)
        return mpi_failed(ctx, rc, "MPI_Alltoall");
    sum_my_chunk(r);
    rc = all_gather(MPI_IN_PLACE, c, MPI_FLOAT, r->data);
    return rc == MPI_SUCCESS ? CLANN_OK : mpi_failed(ctx, rc, "MPI_Allgather");
#else
    (void)ctx, (void)r;
    return CLANN_OK;
#endif
}

enum clann_status clann__bucket_init(struct clann_context *ctx, struct clann__bucket *b,
                                     size_t n)
{
    memset(b, 0, sizeof *b);
    enum clann_status st = clann__reducer_init(ctx, &b->sums, n, 1, true);
#if CLANN_HAVE_MPI
    if (st == CLANN_OK && !(b->req = clann__calloc(1, sizeof(MPI_Request))))
        st = clann__error(ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory for the gradient "
                          "exchange");
#endif
    if (st != CLANN_OK)
        clann__bucket_free(b);
    return st;
}

void clann__bucket_free(struct clann__bucket *b)
{
    clann__free(b->req);
    clann__reducer_free(&b->sums);
    memset(b, 0, sizeof *b);
}

enum clann_status clann__bucket_start(struct clann_context *ctx, struct clann__bucket *b)
{
    b->phase = 3;
    if (world_size == 1)
        return CLANN_OK;
#if CLANN_HAVE_MPI
    int c = (int)b->sums.chunk, rc;
    if (b->sums.win) { /* shared: once every rank has written its segment */
        shared_sync(&b->sums);
        rc = MPI_Ibarrier(MPI_COMM_WORLD, b->req);
    } else {
        rc = MPI_Ialltoall(b->sums.data, c, MPI_FLOAT, b->sums.scratch, c, MPI_FLOAT,
                           MPI_COMM_WORLD, b->req);
    }
    if (rc != MPI_SUCCESS)
        return mpi_failed(ctx, rc, b->sums.win ? "MPI_Ibarrier" : "MPI_Ialltoall");
    b->phase = 1;
    return CLANN_OK;
#else
    (void)ctx;
    return CLANN_OK;
#endif
}

#if CLANN_HAVE_MPI
/* After the all-to-all (or the first barrier): this rank's chunk summed in rank order
 * (clann__reducer_sum's order), then the all-gather of every summed chunk (or the barrier
 * after which every rank reads them from the others' segments). */
static int bucket_gather(struct clann__bucket *b)
{
    bool shared = b->sums.win != NULL;
    if (shared)
        shared_sync(&b->sums);
    sum_my_chunk(&b->sums);
    b->phase = 2;
    int c = (int)b->sums.chunk;
    if (!shared)
        return MPI_Iallgather(MPI_IN_PLACE, c, MPI_FLOAT, b->sums.data, c, MPI_FLOAT,
                              gather_comm, b->req);
    shared_sync(&b->sums);
    return MPI_Ibarrier(gather_comm, b->req);
}

static void bucket_summed(struct clann__bucket *b)
{
    b->phase = 3;
    if (b->sums.win)
        next_round(&b->sums);
}
#endif

enum clann_status clann__bucket_test(struct clann_context *ctx, struct clann__bucket *b,
                                     bool gather, bool wait, bool *done)
{
#if CLANN_HAVE_MPI
    struct timespec nap = {0, 20000}; /* 20 us, as wait_for */
    for (int tests = 0; b->phase == 1 || b->phase == 2; tests++) {
        int finished = 0, rc = MPI_Test(b->req, &finished, MPI_STATUS_IGNORE);
        if (rc == MPI_SUCCESS && finished && b->phase == 1 && !gather)
            break; /* an earlier bucket's all-gather must start first */
        if (rc == MPI_SUCCESS && finished && b->phase == 1)
            rc = bucket_gather(b);
        else if (rc == MPI_SUCCESS && finished)
            bucket_summed(b);
        if (rc != MPI_SUCCESS)
            return mpi_failed(ctx, rc, b->sums.win ? "MPI_Ibarrier"
                                       : b->phase == 1 ? "MPI_Ialltoall" : "MPI_Iallgather");
        if (!wait && !finished)
            break;
        if (!finished && tests >= 200)
            nanosleep(&nap, NULL);
    }
#else
    (void)ctx, (void)gather, (void)wait;
#endif
    *done = b->phase == 3;
    return CLANN_OK;
}

#if CLANN_HAVE_MPI
/* v[0..n) (doubles, else floats) replaced by its sum over the ranks, added in rank order in
 * v's own type after an all-gather on comm. */
static enum clann_status sum_in_rank_order(struct clann_context *ctx, void *v, size_t n,
                                           bool doubles, MPI_Comm comm)
{
    size_t size = doubles ? sizeof(double) : sizeof(float);
    MPI_Datatype type = doubles ? MPI_DOUBLE : MPI_FLOAT;
    char *all = clann__malloc((size_t)world_size * n * size);
    if (!all)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    MPI_Request req;
    int rc = MPI_Iallgather(v, (int)n, type, all, (int)n, type, comm, &req);
    if (rc == MPI_SUCCESS)
        rc = wait_for(&req);
    for (size_t i = 0; i < n && rc == MPI_SUCCESS; i++) {
        if (doubles) {
            double *d = v, *part = (double *)(void *)all;
            d[i] = part[i];
            for (int k = 1; k < world_size; k++)
                d[i] += part[(size_t)k * n + i];
        } else {
            float *f = v, *part = (float *)(void *)all;
            f[i] = part[i];
            for (int k = 1; k < world_size; k++)
                f[i] += part[(size_t)k * n + i];
        }
    }
    clann__free(all);
    return rc == MPI_SUCCESS ? CLANN_OK : mpi_failed(ctx, rc, "MPI_Allgather");
}
#endif

enum clann_status clann__dist_sum_doubles(struct clann_context *ctx, double *v, size_t n)
{
#if CLANN_HAVE_MPI
    if (world_size > 1)
        return sum_in_rank_order(ctx, v, n, true, MPI_COMM_WORLD);
#endif
    (void)ctx, (void)v, (void)n;
    return CLANN_OK;
}

/* Room for n floats in *buf (*cap of them now). */
static enum clann_status reserve(struct clann_context *ctx, float **buf, size_t *cap, size_t n)
{
    if (n <= *cap && *buf)
        return CLANN_OK;
    float *grown = clann__realloc(*buf, (n ? n : 1) * sizeof *grown);
    if (!grown)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory for %zu values of the "
                            "ranks' exchange", n);
    *buf = grown;
    *cap = n;
    return CLANN_OK;
}

#if CLANN_HAVE_MPI
/* MPI's int counts and offsets of the parts, or false when they do not fit an int. */
static bool part_layout(const size_t *counts, int *sizes, int *offsets)
{
    size_t at = 0;
    for (int r = 0; r < world_size; r++) {
        if (counts[r] > (size_t)INT_MAX || at > (size_t)INT_MAX - counts[r])
            return false;
        sizes[r] = (int)counts[r];
        offsets[r] = (int)at;
        at += counts[r];
    }
    return true;
}

/* The first rank whose status in st_n (status, count pairs) is not CLANN_OK, or -1. */
static int first_failed(const uint64_t *st_n)
{
    for (int r = 0; r < world_size; r++)
        if (st_n[2 * (size_t)r] != CLANN_OK)
            return r;
    return -1;
}

static int all_gather_v(const float *send, int n, float *recv, const int *sizes,
                        const int *offsets)
{
    MPI_Request req;
    int rc = MPI_Iallgatherv(send, n, MPI_FLOAT, recv, sizes, offsets, MPI_FLOAT,
                             MPI_COMM_WORLD, &req);
    return rc == MPI_SUCCESS ? wait_for(&req) : rc;
}
#endif

enum clann_status clann__dist_gather_parts(struct clann_context *ctx, enum clann_status local,
                                           const char *what, const float *v, size_t n,
                                           float **all, size_t *cap, size_t *counts)
{
    if (world_size == 1) {
        counts[0] = n;
        enum clann_status st = local ? local : reserve(ctx, all, cap, n);
        if (st == CLANN_OK && n)
            memcpy(*all, v, n * sizeof *v);
        return st;
    }
#if CLANN_HAVE_MPI
    /* Statuses and counts in one gather: a failed rank sends no part, and every rank knows. */
    uint64_t mine[2] = {(uint64_t)local, local == CLANN_OK ? n : 0};
    uint64_t *st_n = clann__malloc(2 * (size_t)world_size * sizeof *st_n);
    int *sizes = clann__malloc(2 * (size_t)world_size * sizeof *sizes);
    if (!st_n || !sizes) {
        clann__free(st_n);
        clann__free(sizes);
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "out of memory");
    }
    int rc = all_gather(mine, 2, MPI_UINT64_T, st_n);
    enum clann_status st = rc == MPI_SUCCESS ? CLANN_OK : mpi_failed(ctx, rc, "MPI_Allgather");
    int failed = st == CLANN_OK ? first_failed(st_n) : -1;
    if (failed >= 0)
        st = local != CLANN_OK ? local /* the failed rank keeps its own message */
             : clann__error(ctx, (enum clann_status)st_n[2 * (size_t)failed], "rank %d failed "
                            "while %s (%s); see its message", failed, what,
                            clann_status_str((enum clann_status)st_n[2 * (size_t)failed]));
    size_t total = 0;
    for (int r = 0; r < world_size && st == CLANN_OK; r++)
        total += counts[r] = (size_t)st_n[2 * (size_t)r + 1];
    if (st == CLANN_OK && !part_layout(counts, sizes, sizes + world_size))
        st = clann__error(ctx, CLANN_ERR_TOO_LARGE, "the ranks' exchange of %zu values "
                          "exceeds MPI's int counts", total);
    if (st == CLANN_OK)
        st = reserve(ctx, all, cap, total);
    if (st == CLANN_OK && (rc = all_gather_v(v, (int)n, *all, sizes, sizes + world_size)) !=
                              MPI_SUCCESS)
        st = mpi_failed(ctx, rc, "MPI_Allgatherv");
    clann__free(st_n);
    clann__free(sizes);
    return st;
#else
    (void)what, (void)v, (void)n, (void)all, (void)cap, (void)counts;
    return local;
#endif
}

enum clann_status clann__dist_sum_floats(struct clann_context *ctx, float *v, size_t n)
{
#if CLANN_HAVE_MPI
    if (world_size > 1)
        return sum_in_rank_order(ctx, v, n, false, stats_comm);
#endif
    (void)ctx, (void)v, (void)n;
    return CLANN_OK;
}
