/*
 * exchange.c - the overlapped gradient exchange (exchange.h). A bucket goes through: waiting
 * for the backward pass of its lowest layer, being read back from the device (a non-blocking
 * read on OpenCL), summed over the ranks (non-blocking collectives, progressed at every layer
 * of the backward pass: MPI moves data only when called), done. Each kind of collective
 * (all-to-all, all-gather: a communicator each, dist.c) starts in bucket order on every rank,
 * which MPI requires of collectives on one communicator. On a GPU the host enqueues the whole
 * backward pass ahead of the device: the reads then land while the host waits at the end,
 * where every bucket is progressed at once, so the sums of the upper layers run while the
 * device computes the lower ones. The last bucket also carries the batch's loss sum.
 */
#include "train/exchange.h"

#include "backend/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum bucket_state { WAITING, READING, SUMMING, DONE };

struct clann__exchange {
    size_t n_buckets, next;  /* next: the first bucket not yet read */
    size_t n_params;         /* of the model it was cut for */
    struct clann__bucket *b;
    size_t *lo, *hi;         /* each bucket's range in the gradients */
    size_t *ready_layer;     /* its lowest layer: ready once that layer's backward is done */
    void **pending;          /* its device read in flight */
    enum bucket_state *state;
    enum clann_status local; /* this rank's first failure to read a bucket back */
    enum clann_status mpi;   /* the first failed collective: no more are started */
};

void clann__exchange_free(struct clann__exchange *x)
{
    if (!x)
        return;
    for (size_t k = 0; x->b && k < x->n_buckets; k++)
        clann__bucket_free(&x->b[k]);
    clann__free(x->b);
    clann__free(x->lo);
    clann__free(x->hi);
    clann__free(x->ready_layer);
    clann__free(x->pending);
    clann__free(x->state);
    clann__free(x);
}

static size_t bucket_floats(void)
{
    const char *v = getenv("CLANN_DIST_BUCKET_KB");
    long kb = v ? atol(v) : 0;
    return (size_t)(kb > 0 ? kb : 1024) * 1024 / sizeof(float);
}

/* Buckets of whole layers from the top, each closed once it holds `target` values; the last
 * one reaches down to offset 0. Returns the count; fills the arrays when given. */
static size_t cut(const struct clann_model *m, size_t target, struct clann__exchange *x)
{
    size_t n = 0, hi = m->n_params, lo = hi;
    for (size_t i = m->n_layers; i-- > 0;) {
        if (m->layers[i].n_params)
            lo = m->layers[i].w_off;
        if (hi - lo < target && i > 0)
            continue;
        if (x) {
            x->lo[n] = i ? lo : 0;
            x->hi[n] = hi;
            x->ready_layer[n] = i;
        }
        n++;
        hi = lo;
    }
    return n;
}

static bool overlap_wanted(void)
{
    const char *v = getenv("CLANN_DIST_OVERLAP");
    return !v || strcmp(v, "0") != 0;
}

enum clann_status clann__exchange_setup(struct clann_model *m, struct clann_trainer *t)
{
    if (t->exchange && (t->exchange->n_params != m->n_params || !overlap_wanted())) {
        clann__exchange_free(t->exchange);
        t->exchange = NULL;
    }
    if (t->exchange || !overlap_wanted() || m->n_layers == 0)
        return CLANN_OK;
    size_t target = bucket_floats(), n = cut(m, target, NULL);
    struct clann__exchange *x = clann__calloc(1, sizeof *x);
    enum clann_status st = CLANN_OK;
    if (x) {
        x->b = clann__calloc(n, sizeof *x->b);
        x->lo = clann__calloc(n, sizeof *x->lo);
        x->hi = clann__calloc(n, sizeof *x->hi);
        x->ready_layer = clann__calloc(n, sizeof *x->ready_layer);
        x->pending = clann__calloc(n, sizeof *x->pending);
        x->state = clann__calloc(n, sizeof *x->state);
    }
    if (!x || !x->b || !x->lo || !x->hi || !x->ready_layer || !x->pending || !x->state)
        st = clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "fit: out of memory for the gradient "
                          "exchange");
    if (st == CLANN_OK) {
        x->n_buckets = n;
        x->n_params = m->n_params;
        cut(m, target, x);
    }
    for (size_t k = 0; k < n && st == CLANN_OK; k++) /* the last one: + the batch loss */
        st = clann__bucket_init(m->ctx, &x->b[k], x->hi[k] - x->lo[k] + (k + 1 == n));
    if (st != CLANN_OK) {
        clann__exchange_free(x);
        return st;
    }
    t->exchange = x;
    return CLANN_OK;
}

/* Starts reading bucket k back; a rank whose device fails still sums (whatever it holds) and
 * reports the failure when the ranks agree. */
static void read_bucket(struct clann_model *m, struct clann__exchange *x, size_t k)
{
    struct clann__bucket *b = &x->b[k];
    size_t n = x->hi[k] - x->lo[k];
    enum clann_status st = clann__op_download_start(
        m->be, b->sums.data, clann__view(&m->grads, x->lo[k]), n, &x->pending[k]);
    if (st == CLANN_OK && k + 1 == x->n_buckets) /* small: a blocking read */
        st = clann__op_download(m->be, b->sums.data + n,
                                clann__view(&m->scalars, CLANN__SCALAR_BATCH), 1);
    if (st != CLANN_OK) {
        x->pending[k] = NULL; /* a failed start leaves nothing in flight */
        x->local = x->local ? x->local : st;
    }
    x->state[k] = READING;
}

/* Moves every bucket read so far along without waiting: a landed read starts its sum (in
 * bucket order), a sum in flight is progressed. Fails only when MPI does. */
static enum clann_status progress(struct clann_model *m, struct clann__exchange *x)
{
    bool gather = true; /* every earlier bucket has started its all-gather */
    for (size_t k = 0; k < x->next && x->mpi == CLANN_OK; k++) {
        bool done = true;
        if (x->state[k] == READING) {
            enum clann_status st = clann__op_download_test(m->be, x->pending[k], false, &done);
            if (st != CLANN_OK)
                x->local = x->local ? x->local : st;
            if (!done)
                return CLANN_OK; /* the later buckets must start after this one */
            x->pending[k] = NULL;
            x->mpi = clann__bucket_start(m->ctx, &x->b[k]);
            x->state[k] = SUMMING;
        }
        if (x->state[k] == SUMMING && x->mpi == CLANN_OK) {
            x->mpi = clann__bucket_test(m->ctx, &x->b[k], gather, false, &done);
            if (done)
                x->state[k] = DONE;
        }
        gather = gather && x->b[k].phase != 1;
    }
    return x->mpi;
}

/* Progresses every bucket until all are summed: on a GPU the reads of the lower buckets land
 * while the upper ones' sums are in flight, so no bucket waits for another. A short spin, then
 * naps that leave the cores to the ranks still computing (as dist.c's waits). */
static enum clann_status finish_all(struct clann_model *m, struct clann__exchange *x)
{
    struct timespec nap = {0, 20000}; /* 20 us */
    for (int tests = 0;; tests++) {
        enum clann_status st = progress(m, x);
        bool all = true;
        for (size_t k = 0; k < x->n_buckets && all; k++)
            all = x->state[k] == DONE;
        if (st != CLANN_OK || all)
            return st;
        if (tests >= 200)
            nanosleep(&nap, NULL);
    }
}

static enum clann_status grads_ready(struct clann_model *m, size_t layer, void *user)
{
    struct clann__exchange *x = ((struct clann_trainer *)user)->exchange;
    while (x->next < x->n_buckets && x->ready_layer[x->next] >= layer)
        read_bucket(m, x, x->next++);
    return progress(m, x);
}

void clann__exchange_begin(struct clann_model *m, struct clann_trainer *t)
{
    struct clann__exchange *x = t->exchange;
    for (size_t k = 0; k < x->n_buckets; k++)
        x->state[k] = WAITING;
    x->next = 0;
    x->local = x->mpi = CLANN_OK;
    m->grads_ready = grads_ready;
    m->grads_ready_user = t;
}

enum clann_status clann__exchange_end(struct clann_model *m, struct clann_trainer *t,
                                      enum clann_status local)
{
    struct clann__exchange *x = t->exchange;
    m->grads_ready = NULL;
    m->grads_ready_user = NULL;
    if (x->mpi != CLANN_OK)
        return x->mpi; /* the world is broken: no collective would complete */
    while (x->next < x->n_buckets)
        read_bucket(m, x, x->next++);
    enum clann_status st = finish_all(m, x);
    if (st != CLANN_OK)
        return st;
    char what[64];
    snprintf(what, sizeof what, "computing step %llu", (unsigned long long)t->step + 1);
    st = clann__dist_agree(m->ctx, local ? local : x->local, what);
    for (size_t k = 0; k < x->n_buckets && st == CLANN_OK; k++)
        st = clann__exchange_upload(m, &x->b[k].sums, x->lo[k], x->hi[k] - x->lo[k],
                                    k + 1 == x->n_buckets, false);
    return st;
}

enum clann_status clann__exchange_upload(struct clann_model *m, const struct clann__reducer *r,
                                         size_t lo, size_t n, bool loss, bool blocking)
{
    enum clann_status st = CLANN_OK;
    size_t run;
    for (size_t i = 0; i < n && st == CLANN_OK; i += run) {
        const float *sums = clann__reducer_sums(r, i, &run);
        run = run < n - i ? run : n - i;
        st = clann__op_upload(m->be, clann__view(&m->grads, lo + i), sums, run, blocking);
    }
    if (st == CLANN_OK && loss)
        st = clann__op_upload(m->be, clann__view(&m->scalars, CLANN__SCALAR_BATCH),
                              clann__reducer_sums(r, n, &run), 1, blocking);
    return st;
}
