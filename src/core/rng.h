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

/* The purposes of random numbers. Every use takes its stream from clann__rng_stream(purpose,
 * index), so that no two uses share numbers; each enumerator is its purpose's stream at index 0.
 * The stream space (32 bits) is laid out as stream = 16 * block + slot:
 *
 *   blocks 0..999, slots 1, 3, 4, 5  layer `block`: initialization, dropout, RReLU, noise
 *   block 0, slots 2, 6, 7, 15       epoch shuffles, data splits, sampled softmax, tests
 *   block 1000, slots 5 + index      step noise: index 1 the weights, 2 the gradients
 *   block 1001, slot 5               label noise
 *   16 * 2^20 + 1 + index            initialization of embedding table `index`
 *
 * Slots 0 and 8..14 are free. The layout is frozen: a moved stream changes the numbers of every
 * run, and tests check that reruns and devices agree bit for bit. (A model of 1000 layers or
 * more would reach block 1000 with its layer streams.) */
enum clann__rng_stream {
    CLANN__RNG_STREAM_INIT = 1,    /* index: the layer */
    CLANN__RNG_STREAM_SHUFFLE = 2, /* epoch shuffles */
    CLANN__RNG_STREAM_DROPOUT = 3, /* index: the layer */
    CLANN__RNG_STREAM_RRELU = 4,   /* index: the layer */
    CLANN__RNG_STREAM_NOISE = 5,   /* Gaussian noise layers; index: the layer */
    CLANN__RNG_STREAM_SPLIT = 6,   /* data splits */
    CLANN__RNG_STREAM_SAMPLED = 7, /* sampled softmax candidates */
    CLANN__RNG_STREAM_TEST = 15,
    CLANN__RNG_STREAM_STEP_NOISE = 16 * 1000 + 5,        /* index: 1 weights, 2 gradients */
    CLANN__RNG_STREAM_LABEL_NOISE = 16 * 1001 + 5,
    CLANN__RNG_STREAM_TABLE_INIT = 16 * (1 << 20) + 1    /* index: the embedding table */
};

/* The stream of `purpose` at `index`: a block (16 streams) per index, except for step noise and
 * embedding tables, whose indices are consecutive streams (see the layout above). */
static inline uint32_t clann__rng_stream(enum clann__rng_stream purpose, uint32_t index)
{
    uint32_t stride = purpose == CLANN__RNG_STREAM_STEP_NOISE ||
                              purpose == CLANN__RNG_STREAM_TABLE_INIT ? 1u : 16u;
    return (uint32_t)purpose + stride * index;
}

#endif /* CLANN_RNG_H */
