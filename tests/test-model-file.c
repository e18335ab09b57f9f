/*
 * test-model-file.c - model files (.safetensors) and model specs (docs/testing.md #23-#31):
 * bitwise round trips, a truncation sweep, a corpus of hand-crafted bad files each with its
 * specific status, save errors that must leave the previous file intact, and allocation-failure
 * sweeps.
 */
#include "testutil.h"

#include "core/internal.h"
#include "io/spec.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------------
 * Helpers: a scratch folder, files, models.
 */
static char scratch[256];

static void scratch_make(void)
{
    ck_assert(test_scratch_make(scratch, sizeof scratch, "clann-model-file"));
}

static void scratch_path(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", scratch, name);
}

static unsigned char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void write_whole(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* Whether the scratch folder holds a leftover temporary file. */
static bool scratch_has_temp(void)
{
    DIR *d = opendir(scratch);
    ck_assert_ptr_nonnull(d);
    bool found = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        found = found || strstr(e->d_name, ".tmp.") != NULL;
    closedir(d);
    return found;
}

static struct clann_context *cpu(void)
{
    return test_context("cpu", CLANN_CPU_MODE_REFERENCE);
}

/* Deterministic values that exercise every bit pattern class: signs, -0, tiny, subnormal,
 * large. */
static void fill_values(float *p, size_t n, uint32_t seed)
{
    uint32_t s = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        float v = (float)((int32_t)(s >> 8) - (1 << 23)) / (float)(1 << 22);
        switch (i % 17) {
        case 3: v = -0.0f; break;
        case 7: v *= 1e-40f; break; /* subnormal */
        case 11: v *= 1e30f; break;
        default: break;
        }
        p[i] = v;
    }
}

/* A model with every kind of layer and tensor: PReLU slopes, a layer without bias, RReLU,
 * dropout and activation layers, non-default initializers and optimizer. */
static struct clann_model *rich_model(struct clann_context *ctx)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 5, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(8, CLANN_ACTIVATION_PRELU);
    d.alpha = 0.3f;
    d.kernel_init.kind = CLANN_INIT_HE_NORMAL;
    d.kernel_regularizer.l1 = 0.001f;
    d.kernel_regularizer.l2 = 0.01f;
    d.bias_constraint.kind = CLANN_CONSTRAINT_MAX_NORM;
    d.bias_constraint.max_value = 3.0f;
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_dropout(m, 0.2f), CLANN_OK);
    d = clann_dense_default_params(6, CLANN_ACTIVATION_RRELU);
    d.use_bias = false;
    d.rrelu_lower = 0.05f;
    d.rrelu_upper = 0.25f;
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_activation(m, CLANN_ACTIVATION_TANH, 0.0f), CLANN_OK);
    d = clann_dense_default_params(4, CLANN_ACTIVATION_LEAKY_RELU);
    d.alpha = 0.05f;
    d.bias_init.kind = CLANN_INIT_UNIFORM;
    d.bias_init.a = -0.1f;
    d.bias_init.b = 0.1f;
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    ck_assert_int_eq(clann_model_add_activation(m, CLANN_ACTIVATION_ELU, 0.7f), CLANN_OK);
    d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp =
        clann_compile_default_params(CLANN_LOSS_SPARSE_SOFTMAX_CROSS_ENTROPY);
    cp.optimizer = clann_optimizer_default_params(CLANN_OPTIMIZER_RMSPROP);
    cp.optimizer.learning_rate = 0.0025f;
    cp.max_batch = 16;
    cp.seed = 12345678901234567ull;
    ck_assert_msg(clann_model_compile(m, &cp) == CLANN_OK, "%s", clann_last_error());
    /* Values the initializer cannot produce, so a loader that re-initializes fails. */
    size_t n = clann_model_param_count(m);
    float *p = malloc(n * sizeof *p);
    fill_values(p, n, 7);
    ck_assert_int_eq(clann_model_set_params(m, p, n), CLANN_OK);
    free(p);
    return m;
}

/* 2 inputs -> dense 3 (bias, linear), MSE: kernel [2, 3] (24 bytes) and bias [3] (12). */
static struct clann_model *tiny_model(struct clann_context *ctx)
{
    struct clann_model *m;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m), CLANN_OK);
    struct clann_dense_params d = clann_dense_default_params(3, CLANN_ACTIVATION_LINEAR);
    ck_assert_int_eq(clann_model_add_dense(m, &d), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    cp.max_batch = 4;
    ck_assert_int_eq(clann_model_compile(m, &cp), CLANN_OK);
    return m;
}

static float *params_of(struct clann_model *m, size_t *n)
{
    *n = clann_model_param_count(m);
    float *p = malloc((*n ? *n : 1) * sizeof *p);
    ck_assert_int_eq(clann_model_get_params(m, p, *n), CLANN_OK);
    return p;
}

static uint64_t le64(const unsigned char *b)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

/* ---------------------------------------------------------------------------------------------
 * Round trips.
 */
START_TEST(test_roundtrip_bitwise)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = rich_model(ctx), *b = NULL;
    char path[300], path2[300];
    scratch_path(path, sizeof path, "rich.safetensors");
    scratch_path(path2, sizeof path2, "again.safetensors");
    ck_assert_msg(clann_model_save(a, path) == CLANN_OK, "%s", clann_last_error());
    ck_assert(!scratch_has_temp());
    ck_assert_msg(clann_model_load(ctx, path, &b) == CLANN_OK, "%s", clann_last_error());

    /* Parameters bitwise equal, layer structure equal. */
    size_t na, nb;
    float *pa = params_of(a, &na), *pb = params_of(b, &nb);
    ck_assert_uint_eq(na, nb);
    ck_assert_int_eq(memcmp(pa, pb, na * sizeof *pa), 0);
    ck_assert_uint_eq(clann_model_layer_count(a), clann_model_layer_count(b));
    ck_assert_uint_eq(clann_model_input_count(b), 5);
    ck_assert_uint_eq(clann_model_output_count(b), 3);

    /* The same spec text. */
    char *sa, *sb;
    ck_assert_int_eq(clann_model_spec_json(a, &sa), CLANN_OK);
    ck_assert_int_eq(clann_model_spec_json(b, &sb), CLANN_OK);
    ck_assert_str_eq(sa, sb);
    ck_assert_ptr_nonnull(strstr(sa, "\"format\":\"clann-model\""));
    ck_assert_ptr_nonnull(strstr(sa, "\"format_version\":\"1.1\""));
    ck_assert_ptr_nonnull(strstr(sa, "\"learning_rate\":0.0025"));
    ck_assert_ptr_nonnull(strstr(sa, "\"seed\":12345678901234567"));
    ck_assert_ptr_nonnull(strstr(sa, "\"activation\":\"prelu\""));
    ck_assert_ptr_nonnull(strstr(sa, "\"kernel_regularizer\":{\"l1\":0.001,\"l2\":0.01}"));
    ck_assert_ptr_nonnull(strstr(sa, "\"bias_constraint\":{\"kind\":\"max_norm\""));

    /* The same predictions, bit for bit. */
    float xs[7 * 5];
    fill_values(xs, 7 * 5, 3);
    for (size_t i = 0; i < 7 * 5; i++)
        xs[i] = fmodf(xs[i], 3.0f);
    struct clann_matrix x = {7, 5, xs}, ya, yb;
    ck_assert_int_eq(clann_model_predict(a, &x, &ya), CLANN_OK);
    ck_assert_int_eq(clann_model_predict(b, &x, &yb), CLANN_OK);
    ck_assert_int_eq(memcmp(ya.data, yb.data, 7 * 3 * sizeof(float)), 0);

    /* The file is exactly header + data, and saving the loaded model reproduces it. */
    size_t len, len2;
    unsigned char *f1 = read_whole(path, &len);
    uint64_t hn = le64(f1);
    ck_assert_uint_eq(hn % 8, 0);
    ck_assert_uint_eq(len, 8 + hn + 4 * na);
    ck_assert_int_eq(f1[8], '{');
    ck_assert_int_eq(clann_model_save(b, path2), CLANN_OK);
    unsigned char *f2 = read_whole(path2, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_int_eq(memcmp(f1, f2, len), 0);

    free(f1);
    free(f2);
    clann_matrix_free(&ya);
    clann_matrix_free(&yb);
    clann_string_free(sa);
    clann_string_free(sb);
    free(pa);
    free(pb);
    clann_model_destroy(a);
    clann_model_destroy(b);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* A model without parameters (activation layers only) has no tensors and an empty data
 * section. */
START_TEST(test_roundtrip_no_params)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a, *b;
    ck_assert_int_eq(clann_model_create(ctx, 3, &a), CLANN_OK);
    ck_assert_int_eq(clann_model_add_activation(a, CLANN_ACTIVATION_SIGMOID, 0.0f), CLANN_OK);
    struct clann_compile_params cp = clann_compile_default_params(CLANN_LOSS_MSE);
    ck_assert_int_eq(clann_model_compile(a, &cp), CLANN_OK);
    char path[300];
    scratch_path(path, sizeof path, "empty.safetensors");
    ck_assert_msg(clann_model_save(a, path) == CLANN_OK, "%s", clann_last_error());
    ck_assert_msg(clann_model_load(ctx, path, &b) == CLANN_OK, "%s", clann_last_error());
    ck_assert_uint_eq(clann_model_param_count(b), 0);
    ck_assert_uint_eq(clann_model_output_count(b), 3);
    size_t len;
    unsigned char *f = read_whole(path, &len);
    ck_assert_uint_eq(len, 8 + le64(f));
    free(f);
    clann_model_destroy(a);
    clann_model_destroy(b);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* Saving over an existing file replaces it. */
START_TEST(test_save_replaces)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = tiny_model(ctx), *b;
    char path[300];
    scratch_path(path, sizeof path, "m.safetensors");
    write_whole(path, "old", 3);
    ck_assert_int_eq(clann_model_save(a, path), CLANN_OK);
    ck_assert_int_eq(clann_model_load(ctx, path, &b), CLANN_OK);
    clann_model_destroy(b);
    clann_model_destroy(a);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Specs.
 */
static enum clann_status from_spec(struct clann_context *ctx, const char *text)
{
    struct clann_model *m = (struct clann_model *)1;
    enum clann_status st = clann__model_from_spec(ctx, text, NULL, &m);
    if (st == CLANN_OK)
        clann_model_destroy(m);
    else
        ck_assert_ptr_null(m);
    return st;
}

#define SPEC_HEAD "{\"format\":\"clann-model\",\"format_version\":\"1.0\",\"inputs\":4,"

START_TEST(test_spec_builds_model)
{
    struct clann_context *ctx = cpu();
    struct clann_model *a = rich_model(ctx), *b;
    char *s, *s2;
    ck_assert_int_eq(clann_model_spec_json(a, &s), CLANN_OK);
    ck_assert_int_eq(clann__model_from_spec(ctx, s, NULL, &b), CLANN_OK);
    ck_assert_uint_eq(clann_model_param_count(a), clann_model_param_count(b));
    ck_assert_int_eq(clann_model_spec_json(b, &s2), CLANN_OK);
    ck_assert_str_eq(s, s2);
    /* Same seed: the same initial weights as the original had before set_params. */
    clann_string_free(s);
    clann_string_free(s2);
    clann_model_destroy(a);
    clann_model_destroy(b);

    /* A minimal hand-written spec: defaults fill in the rest. */
    ck_assert_msg(from_spec(ctx, "{\"inputs\":3,\"loss\":\"mse\",\"layers\":[{\"kind\":"
                                 "\"dense\",\"units\":2}]}") == CLANN_OK,
                  "%s", clann_last_error());
    /* Unknown keys, a newer minor version: ignored. */
    ck_assert_msg(from_spec(ctx, "{\"format_version\":\"1.7\",\"future\":{\"x\":[1]},\"inputs\":"
                                 "3,\"loss\":\"huber\",\"optimizer\":{\"kind\":\"nesterov\","
                                 "\"new\":1},\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                                 "\"color\":\"red\"}]}") == CLANN_OK,
                  "%s", clann_last_error());
    clann_context_destroy(ctx);
}
END_TEST

struct bad_spec {
    const char *text;
    enum clann_status status;
    const char *message; /* a substring of the error */
};

START_TEST(test_spec_errors)
{
    static const struct bad_spec cases[] = {
        {"", CLANN_ERR_FORMAT, "invalid JSON"},
        {"[1]", CLANN_ERR_FORMAT, "expected a JSON object"},
        {"{\"inputs\":3} x", CLANN_ERR_FORMAT, "invalid JSON"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":0}]}",
         CLANN_ERR_FORMAT, "layers[0].units: expected a positive integer"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2.5}]}",
         CLANN_ERR_FORMAT, "layers[0].units: expected a positive integer"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2},"
                   "{\"kind\":\"conv3d\"}]}",
         CLANN_ERR_FORMAT, "layers[1].kind: unknown name 'conv3d'"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                   "\"activation\":\"swish\"}]}",
         CLANN_ERR_FORMAT, "layers[0].activation: unknown activation 'swish'"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dropout\",\"rate\":1.5}]}",
         CLANN_ERR_FORMAT, "layers[0].rate: expected a number in [0, 1]"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dropout\"}]}", CLANN_ERR_FORMAT,
         "layers[0].rate: missing"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"activation\","
                   "\"activation\":\"prelu\"}]}",
         CLANN_ERR_FORMAT, "layers[0].activation: prelu"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                   "\"alpha\":NaN}]}",
         CLANN_ERR_FORMAT, "layers[0].alpha: expected a finite number"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                   "\"kernel_init\":{\"kind\":\"uniform\",\"a\":1,\"b\":0}}]}",
         CLANN_ERR_FORMAT, "layers[0].kernel_init.b"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                   "\"use_bias\":1}]}",
         CLANN_ERR_FORMAT, "layers[0].use_bias: expected true or false"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[]}", CLANN_ERR_FORMAT,
         "layers: expected a non-empty array"},
        {SPEC_HEAD "\"loss\":\"mse\"}", CLANN_ERR_FORMAT, "layers: missing"},
        {SPEC_HEAD "\"loss\":\"l3\",\"layers\":[{\"kind\":\"dense\",\"units\":2}]}",
         CLANN_ERR_FORMAT, "loss: unknown name 'l3'"},
        {SPEC_HEAD "\"loss\":\"mse\",\"optimizer\":{\"kind\":\"adam\",\"learning_rate\":-1},"
                   "\"layers\":[{\"kind\":\"dense\",\"units\":2}]}",
         CLANN_ERR_FORMAT, "optimizer.learning_rate: expected a finite number > 0"},
        {SPEC_HEAD "\"loss\":\"mse\",\"seed\":-1,\"layers\":[{\"kind\":\"dense\",\"units\":2}]}",
         CLANN_ERR_FORMAT, "seed: expected a non-negative integer"},
        {SPEC_HEAD "\"loss\":\"mse\",\"max_batch\":100000000000,\"layers\":[{\"kind\":\"dense\","
                   "\"units\":2}]}",
         CLANN_ERR_TOO_LARGE, "max_batch"},
        {SPEC_HEAD "\"loss\":\"mse\",\"loss\":\"mae\",\"layers\":[{\"kind\":\"dense\","
                   "\"units\":2}]}",
         CLANN_ERR_FORMAT, "duplicate key"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                   "\"kernel_regularizer\":{\"l1\":-0.5}}]}",
         CLANN_ERR_FORMAT, "layers[0].kernel_regularizer.l1: expected a finite number >= 0"},
        {SPEC_HEAD "\"loss\":\"mse\",\"layers\":[{\"kind\":\"dense\",\"units\":2,"
                   "\"bias_constraint\":{\"kind\":\"spectral\"}}]}",
         CLANN_ERR_FORMAT, "layers[0].bias_constraint.kind: unknown name 'spectral'"},
        {"{\"format\":\"onnx\",\"inputs\":1}", CLANN_ERR_FORMAT, "format: expected 'clann-model'"},
        {"{\"format_version\":\"one\",\"inputs\":1}", CLANN_ERR_FORMAT, "format_version"},
        {"{\"format_version\":\"2.0\",\"inputs\":\"whatever\"}", CLANN_ERR_UNSUPPORTED,
         "format version 2.0"},
        /* A spec that parses but the model rejects: a cross-entropy loss after softmax. */
        {SPEC_HEAD "\"loss\":\"softmax_cross_entropy\",\"layers\":[{\"kind\":\"dense\","
                   "\"units\":2,\"activation\":\"softmax\"}]}",
         CLANN_ERR_SHAPE, "logits"},
    };
    struct clann_context *ctx = cpu();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        enum clann_status st = from_spec(ctx, cases[i].text);
        ck_assert_msg(st == cases[i].status, "case %zu: %s, expected %s: %s", i,
                      clann_status_name(st), clann_status_name(cases[i].status),
                      clann_last_error());
        ck_assert_msg(strstr(clann_last_error(), cases[i].message), "case %zu: '%s' lacks '%s'",
                      i, clann_last_error(), cases[i].message);
    }
    /* The newer-major message names both versions. */
    from_spec(ctx, "{\"format_version\":\"2.0\"}");
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "2.0"));
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "1.0"));
    clann_context_destroy(ctx);
}
END_TEST

START_TEST(test_spec_api_errors)
{
    struct clann_context *ctx = cpu();
    struct clann_model *m;
    char *s = (char *)1;
    ck_assert_int_eq(clann_model_create(ctx, 2, &m), CLANN_OK);
    ck_assert_int_eq(clann_model_spec_json(m, &s), CLANN_ERR_STATE);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(clann_model_spec_json(NULL, &s), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann_model_spec_json(m, NULL), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann_model_save(m, "/tmp/never.safetensors"), CLANN_ERR_STATE);
    clann_string_free(NULL);
    clann_model_destroy(m);
    ck_assert_int_eq(clann_model_load(ctx, "x", NULL), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann_model_load(NULL, "x", &m), CLANN_ERR_INVALID_ARG);
    ck_assert_ptr_null(m);
    clann_context_destroy(ctx);
}
END_TEST

/* A layer kind the file format does not know (a future kind) is refused, never written as
 * something else. */
START_TEST(test_unknown_layer_kind_refused)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *m = rich_model(ctx);
    char path[300], *s = NULL;
    scratch_path(path, sizeof path, "future.safetensors");
    enum clann__layer_kind saved = m->layers[1].kind;
    m->layers[1].kind = (enum clann__layer_kind)99;
    ck_assert_int_eq(clann_model_spec_json(m, &s), CLANN_ERR_UNSUPPORTED);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(clann_model_save(m, path), CLANN_ERR_UNSUPPORTED);
    ck_assert_int_eq(access(path, F_OK), -1);
    ck_assert(!scratch_has_temp());
    m->layers[1].kind = saved;
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Hand-crafted files around tiny_model's spec.
 */

/* The tiny model's spec, escaped as a JSON string's contents. */
static char *tiny_spec_escaped(struct clann_context *ctx, const char *from, const char *to)
{
    struct clann_model *m = tiny_model(ctx);
    char *s;
    ck_assert_int_eq(clann_model_spec_json(m, &s), CLANN_OK);
    clann_model_destroy(m);
    char *out = malloc(2 * strlen(s) + (to ? 2 * strlen(to) : 0) + 1), *o = out;
    const char *hit = from ? strstr(s, from) : NULL;
    if (from)
        ck_assert_ptr_nonnull(hit);
    for (const char *c = s; *c;) {
        const char *src = c;
        size_t n = 1;
        if (hit && c == hit) {
            src = to;
            n = strlen(to);
            c += strlen(from);
        } else {
            c++;
        }
        for (size_t k = 0; k < n; k++) {
            if (src[k] == '"' || src[k] == '\\')
                *o++ = '\\';
            *o++ = src[k];
        }
    }
    *o = '\0';
    clann_string_free(s);
    return out;
}

#define KERNEL(b, e) "\"layers.0.dense.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3]," \
                     "\"data_offsets\":[" #b "," #e "]}"
#define BIAS(b, e) "\"layers.0.dense.bias\":{\"dtype\":\"F32\",\"shape\":[3]," \
                   "\"data_offsets\":[" #b "," #e "]}"
#define GOOD_TENSORS KERNEL(0, 24) "," BIAS(24, 36)

/* Writes a file: 8-byte length (declared, or the padded header's length when 0), the header
 * padded with spaces to 8, and data_len bytes of float data. */
static void write_file(const char *path, const char *header, uint64_t declared, size_t data_len)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + data_len;
    unsigned char *buf = calloc(1, total);
    uint64_t n = declared ? declared : padded;
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    for (size_t i = 0; i + 4 <= data_len; i += 4) {
        float v = (float)(i / 4) + 0.5f;
        memcpy(buf + 8 + padded + i, &v, 4);
    }
    write_whole(path, buf, total);
    free(buf);
}

/* {"__metadata__":{"clann_spec":"<spec>"},<tensors>} */
static char *header_with(const char *spec, const char *tensors)
{
    size_t n = strlen(spec) + strlen(tensors) + 64;
    char *h = malloc(n);
    snprintf(h, n, "{\"__metadata__\":{\"clann_spec\":\"%s\"}%s%s}", spec, *tensors ? "," : "",
             tensors);
    return h;
}

#define KEEP (-1L)

struct crafted {
    const char *name;
    const char *spec_from, *spec_to; /* a replacement in the spec text, or NULL */
    const char *raw;                 /* a whole header instead of header_with() */
    const char *tensors;
    uint64_t declared;               /* header length to declare; 0: the real one */
    size_t data_len;
    long file_len;                   /* truncate the file to this length; KEEP: keep it */
    enum clann_status status;
    const char *message;
};

static const struct crafted corpus[] = {
    {"valid", NULL, NULL, NULL, GOOD_TENSORS, 0, 36, KEEP, CLANN_OK, ""},
    {"valid, bias first (any header order, any data order)", NULL, NULL, NULL,
     BIAS(0, 12) "," KERNEL(12, 36), 0, 36, KEEP, CLANN_OK, ""},
    {"4-byte file", NULL, NULL, NULL, GOOD_TENSORS, 0, 36, 4, CLANN_ERR_TRUNCATED, "8-byte"},
    {"empty file", NULL, NULL, NULL, GOOD_TENSORS, 0, 36, 0, CLANN_ERR_TRUNCATED, ""},
    {"header length 1", NULL, NULL, "{", NULL, 1, 0, KEEP, CLANN_ERR_FORMAT, "too small"},
    {"header length beyond the file", NULL, NULL, NULL, GOOD_TENSORS, 5000, 36, KEEP,
     CLANN_ERR_TRUNCATED, "header length 5000"},
    {"header length 2^40 in a small file", NULL, NULL, "{}", NULL, (uint64_t)1 << 40, 92, KEEP,
     CLANN_ERR_TOO_LARGE, "exceeds the limit"},
    {"header length 2^64-1", NULL, NULL, "{}", NULL, UINT64_MAX, 0, KEEP, CLANN_ERR_TOO_LARGE,
     "exceeds the limit"},
    {"header not an object", NULL, NULL, "[1,2,3]", NULL, 0, 0, KEEP, CLANN_ERR_FORMAT,
     "does not start with '{'"},
    {"invalid JSON", NULL, NULL, "{\"__metadata__\":{\"clann_spec\":\"x\"},", NULL, 0, 0, KEEP,
     CLANN_ERR_FORMAT, "invalid JSON"},
    {"binary garbage in the header", NULL, NULL, "{\"\xff\xfe\":1}", NULL, 0, 0, KEEP,
     CLANN_ERR_FORMAT, "invalid JSON"},
    {"metadata missing", NULL, NULL, "{" GOOD_TENSORS "}", NULL, 0, 36, KEEP, CLANN_ERR_FORMAT,
     "__metadata__ is missing"},
    {"clann_spec missing", NULL, NULL, "{\"__metadata__\":{\"format\":\"pt\"}," GOOD_TENSORS "}",
     NULL, 0, 36, KEEP, CLANN_ERR_FORMAT, "clann_spec is missing"},
    {"metadata value not a string", NULL, NULL, "{\"__metadata__\":{\"clann_spec\":{}}}", NULL,
     0, 0, KEEP, CLANN_ERR_FORMAT, "expected a string"},
    {"spec not JSON", NULL, NULL, "{\"__metadata__\":{\"clann_spec\":\"{oops\"}}", NULL, 0, 0, KEEP,
     CLANN_ERR_FORMAT, "clann_spec: invalid JSON"},
    {"spec with a bad layer", "\"units\":3", "\"units\":-3", NULL, GOOD_TENSORS, 0, 36, KEEP,
     CLANN_ERR_FORMAT, "layers[0].units: expected a positive integer"},
    {"newer major format version", "\"format_version\":\"1.1\"", "\"format_version\":\"2.0\"",
     NULL, GOOD_TENSORS, 0, 36, KEEP, CLANN_ERR_UNSUPPORTED, "format version 2.0"},
    {"newer minor version, unknown keys", "\"format_version\":\"1.1\"",
     "\"format_version\":\"1.3\",\"tokenizer\":{\"kind\":\"bpe\"}", NULL,
     GOOD_TENSORS, 0, 36, KEEP, CLANN_OK, ""},
    {"unknown top-level key", NULL, NULL, NULL, GOOD_TENSORS ",\"__future__\":1", 0, 36, KEEP,
     CLANN_ERR_FORMAT, "unexpected tensor '__future__'"},
    /* Parses, but compile refuses: a cross-entropy loss after a tanh output. */
    {"spec the model rejects", NULL, NULL,
     "{\"__metadata__\":{\"clann_spec\":\"{\\\"inputs\\\":2,\\\"loss\\\":"
     "\\\"sigmoid_cross_entropy\\\",\\\"layers\\\":[{\\\"kind\\\":\\\"dense\\\","
     "\\\"units\\\":3,\\\"activation\\\":\\\"tanh\\\"}]}\"}," GOOD_TENSORS "}",
     NULL, 0, 36, KEEP, CLANN_ERR_FORMAT, "no valid model"},
    {"dtype F16", NULL, NULL, NULL,
     KERNEL(0, 24) ",\"layers.0.dense.bias\":{\"dtype\":\"F16\",\"shape\":[3],"
                   "\"data_offsets\":[24,30]}",
     0, 30, KEEP, CLANN_ERR_UNSUPPORTED, "dtype F16"},
    {"dtype unknown", NULL, NULL, NULL,
     KERNEL(0, 24) ",\"layers.0.dense.bias\":{\"dtype\":\"Q4\",\"shape\":[3],"
                   "\"data_offsets\":[24,36]}",
     0, 36, KEEP, CLANN_ERR_FORMAT, "unknown dtype"},
    {"dtype missing", NULL, NULL, NULL,
     KERNEL(0, 24) ",\"layers.0.dense.bias\":{\"shape\":[3],\"data_offsets\":[24,36]}", 0, 36,
     KEEP, CLANN_ERR_FORMAT, "dtype is missing"},
    {"shape transposed", NULL, NULL, NULL,
     "\"layers.0.dense.kernel\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
     BIAS(24, 36), 0, 36, KEEP, CLANN_ERR_FORMAT, "shape does not match the spec's [2, 3]"},
    {"shape of rank 3", NULL, NULL, NULL,
     "\"layers.0.dense.kernel\":{\"dtype\":\"F32\",\"shape\":[2,3,1],\"data_offsets\":[0,24]},"
     BIAS(24, 36), 0, 36, KEEP, CLANN_ERR_FORMAT, "shape does not match"},
    {"shape with huge dims", NULL, NULL, NULL,
     "\"layers.0.dense.kernel\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
     "\"data_offsets\":[0,24]}," BIAS(24, 36), 0, 36, KEEP, CLANN_ERR_FORMAT,
     "shape does not match"},
    {"negative offset", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(-12, 0), 0, 36, KEEP,
     CLANN_ERR_FORMAT, "non-negative"},
    {"offsets end before begin", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(36, 24), 0, 36, KEEP,
     CLANN_ERR_FORMAT, "end before"},
    {"offsets disagree with the shape", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(24, 40), 0,
     40, KEEP, CLANN_ERR_FORMAT, "shape needs 12"},
    {"offsets overlap", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(20, 32), 0, 36, KEEP,
     CLANN_ERR_FORMAT, "contiguous"},
    {"offsets on the same bytes", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(0, 12), 0, 24, KEEP,
     CLANN_ERR_FORMAT, "contiguous"},
    {"offsets with a gap", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(28, 40), 0, 40, KEEP,
     CLANN_ERR_FORMAT, "contiguous"},
    {"offsets not from 0", NULL, NULL, NULL, KERNEL(4, 28) "," BIAS(28, 40), 0, 40, KEEP,
     CLANN_ERR_FORMAT, "contiguous"},
    {"offsets out of the file", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(24, 36), 0, 30, KEEP,
     CLANN_ERR_TRUNCATED, "the file has 30"},
    {"offsets far out of the file", NULL, NULL, NULL,
     KERNEL(0, 24) "," BIAS(4611686018427387904, 4611686018427387916), 0, 36, KEEP,
     CLANN_ERR_FORMAT, "contiguous"},
    {"offsets not integers", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(24.0, 36), 0, 36, KEEP,
     CLANN_ERR_FORMAT, "non-negative integers"},
    {"duplicate tensor name", NULL, NULL, NULL, KERNEL(0, 24) "," BIAS(24, 36) "," BIAS(24, 36),
     0, 36, KEEP, CLANN_ERR_FORMAT, "duplicate key"},
    {"missing tensor", NULL, NULL, NULL, KERNEL(0, 24), 0, 24, KEEP, CLANN_ERR_FORMAT,
     "'layers.0.dense.bias' is missing"},
    {"unexpected tensor", NULL, NULL, NULL,
     GOOD_TENSORS ",\"layers.1.dense.kernel\":{\"dtype\":\"F32\",\"shape\":[1],"
                  "\"data_offsets\":[36,40]}",
     0, 40, KEEP, CLANN_ERR_FORMAT, "unexpected tensor 'layers.1.dense.kernel'"},
    {"tensor entry not an object", NULL, NULL, NULL, KERNEL(0, 24) ",\"layers.0.dense.bias\":7",
     0, 36, KEEP, CLANN_ERR_FORMAT, "expected an object"},
    {"trailing bytes after the data", NULL, NULL, NULL, GOOD_TENSORS, 0, 44, KEEP,
     CLANN_ERR_FORMAT, "8 unexpected bytes"},
    /* A 4 PiB kernel declared in a tiny file: rejected before anything is allocated. */
    {"huge tensor in a tiny file", "\"inputs\":2", "\"inputs\":16777216", NULL,
     "\"layers.0.dense.kernel\":{\"dtype\":\"F32\",\"shape\":[16777216,3],"
     "\"data_offsets\":[0,201326592]}," BIAS(201326592, 201326604),
     0, 36, KEEP, CLANN_ERR_TRUNCATED, "the tensors need 201326604"},
};

static enum clann_status load_crafted(struct clann_context *ctx, const struct crafted *c,
                                      const char *path)
{
    char *spec = tiny_spec_escaped(ctx, c->spec_from, c->spec_to);
    char *header = c->raw ? strdup(c->raw) : header_with(spec, c->tensors);
    write_file(path, header, c->declared, c->data_len);
    if (c->file_len != KEEP)
        ck_assert_int_eq(truncate(path, (off_t)c->file_len), 0);
    free(header);
    free(spec);
    struct clann_model *m = (struct clann_model *)1;
    enum clann_status st = clann_model_load(ctx, path, &m);
    if (st == CLANN_OK) {
        ck_assert_ptr_nonnull(m);
        clann_model_destroy(m);
    } else {
        ck_assert_ptr_null(m);
    }
    return st;
}

START_TEST(test_crafted_corpus)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    char path[300];
    scratch_path(path, sizeof path, "crafted.safetensors");
    size_t n = sizeof corpus / sizeof *corpus;
    ck_assert_uint_ge(n, 30);
    for (size_t i = 0; i < n; i++) {
        const struct crafted *c = &corpus[i];
        enum clann_status st = load_crafted(ctx, c, path);
        ck_assert_msg(st == c->status, "'%s': %s, expected %s: %s", c->name,
                      clann_status_name(st), clann_status_name(c->status), clann_last_error());
        ck_assert_msg(strstr(clann_last_error(), c->message), "'%s': '%s' lacks '%s'", c->name,
                      clann_last_error(), c->message);
        if (st != CLANN_OK)
            ck_assert_msg(strstr(clann_last_error(), "crafted.safetensors"),
                          "'%s': the message does not name the file: %s", c->name,
                          clann_last_error());
    }
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* Data order in the file need not be layer order: the bias-first file puts its values where
 * the model expects them. */
START_TEST(test_any_tensor_order)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    char path[300];
    scratch_path(path, sizeof path, "order.safetensors");
    ck_assert_int_eq(load_crafted(ctx, &corpus[1], path), CLANN_OK);
    struct clann_model *m;
    ck_assert_int_eq(clann_model_load(ctx, path, &m), CLANN_OK);
    size_t n;
    float *p = params_of(m, &n);
    ck_assert_uint_eq(n, 9);
    /* write_file stores float k + 0.5 at data float k: bias = 0.5..2.5, kernel = 3.5..8.5. */
    for (size_t i = 0; i < 6; i++)
        ck_assert_float_eq(p[i], (float)(i + 3) + 0.5f);
    for (size_t i = 0; i < 3; i++)
        ck_assert_float_eq(p[6 + i], (float)i + 0.5f);
    free(p);
    clann_model_destroy(m);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

START_TEST(test_not_a_file)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *m;
    char path[300];
    scratch_path(path, sizeof path, "missing.safetensors");
    ck_assert_int_eq(clann_model_load(ctx, path, &m), CLANN_ERR_IO);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "missing.safetensors"));
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "No such file"));
    ck_assert_int_eq(clann_model_load(ctx, scratch, &m), CLANN_ERR_IO);
    ck_assert_ptr_null(m);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Truncation and allocation-failure sweeps.
 */
START_TEST(test_truncation_sweep)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = tiny_model(ctx);
    char path[300], cut[300];
    scratch_path(path, sizeof path, "full.safetensors");
    scratch_path(cut, sizeof cut, "cut.safetensors");
    ck_assert_int_eq(clann_model_save(a, path), CLANN_OK);
    size_t len;
    unsigned char *bytes = read_whole(path, &len);
    for (size_t n = 0; n < len; n++) {
        write_whole(cut, bytes, n);
        struct clann_model *m = (struct clann_model *)1;
        enum clann_status st = clann_model_load(ctx, cut, &m);
        ck_assert_msg(st == CLANN_ERR_TRUNCATED || st == CLANN_ERR_FORMAT,
                      "length %zu of %zu: %s (%s)", n, len, clann_status_name(st),
                      clann_last_error());
        ck_assert_ptr_null(m);
    }
    free(bytes);
    clann_model_destroy(a);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* The load and the save of the out-of-memory sweep (test_oom_sweep). */
struct alloc_sweep {
    struct clann_context *ctx;
    struct clann_model *model, *loaded;
    const char *path;
    const unsigned char *before; /* the file's bytes before the sweep */
    size_t len;
};

static enum clann_status sweep_load(void *user)
{
    struct alloc_sweep *a = user;
    a->loaded = (struct clann_model *)1;
    return clann_model_load(a->ctx, a->path, &a->loaded);
}

static void sweep_load_failed(void *user, long n)
{
    ck_assert_msg(((struct alloc_sweep *)user)->loaded == NULL, "n=%ld: model left", n);
}

static enum clann_status sweep_save(void *user)
{
    struct alloc_sweep *a = user;
    return clann_model_save(a->model, a->path);
}

/* A failed save leaves the file as it was. */
static void sweep_save_failed(void *user, long n)
{
    struct alloc_sweep *a = user;
    size_t len2;
    unsigned char *after = read_whole(a->path, &len2);
    ck_assert_msg(len2 == a->len && memcmp(a->before, after, a->len) == 0, "n=%ld: file changed",
                  n);
    free(after);
}

START_TEST(test_alloc_failure_sweep)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = rich_model(ctx);
    char path[300];
    scratch_path(path, sizeof path, "alloc.safetensors");
    ck_assert_int_eq(clann_model_save(a, path), CLANN_OK);
    size_t len;
    unsigned char *before = read_whole(path, &len);
    struct alloc_sweep sw = {.ctx = ctx, .model = a, .path = path, .before = before, .len = len};

    /* Loading: every failure point reports out of memory, then loading succeeds. */
    test_oom_sweep("load", sweep_load, sweep_load_failed, true, &sw);
    clann_model_destroy(sw.loaded);

    /* Saving: a failed save leaves the file as it was. */
    test_oom_sweep("save", sweep_save, sweep_save_failed, true, &sw);
    ck_assert(!scratch_has_temp());
    free(before);
    clann_model_destroy(a);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* ---------------------------------------------------------------------------------------------
 * Save errors: ERR_IO naming the path, the previous file bytewise intact, no temporary left.
 * Tests run as root, which ignores permissions, so failures come from missing folders, a file
 * where a folder should be, a folder where the file should be, and a file size limit.
 */
static void check_save_fails(struct clann_model *m, const char *path, const char *why)
{
    enum clann_status st = clann_model_save(m, path);
    ck_assert_msg(st == CLANN_ERR_IO, "%s: %s", path, clann_status_name(st));
    ck_assert_msg(strstr(clann_last_error(), path), "%s", clann_last_error());
    ck_assert_msg(strstr(clann_last_error(), why), "'%s' lacks '%s'", clann_last_error(), why);
}

START_TEST(test_save_errors)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = tiny_model(ctx);
    char path[300], bad[400];

    snprintf(bad, sizeof bad, "%s/no/such/folder/m.safetensors", scratch);
    check_save_fails(a, bad, "No such file or directory");

    scratch_path(path, sizeof path, "plain-file");
    write_whole(path, "x", 1);
    snprintf(bad, sizeof bad, "%s/m.safetensors", path);
    check_save_fails(a, bad, "Not a directory");

    scratch_path(path, sizeof path, "a-folder");
    ck_assert_int_eq(mkdir(path, 0755), 0);
    check_save_fails(a, path, "rename");
    ck_assert(!scratch_has_temp());

    clann_model_destroy(a);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* A write that fails midway (EFBIG from RLIMIT_FSIZE, which binds root too) leaves the old
 * file intact and no temporary file. */
START_TEST(test_save_write_failure_keeps_old_file)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = rich_model(ctx), *b = tiny_model(ctx);
    char path[300];
    scratch_path(path, sizeof path, "keep.safetensors");
    ck_assert_int_eq(clann_model_save(b, path), CLANN_OK);
    size_t len;
    unsigned char *before = read_whole(path, &len);

    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 256;
    signal(SIGXFSZ, SIG_IGN);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    enum clann_status st = clann_model_save(a, path);
    ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    ck_assert_msg(st == CLANN_ERR_IO, "%s", clann_status_name(st));
    ck_assert_ptr_nonnull(strstr(clann_last_error(), "cannot write"));
    ck_assert_ptr_nonnull(strstr(clann_last_error(), path));

    size_t len2;
    unsigned char *after = read_whole(path, &len2);
    ck_assert_uint_eq(len, len2);
    ck_assert_int_eq(memcmp(before, after, len), 0);
    ck_assert(!scratch_has_temp());
    struct clann_model *m;
    ck_assert_int_eq(clann_model_load(ctx, path, &m), CLANN_OK);
    clann_model_destroy(m);

    free(before);
    free(after);
    clann_model_destroy(a);
    clann_model_destroy(b);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* Every NaN or infinity in a loaded tensor is refused, naming the tensor and the index:
 * parameters, and a checkpoint's optimizer state (a plain load does not read that). */
static void check_nonfinite(struct clann_context *ctx, const char *path, const unsigned char *file,
                            size_t len, size_t data_byte, float bad, bool checkpoint,
                            const char *why)
{
    unsigned char *copy = malloc(len);
    memcpy(copy, file, len);
    memcpy(copy + 8 + le64(file) + data_byte, &bad, 4); /* little-endian hosts */
    write_whole(path, copy, len);
    free(copy);
    struct clann_model *m = NULL;
    size_t epoch;
    enum clann_status st = checkpoint ? clann_model_load_checkpoint(ctx, path, &m, &epoch)
                                      : clann_model_load(ctx, path, &m);
    ck_assert_msg(st == CLANN_ERR_NONFINITE, "%s: %s", clann_status_name(st),
                  clann_last_error());
    ck_assert_ptr_null(m);
    ck_assert_msg(strstr(clann_last_error(), why), "'%s' lacks '%s'", clann_last_error(), why);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), path));
}

START_TEST(test_nonfinite_refused)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = tiny_model(ctx), *m;
    char path[300], bad[300];
    scratch_path(path, sizeof path, "finite.safetensors");
    scratch_path(bad, sizeof bad, "bad.safetensors");
    size_t len;
    ck_assert_int_eq(clann_model_save(a, path), CLANN_OK);
    unsigned char *file = read_whole(path, &len);
    /* Data bytes: kernel [2, 3] at 0..24, bias [3] at 24..36. */
    check_nonfinite(ctx, bad, file, len, 0, INFINITY, false,
                    "tensor 'layers.0.dense.kernel' holds an infinity at index 0");
    check_nonfinite(ctx, bad, file, len, 28, NAN, false,
                    "tensor 'layers.0.dense.bias' holds NaN at index 1");
    check_nonfinite(ctx, bad, file, len, 20, -INFINITY, false, "index 5");
    free(file);
    /* A checkpoint adds optimizer.state1 (9 floats at 36..72) and state2 (72..108). */
    ck_assert_int_eq(clann_model_save_checkpoint(a, path, 1), CLANN_OK);
    file = read_whole(path, &len);
    check_nonfinite(ctx, bad, file, len, 44, NAN, true,
                    "tensor 'optimizer.state1' holds NaN at index 2");
    check_nonfinite(ctx, bad, file, len, 104, INFINITY, true,
                    "tensor 'optimizer.state2' holds an infinity at index 8");
    ck_assert_int_eq(clann_model_load(ctx, bad, &m), CLANN_OK); /* state is not read */
    clann_model_destroy(m);
    free(file);
    clann_model_destroy(a);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* clann_model_file_info: what a file holds, without building the model. */
START_TEST(test_file_info)
{
    scratch_make();
    struct clann_context *ctx = cpu();
    struct clann_model *a = tiny_model(ctx);
    char path[300], ckpt[300];
    scratch_path(path, sizeof path, "info.safetensors");
    scratch_path(ckpt, sizeof ckpt, "info.ckpt");
    ck_assert_int_eq(clann_model_save(a, path), CLANN_OK);
    ck_assert_int_eq(clann_model_save_checkpoint(a, ckpt, 7), CLANN_OK);

    struct clann_model_file_info *fi;
    ck_assert_msg(clann_model_file_info(path, &fi) == CLANN_OK, "%s", clann_last_error());
    char *spec;
    ck_assert_int_eq(clann_model_spec_json(a, &spec), CLANN_OK);
    ck_assert_str_eq(fi->spec_json, spec);
    clann_string_free(spec);
    ck_assert_str_eq(fi->format_version, "1.1");
    ck_assert_ptr_nonnull(strstr(fi->metadata_json, "\"clann_spec\""));
    ck_assert(!fi->is_checkpoint);
    ck_assert_ptr_null(fi->checkpoint_json);
    ck_assert_uint_eq(fi->n_tensors, 2);
    ck_assert_str_eq(fi->tensors[0].name, "layers.0.dense.kernel");
    ck_assert_uint_eq(fi->tensors[0].rank, 2);
    ck_assert_uint_eq(fi->tensors[0].shape[0], 2);
    ck_assert_uint_eq(fi->tensors[0].shape[1], 3);
    ck_assert_uint_eq(fi->tensors[0].bytes, 24);
    ck_assert_str_eq(fi->tensors[1].name, "layers.0.dense.bias");
    ck_assert_uint_eq(fi->tensors[1].rank, 1);
    ck_assert_uint_eq(fi->tensors[1].offset, fi->tensors[0].offset + 24);
    size_t len;
    unsigned char *file = read_whole(path, &len);
    ck_assert_uint_eq(fi->tensors[1].offset + fi->tensors[1].bytes, len);
    free(file);
    clann_model_file_info_free(fi);

    ck_assert_msg(clann_model_file_info(ckpt, &fi) == CLANN_OK, "%s", clann_last_error());
    ck_assert(fi->is_checkpoint);
    ck_assert_uint_eq(fi->epoch, 7);
    ck_assert_uint_eq(fi->step, 0);
    ck_assert_float_eq(fi->learning_rate, clann_compile_default_params(CLANN_LOSS_MSE)
                                              .optimizer.learning_rate);
    ck_assert_ptr_nonnull(strstr(fi->checkpoint_json, "\"epoch\":7"));
    ck_assert_uint_eq(fi->n_tensors, 4);
    ck_assert_str_eq(fi->tensors[2].name, "optimizer.state1");
    ck_assert_uint_eq(fi->tensors[3].shape[0], 9);
    clann_model_file_info_free(fi);
    clann_model_file_info_free(NULL);

    /* Errors: as loading, without a model. */
    char missing[300];
    scratch_path(missing, sizeof missing, "missing.safetensors");
    fi = (struct clann_model_file_info *)1;
    ck_assert_int_eq(clann_model_file_info(missing, &fi), CLANN_ERR_IO);
    ck_assert_ptr_null(fi);
    ck_assert_ptr_nonnull(strstr(clann_last_error(), missing));
    write_whole(missing, "{}", 2);
    ck_assert_int_eq(clann_model_file_info(missing, &fi), CLANN_ERR_TRUNCATED);
    ck_assert_int_eq(clann_model_file_info(path, NULL), CLANN_ERR_INVALID_ARG);
    ck_assert_int_eq(clann_model_file_info(NULL, &fi), CLANN_ERR_INVALID_ARG);
    /* Out of memory anywhere: a clean error. */
    for (long n = 1; n < 400; n++) {
        clann__alloc_fail_after(n);
        enum clann_status st = clann_model_file_info(ckpt, &fi);
        clann__alloc_fail_after(0);
        ck_assert_msg(st == CLANN_OK || st == CLANN_ERR_NO_MEMORY, "%ld: %s", n,
                      clann_status_name(st));
        clann_model_file_info_free(fi);
    }
    clann_model_destroy(a);
    clann_context_destroy(ctx);
    test_remove_tree(scratch);
}
END_TEST

/* The loader never executes anything from the file (docs/testing.md #31): no dynamic loading,
 * no shell, no process creation in the model-file and spec sources. */
START_TEST(test_loader_executes_nothing)
{
    static const char *const files[] = {"src/io/model_file.c", "src/io/spec.c",
                                        "src/data/safetensors.c", "src/io/tensor_list.c",
                                        "src/data/json.c"};
    static const char *const banned[] = {"dlopen", "system(", "popen(", "execv", "execl",
                                          "fork("};
    for (size_t f = 0; f < sizeof files / sizeof *files; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", CLANN_SOURCE_ROOT, files[f]);
        size_t len;
        unsigned char *text = read_whole(path, &len);
        text[len] = '\0';
        for (size_t b = 0; b < sizeof banned / sizeof *banned; b++)
            ck_assert_msg(!strstr((char *)text, banned[b]), "%s uses %s", files[f], banned[b]);
        free(text);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model-file");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, test_roundtrip_bitwise);
    tcase_add_test(tc, test_roundtrip_no_params);
    tcase_add_test(tc, test_save_replaces);
    tcase_add_test(tc, test_spec_builds_model);
    tcase_add_test(tc, test_spec_errors);
    tcase_add_test(tc, test_spec_api_errors);
    tcase_add_test(tc, test_unknown_layer_kind_refused);
    tcase_add_test(tc, test_crafted_corpus);
    tcase_add_test(tc, test_any_tensor_order);
    tcase_add_test(tc, test_not_a_file);
    tcase_add_test(tc, test_truncation_sweep);
    tcase_add_test(tc, test_alloc_failure_sweep);
    tcase_add_test(tc, test_save_errors);
    tcase_add_test(tc, test_save_write_failure_keeps_old_file);
    tcase_add_test(tc, test_loader_executes_nothing);
    tcase_add_test(tc, test_nonfinite_refused);
    tcase_add_test(tc, test_file_info);
    suite_add_tcase(s, tc);
    return test_run_suite(s);
}
