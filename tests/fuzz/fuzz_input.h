/*
 * fuzz_input.h - what the libFuzzer targets share: an input as a file the loaders can open by
 * path (a memory file, named through /proc/self/fd), without touching the disk.
 */
#ifndef CLANN_FUZZ_INPUT_H
#define CLANN_FUZZ_INPUT_H

#define _GNU_SOURCE
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

#endif /* CLANN_FUZZ_INPUT_H */
