/*
 * fuzz_model_load.c - libFuzzer target for the model-file and checkpoint loaders (docs/testing.md
 * #52): every input is written to a memory file and loaded on a CPU context, as a model and
 * as a checkpoint. Any crash, sanitizer report, leak or abort is a finding; failing to load is
 * the expected outcome for almost every input.
 */
#define _GNU_SOURCE
#include "clann.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One context for the whole run: creating it per input would dominate the time. */
static struct clann_context *context(void)
{
    static struct clann_context *ctx;
    if (!ctx) {
        struct clann_context_params p = clann_context_default_params();
        p.device = "cpu";
        p.use_cache = false;
        if (clann_context_create(&p, &ctx) != CLANN_OK)
            abort();
    }
    return ctx;
}

static void write_all(int fd, const uint8_t *data, size_t size)
{
    while (size > 0) {
        ssize_t w = write(fd, data, size);
        if (w <= 0)
            abort();
        data += w;
        size -= (size_t)w;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("clann-fuzz", MFD_CLOEXEC);
    if (fd < 0)
        abort();
    write_all(fd, data, size);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    struct clann_model *m = NULL;
    if (clann_model_load(context(), path, &m) == CLANN_OK) {
        /* A model that loads must be usable: run it once. */
        size_t n = clann_model_input_count(m);
        struct clann_matrix x, y;
        if (n <= 4096 && clann_matrix_create(2, n, &x) == CLANN_OK) {
            if (clann_model_predict(m, &x, &y) == CLANN_OK)
                clann_matrix_free(&y);
            clann_matrix_free(&x);
        }
        clann_model_destroy(m);
    } else if (m) {
        abort(); /* a failed load must leave *out NULL */
    }
    size_t epoch;
    if (clann_model_load_checkpoint(context(), path, &m, &epoch) == CLANN_OK)
        clann_model_destroy(m);
    close(fd);
    return 0;
}
