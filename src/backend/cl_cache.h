/*
 * cl_cache.h - the on-disk cache of built OpenCL program binaries (cl_cache.c). Plain file
 * I/O and hashing, no OpenCL calls: opencl.c computes the key and hands over the bytes.
 *
 * An entry is keyed by the full text of everything the binary depends on (the caller's key:
 * program name, build options, device, driver, the source itself), not only by its hash:
 * Entry file: <dir>/<FNV-1a 64 of the key as 16 hex digits>.clbin = magic "CLANNPB2", the
 * key's hash, the key's length, the payload length and an FNV-1a 64 checksum of key and
 * payload (each a little-endian uint64), then the key, then the payload. A load compares the
 * stored key with the wanted one byte for byte, so an entry that is well formed but belongs
 * to another program (copied or renamed over this one, or a hash collision) is a miss before
 * any driver sees its binary. Writes go through core/file.c (a temporary file in the same
 * folder, synced and renamed over the entry), so readers never see a partial file; a truncated or corrupt entry
 * reads as a miss. A binary that passes these checks and still fails to load is the
 * caller's to rebuild (opencl.c falls back to the source).
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

/* Reads the entry for key (key_len bytes) from dir. True with *data (clann__malloc'd, caller
 * frees) and *len when the entry exists, is intact and holds exactly this key; false on a
 * miss, a short or corrupt file, another key's entry, or no memory. */
bool clann__cl_cache_load(const char *dir, const void *key, size_t key_len, unsigned char **data,
                          size_t *len);

/* Writes the entry for key atomically, creating dir (and its parents) as needed. Best effort:
 * false on any failure, leaving no temporary file behind. */
bool clann__cl_cache_store(const char *dir, const void *key, size_t key_len,
                           const unsigned char *data, size_t len);

#endif /* CLANN_CL_CACHE_H */
