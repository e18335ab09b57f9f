/*
 * cl_cache.h - the on-disk cache of built OpenCL program binaries (cl_cache.c). Plain file
 * I/O and hashing, no OpenCL calls: opencl.c computes the key and hands over the bytes.
 *
 * Entry file: <dir>/<key as 16 hex digits>.clbin = magic "CLANNPB1", the key, the payload
 * length and an FNV-1a 64 checksum of the payload (each a little-endian uint64), then the
 * payload. Writes go through core/file.c (a temporary file in the same folder, synced and
 * renamed over the entry), so readers never see a partial file; a truncated or corrupt entry
 * reads as a miss.
 */
#ifndef CLANN_CL_CACHE_H
#define CLANN_CL_CACHE_H

#include "core/internal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLANN__FNV64_OFFSET UINT64_C(0xcbf29ce484222325)

/* FNV-1a 64 of data, continuing from h (start with CLANN__FNV64_OFFSET). */
uint64_t clann__fnv1a64(uint64_t h, const void *data, size_t len);

/* The cache folder: params->cache_dir, else $CLANN_CACHE_DIR, else $XDG_CACHE_HOME/clann,
 * else $HOME/.cache/clann. Returns false when none can be formed (or it does not fit). */
bool clann__cl_cache_dir(const struct clann_context_params *params, char *out, size_t cap);

/* Reads entry `key` from dir. True with *data (clann__malloc'd, caller frees) and *len when
 * the entry exists and is intact; false on a miss, a short or corrupt file, or no memory. */
bool clann__cl_cache_load(const char *dir, uint64_t key, unsigned char **data, size_t *len);

/* Writes entry `key` atomically, creating dir (and its parents) as needed. Best effort: false
 * on any failure, leaving no temporary file behind. */
bool clann__cl_cache_store(const char *dir, uint64_t key, const unsigned char *data, size_t len);

#endif /* CLANN_CL_CACHE_H */
