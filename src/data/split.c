/*
 * split.c - train/dev/test splits (seeded, optionally stratified) and z-score outlier removal.
 */
#include "core/internal.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

CLANN_API struct clann_split_params clann_split_default_params(void)
{
    struct clann_split_params p = {0.8, 0.1, 0.1, 42, false};
    return p;
}

CLANN_API void clann_split_free(struct clann_split *s)
{
    if (!s)
        return;
    struct clann_matrix *all[] = {&s->train_x, &s->train_y, &s->dev_x,
                                  &s->dev_y,   &s->test_x,  &s->test_y};
    for (size_t i = 0; i < 6; i++)
        clann_matrix_free(all[i]);
}

/* Fisher-Yates over idx[0..n) with the split stream (same permutation on every machine). */
static void shuffle(size_t *idx, size_t n, uint64_t seed, uint64_t salt)
{
    for (size_t i = n; i-- > 1;) {
        uint64_t bits = clann__rng_bits(seed, clann__rng_stream(CLANN__RNG_STREAM_SPLIT, 0),
                                        salt + i);
        size_t j = (size_t)((bits * (uint64_t)(i + 1)) >> 32);
        size_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* Sizes of the three parts of n rows: dev and test rounded, at least one each when their
 * fraction is nonzero and n allows; train takes the rest. */
static void part_sizes(size_t n, const struct clann_split_params *p, size_t sizes[3])
{
    sizes[1] = (size_t)llround(p->dev * (double)n);
    sizes[2] = (size_t)llround(p->test * (double)n);
    if (p->dev > 0 && sizes[1] == 0 && n >= 3)
        sizes[1] = 1;
    if (p->test > 0 && sizes[2] == 0 && n >= 3)
        sizes[2] = 1;
    if (sizes[1] + sizes[2] > n)
        sizes[1] = sizes[2] = 0;
    sizes[0] = n - sizes[1] - sizes[2];
}

static enum clann_status copy_rows(const struct clann_matrix *src, const size_t *rows, size_t n,
                                   struct clann_matrix *dst)
{
    enum clann_status st = clann_matrix_create(n, src->cols, dst);
    for (size_t i = 0; st == CLANN_OK && i < n; i++)
        memcpy(dst->data + i * src->cols, src->data + rows[i] * src->cols,
               src->cols * sizeof(float));
    return st;
}

/* Orders row indices so that each part is contiguous: per class when stratified. part[i]
 * receives the part (0 train, 1 dev, 2 test) of ordered row i. */
static enum clann_status assign_parts(const struct clann_matrix *y,
                                      const struct clann_split_params *p, size_t *order,
                                      unsigned char *part)
{
    size_t n = y->rows, classes = 1;
    if (p->stratify) {
        for (size_t i = 0; i < n; i++) {
            float v = y->data[i * y->cols];
            if (y->cols != 1 || !(v >= 0.0f) || v != floorf(v) || v >= 1e6f)
                return clann__error(NULL, CLANN_ERR_INVALID_ARG, "split: stratification needs "
                                    "one label column of class indices (row %zu holds %g)",
                                    i + 1, (double)v);
            classes = (size_t)v + 1 > classes ? (size_t)v + 1 : classes;
        }
    }
    size_t k = 0;
    for (size_t c = 0; c < classes; c++) {
        size_t start = k;
        for (size_t i = 0; i < n; i++) {
            if (!p->stratify || (size_t)y->data[i] == c)
                order[k++] = i;
        }
        shuffle(order + start, k - start, p->seed, (uint64_t)c * n);
        size_t sizes[3];
        part_sizes(k - start, p, sizes);
        for (size_t i = start; i < k; i++)
            part[i] = i - start < sizes[0] ? 0 : i - start < sizes[0] + sizes[1] ? 1 : 2;
    }
    return CLANN_OK;
}

static enum clann_status build_parts(const struct clann_matrix *x, const struct clann_matrix *y,
                                     const size_t *order, const unsigned char *part,
                                     size_t *rows, struct clann_split *out)
{
    struct clann_matrix *xs[3] = {&out->train_x, &out->dev_x, &out->test_x};
    struct clann_matrix *ys[3] = {&out->train_y, &out->dev_y, &out->test_y};
    enum clann_status st = CLANN_OK;
    for (unsigned char k = 0; k < 3 && st == CLANN_OK; k++) {
        size_t n = 0;
        for (size_t i = 0; i < x->rows; i++) {
            if (part[i] == k)
                rows[n++] = order[i];
        }
        st = copy_rows(x, rows, n, xs[k]);
        if (st == CLANN_OK)
            st = copy_rows(y, rows, n, ys[k]);
    }
    return st;
}

CLANN_API enum clann_status clann_data_split(const struct clann_matrix *x,
                                             const struct clann_matrix *y,
                                             const struct clann_split_params *params,
                                             struct clann_split *out)
{
    if (!x || !y || !out || x->rows != y->rows || x->rows == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "split: need x and y with the same, "
                            "nonzero number of rows");
    memset(out, 0, sizeof *out);
    struct clann_split_params p = params ? *params : clann_split_default_params();
    if (p.train < 0 || p.dev < 0 || p.test < 0 || fabs(p.train + p.dev + p.test - 1.0) > 1e-6)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "split: fractions %g, %g, %g must be "
                            ">= 0 and sum to 1", p.train, p.dev, p.test);
    size_t *order = clann__malloc(x->rows * sizeof *order);
    size_t *rows = clann__malloc(x->rows * sizeof *rows);
    unsigned char *part = clann__malloc(x->rows);
    enum clann_status st = order && rows && part
                               ? assign_parts(y, &p, order, part)
                               : clann__error(NULL, CLANN_ERR_NO_MEMORY, "split: out of memory");
    if (st == CLANN_OK)
        st = build_parts(x, y, order, part, rows, out);
    if (st != CLANN_OK)
        clann_split_free(out);
    clann__free(order);
    clann__free(rows);
    clann__free(part);
    return st;
}

CLANN_API enum clann_status clann_remove_outliers(struct clann_matrix *x, struct clann_matrix *y,
                                                  double z_max, size_t *removed)
{
    if (!x || !removed || !(z_max > 0) || (y && y->rows != x->rows))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "remove_outliers: need x (and y with "
                            "as many rows) and z_max > 0");
    size_t n = x->rows, d = x->cols, kept = 0;
    double *mean = clann__calloc(2 * d + 1, sizeof *mean), *sd = mean + d;
    if (!mean)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "remove_outliers: out of memory");
    for (size_t i = 0; i < n * d; i++)
        mean[i % d] += x->data[i] / (double)n;
    for (size_t i = 0; i < n * d; i++)
        sd[i % d] += (x->data[i] - mean[i % d]) * (x->data[i] - mean[i % d]) / (double)n;
    for (size_t j = 0; j < d; j++)
        sd[j] = sd[j] > 0 ? sqrt(sd[j]) : 1.0;
    for (size_t r = 0; r < n; r++) {
        bool outlier = false;
        for (size_t j = 0; j < d && !outlier; j++)
            outlier = fabs(x->data[r * d + j] - mean[j]) / sd[j] > z_max;
        if (outlier)
            continue;
        memmove(x->data + kept * d, x->data + r * d, d * sizeof(float));
        if (y)
            memmove(y->data + kept * y->cols, y->data + r * y->cols, y->cols * sizeof(float));
        kept++;
    }
    clann__free(mean);
    *removed = n - kept;
    x->rows = kept;
    if (y)
        y->rows = kept;
    return CLANN_OK;
}
