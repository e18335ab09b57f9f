/*
 * rng.h - host access to the counter-based generator of cl/philox.clh (the same source the
 * OpenCL kernels compile), for the CPU backend, data shuffling and tests.
 */
#ifndef CLANN_RNG_H
#define CLANN_RNG_H

#include <stdint.h>

/* Value j of the uniform (0, 1) stream `stream` under `seed`. */
float clann__rng_uniform(uint64_t seed, uint32_t stream, uint64_t j);
/* Value j of the standard normal stream. */
float clann__rng_normal(uint64_t seed, uint32_t stream, uint64_t j);
/* Raw 32-bit word j of the stream (for integer draws such as shuffles). */
uint32_t clann__rng_bits(uint64_t seed, uint32_t stream, uint64_t j);

/* Streams used by the library, so that no two uses share random numbers. */
enum clann__rng_stream {
    CLANN__RNG_STREAM_INIT = 1,    /* weight initialization: stream + layer index * 16 */
    CLANN__RNG_STREAM_SHUFFLE = 2, /* epoch shuffles */
    CLANN__RNG_STREAM_DROPOUT = 3, /* + layer index * 16 */
    CLANN__RNG_STREAM_RRELU = 4,   /* + layer index * 16 */
    CLANN__RNG_STREAM_NOISE = 5,   /* + layer index * 16 */
    CLANN__RNG_STREAM_SPLIT = 6,   /* data splits */
    CLANN__RNG_STREAM_SAMPLED = 7, /* sampled softmax candidates */
    CLANN__RNG_STREAM_TEST = 15
};

#endif /* CLANN_RNG_H */
