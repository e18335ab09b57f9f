/*
 * dist.h - the world of processes for data-parallel training (dist.c): who we are, the
 * start-of-fit agreement, and gradient sums in a fixed order. Without MPI in the build, or
 * when the process was not started by an MPI launcher, the world is this process alone and
 * every function here is a no-op that succeeds.
 */
#ifndef CLANN_DIST_H
#define CLANN_DIST_H

#include "core/internal.h"

/* A host buffer summed over the ranks (clann__reducer_sum): data holds n values, padded with
 * zeros to size * chunk; scratch receives every rank's chunk of this rank's share. */
struct clann__reducer {
    float *data, *scratch;
    size_t n, chunk;
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

enum clann_status clann__reducer_init(struct clann_context *ctx, struct clann__reducer *r,
                                      size_t n);
void clann__reducer_free(struct clann__reducer *r);
/* Replaces data[0..n) by its sum over the ranks, added in rank order ((r0 + r1) + r2 ...) on
 * the rank that owns each chunk and then shared, so every rank gets bitwise the same sums and
 * repeated runs the same bits: MPI's own reductions do not fix their order. */
enum clann_status clann__reducer_sum(struct clann_context *ctx, struct clann__reducer *r);
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

#endif /* CLANN_DIST_H */
