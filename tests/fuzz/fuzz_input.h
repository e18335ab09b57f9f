/*
 * fuzz_input.h - what the libFuzzer targets share: an input as a file the loaders can open by
 * path (a memory file, named through /proc/self/fd), without touching the disk.
 */
#ifndef CLANN_FUZZ_INPUT_H
#define CLANN_FUZZ_INPUT_H

#define _GNU_SOURCE
#include "clann.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data to a new memory file; its path goes to path (>= 64 bytes). Returns the fd to
 * close after use. */
static inline int fuzz_input_file(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("clann-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w <= 0)
            abort();
        data += w;
        size -= (size_t)w;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

/* Loads the input as a matrix file with load: a failed load must leave the matrix empty, a
 * loaded one must hold rows x cols finite floats; anything else aborts (a finding). */
static inline int fuzz_matrix_loader(const uint8_t *data, size_t size,
                                     enum clann_status (*load)(const char *, struct clann_matrix *))
{
    char path[64];
    int fd = fuzz_input_file(data, size, path, sizeof path);
    struct clann_matrix m;
    if (load(path, &m) == CLANN_OK) {
        for (size_t i = 0; i < m.rows * m.cols; i++)
            if (!isfinite(m.data[i]))
                abort();
        clann_matrix_free(&m);
    } else if (m.data) {
        abort();
    }
    close(fd);
    return 0;
}

#endif /* CLANN_FUZZ_INPUT_H */
