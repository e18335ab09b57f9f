/*
 * cl_cache.c - on-disk cache of built OpenCL program binaries; format in cl_cache.h.
 */
#include "backend/cl_cache.h"
#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cache_magic[8] = {'C', 'L', 'A', 'N', 'N', 'P', 'B', '2'};

enum { CACHE_HEADER_SIZE = 40 };
#define CACHE_MAX_KEY ((uint64_t)1 << 26)     /* a key holds a program's source */
#define CACHE_MAX_PAYLOAD ((uint64_t)1 << 31) /* a program binary */

uint64_t clann__fnv1a64(uint64_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

bool clann__cl_cache_dir(const struct clann_context_params *params, char *out, size_t cap)
{
    const char *dir = params ? params->cache_dir : NULL;
    int n;
    if (dir && *dir)
        n = snprintf(out, cap, "%s", dir);
    else if ((dir = clann__getenv("CLANN_CACHE_DIR")) != NULL)
        n = snprintf(out, cap, "%s", dir);
    else if ((dir = clann__getenv("XDG_CACHE_HOME")) != NULL)
        n = snprintf(out, cap, "%s/clann", dir);
    else if ((dir = clann__getenv("HOME")) != NULL)
        n = snprintf(out, cap, "%s/.cache/clann", dir);
    else
        return false;
    return n > 0 && (size_t)n < cap;
}

static bool entry_path(const char *dir, uint64_t hash, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%016llx.clbin", dir, (unsigned long long)hash);
    return n > 0 && (size_t)n < cap;
}

/* Reads the stored key and compares it with the wanted one; true when they are the same. */
static bool same_key(FILE *f, const void *key, size_t key_len, uint64_t *checksum)
{
    unsigned char buf[4096];
    const unsigned char *want = key;
    for (size_t at = 0; at < key_len;) {
        size_t n = key_len - at < sizeof buf ? key_len - at : sizeof buf;
        if (fread(buf, 1, n, f) != n || memcmp(buf, want + at, n) != 0)
            return false;
        *checksum = clann__fnv1a64(*checksum, buf, n);
        at += n;
    }
    return true;
}

bool clann__cl_cache_load(const char *dir, const void *key, size_t key_len, unsigned char **data,
                          size_t *len)
{
    char path[4096];
    unsigned char header[CACHE_HEADER_SIZE];
    unsigned char *buf = NULL;
    bool ok = false;
    uint64_t hash = clann__fnv1a64(CLANN__FNV64_OFFSET, key, key_len);
    *data = NULL;
    *len = 0;
    if (!entry_path(dir, hash, path, sizeof path))
        return false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    if (fread(header, 1, sizeof header, f) != sizeof header)
        goto cleanup;
    /* The header's sizes are checked before anything is read or allocated by them. */
    uint64_t size = get_u64(header + 24), sum = CLANN__FNV64_OFFSET;
    if (memcmp(header, cache_magic, sizeof cache_magic) != 0 || get_u64(header + 8) != hash ||
        get_u64(header + 16) != (uint64_t)key_len || key_len > CACHE_MAX_KEY || size == 0 ||
        size > CACHE_MAX_PAYLOAD)
        goto cleanup;
    if (!same_key(f, key, key_len, &sum))
        goto cleanup;
    buf = clann__malloc((size_t)size);
    if (!buf)
        goto cleanup;
    if (fread(buf, 1, (size_t)size, f) != (size_t)size || fgetc(f) != EOF)
        goto cleanup;
    if (clann__fnv1a64(sum, buf, (size_t)size) != get_u64(header + 32))
        goto cleanup;
    *data = buf;
    *len = (size_t)size;
    buf = NULL;
    ok = true;
cleanup:
    clann__free(buf);
    fclose(f);
    return ok;
}

/* Best effort: a failure costs a rebuild next time, so it is not reported (the writer still
 * records its message as the thread's last error). Two threads storing one entry at once share
 * a temporary name; the checksum turns whatever that leaves into a miss. */
bool clann__cl_cache_store(const char *dir, const void *key, size_t key_len,
                           const unsigned char *data, size_t len)
{
    char path[4096];
    unsigned char header[CACHE_HEADER_SIZE];
    uint64_t hash = clann__fnv1a64(CLANN__FNV64_OFFSET, key, key_len);
    if (len == 0 || (uint64_t)len > CACHE_MAX_PAYLOAD || (uint64_t)key_len > CACHE_MAX_KEY ||
        !entry_path(dir, hash, path, sizeof path) ||
        clann__make_dirs(NULL, "kernel cache", dir, 0700) != CLANN_OK)
        return false;
    memcpy(header, cache_magic, sizeof cache_magic);
    put_u64(header + 8, hash);
    put_u64(header + 16, (uint64_t)key_len);
    put_u64(header + 24, (uint64_t)len);
    put_u64(header + 32, clann__fnv1a64(clann__fnv1a64(CLANN__FNV64_OFFSET, key, key_len), data,
                                        len));
    const void *pieces[3] = {header, key, data};
    const size_t sizes[3] = {sizeof header, key_len, len};
    return clann__file_replace(NULL, "kernel cache", path, pieces, sizes, 3) == CLANN_OK;
}
