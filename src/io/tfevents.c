/*
 * tfevents.c - TensorBoard event files written by hand: a minimal protobuf encoder (varints,
 * fixed-width and length-delimited fields) for Event/Summary/Value, inside TFRecord framing
 * with masked CRC32C checksums. See tfevents.h for the format.
 */
#include "io/tfevents.h"

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

/* Protobuf wire types. */
enum wire { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

struct clann_tfevents {
    FILE *file;
    char *path;
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

static enum clann_status io_error(const char *path, const char *what, int err)
{
    char buf[256];
    if (strerror_r(err, buf, sizeof buf) != 0)
        snprintf(buf, sizeof buf, "error %d", err);
    return clann__error(NULL, CLANN_ERR_IO, "tfevents: %s %s: %s", what, path, buf);
}

static void store_le(unsigned char *dst, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)(v >> (8 * i));
}

/* Frames data as one TFRecord and writes it. */
static enum clann_status write_record(struct clann_tfevents *w, const struct pbuf *data)
{
    unsigned char head[12], tail[4];
    store_le(head, (uint64_t)data->len, 8);
    store_le(head + 8, crc_masked(head, 8), 4);
    store_le(tail, crc_masked(data->data, data->len), 4);
    errno = 0;
    bool ok = fwrite(head, 1, sizeof head, w->file) == sizeof head &&
              fwrite(data->data, 1, data->len, w->file) == data->len &&
              fwrite(tail, 1, sizeof tail, w->file) == sizeof tail;
    return ok ? CLANN_OK : io_error(w->path, "cannot write", errno ? errno : EIO);
}

static enum clann_status write_event(struct clann_tfevents *w, double wall_time, int64_t step,
                                     const char *version, const char *tag, float value)
{
    struct pbuf b = {0};
    encode_event(&b, wall_time, step, version, tag, value);
    enum clann_status st = b.failed
        ? clann__error(NULL, CLANN_ERR_NO_MEMORY, "tfevents: out of memory encoding an event")
        : write_record(w, &b);
    clann__free(b.data);
    return st;
}

static double wall_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (double)time(NULL);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* mkdir -p: creates every missing folder of path (which it may modify temporarily). */
static enum clann_status make_dirs(char *path)
{
    size_t len = strlen(path);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        struct stat sb;
        int err = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            err = errno;
        else if (stat(path, &sb) != 0)
            err = errno;
        else if (!S_ISDIR(sb.st_mode))
            err = ENOTDIR;
        enum clann_status st = err ? io_error(path, "cannot create the folder", err) : CLANN_OK;
        path[i] = saved;
        if (st != CLANN_OK)
            return st;
    }
    return CLANN_OK;
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

/* Opens a new file for w under logdir: the first name that does not exist yet. */
static enum clann_status open_new_file(struct clann_tfevents *w, const char *logdir)
{
    char host[256];
    host_name(host, sizeof host);
    long long now = (long long)time(NULL);
    size_t size = strlen(logdir) + strlen(host) + 64;
    w->path = clann__malloc(size);
    if (!w->path)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "tfevents: out of memory");
    int err = 0;
    for (int k = 0; k < MAX_SUFFIX; k++) {
        int len = snprintf(w->path, size, "%s/events.out.tfevents.%lld.%s", logdir, now, host);
        if (k > 0)
            snprintf(w->path + len, size - (size_t)len, ".%d", k);
        w->file = fopen(w->path, "wbx");
        err = errno;
        if (w->file || err != EEXIST)
            break;
    }
    return w->file ? CLANN_OK : io_error(w->path, "cannot create", err);
}

enum clann_status clann__tfevents_open(const char *logdir, struct clann_tfevents **out)
{
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_open: out is NULL");
    *out = NULL;
    if (!logdir || !*logdir)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_open: no logdir");
    struct clann_tfevents *w = clann__calloc(1, sizeof *w);
    char *dir = clann__malloc(strlen(logdir) + 1);
    if (!w || !dir) {
        clann__free(w);
        clann__free(dir);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "tfevents: out of memory");
    }
    strcpy(dir, logdir);
    enum clann_status st = make_dirs(dir);
    clann__free(dir);
    if (st == CLANN_OK)
        st = open_new_file(w, logdir);
    if (st == CLANN_OK)
        st = write_event(w, wall_now(), 0, FILE_VERSION, NULL, 0.0f);
    if (st == CLANN_OK)
        st = clann__tfevents_flush(w);
    if (st != CLANN_OK) {
        /* Leave no half-written file behind. */
        if (w->file && fclose(w->file) == 0)
            remove(w->path);
        w->file = NULL;
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
    return write_event(w, wall_time < 0 ? wall_now() : wall_time, step, NULL, tag, value);
}

enum clann_status clann__tfevents_flush(struct clann_tfevents *w)
{
    if (!w)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann__tfevents_flush: NULL writer");
    errno = 0;
    if (fflush(w->file) != 0)
        return io_error(w->path, "cannot write", errno ? errno : EIO);
    return CLANN_OK;
}

enum clann_status clann__tfevents_close(struct clann_tfevents *w)
{
    if (!w)
        return CLANN_OK;
    enum clann_status st = CLANN_OK;
    if (w->file) {
        errno = 0;
        if (fclose(w->file) != 0)
            st = io_error(w->path, "cannot close", errno ? errno : EIO);
    }
    clann__free(w->path);
    clann__free(w);
    return st;
}
