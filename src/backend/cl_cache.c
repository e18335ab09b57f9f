/*
 * cl_cache.c - on-disk cache of built OpenCL program binaries; format in cl_cache.h.
 */
#include "backend/cl_cache.h"
#include "core/file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cache_magic[8] = {'C', 'L', 'A', 'N', 'N', 'P', 'B', '1'};

enum { CACHE_HEADER_SIZE = 32 };

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

static bool entry_path(const char *dir, uint64_t key, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%016llx.clbin", dir, (unsigned long long)key);
    return n > 0 && (size_t)n < cap;
}

bool clann__cl_cache_load(const char *dir, uint64_t key, unsigned char **data, size_t *len)
{
    char path[4096];
    unsigned char header[CACHE_HEADER_SIZE];
    unsigned char *buf = NULL;
    bool ok = false;
    *data = NULL;
    *len = 0;
    if (!entry_path(dir, key, path, sizeof path))
        return false;
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    if (fread(header, 1, sizeof header, f) != sizeof header)
        goto cleanup;
    if (memcmp(header, cache_magic, sizeof cache_magic) != 0 || get_u64(header + 8) != key)
        goto cleanup;
    uint64_t size = get_u64(header + 16);
    if (size == 0 || size > (uint64_t)1 << 31)
        goto cleanup;
    buf = clann__malloc((size_t)size);
    if (!buf)
        goto cleanup;
    if (fread(buf, 1, (size_t)size, f) != (size_t)size || fgetc(f) != EOF)
        goto cleanup;
    if (clann__fnv1a64(CLANN__FNV64_OFFSET, buf, (size_t)size) != get_u64(header + 24))
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
bool clann__cl_cache_store(const char *dir, uint64_t key, const unsigned char *data, size_t len)
{
    char path[4096];
    unsigned char header[CACHE_HEADER_SIZE];
    if (len == 0 || !entry_path(dir, key, path, sizeof path) ||
        clann__make_dirs(NULL, "kernel cache", dir, 0700) != CLANN_OK)
        return false;
    memcpy(header, cache_magic, sizeof cache_magic);
    put_u64(header + 8, key);
    put_u64(header + 16, (uint64_t)len);
    put_u64(header + 24, clann__fnv1a64(CLANN__FNV64_OFFSET, data, len));
    const void *parts[2] = {header, data};
    const size_t sizes[2] = {sizeof header, len};
    return clann__file_replace(NULL, "kernel cache", path, parts, sizes, 2) == CLANN_OK;
}
