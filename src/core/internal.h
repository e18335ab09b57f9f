/*
 * internal.h - what every part of the library shares: error recording, logging, checked
 * allocation and the context structure. Never installed.
 */
#ifndef CLANN_INTERNAL_H
#define CLANN_INTERNAL_H

#include "clann.h"

#include <stdarg.h>
#include <stddef.h>

#define CLANN_ERROR_MAX 8192
#define CLANN__PROFILE_MAX 64 /* op names in a profile: more than the ops table has */

struct clann_backend;

/* Created and destroyed by the backend layer (src/backend/context.c), which alone can reach
 * the registry of backends. */
struct clann_context {
    struct clann_device_info device;
    struct clann_backend *be;
    double build_seconds;
    bool build_from_cache;
    double gemm_warmup_seconds; /* CLBlast's warm-up (compile and check), 0 without one */
    char gemm_note[192];        /* the GEMM path and why (clann_context_gemm) */
    size_t models;        /* live models on this context (clann__context_retain) */
    bool destroy_pending; /* clann_context_destroy() came while models lived */
    struct clann_op_profile profile[CLANN__PROFILE_MAX]; /* clann_context_profile() */
    size_t n_profile;
    char error[CLANN_ERROR_MAX];
};

#if defined(__GNUC__)
#define CLANN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLANN_PRINTF(f, a)
#endif

/* Records a failure: formats the message into the thread's last-error buffer and, when ctx is
 * not NULL, into ctx's. Returns status so that callers can write `return clann__error(...)`. */
enum clann_status clann__error(struct clann_context *ctx, enum clann_status status,
                               const char *fmt, ...) CLANN_PRINTF(3, 4);
enum clann_status clann__verror(struct clann_context *ctx, enum clann_status status,
                                const char *fmt, va_list ap);
/* Appends text to the last error (thread and ctx), e.g. a build log after a headline. */
void clann__error_append(struct clann_context *ctx, const char *fmt, ...) CLANN_PRINTF(2, 3);
/* Copies the thread's last error into ctx (after a call that had no ctx failed). */
void clann__error_to_context(struct clann_context *ctx);

void clann__log(enum clann_log_level level, const char *fmt, ...) CLANN_PRINTF(2, 3);

/* Overflow-checked n * size; returns false on overflow. */
bool clann__mul_size(size_t n, size_t size, size_t *out);

/* malloc/calloc/realloc that go through one hook, so tests can inject failures. */
void *clann__malloc(size_t size);
void *clann__malloc_large(size_t size);
void *clann__calloc(size_t n, size_t size);
void *clann__realloc(void *p, size_t size);
void clann__free(void *p);
/* Test hook: the Nth allocation from now (1-based) and every later one fail; 0 disables. */
void clann__alloc_fail_after(long n);

/* Advice to back a large block with transparent huge pages before it is first touched
 * (src/data/matrix.c): first-touch page faults dominate filling big data sets. */
void clann__advise_huge(void *p, size_t bytes);

/* Seconds from a monotonic clock. */
double clann__now(void);

/* Environment variable or NULL when unset or empty. */
const char *clann__getenv(const char *name);

#endif /* CLANN_INTERNAL_H */
