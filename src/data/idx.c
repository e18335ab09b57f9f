/*
 * idx.c - IDX reader (the MNIST format), raw or gzip-compressed.
 *
 * Layout: 0x00 0x00, a type byte, a dimension count, then one big-endian u32 per dimension
 * and the big-endian data. zlib reads raw files transparently, so one path serves both. For a raw
 * file the declared size is checked against the file size before anything is allocated. A gzip
 * file's inflated size is only known once it is read, and deflate can expand 1032-fold, so a small
 * file could declare (and really hold) gigabytes: a decompression bomb. A gzip file may therefore
 * declare IDX_GZ_FREE_BYTES, or else at most IDX_GZ_MAX_RATIO times its own size, and never more
 * than IDX_GZ_MAX_BYTES (real IDX data compresses 2-10 fold; larger data can be stored
 * uncompressed, where the file's size bounds it). Within those bounds the output is allocated at
 * once when the gzip trailer agrees with the declared size, else it grows as data arrives. Data is
 * read and converted chunk by chunk, with no second copy of the file in memory.
 */
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_DIMS 4
#define IDX_GZ_FREE_BYTES ((uint64_t)64 << 20) /* declared data bytes always allowed */
#define IDX_GZ_MAX_RATIO 100 /* else declared data bytes per byte of a gzip file */
#define IDX_GZ_MAX_BYTES ((uint64_t)1 << 32) /* declared data bytes of a gzip file */
#define IDX_CHUNK ((size_t)1 << 18)    /* bytes read and converted at a time */
#define IDX_FIRST_FLOATS ((size_t)1 << 20) /* first output size for a gzip file */
#define IDX_GROWTH 4                       /* then it grows 4-fold as data arrives */
#define IDX_READ_MAX ((size_t)1 << 30) /* gzread takes an unsigned int */

struct idx_type {
    unsigned char code;
    size_t size;
    const char *name;
};

static const struct idx_type idx_types[] = {
    {0x08, 1, "u8"}, {0x09, 1, "i8"}, {0x0B, 2, "i16"},
    {0x0C, 4, "i32"}, {0x0D, 4, "f32"}, {0x0E, 8, "f64"},
};


/* Reads up to n bytes; returns the count read. *zerr is set to a zlib error code (Z_OK when
 * the stream simply ended, Z_BUF_ERROR when a gzip stream was cut short). */
static size_t read_full(gzFile gz, void *buf, size_t n, int *zerr)
{
    size_t done = 0;
    *zerr = Z_OK;
    while (done < n) {
        size_t want = n - done < IDX_READ_MAX ? n - done : IDX_READ_MAX;
        int got = gzread(gz, (unsigned char *)buf + done, (unsigned)want);
        if (got <= 0) {
            gzerror(gz, zerr);
            break;
        }
        done += (size_t)got;
    }
    return done;
}

static enum clann_status zlib_failure(const char *path, gzFile gz, int zerr, const char *what)
{
    int dummy;
    const char *msg = gzerror(gz, &dummy);
    if (zerr == Z_ERRNO)
        return clann__error(NULL, CLANN_ERR_IO, "%s: read error in %s: %s", path, what,
                            strerror(errno));
    if (zerr == Z_MEM_ERROR)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: zlib is out of memory", path);
    return clann__error(NULL, CLANN_ERR_FORMAT, "%s: corrupt gzip stream in %s: %s", path, what,
                        msg);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Converts n big-endian elements of the given type to float. Returns the index of the first
 * non-finite (or, for f64, beyond the float range) value, or n. */
static size_t convert(const unsigned char *src, size_t n, unsigned char code, float *dst)
{
    switch (code) {
    case 0x08:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)src[i];
        return n;
    case 0x09:
        for (size_t i = 0; i < n; i++)
            dst[i] = (float)(src[i] < 0x80 ? (int)src[i] : (int)src[i] - 0x100);
        return n;
    case 0x0B:
        for (size_t i = 0; i < n; i++) {
            long v = (long)src[2 * i] << 8 | src[2 * i + 1];
            dst[i] = (float)(v < 0x8000 ? v : v - 0x10000);
        }
        return n;
    case 0x0C:
        for (size_t i = 0; i < n; i++) {
            int64_t v = be32(src + 4 * i);
            dst[i] = (float)(v < 0x80000000 ? v : v - 0x100000000);
        }
        return n;
    case 0x0D:
        for (size_t i = 0; i < n; i++) {
            uint32_t u = be32(src + 4 * i);
            float f;
            memcpy(&f, &u, sizeof f);
            if (!isfinite(f))
                return i;
            dst[i] = f;
        }
        return n;
    default: /* 0x0E */
        for (size_t i = 0; i < n; i++) {
            uint64_t u = (uint64_t)be32(src + 8 * i) << 32 | be32(src + 8 * i + 4);
            double d;
            memcpy(&d, &u, sizeof d);
            if (!isfinite(d) || fabs(d) > FLT_MAX)
                return i;
            dst[i] = (float)d;
        }
        return n;
    }
}

/* Reads count elements in chunks, converting each chunk into the output. Checks for early
 * end, trailing bytes and non-finite values. */
static enum clann_status read_data(const char *path, gzFile gz, const struct idx_type *type,
                                   size_t count, size_t cols, size_t cap, float **out)
{
    const size_t want = count * type->size; /* checked for overflow by the caller */
    size_t have = 0;
    unsigned char *chunk = clann__malloc(IDX_CHUNK);
    float *dst = cap ? clann__malloc(cap * sizeof(float)) : NULL;
    enum clann_status st = CLANN_OK;
    int zerr = Z_OK;
    *out = NULL;
    if (!chunk || (cap && !dst)) {
        st = clann__error(NULL, CLANN_ERR_NO_MEMORY,
                          "%s: out of memory reading IDX data (%zu floats)", path, cap);
        goto out;
    }
    clann__advise_huge(dst, cap * sizeof(float));
    while (have < count) {
        size_t n = count - have < IDX_CHUNK / type->size ? count - have : IDX_CHUNK / type->size;
        size_t got = read_full(gz, chunk, n * type->size, &zerr);
        if (got < n * type->size) {
            if (zerr != Z_OK && zerr != Z_BUF_ERROR)
                st = zlib_failure(path, gz, zerr, "the data");
            else
                st = clann__error(NULL, CLANN_ERR_TRUNCATED,
                                  "%s: expected %zu bytes of data, file has %zu%s", path, want,
                                  have * type->size + got,
                                  zerr == Z_BUF_ERROR ? " (the gzip stream ends early)" : "");
            goto out;
        }
        if (have + n > cap) {
            size_t next = cap > count / IDX_GROWTH ? count : IDX_GROWTH * cap;
            float *grown = clann__realloc(dst, next * sizeof(float));
            if (!grown) {
                st = clann__error(NULL, CLANN_ERR_NO_MEMORY,
                                  "%s: out of memory reading IDX data (%zu floats)", path, next);
                goto out;
            }
            dst = grown;
            cap = next;
            clann__advise_huge(dst, cap * sizeof(float));
        }
        size_t bad = convert(chunk, n, type->code, dst + have);
        if (bad < n) {
            bad += have;
            st = clann__error(NULL, CLANN_ERR_NONFINITE,
                              "%s: element %zu (row %zu, column %zu) is not a finite float",
                              path, bad, bad / cols + 1, bad % cols + 1);
            goto out;
        }
        have += n;
    }
    if (read_full(gz, chunk, 1, &zerr) > 0) {
        st = clann__error(NULL, CLANN_ERR_FORMAT,
                          "%s: trailing bytes after the %zu bytes of data", path, want);
    } else if (zerr != Z_OK && zerr != Z_BUF_ERROR) {
        st = zlib_failure(path, gz, zerr, "the data");
    }
out:
    clann__free(chunk);
    if (st == CLANN_OK)
        *out = dst;
    else
        clann__free(dst);
    return st;
}

static enum clann_status load(const char *path, int fd, gzFile gz, off_t file_size,
                              struct clann_matrix *out)
{
    unsigned char head[4 + 4 * IDX_MAX_DIMS];
    int zerr;
    size_t got = read_full(gz, head, 4, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR)
        return zlib_failure(path, gz, zerr, "the header");
    if (got == 0)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: empty file, not an IDX file", path);
    if (got < 4)
        return clann__error(NULL, CLANN_ERR_TRUNCATED,
                            "%s: expected a 4-byte IDX header, file has %zu bytes", path, got);
    if (head[0] != 0 || head[1] != 0)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: bad magic 0x%02x%02x%02x%02x at byte 0 (an IDX file starts "
                            "with 0x0000, a type byte and a dimension count)",
                            path, head[0], head[1], head[2], head[3]);
    const struct idx_type *type = NULL;
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == head[2])
            type = &idx_types[i];
    if (!type)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: unknown IDX type 0x%02x at byte 2 (expected 0x08, 0x09, 0x0B, "
                            "0x0C, 0x0D or 0x0E)",
                            path, head[2]);
    unsigned ndims = head[3];
    if (ndims < 1 || ndims > IDX_MAX_DIMS)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: IDX dimension count %u at byte 3 is outside 1..%d", path, ndims,
                            IDX_MAX_DIMS);
    size_t header_bytes = 4 + 4 * (size_t)ndims;
    got = read_full(gz, head + 4, 4 * (size_t)ndims, &zerr);
    if (zerr != Z_OK && zerr != Z_BUF_ERROR)
        return zlib_failure(path, gz, zerr, "the header");
    if (got < 4 * (size_t)ndims)
        return clann__error(NULL, CLANN_ERR_TRUNCATED,
                            "%s: expected a %zu-byte IDX header, file has %zu bytes", path,
                            header_bytes, 4 + got);

    size_t dims[IDX_MAX_DIMS], count = 1, cols = 1, data_bytes;
    char shape[64] = "";
    for (unsigned i = 0; i < ndims; i++) {
        dims[i] = be32(head + 4 + 4 * i);
        size_t used = strlen(shape);
        snprintf(shape + used, sizeof shape - used, "%s%zu", i ? " x " : "", dims[i]);
    }
    bool overflow = false;
    for (unsigned i = 0; i < ndims; i++) {
        overflow = overflow || !clann__mul_size(count, dims[i], &count);
        if (i > 0)
            overflow = overflow || !clann__mul_size(cols, dims[i], &cols);
    }
    size_t float_bytes;
    if (overflow || !clann__mul_size(count, type->size, &data_bytes) ||
        !clann__mul_size(count, sizeof(float), &float_bytes))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE,
                            "%s: IDX shape %s of %s overflows the address space", path, shape,
                            type->name);

    size_t first_cap = count;
    if (gzdirect(gz)) {
        /* A raw file: its size is known, so check it exactly before allocating. */
        uint64_t have = (uint64_t)file_size - header_bytes;
        if (have < data_bytes)
            return clann__error(NULL, CLANN_ERR_TRUNCATED,
                                "%s: expected %zu bytes of data (shape %s of %s), file has %llu",
                                path, data_bytes, shape, type->name, (unsigned long long)have);
        if (have > data_bytes)
            return clann__error(NULL, CLANN_ERR_FORMAT,
                                "%s: %llu trailing bytes after the %zu bytes of data (shape %s "
                                "of %s)",
                                path, (unsigned long long)(have - data_bytes), data_bytes, shape,
                                type->name);
    } else {
        /* Bounds what a gzip file may expand to, before anything is allocated. */
        uint64_t most = (uint64_t)file_size * IDX_GZ_MAX_RATIO;
        most = most > IDX_GZ_FREE_BYTES ? most : IDX_GZ_FREE_BYTES;
        most = most < IDX_GZ_MAX_BYTES ? most : IDX_GZ_MAX_BYTES;
        if ((uint64_t)data_bytes > most)
            return clann__error(NULL, CLANN_ERR_TOO_LARGE,
                                "%s: IDX shape %s of %s declares %zu bytes of data, but a "
                                "%llu-byte gzip file holds at most %llu (64 MiB or %dx its "
                                "size, 4 GiB in all: a decompression bomb guard; store larger "
                                "data uncompressed)",
                                path, shape, type->name, data_bytes,
                                (unsigned long long)file_size, (unsigned long long)most,
                                IDX_GZ_MAX_RATIO);
        /* The gzip trailer's ISIZE (the inflated size mod 2^32) tells whether the file is
         * likely complete; then the output is allocated once, else it grows as data
         * arrives, so that a short file never causes a large allocation. */
        unsigned char trailer[4];
        uint64_t total = (uint64_t)header_bytes + data_bytes;
        bool sized = pread(fd, trailer, 4, file_size - 4) == 4 &&
                     (uint32_t)(trailer[0] | trailer[1] << 8 | trailer[2] << 16 |
                                (uint32_t)trailer[3] << 24) == (uint32_t)total;
        if (!sized && first_cap > IDX_FIRST_FLOATS)
            first_cap = IDX_FIRST_FLOATS;
    }
    float *data;
    enum clann_status st = read_data(path, gz, type, count, cols, first_cap, &data);
    if (st != CLANN_OK)
        return st;
    out->rows = ndims == 1 ? count : dims[0];
    out->cols = cols;
    out->data = data;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_idx_load(const char *path, struct clann_matrix *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_idx_load: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return clann__error(NULL, CLANN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return clann__error(NULL, CLANN_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return clann__error(NULL, CLANN_ERR_IO, "%s: not a regular file", path);
    }
    gzFile gz = gzdopen(fd, "rb");
    if (!gz) {
        close(fd);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: zlib is out of memory", path);
    }
    gzbuffer(gz, 1u << 18);
    enum clann_status st = load(path, fd, gz, sb.st_size, out);
    gzclose_r(gz);
    return st;
}
