/*
 * matrix.c - the host matrix: a row-major block of floats owned by its struct.
 */
#define _DEFAULT_SOURCE /* madvise */
#include "core/internal.h"

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

/* Asks for transparent huge pages on a large block before it is first touched: first-touch
 * page faults dominate filling a big matrix, and 2 MiB pages cut them 512-fold. Advice only. */
void clann__advise_huge(void *p, size_t bytes)
{
#ifdef MADV_HUGEPAGE
    const uintptr_t huge = (uintptr_t)2 << 20;
    uintptr_t begin = ((uintptr_t)p + huge - 1) & ~(huge - 1);
    uintptr_t end = ((uintptr_t)p + bytes) & ~(huge - 1);
    if (end > begin)
        madvise((void *)begin, end - begin, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

CLANN_API enum clann_status clann_matrix_create(size_t rows, size_t cols, struct clann_matrix *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_matrix_create: out is NULL");
    memset(out, 0, sizeof *out);
    size_t n, bytes;
    if (!clann__mul_size(rows, cols, &n) || !clann__mul_size(n, sizeof(float), &bytes))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE,
                            "matrix of %zu x %zu floats exceeds the address space", rows, cols);
    float *data = NULL;
    if (n > 0) {
        data = clann__calloc(n, sizeof(float));
        if (!data)
            return clann__error(NULL, CLANN_ERR_NO_MEMORY,
                                "out of memory allocating a %zu x %zu matrix (%zu bytes)", rows,
                                cols, bytes);
        clann__advise_huge(data, bytes);
    }
    out->rows = rows;
    out->cols = cols;
    out->data = data;
    return CLANN_OK;
}

CLANN_API void clann_matrix_free(struct clann_matrix *m)
{
    if (!m)
        return;
    clann__free(m->data);
    memset(m, 0, sizeof *m);
}
