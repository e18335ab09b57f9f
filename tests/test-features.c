/*
 * test-features.c - feature columns and embeddings: the documented hash (golden values),
 * tables, vocabularies (training split only, OOV buckets, files), the embedding gradient
 * (finite differences), OpenCL parity of the feature-layer ops, the model-file round trip from
 * raw rows, transfer learning, frozen tables, and a step cost that does not grow with the
 * vocabulary; missing cells (tokens, fill values, dropped rows) and the table columns a model
 * stores. Seeds are fixed (42 unless noted).
 */
#include "testutil.h"
#include "backend/ops.h"
#include "nn/embedding.h"
#include "nn/batch.h"
#include "nn/loss.h"
#include "core/rng.h"

#include <time.h>
#include <unistd.h>

static struct clann_context *cpu_ref(void)
{
    return test_context("cpu", CLANN_CPU_MODE_REFERENCE);
}

static const char *tmp_path(const char *name)
{
    static char buf[4][256];
    static int k;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/clann-features-%ld-%s", dir, (long)getpid(), name);
    return buf[k];
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* XXH64 seed 0: the published vectors of "", "a", "abc", then frozen bucket ids. */
START_TEST(test_hash_golden)
{
    static const struct {
        const char *s;
        uint64_t b10, b1000, b1000003;
    } golden[] = {
        {"", 1, 921, 789609},           {"a", 5, 955, 385867},
        {"abc", 9, 249, 776397},        {"movie_1", 2, 882, 648623},
        {"Toy Story (1995)", 1, 561, 739435}, {"de", 0, 110, 242969},
        {"8e4|x", 3, 83, 323974},       {"hello world", 2, 592, 972460},
        {"user42", 6, 876, 968134},     {"\xc3\xa9t\xc3\xa9", 9, 729, 89631},
    };
    ck_assert_uint_eq(clann_hash_bucket("", UINT64_MAX), 0xef46db3751d8e999ull % UINT64_MAX);
    ck_assert_uint_eq(clann_hash_bucket("abc", UINT64_MAX), 0x44bc2cf5ad770999ull);
    for (size_t i = 0; i < sizeof golden / sizeof *golden; i++) {
        ck_assert_uint_eq(clann_hash_bucket(golden[i].s, 10), golden[i].b10);
        ck_assert_uint_eq(clann_hash_bucket(golden[i].s, 1000), golden[i].b1000);
        ck_assert_uint_eq(clann_hash_bucket(golden[i].s, 1000003), golden[i].b1000003);
    }
    /* A hash column gives the same ids, and a numeric cell hashes as its decimal text. */
    const char *v[3] = {"movie_1", "user42", "abc"};
    const float num[3] = {42.0f, 1.5f, -3.0f};
    struct clann_table *t;
    ck_assert_int_eq(clann_table_create(3, &t), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, "s", v), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "n", num), CLANN_OK);
    struct clann_feature_column c[2] = {clann_feature_column_default(CLANN_FEATURE_HASH, "s"),
                                        clann_feature_column_default(CLANN_FEATURE_HASH, "n")};
    c[0].num_buckets = c[1].num_buckets = 1000;
    struct clann_features *fs;
    struct clann_matrix x;
    ck_assert_int_eq(clann_features_create(c, 2, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, t), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(fs, t, &x), CLANN_OK);
    ck_assert_uint_eq(x.cols, 2);
    ck_assert_float_eq(x.data[0], 882.0f);
    ck_assert_float_eq(x.data[2], 876.0f);
    ck_assert_float_eq(x.data[4], 249.0f);
    ck_assert_float_eq(x.data[1], (float)clann_hash_bucket("42", 1000));
    ck_assert_float_eq(x.data[3], (float)clann_hash_bucket("1.5", 1000));
    ck_assert_float_eq(x.data[5], (float)clann_hash_bucket("-3", 1000));
    clann_matrix_free(&x);
    clann_features_destroy(fs);
    clann_table_destroy(t);
}
END_TEST

/* Feature columns in a spec, as a user writes them: every kind, the fitted parts left out and
 * fitted on the table by clann_model_from_spec_table(), a given vocabulary kept (an unseen
 * value is its OOV id), and the ids of known values: bucket counts, the identity, XXH64 of the
 * text and of the crossed values joined by 0x1F. */
START_TEST(test_spec_columns)
{
    static const char *const spec =
        "{\"format\": \"clann-model\", \"loss\": \"sigmoid_cross_entropy\", "
        "\"features\": {\"columns\": ["
        "{\"kind\": \"bucketized\", \"columns\": [\"age\"], \"boundaries\": [30, 40, 50], "
        "\"output\": \"indicator\"},"
        "{\"kind\": \"identity\", \"columns\": [\"store\"], \"num_buckets\": 8, \"dimension\": 3},"
        "{\"kind\": \"hash\", \"columns\": [\"city\"], \"num_buckets\": 64},"
        "{\"kind\": \"vocabulary\", \"columns\": [\"colour\"], \"vocabulary\": [\"blue\", \"red\"]},"
        "{\"kind\": \"vocabulary\", \"name\": \"city_vocab\", \"columns\": [\"city\"]},"
        "{\"kind\": \"crossed\", \"columns\": [\"colour\", \"store\"], \"num_buckets\": 200}]},"
        "\"layers\": [{\"kind\": \"features\"}, {\"kind\": \"dense\", \"units\": 1}]}";
    const float age[4] = {25.0f, 35.0f, 50.0f, 80.0f}, store[4] = {3.0f, 0.0f, 7.0f, 3.0f};
    const char *city[4] = {"c7", "paris", "c7", "oslo"}, *colour[4] = {"red", "blue", "green", "red"};
    struct clann_table *t;
    ck_assert_int_eq(clann_table_create(4, &t), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "age", age), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "store", store), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, "city", city), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, "colour", colour), CLANN_OK);
    struct clann_context *ctx = cpu_ref();
    struct clann_model *m = NULL, *again = NULL;
    /* Without a table there is a vocabulary left to fit: named. */
    ck_assert_int_eq(clann_model_from_spec_json(ctx, spec, &m), CLANN_ERR_STATE);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "'city_vocab' has no vocabulary"));
    ck_assert_msg(clann_model_from_spec_table(ctx, spec, t, &m) == CLANN_OK, "%s",
                  clann_last_error());
    const struct clann_features *fs = clann_model_features(m);
    ck_assert_uint_eq(clann_model_input_count(m), 6);
    ck_assert_uint_eq(clann_features_id_count(fs, "city_vocab"), 3 + 1); /* fitted + OOV */
    ck_assert_uint_eq(clann_features_id_count(fs, "colour"), 2 + 1);      /* given + OOV */
    struct clann_matrix x;
    ck_assert_int_eq(clann_features_transform(fs, t, &x), CLANN_OK);
    ck_assert_uint_eq(x.cols, 6);
    for (size_t r = 0; r < 4; r++) {
        const float *row = x.data + r * 6;
        char cross[64];
        snprintf(cross, sizeof cross, "%s\x1f%g", colour[r], (double)store[r]);
        ck_assert_float_eq(row[0], (float)(r == 0 ? 0 : r == 1 ? 1 : 3)); /* ages 25 35 50 80 */
        ck_assert_float_eq(row[1], store[r]);
        ck_assert_float_eq(row[2], (float)clann_hash_bucket(city[r], 64));
        ck_assert_float_eq(row[3], r == 2 ? 2.0f : r == 1 ? 0.0f : 1.0f); /* green: OOV */
        ck_assert_str_eq(clann_features_value(fs, "city_vocab", (size_t)row[4]), city[r]);
        ck_assert_float_eq(row[5], (float)clann_hash_bucket(cross, 200));
    }
    /* The written spec is complete: it builds without a table, to the same ids. */
    char *text;
    struct clann_matrix x2;
    ck_assert_int_eq(clann_model_spec_json(m, &text), CLANN_OK);
    ck_assert_msg(clann_model_from_spec_json(ctx, text, &again) == CLANN_OK, "%s",
                  clann_last_error());
    ck_assert_int_eq(clann_features_transform(clann_model_features(again), t, &x2), CLANN_OK);
    ck_assert_int_eq(memcmp(x.data, x2.data, 4 * 6 * sizeof(float)), 0);
    clann_string_free(text);
    clann_matrix_free(&x), clann_matrix_free(&x2);
    clann_model_destroy(again), clann_model_destroy(m);
    /* Bad columns are errors naming the path or the column. */
    static const struct {
        const char *column, *why;
        enum clann_status st;
    } bad[] = {
        {"{\"kind\": \"hash\", \"columns\": [\"city\"]}", "columns[0].num_buckets", CLANN_ERR_FORMAT},
        {"{\"kind\": \"cube\", \"columns\": [\"city\"]}", "columns[0].kind", CLANN_ERR_FORMAT},
        {"{\"kind\": \"crossed\", \"columns\": [\"city\"], \"num_buckets\": 5}", "2 or more",
         CLANN_ERR_FORMAT},
        {"{\"kind\": \"bucketized\", \"columns\": [\"age\"], \"boundaries\": [3, 1]}",
         "strictly increasing", CLANN_ERR_FORMAT},
        {"{\"kind\": \"hash\", \"columns\": [\"zip\"], \"num_buckets\": 5}", "no column 'zip'",
         CLANN_ERR_INVALID_ARG},
        {"{\"kind\": \"bucketized\", \"columns\": [\"city\"], \"boundaries\": [1]}",
         "column 'city' is text", CLANN_ERR_INVALID_ARG},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[512];
        snprintf(buf, sizeof buf, "{\"format\": \"clann-model\", \"loss\": \"mse\", \"features\": {\"columns\": "
                 "[%s]}, \"layers\": [{\"kind\": \"features\"}, {\"kind\": \"dense\", "
                 "\"units\": 1}]}", bad[i].column);
        enum clann_status st = clann_model_from_spec_table(ctx, buf, t, &m);
        ck_assert_msg(st == bad[i].st, "%zu: status %d: %s", i, st, clann_last_error());
        ck_assert_ptr_null(m);
        ck_assert_msg(strstr(clann_last_error(), bad[i].why), "%zu: %s", i, clann_last_error());
    }
    ck_assert_int_eq(clann_model_from_spec_table(ctx, spec, NULL, &m), CLANN_ERR_INVALID_ARG);
    clann_table_destroy(t);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_table_csv)
{
    const char *p = tmp_path("t.csv");
    write_file(p, "id,city,\"tags\",price\n1,Paris,\"a|b\",3.5\n2,\"New York, NY\",c,4\n\n"
                  "3,Oslo,,1e2\r\n");
    struct clann_table *t;
    ck_assert_msg(clann_table_load_csv(p, NULL, &t) == CLANN_OK, "%s", clann_last_error());
    ck_assert_uint_eq(clann_table_rows(t), 3);
    ck_assert_uint_eq(clann_table_cols(t), 4);
    ck_assert_str_eq(clann_table_column_name(t, 2), "tags");
    ck_assert(clann_table_column_is_numeric(t, 0) && clann_table_column_is_numeric(t, 3));
    ck_assert(!clann_table_column_is_numeric(t, 1) && !clann_table_column_is_numeric(t, 2));
    struct clann_matrix y;
    ck_assert_int_eq(clann_table_numeric(t, "price", &y), CLANN_OK);
    ck_assert_float_eq(y.data[2], 100.0f);
    clann_matrix_free(&y);
    ck_assert_int_eq(clann_table_numeric(t, "cost", &y), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "id, city, tags, price"));
    ck_assert_int_eq(clann_table_numeric(t, "city", &y), CLANN_ERR_FORMAT);
    clann_table_destroy(t);
    write_file(p, "a,b\n1,2\n3\n");
    ck_assert_int_eq(clann_table_load_csv(p, NULL, &t), CLANN_ERR_FORMAT);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(clann_last_error(), "row 3") && strstr(clann_last_error(), "saw 1"),
                  "%s", clann_last_error());
    write_file(p, "a,a\n1,2\n");
    ck_assert_int_eq(clann_table_load_csv(p, NULL, &t), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "column 2"));
    write_file(p, "a,b\n1,\"x\n");
    ck_assert_int_eq(clann_table_load_csv(p, NULL, &t), CLANN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "unterminated"));
    unlink(p);
    ck_assert_int_eq(clann_table_load_csv(p, NULL, &t), CLANN_ERR_IO);
}
END_TEST

/* Missing cells: the tokens, NaN in numeric columns, fill values fitted on the training table
 * (mean, median, zero, mode; text columns take the mode), filling and dropping rows. */
START_TEST(test_missing_cells)
{
    ck_assert(clann_is_missing("") && clann_is_missing(" NA ") && clann_is_missing("n/a") &&
              clann_is_missing("NaN") && clann_is_missing("NULL") && clann_is_missing("?"));
    ck_assert(!clann_is_missing("0") && !clann_is_missing("nan2") && !clann_is_missing("None"));
    const char *p = tmp_path("missing.csv");
    write_file(p, "a,b,c\n1,x,NA\n?,y,2\n4,,5\n9,x,\n");
    struct clann_table *t, *kept;
    ck_assert_msg(clann_table_load_csv(p, NULL, &t) == CLANN_OK, "%s", clann_last_error());
    unlink(p);
    ck_assert(clann_table_column_is_numeric(t, 0) && clann_table_column_is_numeric(t, 2));
    ck_assert(!clann_table_column_is_numeric(t, 1));
    ck_assert_uint_eq(clann_table_column_missing(t, 0), 1);
    ck_assert_uint_eq(clann_table_column_missing(t, 1), 1);
    ck_assert_uint_eq(clann_table_column_missing(t, 2), 2);
    char v[64];
    ck_assert_int_eq(clann_table_fill_value(t, 0, CLANN_FILL_MEAN, v, sizeof v), CLANN_OK);
    ck_assert_str_eq(v, "4.66666667");
    ck_assert_int_eq(clann_table_fill_value(t, 0, CLANN_FILL_MEDIAN, v, sizeof v), CLANN_OK);
    ck_assert_str_eq(v, "4");
    ck_assert_int_eq(clann_table_fill_value(t, 2, CLANN_FILL_MEDIAN, v, sizeof v), CLANN_OK);
    ck_assert_str_eq(v, "3.5");
    ck_assert_int_eq(clann_table_fill_value(t, 0, CLANN_FILL_ZERO, v, sizeof v), CLANN_OK);
    ck_assert_str_eq(v, "0");
    ck_assert_int_eq(clann_table_fill_value(t, 1, CLANN_FILL_MEAN, v, sizeof v), CLANN_OK);
    ck_assert_str_eq(v, "x"); /* text: the mode */
    ck_assert_int_eq(clann_table_fill_value(t, 0, CLANN_FILL_DROP, v, sizeof v),
                     CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann_table_drop_missing(t, NULL, 0, &kept, NULL), CLANN_OK);
    ck_assert_uint_eq(clann_table_rows(kept), 0);
    clann_table_destroy(kept);
    const char *cols[] = {"a", "b"};
    size_t dropped = 0;
    ck_assert_int_eq(clann_table_drop_missing(t, cols, 2, &kept, &dropped), CLANN_OK);
    ck_assert_uint_eq(dropped, 2);
    ck_assert_uint_eq(clann_table_column_missing(kept, 2), 2); /* copied with its NaNs */
    clann_table_destroy(kept);
    ck_assert_int_eq(clann_table_fill_missing(t, 0, "4"), CLANN_OK);
    ck_assert_int_eq(clann_table_fill_missing(t, 1, "x"), CLANN_OK);
    ck_assert_int_eq(clann_table_fill_missing(t, 2, "oops"), CLANN_ERR_INVALID_ARG);
    ck_assert_uint_eq(clann_table_column_missing(t, 0), 0);
    char buf[64];
    ck_assert_str_eq(clann_table_cell(t, 0, 1, buf, sizeof buf), "4");
    ck_assert_str_eq(clann_table_cell(t, 1, 2, buf, sizeof buf), "x");
    ck_assert_str_eq(clann_table_cell(t, 2, 0, buf, sizeof buf), "NaN");
    enum clann_fill_policy f;
    ck_assert(clann_fill_from_name("median", &f) && f == CLANN_FILL_MEDIAN);
    ck_assert(!clann_fill_from_name("max", &f));
    clann_table_destroy(t);
}
END_TEST

/* A model's columns (input names, label, vocabulary, fill values) are checked, stored and
 * survive its file. */
START_TEST(test_model_columns)
{
    struct clann_context *ctx = cpu_ref();
    struct clann_estimator_params ep = clann_estimator_default_params();
    struct clann_model *m, *l;
    ck_assert_int_eq(clann_dnn_create(ctx, 2, 3, CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY, &ep,
                                      &m), CLANN_OK);
    struct clann_columns got;
    ck_assert(!clann_model_columns(m, &got) && got.n_inputs == 0);
    const char *in[] = {"a", "b"}, *classes[] = {"cat", "dog", "emu"}, *fv[] = {"1.5", "0"};
    struct clann_columns c = {in, 2, "animal", classes, 3, CLANN_FILL_MEDIAN, in, fv, 2};
    ck_assert_msg(clann_model_set_columns(m, &c) == CLANN_OK, "%s", clann_last_error());
    c.n_classes = 2; /* not the model's 3 outputs */
    ck_assert_int_eq(clann_model_set_columns(m, &c), CLANN_ERR_INVALID_ARG);
    const char *dup[] = {"a", "a"};
    c = (struct clann_columns){dup, 2, NULL, NULL, 0, CLANN_FILL_NONE, NULL, NULL, 0};
    ck_assert_int_eq(clann_model_set_columns(m, &c), CLANN_ERR_INVALID_ARG);
    const char *path = tmp_path("columns.safetensors");
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(clann_model_load(ctx, path, &l) == CLANN_OK, "%s", clann_last_error());
    unlink(path);
    ck_assert(clann_model_columns(l, &got));
    ck_assert_uint_eq(got.n_inputs, 2);
    ck_assert_str_eq(got.inputs[1], "b");
    ck_assert_str_eq(got.label, "animal");
    ck_assert_uint_eq(got.n_classes, 3);
    ck_assert_str_eq(got.classes[2], "emu");
    ck_assert_int_eq(got.fill, CLANN_FILL_MEDIAN);
    ck_assert_uint_eq(got.n_fill, 2);
    ck_assert_str_eq(got.fill_values[0], "1.5");
    clann_model_destroy(l);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
}
END_TEST

static struct clann_table *strings_table(const char *name, const char *const *v, size_t n)
{
    struct clann_table *t;
    ck_assert_int_eq(clann_table_create(n, &t), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, name, v), CLANN_OK);
    return t;
}

/* The vocabulary comes from the training table only; unseen values go to OOV buckets. */
START_TEST(test_vocabulary)
{
    const char *train_v[] = {"a", "c", "a", "b", "d|a", "a|c||b"};
    const char *test_v[] = {"a", "zz", "b|q", ""};
    struct clann_table *train = strings_table("w", train_v, 6);
    struct clann_table *test = strings_table("w", test_v, 4);
    struct clann_feature_column c = clann_feature_column_default(CLANN_FEATURE_VOCABULARY, "w");
    c.separator = '|';
    c.max_vocabulary = 3;
    c.oov_buckets = 2;
    struct clann_features *fs;
    struct clann_matrix x;
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(fs, test, &x), CLANN_ERR_STATE);
    ck_assert_int_eq(clann_features_fit(fs, train), CLANN_OK);
    /* counts a:5, c:2, b:2, d:1 -> a, b, c (ties in byte order); d is OOV. */
    ck_assert_uint_eq(clann_features_id_count(fs, "w"), 5);
    ck_assert_str_eq(clann_features_value(fs, "w", 0), "a");
    ck_assert_str_eq(clann_features_value(fs, "w", 1), "b");
    ck_assert_str_eq(clann_features_value(fs, "w", 2), "c");
    ck_assert_ptr_null(clann_features_value(fs, "w", 3));
    ck_assert_uint_eq(clann_features_input_count(fs), 3); /* widest training row: 3 values */
    ck_assert_int_eq(clann_features_transform(fs, test, &x), CLANN_OK);
    const float oov_zz = 3.0f + (float)clann_hash_bucket("zz", 2);
    const float oov_q = 3.0f + (float)clann_hash_bucket("q", 2);
    const float want[12] = {0, -1, -1, oov_zz, -1, -1, 1, oov_q, -1, -1, -1, -1};
    for (size_t i = 0; i < 12; i++)
        ck_assert_float_eq(x.data[i], want[i]);
    clann_matrix_free(&x);
    /* Without OOV buckets unknown values are ignored. */
    c.oov_buckets = 0;
    clann_features_destroy(fs);
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, train), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(fs, test, &x), CLANN_OK);
    ck_assert_float_eq(x.data[3], -1.0f);
    clann_matrix_free(&x);
    clann_features_destroy(fs);
    clann_table_destroy(train);
    clann_table_destroy(test);
}
END_TEST

static enum clann_status fit_vocab_file(const char *text, struct clann_table *t)
{
    const char *p = tmp_path("vocab.txt");
    if (text)
        write_file(p, text);
    else
        unlink(p);
    struct clann_feature_column c = clann_feature_column_default(CLANN_FEATURE_VOCABULARY, "w");
    c.vocabulary_file = p;
    struct clann_features *fs;
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    enum clann_status st = clann_features_fit(fs, t);
    if (st == CLANN_OK) {
        ck_assert_uint_eq(clann_features_id_count(fs, "w"), 4);
        ck_assert_str_eq(clann_features_value(fs, "w", 2), "z");
    }
    clann_features_destroy(fs);
    unlink(p);
    return st;
}

START_TEST(test_errors)
{
    const char *v[] = {"x", "y"};
    struct clann_table *t = strings_table("w", v, 2);
    ck_assert_int_eq(fit_vocab_file("x\ny\r\nz\n", t), CLANN_OK);
    ck_assert_int_eq(fit_vocab_file("x\n\nz\n", t), CLANN_ERR_FORMAT);
    ck_assert_msg(strstr(clann_last_error(), "vocab.txt:2: empty"), "%s", clann_last_error());
    ck_assert_int_eq(fit_vocab_file("x\ny\nx\n", t), CLANN_ERR_FORMAT);
    ck_assert_msg(strstr(clann_last_error(), ":3: duplicate vocabulary value 'x' (first on "
                         "line 1)"), "%s", clann_last_error());
    ck_assert_int_eq(fit_vocab_file("", t), CLANN_ERR_FORMAT);
    ck_assert_int_eq(fit_vocab_file(NULL, t), CLANN_ERR_IO);
    /* Unknown column names, at fit and at transform. */
    struct clann_feature_column c = clann_feature_column_default(CLANN_FEATURE_HASH, "city");
    c.num_buckets = 8;
    struct clann_features *fs;
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, t), CLANN_ERR_INVALID_ARG);
    ck_assert_msg(strstr(clann_last_error(), "feature 'city': the table has no column 'city' "
                         "(columns: w)"), "%s", clann_last_error());
    clann_features_destroy(fs);
    c.column = "w";
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, t), CLANN_OK);
    struct clann_table *other = strings_table("v", v, 2);
    struct clann_matrix x;
    ck_assert_int_eq(clann_features_transform(fs, other, &x), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "no column 'w'"));
    clann_features_destroy(fs);
    /* Identity ids out of range; bad columns at create. */
    const char *ids[] = {"3", "12"};
    struct clann_table *it = strings_table("id", ids, 2);
    c = clann_feature_column_default(CLANN_FEATURE_IDENTITY, "id");
    c.num_buckets = 10;
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, it), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(fs, it, &x), CLANN_ERR_FORMAT);
    ck_assert_msg(strstr(clann_last_error(), "row 2: '12' is not an id in 0..9"), "%s",
                  clann_last_error());
    clann_features_destroy(fs);
    c.num_buckets = 0;
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_ERR_INVALID_ARG);
    c = clann_feature_column_default(CLANN_FEATURE_NUMERIC, "w");
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, t), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "is text"));
    clann_features_destroy(fs);
    c.name = "bad name";
    ck_assert_int_eq(clann_features_create(&c, 1, &fs), CLANN_ERR_INVALID_ARG);
    clann_table_destroy(it);
    clann_table_destroy(other);
    clann_table_destroy(t);
}
END_TEST

/* ---- a small mixed data set ---------------------------------------------------------------- */

static const char *const cities[] = {"Paris", "Oslo", "Lima", "Rome", "Kyiv", "Pune", "Quito"};
static const char *const tagset[] = {"red", "blue", "green", "old", "new", "big"};

/* rows of: x1 (large scale), x2, city, tags (multi-valued), day; target y. */
static struct clann_table *mixed_table(size_t rows, uint64_t seed, struct clann_matrix *y)
{
    float *x1 = malloc(rows * sizeof *x1), *x2 = malloc(rows * sizeof *x2);
    char (*tags)[64] = malloc(rows * sizeof *tags);
    const char **city = malloc(rows * sizeof *city), **tag = malloc(rows * sizeof *tag);
    const char **day = malloc(rows * sizeof *day);
    static const char *const days[] = {"mon", "tue", "wed"};
    ck_assert_int_eq(clann_matrix_create(rows, 1, y), CLANN_OK);
    for (size_t r = 0; r < rows; r++) {
        size_t c = (size_t)(clann__rng_uniform(seed, 1, r) * 7) % 7;
        x1[r] = 1000.0f * clann__rng_uniform(seed, 2, r);
        x2[r] = clann__rng_normal(seed, 3, r);
        city[r] = cities[c];
        day[r] = days[r % 3];
        tags[r][0] = '\0';
        size_t nt = (size_t)(clann__rng_uniform(seed, 4, r) * 4) % 4;
        for (size_t k = 0; k < nt; k++)
            snprintf(tags[r] + strlen(tags[r]), 64 - strlen(tags[r]), "%s%s", k ? "|" : "",
                     tagset[(r + 3 * k) % 6]);
        tag[r] = tags[r];
        y->data[r] = 0.002f * x1[r] + x2[r] + (float)c * 0.5f - (float)nt * 0.3f;
    }
    struct clann_table *t;
    ck_assert_int_eq(clann_table_create(rows, &t), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "x1", x1), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "x2", x2), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, "city", city), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, "tags", tag), CLANN_OK);
    ck_assert_int_eq(clann_table_add_strings(t, "day", day), CLANN_OK);
    free(x1), free(x2), free(tags), free(city), free(tag), free(day);
    return t;
}

/* Every kind of column: numeric, bucketized (indicator), vocabulary, multi-valued hash (sqrtn),
 * crossed; dim 0 picks the fourth-root default. */
static struct clann_features *mixed_features(struct clann_table *train, enum clann_combiner comb)
{
    static const float bounds[] = {250.0f, 500.0f, 750.0f};
    static const char *const cross[] = {"city", "day"};
    struct clann_feature_column c[6] = {
        clann_feature_column_default(CLANN_FEATURE_NUMERIC, "x1"),
        clann_feature_column_default(CLANN_FEATURE_NUMERIC, "x2"),
        clann_feature_column_default(CLANN_FEATURE_VOCABULARY, "city"),
        clann_feature_column_default(CLANN_FEATURE_HASH, "tags"),
        clann_feature_column_default(CLANN_FEATURE_BUCKETIZED, "x1"),
        clann_feature_column_default(CLANN_FEATURE_CROSSED, NULL),
    };
    c[2].dimension = 3;
    c[3].num_buckets = 5;
    c[3].separator = '|';
    c[3].combiner = comb;
    c[3].dimension = 2;
    c[4].name = "x1_bucket";
    c[4].boundaries = bounds;
    c[4].n_boundaries = 3;
    c[4].output = CLANN_FEATURE_INDICATOR;
    c[5].columns = cross;
    c[5].n_columns = 2;
    c[5].num_buckets = 16; /* dimension round(16^0.25) = 2 */
    struct clann_features *fs;
    ck_assert_msg(clann_features_create(c, 6, &fs) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(clann_features_fit(fs, train) == CLANN_OK, "%s", clann_last_error());
    return fs;
}

static struct clann_model *mixed_model(struct clann_context *ctx, struct clann_features *fs,
                                       enum clann_optimizer opt, size_t max_batch)
{
    struct clann_model *m;
    ck_assert_msg(clann_model_create_with_features(ctx, fs, &m) == CLANN_OK, "%s",
                  clann_last_error());
    struct clann_dense_params d = clann_dense_default_params(6, CLANN_ACTIVATION_TANH);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(opt);
    cp.max_batch = max_batch;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    return m;
}

static double mean_loss(struct clann_model *m, const struct clann_matrix *x,
                        const struct clann_matrix *y)
{
    struct clann_metrics mt;
    ck_assert_int_eq(clann_model_evaluate(m, x, y, &mt), CLANN_OK);
    return mt.loss;
}

/* Analytic table gradients against central differences (float32, eps 1e-2): relL2 <= 1e-3. */
static void gradcheck(enum clann_combiner comb)
{
    struct clann_context *ctx = cpu_ref();
    struct clann_matrix y, x;
    struct clann_table *t = mixed_table(24, 42, &y);
    struct clann_features *fs = mixed_features(t, comb);
    ck_assert_int_eq(clann_features_transform(fs, t, &x), CLANN_OK);
    struct clann_model *m = mixed_model(ctx, fs, CLANN_OPTIMIZER_SGD, 32);
    struct clann_scaler_params sp = {CLANN_SCALE_STANDARD, 0.0f, 0.0f};
    ck_assert_int_eq(clann_model_scale_inputs(m, &sp, &x), CLANN_OK);
    size_t rows = x.rows;
    struct clann_view pred;
    ck_assert_int_eq(clann__upload_batch(m, &x, &y, NULL, 0, rows), CLANN_OK);
    ck_assert_int_eq(clann__embedding_prepare_batch(m, rows), CLANN_OK);
    ck_assert_int_eq(clann__model_forward(m, rows, true, 0, &pred), CLANN_OK);
    ck_assert_int_eq(clann__batch_loss(m, pred, rows, clann__layer_dy(m, m->n_layers - 1)),
                     CLANN_OK);
    ck_assert_int_eq(clann__model_backward(m, rows, 0), CLANN_OK);
    ck_assert_uint_eq(m->n_emb, 3);
    double num2 = 0, diff2 = 0;
    for (size_t k = 0; k < m->n_emb; k++) {
        struct clann__emb *e = &m->emb[k];
        size_t dim = e->f->dim, n = e->f->n_ids * dim;
        float *g = calloc(e->max_unique * dim + 1, sizeof *g), *an = calloc(n, sizeof *an);
        ck_assert_int_eq(clann__op_download(m->be, g, clann__view(&e->grad, 0),
                                              e->n_unique * dim), CLANN_OK);
        for (size_t u = 0; u < e->n_unique; u++)
            memcpy(an + (size_t)e->host[u] * dim, g + u * dim, dim * sizeof *g);
        struct clann_matrix tab;
        ck_assert_int_eq(clann_model_embedding_get(m, e->f->name, &tab), CLANN_OK);
        for (size_t i = 0; i < n; i++) {
            float w0 = tab.data[i];
            tab.data[i] = w0 + 1e-2f;
            clann_model_embedding_set(m, e->f->name, &tab);
            double lp = mean_loss(m, &x, &y);
            tab.data[i] = w0 - 1e-2f;
            clann_model_embedding_set(m, e->f->name, &tab);
            double lm = mean_loss(m, &x, &y);
            tab.data[i] = w0;
            double nd = (lp - lm) / 2e-2;
            num2 += nd * nd;
            diff2 += (nd - an[i]) * (nd - an[i]);
        }
        clann_model_embedding_set(m, e->f->name, &tab);
        clann_matrix_free(&tab);
        free(g);
        free(an);
    }
    double rel = sqrt(diff2 / num2);
    printf("embedding gradcheck (combiner %d): relL2 %.3g over tables of norm %.3g\n", (int)comb,
           rel, sqrt(num2));
    ck_assert_msg(num2 > 1e-6 && rel <= 1e-3, "relL2 %g", rel);
    clann_model_destroy(m);
    clann_features_destroy(fs);
    clann_table_destroy(t);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}

START_TEST(test_gradcheck)
{
    gradcheck(CLANN_COMBINER_MEAN);
    gradcheck(CLANN_COMBINER_SUM);
    gradcheck(CLANN_COMBINER_SQRTN);
}
END_TEST

/* ---- the ranks' rows (train/dist_rows.c) ---------------------------------------------------- */

/* The passes of rows [first, first + n) of x as one share of a batch of `batch` rows; writes
 * every table's rows (clann__embedding_rows_get) to out[k] and their counts to count[k]. */
static void share_rows(struct clann_model *m, const struct clann_matrix *x,
                       const struct clann_matrix *y, size_t first, size_t n, size_t batch,
                       float **out, size_t *count)
{
    struct clann_view pred;
    m->batch_row0 = first;
    m->batch_global_rows = batch;
    ck_assert_int_eq(clann__upload_batch(m, x, y, NULL, first, n), CLANN_OK);
    ck_assert_int_eq(clann__embedding_prepare_batch(m, n), CLANN_OK);
    ck_assert_int_eq(clann__model_forward(m, n, true, 0, &pred), CLANN_OK);
    ck_assert_int_eq(clann__batch_loss(m, pred, n, clann__layer_dy(m, m->n_layers - 1)),
                     CLANN_OK);
    ck_assert_int_eq(clann__model_backward(m, n, 0), CLANN_OK);
    for (size_t k = 0; k < m->n_emb; k++) {
        out[k] = calloc(clann__embedding_rows_cap(m, k) + 1, sizeof **out);
        ck_assert_int_eq(clann__embedding_rows_get(m, k, out[k], &count[k]), CLANN_OK);
    }
    m->batch_row0 = m->batch_global_rows = 0;
}

/* Three shares of a batch merged as the ranks do give the whole batch's rows: the same ids in
 * the same order, gradients within float reassociation, and bitwise the same on a rerun; a
 * part with an id outside the table is an error, not a crash. */
START_TEST(test_rows_merge)
{
    struct clann_context *ctx = cpu_ref();
    struct clann_matrix y, x;
    struct clann_table *t = mixed_table(30, 9, &y);
    struct clann_features *fs = mixed_features(t, CLANN_COMBINER_SQRTN);
    ck_assert_int_eq(clann_features_transform(fs, t, &x), CLANN_OK);
    struct clann_model *m = mixed_model(ctx, fs, CLANN_OPTIMIZER_ADAM, 32);
    float *whole[3], *part[3][3], *merged[2][3];
    size_t n_whole[3], n_part[3][3], n_merged[2][3], cut[4] = {0, 7, 19, 30};
    share_rows(m, &x, &y, 0, 30, 30, whole, n_whole);
    for (size_t r = 0; r < 3; r++)
        share_rows(m, &x, &y, cut[r], cut[r + 1] - cut[r], 30, part[r], n_part[r]);
    double diff2 = 0, norm2 = 0;
    for (size_t rerun = 0; rerun < 2; rerun++) {
        for (size_t k = 0; k < m->n_emb; k++) {
            const float *parts[3] = {part[0][k], part[1][k], part[2][k]};
            size_t counts[3] = {n_part[0][k], n_part[1][k], n_part[2][k]};
            ck_assert_msg(clann__embedding_rows_merge(m, k, parts, counts, 3) == CLANN_OK, "%s",
                          clann_last_error());
            merged[rerun][k] = calloc(clann__embedding_rows_cap(m, k) + 1, sizeof(float));
            ck_assert_int_eq(clann__embedding_rows_get(m, k, merged[rerun][k],
                                                       &n_merged[rerun][k]), CLANN_OK);
        }
    }
    for (size_t k = 0; k < m->n_emb; k++) {
        size_t n = n_whole[k], dim = m->emb[k].f->dim;
        ck_assert_uint_gt(n, 1);
        ck_assert_uint_lt(n, n_part[0][k] + n_part[1][k] + n_part[2][k]); /* shared ids */
        ck_assert_uint_eq(n_merged[0][k], n);
        ck_assert_int_eq(memcmp(merged[0][k], merged[1][k], n * (1 + dim) * sizeof(float)), 0);
        for (size_t u = 0; u < n; u++)
            ck_assert_float_eq(merged[0][k][u], whole[k][u]);
        for (size_t i = n; i < n * (1 + dim); i++) {
            double d = (double)merged[0][k][i] - whole[k][i];
            diff2 += d * d;
            norm2 += (double)whole[k][i] * whole[k][i];
        }
    }
    printf("merged rows of 3 shares vs the whole batch: relL2 %.3g (norm %.3g)\n",
           sqrt(diff2 / norm2), sqrt(norm2));
    ck_assert_msg(norm2 > 1e-6 && diff2 <= 1e-12 * norm2, "relL2 %g", sqrt(diff2 / norm2));
    float bad[3] = {1e6f, 0.0f, 0.0f};
    const float *bad_parts[1] = {bad};
    size_t one = 1;
    ck_assert_int_eq(clann__embedding_rows_merge(m, 0, bad_parts, &one, 1), CLANN_ERR_INTERNAL);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "not a row of the table"));
    for (size_t k = 0; k < m->n_emb; k++) {
        free(whole[k]);
        free(merged[0][k]);
        free(merged[1][k]);
        for (size_t r = 0; r < 3; r++)
            free(part[r][k]);
    }
    clann_model_destroy(m);
    clann_features_destroy(fs);
    clann_table_destroy(t);
    clann_matrix_free(&x);
    clann_matrix_free(&y);
    clann_context_destroy(ctx);
}
END_TEST

/* ---- OpenCL parity of the feature-layer ops ----------------------------------------------- */

struct op_case {
    size_t rows, width, n_ids, dim, ld;
    float *ids, *table, *dy, *s1, *s2, *uniq, *offsets, *occ;
    size_t n_unique, n_occ;
};

static void fill_uniform(float *x, size_t n, uint32_t stream, float lo, float hi)
{
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * clann__rng_uniform(42, stream, i);
}

/* Random ids (about a quarter empty, some invalid values that must be skipped) and the CSR
 * index a training step would build. */
static void make_case(struct op_case *c)
{
    c->rows = 37, c->width = 3, c->n_ids = 11, c->dim = 5, c->ld = 7;
    size_t n = c->rows * c->ld;
    c->ids = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
        float u = clann__rng_uniform(42, 1, i);
        c->ids[i] = u < 0.25f ? -1.0f : u < 0.3f ? 2.5f : (float)((size_t)(u * 97) % c->n_ids);
    }
    c->table = malloc(c->n_ids * c->dim * sizeof(float));
    c->s1 = malloc(c->n_ids * c->dim * sizeof(float));
    c->s2 = malloc(c->n_ids * c->dim * sizeof(float));
    c->dy = malloc(c->rows * 9 * sizeof(float));
    fill_uniform(c->table, c->n_ids * c->dim, 2, -1, 1);
    fill_uniform(c->s1, c->n_ids * c->dim, 3, 0, 0.1f);
    fill_uniform(c->s2, c->n_ids * c->dim, 4, 0, 0.1f);
    fill_uniform(c->dy, c->rows * 9, 5, -1, 1);
    c->uniq = malloc(c->n_ids * sizeof(float));
    c->offsets = malloc((c->n_ids + 1) * sizeof(float));
    c->occ = malloc(c->rows * c->width * sizeof(float));
    c->n_unique = c->n_occ = 0;
    for (size_t id = 0; id < c->n_ids; id++) {
        c->offsets[c->n_unique] = (float)c->n_occ;
        size_t before = c->n_occ;
        for (size_t r = 0; r < c->rows; r++)
            for (size_t s = 0; s < c->width; s++)
                if (c->ids[r * c->ld + 2 + s] == (float)id)
                    c->occ[c->n_occ++] = (float)r;
        if (c->n_occ > before)
            c->uniq[c->n_unique++] = (float)id;
    }
    c->offsets[c->n_unique] = (float)c->n_occ;
}

static struct clann_buf upload(struct clann_backend *be, const float *x, size_t n)
{
    struct clann_buf b;
    ck_assert_int_eq(clann__buf_create(be, n, &b), CLANN_OK);
    ck_assert_int_eq(clann__op_upload(be, clann__view(&b, 0), x, n, true), CLANN_OK);
    return b;
}

/* Runs every feature-layer op on ctx; out receives forward outputs (3 combiners, indicator),
 * gradients and the updated table and state. */
static void run_ops(struct clann_context *ctx, struct op_case *c, float *out, size_t *n_out)
{
    struct clann_backend *be = ctx->be;
    ck_assert_msg(be->ops->copy_cols && be->ops->embedding_forward &&
                  be->ops->embedding_backward && be->ops->embedding_update,
                  "backend %s lacks feature-layer ops", be->ops->name);
    size_t tn = c->n_ids * c->dim, yn = c->rows * 20;
    struct clann_buf ids = upload(be, c->ids, c->rows * c->ld), tab = upload(be, c->table, tn);
    struct clann_buf s1 = upload(be, c->s1, tn), s2 = upload(be, c->s2, tn);
    struct clann_buf dy = upload(be, c->dy, c->rows * 9), y, g;
    struct clann_buf uq = upload(be, c->uniq, c->n_unique);
    struct clann_buf off = upload(be, c->offsets, c->n_unique + 1);
    struct clann_buf occ = upload(be, c->occ, c->n_occ);
    ck_assert_int_eq(clann__buf_create(be, yn, &y), CLANN_OK);
    ck_assert_int_eq(clann__buf_create(be, c->n_unique * c->dim, &g), CLANN_OK);
    ck_assert_int_eq(clann__op_fill(be, clann__view(&y, 0), yn, 0.0f), CLANN_OK);
    size_t n = 0;
    for (int comb = 0; comb < 3; comb++) {
        ck_assert_int_eq(clann__op_copy_cols(be, clann__view(&ids, 0), c->ld, clann__view(&y, 0),
                                            20, c->rows, 2), CLANN_OK);
        ck_assert_int_eq(clann__op_embedding_forward(be, clann__view(&ids, 2), c->ld, c->width,
                                                    c->rows, clann__view(&tab, 0), c->n_ids,
                                                    c->dim, (enum clann_combiner)comb,
                                                    clann__view(&y, 2), 20), CLANN_OK);
        ck_assert_int_eq(clann__op_embedding_forward(be, clann__view(&ids, 2), c->ld, c->width,
                                                    c->rows, clann__view(NULL, 0), c->n_ids,
                                                    c->n_ids, (enum clann_combiner)comb,
                                                    clann__view(&y, 2 + c->dim), 20), CLANN_OK);
        ck_assert_int_eq(clann__op_download(be, out + n, clann__view(&y, 0), yn), CLANN_OK);
        n += yn;
        ck_assert_int_eq(clann__op_embedding_backward(
                             be, clann__view(&dy, 1), 9, clann__view(&ids, 2), c->ld, c->width,
                             c->rows, c->n_ids, (enum clann_combiner)comb, clann__view(&off, 0),
                             clann__view(&occ, 0), c->n_occ, c->n_unique, c->dim,
                             clann__view(&g, 0)), CLANN_OK);
        ck_assert_int_eq(clann__op_download(be, out + n, clann__view(&g, 0),
                                           c->n_unique * c->dim), CLANN_OK);
        n += c->n_unique * c->dim;
    }
    /* Each optimizer from fresh state (one kind's state is no valid state of another). */
    struct clann_buf *st[3] = {&tab, &s1, &s2};
    for (int kind = 0; kind < CLANN__OPT_COUNT; kind++) {
        struct clann_opt opt = {(enum clann__opt_kind)kind, 0.05f, 0.9f, kind == 1, 0.9f,
                                0.999f, 1e-7f, 0.9f, 0.1f, 3, clann__view(NULL, 0), 0.0f, 0.0f};
        ck_assert_int_eq(clann__op_upload(be, clann__view(&s1, 0), c->s1, tn, true), CLANN_OK);
        ck_assert_int_eq(clann__op_upload(be, clann__view(&s2, 0), c->s2, tn, true), CLANN_OK);
        ck_assert_int_eq(clann__op_embedding_update(be, &opt, clann__view(&tab, 0),
                                                   clann__view(&s1, 0), clann__view(&s2, 0),
                                                   c->n_ids, c->dim, clann__view(&uq, 0),
                                                   clann__view(&g, 0), c->n_unique), CLANN_OK);
        for (size_t k = 0; k < 3; k++, n += tn)
            ck_assert_int_eq(clann__op_download(be, out + n, clann__view(st[k], 0), tn),
                             CLANN_OK);
    }
    *n_out = n;
    struct clann_buf *all[] = {&ids, &tab, &s1, &s2, &dy, &uq, &off, &occ, &y, &g};
    for (size_t k = 0; k < sizeof all / sizeof *all; k++)
        clann__buf_destroy(all[k]);
}

START_TEST(test_opencl_parity)
{
    char sel[8][32];
    size_t n_dev = test_opencl_devices(sel);
    struct op_case c;
    make_case(&c);
    size_t cap = 3 * (c.rows * 20 + c.n_ids * c.dim) + 3 * CLANN__OPT_COUNT * c.n_ids * c.dim;
    float *ref = malloc(cap * sizeof *ref), *got = malloc(cap * sizeof *got);
    size_t n_ref, n_got;
    struct clann_context *cpu = cpu_ref();
    run_ops(cpu, &c, ref, &n_ref);
    clann_context_destroy(cpu);
    if (n_dev == 0)
        printf("feature-layer ops: no OpenCL device, parity not checked\n");
    for (size_t d = 0; d < n_dev; d++) {
        struct clann_context *cl = test_context(sel[d], CLANN_CPU_MODE_FAST);
        run_ops(cl, &c, got, &n_got);
        ck_assert_uint_eq(n_got, n_ref);
        double nmse = test_nmse(ref, got, n_ref);
        for (size_t i = 0; i < n_ref && !(nmse <= 1e-7); i++)
            if (!(fabsf(ref[i] - got[i]) <= 1e-5f * (1 + fabsf(ref[i]))))
                printf("value %zu of %zu: %g vs %g\n", i, n_ref, ref[i], got[i]);
        printf("feature-layer ops on %s: NMSE %.3g vs the CPU reference\n", sel[d], nmse);
        fflush(stdout);
        ck_assert_msg(nmse <= 1e-7, "NMSE %g on %s", nmse, sel[d]);
        clann_context_destroy(cl);
    }
    free(ref), free(got);
    free(c.ids), free(c.table), free(c.dy), free(c.s1), free(c.s2), free(c.uniq);
    free(c.offsets), free(c.occ);
}
END_TEST

/* ---- round trip, transfer, frozen tables --------------------------------------------------- */

static void fit_quietly(struct clann_model *m, const struct clann_matrix *x,
                        const struct clann_matrix *y, size_t epochs)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = epochs;
    fp.batch_size = 16;
    ck_assert_msg(clann_model_fit(m, x, y, NULL, NULL, &fp, NULL) == CLANN_OK, "%s",
                  clann_last_error());
}

START_TEST(test_round_trip)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_matrix y, x, yt, p1, p2;
    struct clann_table *train = mixed_table(400, 42, &y), *test = mixed_table(50, 7, &yt);
    struct clann_features *fs = mixed_features(train, CLANN_COMBINER_MEAN);
    ck_assert_int_eq(clann_features_transform(fs, train, &x), CLANN_OK);
    struct clann_model *m = mixed_model(ctx, fs, CLANN_OPTIMIZER_ADAM, 32), *l;
    struct clann_scaler_params sp = {CLANN_SCALE_STANDARD, 0.0f, 0.0f};
    ck_assert_int_eq(clann_model_scale_inputs(m, &sp, &x), CLANN_OK);
    struct clann_matrix before;
    ck_assert_int_eq(clann_model_embedding_get(m, "city", &before), CLANN_OK);
    double loss0 = mean_loss(m, &x, &y);
    fit_quietly(m, &x, &y, 20);
    double loss1 = mean_loss(m, &x, &y);
    ck_assert_msg(loss1 < 0.5 * loss0, "training did not learn: %g -> %g", loss0, loss1);
    const char *path = tmp_path("model.safetensors");
    ck_assert_msg(clann_model_save(m, path) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(clann_model_load(ctx, path, &l) == CLANN_OK, "%s", clann_last_error());
    ck_assert_int_eq(clann_model_predict_table(m, test, &p1), CLANN_OK);
    ck_assert_int_eq(clann_model_predict_table(l, test, &p2), CLANN_OK);
    ck_assert_uint_eq(p1.rows, 50);
    ck_assert_int_eq(memcmp(p1.data, p2.data, 50 * sizeof(float)), 0);
    char *s1, *s2;
    ck_assert_int_eq(clann_model_spec_json(m, &s1), CLANN_OK);
    ck_assert_int_eq(clann_model_spec_json(l, &s2), CLANN_OK);
    ck_assert_str_eq(s1, s2);
    ck_assert_ptr_nonnull(strstr(s1, "\"hash\":\"xxh64-seed0\""));
    clann_string_free(s1), clann_string_free(s2);
    const struct clann_features *lf = clann_model_features(l);
    ck_assert_str_eq(clann_features_value(lf, "city", 0), clann_features_value(fs, "city", 0));
    /* Transfer learning: a fresh model takes the trained city table; a frozen table stays. */
    struct clann_matrix trained, got;
    ck_assert_int_eq(clann_model_embedding_get(m, "city", &trained), CLANN_OK);
    ck_assert_int_eq(memcmp(trained.data, before.data, trained.rows * trained.cols * 4) != 0, 1);
    struct clann_model *fresh = mixed_model(ctx, fs, CLANN_OPTIMIZER_ADAM, 32);
    ck_assert_msg(clann_model_embedding_load(fresh, "city", path, "layers.0.embedding.city") ==
                  CLANN_OK, "%s", clann_last_error());
    ck_assert_int_eq(clann_model_embedding_get(fresh, "city", &got), CLANN_OK);
    ck_assert_int_eq(memcmp(trained.data, got.data, got.rows * got.cols * 4), 0);
    clann_matrix_free(&got);
    ck_assert_int_eq(clann_model_embedding_load(fresh, "city", path, "layers.0.embedding.tags"),
                     CLANN_ERR_SHAPE);
    ck_assert_int_eq(clann_model_embedding_load(fresh, "city", path, "layers.0.embedding.x"),
                     CLANN_ERR_INVALID_ARG);
    clann_model_destroy(fresh);
    clann_matrix_free(&trained);
    clann_matrix_free(&before);
    unlink(path);
    clann_matrix_free(&p1), clann_matrix_free(&p2);
    clann_model_destroy(l);
    clann_model_destroy(m);
    clann_features_destroy(fs);
    clann_table_destroy(train), clann_table_destroy(test);
    clann_matrix_free(&x), clann_matrix_free(&y), clann_matrix_free(&yt);
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_frozen)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    const char *v[] = {"a", "b", "c", "a", "b", "c", "a", "b"};
    float yv[8] = {1, 2, 3, 1, 2, 3, 1, 2};
    struct clann_table *t = strings_table("w", v, 8);
    struct clann_feature_column c[2] = {
        clann_feature_column_default(CLANN_FEATURE_VOCABULARY, "w"),
        clann_feature_column_default(CLANN_FEATURE_VOCABULARY, "w")};
    c[0].trainable = false;
    c[0].name = "frozen";
    c[1].name = "trained";
    struct clann_features *fs;
    struct clann_matrix x, y = {8, 1, yv}, a0, a1, b0, b1;
    ck_assert_int_eq(clann_features_create(c, 2, &fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(fs, t), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(fs, t, &x), CLANN_OK);
    struct clann_model *m = mixed_model(ctx, fs, CLANN_OPTIMIZER_ADAGRAD, 16);
    ck_assert_int_eq(clann_model_embedding_get(m, "frozen", &a0), CLANN_OK);
    ck_assert_int_eq(clann_model_embedding_get(m, "trained", &b0), CLANN_OK);
    fit_quietly(m, &x, &y, 3);
    ck_assert_int_eq(clann_model_embedding_get(m, "frozen", &a1), CLANN_OK);
    ck_assert_int_eq(clann_model_embedding_get(m, "trained", &b1), CLANN_OK);
    ck_assert_int_eq(memcmp(a0.data, a1.data, a0.rows * a0.cols * 4), 0);
    ck_assert_int_ne(memcmp(b0.data, b1.data, b0.rows * b0.cols * 4), 0);
    /* Ids that are not ids are refused before training. */
    x.data[1] = 7.0f;
    struct clann_fit_params fp = clann_fit_default_params();
    ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_ERR_FORMAT);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "not an id of feature 'trained'"));
    clann_matrix_free(&a0), clann_matrix_free(&a1), clann_matrix_free(&b0);
    clann_matrix_free(&b1), clann_matrix_free(&x);
    clann_model_destroy(m);
    clann_features_destroy(fs);
    clann_table_destroy(t);
    clann_context_destroy(ctx);
}
END_TEST

/* Sum of squared changes of a model's parameters and of its "city" and "tags" tables since
 * the copies p0, c0, t0; *tables gets the tables' share. */
static double squared_change(struct clann_model *m, const float *p0, const struct clann_matrix *c0,
                             const struct clann_matrix *t0, double *tables)
{
    size_t n = clann_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(m, p, n), CLANN_OK);
    double dense = 0;
    for (size_t i = 0; i < n; i++)
        dense += ((double)p[i] - p0[i]) * ((double)p[i] - p0[i]);
    *tables = 0;
    const struct clann_matrix *before[2] = {c0, t0};
    const char *names[2] = {"city", "tags"};
    for (int k = 0; k < 2; k++) {
        struct clann_matrix now;
        ck_assert_int_eq(clann_model_embedding_get(m, names[k], &now), CLANN_OK);
        for (size_t i = 0; i < now.rows * now.cols; i++)
            *tables += ((double)now.data[i] - before[k]->data[i]) *
                       ((double)now.data[i] - before[k]->data[i]);
        clann_matrix_free(&now);
    }
    free(p);
    return dense + *tables;
}

/* Gradient clipping covers the embedding tables: one SGD step (learning rate lr) with a global
 * norm of 0.01 moves dense weights and table rows together by exactly lr * 0.01; by value
 * 1e-3, no table value moves more than lr * 1e-3. */
START_TEST(test_clipping_covers_tables)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct clann_matrix y, x;
    struct clann_table *t = mixed_table(16, 5, &y);
    struct clann_features *fs = mixed_features(t, CLANN_COMBINER_SQRTN);
    ck_assert_int_eq(clann_features_transform(fs, t, &x), CLANN_OK);
    double lr = clann_optimizer_default_params(CLANN_OPTIMIZER_SGD).learning_rate;
    for (int mode = 0; mode < 2; mode++) {
        struct clann_model *m = mixed_model(ctx, fs, CLANN_OPTIMIZER_SGD, 16);
        size_t n = clann_model_param_count(m);
        float *p0 = malloc(n * sizeof *p0);
        struct clann_matrix c0, t0;
        ck_assert_int_eq(clann_model_get_params(m, p0, n), CLANN_OK);
        ck_assert_int_eq(clann_model_embedding_get(m, "city", &c0), CLANN_OK);
        ck_assert_int_eq(clann_model_embedding_get(m, "tags", &t0), CLANN_OK);
        struct clann_fit_params fp = clann_fit_default_params();
        fp.max_steps = 1;
        fp.shuffle = false;
        if (mode == 0)
            fp.clip_global_norm = 0.01f;
        else
            fp.clip_value = 1e-3f;
        ck_assert_int_eq(clann_model_fit(m, &x, &y, NULL, NULL, &fp, NULL), CLANN_OK);
        double tables, total = squared_change(m, p0, &c0, &t0, &tables);
        if (mode == 0) {
            ck_assert_msg(fabs(sqrt(total) - lr * 0.01) < lr * 1e-5, "global step norm %g",
                          sqrt(total));
            ck_assert_msg(tables > 0 && tables < total, "tables' share %g of %g", tables, total);
        } else {
            struct clann_matrix now;
            ck_assert_int_eq(clann_model_embedding_get(m, "city", &now), CLANN_OK);
            for (size_t i = 0; i < now.rows * now.cols; i++)
                ck_assert_msg(fabs((double)now.data[i] - c0.data[i]) <= lr * 1e-3 + 1e-7, /* + float rounding */
                              "city value %zu moved by %g", i,
                              fabs((double)now.data[i] - c0.data[i]));
            ck_assert(tables > 0);
            clann_matrix_free(&now);
        }
        clann_matrix_free(&c0), clann_matrix_free(&t0);
        free(p0);
        clann_model_destroy(m);
    }
    clann_matrix_free(&x), clann_matrix_free(&y);
    clann_features_destroy(fs);
    clann_table_destroy(t);
    clann_context_destroy(ctx);
}
END_TEST

/* ---- step cost independent of the vocabulary ----------------------------------------------- */

/* A model training on `ids` identity ids (embedding dimension 32) plus one numeric column. */
struct bench {
    struct clann_model *m;
    struct clann_features *fs;
    struct clann_matrix x, y;
    size_t steps;
};

static void bench_setup(struct clann_context *ctx, size_t ids, size_t steps, struct bench *b)
{
    size_t rows = steps * 128;
    float *id = malloc(rows * sizeof *id), *x1 = malloc(rows * sizeof *x1);
    ck_assert_int_eq(clann_matrix_create(rows, 1, &b->y), CLANN_OK);
    for (size_t r = 0; r < rows; r++) {
        id[r] = (float)((size_t)(clann__rng_uniform(42, 1, r) * (float)ids) % ids);
        x1[r] = clann__rng_normal(42, 2, r);
        b->y.data[r] = x1[r] + (float)((size_t)id[r] % 7);
    }
    struct clann_table *t;
    ck_assert_int_eq(clann_table_create(rows, &t), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "id", id), CLANN_OK);
    ck_assert_int_eq(clann_table_add_numeric(t, "x1", x1), CLANN_OK);
    struct clann_feature_column c[2] = {
        clann_feature_column_default(CLANN_FEATURE_NUMERIC, "x1"),
        clann_feature_column_default(CLANN_FEATURE_IDENTITY, "id")};
    c[1].num_buckets = ids;
    c[1].dimension = 32;
    ck_assert_int_eq(clann_features_create(c, 2, &b->fs), CLANN_OK);
    ck_assert_int_eq(clann_features_fit(b->fs, t), CLANN_OK);
    ck_assert_int_eq(clann_features_transform(b->fs, t, &b->x), CLANN_OK);
    ck_assert_int_eq(clann_model_create_with_features(ctx, b->fs, &b->m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(256, CLANN_ACTIVATION_RELU);
    ck_assert_int_eq(clann_model_add_dense(b->m, &d), CLANN_OK);
    d = clann_dense_default_params(1, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(b->m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_ADAGRAD);
    ck_assert_int_eq(clann_model_compile(b->m, &cp), CLANN_OK);
    b->steps = steps;
    clann_table_destroy(t);
    free(id), free(x1);
}

/* Steps per second of one epoch. */
static double bench_run(struct bench *b)
{
    struct clann_fit_params fp = clann_fit_default_params();
    fp.epochs = 1;
    double t0 = clann__now();
    ck_assert_int_eq(clann_model_fit(b->m, &b->x, &b->y, NULL, NULL, &fp, NULL), CLANN_OK);
    return (double)b->steps / (clann__now() - t0);
}

static void bench_free(struct bench *b)
{
    clann_model_destroy(b->m);
    clann_features_destroy(b->fs);
    clann_matrix_free(&b->x), clann_matrix_free(&b->y);
}

/* The runs alternate between the two vocabularies and each keeps its best, so that the load of
 * a shared machine does not favour one of them. */
START_TEST(test_speed_independent_of_vocabulary)
{
    struct clann_context *ctx = test_context("cpu", CLANN_CPU_MODE_FAST);
    struct bench small, large;
    bench_setup(ctx, 10000, 250, &small);
    bench_setup(ctx, 1000000, 250, &large);
    double s = 0, l = 0, diff = 1.0;
    /* Up to three rounds: a burst of other load on a 2-core machine can skew one round, but
     * a real dependence on the vocabulary size shows in every round. */
    for (int round = 0; round < 3 && diff > 0.2; round++) {
        s = l = 0;
        for (int rep = 0; rep < 6; rep++) {
            double a = bench_run(&small), b = bench_run(&large);
            s = rep && a > s ? a : s; /* the first run of each warms up */
            l = rep && b > l ? b : l;
        }
        diff = fabs(s - l) / (s > l ? s : l);
    }
    printf("training steps/s, embedding dim 32: %.0f with 10^4 ids, %.0f with 10^6 ids "
           "(%.1f%% apart)\n", s, l, 100 * diff);
    fflush(stdout);
    ck_assert_msg(diff <= 0.2, "steps/s differ by %.1f%%", 100 * diff);
    bench_free(&small);
    bench_free(&large);
    clann_context_destroy(ctx);
}
END_TEST

static Suite *features_suite(void)
{
    Suite *s = suite_create("features");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hash_golden);
    tcase_add_test(tc, test_spec_columns);
    tcase_add_test(tc, test_table_csv);
    tcase_add_test(tc, test_missing_cells);
    tcase_add_test(tc, test_model_columns);
    tcase_add_test(tc, test_vocabulary);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_gradcheck);
    tcase_add_test(tc, test_clipping_covers_tables);
    tcase_add_test(tc, test_rows_merge);
    tcase_add_test(tc, test_opencl_parity);
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_frozen);
    suite_add_tcase(s, tc);
    TCase *speed = tcase_create("speed"); /* CK_RUN_CASE=core leaves it out (valgrind) */
    tcase_set_timeout(speed, 120);
    tcase_add_test(speed, test_speed_independent_of_vocabulary);
    suite_add_tcase(s, speed);
    return s;
}

int main(void)
{
    return test_run_suite(features_suite());
}
