/*
 * test-file.c - the one file writer (src/core/file.c) and every kind of file that goes through
 * it: model files, checkpoints, the kernel binary cache, run logs (log.csv, event files) and
 * the public stream the CLI writes predictions, reports, split.json and eval.json with.
 *
 * Failures are injected at each step (create, write, sync, rename) through the writer's test
 * hook; a write fault on a stream is a real ENOSPC from /dev/full. Each must give ERR_IO naming
 * the path and the system's error text, leave the old file byte for byte, and leave no
 * temporary file. Targets that are not regular files (/dev/null above all) must survive.
 */
#include "testutil.h"
#include "core/file.h"
#include "io/tfevents.h"
#include "train/runlog.h"
#if CLANN_HAVE_OPENCL
#include "backend/cl_cache.h"
#endif

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[256];

static void scratch_make(void)
{
    ck_assert(test_scratch_make(scratch, sizeof scratch, "clann-file"));
}

/* Files in folder whose name contains ".tmp.". */
static size_t temps_in(const char *folder)
{
    DIR *d = opendir(folder);
    ck_assert_ptr_nonnull(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return n;
}

static char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void assert_io_error(enum clann_status st, const char *path, int err)
{
    ck_assert_msg(st == CLANN_ERR_IO, "%s: %s", clann_status_name(st), clann_last_error());
    ck_assert_msg(strstr(clann_last_error(), path), "'%s' lacks the path", clann_last_error());
    ck_assert_msg(strstr(clann_last_error(), strerror(err)), "'%s' lacks '%s'",
                  clann_last_error(), strerror(err));
}

/* The writers under test: each writes `path` with its own kind of content. */
typedef enum clann_status (*writer_fn)(const char *path, void *user);

static enum clann_status raw_writer(const char *path, void *user)
{
    const void *parts[2] = {"new ", "contents\n"};
    const size_t sizes[2] = {4, 9};
    (void)user;
    return clann__file_replace(NULL, "raw", path, parts, sizes, 2);
}

static enum clann_status stream_writer(const char *path, void *user)
{
    struct clann_file *f;
    (void)user;
    enum clann_status st = clann_file_create(path, &f);
    if (st != CLANN_OK)
        return st;
    FILE *s = clann_file_stream(f);
    ck_assert_ptr_nonnull(s);
    for (int i = 0; i < 20000; i++) /* past stdio's buffer, so writes reach the file */
        fprintf(s, "row %d\n", i);
    return clann_file_commit(f);
}

static enum clann_status model_writer(const char *path, void *user)
{
    return clann_model_save(user, path);
}

static enum clann_status checkpoint_writer(const char *path, void *user)
{
    return clann_model_save_checkpoint(user, path, 3);
}

static struct clann_model *tiny_model(struct clann_context *ctx)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = 4;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    return m;
}

/* One fault at one step: the writer fails naming the path and the error, the old file stays
 * byte for byte, no temporary file is left; then the same write succeeds unfaulted. */
static void fault_case(writer_fn w, void *user, enum clann__file_step step, int err)
{
    char path[300];
    snprintf(path, sizeof path, "%s/target", scratch);
    write_text(path, "old contents\n");
    clann__file_fault(step, err);
    enum clann_status st = w(path, user);
    clann__file_fault(step, 0);
    /* A stream's write fault comes from /dev/full: ENOSPC whatever was asked. */
    assert_io_error(st, path, step == CLANN__FILE_WRITE && w == stream_writer ? ENOSPC : err);
    size_t len;
    char *now = read_whole(path, &len);
    ck_assert_str_eq(now, "old contents\n");
    free(now);
    ck_assert_uint_eq(temps_in(scratch), 0);
    ck_assert_msg(w(path, user) == CLANN_OK, "%s", clann_last_error());
    ck_assert_uint_eq(temps_in(scratch), 0);
    unlink(path);
}

static void all_faults(writer_fn w, void *user)
{
    fault_case(w, user, CLANN__FILE_CREATE, EROFS); /* a read-only folder */
    fault_case(w, user, CLANN__FILE_CREATE, EACCES);
    fault_case(w, user, CLANN__FILE_WRITE, ENOSPC); /* a full disk */
    fault_case(w, user, CLANN__FILE_WRITE, EIO);
    fault_case(w, user, CLANN__FILE_SYNC, EIO);
    fault_case(w, user, CLANN__FILE_RENAME, EIO);
}

START_TEST(test_faults_every_kind)
{
    scratch_make();
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_model *m = tiny_model(ctx);
    all_faults(raw_writer, NULL);
    all_faults(stream_writer, NULL);
    all_faults(model_writer, m);
    all_faults(checkpoint_writer, m);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* Devices, fifos and folders are refused and left as they are: /dev/null stays a device. */
START_TEST(test_non_regular_targets)
{
    scratch_make();
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_model *m = tiny_model(ctx);
    char fifo[300], dir[300];
    snprintf(fifo, sizeof fifo, "%s/fifo", scratch);
    snprintf(dir, sizeof dir, "%s/folder", scratch);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    const char *targets[] = {"/dev/null", fifo, dir};
    const char *kinds[] = {"a device", "a fifo", "a folder"};
    writer_fn writers[] = {raw_writer, stream_writer, model_writer, checkpoint_writer};
    for (size_t t = 0; t < 3; t++) {
        for (size_t w = 0; w < 4; w++) {
            enum clann_status st = writers[w](targets[t], m);
            ck_assert_int_eq(st, CLANN_ERR_IO);
            ck_assert_ptr_nonnull(strstr(clann_last_error(), targets[t]));
            ck_assert_msg(strstr(clann_last_error(), kinds[t]), "%s", clann_last_error());
        }
    }
    struct stat sb;
    ck_assert_int_eq(stat("/dev/null", &sb), 0);
    ck_assert(S_ISCHR(sb.st_mode));
    ck_assert_int_eq(lstat(fifo, &sb), 0);
    ck_assert(S_ISFIFO(sb.st_mode));
    ck_assert_int_eq(lstat(dir, &sb), 0);
    ck_assert(S_ISDIR(sb.st_mode));
    ck_assert_uint_eq(temps_in(scratch), 0);
    ck_assert_uint_eq(temps_in("/dev"), 0);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* A 250-byte name (NAME_MAX is 255) still gets a temporary file: its name is short. */
START_TEST(test_long_names)
{
    scratch_make();
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    struct clann_model *m = tiny_model(ctx), *back;
    char name[251], path[600];
    memset(name, 'n', 250);
    name[250] = '\0';
    snprintf(path, sizeof path, "%s/%s", scratch, name);
    ck_assert_msg(raw_writer(path, NULL) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(stream_writer(path, NULL) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    ck_assert_int_eq(clann_model_load(ctx, path, &back), CLANN_OK);
    clann_model_destroy(back);
    char *tmp = clann__file_temp_path(path);
    ck_assert_uint_lt(strlen(strrchr(tmp, '/') + 1), 40);
    clann__free(tmp);
    ck_assert_uint_eq(temps_in(scratch), 0);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* A link is followed: the file it points to is replaced and the link kept. A dangling link is
 * refused. */
START_TEST(test_symlinks)
{
    scratch_make();
    char real[300], link_path[300], dangling[300];
    snprintf(real, sizeof real, "%s/real", scratch);
    snprintf(link_path, sizeof link_path, "%s/link", scratch);
    snprintf(dangling, sizeof dangling, "%s/dangling", scratch);
    write_text(real, "old\n");
    ck_assert_int_eq(symlink("real", link_path), 0);
    ck_assert_int_eq(symlink("nowhere", dangling), 0);
    ck_assert_msg(raw_writer(link_path, NULL) == CLANN_OK, "%s", clann_last_error());
    struct stat sb;
    ck_assert_int_eq(lstat(link_path, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    size_t len;
    char *now = read_whole(real, &len);
    ck_assert_str_eq(now, "new contents\n");
    free(now);
    assert_io_error(raw_writer(dangling, NULL), dangling, ENOENT);
    ck_assert_int_eq(lstat(dangling, &sb), 0);
    ck_assert(S_ISLNK(sb.st_mode));
    ck_assert_uint_eq(temps_in(scratch), 0);
    test_remove_tree(scratch);
}
END_TEST

/* A real read-only folder where permissions bind (not root), a missing folder everywhere. */
START_TEST(test_unwritable_folders)
{
    scratch_make();
    char path[400];
    snprintf(path, sizeof path, "%s/missing/out.csv", scratch);
    assert_io_error(stream_writer(path, NULL), path, ENOENT);
    if (geteuid() != 0) {
        char ro[300];
        snprintf(ro, sizeof ro, "%s/ro", scratch);
        ck_assert_int_eq(mkdir(ro, 0700), 0);
        snprintf(path, sizeof path, "%s/out.csv", ro);
        write_text(path, "old contents\n");
        ck_assert_int_eq(chmod(ro, 0500), 0);
        assert_io_error(stream_writer(path, NULL), path, EACCES);
        ck_assert_int_eq(chmod(ro, 0700), 0);
    }
    test_remove_tree(scratch);
}
END_TEST

/* A saver killed mid-write leaves its temporary file; the next save of that target removes
 * it when its pid no longer runs. */
START_TEST(test_stale_temps_removed)
{
    scratch_make();
    char path[300], stale[400];
    snprintf(path, sizeof path, "%s/target", scratch);
    char *own = clann__file_temp_path(path);
    char *dot = strrchr(own, '.');
    snprintf(stale, sizeof stale, "%.*s.%d", (int)(dot - own), own, INT_MAX - 1); /* no such pid */
    clann__free(own);
    write_text(stale, "half a file");
    ck_assert_uint_eq(temps_in(scratch), 1);
    ck_assert_int_eq(raw_writer(path, NULL), CLANN_OK);
    ck_assert_uint_eq(temps_in(scratch), 0);
    test_remove_tree(scratch);
}
END_TEST

static size_t lines_of(const char *path)
{
    size_t len, n = 0;
    char *text = read_whole(path, &len);
    for (size_t i = 0; i < len; i++)
        n += text[i] == '\n';
    ck_assert_msg(len == 0 || text[len - 1] == '\n', "%s ends in half a line", path);
    free(text);
    return n;
}

static const struct clann_epoch_log epoch_row = {1, 10, 0.5, 0.9, 0.6, 0.8,
                                                  1.0, 0.01, 0, 0.7, NAN, 0.0};

/* A run log on a full disk: no log.csv at all (not an empty one); later, a failed row leaves
 * the file with whole rows only. */
START_TEST(test_run_log_full_disk)
{
    scratch_make();
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_REFERENCE);
    char logdir[300], csv[400];
    snprintf(logdir, sizeof logdir, "%s/run", scratch);
    snprintf(csv, sizeof csv, "%s/log.csv", logdir);
    struct clann_runlog *log;
    clann__file_fault(CLANN__FILE_WRITE, ENOSPC);
    ck_assert_int_eq(clann__runlog_open(ctx, logdir, NULL, 2, &log), CLANN_ERR_IO);
    clann__file_fault(CLANN__FILE_WRITE, 0);
    ck_assert_ptr_nonnull(strstr(clann_context_last_error(ctx), strerror(ENOSPC)));
    ck_assert_int_eq(access(csv, F_OK), -1);
    ck_assert_uint_eq(temps_in(logdir), 0);
    DIR *d = opendir(logdir);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(e->d_name[0] == '.', "%s left in the run folder", e->d_name);
    closedir(d);

    ck_assert_int_eq(clann__runlog_open(ctx, logdir, NULL, 2, &log), CLANN_OK);
    ck_assert_int_eq(clann__runlog_epoch(log, &epoch_row), CLANN_OK);
    ck_assert_uint_eq(lines_of(csv), 2);
    clann__file_fault(CLANN__FILE_WRITE, ENOSPC);
    ck_assert_int_eq(clann__runlog_epoch(log, &epoch_row), CLANN_ERR_IO);
    clann__file_fault(CLANN__FILE_WRITE, 0);
    ck_assert_uint_eq(lines_of(csv), 2);
    ck_assert_int_eq(clann__runlog_epoch(log, &epoch_row), CLANN_OK);
    ck_assert_uint_eq(lines_of(csv), 3);
    ck_assert_int_eq(clann__runlog_close(log), CLANN_OK);
    ck_assert_uint_eq(temps_in(logdir), 0);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* The event file: created whole or not at all, and never replaces an existing one. */
START_TEST(test_event_file_faults)
{
    scratch_make();
    struct clann_tfevents *w;
    for (int step = CLANN__FILE_CREATE; step <= CLANN__FILE_RENAME; step++) {
        clann__file_fault((enum clann__file_step)step, EIO);
        ck_assert_int_eq(clann__tfevents_open(scratch, &w), CLANN_ERR_IO);
        clann__file_fault((enum clann__file_step)step, 0);
        ck_assert_ptr_null(w);
        DIR *d = opendir(scratch);
        struct dirent *e;
        while ((e = readdir(d)) != NULL)
            ck_assert_msg(e->d_name[0] == '.', "%s left behind", e->d_name);
        closedir(d);
    }
    ck_assert_int_eq(clann__tfevents_open(scratch, &w), CLANN_OK);
    struct clann_tfevents *w2;
    ck_assert_int_eq(clann__tfevents_open(scratch, &w2), CLANN_OK);
    ck_assert_str_ne(clann__tfevents_path(w), clann__tfevents_path(w2));
    ck_assert_int_eq(clann__tfevents_scalar(w, "loss", 1, -1, 0.5f), CLANN_OK);
    clann__file_fault(CLANN__FILE_WRITE, ENOSPC);
    assert_io_error(clann__tfevents_flush(w), clann__tfevents_path(w), ENOSPC);
    clann__file_fault(CLANN__FILE_WRITE, 0);
    ck_assert_int_eq(clann__tfevents_close(w), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_close(w2), CLANN_OK);
    test_remove_tree(scratch);
}
END_TEST

#if CLANN_HAVE_OPENCL
/* The kernel cache: a failed store is a miss later, never a partial entry. */
START_TEST(test_kernel_cache_faults)
{
    scratch_make();
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cache/a", scratch);
    const unsigned char payload[] = "program binary";
    static const char key[] = "program key";
    unsigned char *got;
    size_t len;
    for (int step = CLANN__FILE_CREATE; step <= CLANN__FILE_RENAME; step++) {
        clann__file_fault((enum clann__file_step)step, ENOSPC);
        ck_assert(!clann__cl_cache_store(dir, key, sizeof key, payload, sizeof payload));
        clann__file_fault((enum clann__file_step)step, 0);
        ck_assert(!clann__cl_cache_load(dir, key, sizeof key, &got, &len));
        ck_assert_uint_eq(temps_in(dir), 0);
    }
    ck_assert(clann__cl_cache_store(dir, key, sizeof key, payload, sizeof payload));
    ck_assert(clann__cl_cache_load(dir, key, sizeof key, &got, &len));
    ck_assert_uint_eq(len, sizeof payload);
    clann__free(got);
    struct stat sb;
    ck_assert_int_eq(stat(dir, &sb), 0);
    ck_assert_uint_eq(sb.st_mode & 0777, 0700);
    test_remove_tree(scratch);
}
END_TEST
#endif

int main(void)
{
    Suite *s = suite_create("file");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_faults_every_kind);
    tcase_add_test(tc, test_non_regular_targets);
    tcase_add_test(tc, test_long_names);
    tcase_add_test(tc, test_symlinks);
    tcase_add_test(tc, test_unwritable_folders);
    tcase_add_test(tc, test_stale_temps_removed);
    tcase_add_test(tc, test_run_log_full_disk);
    tcase_add_test(tc, test_event_file_faults);
#if CLANN_HAVE_OPENCL
    tcase_add_test(tc, test_kernel_cache_faults);
#endif
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
