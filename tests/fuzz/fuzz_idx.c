/*
 * fuzz_idx.c - libFuzzer target for the IDX loader, raw and gzip-compressed (zlib reads both
 * through one path, so the fuzzer reaches the gzip branch by writing a gzip header). A failed
 * load must leave the matrix empty; a loaded one must hold rows x cols finite floats.
 */
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_matrix_loader(data, size, clann_idx_load);
}
