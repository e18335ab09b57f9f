/*
 * strmap.h - strings to dense indices 0..n-1 in insertion order (strmap.c), and the one string
 * hash of the library. Used by the feature columns (vocabularies, value counts) and the table
 * (duplicate header names).
 */
#ifndef CLANN_DATA_STRMAP_H
#define CLANN_DATA_STRMAP_H

#include "core/internal.h"

#include <stdint.h>

/* XXH64 with seed 0 of s[0..len): stable across platforms and releases of xxHash, so hashed
 * feature ids survive a save and load anywhere. CLANN__HASH_NAME names it in model files. */
#define CLANN__HASH_NAME "xxh64-seed0"
uint64_t clann__hash_text(const char *s, size_t len);

/* Open addressing on clann__hash_text; zero-initialized is empty. */
struct clann__strmap {
    size_t n, cap;     /* entries; slots (a power of two) */
    size_t *slots;     /* entry + 1, 0 when empty */
    char **keys;       /* n owned keys, in index order */
    size_t *counts;    /* per entry (fitting) */
    size_t kcap;
};

void clann__strmap_free(struct clann__strmap *m);
/* The index of s[0..len), or SIZE_MAX when absent. */
size_t clann__strmap_find(const struct clann__strmap *m, const char *s, size_t len);
/* Adds a copy of s[0..len) (not present yet) with count 0; false when out of memory. */
bool clann__strmap_add(struct clann__strmap *m, const char *s, size_t len);

#endif /* CLANN_DATA_STRMAP_H */
