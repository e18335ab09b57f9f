/*
 * spec.c - the model spec as JSON: writing it from a compiled model, and reading it back with
 * every value checked (type, range, known names) and errors that name the JSON path.
 *
 * Enums are written by name, never by number, so that the file stays meaningful when enums
 * grow. Unknown keys are ignored: a file written by a newer clann of the same major format
 * version still loads. Floats are written in the shortest form that reads back to the same
 * float, so a spec survives a save/load cycle unchanged.
 */
#include "io/spec.h"
#include "core/kinds.h"
#include "data/features.h"
#include "data/json.h"

#include <errno.h>
#include <float.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS ((size_t)1 << 16)
#define PATH_MAX_LEN 96

/* ---------------------------------------------------------------------------------------------
 * Reading. Every helper takes the JSON path of the object it reads from ("" for the root,
 * "layers[2]", ...) and reports errors as "<what>: <path>.<key>: <problem>".
 */
enum range { RANGE_ANY, RANGE_NONNEG, RANGE_POSITIVE, RANGE_UNIT };

static bool in_range(double v, enum range range)
{
    switch (range) {
    case RANGE_NONNEG: return v >= 0.0;
    case RANGE_POSITIVE: return v > 0.0;
    case RANGE_UNIT: return v >= 0.0 && v <= 1.0;
    default: return true;
    }
}

static const char *range_text(enum range range)
{
    switch (range) {
    case RANGE_NONNEG: return "a finite number >= 0";
    case RANGE_POSITIVE: return "a finite number > 0";
    case RANGE_UNIT: return "a number in [0, 1]";
    default: return "a finite number";
    }
}

/* A float option; left unchanged when absent. */
static enum clann_status read_float(const struct clann__json_reader *r, struct json_object *obj,
                                    const char *path, const char *key, enum range range, float *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_member(r, obj, path, key, false, &v);
    if (st != CLANN_OK || !v)
        return st;
    double d = NAN;
    bool numeric = clann__json_number(v, &d);
    if (!numeric || !isfinite(d) || fabs(d) > FLT_MAX || !in_range(d, range))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "expected %s", range_text(range));
    *out = (float)d;
    return CLANN_OK;
}

/* A positive integer up to max; left unchanged when absent and not required. */
static enum clann_status read_size(const struct clann__json_reader *r, struct json_object *obj,
                                   const char *path, const char *key, bool required, size_t max,
                                   size_t *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_member(r, obj, path, key, required, &v);
    if (st != CLANN_OK || !v)
        return st;
    int64_t i = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
    if (i <= 0)
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "expected a positive integer");
    if ((uint64_t)i > max)
        return clann__json_bad(r, CLANN_ERR_TOO_LARGE, path, key, "%lld exceeds the limit of %zu",
                               (long long)i, max);
    *out = (size_t)i;
    return CLANN_OK;
}

static enum clann_status read_u64(const struct clann__json_reader *r, struct json_object *obj,
                                  const char *path, const char *key, uint64_t *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_member(r, obj, path, key, false, &v);
    if (st != CLANN_OK || !v)
        return st;
    if (!clann__json_u64(v, out))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "expected a non-negative integer");
    return CLANN_OK;
}

static enum clann_status read_bool(const struct clann__json_reader *r, struct json_object *obj,
                                   const char *path, const char *key, bool *out)
{
    struct json_object *v;
    enum clann_status st = clann__json_typed(r, obj, path, key, json_type_boolean, false, &v);
    if (st == CLANN_OK && v)
        *out = json_object_get_boolean(v);
    return st;
}

static enum clann_status read_activation(const struct clann__json_reader *r,
                                         struct json_object *obj, const char *path, bool required,
                                         enum clann_activation *out)
{
    const char *s;
    enum clann_status st = clann__json_read_string(r, obj, path, "activation", required, &s);
    if (st != CLANN_OK || !s)
        return st;
    if (!clann_activation_from_name(s, out))
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, "activation",
                               "unknown activation '%.64s'", s);
    return CLANN_OK;
}

/* An optional object member; *out stays NULL when absent. */
static enum clann_status read_object(const struct clann__json_reader *r, struct json_object *obj,
                                     const char *path, const char *key, bool required,
                                     struct json_object **out)
{
    return clann__json_typed(r, obj, path, key, json_type_object, required, out);
}

static void join_path(char *buf, const char *path, const char *key)
{
    snprintf(buf, PATH_MAX_LEN, "%s%s%s", path, *path ? "." : "", key);
}

/* "MAJOR.MINOR" with decimal numbers, nothing else. */
static bool parse_version(const char *s, unsigned long *major, unsigned long *minor)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    *major = strtoul(s, &end, 10);
    if (*end != '.' || end[1] < '0' || end[1] > '9')
        return false;
    *minor = strtoul(end + 1, &end, 10);
    return *end == '\0' && errno == 0;
}

/* Also records in r whether the spec is of a newer minor version than this clann writes. */
static enum clann_status check_format(struct clann__json_reader *r, struct json_object *root)
{
    const char *format, *version;
    enum clann_status st = clann__json_read_string(r, root, "", "format", false, &format);
    if (st == CLANN_OK)
        st = clann__json_read_string(r, root, "", "format_version", false, &version);
    if (st != CLANN_OK)
        return st;
    if (format && strcmp(format, CLANN__SPEC_FORMAT) != 0)
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", "format", "expected '%s', got '%.64s'",
                               CLANN__SPEC_FORMAT, format);
    unsigned long major, minor;
    if (!version)
        return CLANN_OK;
    if (!parse_version(version, &major, &minor))
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", "format_version",
                               "expected \"MAJOR.MINOR\", got '%.64s'", version);
    if (major != CLANN__SPEC_VERSION_MAJOR)
        return clann__json_bad(
            r, CLANN_ERR_UNSUPPORTED, "", "format_version",
            "format version %.64s is not supported: clann %s reads format version "
            "%d.%d (and newer minor versions of it)%s",
            version, clann_version(), CLANN__SPEC_VERSION_MAJOR, CLANN__SPEC_VERSION_MINOR,
            major > CLANN__SPEC_VERSION_MAJOR ? "; the file needs a newer clann" : "");
    r->newer_minor = minor > CLANN__SPEC_VERSION_MINOR;
    return CLANN_OK;
}

static enum clann_status read_optimizer(const struct clann__json_reader *r,
                                        struct json_object *root, struct clann_optimizer_params *o)
{
    struct json_object *obj;
    const char *kind;
    const char *p = "optimizer";
    enum clann_status st = read_object(r, root, "", p, false, &obj);
    if (st != CLANN_OK || !obj)
        return st;
    if ((st = clann__json_read_string(r, obj, p, "kind", true, &kind)) != CLANN_OK)
        return st;
    enum clann_optimizer k;
    if (!clann_optimizer_from_name(kind, &k))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "kind", "unknown optimizer '%.64s'", kind);
    *o = clann_optimizer_default_params(k);
    o->nesterov = strcmp(kind, "nesterov") == 0;
    if ((st = read_float(r, obj, p, "learning_rate", RANGE_POSITIVE, &o->learning_rate)) ||
        (st = read_float(r, obj, p, "momentum", RANGE_NONNEG, &o->momentum)) ||
        (st = read_bool(r, obj, p, "nesterov", &o->nesterov)) ||
        (st = read_float(r, obj, p, "beta1", RANGE_UNIT, &o->beta1)) ||
        (st = read_float(r, obj, p, "beta2", RANGE_UNIT, &o->beta2)) ||
        (st = read_float(r, obj, p, "epsilon", RANGE_NONNEG, &o->epsilon)) ||
        (st = read_float(r, obj, p, "rho", RANGE_UNIT, &o->rho)) ||
        (st = read_float(r, obj, p, "initial_accumulator", RANGE_NONNEG,
                         &o->initial_accumulator)))
        return st;
    return CLANN_OK;
}

static enum clann_status read_compile(const struct clann__json_reader *r, struct json_object *root,
                                      struct clann_compile_params *cp)
{
    size_t loss = 0;
    enum clann_status st =
        clann__json_read_enum(r, root, "", "loss", true, &clann__loss_kinds, &loss);
    if (st != CLANN_OK)
        return st;
    *cp = clann_compile_default_params((enum clann_loss)loss);
    if ((st = read_float(r, root, "", "huber_delta", RANGE_POSITIVE, &cp->huber_delta)) ||
        (st = read_optimizer(r, root, &cp->optimizer)) ||
        (st = read_size(r, root, "", "max_batch", false, CLANN__SPEC_MAX_BATCH,
                        &cp->max_batch)) ||
        (st = read_size(r, root, "", "num_sampled", false, CLANN__SPEC_MAX_WIDTH,
                        &cp->num_sampled)) ||
        (st = read_u64(r, root, "", "seed", &cp->seed)))
        return st;
    size_t sampler = CLANN_SAMPLER_UNIFORM;
    st = clann__json_read_enum(r, root, "", "sampler", false, &clann__sampler_kinds, &sampler);
    cp->sampler = (enum clann_sampler)sampler;
    return st;
}

static enum clann_status read_init(const struct clann__json_reader *r, struct json_object *layer,
                                   const char *path, const char *key, struct clann_init *init)
{
    struct json_object *obj;
    char p[PATH_MAX_LEN];
    enum clann_status st = read_object(r, layer, path, key, false, &obj);
    if (st != CLANN_OK || !obj)
        return st;
    join_path(p, path, key);
    size_t kind = 0;
    if ((st = clann__json_read_enum(r, obj, p, "kind", true, &clann__initializer_kinds, &kind)))
        return st;
    init->kind = (enum clann_initializer)kind;
    init->a = init->b = 0.0f;
    if ((st = read_float(r, obj, p, "a", RANGE_ANY, &init->a)) ||
        (st = read_float(r, obj, p, "b", RANGE_ANY, &init->b)))
        return st;
    if (init->kind == CLANN_INIT_UNIFORM && !(init->a <= init->b))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "b", "a uniform range needs a <= b");
    if (init->kind == CLANN_INIT_NORMAL && !(init->b >= 0.0f))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "b", "a standard deviation must be >= 0");
    return CLANN_OK;
}

static enum clann_status read_regularizer(const struct clann__json_reader *r,
                                          struct json_object *layer, const char *path,
                                          const char *key, struct clann_regularizer *reg)
{
    struct json_object *obj;
    char p[PATH_MAX_LEN];
    enum clann_status st = read_object(r, layer, path, key, false, &obj);
    if (st != CLANN_OK || !obj)
        return st;
    join_path(p, path, key);
    if ((st = read_float(r, obj, p, "l1", RANGE_NONNEG, &reg->l1)) ||
        (st = read_float(r, obj, p, "l2", RANGE_NONNEG, &reg->l2)))
        return st;
    return CLANN_OK;
}

static enum clann_status read_constraint(const struct clann__json_reader *r,
                                         struct json_object *layer, const char *path,
                                         const char *key, struct clann_constraint_params *c)
{
    struct json_object *obj;
    char p[PATH_MAX_LEN];
    enum clann_status st = read_object(r, layer, path, key, false, &obj);
    if (st != CLANN_OK || !obj)
        return st;
    join_path(p, path, key);
    size_t kind = 0;
    if ((st = clann__json_read_enum(r, obj, p, "kind", true, &clann__constraint_kinds, &kind)))
        return st;
    memset(c, 0, sizeof *c);
    c->kind = (enum clann_constraint)kind;
    if ((st = read_float(r, obj, p, "min_value", RANGE_NONNEG, &c->min_value)) ||
        (st = read_float(r, obj, p, "max_value", RANGE_NONNEG, &c->max_value)) ||
        (st = read_float(r, obj, p, "rate", RANGE_UNIT, &c->rate)))
        return st;
    if (c->kind == CLANN_CONSTRAINT_MIN_MAX_NORM && !(c->min_value <= c->max_value))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "max_value", "needs min_value <= max_value");
    return CLANN_OK;
}

static enum clann_status read_dense(const struct clann__json_reader *r, struct json_object *obj,
                                    const char *p, struct clann__spec_layer *l)
{
    size_t units = 0;
    enum clann_status st = read_size(r, obj, p, "units", true, CLANN__SPEC_MAX_WIDTH, &units);
    if (st != CLANN_OK)
        return st;
    struct clann_dense_params *d = &l->dense;
    *d = clann_dense_default_params(units, CLANN_ACTIVATION_LINEAR);
    if ((st = read_activation(r, obj, p, false, &d->activation)) ||
        (st = read_float(r, obj, p, "alpha", RANGE_ANY, &d->alpha)) ||
        (st = read_float(r, obj, p, "rrelu_lower", RANGE_ANY, &d->rrelu_lower)) ||
        (st = read_float(r, obj, p, "rrelu_upper", RANGE_ANY, &d->rrelu_upper)) ||
        (st = read_bool(r, obj, p, "use_bias", &d->use_bias)) ||
        (st = read_init(r, obj, p, "kernel_init", &d->kernel_init)) ||
        (st = read_init(r, obj, p, "bias_init", &d->bias_init)) ||
        (st = read_regularizer(r, obj, p, "kernel_regularizer", &d->kernel_regularizer)) ||
        (st = read_regularizer(r, obj, p, "bias_regularizer", &d->bias_regularizer)) ||
        (st = read_constraint(r, obj, p, "kernel_constraint", &d->kernel_constraint)) ||
        (st = read_constraint(r, obj, p, "bias_constraint", &d->bias_constraint)))
        return st;
    if (d->activation == CLANN_ACTIVATION_RRELU &&
        !(d->rrelu_lower >= 0.0f && d->rrelu_lower <= d->rrelu_upper))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "rrelu_upper",
                               "RReLU needs 0 <= lower <= upper");
    return CLANN_OK;
}

static enum clann_status read_activation_layer(const struct clann__json_reader *r,
                                               struct json_object *obj, const char *p,
                                               struct clann__spec_layer *l)
{
    enum clann_status st = read_activation(r, obj, p, true, &l->activation);
    if (st == CLANN_OK && l->activation == CLANN_ACTIVATION_PRELU)
        return clann__json_bad(
            r, CLANN_ERR_FORMAT, p, "activation",
            "prelu has parameters and is only allowed as a dense layer's activation");
    if (st == CLANN_OK)
        st = read_float(r, obj, p, "alpha", RANGE_ANY, &l->alpha);
    return st;
}

/* momentum in [0, 1) and epsilon >= 0, both optional (0 selects the defaults). */
static enum clann_status read_batchnorm_layer(const struct clann__json_reader *r,
                                              struct json_object *obj, const char *p,
                                              struct clann__spec_layer *l)
{
    enum clann_status st = read_float(r, obj, p, "momentum", RANGE_UNIT, &l->momentum);
    if (st == CLANN_OK && l->momentum >= 1.0f)
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "momentum", "expected a number in [0, 1)");
    if (st == CLANN_OK)
        st = read_float(r, obj, p, "epsilon", RANGE_ANY, &l->epsilon);
    if (st == CLANN_OK && !(l->epsilon >= 0.0f))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "epsilon", "expected a number >= 0");
    return st;
}

/* A conv2d layer: filters and kernel sizes required; stride, dilation (1), padding ("same"),
 * the activation (linear), alpha, use_bias and the initializers optional. */
static enum clann_status read_conv2d(const struct clann__json_reader *r, struct json_object *obj,
                                     const char *p, struct clann__spec_layer *l)
{
    struct clann_conv2d_params *c = &l->conv;
    *c = clann_conv2d_default_params(0, 0, CLANN_ACTIVATION_LINEAR);
    const char *padding = NULL;
    enum clann_status st;
    if ((st = read_size(r, obj, p, "filters", true, CLANN__SPEC_MAX_WIDTH, &c->filters)) ||
        (st = read_size(r, obj, p, "kernel_h", true, 1024, &c->kernel_h)) ||
        (st = read_size(r, obj, p, "kernel_w", true, 1024, &c->kernel_w)) ||
        (st = read_size(r, obj, p, "stride", false, 1024, &c->stride)) ||
        (st = read_size(r, obj, p, "dilation", false, 1024, &c->dilation)) ||
        (st = clann__json_read_string(r, obj, p, "padding", false, &padding)) ||
        (st = read_activation(r, obj, p, false, &c->activation)) ||
        (st = read_float(r, obj, p, "alpha", RANGE_ANY, &c->alpha)) ||
        (st = read_bool(r, obj, p, "use_bias", &c->use_bias)) ||
        (st = read_init(r, obj, p, "kernel_init", &c->kernel_init)) ||
        (st = read_init(r, obj, p, "bias_init", &c->bias_init)))
        return st;
    if (padding && strcmp(padding, "same") != 0 && strcmp(padding, "valid") != 0)
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "padding", "expected \"same\" or \"valid\"");
    c->same = !padding || strcmp(padding, "same") == 0;
    if (c->activation == CLANN_ACTIVATION_PRELU || c->activation == CLANN_ACTIVATION_SOFTMAX)
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "activation",
                   "a convolution takes an element-wise activation (not prelu or softmax)");
    return CLANN_OK;
}

/* A pooling layer: size required, stride optional (= size). */
static enum clann_status read_pool(const struct clann__json_reader *r, struct json_object *obj,
                                   const char *p, struct clann__spec_layer *l)
{
    enum clann_status st = read_size(r, obj, p, "size", true, 1024, &l->pool_size);
    if (st == CLANN_OK)
        st = read_size(r, obj, p, "stride", false, 1024, &l->pool_stride);
    return st;
}

/* Transfer learning: "trainable" and "init_from": {"file": PATH, "layer": INDEX}, which the
 * layer's parameters are copied from when a spec builds a model to train (model_file.c). */
static enum clann_status read_transfer(const struct clann__json_reader *r, struct json_object *obj,
                                       const char *p, struct clann__spec_layer *l)
{
    bool trainable = true;
    struct json_object *from;
    enum clann_status st = read_bool(r, obj, p, "trainable", &trainable);
    l->frozen = !trainable;
    if (st == CLANN_OK)
        st = clann__json_typed(r, obj, p, "init_from", json_type_object, false, &from);
    if (st != CLANN_OK || !from)
        return st;
    char q[PATH_MAX_LEN + 16];
    snprintf(q, sizeof q, "%s.init_from", p); /* p is "layers[i]": far shorter */
    const char *file;
    if ((st = clann__json_read_string(r, from, q, "file", true, &file)) ||
        (st = clann__json_read_range(r, from, q, "layer", 0, MAX_LAYERS - 1, &l->source_layer)))
        return st;
    size_t n = strlen(file) + 1;
    if (!(l->source_file = clann__malloc(n)))
        return clann__error(r->ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", r->what);
    memcpy(l->source_file, file, n);
    return CLANN_OK;
}

static enum clann_status read_layer_options(const struct clann__json_reader *r,
                                            struct json_object *obj, const char *p,
                                            struct clann__spec_layer *l);

static enum clann_status read_layer(const struct clann__json_reader *r, struct json_object *obj,
                                    size_t i, struct clann__spec_layer *l)
{
    char p[PATH_MAX_LEN];
    snprintf(p, sizeof p, "layers[%zu]", i);
    if (!json_object_is_type(obj, json_type_object))
        return clann__json_bad(r, CLANN_ERR_FORMAT, p, "", "expected an object");
    enum clann_status st = read_layer_options(r, obj, p, l);
    return st ? st : read_transfer(r, obj, p, l);
}

static enum clann_status read_layer_options(const struct clann__json_reader *r,
                                            struct json_object *obj, const char *p,
                                            struct clann__spec_layer *l)
{
    size_t kind = 0;
    enum clann_status st =
        clann__json_read_enum(r, obj, p, "kind", true, &clann__layer_kinds, &kind);
    if (st != CLANN_OK)
        return st;
    l->kind = (enum clann__layer_kind)kind;
    switch (l->kind) {
    case CLANN__LAYER_DENSE: return read_dense(r, obj, p, l);
    case CLANN__LAYER_ACTIVATION: return read_activation_layer(r, obj, p, l);
    case CLANN__LAYER_BATCHNORM: return read_batchnorm_layer(r, obj, p, l);
    case CLANN__LAYER_FEATURES: return CLANN_OK; /* described by the root's "features" */
    case CLANN__LAYER_CONV2D: return read_conv2d(r, obj, p, l);
    case CLANN__LAYER_MAX_POOL2D:
    case CLANN__LAYER_AVG_POOL2D: return read_pool(r, obj, p, l);
    case CLANN__LAYER_FLATTEN: return CLANN_OK;
    case CLANN__LAYER_NOISE:
        if (!json_object_object_get_ex(obj, "stddev", NULL))
            return clann__json_bad(r, CLANN_ERR_FORMAT, p, "stddev", "missing");
        st = read_float(r, obj, p, "stddev", RANGE_ANY, &l->rate);
        if (st == CLANN_OK && !(l->rate >= 0.0f))
            return clann__json_bad(r, CLANN_ERR_FORMAT, p, "stddev", "expected a number >= 0");
        return st;
    default:
        if (!json_object_object_get_ex(obj, "rate", NULL))
            return clann__json_bad(r, CLANN_ERR_FORMAT, p, "rate", "missing");
        st = read_float(r, obj, p, "rate", RANGE_UNIT, &l->rate);
        return st ? st : read_bool(r, obj, p, "spatial", &l->spatial);
    }
}

static enum clann_status read_layers(const struct clann__json_reader *r, struct json_object *root,
                                     struct clann__spec *s)
{
    struct json_object *arr;
    enum clann_status st = clann__json_member(r, root, "", "layers", true, &arr);
    if (st != CLANN_OK)
        return st;
    if (!json_object_is_type(arr, json_type_array) || json_object_array_length(arr) == 0)
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", "layers", "expected a non-empty array");
    size_t n = json_object_array_length(arr);
    if (n > MAX_LAYERS)
        return clann__json_bad(r, CLANN_ERR_TOO_LARGE, "", "layers",
                               "%zu layers exceed the limit of %zu", n, MAX_LAYERS);
    s->layers = clann__calloc(n, sizeof *s->layers);
    if (!s->layers)
        return clann__error(r->ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", r->what);
    s->n_layers = n;
    for (size_t i = 0; i < n && st == CLANN_OK; i++)
        st = read_layer(r, json_object_array_get_idx(arr, i), i, &s->layers[i]);
    return st;
}

/* n floats from a JSON array member. */
static enum clann_status read_floats(const struct clann__json_reader *r, struct json_object *obj,
                                     const char *path, const char *key, size_t n, float *out)
{
    struct json_object *arr;
    enum clann_status st = clann__json_member(r, obj, path, key, true, &arr);
    if (st != CLANN_OK)
        return st;
    if (!json_object_is_type(arr, json_type_array) || json_object_array_length(arr) != n)
        return clann__json_bad(r, CLANN_ERR_FORMAT, path, key, "expected an array of %zu numbers",
                               n);
    for (size_t i = 0; i < n; i++) {
        struct json_object *v = json_object_array_get_idx(arr, i);
        double d = v && (json_object_is_type(v, json_type_double) ||
                         json_object_is_type(v, json_type_int))
                       ? json_object_get_double(v) : NAN;
        if (!isfinite(d) || fabs(d) > FLT_MAX)
            return clann__json_bad(r, CLANN_ERR_FORMAT, path, key,
                                   "element %zu is not a finite number", i);
        out[i] = (float)d;
    }
    return CLANN_OK;
}

/* An optional scaler over n features: kind, lo, hi, and for fitted kinds the a and b arrays. */
static enum clann_status read_scaler(const struct clann__json_reader *r, struct json_object *root,
                                     const char *key, size_t n, struct clann_scaler *out)
{
    struct json_object *obj;
    enum clann_status st = clann__json_member(r, root, "", key, false, &obj);
    if (st != CLANN_OK || !obj)
        return st;
    if (!json_object_is_type(obj, json_type_object))
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", key, "expected an object");
    size_t kind = 0;
    st = clann__json_read_enum(r, obj, key, "kind", true, &clann__scale_kinds, &kind);
    float *a = st == CLANN_OK ? clann__calloc(2 * n + 1, sizeof *a) : NULL;
    if (st == CLANN_OK && !a)
        st = clann__error(r->ctx, CLANN_ERR_NO_MEMORY, "%s: out of memory", r->what);
    *out = (struct clann_scaler){(enum clann_scale)kind, 0.0f, 1.0f, n, a, a ? a + n : NULL};
    if (st == CLANN_OK)
        st = read_float(r, obj, key, "lo", RANGE_ANY, &out->lo);
    if (st == CLANN_OK)
        st = read_float(r, obj, key, "hi", RANGE_ANY, &out->hi);
    bool fitted = kind == CLANN_SCALE_STANDARD || kind == CLANN_SCALE_MINMAX;
    if (st == CLANN_OK && fitted)
        st = read_floats(r, obj, key, "a", n, out->a);
    if (st == CLANN_OK && fitted)
        st = read_floats(r, obj, key, "b", n, out->b);
    return st;
}

/* The feature set is fitted on the training table, keeping what the spec gives; without a
 * table, one read back unfitted (a vocabulary or width left out) is an error naming it. */
static enum clann_status fit_features(const struct clann__json_reader *r,
                                      const struct clann_table *train, struct clann_features *fs)
{
    if (train) /* also checks the columns against the table; what is given stays */
        return clann_features_fit(fs, train);
    if (fs->fitted)
        return CLANN_OK;
    size_t i = 0;
    while (i + 1 < fs->n && (fs->f[i].kind != CLANN_FEATURE_VOCABULARY || fs->f[i].vocab_given) &&
           (!fs->f[i].separator || fs->f[i].max_values))
        i++;
    char path[64];
    snprintf(path, sizeof path, "features.columns[%zu]", i);
    return clann__json_bad(r, CLANN_ERR_STATE, path, "", "feature '%s' has no %s: fit the spec "
                           "on a training table (clann_model_from_spec_table, clann train "
                           "--spec)", fs->f[i].name,
                           fs->f[i].kind == CLANN_FEATURE_VOCABULARY && !fs->f[i].vocab_given
                               ? "vocabulary" : "width");
}

/* The feature columns: present exactly when layer 0 (and no other) is a features layer, and
 * their input width is the model's ("inputs" may be left out: it is theirs). */
static enum clann_status read_features(const struct clann__json_reader *r, struct json_object *root,
                                       const struct clann_table *train, struct clann__spec *s)
{
    struct json_object *obj;
    enum clann_status st = clann__json_member(r, root, "", "features", false, &obj);
    if (st == CLANN_OK && obj)
        st = clann__features_from_json(r->ctx, obj, r->what, &s->features);
    if (st == CLANN_OK && s->features)
        st = fit_features(r, train, s->features);
    if (st != CLANN_OK)
        return st;
    for (size_t i = 0; i < s->n_layers; i++) {
        bool features = s->layers[i].kind == CLANN__LAYER_FEATURES;
        if (features != (i == 0 && s->features != NULL))
            return clann__json_bad(r, CLANN_ERR_FORMAT, "", "layers",
                                   "a features layer must be layer 0 "
                                   "exactly when the spec has \"features\" (layer %zu)",
                                   i);
    }
    if (s->features && s->n_inputs == 0)
        s->n_inputs = s->features->in_width;
    if (s->features && s->features->in_width != s->n_inputs)
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", "inputs",
                               "the features take %zu inputs, not %zu", s->features->in_width,
                               s->n_inputs);
    return CLANN_OK;
}

/* The width of the model's output: the last layer's (clann__spec_layer.width). */
static size_t output_width(const struct clann__spec *s)
{
    return s->n_layers ? s->layers[s->n_layers - 1].width : s->n_inputs;
}

/* "input_shape": [channels, height, width] whose product is "inputs" (optional). */
static enum clann_status read_input_shape(const struct clann__json_reader *r, struct json_object *root,
                                          struct clann__spec *s)
{
    struct json_object *arr;
    enum clann_status st = clann__json_member(r, root, "", "input_shape", false, &arr);
    if (st != CLANN_OK || !arr)
        return st;
    if (!json_object_is_type(arr, json_type_array) || json_object_array_length(arr) != 3)
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", "input_shape", "expected [channels, height, width]");
    size_t product = 1;
    for (size_t d = 0; d < 3; d++) {
        struct json_object *v = json_object_array_get_idx(arr, d);
        int64_t x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : 0;
        if (x < 1 || (uint64_t)x > CLANN__SPEC_MAX_WIDTH)
            return clann__json_bad(r, CLANN_ERR_FORMAT, "", "input_shape", "expected positive integers");
        s->input_shape[d] = (size_t)x;
        product *= (size_t)x; /* each <= 2^24 and the product checked below at 2^24 */
        if (product > CLANN__SPEC_MAX_WIDTH)
            break;
    }
    if (product != s->n_inputs)
        return clann__json_bad(r, CLANN_ERR_FORMAT, "", "input_shape", "its product is not inputs (%zu)",
                   s->n_inputs);
    return CLANN_OK;
}

/* Walks the layers as the model builds them, filling each one's output width (and a conv2d's
 * input channels) and rejecting image layers without an image or whose window does not fit,
 * so that a bad spec fails here with its path rather than in the model API. */
static enum clann_status read_shapes(const struct clann__json_reader *r, struct clann__spec *s)
{
    size_t width = s->n_inputs, shape[3];
    memcpy(shape, s->input_shape, sizeof shape);
    for (size_t i = 0; i < s->n_layers; i++) {
        struct clann__spec_layer *l = &s->layers[i];
        char p[PATH_MAX_LEN];
        snprintf(p, sizeof p, "layers[%zu]", i);
        bool conv = l->kind == CLANN__LAYER_CONV2D;
        if (conv || l->kind == CLANN__LAYER_MAX_POOL2D || l->kind == CLANN__LAYER_AVG_POOL2D) {
            if (shape[0] == 0)
                return clann__json_bad(r, CLANN_ERR_FORMAT, p, "kind", "its input is not an image");
            struct clann_conv_geom g;
            size_t stride = conv ? l->conv.stride : l->pool_stride ? l->pool_stride : l->pool_size;
            clann__conv_geom_init(&g, 1, shape[0], shape[1], shape[2],
                                  conv ? l->conv.kernel_h : l->pool_size,
                                  conv ? l->conv.kernel_w : l->pool_size, stride ? stride : 1,
                                  conv && l->conv.dilation ? l->conv.dilation : 1,
                                  conv && l->conv.same);
            if (g.out_h == 0 || g.out_w == 0)
                return clann__json_bad(r, CLANN_ERR_FORMAT, p, "kind", "the window does not fit the %zux%zu "
                           "input", shape[1], shape[2]);
            l->in_channels = shape[0];
            shape[0] = conv ? l->conv.filters : shape[0];
            shape[1] = g.out_h;
            shape[2] = g.out_w;
            if (!clann__mul_size(shape[0], shape[1] * shape[2], &width) ||
                width > CLANN__SPEC_MAX_WIDTH)
                return clann__json_bad(r, CLANN_ERR_TOO_LARGE, p, "kind", "the output is too large");
        } else if (l->kind == CLANN__LAYER_DENSE || l->kind == CLANN__LAYER_FEATURES ||
                   l->kind == CLANN__LAYER_FLATTEN) {
            width = l->kind == CLANN__LAYER_DENSE      ? l->dense.units
                    : l->kind == CLANN__LAYER_FEATURES ? s->features->out_width
                                                       : width;
            memset(shape, 0, sizeof shape);
        } else if (l->kind == CLANN__LAYER_BATCHNORM || l->kind == CLANN__LAYER_DROPOUT) {
            if (l->spatial && shape[0] == 0)
                return clann__json_bad(r, CLANN_ERR_FORMAT, p, "spatial",
                                       "its input is not an image (spatial dropout drops "
                                       "channels)");
            l->in_channels = shape[0];
        }
        l->width = width;
    }
    return CLANN_OK;
}

static bool add_size_checked(size_t *sum, size_t v)
{
    if (v > SIZE_MAX - *sum)
        return false;
    *sum += v;
    return true;
}

/* Parameters (kernel, bias, PReLU slopes per dense layer) and activations (values and
 * gradients of every layer's output, max_batch rows) must have representable sizes in bytes,
 * so that compile's unchecked arithmetic cannot overflow. */
static enum clann_status check_sizes(const struct clann__json_reader *r,
                                     const struct clann__spec *s)
{
    size_t width = s->n_inputs, floats = s->n_inputs, params = 0, t;
    bool ok = true;
    for (size_t i = 0; i < s->n_layers && ok; i++) {
        const struct clann__spec_layer *l = &s->layers[i];
        size_t out = l->width;
        if (l->kind == CLANN__LAYER_DENSE)
            ok = clann__mul_size(width, out, &t) && add_size_checked(&params, t) &&
                 add_size_checked(&params, 2 * out);
        if (l->kind == CLANN__LAYER_CONV2D) {
            /* kernel and bias; im2col's matrix (and its gradient) of out / filters positions */
            size_t k = l->in_channels * l->conv.kernel_h * l->conv.kernel_w;
            ok = clann__mul_size(k, l->conv.filters, &t) && add_size_checked(&params, t) &&
                 add_size_checked(&params, l->conv.filters) &&
                 clann__mul_size(k, out / l->conv.filters, &t) &&
                 add_size_checked(&floats, t) && add_size_checked(&floats, t);
        }
        ok = ok && add_size_checked(&floats, 2 * out);
        width = out;
    }
    ok = ok && clann__mul_size(params, sizeof(float), &t) &&
         clann__mul_size(floats, s->cp.max_batch, &t) && clann__mul_size(t, sizeof(float), &t);
    if (!ok)
        return clann__json_bad(
            r, CLANN_ERR_TOO_LARGE, "", "layers",
            "the layer sizes and max_batch %zu need more memory than can be addressed",
            s->cp.max_batch);
    return CLANN_OK;
}

enum clann_status clann__spec_parse(struct clann_context *ctx, const char *text, size_t len,
                                    const char *what, struct clann__spec *out)
{
    return clann__spec_parse_fit(ctx, text, len, what, NULL, out);
}

enum clann_status clann__spec_parse_fit(struct clann_context *ctx, const char *text, size_t len,
                                        const char *what, const struct clann_table *train,
                                        struct clann__spec *out)
{
    memset(out, 0, sizeof *out);
    struct clann__json_reader r = {ctx, what, false};
    struct json_object *root;
    enum clann_status st = clann__json_parse(ctx, text, len, what, &root);
    if (st != CLANN_OK)
        return st;
    if (!json_object_is_type(root, json_type_object))
        st = clann__json_bad(&r, CLANN_ERR_FORMAT, "", "", "expected a JSON object");
    if (st == CLANN_OK)
        st = check_format(&r, root);
    if (st == CLANN_OK)
        st = read_size(&r, root, "", "inputs", !json_object_object_get_ex(root, "features", NULL),
                       CLANN__SPEC_MAX_WIDTH, &out->n_inputs);
    if (st == CLANN_OK)
        st = read_compile(&r, root, &out->cp);
    if (st == CLANN_OK)
        st = read_input_shape(&r, root, out);
    if (st == CLANN_OK)
        st = read_layers(&r, root, out);
    if (st == CLANN_OK)
        st = read_features(&r, root, train, out);
    if (st == CLANN_OK)
        st = read_shapes(&r, out);
    if (st == CLANN_OK)
        st = check_sizes(&r, out);
    if (st == CLANN_OK)
        st = read_scaler(&r, root, "input_scaler", out->n_inputs, &out->in_scaler);
    if (st == CLANN_OK)
        st = read_scaler(&r, root, "target_scaler", output_width(out), &out->out_scaler);
    if (st == CLANN_OK)
        st = clann__columns_from_json(ctx, root, what, &out->columns);
    if (st == CLANN_OK)
        st = clann__training_from_json(&r, root, &out->training);
    json_object_put(root);
    if (st != CLANN_OK)
        clann__spec_free(out);
    return st;
}

void clann__spec_free(struct clann__spec *spec)
{
    if (!spec)
        return;
    for (size_t i = 0; spec->layers && i < spec->n_layers; i++)
        clann__free(spec->layers[i].source_file);
    clann__free(spec->layers);
    clann_features_destroy(spec->features);
    clann__columns_free(spec->columns);
    clann__training_free(&spec->training);
    clann__free(spec->in_scaler.a);
    clann__free(spec->out_scaler.a);
    memset(spec, 0, sizeof *spec);
}

static enum clann_status add_layer(struct clann_model *m, const struct clann__spec_layer *l)
{
    switch (l->kind) {
    case CLANN__LAYER_DENSE: return clann_model_add_dense(m, &l->dense);
    case CLANN__LAYER_ACTIVATION: return clann_model_add_activation(m, l->activation, l->alpha);
    case CLANN__LAYER_NOISE: return clann_model_add_noise(m, l->rate);
    case CLANN__LAYER_BATCHNORM: return clann_model_add_batchnorm(m, l->momentum, l->epsilon);
    case CLANN__LAYER_CONV2D: return clann_model_add_conv2d(m, &l->conv);
    case CLANN__LAYER_MAX_POOL2D: return clann_model_add_max_pool2d(m, l->pool_size, l->pool_stride);
    case CLANN__LAYER_AVG_POOL2D: return clann_model_add_avg_pool2d(m, l->pool_size, l->pool_stride);
    case CLANN__LAYER_FLATTEN: return clann_model_add_flatten(m);
    default:
        return l->spatial ? clann_model_add_spatial_dropout(m, l->rate)
                          : clann_model_add_dropout(m, l->rate);
    }
}

static enum clann_status copy_scaler(struct clann_model *m, const struct clann_scaler *src,
                                     struct clann_scaler *dst)
{
    if (src->kind == CLANN_SCALE_NONE)
        return CLANN_OK;
    float *a = clann__malloc((2 * src->n + 1) * sizeof *a);
    if (!a)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "model spec: out of memory");
    memcpy(a, src->a, 2 * src->n * sizeof *a);
    clann__free(dst->a);
    *dst = (struct clann_scaler){src->kind, src->lo, src->hi, src->n, a, a + src->n};
    return CLANN_OK;
}

enum clann_status clann__spec_build(struct clann_context *ctx, const struct clann__spec *spec,
                                    struct clann_model **out)
{
    struct clann_model *m;
    *out = NULL;
    enum clann_status st = spec->features
                               ? clann_model_create_with_features(ctx, spec->features, &m)
                               : clann_model_create(ctx, spec->n_inputs, &m);
    if (st == CLANN_OK && spec->input_shape[0])
        st = clann_model_set_input_shape(m, spec->input_shape[0], spec->input_shape[1],
                                         spec->input_shape[2]);
    for (size_t i = spec->features ? 1 : 0; st == CLANN_OK && i < spec->n_layers; i++)
        st = add_layer(m, &spec->layers[i]);
    for (size_t i = 0; st == CLANN_OK && i < spec->n_layers; i++) {
        const struct clann__spec_layer *l = &spec->layers[i];
        m->layers[i].frozen = l->frozen;
        st = clann__model_set_source(m, i, l->source_file, l->source_layer); /* recorded only */
    }
    if (st == CLANN_OK)
        st = clann_model_compile(m, &spec->cp);
    if (st == CLANN_OK)
        st = copy_scaler(m, &spec->in_scaler, &m->in_scaler);
    if (st == CLANN_OK)
        st = copy_scaler(m, &spec->out_scaler, &m->out_scaler);
    if (st == CLANN_OK && spec->columns)
        st = clann_model_set_columns(m, spec->columns);
    if (st == CLANN_OK && spec->training.present)
        st = clann__training_set(ctx, "model spec", &m->training, &spec->training.p);
    if (st != CLANN_OK) {
        clann_model_destroy(m);
        return st;
    }
    *out = m;
    return CLANN_OK;
}

enum clann_status clann__model_from_spec(struct clann_context *ctx, const char *json_text,
                                         const struct clann_table *train,
                                         struct clann_model **out)
{
    if (!out)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "model spec: out is NULL");
    *out = NULL;
    if (!ctx || !json_text)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "model spec: NULL argument");
    struct clann__spec spec;
    enum clann_status st = clann__spec_parse_fit(ctx, json_text, strlen(json_text),
                                                 "model spec", train, &spec);
    if (st != CLANN_OK)
        return st;
    st = clann__spec_build(ctx, &spec, out);
    clann__spec_free(&spec);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * Writing. json-c reports allocation failure by returning NULL (or -1 from an add); the writer
 * remembers the first failure instead of checking at every call.
 */
struct writer {
    struct clann__json_out out; /* allocation failures, the first non-finite option */
    bool unknown_layer;
};

static struct json_object *write_optimizer(struct writer *w, const struct clann_optimizer_params *o)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(&w->out, obj, "kind", clann__kind_name(&clann__optimizer_kinds, o->kind));
    clann__json_out_float(&w->out, obj, "learning_rate", o->learning_rate);
    clann__json_out_float(&w->out, obj, "momentum", o->momentum);
    clann__json_out_bool(&w->out, obj, "nesterov", o->nesterov);
    clann__json_out_float(&w->out, obj, "beta1", o->beta1);
    clann__json_out_float(&w->out, obj, "beta2", o->beta2);
    clann__json_out_float(&w->out, obj, "epsilon", o->epsilon);
    clann__json_out_float(&w->out, obj, "rho", o->rho);
    clann__json_out_float(&w->out, obj, "initial_accumulator", o->initial_accumulator);
    return obj;
}

static struct json_object *write_init(struct writer *w, const struct clann_init *init)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(&w->out, obj, "kind",
                         clann__kind_name(&clann__initializer_kinds, init->kind));
    clann__json_out_float(&w->out, obj, "a", init->a);
    clann__json_out_float(&w->out, obj, "b", init->b);
    return obj;
}

static struct json_object *write_regularizer(struct writer *w,
                                             const struct clann_regularizer *reg)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_float(&w->out, obj, "l1", reg->l1);
    clann__json_out_float(&w->out, obj, "l2", reg->l2);
    return obj;
}

static struct json_object *write_constraint(struct writer *w,
                                            const struct clann_constraint_params *c)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(&w->out, obj, "kind", clann__kind_name(&clann__constraint_kinds, c->kind));
    clann__json_out_float(&w->out, obj, "min_value", c->min_value);
    clann__json_out_float(&w->out, obj, "max_value", c->max_value);
    clann__json_out_float(&w->out, obj, "rate", c->rate);
    return obj;
}

static void write_dense(struct writer *w, struct json_object *obj, const struct clann_layer *l)
{
    const struct clann_dense_params *d = &l->dense;
    struct clann__json_out *o = &w->out;
    clann__json_out_size(o, obj, "units", l->out);
    clann__json_out_text(o, obj, "activation", clann_activation_name(d->activation));
    /* The resolved constant: a spec says what the model computes, not what was left at 0. */
    clann__json_out_float(o, obj, "alpha", l->act.alpha);
    clann__json_out_float(o, obj, "rrelu_lower", d->rrelu_lower);
    clann__json_out_float(o, obj, "rrelu_upper", d->rrelu_upper);
    clann__json_out_bool(o, obj, "use_bias", d->use_bias);
    clann__json_out_put(o, obj, "kernel_init", write_init(w, &d->kernel_init));
    clann__json_out_put(o, obj, "bias_init", write_init(w, &d->bias_init));
    clann__json_out_put(o, obj, "kernel_regularizer", write_regularizer(w, &d->kernel_regularizer));
    clann__json_out_put(o, obj, "bias_regularizer", write_regularizer(w, &d->bias_regularizer));
    clann__json_out_put(o, obj, "kernel_constraint", write_constraint(w, &d->kernel_constraint));
    clann__json_out_put(o, obj, "bias_constraint", write_constraint(w, &d->bias_constraint));
}

static void write_conv2d(struct writer *w, struct json_object *obj, const struct clann_layer *l)
{
    const struct clann_dense_params *d = &l->dense;
    clann__json_out_size(&w->out, obj, "filters", d->units);
    clann__json_out_size(&w->out, obj, "kernel_h", l->geom.kernel_h);
    clann__json_out_size(&w->out, obj, "kernel_w", l->geom.kernel_w);
    clann__json_out_size(&w->out, obj, "stride", l->geom.stride);
    clann__json_out_size(&w->out, obj, "dilation", l->geom.dilation);
    clann__json_out_text(&w->out, obj, "padding", l->same ? "same" : "valid");
    clann__json_out_text(&w->out, obj, "activation", clann_activation_name(d->activation));
    clann__json_out_float(&w->out, obj, "alpha", l->act.alpha);
    clann__json_out_bool(&w->out, obj, "use_bias", d->use_bias);
    clann__json_out_put(&w->out, obj, "kernel_init", write_init(w, &d->kernel_init));
    clann__json_out_put(&w->out, obj, "bias_init", write_init(w, &d->bias_init));
}

static struct json_object *write_layer(struct writer *w, const struct clann_layer *l)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(&w->out, obj, "kind", clann__kind_name(&clann__layer_kinds, l->kind));
    if (l->kind == CLANN__LAYER_DENSE) {
        write_dense(w, obj, l);
    } else if (l->kind == CLANN__LAYER_ACTIVATION) {
        clann__json_out_text(&w->out, obj, "activation",
                   clann_activation_name((enum clann_activation)l->act.kind));
        clann__json_out_float(&w->out, obj, "alpha", l->act.alpha);
    } else if (l->kind == CLANN__LAYER_DROPOUT) {
        clann__json_out_float(&w->out, obj, "rate", l->rate);
        if (l->spatial) /* written only when true: other dropouts' specs stay as they were */
            clann__json_out_bool(&w->out, obj, "spatial", true);
    } else if (l->kind == CLANN__LAYER_NOISE) {
        clann__json_out_float(&w->out, obj, "stddev", l->rate);
    } else if (l->kind == CLANN__LAYER_BATCHNORM) {
        clann__json_out_float(&w->out, obj, "momentum", l->momentum);
        clann__json_out_float(&w->out, obj, "epsilon", l->eps);
    } else if (l->kind == CLANN__LAYER_CONV2D) {
        write_conv2d(w, obj, l);
    } else if (l->kind == CLANN__LAYER_MAX_POOL2D || l->kind == CLANN__LAYER_AVG_POOL2D) {
        clann__json_out_size(&w->out, obj, "size", l->geom.kernel_h);
        clann__json_out_size(&w->out, obj, "stride", l->geom.stride);
    } else if (l->kind == CLANN__LAYER_FLATTEN) {
        /* nothing to say */
    } else if (l->kind == CLANN__LAYER_FEATURES) {
        /* described by the root's "features" */
    } else if (!w->unknown_layer) {
        /* A layer kind this writer does not know yet: refuse rather than write a wrong spec. */
        w->unknown_layer = true;
    }
    if (l->frozen) /* written when false only, so that other specs read as before */
        clann__json_out_bool(&w->out, obj, "trainable", false);
    if (l->source_file) {
        struct json_object *from = json_object_new_object();
        clann__json_out_text(&w->out, from, "file", l->source_file);
        clann__json_out_size(&w->out, from, "layer", l->source_layer);
        clann__json_out_put(&w->out, obj, "init_from", from);
    }
    return obj;
}

static struct json_object *write_layers(struct writer *w, const struct clann_model *m)
{
    struct json_object *arr = json_object_new_array();
    for (size_t i = 0; i < m->n_layers; i++) {
        struct json_object *l = write_layer(w, &m->layers[i]);
        if (!arr || !l || json_object_array_add(arr, l) != 0) {
            json_object_put(l);
            w->out.ok = false;
        }
    }
    return arr;
}

static struct json_object *write_floats(struct writer *w, const float *v, size_t n)
{
    struct json_object *arr = json_object_new_array();
    bool ok = arr != NULL;
    for (size_t i = 0; arr && i < n; i++) {
        if (!isfinite(v[i]) && !w->out.nonfinite)
            w->out.nonfinite = "scaler statistics";
        clann__json_push(&ok, arr, clann__json_float(v[i]));
    }
    w->out.ok = w->out.ok && ok;
    return arr;
}

static struct json_object *write_scaler(struct writer *w, const struct clann_scaler *s)
{
    struct json_object *obj = json_object_new_object();
    clann__json_out_text(&w->out, obj, "kind", clann__kind_name(&clann__scale_kinds, s->kind));
    clann__json_out_float(&w->out, obj, "lo", s->lo);
    clann__json_out_float(&w->out, obj, "hi", s->hi);
    if (s->kind == CLANN_SCALE_STANDARD || s->kind == CLANN_SCALE_MINMAX) {
        clann__json_out_put(&w->out, obj, "a", write_floats(w, s->a, s->n));
        clann__json_out_put(&w->out, obj, "b", write_floats(w, s->b, s->n));
    }
    return obj;
}

/* The lowest minor version that describes m: 1.1 unless it has an image input (1.2) or was
 * trained with virtual shards (1.3), so that other models stay readable, byte for byte, where
 * they were before. */
static int spec_minor(const struct clann_model *m)
{
    return m->training.p.shards > 1 ? 3 : m->in_shape[0] ? 2 : 1;
}

static struct json_object *write_root(struct writer *w, const struct clann_model *m)
{
    char version[32];
    snprintf(version, sizeof version, "%d.%d", CLANN__SPEC_VERSION_MAJOR, spec_minor(m));
    struct json_object *root = json_object_new_object();
    clann__json_out_text(&w->out, root, "format", CLANN__SPEC_FORMAT);
    clann__json_out_text(&w->out, root, "format_version", version);
    clann__json_out_text(&w->out, root, "clann_version", clann_version());
    clann__json_out_size(&w->out, root, "inputs", m->n_inputs);
    if (m->in_shape[0]) {
        struct json_object *shape = json_object_new_array();
        for (size_t d = 0; d < 3; d++)
            if (!shape || json_object_array_add(shape, json_object_new_uint64(m->in_shape[d])))
                w->out.ok = false;
        clann__json_out_put(&w->out, root, "input_shape", shape);
    }
    clann__json_out_text(&w->out, root, "loss", clann__kind_name(&clann__loss_kinds, m->cp.loss));
    clann__json_out_float(&w->out, root, "huber_delta", m->cp.huber_delta);
    clann__json_out_put(&w->out, root, "optimizer", write_optimizer(w, &m->cp.optimizer));
    clann__json_out_size(&w->out, root, "max_batch", m->cp.max_batch);
    if (m->cp.loss == CLANN_LOSS_SAMPLED_SOFTMAX_CROSS_ENTROPY || m->cp.loss == CLANN_LOSS_NCE) {
        clann__json_out_size(&w->out, root, "num_sampled", m->cp.num_sampled);
        clann__json_out_text(&w->out, root, "sampler",
                             clann__kind_name(&clann__sampler_kinds, m->cp.sampler));
    }
    clann__json_out_put(&w->out, root, "seed", json_object_new_uint64(m->cp.seed));
    clann__json_out_put(&w->out, root, "layers", write_layers(w, m));
    if (m->in_scaler.kind != CLANN_SCALE_NONE)
        clann__json_out_put(&w->out, root, "input_scaler", write_scaler(w, &m->in_scaler));
    if (m->features) {
        struct json_object *f = NULL;
        if (clann__features_to_json(m->features, &f) != CLANN_OK)
            w->out.ok = false;
        clann__json_out_put(&w->out, root, "features", f);
    }
    if (m->out_scaler.kind != CLANN_SCALE_NONE)
        clann__json_out_put(&w->out, root, "target_scaler", write_scaler(w, &m->out_scaler));
    if (m->columns) {
        bool ok = true;
        clann__json_out_put(&w->out, root, "columns", clann__columns_to_json(m->columns, &ok));
        w->out.ok = w->out.ok && ok;
    }
    if (m->training.present) {
        bool ok = true;
        clann__json_out_put(&w->out, root, "training",
                            clann__training_to_json(&m->training, &ok, &w->out.nonfinite));
        w->out.ok = w->out.ok && ok;
    }
    return root;
}

enum clann_status clann__spec_write(const struct clann_model *m, char **out)
{
    *out = NULL;
    if (!m->compiled)
        return clann__error(m->ctx, CLANN_ERR_STATE, "model spec: the model is not compiled");
    struct writer w = {{true, NULL}, false};
    struct json_object *root = write_root(&w, m);
    bool ok = w.out.ok && !w.unknown_layer && !w.out.nonfinite;
    const char *text = ok ? json_object_to_json_string_ext(
                                root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL;
    char *copy = text ? clann__malloc(strlen(text) + 1) : NULL;
    if (copy)
        memcpy(copy, text, strlen(text) + 1);
    json_object_put(root);
    if (w.unknown_layer)
        return clann__error(m->ctx, CLANN_ERR_UNSUPPORTED,
                            "model spec: the model has a layer kind the spec cannot describe");
    if (w.out.nonfinite)
        return clann__error(m->ctx, CLANN_ERR_NONFINITE,
                            "model spec: option '%s' is not finite and cannot be stored",
                            w.out.nonfinite);
    if (!copy)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "model spec: out of memory");
    *out = copy;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_spec_json(const struct clann_model *model, char **out)
{
    if (!out)
        return clann__error(model ? model->ctx : NULL, CLANN_ERR_INVALID_ARG,
                            "clann_model_spec_json: out is NULL");
    *out = NULL;
    if (!model)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_model_spec_json: model is NULL");
    return clann__spec_write(model, out);
}

CLANN_API void clann_string_free(char *s)
{
    clann__free(s);
}
