/*
 * npy.c - NumPy .npy reader (format versions 1.0, 2.0 and 3.0).
 *
 * Layout: "\x93NUMPY", major and minor version bytes, the header length (little-endian u16
 * for version 1, u32 for 2 and 3), the header (a Python dict literal with 'descr',
 * 'fortran_order' and 'shape', padded with spaces and ended by a newline), then the data. The
 * header is parsed by a small strict parser, never evaluated; its length is capped like numpy's
 * _MAX_HEADER_SIZE, and the data size is checked against the file size before any allocation.
 */
#include "core/internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_HEADER 10000
#define NPY_MAX_DIMS 32
#define NPY_CHUNK ((size_t)1 << 18)

struct npy_header {
    char type;        /* 'f', 'i', 'u' or 'b' */
    size_t size;      /* bytes per element */
    bool big_endian;
    bool fortran;
    size_t ndims;
    size_t dims[NPY_MAX_DIMS];
    char descr[32];
};

/* ---- header parser ------------------------------------------------------------------------ */

struct parser {
    const char *path;
    const char *s, *p, *end;
};

static enum clann_status syntax(struct parser *ps, const char *what)
{
    return clann__error(NULL, CLANN_ERR_FORMAT,
                        "%s: malformed .npy header at header byte %zu: expected %s", ps->path,
                        (size_t)(ps->p - ps->s), what);
}

static void skip_ws(struct parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static bool accept(struct parser *ps, char c)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return true;
    }
    return false;
}

static bool accept_word(struct parser *ps, const char *w)
{
    skip_ws(ps);
    size_t n = strlen(w);
    if ((size_t)(ps->end - ps->p) >= n && memcmp(ps->p, w, n) == 0) {
        ps->p += n;
        return true;
    }
    return false;
}

/* A quoted string without escapes, copied into buf. */
static enum clann_status parse_string(struct parser *ps, char *buf, size_t cap)
{
    skip_ws(ps);
    if (ps->p >= ps->end || (*ps->p != '\'' && *ps->p != '"'))
        return syntax(ps, "a quoted string");
    char quote = *ps->p++;
    const char *start = ps->p;
    while (ps->p < ps->end && *ps->p != quote && *ps->p != '\\')
        ps->p++;
    if (ps->p >= ps->end || *ps->p != quote)
        return syntax(ps, "a closing quote (escapes are not supported)");
    size_t n = (size_t)(ps->p - start);
    ps->p++;
    if (n >= cap)
        return syntax(ps, "a shorter string");
    memcpy(buf, start, n);
    buf[n] = '\0';
    return CLANN_OK;
}

static enum clann_status parse_descr(struct parser *ps, struct npy_header *h)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '[')
        return clann__error(NULL, CLANN_ERR_UNSUPPORTED,
                            "%s: structured dtypes are not supported (only plain numeric arrays)",
                            ps->path);
    enum clann_status st = parse_string(ps, h->descr, sizeof h->descr);
    if (st != CLANN_OK)
        return st;
    static const char *const known[] = {"f4", "f8", "i1", "i2", "i4", "i8",
                                        "u1", "u2", "u4", "u8", "b1"};
    const char *d = h->descr;
    bool ok = strlen(d) == 3 && strchr("<>|=", d[0]);
    if (ok) {
        ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(d + 1, known[i]) == 0;
    }
    if (!ok)
        return clann__error(NULL, CLANN_ERR_UNSUPPORTED,
                            "%s: dtype '%s' is not supported (supported: f4, f8, i1, i2, i4, i8, "
                            "u1, u2, u4, u8, b1, little- or big-endian)",
                            ps->path, d);
    h->type = d[1];
    h->size = (size_t)(d[2] - '0');
    const uint16_t probe = 1;
    unsigned char first;
    memcpy(&first, &probe, 1);
    h->big_endian = d[0] == '>' || (d[0] == '=' && first == 0);
    return CLANN_OK;
}

static enum clann_status parse_shape(struct parser *ps, struct npy_header *h)
{
    if (!accept(ps, '('))
        return syntax(ps, "a shape tuple '('");
    h->ndims = 0;
    if (accept(ps, ')'))
        return CLANN_OK;
    for (;;) {
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
            return syntax(ps, "a non-negative integer dimension");
        size_t v = 0;
        while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
            size_t digit = (size_t)(*ps->p++ - '0');
            if (v > (SIZE_MAX - digit) / 10)
                return clann__error(NULL, CLANN_ERR_TOO_LARGE,
                                    "%s: .npy shape dimension %zu overflows", ps->path,
                                    h->ndims + 1);
            v = v * 10 + digit;
        }
        if (ps->p < ps->end && *ps->p == 'L') /* Python 2 long literal, as old numpy wrote */
            ps->p++;
        if (h->ndims == NPY_MAX_DIMS)
            return clann__error(NULL, CLANN_ERR_UNSUPPORTED,
                                "%s: .npy arrays with more than %d dimensions are not supported",
                                ps->path, NPY_MAX_DIMS);
        h->dims[h->ndims++] = v;
        bool comma = accept(ps, ',');
        if (accept(ps, ')')) {
            if (h->ndims == 1 && !comma)
                return syntax(ps, "',' in a one-element shape tuple");
            return CLANN_OK;
        }
        if (!comma)
            return syntax(ps, "',' or ')' in the shape tuple");
    }
}

static enum clann_status parse_header(const char *path, const char *text, size_t len,
                                      struct npy_header *h)
{
    struct parser ps = {path, text, text, text + len};
    bool seen[3] = {false, false, false};
    enum clann_status st;
    if (!accept(&ps, '{'))
        return syntax(&ps, "'{'");
    while (!accept(&ps, '}')) {
        char key[32];
        if ((st = parse_string(&ps, key, sizeof key)) != CLANN_OK)
            return st;
        if (!accept(&ps, ':'))
            return syntax(&ps, "':' after a key");
        int which = strcmp(key, "descr") == 0           ? 0
                    : strcmp(key, "fortran_order") == 0 ? 1
                    : strcmp(key, "shape") == 0         ? 2
                                                        : -1;
        if (which < 0)
            return clann__error(NULL, CLANN_ERR_FORMAT, "%s: unknown .npy header key '%s'", path,
                                key);
        if (seen[which])
            return clann__error(NULL, CLANN_ERR_FORMAT, "%s: duplicate .npy header key '%s'",
                                path, key);
        seen[which] = true;
        if (which == 0) {
            st = parse_descr(&ps, h);
        } else if (which == 1) {
            st = CLANN_OK;
            if (accept_word(&ps, "True"))
                h->fortran = true;
            else if (accept_word(&ps, "False"))
                h->fortran = false;
            else
                st = syntax(&ps, "True or False for 'fortran_order'");
        } else {
            st = parse_shape(&ps, h);
        }
        if (st != CLANN_OK)
            return st;
        if (!accept(&ps, ',')) {
            if (!accept(&ps, '}'))
                return syntax(&ps, "',' or '}'");
            break;
        }
    }
    skip_ws(&ps);
    if (ps.p != ps.end)
        return syntax(&ps, "only padding after the dict");
    if (!seen[0] || !seen[1] || !seen[2])
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: .npy header lacks '%s'", path,
                            !seen[0] ? "descr" : !seen[1] ? "fortran_order" : "shape");
    return CLANN_OK;
}

/* ---- data --------------------------------------------------------------------------------- */

/* Decodes one element to double, whatever the host's byte order. */
static double decode(const unsigned char *p, const struct npy_header *h)
{
    uint64_t u = 0;
    for (size_t b = 0; b < h->size; b++)
        u |= (uint64_t)p[h->big_endian ? h->size - 1 - b : b] << (8 * b);
    switch (h->type) {
    case 'f':
        if (h->size == 4) {
            uint32_t u32 = (uint32_t)u;
            float f;
            memcpy(&f, &u32, sizeof f);
            return f;
        } else {
            double d;
            memcpy(&d, &u, sizeof d);
            return d;
        }
    case 'i': {
        uint64_t sign = (uint64_t)1 << (8 * h->size - 1);
        uint64_t mask = sign | (sign - 1);
        if (u & sign)
            return -(double)(~u & mask) - 1.0;
        return (double)u;
    }
    case 'b':
        return u != 0;
    default:
        return (double)u;
    }
}

static enum clann_status read_data(const char *path, FILE *fp, const struct npy_header *h,
                                   size_t count, size_t cols, float *dst)
{
    size_t per_chunk = NPY_CHUNK / h->size;
    unsigned char *buf = clann__malloc(per_chunk * h->size);
    if (!buf)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory reading .npy data",
                            path);
    /* Fortran order: the file's first index runs fastest; walk a multi-index to find each
     * element's row-major position. */
    size_t idx[NPY_MAX_DIMS] = {0}, stride[NPY_MAX_DIMS], pos = 0;
    bool fortran = h->fortran && h->ndims > 1;
    for (size_t k = h->ndims; k-- > 0;)
        stride[k] = k + 1 == h->ndims ? 1 : stride[k + 1] * h->dims[k + 1];
    enum clann_status st = CLANN_OK;
    for (size_t done = 0; done < count && st == CLANN_OK;) {
        size_t n = count - done < per_chunk ? count - done : per_chunk;
        size_t got = fread(buf, h->size, n, fp);
        if (got < n) {
            st = ferror(fp) ? clann__error(NULL, CLANN_ERR_IO, "%s: read error: %s", path,
                                           strerror(errno))
                            : clann__error(NULL, CLANN_ERR_TRUNCATED,
                                           "%s: expected %zu bytes of data, file has %zu (it "
                                           "shrank while being read)",
                                           path, count * h->size, (done + got) * h->size);
            break;
        }
        for (size_t i = 0; i < n; i++) {
            double d = decode(buf + i * h->size, h);
            size_t at = fortran ? pos : done + i;
            if (!isfinite(d) || fabs(d) > FLT_MAX) {
                st = clann__error(NULL, CLANN_ERR_NONFINITE,
                                  "%s: element %zu (row %zu, column %zu) is %s", path, at,
                                  at / cols + 1, at % cols + 1,
                                  isfinite(d) ? "beyond the float range" : "not finite");
                break;
            }
            dst[at] = (float)d;
            if (fortran) {
                for (size_t k = 0; k < h->ndims; k++) {
                    pos += stride[k];
                    if (++idx[k] < h->dims[k])
                        break;
                    pos -= stride[k] * h->dims[k];
                    idx[k] = 0;
                }
            }
        }
        done += n;
    }
    clann__free(buf);
    return st;
}

static uint32_t le_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static enum clann_status load(const char *path, FILE *fp, uint64_t file_size,
                              struct clann_matrix *out)
{
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    unsigned char pre[12];
    if (file_size == 0)
        return clann__error(NULL, CLANN_ERR_FORMAT, "%s: empty file, not a .npy file", path);
    size_t got = fread(pre, 1, 8, fp);
    size_t cmp = got < 6 ? got : 6;
    if (memcmp(pre, magic, cmp) != 0)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: bad magic at byte 0 (a .npy file starts with \\x93NUMPY)", path);
    if (got < 8)
        return clann__error(NULL, CLANN_ERR_TRUNCATED,
                            "%s: expected at least 10 bytes of .npy preamble, file has %zu",
                            path, got);
    unsigned major = pre[6], minor = pre[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return clann__error(NULL, CLANN_ERR_UNSUPPORTED,
                            "%s: .npy format version %u.%u is not supported (1.0, 2.0, 3.0 are)",
                            path, major, minor);
    size_t len_bytes = major == 1 ? 2 : 4, preamble = 8 + len_bytes;
    got = fread(pre + 8, 1, len_bytes, fp);
    if (got < len_bytes)
        return clann__error(NULL, CLANN_ERR_TRUNCATED,
                            "%s: expected %zu bytes of .npy preamble, file has %zu", path,
                            preamble, 8 + got);
    uint32_t hlen = major == 1 ? (uint32_t)(pre[8] | pre[9] << 8) : le_u32(pre + 8);
    if (hlen > NPY_MAX_HEADER)
        return clann__error(NULL, CLANN_ERR_TOO_LARGE,
                            "%s: .npy header of %lu bytes exceeds the %d-byte limit", path,
                            (unsigned long)hlen, NPY_MAX_HEADER);
    if (hlen > file_size - preamble)
        return clann__error(NULL, CLANN_ERR_TRUNCATED,
                            "%s: expected a %lu-byte .npy header, file has %llu bytes after the "
                            "preamble",
                            path, (unsigned long)hlen,
                            (unsigned long long)(file_size - preamble));
    char *text = clann__malloc(hlen + 1);
    if (!text)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "%s: out of memory reading the header",
                            path);
    struct npy_header h;
    memset(&h, 0, sizeof h);
    enum clann_status st = CLANN_OK;
    if (fread(text, 1, hlen, fp) != hlen)
        st = clann__error(NULL, CLANN_ERR_IO, "%s: read error in the header", path);
    else if (memchr(text, '\0', hlen))
        st = clann__error(NULL, CLANN_ERR_FORMAT, "%s: NUL byte in the .npy header", path);
    if (st == CLANN_OK) {
        text[hlen] = '\0';
        st = parse_header(path, text, hlen, &h);
    }
    clann__free(text);
    if (st != CLANN_OK)
        return st;

    size_t count = 1, cols = 1, data_bytes;
    bool overflow = false;
    for (size_t k = 0; k < h.ndims; k++) {
        overflow = overflow || !clann__mul_size(count, h.dims[k], &count);
        if (k > 0)
            overflow = overflow || !clann__mul_size(cols, h.dims[k], &cols);
    }
    if (overflow || !clann__mul_size(count, h.size, &data_bytes))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: .npy shape overflows the address space",
                            path);
    uint64_t have = file_size - preamble - hlen;
    if (have < data_bytes)
        return clann__error(NULL, CLANN_ERR_TRUNCATED,
                            "%s: expected %zu bytes of data (dtype %s, %zu elements), file has "
                            "%llu",
                            path, data_bytes, h.descr, count, (unsigned long long)have);
    if (have > data_bytes)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: %llu trailing bytes after the %zu bytes of data", path,
                            (unsigned long long)(have - data_bytes), data_bytes);
    size_t rows = h.ndims == 0 ? 1 : h.ndims == 1 ? count : h.dims[0];
    st = clann_matrix_create(rows, cols, out);
    if (st != CLANN_OK) {
        clann__error_append(NULL, " for %s", path);
        return st;
    }
    st = read_data(path, fp, &h, count, cols, out->data);
    if (st != CLANN_OK)
        clann_matrix_free(out);
    return st;
}

CLANN_API enum clann_status clann_npy_load(const char *path, struct clann_matrix *out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_npy_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_npy_load: path is NULL");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return clann__error(NULL, CLANN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    enum clann_status st;
    if (fstat(fileno(fp), &sb) != 0)
        st = clann__error(NULL, CLANN_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        st = clann__error(NULL, CLANN_ERR_IO, "%s: not a regular file", path);
    else
        st = load(path, fp, (uint64_t)sb.st_size, out);
    fclose(fp);
    return st;
}
