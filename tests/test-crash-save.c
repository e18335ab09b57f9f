/*
 * test-crash-save.c - crash safety of clann_model_save(): a child process saving two models
 * alternately to one path is killed at many points, and the file must then load as exactly one
 * of the two models. Kills come two ways: the child kills itself at a chosen step (every byte
 * written, every fsync and every rename is one step, counted by the write/fsync/rename
 * wrappers below), which reaches each stage of a save deterministically; and the parent kills
 * it after a varying short time, which reaches whatever the wrappers do not model.
 *
 * Contexts are CPU-only in reference mode (no worker thread), so a forked child may save with
 * the parent's models; OpenCL is never initialized here.
 */
#define _DEFAULT_SOURCE /* syscall() */
#include "testutil.h"
#include "core/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Kill points. These definitions take the place of libc's for the library objects linked into
 * this executable; with no budget armed they only pass the call through.
 */
static long kill_budget = -1; /* steps the child may still take; -1: no limit */

/* Takes n steps (at most what is left); when none is left the process dies here. */
static size_t take_steps(size_t n)
{
    if (kill_budget < 0)
        return n;
    if (kill_budget == 0)
        raise(SIGKILL);
    size_t k = n < (size_t)kill_budget ? n : (size_t)kill_budget;
    kill_budget -= (long)k;
    return k;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    /* A short write is legal, so the saver must loop: the budget cuts the write mid-way. */
    size_t k = n ? take_steps(n) : 0;
    return (ssize_t)syscall(SYS_write, fd, buf, k);
}

int fsync(int fd)
{
    take_steps(1);
    return (int)syscall(SYS_fsync, fd);
}

int rename(const char *from, const char *to)
{
    take_steps(1);
    return renameat(AT_FDCWD, from, AT_FDCWD, to);
}

/* ---------------------------------------------------------------------------------------------
 * The two models and their reference contents.
 */
struct reference {
    struct clann_model *m;
    float *params;
    size_t n;
    char *spec;
    long file_size; /* bytes of its saved file */
};

static struct clann_model *build_model(struct clann_context *ctx, size_t inputs,
                                       const size_t *units, size_t n_layers, uint32_t seed)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, inputs, &m), CLANN_OK);
    for (size_t i = 0; i < n_layers; i++) {
        struct clann_dense_params d = clann_dense_default_params(
            units[i], i + 1 < n_layers ? CLANN_ACTIVATION_RELU : CLANN_ACTIVATION_LINEAR);
        ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    }
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = 4;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    /* Values of our own, so the two models differ in every parameter. */
    size_t n = clann_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    ck_assert_ptr_nonnull(p);
    uint32_t s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)((int32_t)(s >> 8) - (1 << 23)) / (float)(1 << 20);
    }
    ck_assert_int_eq(clann_model_set_params(m, p, n), CLANN_OK);
    free(p);
    return m;
}

static void reference_init(struct reference *r, struct clann_model *m, const char *path)
{
    r->m = m;
    r->n = clann_model_param_count(m);
    r->params = malloc(r->n * sizeof *r->params);
    ck_assert_ptr_nonnull(r->params);
    ck_assert_int_eq(clann_model_get_params(m, r->params, r->n), CLANN_OK);
    ck_assert_int_eq(clann_model_spec_json(m, &r->spec), CLANN_OK);
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    r->file_size = (long)st.st_size;
}

static void reference_free(struct reference *r)
{
    free(r->params);
    clann_string_free(r->spec);
    clann_model_destroy(r->m);
}

/* Whether m holds exactly r's spec and parameters, bit for bit. */
static bool same_model(struct clann_model *m, const struct reference *r)
{
    size_t n = clann_model_param_count(m);
    char *spec;
    ck_assert_int_eq(clann_model_spec_json(m, &spec), CLANN_OK);
    bool same = n == r->n && strcmp(spec, r->spec) == 0;
    clann_string_free(spec);
    float *p = malloc((n ? n : 1) * sizeof *p);
    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(clann_model_get_params(m, p, n), CLANN_OK);
    same = same && memcmp(p, r->params, n * sizeof *p) == 0;
    free(p);
    return same;
}

/* Loads path and returns which reference it equals: 0 (A) or 1 (B); fails the test when it
 * does not load or equals neither. */
static int load_which(struct clann_context *ctx, const char *path, const struct reference ab[2])
{
    struct clann_model *m = NULL;
    ck_assert_msg(clann_model_load(ctx, path, &m) == CLANN_OK, "load after a kill: %s",
                  clann_last_error());
    int which = same_model(m, &ab[0]) ? 0 : same_model(m, &ab[1]) ? 1 : -1;
    clann_model_destroy(m);
    ck_assert_msg(which >= 0, "the file loads but is neither model A nor model B");
    return which;
}

/* ---------------------------------------------------------------------------------------------
 * The folder.
 */
static char scratch[256];

static void scratch_make(void)
{
    ck_assert(test_scratch_make(scratch, sizeof scratch, "clann-crash-save"));
}

/* Counts the files in the scratch folder whose name contains `part`; with remove, deletes
 * them too. */
static size_t scratch_count(const char *part, bool remove)
{
    DIR *d = opendir(scratch);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!strstr(e->d_name, part) || strcmp(e->d_name, ".") == 0 ||
            strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", scratch, e->d_name);
        if (remove)
            ck_assert_int_eq(unlink(sub), 0);
    }
    closedir(d);
    return n;
}

/* ---------------------------------------------------------------------------------------------
 * The saving child.
 */

/* Saves B, A, B, A, ... to path until killed (budget < 0: by the parent). Exits 1 on a failed
 * save, which the parent reports. */
static pid_t spawn_saver(const struct reference ab[2], const char *path, long budget)
{
    fflush(NULL); /* nothing buffered may be written twice */
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid > 0)
        return pid;
    kill_budget = budget;
    for (unsigned k = 0;; k++) {
        if (clann_model_save(ab[(k + 1) % 2].m, path) != CLANN_OK) {
            fprintf(stderr, "child save: %s\n", clann_last_error());
            _exit(1);
        }
    }
}

static void reap_killed(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        ck_assert_int_eq(errno, EINTR);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "the saving child did not die by SIGKILL (status %d)", status);
}

/* The file a child with this budget leaves: its first save (B) renames at step size_b + 2
 * (bytes, then fsync), its second (A) 3 + size_a + 2 steps later; -1: the old file. */
static int expected_after(long budget, const struct reference ab[2])
{
    long rename_b = ab[1].file_size + 2, rename_a = rename_b + 1 + ab[0].file_size + 2;
    if (budget >= rename_a)
        return 0;
    return budget >= rename_b ? 1 : -1;
}

/* The kill budgets: every step around each stage boundary of the first two saves, then an
 * even spread over all of them. */
static size_t budgets(const struct reference ab[2], long *out, size_t max)
{
    long b = ab[1].file_size, a = ab[0].file_size, total = b + 3 + a + 3;
    const long edges[] = {0, 1, b - 1, b, b + 1, b + 2, b + 3, b + 4,
                          b + 3 + a - 1, b + 3 + a, b + 3 + a + 1, b + 3 + a + 2, total};
    size_t n = 0;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++)
        out[n++] = edges[i];
    size_t spread = max - n;
    for (size_t i = 0; i < spread; i++)
        out[n++] = (long)((double)total * (double)i / (double)spread);
    return n;
}

#define N_STEP_KILLS 80
#define N_TIMED_KILLS 30

struct tally {
    size_t kills, ended[2];
};

/* One child per budget, each killing itself; the file must be exactly the one predicted. */
static void step_kills(struct clann_context *ctx, const struct reference ab[2],
                       const char *path, struct tally *t)
{
    long list[N_STEP_KILLS];
    size_t n = budgets(ab, list, N_STEP_KILLS);
    int current = 0; /* the file holds A: saved last by reference_init() */
    for (size_t i = 0; i < n; i++) {
        reap_killed(spawn_saver(ab, path, list[i]));
        int which = load_which(ctx, path, ab), want = expected_after(list[i], ab);
        ck_assert_msg(which == (want < 0 ? current : want),
                      "killed at step %ld: the file is model %c", list[i], "AB"[which]);
        current = which;
        t->kills++;
        t->ended[which]++;
    }
}

/* Children killed by the parent after 0 to 20 ms: at whatever point the timing hits. */
static void timed_kills(struct clann_context *ctx, const struct reference ab[2],
                        const char *path, struct tally *t)
{
    for (unsigned i = 0; i < N_TIMED_KILLS; i++) {
        pid_t pid = spawn_saver(ab, path, -1);
        usleep(i * 20000u / (N_TIMED_KILLS - 1));
        ck_assert_int_eq(kill(pid, SIGKILL), 0);
        reap_killed(pid);
        int which = load_which(ctx, path, ab);
        t->kills++;
        t->ended[which]++;
    }
}

/* A save after the kills: stale temporary files of dead savers must not make it fail, and it
 * leaves no temporary file of its own, even when a stale one has its very name (a reused
 * pid). */
static void save_after_kills(struct clann_context *ctx, const struct reference ab[2],
                             const char *path)
{
    char *own = clann__file_temp_path(path);
    ck_assert_ptr_nonnull(own);
    FILE *f = fopen(own, "wb");
    ck_assert_ptr_nonnull(f);
    for (long i = 0; i < 2 * ab[1].file_size; i++)
        fputc('#', f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_msg(clann_model_save(ab[1].m, path) == CLANN_OK, "%s", clann_last_error());
    ck_assert_int_eq(access(own, F_OK), -1);
    ck_assert_int_eq(load_which(ctx, path, ab), 1);
    clann__free(own);
}

START_TEST(test_killed_saver)
{
    scratch_make();
    char path[300];
    snprintf(path, sizeof path, "%s/model.safetensors", scratch);
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    const size_t units_a[] = {3}, units_b[] = {5, 2};
    struct reference ab[2];
    reference_init(&ab[1], build_model(ctx, 4, units_b, 2, 2), path);
    reference_init(&ab[0], build_model(ctx, 2, units_a, 1, 1), path);
    ck_assert_int_eq(scratch_count(".tmp.", false), 0);

    struct tally t = {0, {0, 0}};
    step_kills(ctx, ab, path, &t);
    timed_kills(ctx, ab, path, &t);
    size_t stale = scratch_count(".tmp.", false);
    save_after_kills(ctx, ab, path);
    /* Each dead saver may leave its own temporary file (named by its pid) behind. */
    ck_assert_uint_le(scratch_count(".tmp.", false), stale);
    fprintf(stderr, "crash-save: %zu kills; the file was A %zu times, B %zu times; "
            "%zu stale temporary files left by killed savers\n",
            t.kills, t.ended[0], t.ended[1], stale);

    scratch_count(".tmp.", true);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(scratch), 0);
    reference_free(&ab[0]);
    reference_free(&ab[1]);
    clann_context_destroy(ctx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("crash-save");
    TCase *tc = tcase_create("kill");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_killed_saver);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
