/*
 * safetensors.c - the safetensors container: header and tensor validation, F32 reads, header
 * encoding (safetensors.h). Part of the data layer like the NPY and IDX readers: nothing here
 * knows what a model is.
 */
#include "data/safetensors.h"
#include "data/json.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* safetensors' MAX_HEADER_SIZE. */
#define MAX_HEADER ((uint64_t)100000000)

static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

void clann__st_floats_le(float *x, size_t n)
{
    if (host_is_little_endian())
        return;
    for (size_t i = 0; i < n; i++) {
        unsigned char b[4], s[4];
        memcpy(b, &x[i], 4);
        s[0] = b[3], s[1] = b[2], s[2] = b[1], s[3] = b[0];
        memcpy(&x[i], s, 4);
    }
}

static const char *errtext(int err, char *buf, size_t size)
{
    if (strerror_r(err, buf, size) != 0)
        snprintf(buf, size, "error %d", err);
    return buf;
}

/* ---------------------------------------------------------------------------------------------
 * Reading.
 */
enum clann_status clann__st_fail(const struct clann__st_reader *ld, enum clann_status st,
                                 const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clann__error(ld->ctx, st, "model file '%s': %s", ld->path, msg);
}

/* Reads exactly n bytes at offset; a short read means the file shrank under us. */
static enum clann_status read_at(const struct clann__st_reader *ld, void *buf, size_t n,
                                 uint64_t offset)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(ld->fd, p, n, (off_t)offset);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            char e[128];
            return clann__st_fail(ld, CLANN_ERR_IO, "read failed at byte %llu: %s",
                        (unsigned long long)offset, errtext(errno, e, sizeof e));
        }
        if (r == 0)
            return clann__st_fail(ld, CLANN_ERR_TRUNCATED, "unexpected end of file at byte %llu",
                        (unsigned long long)offset);
        p += r;
        n -= (size_t)r;
        offset += (uint64_t)r;
    }
    return CLANN_OK;
}

static enum clann_status open_file(struct clann__st_reader *ld)
{
    char e[128];
    ld->fd = open(ld->path, O_RDONLY | O_CLOEXEC);
    if (ld->fd < 0)
        return clann__st_fail(ld, CLANN_ERR_IO, "cannot open: %s", errtext(errno, e, sizeof e));
    struct stat sb;
    if (fstat(ld->fd, &sb) != 0)
        return clann__st_fail(ld, CLANN_ERR_IO, "cannot stat: %s", errtext(errno, e, sizeof e));
    if (!S_ISREG(sb.st_mode))
        return clann__st_fail(ld, CLANN_ERR_IO, "not a regular file");
    ld->file_size = (uint64_t)sb.st_size;
    return CLANN_OK;
}

/* The header length, checked against the cap and the file before anything is allocated. */
static enum clann_status read_header_len(struct clann__st_reader *ld)
{
    unsigned char b[8];
    if (ld->file_size < 8)
        return clann__st_fail(ld, CLANN_ERR_TRUNCATED,
                              "the file has %llu bytes, fewer than the 8-byte "
                              "header length",
                              (unsigned long long)ld->file_size);
    enum clann_status st = read_at(ld, b, 8, 0);
    if (st != CLANN_OK)
        return st;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | b[i];
    if (n > MAX_HEADER)
        return clann__st_fail(ld, CLANN_ERR_TOO_LARGE,
                              "header length %llu exceeds the limit of %llu "
                              "bytes",
                              (unsigned long long)n, (unsigned long long)MAX_HEADER);
    if (n > ld->file_size - 8)
        return clann__st_fail(ld, CLANN_ERR_TRUNCATED,
                              "header length %llu exceeds the %llu bytes after "
                              "it",
                              (unsigned long long)n, (unsigned long long)(ld->file_size - 8));
    if (n < 2)
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "header length %llu is too small for a JSON object",
                              (unsigned long long)n);
    ld->header_len = n;
    ld->data_size = ld->file_size - 8 - n;
    return CLANN_OK;
}

static enum clann_status read_header(struct clann__st_reader *ld, struct json_object **root)
{
    *root = NULL;
    char *text = clann__malloc((size_t)ld->header_len + 1);
    if (!text)
        return clann__st_fail(ld, CLANN_ERR_NO_MEMORY, "out of memory for the %llu-byte header",
                    (unsigned long long)ld->header_len);
    enum clann_status st = read_at(ld, text, (size_t)ld->header_len, 8);
    text[ld->header_len] = '\0';
    if (st == CLANN_OK && text[0] != '{')
        st = clann__st_fail(ld, CLANN_ERR_FORMAT, "the header does not start with '{'");
    char what[64 + 32];
    snprintf(what, sizeof what, "model file '%.64s': header", ld->path);
    if (st == CLANN_OK)
        st = clann__json_parse(ld->ctx, text, (size_t)ld->header_len, what, root);
    if (st == CLANN_OK && !json_object_is_type(*root, json_type_object)) {
        json_object_put(*root);
        *root = NULL;
        st = clann__st_fail(ld, CLANN_ERR_FORMAT, "the header is not a JSON object");
    }
    clann__free(text);
    return st;
}

enum clann_status clann__st_open(struct clann__st_reader *r, struct clann_context *ctx,
                                 const char *path, struct json_object **root)
{
    memset(r, 0, sizeof *r);
    r->ctx = ctx;
    r->path = path;
    r->fd = -1;
    *root = NULL;
    enum clann_status st = open_file(r);
    if (st == CLANN_OK)
        st = read_header_len(r);
    if (st == CLANN_OK)
        st = read_header(r, root);
    return st;
}

void clann__st_close(struct clann__st_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static enum clann_status check_dtype(const struct clann__st_reader *ld, const char *name,
                                     struct json_object *e)
{
    static const char *const known[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16",
                                        "F16", "BF16", "I32", "U32", "F64", "I64", "U64"};
    struct json_object *d;
    if (!json_object_object_get_ex(e, "dtype", &d) || !json_object_is_type(d, json_type_string))
        return clann__st_fail(ld, CLANN_ERR_FORMAT, "tensor '%s': dtype is missing or not a string",
                              name);
    const char *s = json_object_get_string(d);
    if (strcmp(s, "F32") == 0)
        return CLANN_OK;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (strcmp(s, known[i]) == 0)
            return clann__st_fail(ld, CLANN_ERR_UNSUPPORTED,
                                  "tensor '%s': dtype %s is not supported "
                                  "(clann stores F32)",
                                  name, s);
    return clann__st_fail(ld, CLANN_ERR_FORMAT, "tensor '%s': unknown dtype '%.32s'", name, s);
}

static enum clann_status check_shape(const struct clann__st_reader *ld,
                                     const struct clann__tensor *t, struct json_object *e)
{
    struct json_object *sh;
    if (!json_object_object_get_ex(e, "shape", &sh) || !json_object_is_type(sh, json_type_array))
        return clann__st_fail(ld, CLANN_ERR_FORMAT, "tensor '%s': shape is missing or not an array",
                    t->name);
    bool same = json_object_array_length(sh) == t->rank;
    for (size_t d = 0; same && d < t->rank; d++) {
        uint64_t v;
        same = clann__json_u64(json_object_array_get_idx(sh, d), &v) && v == t->shape[d];
    }
    if (same)
        return CLANN_OK;
    if (t->rank == 2)
        return clann__st_fail(ld, CLANN_ERR_FORMAT, "tensor '%s': shape does not match the spec's "
                    "[%zu, %zu]", t->name, t->shape[0], t->shape[1]);
    return clann__st_fail(ld, CLANN_ERR_FORMAT,
                          "tensor '%s': shape does not match the spec's [%zu]", t->name,
                          t->shape[0]);
}

static enum clann_status check_offsets(const struct clann__st_reader *ld, struct clann__tensor *t,
                                       struct json_object *e)
{
    struct json_object *o;
    if (!json_object_object_get_ex(e, "data_offsets", &o) ||
        !json_object_is_type(o, json_type_array) || json_object_array_length(o) != 2 ||
        !clann__json_u64(json_object_array_get_idx(o, 0), &t->begin) ||
        !clann__json_u64(json_object_array_get_idx(o, 1), &t->end))
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "tensor '%s': data_offsets must be two non-negative "
                              "integers",
                              t->name);
    if (t->begin > t->end)
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "tensor '%s': data_offsets [%llu, %llu] end before "
                              "they begin",
                              t->name, (unsigned long long)t->begin, (unsigned long long)t->end);
    /* count * 4 cannot overflow: the spec's sizes were checked in bytes. */
    if (t->end - t->begin != (uint64_t)t->count * 4)
        return clann__st_fail(ld, CLANN_ERR_FORMAT,
                              "tensor '%s': data_offsets span %llu bytes, but its "
                              "shape needs %llu",
                              t->name, (unsigned long long)(t->end - t->begin),
                              (unsigned long long)t->count * 4);
    return CLANN_OK;
}

enum clann_status clann__st_check_entry(const struct clann__st_reader *r,
                                        struct clann__tensor *t, struct json_object *e)
{
    if (!json_object_is_type(e, json_type_object))
        return clann__st_fail(r, CLANN_ERR_FORMAT, "tensor '%s': expected an object", t->name);
    enum clann_status st = check_dtype(r, t->name, e);
    if (st == CLANN_OK)
        st = check_shape(r, t, e);
    if (st == CLANN_OK)
        st = check_offsets(r, t, e);
    return st;
}

static int by_begin(const void *a, const void *b)
{
    const struct clann__tensor *x = *(const struct clann__tensor *const *)a;
    const struct clann__tensor *y = *(const struct clann__tensor *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* The tensors, ordered by offset, must tile the data section exactly. */
enum clann_status clann__st_check_tiling(const struct clann__st_reader *ld,
                                         const struct clann__tensor *t, size_t count)
{
    const struct clann__tensor **order = clann__malloc((count ? count : 1) * sizeof *order);
    if (!order)
        return clann__st_fail(ld, CLANN_ERR_NO_MEMORY, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (t[i].seen) /* an optional tensor the file lacks has no bytes */
            order[n++] = &t[i];
    qsort(order, n, sizeof *order, by_begin);
    uint64_t pos = 0;
    enum clann_status st = CLANN_OK;
    for (size_t i = 0; i < n && st == CLANN_OK; i++) {
        if (order[i]->begin != pos)
            st = clann__st_fail(ld, CLANN_ERR_FORMAT,
                                "tensor '%s' begins at data byte %llu, expected "
                                "%llu (tensors must be contiguous, without gaps or overlaps)",
                                order[i]->name, (unsigned long long)order[i]->begin,
                                (unsigned long long)pos);
        pos = order[i]->end;
    }
    clann__free(order);
    if (st == CLANN_OK && pos > ld->data_size)
        st = clann__st_fail(ld, CLANN_ERR_TRUNCATED,
                            "the tensors need %llu data bytes, the file has %llu",
                            (unsigned long long)pos, (unsigned long long)ld->data_size);
    if (st == CLANN_OK && pos < ld->data_size)
        st = clann__st_fail(ld, CLANN_ERR_FORMAT, "%llu unexpected bytes after the last tensor",
                  (unsigned long long)(ld->data_size - pos));
    return st;
}

/* Reads tensor t's count floats at dst, in host order, refusing NaN and infinity: a model
 * with one would only ever predict NaN, and a resumed run would diverge at once. */
enum clann_status clann__st_read(const struct clann__st_reader *ld, const struct clann__tensor *t,
                                 float *dst)
{
    enum clann_status st = read_at(ld, dst, 4 * t->count, 8 + ld->header_len + t->begin);
    if (st != CLANN_OK)
        return st;
    clann__st_floats_le(dst, t->count);
    for (size_t i = 0; i < t->count; i++)
        if (!isfinite(dst[i]))
            return clann__st_fail(ld, CLANN_ERR_NONFINITE, "tensor '%s' holds %s at index %zu",
                                  t->name, isnan(dst[i]) ? "NaN" : "an infinity", i);
    return CLANN_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Writing.
 */
static struct json_object *tensor_entry(const struct clann__tensor *t, uint64_t begin)
{
    struct json_object *e = json_object_new_object(), *shape = json_object_new_array();
    struct json_object *offs = json_object_new_array();
    bool ok = true;
    for (size_t d = 0; d < t->rank; d++)
        clann__json_push(&ok, shape, json_object_new_uint64(t->shape[d]));
    clann__json_push(&ok, offs, json_object_new_uint64(begin));
    clann__json_push(&ok, offs, json_object_new_uint64(begin + 4 * (uint64_t)t->count));
    clann__json_put(&ok, e, "dtype", json_object_new_string("F32"));
    clann__json_put(&ok, e, "shape", shape);
    clann__json_put(&ok, e, "data_offsets", offs);
    if (ok)
        return e;
    json_object_put(e);
    return NULL;
}

enum clann_status clann__st_header(struct clann_context *ctx, const char *const *keys,
                                   const char *const *values, size_t n_meta,
                                   const struct clann__tensor *t, size_t n, char **out,
                                   size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    struct json_object *root = json_object_new_object(), *meta = json_object_new_object();
    bool ok = true;
    for (size_t i = 0; i < n_meta; i++)
        if (values[i])
            clann__json_put(&ok, meta, keys[i], json_object_new_string(values[i]));
    clann__json_put(&ok, root, "__metadata__", meta);
    uint64_t begin = 0;
    for (size_t i = 0; ok && i < n; i++) {
        clann__json_put(&ok, root, t[i].name, tensor_entry(&t[i], begin));
        begin += 4 * (uint64_t)t[i].count;
    }
    const char *text = ok ? json_object_to_json_string_ext(
                                root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL;
    size_t len = text ? strlen(text) : 0, padded = (len + 7) & ~(size_t)7;
    char *buf = text ? clann__malloc(8 + padded) : NULL;
    if (buf) {
        for (int i = 0; i < 8; i++)
            buf[i] = (char)(((uint64_t)padded >> (8 * i)) & 0xff);
        memcpy(buf + 8, text, len);
        memset(buf + 8 + len, ' ', padded - len);
    }
    json_object_put(root);
    if (!buf)
        return clann__error(ctx, CLANN_ERR_NO_MEMORY, "model save: out of memory");
    *out = buf;
    *out_len = 8 + padded;
    return CLANN_OK;
}

/* One tensor of any safetensors file (transfer learning): the header is parsed and checked as
 * a model file's, the tensor's dtype, shape and byte range before anything is read. */
static enum clann_status read_one(struct clann__st_reader *ld, const char *name, size_t rows,
                                  size_t cols, float *dst)
{
    struct json_object *root = NULL, *e;
    struct clann__tensor t;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.rank = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.count = rows * cols;
    enum clann_status st = open_file(ld);
    if (st == CLANN_OK)
        st = read_header_len(ld);
    if (st == CLANN_OK)
        st = read_header(ld, &root);
    if (st == CLANN_OK && !json_object_object_get_ex(root, name, &e))
        st = clann__st_fail(ld, CLANN_ERR_INVALID_ARG, "no tensor '%.64s'", name);
    if (st == CLANN_OK && !json_object_is_type(e, json_type_object))
        st = clann__st_fail(ld, CLANN_ERR_FORMAT, "tensor '%.64s': expected an object", name);
    if (st == CLANN_OK)
        st = check_dtype(ld, t.name, e);
    if (st == CLANN_OK && (st = check_shape(ld, &t, e)) == CLANN_ERR_FORMAT)
        st = clann__st_fail(ld, CLANN_ERR_SHAPE, "tensor '%.64s' is not [%zu, %zu]", name, rows,
                            cols);
    if (st == CLANN_OK)
        st = check_offsets(ld, &t, e);
    if (st == CLANN_OK && t.end > ld->data_size)
        st = clann__st_fail(ld, CLANN_ERR_TRUNCATED, "tensor '%.64s' ends after the file", name);
    if (st == CLANN_OK)
        st = clann__st_read(ld, &t, dst);
    json_object_put(root);
    return st;
}

enum clann_status clann__safetensors_read(struct clann_context *ctx, const char *path,
                                          const char *name, size_t rows, size_t cols,
                                          float *dst)
{
    struct clann__st_reader ld;
    memset(&ld, 0, sizeof ld);
    ld.ctx = ctx;
    ld.path = path;
    ld.fd = -1;
    enum clann_status st = read_one(&ld, name, rows, cols, dst);
    if (ld.fd >= 0)
        close(ld.fd);
    return st;
}
