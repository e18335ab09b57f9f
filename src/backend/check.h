/*
 * check.h - the op half of the device self-check (`clann check`, clann_device_check() in
 * train/device_check.c): every backend op on a device against the CPU reference, through the
 * op-parity harness the backend tests use (parity.h).
 */
#ifndef CLANN_BACKEND_CHECK_H
#define CLANN_BACKEND_CHECK_H

#include "backend/backend.h"

#include <stdbool.h>
#include <stdint.h>

#define CLANN__CHECK_POOL 12

struct clann__check {
    struct clann_context *ref; /* the CPU backend in REFERENCE mode */
    struct clann_context *dev; /* the device under test */
    const char *tag;           /* appended to op names: "" or e.g. " [tiled]" */
    bool quick;                /* fewer shapes */
    struct clann_check_report *report;
    uint64_t draw;             /* next value of the Philox test stream */
    float *pool[CLANN__CHECK_POOL]; /* the current case's inputs */
    size_t npool;
    bool oom;
};

/* Appends an entry to the report (counting it in failed when it did not pass). */
enum clann_status clann__check_record(struct clann_check_report *r,
                                      const struct clann_check_entry *e);
/* Every op but GEMM: forward and backward at several shapes, special values, the RNG streams. */
enum clann_status clann__check_ops(struct clann__check *ck);
/* GEMM: all transposes, odd shapes, padded leading dimensions, alpha and beta over {0, 1, 2.5},
 * beta = 0 over a NaN-filled C; ck->dev runs the path under test. */
enum clann_status clann__check_gemm(struct clann__check *ck);

/* Auto's warm-up check of a device: a few ops of a training step at small shapes
 * (milliseconds); a failure is an entry of the report like any other. */
enum clann_status clann__check_warmup(struct clann__check *ck);

#endif /* CLANN_BACKEND_CHECK_H */
