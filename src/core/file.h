/*
 * file.h - the one way clann writes a file (file.c): model files, checkpoints, the kernel
 * binary cache, run logs and every file the CLI writes go through it.
 *
 * Replacing a file: the bytes go to a temporary file in the target's folder, which is fsynced,
 * renamed over the target, and the folder fsynced; a crash or an error leaves the old file or
 * the new one, never a mix, and on any failure the temporary file is removed and the old file
 * is left as it was. The temporary name is short and fixed in length whatever the target's
 * (".<16 hex digits>.tmp.<pid>", the digits a hash of the target's name), so a 250-byte target
 * name still gives a name under NAME_MAX; a later save of the same target removes those of
 * savers that died.
 *
 * Targets: a missing one is created; an existing one must be a regular file (a device node,
 * fifo, socket or folder is refused, so /dev/null survives); a symbolic link is followed: the
 * file it points to is replaced and the link kept (a dangling link is refused). Errors are
 * ERR_IO naming the path and the system's error text, ERR_NO_MEMORY, ERR_INVALID_ARG.
 *
 * Append-style files (run logs) are created the same way with their first bytes and then grow
 * by whole records: clann__file_append() writes a record entirely or truncates it away.
 */
#ifndef CLANN_CORE_FILE_H
#define CLANN_CORE_FILE_H

#include "core/internal.h"

#include <stdio.h>

struct clann_file;

/* Starts replacing path; `what` heads messages ("model save"). *out is NULL on failure. */
enum clann_status clann__file_begin(struct clann_context *ctx, const char *what,
                                    const char *path, struct clann_file **out);

/* Writes n bytes (write(2) directly, looping over short writes). The first failure is
 * returned and remembered: commit then fails too. */
enum clann_status clann__file_write(struct clann_file *f, const void *data, size_t n);

/* A stdio stream on the temporary file, for text writers (fprintf). Owned by f: commit
 * flushes and closes it, and a write error in it fails the commit. NULL when out of memory. */
FILE *clann__file_stream(struct clann_file *f);

/* Syncs, renames over the target, syncs the folder; frees f whatever happens. */
enum clann_status clann__file_commit(struct clann_file *f);

/* Like commit, but keeps the file open: *fd (which the caller closes; -1 on failure) appends
 * to it. replace false: fails with ERR_IO (EEXIST) when the target exists. */
enum clann_status clann__file_commit_keep(struct clann_file *f, bool replace, int *fd);

/* Removes the temporary file and frees f (NULL: no-op). */
void clann__file_abort(struct clann_file *f);

/* One call: the file becomes the n parts (data[i], size[i]) in order. */
enum clann_status clann__file_replace(struct clann_context *ctx, const char *what,
                                      const char *path, const void *const *data,
                                      const size_t *size, size_t n);

/* Appends n bytes to the file open on fd (a log made by clann__file_commit_new) whole or
 * not at all: after a failed or short write the file is cut back to its old length. path and
 * what name it in messages. */
enum clann_status clann__file_append(struct clann_context *ctx, const char *what,
                                     const char *path, int fd, const void *data, size_t n);

/* mkdir -p: the folders it creates get mode (less the umask); ERR_IO naming the folder that
 * could not be made or is not a folder. */
enum clann_status clann__make_dirs(struct clann_context *ctx, const char *what, const char *dir,
                                   unsigned mode);

/* The temporary file a write of target (not a symbolic link) uses, clann__malloc'ed: tests
 * plant stale ones. */
char *clann__file_temp_path(const char *target);

/* Test hook: the given step of every later write fails with err (0 disarms). A WRITE fault
 * on a stream comes from /dev/full, so it reads ENOSPC whatever err is. */
enum clann__file_step {
    CLANN__FILE_CREATE,
    CLANN__FILE_WRITE,
    CLANN__FILE_SYNC,
    CLANN__FILE_RENAME,
    CLANN__FILE_SYNC_DIR,
};
void clann__file_fault(enum clann__file_step step, int err);

#endif /* CLANN_CORE_FILE_H */
