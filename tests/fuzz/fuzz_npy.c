/*
 * fuzz_npy.c - libFuzzer target for the NPY loader: every input is loaded as a .npy file. A
 * failed load must leave the matrix empty; a loaded one must hold rows x cols finite floats.
 */
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_matrix_loader(data, size, clann_npy_load);
}
