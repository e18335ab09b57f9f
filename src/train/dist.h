/*
 * dist.h - the world of processes for data-parallel training (dist.c): who we are, the
 * start-of-fit agreement, and gradient sums in a fixed order. Without MPI in the build, or
 * when the process was not started by an MPI launcher, the world is this process alone and
 * every function here is a no-op that succeeds.
 */
#ifndef CLANN_DIST_H
#define CLANN_DIST_H

#include "core/internal.h"

/* A host buffer summed over the ranks (clann__reducer_sum): the caller writes n values (and
 * with `shards` > 1, one block of n per shard of the batch this rank computed: block j at
 * data + j * stride), padded with zeros to stride = size * chunk; the sum leaves each chunk's
 * sums where clann__reducer_sums finds them. Two forms, the same sums bit for bit (dist.c):
 * - MPI's data moves: scratch receives every rank's chunk of this rank's share (all-to-all),
 *   and the summed chunks are all-gathered back into data;
 * - one machine: data lies in a segment shared by the ranks (an MPI-3 shared-memory window,
 *   two segments a rank used in turn, `round`'s parity), each rank sums its chunk straight from
 *   the others' segments and the ranks read the sums from where they were written: no copy
 *   through MPI, two barriers. */
struct clann__reducer {
    float *data, *scratch;
    const float **addends; /* where each shard's share of this rank's chunk is, for its sum */
    size_t n, chunk, stride, shards;
    size_t ranks;   /* 1: this process's shards alone (a fit that is not distributed) */
    void *win;      /* the shared window (an MPI_Win), or NULL for MPI's data moves */
    float **seg;    /* shared: rank r's segment of parity p at seg[p * size + r] */
    unsigned round; /* sums done: data is segment round % 2 of this rank */
};
/* Ranks in the world: 1 without MPI or without a launcher. */
int clann__dist_size(void);
int clann__dist_rank(void);

/* Every rank contributes its status; when one failed, every rank returns an error naming the
 * lowest failed rank (the failed rank returns its own status and message untouched). `what`
 * says what was being done ("setting up the fit", "step 12"). */
enum clann_status clann__dist_agree(struct clann_context *ctx, enum clann_status local,
                                    const char *what);
/* Checks that the n values are the same on every rank; names[i] names value i in the message
 * naming the first rank that differs from rank 0. */
enum clann_status clann__dist_check_same(struct clann_context *ctx, const uint64_t *v, size_t n,
                                         const char *const *names);

/* across: summed over the world's ranks, else over this process's shards alone. */
enum clann_status clann__reducer_init(struct clann_context *ctx, struct clann__reducer *r,
                                      size_t n, size_t shards, bool across);
/* A shared reducer's window is freed collectively: every rank frees its reducers at the same
 * point (the end of a fit, train/fit.c). */
void clann__reducer_free(struct clann__reducer *r);
/* Sums data[0..n) over the ranks and shards (read them with clann__reducer_sums), added in
 * the batch's shard order ((s0 + s1) + s2 ..., rank after rank) on the rank that owns each
 * chunk and then shared, so every rank gets bitwise the same sums and repeated runs the same
 * bits (MPI's own reductions do not fix their order), and with shards, any number of ranks
 * that divides them the same bits as one process. */
enum clann_status clann__reducer_sum(struct clann_context *ctx, struct clann__reducer *r);
/* Where the last sum left value i: *run values from there on are contiguous (its chunk's). */
const float *clann__reducer_sums(const struct clann__reducer *r, size_t i, size_t *run);
/* One bucket of the overlapped gradient exchange (train/exchange.c): clann__reducer_sum's
 * reduce-scatter and all-gather on data[0..n), as non-blocking collectives driven by
 * clann__bucket_test, so that several buckets are in flight while the backward pass goes on.
 * The sums are clann__reducer_sum's, added in the same rank order: bitwise the same values. */
struct clann__bucket {
    struct clann__reducer sums; /* its values (sums.data), summed as clann__reducer_sum does */
    int phase; /* 0 idle, 1 all-to-all in flight, 2 all-gather in flight, 3 summed */
    void *req; /* its MPI_Request (NULL without MPI) */
};

enum clann_status clann__bucket_init(struct clann_context *ctx, struct clann__bucket *b,
                                     size_t n);
void clann__bucket_free(struct clann__bucket *b);
/* Starts summing data[0..n) (this rank's values) over the ranks. Every rank must start the
 * same buckets in the same order. */
enum clann_status clann__bucket_start(struct clann_context *ctx, struct clann__bucket *b);
/* Progresses the bucket's collectives; *done once data holds the sums. gather: it may start
 * its all-gather (false while an earlier bucket has not started its own: they must start in
 * bucket order). wait: until done (a short spin, then naps that leave the cores to the ranks
 * still computing); needs gather. */
enum clann_status clann__bucket_test(struct clann_context *ctx, struct clann__bucket *b,
                                     bool gather, bool wait, bool *done);

/* The same for a few doubles (epoch counts), summed in rank order. */
enum clann_status clann__dist_sum_doubles(struct clann_context *ctx, double *v, size_t n);

/* Gathers every rank's n floats (n may differ between ranks) into *all, rank after rank (grown
 * as needed: *cap floats; give it room for the most to keep allocation out of a step);
 * counts[r] receives rank r's n. Data only: no sums. As clann__dist_agree, every rank first
 * contributes its status `local` (in the same message as the counts): when one failed, none
 * sends its part and every rank returns an error naming the lowest failed rank and `what`. */
enum clann_status clann__dist_gather_parts(struct clann_context *ctx, enum clann_status local,
                                           const char *what, const float *v, size_t n,
                                           float **all, size_t *cap, size_t *counts);
/* The same for a few floats (batch normalization's statistics), on a communicator of their own
 * (dist.c): callable while an overlapped exchange is in flight. */
enum clann_status clann__dist_sum_floats(struct clann_context *ctx, float *v, size_t n);

#endif /* CLANN_DIST_H */
