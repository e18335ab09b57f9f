/*
 * status.c - status names and texts, error recording, the log hook, checked allocation and the
 * few platform helpers the rest of the library shares.
 */
/* madvise(MADV_HUGEPAGE) is a Linux extension outside POSIX. */
#define _DEFAULT_SOURCE
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static _Thread_local char last_error[CLANN_ERROR_MAX];

CLANN_API const char *clann_version(void)
{
    return CLANN_VERSION;
}

CLANN_API const char *clann_status_str(enum clann_status status)
{
    switch (status) {
#define CLANN_STATUS_TEXT_(name, value, text) case CLANN_##name: return text;
        CLANN_STATUS_MAP(CLANN_STATUS_TEXT_)
#undef CLANN_STATUS_TEXT_
    }
    return "unknown status";
}

CLANN_API const char *clann_status_name(enum clann_status status)
{
    switch (status) {
#define CLANN_STATUS_NAME_(name, value, text) case CLANN_##name: return #name;
        CLANN_STATUS_MAP(CLANN_STATUS_NAME_)
#undef CLANN_STATUS_NAME_
    }
    return "UNKNOWN";
}

CLANN_API const char *clann_last_error(void)
{
    return last_error;
}

enum clann_status clann__verror(struct clann_context *ctx, enum clann_status status,
                                const char *fmt, va_list ap)
{
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    if (ctx)
        memcpy(ctx->error, last_error, sizeof ctx->error);
    clann__log(CLANN_LOG_LEVEL_DEBUG, "%s: %s", clann_status_name(status), last_error);
    return status;
}

enum clann_status clann__error(struct clann_context *ctx, enum clann_status status,
                               const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    clann__verror(ctx, status, fmt, ap);
    va_end(ap);
    return status;
}

void clann__error_append(struct clann_context *ctx, const char *fmt, ...)
{
    size_t used = strlen(last_error);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error + used, sizeof last_error - used, fmt, ap);
    va_end(ap);
    if (ctx)
        memcpy(ctx->error, last_error, sizeof ctx->error);
}

void clann__error_to_context(struct clann_context *ctx)
{
    if (ctx)
        memcpy(ctx->error, last_error, sizeof ctx->error);
}

/* The log hook is process-wide: set it before creating contexts on other threads. */
static clann_log_fn log_fn;
static void *log_user;
static enum clann_log_level log_min = CLANN_LOG_LEVEL_INFO;

CLANN_API void clann_log_set(clann_log_fn fn, enum clann_log_level min_level, void *user)
{
    log_fn = fn;
    log_user = user;
    log_min = min_level;
}

void clann__log(enum clann_log_level level, const char *fmt, ...)
{
    if (!log_fn || level < log_min)
        return;
    char msg[CLANN_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_fn(level, msg, log_user);
}

bool clann__mul_size(size_t n, size_t size, size_t *out)
{
    if (size != 0 && n > SIZE_MAX / size)
        return false;
    *out = n * size;
    return true;
}

/* Allocation failure injection for tests: counts down across threads without locking, which is
 * fine for the single-threaded tests that use it. */
static long alloc_countdown;

void clann__alloc_fail_after(long n)
{
    alloc_countdown = n;
}

static bool alloc_should_fail(void)
{
    if (alloc_countdown <= 0)
        return false;
    if (alloc_countdown == 1)
        return true; /* stays at 1: every later allocation fails too */
    alloc_countdown--;
    return false;
}

void *clann__malloc(size_t size)
{
    return alloc_should_fail() ? NULL : malloc(size ? size : 1);
}

/* Big buffers (embedding tables and their optimizer state) are read at random rows: with 4 KiB
 * pages nearly every row costs a TLB miss on top of its cache miss, which made a step with a
 * 10^6-id table 20% slower than with 10^4 ids. Aligned to 2 MiB and marked for transparent huge
 * pages, the same table needs 64 TLB entries instead of 32768. Where THP is off or not Linux
 * this is plain malloc memory; free it with clann__free as any other. */
void *clann__malloc_large(size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    if (size >= huge) {
        if (alloc_should_fail())
            return NULL;
        void *p = NULL;
        if (posix_memalign(&p, huge, size) != 0)
            return NULL;
        (void)madvise(p, size, MADV_HUGEPAGE); /* advice only: failure leaves small pages */
        return p;
    }
#endif
    return clann__malloc(size);
}

void *clann__calloc(size_t n, size_t size)
{
    return alloc_should_fail() ? NULL : calloc(n ? n : 1, size ? size : 1);
}

void *clann__realloc(void *p, size_t size)
{
    return alloc_should_fail() ? NULL : realloc(p, size ? size : 1);
}

void clann__free(void *p)
{
    free(p);
}

double clann__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *clann__getenv(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}
