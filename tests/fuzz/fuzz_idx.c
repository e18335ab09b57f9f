/*
 * fuzz_idx.c - libFuzzer target for the IDX loader, raw and gzip-compressed (zlib reads both
 * through one path, so the fuzzer reaches the gzip branch by writing a gzip header). A failed
 * load must leave the matrix empty; a loaded one must hold rows x cols finite floats.
 */
#include "fuzz_input.h"

#include "clann.h"

#include <math.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_input_file(data, size, path, sizeof path);
    struct clann_matrix m;
    if (clann_idx_load(path, &m) == CLANN_OK) {
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
