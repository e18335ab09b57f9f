/*
 * rng.c - the host side of the shared Philox generator.
 */
#include "core/rng.h"

#include "../../cl/philox.clh"

float clann__rng_uniform(uint64_t seed, uint32_t stream, uint64_t j)
{
    return philox_uniform(seed, stream, j);
}

float clann__rng_normal(uint64_t seed, uint32_t stream, uint64_t j)
{
    return philox_normal(seed, stream, j);
}

uint32_t clann__rng_bits(uint64_t seed, uint32_t stream, uint64_t j)
{
    uint64_t block = j >> 2;
    return philox_word(seed, (uint32_t)block, (uint32_t)(block >> 32), stream, (uint32_t)(j & 3));
}
