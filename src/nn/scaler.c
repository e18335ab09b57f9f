/*
 * scaler.c - feature and target scaling fitted on training data and kept in the model, so that
 * evaluate and predict apply exactly the transform training saw (no leakage: statistics come
 * from the training rows alone).
 */
#include "nn/model.h"
#include "core/kinds.h"

#include <math.h>
#include <string.h>

CLANN_API bool clann_scale_from_name(const char *name, enum clann_scale *out)
{
    size_t v;
    if (!clann__kind_parse(&clann__scale_kinds, name, &v))
        return false;
    *out = (enum clann_scale)v;
    return true;
}

void clann__scaler_apply(const struct clann_scaler *s, float *row)
{
    for (size_t j = 0; j < s->n && s->kind != CLANN_SCALE_NONE; j++) {
        float x = row[j];
        switch (s->kind) {
        case CLANN_SCALE_STANDARD: row[j] = (x - s->a[j]) / s->b[j]; break;
        case CLANN_SCALE_MINMAX:
            row[j] = s->lo + (x - s->a[j]) * (s->hi - s->lo) / (s->b[j] - s->a[j]);
            break;
        case CLANN_SCALE_LOG: row[j] = x < 0.0f ? -log1pf(-x) : log1pf(x); break;
        default: row[j] = x < s->lo ? s->lo : x > s->hi ? s->hi : x; break;
        }
    }
}

void clann__scaler_invert(const struct clann_scaler *s, float *row)
{
    for (size_t j = 0; j < s->n && s->kind != CLANN_SCALE_NONE; j++) {
        float y = row[j];
        switch (s->kind) {
        case CLANN_SCALE_STANDARD: row[j] = y * s->b[j] + s->a[j]; break;
        case CLANN_SCALE_MINMAX:
            row[j] = s->a[j] + (y - s->lo) * (s->b[j] - s->a[j]) / (s->hi - s->lo);
            break;
        case CLANN_SCALE_LOG: row[j] = y < 0.0f ? -expm1f(-y) : expm1f(y); break;
        default: break; /* clipping has no inverse */
        }
    }
}

/* Column statistics in double: mean and std (STANDARD) or min and max (MINMAX). A constant
 * column gets std 1 or max = min + 1, so that it maps to a constant instead of NaN. */
static void fit_stats(enum clann_scale kind, const struct clann_matrix *x, float *a, float *b)
{
    for (size_t j = 0; j < x->cols; j++) {
        double s = 0, ss = 0, lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < x->rows; i++) {
            double v = x->data[i * x->cols + j];
            s += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        double mean = s / (double)x->rows;
        for (size_t i = 0; i < x->rows; i++) {
            double d = x->data[i * x->cols + j] - mean;
            ss += d * d;
        }
        double sd = sqrt(ss / (double)x->rows);
        a[j] = (float)(kind == CLANN_SCALE_STANDARD ? mean : lo);
        b[j] = (float)(kind == CLANN_SCALE_STANDARD ? (sd > 0 ? sd : 1.0) : (hi > lo ? hi : lo + 1));
    }
}

static enum clann_status fit_scaler(struct clann_model *m, struct clann_scaler *s,
                                    const struct clann_scaler_params *p,
                                    const struct clann_matrix *train, size_t cols,
                                    const char *what)
{
    if (!p || (unsigned)p->kind > CLANN_SCALE_CLIP)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "%s scaler: unknown kind", what);
    bool needs_data = p->kind == CLANN_SCALE_STANDARD || p->kind == CLANN_SCALE_MINMAX;
    if (needs_data && (!train || !train->data || train->rows == 0 || train->cols != cols))
        return clann__error(m->ctx, CLANN_ERR_SHAPE, "%s scaler: fit it on training data with "
                            "%zu columns", what, cols);
    bool range = p->kind == CLANN_SCALE_MINMAX || p->kind == CLANN_SCALE_CLIP;
    float lo = p->kind == CLANN_SCALE_MINMAX && p->lo == 0.0f && p->hi == 0.0f ? 0.0f : p->lo;
    float hi = p->kind == CLANN_SCALE_MINMAX && p->lo == 0.0f && p->hi == 0.0f ? 1.0f : p->hi;
    if (range && !(lo < hi))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "%s scaler: need lo < hi (got %g, "
                            "%g)", what, (double)lo, (double)hi);
    float *a = clann__calloc(2 * cols + 1, sizeof *a);
    if (!a)
        return clann__error(m->ctx, CLANN_ERR_NO_MEMORY, "%s scaler: out of memory", what);
    if (needs_data)
        fit_stats(p->kind, train, a, a + cols);
    clann__free(s->a);
    *s = (struct clann_scaler){p->kind, lo, hi, cols, a, a + cols};
    return CLANN_OK;
}

CLANN_API enum clann_status clann_model_scale_inputs(struct clann_model *m,
                                                     const struct clann_scaler_params *p,
                                                     const struct clann_matrix *train_x)
{
    if (!m)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "scale_inputs: model is NULL");
    return fit_scaler(m, &m->in_scaler, p, train_x, m->n_inputs, "input");
}

CLANN_API enum clann_status clann_model_scale_targets(struct clann_model *m,
                                                      const struct clann_scaler_params *p,
                                                      const struct clann_matrix *train_y)
{
    if (!m || !m->compiled)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_STATE, "scale_targets: compile first");
    if (clann__loss_is_classification(m->cp.loss))
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "scale_targets: targets of a "
                            "classifier are labels; scale regression targets only");
    if (p && p->kind == CLANN_SCALE_CLIP)
        return clann__error(m->ctx, CLANN_ERR_INVALID_ARG, "scale_targets: clipping cannot be "
                            "inverted to give predictions in the targets' units");
    return fit_scaler(m, &m->out_scaler, p, train_y, clann_model_output_count(m), "target");
}

CLANN_API enum clann_scale clann_model_scaler_kind(const struct clann_model *m, bool targets)
{
    return m ? (targets ? m->out_scaler.kind : m->in_scaler.kind) : CLANN_SCALE_NONE;
}

CLANN_API const float *clann_model_scaler_stats(const struct clann_model *m, bool targets,
                                                const float **b, size_t *n)
{
    const struct clann_scaler *s = m ? (targets ? &m->out_scaler : &m->in_scaler) : NULL;
    if (!s || s->kind == CLANN_SCALE_NONE) {
        if (b)
            *b = NULL;
        if (n)
            *n = 0;
        return NULL;
    }
    if (b)
        *b = s->b;
    if (n)
        *n = s->n;
    return s->a;
}
