/*
 * cpu_pool.c - the CPU backend's second thread: FAST mode cuts a large op in two halves, one
 * for the calling thread and one for a worker.
 */
#include "backend/cpu_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Second thread. A training step of a small model is a chain of GEMMs of 20-500 us each, too
 * short for BLAS threading: OpenBLAS 0.3.21 with 2 threads is slower than with 1 on every
 * GEMM of the Fashion-MNIST MLP. FAST mode instead cuts a large op in two halves: the caller
 * posts the second half to one worker thread, runs the first, and then runs the second
 * itself if the worker has not picked it up yet - so a busy or descheduled worker never
 * leaves a half waiting, it only loses its share. Both sides spin briefly before sleeping,
 * because the gaps between the GEMMs of a step are tens of microseconds.
 *
 * The job word `state` is (sequence << 2) | phase; the worker takes a job with a
 * compare-and-swap from POSTED to TAKEN, the caller cancels it with one from POSTED to DONE,
 * so exactly one of them runs the second half.
 */

enum { JOB_POSTED = 1, JOB_TAKEN = 2, JOB_DONE = 3 };

#define POOL_SPIN_SECONDS 100e-6


struct cpu_pool {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the worker sleeps on it: a job was posted, or quit */
    pthread_cond_t done; /* the caller sleeps on it: the worker finished its half */
    atomic_uint state;
    atomic_bool worker_sleeping, caller_sleeping, quit;
    unsigned seq;
    void (*fn)(void *arg, int half);
    void *arg;
};

static double pool_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static bool job_posted(unsigned s)
{
    return (s & 3u) == JOB_POSTED;
}

/* Spins up to POOL_SPIN_SECONDS until `state` satisfies the test, then returns whether it
 * does. The clock is read every 64 polls: polls are cheaper than clock reads. */
static bool pool_spin(struct cpu_pool *p, bool posted, unsigned want)
{
    double t0 = pool_now();
    for (unsigned i = 1;; i++) {
        unsigned s = atomic_load(&p->state);
        if (posted ? job_posted(s) || atomic_load(&p->quit) : s == want)
            return true;
        if (i % 64 == 0 && pool_now() - t0 > POOL_SPIN_SECONDS)
            return false;
    }
}

/* The worker: the sleeping flag is set under the lock before the state is re-checked, and the
 * poster reads the flag after publishing the state, so a wake-up is never lost. */
static unsigned pool_wait_job(struct cpu_pool *p)
{
    if (!pool_spin(p, true, 0)) {
        pthread_mutex_lock(&p->lock);
        atomic_store(&p->worker_sleeping, true);
        while (!job_posted(atomic_load(&p->state)) && !atomic_load(&p->quit))
            pthread_cond_wait(&p->wake, &p->lock);
        atomic_store(&p->worker_sleeping, false);
        pthread_mutex_unlock(&p->lock);
    }
    return atomic_load(&p->state);
}

static void *pool_main(void *arg)
{
    struct cpu_pool *p = arg;
    for (;;) {
        unsigned s = pool_wait_job(p);
        if (atomic_load(&p->quit))
            return NULL;
        unsigned base = s & ~3u;
        if (!job_posted(s) || !atomic_compare_exchange_strong(&p->state, &s, base | JOB_TAKEN))
            continue; /* the caller ran it itself */
        p->fn(p->arg, 1);
        atomic_store(&p->state, base | JOB_DONE);
        if (atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->lock);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->lock);
        }
    }
}

/* Runs fn(arg, 0) and fn(arg, 1), the second on the worker when it is ready in time. */
void pool_run(struct cpu_pool *p, void (*fn)(void *, int), void *arg)
{
    p->fn = fn;
    p->arg = arg;
    unsigned base = ++p->seq << 2, posted = base | JOB_POSTED;
    atomic_store(&p->state, posted);
    if (atomic_load(&p->worker_sleeping)) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_signal(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
    fn(arg, 0);
    if (atomic_compare_exchange_strong(&p->state, &posted, base | JOB_DONE)) {
        fn(arg, 1); /* the worker has not started: no point waiting for it */
        return;
    }
    if (pool_spin(p, false, base | JOB_DONE))
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->caller_sleeping, true);
    while (atomic_load(&p->state) != (base | JOB_DONE))
        pthread_cond_wait(&p->done, &p->lock);
    atomic_store(&p->caller_sleeping, false);
    pthread_mutex_unlock(&p->lock);
}

void pool_destroy(struct cpu_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->quit, true);
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->lock);
    clann__free(p);
}

/* NULL when the thread cannot be started: FAST mode then runs on the calling thread alone. */
struct cpu_pool *pool_create(void)
{
    struct cpu_pool *p = clann__calloc(1, sizeof *p);
    if (!p)
        return NULL;
    atomic_init(&p->state, 0);
    atomic_init(&p->worker_sleeping, false);
    atomic_init(&p->caller_sleeping, false);
    atomic_init(&p->quit, false);
    bool ok = pthread_mutex_init(&p->lock, NULL) == 0;
    ok = ok && pthread_cond_init(&p->wake, NULL) == 0;
    ok = ok && pthread_cond_init(&p->done, NULL) == 0;
    if (ok && pthread_create(&p->thread, NULL, pool_main, p) == 0)
        return p;
    clann__log(CLANN_LOG_LEVEL_WARN, "cpu backend: cannot start a worker thread; using one");
    clann__free(p); /* (a failed init leaves nothing to destroy that matters here) */
    return NULL;
}

/* Threads for FAST mode: CLANN_CPU_THREADS when set (1 turns the worker off), else 2 when the
 * machine has two or more cores. More than 2 leaves the splitting to the BLAS library. */
long fast_threads(void)
{
    const char *env = clann__getenv("CLANN_CPU_THREADS");
    long n = env ? strtol(env, NULL, 10) : 0;
    if (n > 0)
        return n;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 2 ? 2 : 1;
}

