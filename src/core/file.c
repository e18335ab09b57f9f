/*
 * file.c - atomic file replacement and whole-record appends (file.h). The lowest layer, so
 * that the backend's kernel cache writes the way the model files do.
 */
/* realpath() is an XSI extension outside plain POSIX. */
#define _DEFAULT_SOURCE
#include "core/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>

struct clann_file {
    struct clann_context *ctx;
    const char *what;
    char *path;   /* as given, for messages */
    char *target; /* what is replaced: path, or the file a symbolic link points to */
    char *dir;    /* target's folder */
    char *tmp;
    int fd;
    FILE *stream;
    mode_t mode;   /* the replaced file's permissions; 0: none to keep */
    enum clann_status st; /* the first write failure */
};

static int fault_err[CLANN__FILE_SYNC_DIR + 1];

void clann__file_fault(enum clann__file_step step, int err)
{
    if ((unsigned)step <= CLANN__FILE_SYNC_DIR)
        fault_err[step] = err;
}

/* Whether step is armed to fail; sets errno when it is. */
static bool faulty(enum clann__file_step step)
{
    if (!fault_err[step])
        return false;
    errno = fault_err[step];
    return true;
}

static enum clann_status io_error(struct clann_context *ctx, const char *what, const char *path,
                                  const char *step, int err)
{
    char buf[128];
    if (strerror_r(err, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", err);
    return clann__error(ctx, CLANN_ERR_IO, "%s '%s': %s: %s", what, path, step, buf);
}

static enum clann_status fail(struct clann_file *f, const char *step, int err)
{
    return io_error(f->ctx, f->what, f->path, step, err);
}

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = clann__malloc(n);
    return d ? memcpy(d, s, n) : NULL;
}

/* The folder that holds path ("." for a bare name), allocated. */
static char *folder_of(const char *path)
{
    char *dir = clann__malloc(strlen(path) + 2);
    if (!dir)
        return NULL;
    strcpy(dir, path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else
        slash[slash == dir ? 1 : 0] = '\0';
    return dir;
}

static const char *base_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static const char *kind_of(mode_t m)
{
    return S_ISDIR(m)  ? "a folder"
           : S_ISCHR(m) || S_ISBLK(m) ? "a device"
           : S_ISFIFO(m) ? "a fifo"
           : S_ISSOCK(m) ? "a socket"
                         : "not a regular file";
}

/* Sets f->target: path, or the file its symbolic link resolves to. Refuses existing targets
 * that are not regular files: renaming over a folder fails anyway, and over /dev/null would
 * replace the device node with a file. */
static enum clann_status resolve_target(struct clann_file *f)
{
    struct stat sb;
    if (lstat(f->path, &sb) != 0) {
        if (errno != ENOENT)
            return fail(f, "cannot examine it", errno);
        f->target = dup_text(f->path);
        return f->target ? CLANN_OK : clann__error(f->ctx, CLANN_ERR_NO_MEMORY, "%s: out of "
                                                   "memory", f->what);
    }
    if (S_ISLNK(sb.st_mode)) {
        char *real = realpath(f->path, NULL);
        if (!real)
            return fail(f, errno == ENOENT ? "a dangling symbolic link" : "cannot resolve the "
                        "symbolic link", errno);
        f->target = dup_text(real); /* clann__free must be able to free it */
        free(real);
        if (!f->target)
            return clann__error(f->ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", f->what);
        if (stat(f->target, &sb) != 0)
            return fail(f, "cannot examine the file its link points to", errno);
    } else if (!(f->target = dup_text(f->path))) {
        return clann__error(f->ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", f->what);
    }
    if (!S_ISREG(sb.st_mode))
        return clann__error(f->ctx, CLANN_ERR_IO, "%s '%s': %s, not a regular file; clann "
                            "replaces only regular files (by a rename) and leaves it as it is",
                            f->what, f->path, kind_of(sb.st_mode));
    f->mode = sb.st_mode & 07777;
    return CLANN_OK;
}

/* "<dir>/.<XXH64 of the target's name>.tmp.<pid>": fixed-length, unique per target and
 * process. */
static char *temp_name(const char *dir, const char *target)
{
    const char *base = base_of(target);
    size_t len = strlen(dir) + 64;
    char *tmp = clann__malloc(len);
    if (tmp)
        snprintf(tmp, len, "%s/.%016llx.tmp.%ld", dir,
                 (unsigned long long)XXH64(base, strlen(base), 0), (long)getpid());
    return tmp;
}

char *clann__file_temp_path(const char *target)
{
    char *dir = folder_of(target), *tmp = dir ? temp_name(dir, target) : NULL;
    clann__free(dir);
    return tmp;
}

static void file_free(struct clann_file *f)
{
    if (f->stream)
        fclose(f->stream);
    if (f->fd >= 0)
        close(f->fd);
    clann__free(f->path);
    clann__free(f->target);
    clann__free(f->dir);
    clann__free(f->tmp);
    clann__free(f);
}

enum clann_status clann__file_begin(struct clann_context *ctx, const char *what,
                                    const char *path, struct clann_file **out)
{
    *out = NULL;
    if (!path || !*path)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "%s: no file name", what);
    struct clann_file *f = clann__calloc(1, sizeof *f);
    if (!f)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    f->ctx = ctx;
    f->what = what;
    f->fd = -1;
    enum clann_status st = (f->path = dup_text(path)) ? resolve_target(f)
        : clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    if (st == CLANN_OK && (!(f->dir = folder_of(f->target)) ||
                           !(f->tmp = temp_name(f->dir, f->target))))
        st = clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    /* O_NOFOLLOW: a link planted at the temporary name must not redirect the write. */
    if (st == CLANN_OK && (faulty(CLANN__FILE_CREATE) ||
                           (f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC |
                                                     O_NOFOLLOW, 0666)) < 0))
        st = fail(f, "cannot create the temporary file", errno);
    if (st != CLANN_OK) {
        file_free(f);
        return st;
    }
    if (f->mode)
        (void)fchmod(f->fd, f->mode); /* best effort: the replaced file's permissions */
    *out = f;
    return CLANN_OK;
}

enum clann_status clann__file_write(struct clann_file *f, const void *data, size_t n)
{
    const char *p = data;
    while (f->st == CLANN_OK && n > 0) {
        ssize_t w = faulty(CLANN__FILE_WRITE) ? -1 : write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            f->st = fail(f, "cannot write the temporary file", w == 0 ? EIO : errno);
        else
            p += w, n -= (size_t)w;
    }
    return f->st;
}

FILE *clann__file_stream(struct clann_file *f)
{
    if (f->stream)
        return f->stream;
    /* A duplicate shares the offset; closing the stream at commit leaves f->fd to sync. */
    int fd = fault_err[CLANN__FILE_WRITE] ? open("/dev/full", O_WRONLY | O_CLOEXEC)
                                          : dup(f->fd);
    if (fd >= 0 && !(f->stream = fdopen(fd, "w")))
        close(fd);
    return f->stream;
}

/* Closes the stream, reporting its write errors (fclose flushes what is buffered). */
static enum clann_status close_stream(struct clann_file *f)
{
    if (!f->stream)
        return f->st;
    bool bad = ferror(f->stream) != 0;
    errno = 0;
    bad = fclose(f->stream) != 0 || bad;
    f->stream = NULL;
    if (bad && f->st == CLANN_OK)
        f->st = fail(f, "cannot write the temporary file", errno ? errno : EIO);
    return f->st;
}

/* fsync of the folder, so that the rename itself is durable. Filesystems that cannot sync a
 * folder (EINVAL) and folders we may not open for reading are left as they are. */
static enum clann_status sync_folder(struct clann_file *f)
{
    int fd = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int err = fd < 0 ? errno : 0;
    if (fd >= 0 && (faulty(CLANN__FILE_SYNC_DIR) || fsync(fd) != 0))
        err = errno == EINVAL || errno == ENOTSUP ? 0 : errno;
    if (fd >= 0)
        close(fd);
    if (err != 0 && err != EACCES)
        return fail(f, "cannot sync the folder after the rename", err);
    return CLANN_OK;
}

/* Removes the temporary files of this target left by savers that were killed mid-write
 * (".<hash>.tmp.<pid>" with a pid that no longer runs), and those of the older naming
 * "<name>.tmp.<pid>". Best effort: a failure to list or remove is not the save's failure. */
static void remove_stale_temps(const struct clann_file *f)
{
    const char *own = base_of(f->tmp), *base = base_of(f->target);
    size_t own_len = strchr(own + 1, '.') - own + 5; /* ".<hash>.tmp." */
    DIR *d = opendir(f->dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        const char *name = e->d_name, *tail = NULL;
        if (strncmp(name, own, own_len) == 0)
            tail = name + own_len;
        else if (strncmp(name, base, strlen(base)) == 0 &&
                 strncmp(name + strlen(base), ".tmp.", 5) == 0)
            tail = name + strlen(base) + 5;
        char *end;
        long pid = tail ? strtol(tail, &end, 10) : 0;
        /* Only a pid that no longer exists (ESRCH) marks a dead saver's leftover. */
        if (!tail || *end || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        size_t len = strlen(f->dir) + strlen(name) + 2;
        char *full = clann__malloc(len);
        if (full) {
            snprintf(full, len, "%s/%s", f->dir, name);
            unlink(full);
            clann__free(full);
        }
    }
    if (d)
        closedir(d);
}

/* Everything up to the rename: the data is on disk in the temporary file. */
static enum clann_status finish_temp(struct clann_file *f, bool keep_open)
{
    if (close_stream(f) != CLANN_OK)
        return f->st;
    if (faulty(CLANN__FILE_SYNC) || fsync(f->fd) != 0)
        return fail(f, "cannot sync the temporary file", errno);
    if (keep_open)
        return CLANN_OK;
    int rc = close(f->fd);
    f->fd = -1;
    return rc == 0 ? CLANN_OK : fail(f, "cannot close the temporary file", errno);
}

/* Puts the temporary file in the target's place: rename replaces, link refuses to. */
static enum clann_status place(struct clann_file *f, bool replace)
{
    if (replace) {
        if (faulty(CLANN__FILE_RENAME) || rename(f->tmp, f->target) != 0)
            return fail(f, "cannot rename the temporary file over it", errno);
        return CLANN_OK;
    }
    if (faulty(CLANN__FILE_RENAME) || link(f->tmp, f->target) != 0)
        return fail(f, "cannot create", errno);
    unlink(f->tmp);
    return CLANN_OK;
}

static enum clann_status commit(struct clann_file *f, bool replace, int *fd)
{
    enum clann_status st = finish_temp(f, fd != NULL);
    if (st == CLANN_OK)
        st = place(f, replace);
    if (st != CLANN_OK)
        unlink(f->tmp);
    if (st == CLANN_OK)
        st = sync_folder(f);
    if (st == CLANN_OK)
        remove_stale_temps(f);
    if (st == CLANN_OK && fd) {
        *fd = f->fd;
        f->fd = -1;
    }
    file_free(f);
    return st;
}

enum clann_status clann__file_commit(struct clann_file *f)
{
    return commit(f, true, NULL);
}

enum clann_status clann__file_commit_keep(struct clann_file *f, bool replace, int *fd)
{
    *fd = -1;
    return commit(f, replace, fd);
}

void clann__file_abort(struct clann_file *f)
{
    if (!f)
        return;
    if (f->stream)
        fclose(f->stream);
    f->stream = NULL;
    unlink(f->tmp);
    file_free(f);
}

enum clann_status clann__file_replace(struct clann_context *ctx, const char *what,
                                      const char *path, const void *const *data,
                                      const size_t *size, size_t n)
{
    struct clann_file *f;
    enum clann_status st = clann__file_begin(ctx, what, path, &f);
    for (size_t i = 0; st == CLANN_OK && i < n; i++)
        st = clann__file_write(f, data[i], size[i]);
    if (st == CLANN_OK)
        return clann__file_commit(f);
    clann__file_abort(f);
    return st;
}

enum clann_status clann__file_append(struct clann_context *ctx, const char *what,
                                     const char *path, int fd, const void *data, size_t n)
{
    off_t old = lseek(fd, 0, SEEK_END);
    if (old < 0)
        return io_error(ctx, what, path, "cannot append", errno);
    const char *p = data;
    while (n > 0) {
        ssize_t w = faulty(CLANN__FILE_WRITE) ? -1 : write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int err = w == 0 ? EIO : errno;
            /* A partial record would corrupt the log for its readers: cut it away. */
            if (ftruncate(fd, old) != 0 || lseek(fd, old, SEEK_SET) < 0)
                return io_error(ctx, what, path, "cannot write, nor remove the partial record",
                                err);
            return io_error(ctx, what, path, "cannot write", err);
        }
        p += w, n -= (size_t)w;
    }
    return CLANN_OK;
}

enum clann_status clann__make_dirs(struct clann_context *ctx, const char *what, const char *dir,
                                   unsigned mode)
{
    char *path = dup_text(dir);
    if (!path)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", what);
    size_t len = strlen(path);
    enum clann_status st = CLANN_OK;
    for (size_t i = 1; i <= len && st == CLANN_OK; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        struct stat sb;
        int err = 0;
        if (mkdir(path, (mode_t)mode) != 0 && errno != EEXIST)
            err = errno;
        else if (stat(path, &sb) != 0)
            err = errno;
        else if (!S_ISDIR(sb.st_mode))
            err = ENOTDIR;
        if (err)
            st = io_error(ctx, what, path, "cannot create the folder", err);
        path[i] = saved;
    }
    clann__free(path);
    return st;
}

/* ---- The public API: the same writer, with errors recorded for clann_last_error(). ------- */

CLANN_API enum clann_status clann_file_create(const char *path, struct clann_file **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_file_create: out is NULL");
    return clann__file_begin(NULL, "output file", path, out);
}

CLANN_API FILE *clann_file_stream(struct clann_file *file)
{
    return file ? clann__file_stream(file) : NULL;
}

CLANN_API enum clann_status clann_file_commit(struct clann_file *file)
{
    if (!file)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_file_commit: file is NULL");
    return clann__file_commit(file);
}

CLANN_API void clann_file_discard(struct clann_file *file)
{
    clann__file_abort(file);
}
