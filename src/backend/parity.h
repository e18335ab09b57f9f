/*
 * parity.h - the op-parity harness shared by `clann check` (check.c) and the backend test suite
 * (tests/test-backend.c): run one op on a backend over canary-guarded buffers, then compare its
 * outputs with the CPU reference's under the criteria of docs/testing.md (NMSE <= 1e-7, NaN
 * and infinities where the reference has them, bit-identical random draws).
 */
#ifndef CLANN_BACKEND_PARITY_H
#define CLANN_BACKEND_PARITY_H

#include "backend/backend.h"

#include <stdbool.h>
#include <stddef.h>

#define CLANN__PARITY_MAX_TENSORS 8
#define CLANN__PARITY_PRE 10   /* canary floats before each view (so every view has an offset) */
#define CLANN__PARITY_POST 127 /* canary floats after it, as in CLBlast */
#define CLANN__PARITY_CANARY_BITS 0x7fc0deadu /* a NaN pattern no op writes */
#define CLANN__PARITY_NMSE_MAX 1e-7

/* An op under test: its tensors as views (a NULL view where the case has no initial data). */
typedef enum clann_status (*clann__parity_op)(struct clann_backend *be, struct clann_view *v,
                                              const void *arg);

/* nt tensors of n[t] floats, initialized from init[t]; init[t] NULL gives a NULL view. */
struct clann__parity_case {
    size_t nt;
    size_t n[CLANN__PARITY_MAX_TENSORS];
    float *init[CLANN__PARITY_MAX_TENSORS];
};

/* Runs op on be over fresh buffers of PRE + n[t] + POST floats whose guard zones hold the canary
 * pattern. res[t] gets tensor t after the op (clann__malloc'd; NULL for NULL views); free them
 * with clann__parity_free(). *canary is the first tensor whose guard zone changed (and *at the
 * position relative to the view), or c->nt when every guard zone is intact. A failed op leaves
 * res all NULL and returns its status. */
enum clann_status clann__parity_run(struct clann_backend *be, const struct clann__parity_case *c,
                                    clann__parity_op op, const void *arg, float **res,
                                    size_t *canary, long *at);
void clann__parity_free(float **res, size_t nt);

/* How a tensor must match the reference's. */
enum clann__parity_match {
    CLANN__MATCH_NMSE,    /* NMSE <= 1e-7, no NaN on either side */
    CLANN__MATCH_BITS,    /* bit-identical (random draws) */
    CLANN__MATCH_SPECIAL, /* NaN where the reference has NaN, the same infinity where it has one,
                             finite values within a relative 1e-5 (inputs with NaN and Inf) */
};

bool clann__parity_special_match(float ref, float got);
/* Index of the first element of got that breaks `how` against ref, or n. */
size_t clann__parity_first_mismatch(enum clann__parity_match how, const float *ref,
                                    const float *got, size_t n);
/* NMSE = sum (ref - got)^2 / sum ref^2: over every element for MATCH_NMSE (NaN anywhere gives
 * infinity), over the elements finite on both sides otherwise. */
double clann__parity_nmse(enum clann__parity_match how, const float *ref, const float *got,
                          size_t n);

#endif /* CLANN_BACKEND_PARITY_H */
