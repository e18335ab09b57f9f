/*
 * tfevents.c - TensorBoard event files written by hand: a minimal protobuf encoder (varints,
 * fixed-width and length-delimited fields) for Event/Summary/Value, inside TFRecord framing
 * with masked CRC32C checksums. See tfevents.h for the format.
 */
#include "io/tfevents.h"
#include "core/file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define FILE_VERSION "brain.Event:2"
#define CRC_MASK_DELTA 0xa282ead8u
#define MAX_SUFFIX 1000

struct pbuf;

/* Protobuf wire types. */
enum wire { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

/* Records are encoded into `pending` and appended to the file whole at each flush
 * (core/file.c), so a failed write never leaves half a record for TensorBoard to choke on. */
struct clann_tfevents {
    int fd;
    char *path;
    struct pbuf *pending;
};

/* CRC32C over half-bytes: the table holds the CRC of each nibble. */
static const uint32_t crc_nibble[16] = {
    0x00000000, 0x105ec76f, 0x20bd8ede, 0x30e349b1, 0x417b1dbc, 0x5125dad3, 0x61c69362,
    0x7198540d, 0x82f63b78, 0x92a8fc17, 0xa24bb5a6, 0xb21572c9, 0xc38d26c4, 0xd3d3e1ab,
    0xe330a81a, 0xf36e6f75,
};

uint32_t clann__crc32c(const void *data, size_t n)
{
    const unsigned char *p = data;
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ crc_nibble[crc & 15];
        crc = (crc >> 4) ^ crc_nibble[crc & 15];
    }
    return crc ^ 0xffffffffu;
}

static uint32_t crc_masked(const void *data, size_t n)
{
    uint32_t crc = clann__crc32c(data, n);
    return ((crc >> 15) | (crc << 17)) + CRC_MASK_DELTA;
}

/* ---- protobuf encoding into a growing buffer -------------------------------------------- */

struct pbuf {
    unsigned char *data;
    size_t len, cap;
    bool failed; /* out of memory */
};

static void put_bytes(struct pbuf *b, const void *src, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = clann__realloc(b->data, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static void put_varint(struct pbuf *b, uint64_t v)
{
    unsigned char tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (unsigned char)v;
    put_bytes(b, tmp, n);
}

static void put_le(struct pbuf *b, uint64_t v, size_t n)
{
    unsigned char tmp[8];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (unsigned char)(v >> (8 * i));
    put_bytes(b, tmp, n);
}

static void put_key(struct pbuf *b, unsigned field, enum wire type)
{
    put_varint(b, ((uint64_t)field << 3) | (uint64_t)type);
}

static void put_string(struct pbuf *b, unsigned field, const char *s, size_t n)
{
    put_key(b, field, WIRE_LEN);
    put_varint(b, n);
    put_bytes(b, s, n);
}

/* Event { wall_time = 1; step = 2; file_version = 3 (when not NULL); summary = 5 (when tag is
 * not NULL): Summary { value = 1: Value { tag = 1; simple_value = 2 } } }. */
static void encode_event(struct pbuf *b, double wall_time, int64_t step, const char *version,
                         const char *tag, float value)
{
    uint64_t wall_bits;
    memcpy(&wall_bits, &wall_time, sizeof wall_bits);
    put_key(b, 1, WIRE_I64);
    put_le(b, wall_bits, 8);
    put_key(b, 2, WIRE_VARINT);
    put_varint(b, (uint64_t)step);
    if (version)
        put_string(b, 3, version, strlen(version));
    if (!tag)
        return;
    size_t tag_len = strlen(tag);
    size_t value_len = 1 + varint_size(tag_len) + tag_len + 1 + 4;
    size_t summary_len = 1 + varint_size(value_len) + value_len;
    uint32_t value_bits;
    memcpy(&value_bits, &value, sizeof value_bits);
    put_key(b, 5, WIRE_LEN);
    put_varint(b, summary_len);
    put_key(b, 1, WIRE_LEN);
    put_varint(b, value_len);
    put_string(b, 1, tag, tag_len);
    put_key(b, 2, WIRE_I32);
    put_le(b, value_bits, 4);
}

/* ---- files ------------------------------------------------------------------------------ */

#define WHAT "tfevents"

static void store_le(unsigned char *dst, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)(v >> (8 * i));
}

/* Frames data as one TFRecord at the end of the pending bytes. */
static void put_record(struct pbuf *out, const struct pbuf *data)
{
    unsigned char head[12], tail[4];
    store_le(head, (uint64_t)data->len, 8);
    store_le(head + 8, crc_masked(head, 8), 4);
    store_le(tail, crc_masked(data->data, data->len), 4);
    put_bytes(out, head, sizeof head);
    put_bytes(out, data->data, data->len);
    put_bytes(out, tail, sizeof tail);
}

static enum clann_status add_event(struct clann_tfevents *w, double wall_time, int64_t step,
                                   const char *version, const char *tag, float value)
{
    struct pbuf b = {0};
    encode_event(&b, wall_time, step, version, tag, value);
    if (!b.failed)
        put_record(w->pending, &b);
    clann__free(b.data);
    if (!b.failed && !w->pending->failed)
        return CLANN_OK;
    w->pending->failed = false;
    return clann__error(NULL, CLANN_ERR_NO_MEMORY, "tfevents: out of memory encoding an event");
}

static double wall_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (double)time(NULL);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The host name with '/' replaced, "localhost" when unknown. */
static void host_name(char *buf, size_t size)
{
    if (gethostname(buf, size) != 0 || buf[0] == '\0')
        snprintf(buf, size, "localhost");
    buf[size - 1] = '\0';
    for (char *p = buf; *p; p++)
        if (*p == '/')
            *p = '_';
}

/* Creates the file at w->path holding the pending bytes, atomically (no empty or partial event
 * file is ever visible) and without replacing an existing file. */
static enum clann_status create_file(struct clann_tfevents *w)
{
    struct clann_file *f;
    enum clann_status st = clann__file_begin(NULL, WHAT, w->path, &f);
    if (st == CLANN_OK && (st = clann__file_write(f, w->pending->data, w->pending->len)) != 0)
        clann__file_abort(f);
    if (st == CLANN_OK)
        st = clann__file_commit_keep(f, false, &w->fd);
    if (st == CLANN_OK)
        w->pending->len = 0;
    return st;
}

/* Creates a new file for w under logdir: the first name that does not exist yet. */
static enum clann_status open_new_file(struct clann_tfevents *w, const char *logdir)
{
    char host[256];
    host_name(host, sizeof host);
    long long now = (long long)time(NULL);
    size_t size = strlen(logdir) + strlen(host) + 64;
    w->path = clann__malloc(size);
    if (!w->path)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "tfevents: out of memory");
    enum clann_status st = CLANN_ERR_IO;
    for (int k = 0; k < MAX_SUFFIX && st == CLANN_ERR_IO; k++) {
        int len = snprintf(w->path, size, "%s/events.out.tfevents.%lld.%s", logdir, now, host);
        if (k > 0)
            snprintf(w->path + len, size - (size_t)len, ".%d", k);
        struct stat sb;
        if (lstat(w->path, &sb) == 0)
            continue; /* taken: try the next suffix */
        st = create_file(w);
        if (st == CLANN_ERR_IO && lstat(w->path, &sb) != 0)
            break; /* not taken in the meantime by another writer: a real failure */
    }
    return st;
}

enum clann_status clann__tfevents_open(const char *logdir, struct clann_tfevents **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_open: out is NULL");
    *out = NULL;
    if (!logdir || !*logdir)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_open: no logdir");
    struct clann_tfevents *w = clann__calloc(1, sizeof *w);
    struct pbuf *pending = clann__calloc(1, sizeof *pending);
    if (!w || !pending) {
        clann__free(w);
        clann__free(pending);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "tfevents: out of memory");
    }
    w->fd = -1;
    w->pending = pending;
    enum clann_status st = clann__make_dirs(NULL, WHAT, logdir, 0777);
    if (st == CLANN_OK)
        st = add_event(w, wall_now(), 0, FILE_VERSION, NULL, 0.0f);
    if (st == CLANN_OK)
        st = open_new_file(w, logdir);
    if (st != CLANN_OK) {
        clann__tfevents_close(w);
        return st;
    }
    *out = w;
    return CLANN_OK;
}

const char *clann__tfevents_path(const struct clann_tfevents *w)
{
    return w ? w->path : NULL;
}

enum clann_status clann__tfevents_scalar(struct clann_tfevents *w, const char *tag, int64_t step,
                                         double wall_time, float value)
{
    if (!w || !tag || !*tag)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_scalar: %s",
                            w ? "the tag is NULL or empty" : "the writer is NULL");
    return add_event(w, wall_time < 0 ? wall_now() : wall_time, step, NULL, tag, value);
}

enum clann_status clann__tfevents_flush(struct clann_tfevents *w)
{
    if (!w)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_flush: NULL writer");
    if (w->pending->len == 0)
        return CLANN_OK;
    enum clann_status st = clann__file_append(NULL, WHAT, w->path, w->fd, w->pending->data,
                                              w->pending->len);
    w->pending->len = 0; /* a failed flush drops its records rather than retry them forever */
    return st;
}

enum clann_status clann__tfevents_close(struct clann_tfevents *w)
{
    if (!w)
        return CLANN_OK;
    enum clann_status st = w->fd >= 0 ? clann__tfevents_flush(w) : CLANN_OK;
    if (w->fd >= 0 && close(w->fd) != 0 && st == CLANN_OK)
        st = clann__error(NULL, CLANN_ERR_IO, "tfevents %s: cannot close: %s", w->path,
                          strerror(errno));
    clann__free(w->pending->data);
    clann__free(w->pending);
    clann__free(w->path);
    clann__free(w);
    return st;
}
