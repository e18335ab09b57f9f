/*
 * test-data.c - host data readers: CSV, IDX, NPY and Fashion-MNIST (docs/testing.md, "Data
 * readers").
 *
 * Every input is generated into a private temporary folder; every malformed input checks its
 * own status and that the message says where the problem is (row and column, or byte counts).
 */
#include "core/internal.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmpdir[] = "/tmp/clann-test-data-XXXXXX";

/* ---- helpers ------------------------------------------------------------------------------ */

static const char *tpath(const char *name)
{
    static char path[2][512];
    static int which;
    which ^= 1;
    snprintf(path[which], sizeof path[which], "%s/%s", tmpdir, name);
    return path[which];
}

static const char *write_file(const char *name, const void *data, size_t len)
{
    const char *path = tpath(name);
    FILE *fp = fopen(path, "wb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fwrite(data, 1, len, fp), len);
    ck_assert_int_eq(fclose(fp), 0);
    return path;
}

static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *path = tpath(name);
    gzFile gz = gzopen(path, "wb");
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(gzwrite(gz, data, (unsigned)len), (int)len);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    return path;
}

/* Checks status and that the last error contains every given substring. */
static void check_error(int line, enum clann_status st, enum clann_status want,
                        const char *const *subs)
{
    const char *msg = clann_last_error();
    ck_assert_msg(st == want, "line %d: got %s, expected %s; message: %s", line,
                  clann_status_name(st), clann_status_name(want), msg);
    for (; *subs; subs++)
        ck_assert_msg(strstr(msg, *subs) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
                      msg, *subs);
}
#define EXPECT_ERROR(st, want, ...) \
    check_error(__LINE__, (st), (want), (const char *const[]){__VA_ARGS__, NULL})

static long max_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void assert_floats(const struct clann_matrix *m, size_t rows, size_t cols,
                          const float *want)
{
    ck_assert_uint_eq(m->rows, rows);
    ck_assert_uint_eq(m->cols, cols);
    for (size_t i = 0; i < rows * cols; i++)
        ck_assert_msg(m->data[i] == want[i], "element %zu: %g, expected %g", i,
                      (double)m->data[i], (double)want[i]);
}

/* ---- CSV helpers -------------------------------------------------------------------------- */

static const char *csv_file(const void *text, size_t len)
{
    char name[64];
    static int n;
    snprintf(name, sizeof name, "t%d-%d.csv", (int)getpid(), n++);
    return write_file(name, text, len);
}

static enum clann_status csv_load_text(const char *text, size_t len,
                                       const struct clann_csv_params *p, struct clann_matrix *x,
                                       struct clann_matrix *y)
{
    return clann_csv_load(csv_file(text, len), p, x, y);
}
#define CSV(s, p, x, y) csv_load_text((s), sizeof(s) - 1, (p), (x), (y))

static struct clann_csv_params csv_params(bool header, const char *label,
                                          enum clann_fill_policy fill)
{
    struct clann_csv_params p = clann_csv_default_params();
    p.has_header = header;
    p.label_column = label;
    p.fill = fill;
    return p;
}

/* ---- CSV: good paths ---------------------------------------------------------------------- */

START_TEST(csv_defaults)
{
    struct clann_csv_params d = clann_csv_default_params();
    ck_assert_int_eq(d.delimiter, ',');
    ck_assert(d.has_header);
    ck_assert_ptr_null(d.label_column);
    ck_assert_int_eq(d.fill, CLANN_FILL_NONE);

    struct clann_matrix x, y;
    ck_assert_int_eq(CSV("a,b,c\n1,2,3\n4,5,6\n", NULL, &x, &y), CLANN_OK);
    assert_floats(&x, 2, 2, (const float[]){1, 2, 4, 5});
    assert_floats(&y, 2, 1, (const float[]){3, 6});
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    ck_assert_ptr_null(x.data);
    ck_assert_uint_eq(x.rows, 0);
}
END_TEST

START_TEST(csv_label_by_name_index_none)
{
    struct clann_matrix x, y;
    struct clann_csv_params p = csv_params(true, "a", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("a,b,c\n1,2,3\n4,5,6\n", &p, &x, &y), CLANN_OK);
    assert_floats(&x, 2, 2, (const float[]){2, 3, 5, 6});
    assert_floats(&y, 2, 1, (const float[]){1, 4});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    p = csv_params(false, "1", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("1,2,3\n4,5,6\n", &p, &x, &y), CLANN_OK);
    assert_floats(&x, 2, 2, (const float[]){1, 3, 4, 6});
    assert_floats(&y, 2, 1, (const float[]){2, 5});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    /* An index also works with a header; a header name wins over an index. */
    p = csv_params(true, "0", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("a,0,c\n1,2,3\n", &p, &x, &y), CLANN_OK);
    assert_floats(&y, 1, 1, (const float[]){2});
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    p = csv_params(true, "2", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("a,b,c\n1,2,3\n", &p, &x, &y), CLANN_OK);
    assert_floats(&y, 1, 1, (const float[]){3});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    p = csv_params(true, "", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("a,b,c\n1,2,3\n4,5,6\n", &p, &x, NULL), CLANN_OK);
    assert_floats(&x, 2, 3, (const float[]){1, 2, 3, 4, 5, 6});
    clann_matrix_free(&x);
    ck_assert_int_eq(CSV("a,b,c\n1,2,3\n", &p, &x, &y), CLANN_OK);
    ck_assert_uint_eq(y.rows, 0);
    ck_assert_ptr_null(y.data);
    clann_matrix_free(&x);
}
END_TEST

START_TEST(csv_quoting_and_line_ends)
{
    struct clann_matrix x, y;
    /* Quoted header names with a delimiter, doubled quotes and a line end inside. */
    struct clann_csv_params p = csv_params(true, "say \"hi\"", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("\"x,y\",\"say \"\"hi\"\"\",\"two\nlines\"\n\"1\", 2 ,\"3\"\n", &p, &x,
                         &y),
                     CLANN_OK);
    assert_floats(&x, 1, 2, (const float[]){1, 3});
    assert_floats(&y, 1, 1, (const float[]){2});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    /* LF, CRLF and lone CR mixed; a blank line; no line end at the end. */
    ck_assert_int_eq(CSV("a,b\r\n1,2\r3,4\n\n5,6\r\n7,8", NULL, &x, &y), CLANN_OK);
    assert_floats(&x, 4, 1, (const float[]){1, 3, 5, 7});
    assert_floats(&y, 4, 1, (const float[]){2, 4, 6, 8});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    /* A UTF-8 byte order mark is skipped. */
    p = csv_params(true, "a", CLANN_FILL_NONE);
    ck_assert_int_eq(CSV("\xef\xbb\xbf" "a,b\n1,2\n", &p, &x, &y), CLANN_OK);
    assert_floats(&y, 1, 1, (const float[]){1});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    /* Other delimiters; spaces around numbers and quoted fields; exponents. */
    p = csv_params(false, NULL, CLANN_FILL_NONE);
    p.delimiter = ';';
    ck_assert_int_eq(CSV(" 1.5 ; \"-2e3\" \n+.25;0x10\n", &p, &x, &y), CLANN_OK);
    assert_floats(&x, 2, 1, (const float[]){1.5f, 0.25f});
    assert_floats(&y, 2, 1, (const float[]){-2000, 16});
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    p.delimiter = '\t';
    ck_assert_int_eq(CSV("1\t2\n3\t4\n", &p, &x, &y), CLANN_OK);
    assert_floats(&x, 2, 1, (const float[]){1, 3});
    clann_matrix_free(&x);
    clann_matrix_free(&y);
}
END_TEST

START_TEST(csv_fill_policies)
{
    struct clann_matrix x, y;
    struct clann_csv_params p = csv_params(true, "", CLANN_FILL_ZERO);
    ck_assert_int_eq(CSV("a,b\n1,\n,4\nnan,x\n", &p, &x, &y), CLANN_OK);
    assert_floats(&x, 3, 2, (const float[]){1, 0, 0, 4, 0, 0});
    clann_matrix_free(&x);

    p = csv_params(true, NULL, CLANN_FILL_MEAN);
    ck_assert_int_eq(CSV("a,b\n1,\n3,4\nx,8\ninf,\"\"\n", &p, &x, &y), CLANN_OK);
    assert_floats(&x, 4, 1, (const float[]){1, 3, 2, 2});
    assert_floats(&y, 4, 1, (const float[]){6, 4, 8, 6});
    clann_matrix_free(&x);
    clann_matrix_free(&y);

    /* A column with nothing to average. */
    EXPECT_ERROR(CSV("a,b\n1,\n3,\n", &p, &x, &y), CLANN_ERR_FORMAT, "column 2", "('b')",
                 "mean");
    ck_assert_ptr_null(x.data);
    ck_assert_ptr_null(y.data);
}
END_TEST

START_TEST(csv_long_line)
{
    /* Two rows of 200,000 fields each, about 1.2 MiB per line. */
    const size_t cols = 200000;
    size_t cap = 2 * cols * 7 + 16, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (int r = 0; r < 2; r++) {
        for (size_t c = 0; c < cols; c++)
            len += (size_t)snprintf(text + len, cap - len, "%s%d.125", c ? "," : "", r);
        text[len++] = '\n';
    }
    ck_assert_uint_gt(len / 2, 1u << 20);
    struct clann_csv_params p = csv_params(false, "", CLANN_FILL_NONE);
    struct clann_matrix x, y;
    ck_assert_int_eq(csv_load_text(text, len, &p, &x, &y), CLANN_OK);
    ck_assert_uint_eq(x.rows, 2);
    ck_assert_uint_eq(x.cols, cols);
    ck_assert(x.data[0] == 0.125f && x.data[cols - 1] == 0.125f);
    ck_assert(x.data[cols] == 1.125f && x.data[2 * cols - 1] == 1.125f);
    clann_matrix_free(&x);

    /* The same with a bad token in the last field of the second line. */
    memcpy(text + len - 6, "1.1x5", 5);
    EXPECT_ERROR(csv_load_text(text, len, &p, &x, &y), CLANN_ERR_FORMAT,
                 "row 2, column 200000:", "'1.1x5'");
    free(text);
}
END_TEST

/* Loads text as a table (written to a file of that name). */
static enum clann_status table_text(const char *name, const char *text, size_t len,
                                    struct clann_table **t)
{
    return clann_table_load_csv(write_file(name, text, len), NULL, t);
}

START_TEST(table_half_valid_numbers)
{
    /* Number-like cells that are no finite floats are bad values with their row and column,
     * never categories; among words they stay words. The missing tokens ("nan", "NaN") are
     * missing cells, not bad values; any other spelling of a NaN is a bad value. */
    struct clann_table *t = NULL;
    const char *nan_col = "a,b\n1,nan\n2,NaN\n3,4\n";
    ck_assert_int_eq(table_text("nan.csv", nan_col, strlen(nan_col), &t), CLANN_OK);
    ck_assert(clann_table_column_is_numeric(t, 1));
    ck_assert_uint_eq(clann_table_column_missing(t, 1), 2);
    clann_table_destroy(t);
    t = NULL;
    const char *signed_nan = "a,b\n1,2\n2,-nan\n";
    EXPECT_ERROR(table_text("snan.csv", signed_nan, strlen(signed_nan), &t), CLANN_ERR_NONFINITE,
                 "snan.csv: row 3, column 2 ('b'): '-nan' is a non-finite value");
    const char *inf_missing = "a,b\n1,NA\n2,inf\n";
    EXPECT_ERROR(table_text("infna.csv", inf_missing, strlen(inf_missing), &t),
                 CLANN_ERR_NONFINITE, "row 3, column 2 ('b'): 'inf'");
    const char *inf_mid = "a,b\n1,2.5\n\n2,-inf\n";
    EXPECT_ERROR(table_text("inf.csv", inf_mid, strlen(inf_mid), &t), CLANN_ERR_NONFINITE,
                 "row 4, column 2 ('b'): '-inf'");
    const char *huge = "a,b\n1e999,1\n1,2\n";
    EXPECT_ERROR(table_text("huge.csv", huge, strlen(huge), &t), CLANN_ERR_FORMAT,
                 "row 2, column 1 ('a'): '1e999' is beyond the float range");
    const char *mixed = "a,b\n1,x\n1e39,y\n";
    EXPECT_ERROR(table_text("mixed.csv", mixed, strlen(mixed), &t), CLANN_ERR_FORMAT,
                 "row 3, column 1 ('a'): '1e39'");
    ck_assert_ptr_null(t);

    /* A 4 MB run of digits: refused, quoted short. */
    size_t n = 4u << 20;
    char *text = malloc(n + 32);
    ck_assert_ptr_nonnull(text);
    memcpy(text, "a,b\n1,", 6);
    memset(text + 6, '7', n);
    memcpy(text + 6 + n, "\n2,3\n", 5);
    EXPECT_ERROR(table_text("digits.csv", text, n + 11, &t), CLANN_ERR_FORMAT,
                 "row 2, column 2 ('b'): '7777777", "...' is beyond the float range");
    ck_assert_uint_lt(strlen(clann_last_error()), 200);
    free(text);

    /* Words stay words, "Nan" and "inf" among them. */
    const char *words = "name,y\nBob,1\nNan,0\ninf,1\n";
    ck_assert_int_eq(table_text("words.csv", words, strlen(words), &t), CLANN_OK);
    ck_assert(!clann_table_column_is_numeric(t, 0));
    ck_assert_uint_eq(clann_table_column_numbers(t, 0), 0);
    clann_table_destroy(t);
}
END_TEST

START_TEST(table_numeric_memory)
{
    /* A numeric file is held as its text while it is read, then as floats: the peak stays
     * near the file's size (it was ~2.7x with an offset per cell kept while reading). */
    const size_t rows = 400000;
    const char *path = tpath("numeric.csv");
    FILE *f = fopen(path, "w"); /* written as a stream: no copy of the file in memory */
    ck_assert_ptr_nonnull(f);
    size_t len = (size_t)fprintf(f, "a,b,c,d,y\n");
    for (size_t r = 0; r < rows; r++)
        len += (size_t)fprintf(f, "%zu.25,%zu,-%zu.5,1e-3,%zu\n", r % 977, r % 13, r % 101,
                               r % 2);
    ck_assert_int_eq(fclose(f), 0);
    struct clann_table *t = NULL;
    long before = max_rss_kib();
    ck_assert_int_eq(clann_table_load_csv(path, NULL, &t), CLANN_OK);
    long used = max_rss_kib() - before;
    ck_assert_uint_eq(clann_table_rows(t), rows);
    for (size_t c = 0; c < 5; c++)
        ck_assert(clann_table_column_is_numeric(t, c));
    clann_table_destroy(t);
    printf("table of a %zu KiB numeric CSV: peak +%ld KiB\n", len / 1024, used);
#ifndef __SANITIZE_ADDRESS__ /* ASan's quarantine keeps freed blocks resident */
    ck_assert_int_lt(used, (long)(2 * len / 1024));
#endif
}
END_TEST

START_TEST(table_wide_header)
{
    /* 60,000 columns with a duplicate name at the end: found in linear time; 70,000 columns
     * are refused with a clear message before any column is stored. */
    const size_t cols = 70000;
    size_t cap = cols * 8 + 64, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (size_t c = 0; c < 60000; c++)
        len += (size_t)snprintf(text + len, cap - len, "%sc%zu", c ? "," : "",
                                c == 59999 ? (size_t)17 : c);
    len += (size_t)snprintf(text + len, cap - len, "\n");
    struct clann_table *t = NULL;
    double t0 = clann__now();
    EXPECT_ERROR(table_text("dup.csv", text, len, &t), CLANN_ERR_INVALID_ARG,
                 "row 1, column 60000", "duplicate column name 'c17'");
    ck_assert_double_lt(clann__now() - t0, 2.0);
    len = 0;
    for (size_t c = 0; c < cols; c++)
        len += (size_t)snprintf(text + len, cap - len, "%sc%zu", c ? "," : "", c);
    len += (size_t)snprintf(text + len, cap - len, "\n");
    EXPECT_ERROR(table_text("wide.csv", text, len, &t), CLANN_ERR_TOO_LARGE,
                 "row 1 has 70000 columns, more than the 65536");
    ck_assert_ptr_null(t);
    free(text);
}
END_TEST

START_TEST(csv_c_locale)
{
    /* strtod must use '.' whatever the caller's locale. Only meaningful where a locale with a
     * decimal comma is installed. */
    const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "C.UTF-8"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (setlocale(LC_NUMERIC, names[i]))
            break;
    struct clann_matrix x, y;
    ck_assert_int_eq(CSV("a,b\n1.5,2.25\n", NULL, &x, &y), CLANN_OK);
    assert_floats(&x, 1, 1, (const float[]){1.5f});
    assert_floats(&y, 1, 1, (const float[]){2.25f});
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    setlocale(LC_NUMERIC, "C");
}
END_TEST

/* ---- CSV: malformed input ----------------------------------------------------------------- */

START_TEST(csv_ragged)
{
    struct clann_matrix x, y;
    EXPECT_ERROR(CSV("a,b,c\n1,2,3\n4,5\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 3:",
                 "expected 3 fields, found 2");
    EXPECT_ERROR(CSV("a,b\n1,2\n3,4,5\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 3:",
                 "expected 2 fields, found 3");
    /* Trailing delimiter: one more (empty) field. */
    EXPECT_ERROR(CSV("a,b\n1,2,\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2:",
                 "expected 2 fields, found 3");
    struct clann_csv_params p = csv_params(false, "", CLANN_FILL_NONE);
    EXPECT_ERROR(CSV("1,2,\n3,4,\n", &p, &x, &y), CLANN_ERR_FORMAT, "row 1, column 3:", "empty");
    /* Rows are line numbers: a quoted line end in the header moves row 3 to line 4. */
    EXPECT_ERROR(CSV("\"a\nb\",c\n1,2\n3\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 4:",
                 "expected 2 fields, found 1");
    ck_assert_ptr_null(x.data);
    ck_assert_ptr_null(y.data);
}
END_TEST

START_TEST(csv_bad_tokens)
{
    struct clann_matrix x, y;
    const char *path = csv_file("a,b\n1,2\n3,abc\n", 14);
    EXPECT_ERROR(clann_csv_load(path, NULL, &x, &y), CLANN_ERR_FORMAT, path,
                 "row 3, column 2 ('b'): could not convert 'abc' to a number");
    struct clann_csv_params p = csv_params(false, NULL, CLANN_FILL_NONE);
    EXPECT_ERROR(CSV("1,2\n3,4x\n", &p, &x, &y), CLANN_ERR_FORMAT, "row 2, column 2:", "'4x'");
    EXPECT_ERROR(CSV("a,b\n1,\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 2 ('b')",
                 "empty field");
    EXPECT_ERROR(CSV("a,b\n\"\",1\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 1 ('a')",
                 "empty field");
    EXPECT_ERROR(CSV("a,b\n1 2,3\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 1",
                 "'1 2'");
    EXPECT_ERROR(CSV("a,b\n1,1e999\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 2",
                 "'1e999'", "float range");
    EXPECT_ERROR(CSV("a,b\n1,1e39\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 2",
                 "float range");
    /* A quoted delimiter stays inside its field. */
    EXPECT_ERROR(CSV("a,b\n\"1,5\",2\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 1",
                 "'1,5'");
    /* Invalid UTF-8 and control bytes are escaped in the message. */
    EXPECT_ERROR(CSV("a,b\n1,\xff\xfe\x01\n", NULL, &x, &y), CLANN_ERR_FORMAT,
                 "row 2, column 2", "'\\xff\\xfe\\x01'");
    /* Long text is cut. */
    EXPECT_ERROR(CSV("a,b\n1,xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
                     NULL, &x, &y),
                 CLANN_ERR_FORMAT, "row 2, column 2", "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    /* CR/LF mix: the location still counts lines. */
    EXPECT_ERROR(CSV("a,b\r\n1,2\r3,4\n5,x\r\n", NULL, &x, &y), CLANN_ERR_FORMAT,
                 "row 4, column 2", "'x'");
    ck_assert_ptr_null(x.data);
    ck_assert_ptr_null(y.data);
}
END_TEST

START_TEST(csv_nonfinite)
{
    struct clann_matrix x, y;
    EXPECT_ERROR(CSV("a,b\n1,nan\n", NULL, &x, &y), CLANN_ERR_NONFINITE, "row 2, column 2",
                 "'nan'");
    EXPECT_ERROR(CSV("a,b\n-inf,1\n", NULL, &x, &y), CLANN_ERR_NONFINITE, "row 2, column 1",
                 "'-inf'");
    EXPECT_ERROR(CSV("a,b\n1,2\n3, Infinity\n", NULL, &x, &y), CLANN_ERR_NONFINITE,
                 "row 3, column 2", "Infinity");
    EXPECT_ERROR(CSV("a,b\n1,NaN\n", NULL, &x, &y), CLANN_ERR_NONFINITE, "row 2, column 2");
}
END_TEST

START_TEST(csv_structure_errors)
{
    struct clann_matrix x, y;
    const char *path = csv_file("", 0);
    EXPECT_ERROR(clann_csv_load(path, NULL, &x, &y), CLANN_ERR_FORMAT, path, "empty");
    EXPECT_ERROR(CSV("\n\r\n\r", NULL, &x, &y), CLANN_ERR_FORMAT, "empty");
    EXPECT_ERROR(CSV("a,b,c\n", NULL, &x, &y), CLANN_ERR_FORMAT, "no data rows");
    EXPECT_ERROR(CSV("a,b,c", NULL, &x, &y), CLANN_ERR_FORMAT, "no data rows");
    EXPECT_ERROR(CSV("a,b\n1,2\n3,4\0 5\n", NULL, &x, &y), CLANN_ERR_FORMAT,
                 "row 3, column 2", "NUL");
    EXPECT_ERROR(CSV("a,b\n1,\"2\n3,4\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 2",
                 "unterminated");
    EXPECT_ERROR(CSV("a,b\n\"1\"x,2\n", NULL, &x, &y), CLANN_ERR_FORMAT, "row 2, column 1",
                 "closing quote");
    path = tpath("does-not-exist.csv");
    EXPECT_ERROR(clann_csv_load(path, NULL, &x, &y), CLANN_ERR_IO, path);

    /* Parameters. */
    struct clann_csv_params p = csv_params(true, "zz", CLANN_FILL_NONE);
    EXPECT_ERROR(CSV("a,b\n1,2\n", &p, &x, &y), CLANN_ERR_INVALID_ARG, "'zz'");
    p = csv_params(true, "2", CLANN_FILL_NONE);
    EXPECT_ERROR(CSV("a,b\n1,2\n", &p, &x, &y), CLANN_ERR_INVALID_ARG, "2 columns");
    p = csv_params(true, NULL, CLANN_FILL_NONE);
    EXPECT_ERROR(CSV("a\n1\n", &p, &x, &y), CLANN_ERR_FORMAT, "no feature columns");
    EXPECT_ERROR(CSV("a,b\n1,2\n", &p, &x, NULL), CLANN_ERR_INVALID_ARG, "labels");
    p.delimiter = '"';
    EXPECT_ERROR(CSV("a,b\n1,2\n", &p, &x, &y), CLANN_ERR_INVALID_ARG, "delimiter");
    ck_assert_ptr_null(x.data);
    ck_assert_ptr_null(y.data);
}
END_TEST

/* ---- IDX ---------------------------------------------------------------------------------- */

/* Builds an IDX image: header for the given type and dims, then data (already big-endian). */
static size_t idx_build(unsigned char *buf, unsigned char type, unsigned ndims,
                        const uint32_t *dims, const void *data, size_t len)
{
    size_t n = 0;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = type;
    buf[n++] = (unsigned char)ndims;
    for (unsigned i = 0; i < ndims; i++) {
        buf[n++] = (unsigned char)(dims[i] >> 24);
        buf[n++] = (unsigned char)(dims[i] >> 16);
        buf[n++] = (unsigned char)(dims[i] >> 8);
        buf[n++] = (unsigned char)dims[i];
    }
    if (len)
        memcpy(buf + n, data, len);
    return n + len;
}

START_TEST(idx_u8_raw_and_gzip)
{
    unsigned char pixels[12], buf[64];
    for (int i = 0; i < 12; i++)
        pixels[i] = (unsigned char)(i * 20);
    size_t n = idx_build(buf, 0x08, 3, (const uint32_t[]){2, 2, 3}, pixels, 12);
    float want[12];
    for (int i = 0; i < 12; i++)
        want[i] = (float)(i * 20);
    struct clann_matrix m;
    ck_assert_int_eq(clann_idx_load(write_file("u8.idx", buf, n), &m), CLANN_OK);
    assert_floats(&m, 2, 6, want);
    clann_matrix_free(&m);
    ck_assert_int_eq(clann_idx_load(write_gz("u8.idx.gz", buf, n), &m), CLANN_OK);
    assert_floats(&m, 2, 6, want);
    clann_matrix_free(&m);

    /* 1-D gives one column; a 4-D file flattens all but the first dimension. */
    n = idx_build(buf, 0x08, 1, (const uint32_t[]){5}, pixels, 5);
    ck_assert_int_eq(clann_idx_load(write_gz("u8-1d.gz", buf, n), &m), CLANN_OK);
    assert_floats(&m, 5, 1, want);
    clann_matrix_free(&m);
    n = idx_build(buf, 0x08, 4, (const uint32_t[]){2, 1, 2, 3}, pixels, 12);
    ck_assert_int_eq(clann_idx_load(write_file("u8-4d.idx", buf, n), &m), CLANN_OK);
    assert_floats(&m, 2, 6, want);
    clann_matrix_free(&m);
}
END_TEST

START_TEST(idx_gzip_members)
{
    /* Header and data in separate gzip members: the trailer's size is only the last member's,
     * so the reader cannot size the output from it and grows it as data arrives. */
    const size_t n = 3u << 20;
    unsigned char *data = malloc(n), head[16];
    ck_assert_ptr_nonnull(data);
    uint32_t x = 7;
    for (size_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        data[i] = (unsigned char)(x >> 24);
    }
    size_t hn = idx_build(head, 0x08, 3, (const uint32_t[]){3, 1024, 1024}, NULL, 0);
    const char *path = tpath("members.idx.gz");
    gzFile gz = gzopen(path, "wb");
    ck_assert_int_eq(gzwrite(gz, head, (unsigned)hn), (int)hn);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    gz = gzopen(path, "ab");
    ck_assert_int_eq(gzwrite(gz, data, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    struct clann_matrix m;
    ck_assert_int_eq(clann_idx_load(path, &m), CLANN_OK);
    ck_assert_uint_eq(m.rows, 3);
    ck_assert_uint_eq(m.cols, 1u << 20);
    for (size_t i = 0; i < n; i += 4099)
        ck_assert(m.data[i] == (float)data[i]);
    ck_assert(m.data[n - 1] == (float)data[n - 1]);
    clann_matrix_free(&m);
    free(data);
}
END_TEST

START_TEST(idx_types)
{
    unsigned char buf[128];
    struct clann_matrix m;
    const unsigned char i8[] = {0x7f, 0x80, 0xff};
    size_t n = idx_build(buf, 0x09, 1, (const uint32_t[]){3}, i8, sizeof i8);
    ck_assert_int_eq(clann_idx_load(write_file("i8.idx", buf, n), &m), CLANN_OK);
    assert_floats(&m, 3, 1, (const float[]){127, -128, -1});
    clann_matrix_free(&m);

    const unsigned char i16[] = {0xfe, 0xd4, 0x01, 0x2c}; /* -300, 300 */
    n = idx_build(buf, 0x0B, 1, (const uint32_t[]){2}, i16, sizeof i16);
    ck_assert_int_eq(clann_idx_load(write_file("i16.idx", buf, n), &m), CLANN_OK);
    assert_floats(&m, 2, 1, (const float[]){-300, 300});
    clann_matrix_free(&m);

    const unsigned char i32[] = {0xff, 0xfe, 0xee, 0x90, 0x00, 0x01, 0x11, 0x70}; /* ±70000 */
    n = idx_build(buf, 0x0C, 1, (const uint32_t[]){2}, i32, sizeof i32);
    ck_assert_int_eq(clann_idx_load(write_gz("i32.idx.gz", buf, n), &m), CLANN_OK);
    assert_floats(&m, 2, 1, (const float[]){-70000, 70000});
    clann_matrix_free(&m);

    const unsigned char f32[] = {0x3f, 0xc0, 0, 0, 0xc0, 0x10, 0, 0}; /* 1.5, -2.25 */
    n = idx_build(buf, 0x0D, 2, (const uint32_t[]){1, 2}, f32, sizeof f32);
    ck_assert_int_eq(clann_idx_load(write_file("f32.idx", buf, n), &m), CLANN_OK);
    assert_floats(&m, 1, 2, (const float[]){1.5f, -2.25f});
    clann_matrix_free(&m);

    const unsigned char f64[] = {0xc0, 0x02, 0, 0, 0, 0, 0, 0}; /* -2.25 */
    n = idx_build(buf, 0x0E, 1, (const uint32_t[]){1}, f64, sizeof f64);
    ck_assert_int_eq(clann_idx_load(write_file("f64.idx", buf, n), &m), CLANN_OK);
    assert_floats(&m, 1, 1, (const float[]){-2.25f});
    clann_matrix_free(&m);

    /* Non-finite floats are refused with their position. */
    const unsigned char nan32[] = {0x3f, 0xc0, 0, 0, 0x7f, 0xc0, 0, 0};
    n = idx_build(buf, 0x0D, 2, (const uint32_t[]){1, 2}, nan32, sizeof nan32);
    EXPECT_ERROR(clann_idx_load(write_file("nan.idx", buf, n), &m), CLANN_ERR_NONFINITE,
                 "element 1", "row 1, column 2");
    const unsigned char big64[] = {0x7f, 0xe0, 0, 0, 0, 0, 0, 0}; /* ~8.9e307 */
    n = idx_build(buf, 0x0E, 1, (const uint32_t[]){1}, big64, sizeof big64);
    EXPECT_ERROR(clann_idx_load(write_file("big.idx", buf, n), &m), CLANN_ERR_NONFINITE,
                 "element 0");
}
END_TEST

START_TEST(idx_malformed)
{
    unsigned char buf[128] = {0}, data[16] = {0};
    struct clann_matrix m;
    size_t n = idx_build(buf, 0x08, 2, (const uint32_t[]){3, 4}, data, 12);
    buf[0] = 1;
    EXPECT_ERROR(clann_idx_load(write_file("magic.idx", buf, n), &m), CLANN_ERR_FORMAT,
                 "magic", "byte 0");
    buf[0] = 0;
    buf[2] = 0x0A;
    EXPECT_ERROR(clann_idx_load(write_file("type.idx", buf, n), &m), CLANN_ERR_FORMAT,
                 "type 0x0a", "byte 2");
    buf[2] = 0x08;
    buf[3] = 0;
    EXPECT_ERROR(clann_idx_load(write_file("nd0.idx", buf, n), &m), CLANN_ERR_FORMAT,
                 "dimension count 0");
    buf[3] = 5;
    EXPECT_ERROR(clann_idx_load(write_gz("nd5.idx.gz", buf, n), &m), CLANN_ERR_FORMAT,
                 "dimension count 5");
    buf[3] = 2;

    /* One byte short and one byte long, raw and compressed. */
    EXPECT_ERROR(clann_idx_load(write_file("short.idx", buf, n - 1), &m), CLANN_ERR_TRUNCATED,
                 "expected 12 bytes of data", "file has 11");
    EXPECT_ERROR(clann_idx_load(write_gz("short.idx.gz", buf, n - 1), &m), CLANN_ERR_TRUNCATED,
                 "expected 12 bytes of data, file has 11");
    EXPECT_ERROR(clann_idx_load(write_file("long.idx", buf, n + 1), &m), CLANN_ERR_FORMAT,
                 "1 trailing bytes", "12 bytes of data");
    EXPECT_ERROR(clann_idx_load(write_gz("long.idx.gz", buf, n + 1), &m), CLANN_ERR_FORMAT,
                 "trailing bytes", "12 bytes of data");
    EXPECT_ERROR(clann_idx_load(write_file("head.idx", buf, 9), &m), CLANN_ERR_TRUNCATED,
                 "12-byte IDX header", "file has 9 bytes");
    EXPECT_ERROR(clann_idx_load(write_file("tiny.idx", buf, 3), &m), CLANN_ERR_TRUNCATED,
                 "4-byte IDX header", "3 bytes");
    EXPECT_ERROR(clann_idx_load(write_file("empty.idx", buf, 0), &m), CLANN_ERR_FORMAT, "empty");

    /* A gzip stream cut in the middle. */
    unsigned char big[4096 + 16];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (unsigned char)(i * 7919 >> 3);
    n = idx_build(big, 0x08, 1, (const uint32_t[]){4096}, NULL, 0) + 4096;
    const char *path = write_gz("cut.idx.gz", big, n);
    FILE *fp = fopen(path, "rb");
    unsigned char gz[8192];
    size_t gzlen = fread(gz, 1, sizeof gz, fp);
    fclose(fp);
    EXPECT_ERROR(clann_idx_load(write_file("cut.idx.gz", gz, gzlen / 2), &m),
                 CLANN_ERR_TRUNCATED, "expected 4096 bytes of data", "ends early");

    /* Dimensions whose product overflows. */
    n = idx_build(buf, 0x0E, 4, (const uint32_t[]){0xffffffff, 0xffffffff, 0xffffffff, 9}, data,
                  0);
    EXPECT_ERROR(clann_idx_load(write_file("ovf.idx", buf, n), &m), CLANN_ERR_TOO_LARGE,
                 "overflow");

    path = tpath("missing.idx");
    EXPECT_ERROR(clann_idx_load(path, &m), CLANN_ERR_IO, path);
    EXPECT_ERROR(clann_idx_load(tmpdir, &m), CLANN_ERR_IO, "not a regular file");
    ck_assert_ptr_null(m.data);
}
END_TEST

START_TEST(idx_huge_declaration)
{
    /* A 100-byte file declaring a 32 GiB array is refused without a large allocation. */
    unsigned char buf[100];
    memset(buf, 0xab, sizeof buf);
    idx_build(buf, 0x08, 2, (const uint32_t[]){1u << 17, 1u << 18}, NULL, 0);
    struct clann_matrix m;
    long before = max_rss_kib();
    EXPECT_ERROR(clann_idx_load(write_file("huge.idx", buf, sizeof buf), &m),
                 CLANN_ERR_TRUNCATED, "expected 34359738368 bytes of data", "file has 88");
    EXPECT_ERROR(clann_idx_load(write_gz("huge.idx.gz", buf, sizeof buf), &m),
                 CLANN_ERR_TOO_LARGE, "34359738368 bytes", "holds at most");
    /* A plausible declaration (32 MiB from 64 KiB of incompressible data) that the file does
     * not fulfil: the output is only touched as data arrives. */
    static unsigned char noise[16 + 65536];
    uint32_t x = 42;
    for (size_t i = 0; i < sizeof noise; i++) {
        x = x * 1664525u + 1013904223u;
        noise[i] = (unsigned char)(x >> 24);
    }
    idx_build(noise, 0x08, 1, (const uint32_t[]){1u << 25}, NULL, 0);
    EXPECT_ERROR(clann_idx_load(write_gz("32m.idx.gz", noise, 8 + 65536), &m),
                 CLANN_ERR_TRUNCATED, "expected 33554432 bytes of data, file has 65536");
    ck_assert_int_lt(max_rss_kib() - before, 16 * 1024);
}
END_TEST

START_TEST(idx_gzip_bomb)
{
    /* 200 MiB of zeros deflate to ~200 KiB: a small gzip file must not declare (and inflate
     * to) that much. The bound is checked before the data is read or anything allocated. */
    static unsigned char zeros[16 + (1u << 20)];
    size_t n = idx_build(zeros, 0x08, 3, (const uint32_t[]){200, 1024, 1024}, NULL, 0);
    struct clann_matrix m;
    long before = max_rss_kib();
    EXPECT_ERROR(clann_idx_load(write_gz("bomb.idx.gz", zeros, n + (1u << 20)), &m),
                 CLANN_ERR_TOO_LARGE, "209715200 bytes", "decompression bomb");
    ck_assert_ptr_null(m.data);
    ck_assert_int_lt(max_rss_kib() - before, 16 * 1024);
}
END_TEST

/* ---- NPY ---------------------------------------------------------------------------------- */

/* Writes a .npy file: preamble for the version, the dict padded to a multiple of 64 (or the
 * raw header when pad is false), then data. */
static const char *npy_write(const char *name, unsigned major, const char *dict, bool pad,
                             const void *data, size_t len)
{
    static unsigned char buf[1 << 16];
    size_t pre = major == 1 ? 10 : 12, hlen = strlen(dict) + (pad ? 1 : 0);
    if (pad)
        while ((pre + hlen) % 64)
            hlen++;
    ck_assert_uint_lt(pre + hlen + len, sizeof buf);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t b = 0; b < pre - 8; b++)
        buf[8 + b] = (unsigned char)(hlen >> (8 * b));
    memcpy(buf + pre, dict, strlen(dict));
    if (pad) {
        memset(buf + pre + strlen(dict), ' ', hlen - strlen(dict));
        buf[pre + hlen - 1] = '\n';
    }
    if (len)
        memcpy(buf + pre + hlen, data, len);
    return write_file(name, buf, pre + hlen + len);
}

/* Encodes values as the given numpy dtype (e.g. ">i2"). */
static size_t npy_encode(const char *descr, const double *v, size_t n, unsigned char *out)
{
    bool big = descr[0] == '>';
    char type = descr[1];
    size_t size = (size_t)(descr[2] - '0');
    for (size_t i = 0; i < n; i++) {
        uint64_t u;
        if (type == 'f' && size == 4) {
            float f = (float)v[i];
            uint32_t u32;
            memcpy(&u32, &f, 4);
            u = u32;
        } else if (type == 'f') {
            memcpy(&u, &v[i], 8);
        } else {
            u = (uint64_t)(int64_t)v[i];
        }
        for (size_t b = 0; b < size; b++)
            out[i * size + (big ? size - 1 - b : b)] = (unsigned char)(u >> (8 * b));
    }
    return n * size;
}

START_TEST(npy_dtypes)
{
    const char *descrs[] = {"<f4", ">f4", "<f8", ">f8", "|i1", "<i2", ">i2", "<i4", ">i4",
                            "<i8", ">i8", "|u1", "<u2", ">u2", "<u4", ">u4", "<u8", ">u8"};
    const double sv[] = {1, -2, 3, -100, 5, 6}, uv[] = {1, 2, 3, 200, 5, 6};
    for (size_t t = 0; t < sizeof descrs / sizeof descrs[0]; t++) {
        const double *v = descrs[t][1] == 'u' ? uv : sv;
        unsigned char data[64];
        size_t len = npy_encode(descrs[t], v, 6, data);
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }",
                 descrs[t]);
        struct clann_matrix m;
        enum clann_status st = clann_npy_load(npy_write("t.npy", 1, dict, true, data, len), &m);
        ck_assert_msg(st == CLANN_OK, "%s: %s", descrs[t], clann_last_error());
        float want[6];
        for (int i = 0; i < 6; i++)
            want[i] = (float)v[i];
        assert_floats(&m, 2, 3, want);
        clann_matrix_free(&m);
    }
    const unsigned char b1[] = {1, 0, 1, 1};
    struct clann_matrix m;
    ck_assert_int_eq(clann_npy_load(npy_write("b.npy", 1,
                                              "{'descr': '|b1', 'fortran_order': False, "
                                              "'shape': (4,), }",
                                              true, b1, 4),
                                    &m),
                     CLANN_OK);
    assert_floats(&m, 4, 1, (const float[]){1, 0, 1, 1});
    clann_matrix_free(&m);
}
END_TEST

START_TEST(npy_shapes_orders_versions)
{
    struct clann_matrix m;
    unsigned char data[256];
    /* Fortran order, 2-D: [[1,2,3],[4,5,6]] stored column by column. */
    size_t len = npy_encode("<f4", (const double[]){1, 4, 2, 5, 3, 6}, 6, data);
    ck_assert_int_eq(
        clann_npy_load(npy_write("f.npy", 1,
                                 "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                                 true, data, len),
                       &m),
        CLANN_OK);
    assert_floats(&m, 2, 3, (const float[]){1, 2, 3, 4, 5, 6});
    clann_matrix_free(&m);

    /* Fortran order, 3-D (2, 3, 2): element [i][j][k] = 100i + 10j + k, first index fastest. */
    double f3[12];
    float c3[12];
    for (int k = 0, n = 0; k < 2; k++)
        for (int j = 0; j < 3; j++)
            for (int i = 0; i < 2; i++)
                f3[n++] = 100 * i + 10 * j + k;
    for (int i = 0, n = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
            for (int k = 0; k < 2; k++)
                c3[n++] = (float)(100 * i + 10 * j + k);
    len = npy_encode(">i8", f3, 12, data);
    ck_assert_int_eq(
        clann_npy_load(npy_write("f3.npy", 2,
                                 "{\"descr\": \">i8\", \"fortran_order\": True, "
                                 "\"shape\": (2, 3, 2)}",
                                 true, data, len),
                       &m),
        CLANN_OK);
    assert_floats(&m, 2, 6, c3);
    clann_matrix_free(&m);

    /* Scalar shape (), 1-D, version 3.0, Python 2 long literals, unpadded header. */
    len = npy_encode("<f8", (const double[]){2.5}, 1, data);
    ck_assert_int_eq(clann_npy_load(npy_write("s.npy", 3,
                                              "{'descr': '<f8', 'fortran_order': False, "
                                              "'shape': ()}",
                                              true, data, len),
                                    &m),
                     CLANN_OK);
    assert_floats(&m, 1, 1, (const float[]){2.5f});
    clann_matrix_free(&m);
    len = npy_encode("<i2", (const double[]){7, -8, 9}, 3, data);
    ck_assert_int_eq(clann_npy_load(npy_write("v.npy", 1,
                                              "{'descr':'<i2','fortran_order':False,"
                                              "'shape':(3L,)}",
                                              false, data, len),
                                    &m),
                     CLANN_OK);
    assert_floats(&m, 3, 1, (const float[]){7, -8, 9});
    clann_matrix_free(&m);

    /* An empty array. */
    ck_assert_int_eq(clann_npy_load(npy_write("e.npy", 1,
                                              "{'descr': '<f4', 'fortran_order': False, "
                                              "'shape': (0, 3), }",
                                              true, data, 0),
                                    &m),
                     CLANN_OK);
    ck_assert_uint_eq(m.rows, 0);
    ck_assert_uint_eq(m.cols, 3);
    clann_matrix_free(&m);
}
END_TEST

#define NPY_DICT "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"

START_TEST(npy_malformed)
{
    struct clann_matrix m;
    unsigned char data[64];
    size_t len = npy_encode("<f4", (const double[]){1, 2, 3, 4, 5, 6}, 6, data);
    const char *path = npy_write("good.npy", 1, NPY_DICT, true, data, len);
    unsigned char file[256] = {0};
    FILE *fp = fopen(path, "rb");
    size_t flen = fread(file, 1, sizeof file, fp);
    fclose(fp);

    /* numpy's malformed-magic list. */
    EXPECT_ERROR(clann_npy_load(write_file("m1.npy", "\x92NUMPY\x01\x00", 8), &m),
                 CLANN_ERR_FORMAT, "magic");
    EXPECT_ERROR(clann_npy_load(write_file("m2.npy", "\x93numpy\x01\x00", 8), &m),
                 CLANN_ERR_FORMAT, "magic");
    EXPECT_ERROR(clann_npy_load(write_file("m3.npy", "\x93NUMPY\x01", 7), &m),
                 CLANN_ERR_TRUNCATED, "file has 7");
    EXPECT_ERROR(clann_npy_load(write_file("m4.npy", "", 0), &m), CLANN_ERR_FORMAT, "empty");
    EXPECT_ERROR(clann_npy_load(write_file("m5.npy", "\x93NUMPY\x01\x00\x76", 9), &m),
                 CLANN_ERR_TRUNCATED, "10 bytes", "file has 9");

    /* Bad versions. */
    const unsigned char versions[][2] = {{1, 1}, {0, 0}, {2, 2}, {255, 255}, {4, 0}};
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++) {
        file[6] = versions[i][0];
        file[7] = versions[i][1];
        char want[32];
        snprintf(want, sizeof want, "version %u.%u", versions[i][0], versions[i][1]);
        EXPECT_ERROR(clann_npy_load(write_file("v.npy", file, flen), &m), CLANN_ERR_UNSUPPORTED,
                     want);
    }
    file[6] = 1;
    file[7] = 0;

    /* Truncated and overlong data. */
    EXPECT_ERROR(clann_npy_load(write_file("short.npy", file, flen - 1), &m),
                 CLANN_ERR_TRUNCATED, "expected 24 bytes of data", "file has 23");
    EXPECT_ERROR(clann_npy_load(write_file("long.npy", file, flen + 1), &m), CLANN_ERR_FORMAT,
                 "1 trailing bytes");
    EXPECT_ERROR(clann_npy_load(write_file("head.npy", file, 40), &m), CLANN_ERR_TRUNCATED,
                 "118-byte .npy header", "30 bytes");

    /* Header over the cap, checked before it is read. */
    unsigned char big[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0x11, 0x27, 0, 0}; /* 10001 */
    EXPECT_ERROR(clann_npy_load(write_file("bighead.npy", big, sizeof big), &m),
                 CLANN_ERR_TOO_LARGE, "10001", "10000");

    /* Unsupported dtypes. */
    EXPECT_ERROR(clann_npy_load(npy_write("o.npy", 1,
                                          "{'descr': '|O', 'fortran_order': False, "
                                          "'shape': (2,), }",
                                          true, data, 16),
                                &m),
                 CLANN_ERR_UNSUPPORTED, "'|O'");
    EXPECT_ERROR(clann_npy_load(npy_write("st.npy", 1,
                                          "{'descr': [('a', '<f4'), ('b', '<i4')], "
                                          "'fortran_order': False, 'shape': (2,), }",
                                          true, data, 16),
                                &m),
                 CLANN_ERR_UNSUPPORTED, "structured");
    EXPECT_ERROR(clann_npy_load(npy_write("c.npy", 1,
                                          "{'descr': '<c8', 'fortran_order': False, "
                                          "'shape': (2,), }",
                                          true, data, 16),
                                &m),
                 CLANN_ERR_UNSUPPORTED, "'<c8'");

    /* Malformed dicts. */
    const char *dicts[][2] = {
        {"{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}", "unknown"},
        {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", "duplicate"},
        {"{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}", "',' or '}'"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}", "True or False"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", "one-element"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}", "integer"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': [6]}", "shape tuple"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x", "padding"},
        {"['descr', '<f4']", "'{'"},
    };
    for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++)
        EXPECT_ERROR(clann_npy_load(npy_write("d.npy", 1, dicts[i][0], true, data, 24), &m),
                     CLANN_ERR_FORMAT, dicts[i][1]);

    /* Shape overflow and non-finite values. */
    EXPECT_ERROR(clann_npy_load(npy_write("ovf.npy", 1,
                                          "{'descr': '<f8', 'fortran_order': False, "
                                          "'shape': (4294967296, 4294967296, 16), }",
                                          true, data, 24),
                                &m),
                 CLANN_ERR_TOO_LARGE, "overflow");
    len = npy_encode("<f4", (const double[]){1, 2, 3, 4, NAN, 6}, 6, data);
    EXPECT_ERROR(clann_npy_load(npy_write("nan.npy", 1, NPY_DICT, true, data, len), &m),
                 CLANN_ERR_NONFINITE, "element 4", "row 2, column 2");
    path = tpath("missing.npy");
    EXPECT_ERROR(clann_npy_load(path, &m), CLANN_ERR_IO, path);
    ck_assert_ptr_null(m.data);
}
END_TEST

START_TEST(npy_huge_declaration)
{
    /* numpy's 80-byte proof of concept: shape (65536, 65536) float64, i.e. 32 GiB. */
    long before = max_rss_kib();
    struct clann_matrix m;
    const char *path = npy_write("huge.npy", 1,
                                 "{'descr': '<f8', 'fortran_order': False, "
                                 "'shape': (65536, 65536), }",
                                 false, "12345678", 8);
    EXPECT_ERROR(clann_npy_load(path, &m), CLANN_ERR_TRUNCATED,
                 "expected 34359738368 bytes of data", "file has 8");
    ck_assert_int_lt(max_rss_kib() - before, 16 * 1024);
}
END_TEST

/* ---- Fashion-MNIST ------------------------------------------------------------------------ */

/* Writes a small Fashion-MNIST-like folder: n_img images and n_lab labels per split. */
static void fake_fashion(const char *dir, uint32_t n_img, uint32_t n_lab, unsigned char label)
{
    mkdir(dir, 0700);
    static unsigned char buf[16 + 4 * 784];
    unsigned char pixels[4 * 784], labels[4];
    for (size_t i = 0; i < sizeof pixels; i++)
        pixels[i] = (unsigned char)(i % 256);
    memset(labels, label, sizeof labels);
    const char *split[] = {"train", "t10k"};
    for (int s = 0; s < 2; s++) {
        char name[256];
        size_t n = idx_build(buf, 0x08, 3, (const uint32_t[]){n_img, 28, 28}, pixels,
                             n_img * 784);
        snprintf(name, sizeof name, "%s/%s-images-idx3-ubyte.gz", strrchr(dir, '/') + 1,
                 split[s]);
        write_gz(name, buf, n);
        n = idx_build(buf, 0x08, 1, (const uint32_t[]){n_lab}, labels, n_lab);
        snprintf(name, sizeof name, "%s/%s-labels-idx1-ubyte.gz", strrchr(dir, '/') + 1,
                 split[s]);
        write_gz(name, buf, n);
    }
}

START_TEST(fashion_small_and_malformed)
{
    struct clann_matrix a, b, c, d;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/fashion-ok", tmpdir);
    fake_fashion(dir, 3, 3, 9);
    ck_assert_int_eq(clann_fashion_mnist_load(dir, &a, &b, &c, &d), CLANN_OK);
    ck_assert_uint_eq(a.rows, 3);
    ck_assert_uint_eq(a.cols, 784);
    ck_assert_uint_eq(d.rows, 3);
    ck_assert(a.data[255] == 1.0f && a.data[0] == 0.0f && d.data[2] == 9.0f);
    ck_assert(fabsf(a.data[51] - 0.2f) < 1e-7f);
    clann_matrix_free(&a);
    clann_matrix_free(&b);
    clann_matrix_free(&c);
    clann_matrix_free(&d);

    /* The environment variable is used when dir is NULL. */
    setenv("CLANN_FASHION_MNIST", dir, 1);
    ck_assert_int_eq(clann_fashion_mnist_load(NULL, &a, &b, &c, &d), CLANN_OK);
    ck_assert_uint_eq(c.rows, 3);
    clann_matrix_free(&a);
    clann_matrix_free(&b);
    clann_matrix_free(&c);
    clann_matrix_free(&d);
    unsetenv("CLANN_FASHION_MNIST");

    snprintf(dir, sizeof dir, "%s/fashion-counts", tmpdir);
    fake_fashion(dir, 3, 2, 1);
    EXPECT_ERROR(clann_fashion_mnist_load(dir, &a, &b, &c, &d), CLANN_ERR_FORMAT,
                 "counts disagree", "2 labels for 3 images", "train-labels-idx1-ubyte.gz");
    ck_assert_ptr_null(a.data);
    ck_assert_ptr_null(b.data);

    snprintf(dir, sizeof dir, "%s/fashion-labels", tmpdir);
    fake_fashion(dir, 2, 2, 10);
    EXPECT_ERROR(clann_fashion_mnist_load(dir, &a, &b, &c, &d), CLANN_ERR_FORMAT, "label 1",
                 "outside 0..9");

    snprintf(dir, sizeof dir, "%s/fashion-missing", tmpdir);
    EXPECT_ERROR(clann_fashion_mnist_load(dir, &a, &b, &c, &d), CLANN_ERR_IO, dir,
                 "apt-get install dataset-fashion-mnist");
    mkdir(dir, 0700);
    EXPECT_ERROR(clann_fashion_mnist_load(dir, &a, &b, &c, &d), CLANN_ERR_IO,
                 "train-images-idx3-ubyte.gz");
}
END_TEST

START_TEST(fashion_real)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat sb;
    if (stat(dir, &sb) != 0) {
        ck_assert_msg(!test_strict(), "CLANN_TESTS_STRICT=1 but %s is absent", dir);
        fprintf(stderr, "fashion_real: %s is absent; skipped\n", dir);
        return;
    }
    struct clann_matrix tx, ty, vx, vy;
    double t0 = clann__now();
    enum clann_status st = clann_fashion_mnist_load(dir, &tx, &ty, &vx, &vy);
    double dt = clann__now() - t0;
    ck_assert_msg(st == CLANN_OK, "%s", clann_last_error());
    fprintf(stderr, "fashion_real: loaded in %.3f s\n", dt);
    ck_assert_uint_eq(tx.rows, 60000);
    ck_assert_uint_eq(tx.cols, 784);
    ck_assert_uint_eq(ty.rows, 60000);
    ck_assert_uint_eq(ty.cols, 1);
    ck_assert_uint_eq(vx.rows, 10000);
    ck_assert_uint_eq(vx.cols, 784);
    ck_assert_uint_eq(vy.rows, 10000);
    float lo = 1, hi = 0;
    for (size_t i = 0; i < tx.rows * tx.cols; i++) {
        lo = fminf(lo, tx.data[i]);
        hi = fmaxf(hi, tx.data[i]);
    }
    ck_assert(lo == 0.0f && hi == 1.0f);
    size_t per_class[10] = {0};
    for (size_t i = 0; i < ty.rows; i++) {
        ck_assert(ty.data[i] >= 0 && ty.data[i] <= 9 && ty.data[i] == floorf(ty.data[i]));
        per_class[(int)ty.data[i]]++;
    }
    for (int k = 0; k < 10; k++)
        ck_assert_uint_eq(per_class[k], 6000); /* Fashion-MNIST is balanced */
    for (size_t i = 0; i < vy.rows; i++)
        ck_assert(vy.data[i] >= 0 && vy.data[i] <= 9);
    clann_matrix_free(&tx);
    clann_matrix_free(&ty);
    clann_matrix_free(&vx);
    clann_matrix_free(&vy);
}
END_TEST

/* ---- allocation failures ------------------------------------------------------------------ */

/* One load of the out-of-memory sweep (test_oom_sweep): x and y are the outputs, checked
 * after each failure (cleared) and after the success (shape). */
struct sweep_load {
    enum clann_status (*load)(struct clann_matrix *, struct clann_matrix *);
    struct clann_matrix x, y;
};

static enum clann_status sweep_attempt(void *user)
{
    struct sweep_load *l = user;
    return l->load(&l->x, &l->y);
}

static void sweep_failed(void *user, long n)
{
    struct sweep_load *l = user;
    ck_assert_msg(l->x.data == NULL && l->y.data == NULL, "failure %ld left outputs", n);
}

/* Fails the 1st, 2nd, ... allocation of one load until it succeeds: each failure must be a
 * clean ERR_NO_MEMORY (leaks show under ASan/valgrind). Returns the number of failures. */
static int sweep(enum clann_status (*load)(struct clann_matrix *, struct clann_matrix *),
                 size_t rows, size_t cols)
{
    struct sweep_load l = {.load = load};
    long failures = test_oom_sweep("load", sweep_attempt, sweep_failed, false, &l);
    ck_assert_uint_eq(l.x.rows, rows);
    ck_assert_uint_eq(l.x.cols, cols);
    clann_matrix_free(&l.x);
    clann_matrix_free(&l.y);
    return (int)failures;
}

static const char *sweep_csv_path, *sweep_npy_path, *sweep_idx_path, *sweep_gz_path;

static enum clann_status sweep_csv(struct clann_matrix *x, struct clann_matrix *y)
{
    struct clann_csv_params p = csv_params(true, "b", CLANN_FILL_MEAN);
    return clann_csv_load(sweep_csv_path, &p, x, y);
}

static enum clann_status sweep_npy(struct clann_matrix *x, struct clann_matrix *y)
{
    memset(y, 0, sizeof *y);
    return clann_npy_load(sweep_npy_path, x);
}

static enum clann_status sweep_idx(struct clann_matrix *x, struct clann_matrix *y)
{
    memset(y, 0, sizeof *y);
    return clann_idx_load(sweep_idx_path, x);
}

static enum clann_status sweep_gz(struct clann_matrix *x, struct clann_matrix *y)
{
    memset(y, 0, sizeof *y);
    return clann_idx_load(sweep_gz_path, x);
}

START_TEST(alloc_failure_sweep)
{
    /* Enough rows and width to make the CSV reader grow its buffers several times. */
    size_t cap = 1 << 20, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    len += (size_t)snprintf(text, cap, "\"a\",b,c%0300d\n", 0);
    for (int r = 0; r < 600; r++)
        len += (size_t)snprintf(text + len, cap - len, "%d,%s,\"%d.5\"\n", r, r % 7 ? "1" : "",
                                r);
    sweep_csv_path = csv_file(text, len);
    free(text);
    ck_assert_int_gt(sweep(sweep_csv, 600, 2), 5);

    unsigned char data[64];
    size_t n = npy_encode("<f4", (const double[]){1, 4, 2, 5, 3, 6}, 6, data);
    sweep_npy_path = npy_write("sweep.npy", 1,
                               "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                               true, data, n);
    ck_assert_int_gt(sweep(sweep_npy, 2, 3), 1);

    unsigned char buf[64];
    n = idx_build(buf, 0x08, 2, (const uint32_t[]){2, 3}, "abcdef", 6);
    sweep_idx_path = write_file("sweep.idx", buf, n);
    sweep_gz_path = write_gz("sweep.idx.gz", buf, n);
    ck_assert_int_gt(sweep(sweep_idx, 2, 3), 0);
    ck_assert_int_gt(sweep(sweep_gz, 2, 3), 0);
}
END_TEST

START_TEST(matrix_basics)
{
    struct clann_matrix m;
    ck_assert_int_eq(clann_matrix_create(3, 4, &m), CLANN_OK);
    ck_assert_uint_eq(m.rows, 3);
    ck_assert_uint_eq(m.cols, 4);
    for (int i = 0; i < 12; i++)
        ck_assert(m.data[i] == 0.0f);
    clann_matrix_free(&m);
    ck_assert_ptr_null(m.data);
    clann_matrix_free(&m);
    clann_matrix_free(NULL);
    EXPECT_ERROR(clann_matrix_create(SIZE_MAX / 2, 3, &m), CLANN_ERR_TOO_LARGE, "matrix");
    ck_assert_ptr_null(m.data);
    clann__alloc_fail_after(1);
    EXPECT_ERROR(clann_matrix_create(2, 2, &m), CLANN_ERR_NO_MEMORY, "2 x 2");
    clann__alloc_fail_after(0);
    ck_assert_int_eq(clann_matrix_create(0, 5, &m), CLANN_OK);
    ck_assert_uint_eq(m.cols, 5);
    clann_matrix_free(&m);
    EXPECT_ERROR(clann_matrix_create(1, 1, NULL), CLANN_ERR_INVALID_ARG, "out");
}
END_TEST

/* ---- main --------------------------------------------------------------------------------- */

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("csv");
    tcase_add_test(tc, csv_defaults);
    tcase_add_test(tc, csv_label_by_name_index_none);
    tcase_add_test(tc, csv_quoting_and_line_ends);
    tcase_add_test(tc, csv_fill_policies);
    tcase_add_test(tc, csv_long_line);
    tcase_add_test(tc, table_half_valid_numbers);
    tcase_add_test(tc, table_wide_header);
    tcase_add_test(tc, table_numeric_memory);
    tcase_add_test(tc, csv_c_locale);
    tcase_add_test(tc, csv_ragged);
    tcase_add_test(tc, csv_bad_tokens);
    tcase_add_test(tc, csv_nonfinite);
    tcase_add_test(tc, csv_structure_errors);
    suite_add_tcase(s, tc);

    tc = tcase_create("idx");
    tcase_add_test(tc, idx_u8_raw_and_gzip);
    tcase_add_test(tc, idx_gzip_members);
    tcase_add_test(tc, idx_types);
    tcase_add_test(tc, idx_malformed);
    tcase_add_test(tc, idx_huge_declaration);
    tcase_add_test(tc, idx_gzip_bomb);
    suite_add_tcase(s, tc);

    tc = tcase_create("npy");
    tcase_add_test(tc, npy_dtypes);
    tcase_add_test(tc, npy_shapes_orders_versions);
    tcase_add_test(tc, npy_malformed);
    tcase_add_test(tc, npy_huge_declaration);
    suite_add_tcase(s, tc);

    tc = tcase_create("fashion");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, fashion_small_and_malformed);
    tcase_add_test(tc, fashion_real);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, alloc_failure_sweep);
    tcase_add_test(tc, matrix_basics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    SRunner *sr = srunner_create(data_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_remove_tree(tmpdir);
    return failed == 0 ? 0 : 1;
}
