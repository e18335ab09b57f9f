/*
 * test-tfevents.c - the TensorBoard event writer (src/io/tfevents.c), checked by an independent
 * reader: TFRecord framing with both masked CRC32Cs recomputed by a bitwise CRC written here,
 * and a generic protobuf decoder for Event, Summary and Value.
 */
#include "io/tfevents.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- the independent reader -------------------------------------------------------------- */

/* Bit-at-a-time CRC32C, reflected polynomial 0x82f63b78. */
static uint32_t ref_crc32c(const unsigned char *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t ref_mask(uint32_t crc)
{
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

static uint64_t read_le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* A cursor over protobuf bytes. */
struct cursor {
    const unsigned char *p, *end;
};

static uint64_t read_varint(struct cursor *c)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        ck_assert_msg(c->p < c->end, "varint runs past the end");
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    ck_abort_msg("varint longer than 10 bytes");
    return 0;
}

/* One field: its number, wire type and payload (value for varints and fixed fields, bytes for
 * length-delimited ones). */
struct field {
    unsigned number, wire;
    uint64_t value;
    struct cursor bytes;
};

static bool next_field(struct cursor *c, struct field *f)
{
    if (c->p == c->end)
        return false;
    uint64_t key = read_varint(c);
    f->number = (unsigned)(key >> 3);
    f->wire = (unsigned)(key & 7);
    if (f->wire == 0) {
        f->value = read_varint(c);
    } else if (f->wire == 1 || f->wire == 5) {
        size_t n = f->wire == 1 ? 8 : 4;
        ck_assert((size_t)(c->end - c->p) >= n);
        f->value = read_le(c->p, n);
        c->p += n;
    } else {
        ck_assert_uint_eq(f->wire, 2);
        uint64_t n = read_varint(c);
        ck_assert(n <= (uint64_t)(c->end - c->p));
        f->bytes.p = c->p;
        f->bytes.end = c->p + n;
        c->p += n;
    }
    return true;
}

#define MAX_VALUES 4

struct event {
    double wall_time;
    bool has_wall_time;
    int64_t step;
    char file_version[64];
    size_t n_values;
    char tags[MAX_VALUES][512];
    uint32_t value_bits[MAX_VALUES];
};

static void copy_string(char *dst, size_t cap, struct cursor s)
{
    size_t n = (size_t)(s.end - s.p);
    ck_assert(n < cap);
    memcpy(dst, s.p, n);
    dst[n] = '\0';
}

static void decode_value(struct cursor c, struct event *e)
{
    struct field f;
    size_t k = e->n_values++;
    ck_assert(k < MAX_VALUES);
    bool has_value = false;
    while (next_field(&c, &f)) {
        if (f.number == 1 && f.wire == 2)
            copy_string(e->tags[k], sizeof e->tags[k], f.bytes);
        else if (f.number == 2 && f.wire == 5)
            e->value_bits[k] = (uint32_t)f.value, has_value = true;
        else
            ck_abort_msg("unexpected Value field %u (wire %u)", f.number, f.wire);
    }
    ck_assert(has_value);
}

static void decode_event(struct cursor c, struct event *e)
{
    struct field f, g;
    memset(e, 0, sizeof *e);
    while (next_field(&c, &f)) {
        if (f.number == 1 && f.wire == 1) {
            memcpy(&e->wall_time, &f.value, sizeof e->wall_time);
            e->has_wall_time = true;
        } else if (f.number == 2 && f.wire == 0) {
            e->step = (int64_t)f.value;
        } else if (f.number == 3 && f.wire == 2) {
            copy_string(e->file_version, sizeof e->file_version, f.bytes);
        } else if (f.number == 5 && f.wire == 2) {
            while (next_field(&f.bytes, &g)) {
                ck_assert(g.number == 1 && g.wire == 2);
                decode_value(g.bytes, e);
            }
        } else {
            ck_abort_msg("unexpected Event field %u (wire %u)", f.number, f.wire);
        }
    }
}

/* Reads every record of the file, checking the framing and both CRCs; returns the count. */
static size_t read_events(const char *path, struct event *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    static unsigned char buf[1 << 16];
    size_t len = fread(buf, 1, sizeof buf, f);
    ck_assert(feof(f));
    fclose(f);
    size_t pos = 0, count = 0;
    while (pos < len) {
        ck_assert_msg(len - pos >= 12, "truncated record header at %zu", pos);
        uint64_t n = read_le(buf + pos, 8);
        ck_assert_uint_eq(read_le(buf + pos + 8, 4), ref_mask(ref_crc32c(buf + pos, 8)));
        ck_assert_msg(n + 4 <= len - pos - 12, "truncated record at %zu", pos);
        const unsigned char *data = buf + pos + 12;
        ck_assert_uint_eq(read_le(data + n, 4), ref_mask(ref_crc32c(data, (size_t)n)));
        ck_assert(count < cap);
        decode_event((struct cursor){data, data + n}, &out[count++]);
        pos += 12 + (size_t)n + 4;
    }
    return count;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void make_tmpdir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/clann-tfevents-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_tree(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static uint32_t float_bits(float v)
{
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

/* ---- tests -------------------------------------------------------------------------------- */

START_TEST(test_crc32c_vector)
{
    ck_assert_uint_eq(clann__crc32c("123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(ref_crc32c((const unsigned char *)"123456789", 9), 0xe3069283u);
    ck_assert_uint_eq(clann__crc32c("", 0), 0);
    /* Agreement on every byte value and lengths around the nibble loop. */
    unsigned char all[256];
    for (size_t i = 0; i < 256; i++)
        all[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 256; n += 17)
        ck_assert_uint_eq(clann__crc32c(all, n), ref_crc32c(all, n));
}
END_TEST

START_TEST(test_scalars_roundtrip)
{
    char root[64], logdir[128];
    make_tmpdir(root, sizeof root);
    snprintf(logdir, sizeof logdir, "%s/run/a/", root); /* missing folders, trailing slash */
    struct clann_tfevents *w = NULL;
    time_t before = time(NULL);
    ck_assert_msg(clann__tfevents_open(logdir, &w) == CLANN_OK, "%s", clann_last_error());
    const char *path = clann__tfevents_path(w);
    char host[256] = "";
    gethostname(host, sizeof host);
    ck_assert_ptr_nonnull(strstr(path, "/events.out.tfevents."));
    ck_assert_ptr_nonnull(strstr(path, host));

    char long_tag[300];
    memset(long_tag, 'x', sizeof long_tag - 1);
    long_tag[sizeof long_tag - 1] = '\0';
    const struct {
        const char *tag;
        int64_t step;
        double wall;
        float value;
    } in[] = {
        {"loss", 0, 1700000000.25, 0.693147f},
        {"accuracy", 1, 1700000001.5, 0.5f},
        {"val/loss", 300, 1700000002.0, -1.25f},
        {long_tag, (int64_t)1 << 40, 1.0, 3.4028235e38f},
        {"negative_step", -5, 2.5, 1e-30f},
        {"nan", 7, 3.0, NAN},
    };
    size_t n_in = sizeof in / sizeof in[0];
    for (size_t i = 0; i < n_in; i++)
        ck_assert_int_eq(clann__tfevents_scalar(w, in[i].tag, in[i].step, in[i].wall,
                                                in[i].value), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_flush(w), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_scalar(w, "now", 8, -1.0, 2.0f), CLANN_OK);
    char saved[512];
    snprintf(saved, sizeof saved, "%s", path);
    ck_assert_int_eq(clann__tfevents_close(w), CLANN_OK);

    struct event ev[16];
    size_t n = read_events(saved, ev, 16);
    ck_assert_uint_eq(n, n_in + 2);
    ck_assert_str_eq(ev[0].file_version, "brain.Event:2");
    ck_assert(ev[0].has_wall_time && ev[0].wall_time >= (double)before - 1);
    ck_assert_uint_eq(ev[0].n_values, 0);
    for (size_t i = 0; i < n_in; i++) {
        const struct event *e = &ev[i + 1];
        ck_assert_str_eq(e->file_version, "");
        ck_assert_uint_eq(e->n_values, 1);
        ck_assert_str_eq(e->tags[0], in[i].tag);
        ck_assert(e->step == in[i].step);
        ck_assert(e->wall_time == in[i].wall);
        ck_assert_uint_eq(e->value_bits[0], float_bits(in[i].value));
    }
    const struct event *last = &ev[n - 1];
    ck_assert_str_eq(last->tags[0], "now");
    ck_assert(last->wall_time >= (double)before - 1 && last->wall_time <= (double)time(NULL) + 1);
    remove_tree(root);
}
END_TEST

START_TEST(test_two_writers_same_dir)
{
    char root[64];
    make_tmpdir(root, sizeof root);
    struct clann_tfevents *a, *b;
    ck_assert_int_eq(clann__tfevents_open(root, &a), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_open(root, &b), CLANN_OK);
    ck_assert_str_ne(clann__tfevents_path(a), clann__tfevents_path(b));
    ck_assert_int_eq(clann__tfevents_scalar(a, "a", 1, 1.0, 1.0f), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_scalar(b, "b", 2, 2.0, 2.0f), CLANN_OK);
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s", clann__tfevents_path(a));
    snprintf(pb, sizeof pb, "%s", clann__tfevents_path(b));
    ck_assert_int_eq(clann__tfevents_close(a), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_close(b), CLANN_OK);
    struct event ev[4];
    ck_assert_uint_eq(read_events(pa, ev, 4), 2);
    ck_assert_str_eq(ev[1].tags[0], "a");
    ck_assert_uint_eq(read_events(pb, ev, 4), 2);
    ck_assert_str_eq(ev[1].tags[0], "b");
    remove_tree(root);
}
END_TEST

START_TEST(test_errors)
{
    char root[64], file[128], below[160];
    make_tmpdir(root, sizeof root);
    snprintf(file, sizeof file, "%s/plain", root);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    struct clann_tfevents *w = (struct clann_tfevents *)1;
    /* A logdir that is a file, and one below a file. */
    ck_assert_int_eq(clann__tfevents_open(file, &w), CLANN_ERR_IO);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), file));
    ck_assert_ptr_nonnull(strstr(clann_last_error(), strerror(ENOTDIR)));
    snprintf(below, sizeof below, "%s/sub", file);
    ck_assert_int_eq(clann__tfevents_open(below, &w), CLANN_ERR_IO);
    ck_assert_int_eq(clann__tfevents_open("", &w), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__tfevents_open(root, NULL), CLANN_ERR_INVALID_ARG);
    if (geteuid() != 0) {
        char ro[160];
        snprintf(ro, sizeof ro, "%s/ro", root);
        ck_assert_int_eq(mkdir(ro, 0555), 0);
        ck_assert_int_eq(clann__tfevents_open(ro, &w), CLANN_ERR_IO);
        ck_assert_ptr_nonnull(strstr(clann_last_error(), strerror(EACCES)));
    }
    ck_assert_int_eq(clann__tfevents_open(root, &w), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_scalar(w, "", 0, 0, 0), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__tfevents_scalar(w, NULL, 0, 0, 0), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__tfevents_scalar(NULL, "t", 0, 0, 0), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann__tfevents_close(w), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_close(NULL), CLANN_OK);
    remove_tree(root);
}
END_TEST

/* The open of the out-of-memory sweep (test_oom_sweep). */
struct open_sweep {
    const char *root;
    struct clann_tfevents *w;
};

static enum clann_status sweep_open(void *user)
{
    struct open_sweep *o = user;
    return clann__tfevents_open(o->root, &o->w);
}

/* A failed open leaves no writer and no file. */
static void sweep_open_failed(void *user, long n)
{
    struct open_sweep *o = user;
    ck_assert_ptr_null(o->w);
    DIR *d = opendir(o->root);
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        ck_assert_msg(e->d_name[0] == '.', "%s left behind (allocation %ld)", e->d_name, n);
    closedir(d);
}

/* Each allocation failure in open and scalar gives ERR_NO_MEMORY and leaves no file. */
START_TEST(test_out_of_memory)
{
    char root[64];
    make_tmpdir(root, sizeof root);
    struct open_sweep o = {.root = root};
    test_oom_sweep("open", sweep_open, sweep_open_failed, false, &o);
    clann__alloc_fail_after(1);
    enum clann_status st = clann__tfevents_scalar(o.w, "tag", 1, 1.0, 1.0f);
    clann__alloc_fail_after(0);
    ck_assert_int_eq(st, CLANN_ERR_NO_MEMORY);
    ck_assert_int_eq(clann__tfevents_scalar(o.w, "tag", 1, 1.0, 1.0f), CLANN_OK);
    ck_assert_int_eq(clann__tfevents_close(o.w), CLANN_OK);
    remove_tree(root);
}
END_TEST

static Suite *tfevents_suite(void)
{
    Suite *s = suite_create("tfevents");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_crc32c_vector);
    tcase_add_test(tc, test_scalars_roundtrip);
    tcase_add_test(tc, test_two_writers_same_dir);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(tfevents_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
