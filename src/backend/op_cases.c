/*
 * op_cases.c - the op invokers shared by the device self-check and the parity tests
 * (op_cases.h).
 */
#include "backend/op_cases.h"
#include "core/rng.h"

#include <math.h>
#include <string.h>

enum clann_status clann__case_fill(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_fill(be, v[0], a->n, a->a);
}
enum clann_status clann__case_copy(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_copy(be, v[0], v[1], a->n);
}
enum clann_status clann__case_axpy(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_axpy(be, a->n, a->a, v[0], v[1]);
}
enum clann_status clann__case_clip_value(struct clann_backend *be, struct clann_view *v,
                                       const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_clip_by_value(be, v[0], a->n, a->a);
}
enum clann_status clann__case_clip_norm(struct clann_backend *be, struct clann_view *v,
                                      const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_clip_by_norm(be, v[0], a->n, v[1], a->a);
}
enum clann_status clann__case_sum(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_sum(be, v[0], a->n, a->a, v[1], a->b);
}
enum clann_status clann__case_sum_squares(struct clann_backend *be, struct clann_view *v,
                                        const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_sum_squares(be, v[0], a->n, v[1], a->b);
}
enum clann_status clann__case_dropout(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_dropout(be, v[0], v[1], a->n, 1, a->a, a->key);
}
enum clann_status clann__case_spatial_dropout(struct clann_backend *be, struct clann_view *v,
                                              const void *p)
{
    const struct spatial_dropout_args *a = p;
    return clann__op_dropout(be, v[0], v[1], a->s.n, a->spatial, a->s.a, a->s.key);
}
enum clann_status clann__case_forward(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct act_args *a = p;
    return clann__op_bias_act_forward(be, &a->act, v[0], v[1], v[2], v[3], a->rows, a->cols);
}
enum clann_status clann__case_backward(struct clann_backend *be, struct clann_view *v,
                                     const void *p)
{
    const struct act_args *a = p;
    return clann__op_act_backward(be, &a->act, v[0], v[1], v[2], v[3], v[4], a->rows, a->cols);
}
enum clann_status clann__case_prelu_grad(struct clann_backend *be, struct clann_view *v,
                                       const void *p)
{
    const struct act_args *a = p;
    return clann__op_prelu_grad(be, v[0], v[1], v[2], a->rows, a->cols, a->beta);
}
enum clann_status clann__case_col_sum(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct act_args *a = p;
    return clann__op_col_sum(be, v[0], a->rows, a->cols, v[1], a->beta);
}

enum clann_status clann__case_index_cols(struct clann_backend *be, struct clann_view *v,
                                       const void *p)
{
    const struct index_args *a = p;
    return clann__op_index_cols(be, v[0], v[1], a->rows, a->width, v[2], a->n, a->scatter);
}

enum clann_status clann__case_loss(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct loss_args *a = p;
    return clann__op_loss(be, &a->loss, v[0], v[1], a->rows, a->cols, v[2], v[3], a->scale);
}
int clann__case_count_rule(int kind)
{
    if (kind == CLANN__LOSS_SPARSE_SOFTMAX_CE || kind == CLANN__LOSS_NCE)
        return CLANN__COUNT_SPARSE;
    return kind == CLANN__LOSS_SIGMOID_CE ? CLANN__COUNT_MULTILABEL : CLANN__COUNT_ARGMAX;
}
enum clann_status clann__case_loss_batch(struct clann_backend *be, struct clann_view *v,
                                         const void *p)
{
    const struct loss_args *a = p;
    return clann__op_loss_batch(be, &a->loss, v[0], v[1], a->rows, a->cols, v[2], v[3], a->scale,
                                v[4], a->sum_beta, v[5], a->rule);
}
enum clann_status clann__case_guard_grads(struct clann_backend *be, struct clann_view *v,
                                          const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_guard_grads(be, v[0], a->n, v[1], v[2], v[3], a->a, v[4]);
}
enum clann_status clann__case_guard_check(struct clann_backend *be, struct clann_view *v,
                                          const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_guard_check(be, v[0], v[1], a->a);
}
enum clann_status clann__case_accumulate_unless(struct clann_backend *be, struct clann_view *v,
                                                const void *p)
{
    (void)p;
    return clann__op_accumulate_unless(be, v[0], v[1], v[2]);
}
enum clann_status clann__case_guard_skip(struct clann_backend *be, struct clann_view *v,
                                         const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_guard_skip(be, v[0], v[1], v[2], a->a, a->b);
}
enum clann_status clann__case_count(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct loss_args *a = p;
    return clann__op_count_correct(be, v[0], v[1], a->rule, a->rows, a->cols, v[2], a->scale);
}

enum clann_status clann__case_opt(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct opt_args *a = p;
    return clann__op_optimizer_step(be, &a->opt, v[0], v[1], v[2], v[3], a->n);
}

struct clann_act clann__case_act(int kind, bool training)
{
    struct clann_act act;
    memset(&act, 0, sizeof act);
    act.kind = (enum clann__act_kind)kind;
    act.alpha = kind == CLANN__ACT_ELU ? 1.0f : 0.1f;
    act.lower = 0.125f;
    act.upper = 1.0f / 3.0f;
    act.training = training;
    act.rng.seed = 99;
    act.rng.stream = CLANN__RNG_STREAM_RRELU;
    act.rng.offset = 5;
    return act;
}
enum clann_status clann__case_sum_abs(struct clann_backend *be, struct clann_view *v, const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_sum_abs(be, v[0], a->n, v[1], a->b);
}
enum clann_status clann__case_soft_threshold(struct clann_backend *be, struct clann_view *v,
                                            const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_soft_threshold(be, v[0], a->n, a->a, clann__view(NULL, 0), 0.0f, 0.0f,
                                    v[1]);
}
enum clann_status clann__case_soft_threshold_v(struct clann_backend *be, struct clann_view *v,
                                              const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_soft_threshold(be, v[0], a->n, a->a, v[1], a->b, 1e-7f, v[2]);
}
enum clann_status clann__case_add_noise(struct clann_backend *be, struct clann_view *v,
                                      const void *p)
{
    const struct scalar_args *a = p;
    return clann__op_add_noise(be, v[0], a->n, a->key, a->a);
}
enum clann_status clann__case_bn_forward(struct clann_backend *be, struct clann_view *v,
                                       const void *p)
{
    const struct bn_args *a = p;
    return clann__op_batchnorm_forward(be, v[0], v[1], a->rows, a->cols, 1, v[2], v[3], v[4],
                                       v[5], a->eps, a->training);
}
enum clann_status clann__case_spatial_bn_forward(struct clann_backend *be, struct clann_view *v,
                                                 const void *p)
{
    const struct spatial_bn_args *a = p;
    return clann__op_batchnorm_forward(be, v[0], v[1], a->bn.rows, a->bn.cols, a->spatial, v[2],
                                       v[3], v[4], v[5], a->bn.eps, a->bn.training);
}
enum clann_status clann__case_moving_average(struct clann_backend *be, struct clann_view *v,
                                           const void *p)
{
    const struct bn_args *a = p;
    return clann__op_moving_average(be, v[0], v[1], a->rows * a->cols, a->momentum, v[2]);
}
enum clann_status clann__case_bn_backward(struct clann_backend *be, struct clann_view *v,
                                        const void *p)
{
    const struct bn_args *a = p;
    return clann__op_batchnorm_backward(be, v[0], v[1], a->rows, a->cols, 1, v[2], v[3], v[4],
                                        v[5], v[6], v[7]);
}
enum clann_status clann__case_spatial_bn_backward(struct clann_backend *be, struct clann_view *v,
                                                  const void *p)
{
    const struct spatial_bn_args *a = p;
    return clann__op_batchnorm_backward(be, v[0], v[1], a->bn.rows, a->bn.cols, a->spatial,
                                        v[2], v[3], v[4], v[5], v[6], v[7]);
}
enum clann_status clann__case_bn_sums(struct clann_backend *be, struct clann_view *v,
                                      const void *p)
{
    const struct bn_dist_args *a = p;
    return clann__op_batchnorm_sums(be, v[0], a->rows, a->channels, a->spatial,
                                    a->centered ? v[1] : clann__view(NULL, 0), v[2]);
}
enum clann_status clann__case_bn_dx(struct clann_backend *be, struct clann_view *v,
                                    const void *p)
{
    const struct bn_dist_args *a = p;
    return clann__op_batchnorm_dx(be, v[0], v[1], a->rows, a->channels, a->spatial, v[2], v[3],
                                  v[4], v[5], v[6], a->count, v[7]);
}

/* v: a, b, c */
enum clann_status clann__case_gemm_batched(struct clann_backend *be, struct clann_view *v,
                                           const void *p)
{
    const struct gemm_batch_args *a = p;
    return clann__op_gemm_batched(be, a->ta, a->tb, a->m, a->n, a->k, a->alpha, v[0], a->lda,
                                  v[1], a->ldb, a->beta, v[2], a->ldc, &a->batch);
}

/* v: x, col */
enum clann_status clann__case_im2col(struct clann_backend *be, struct clann_view *v,
                                     const void *p)
{
    return clann__op_im2col(be, &((const struct conv_args *)p)->g, v[0], v[1]);
}

/* v: col, x */
enum clann_status clann__case_col2im(struct clann_backend *be, struct clann_view *v,
                                     const void *p)
{
    return clann__op_col2im(be, &((const struct conv_args *)p)->g, v[0], v[1]);
}

/* v: x, bias (channels = C of the geometry, hw = H W) */
enum clann_status clann__case_channel_bias(struct clann_backend *be, struct clann_view *v,
                                         const void *p)
{
    const struct clann_conv_geom *g = &((const struct conv_args *)p)->g;
    return clann__op_channel_bias(be, v[0], v[1], g->batch, g->channels, g->height * g->width);
}

/* v: x, out */
enum clann_status clann__case_channel_sum(struct clann_backend *be, struct clann_view *v,
                                        const void *p)
{
    const struct conv_args *a = p;
    return clann__op_channel_sum(be, v[0], a->g.batch, a->g.channels, a->g.height * a->g.width,
                                 v[1], a->beta);
}

/* v: x, y */
enum clann_status clann__case_pool_forward(struct clann_backend *be, struct clann_view *v,
                                         const void *p)
{
    const struct conv_args *a = p;
    return clann__op_pool2d_forward(be, &a->g, a->max, v[0], v[1]);
}

/* v: x (NULL for avg), dy, dx */
enum clann_status clann__case_pool_backward(struct clann_backend *be, struct clann_view *v,
                                          const void *p)
{
    const struct conv_args *a = p;
    return clann__op_pool2d_backward(be, &a->g, a->max, v[0], v[1], v[2]);
}

/* ---------------------------------------------------------------------------------------------
 * The feature layer.
 */
enum clann_status clann__case_embedding_forward(struct clann_backend *be, struct clann_view *v,
                                                const void *p)
{
    const struct embed_args *a = p;
    return clann__op_embedding_forward(be, v[0], a->width, a->width, a->rows, v[1], a->n_ids,
                                       a->dim, a->combiner, v[2], a->dim);
}

enum clann_status clann__case_copy_cols(struct clann_backend *be, struct clann_view *v,
                                        const void *p)
{
    const struct embed_args *a = p;
    return clann__op_copy_cols(be, v[0], a->width, v[1], a->dim, a->rows, a->dim);
}

enum clann_status clann__case_embedding_backward(struct clann_backend *be, struct clann_view *v,
                                                 const void *p)
{
    const struct embed_args *a = p;
    return clann__op_embedding_backward(be, v[0], a->dim, v[1], a->width, a->width, a->rows,
                                        a->n_ids, a->combiner, v[2], v[3], a->n_occ,
                                        a->n_unique, a->dim, v[4]);
}

enum clann_status clann__case_embedding_update(struct clann_backend *be, struct clann_view *v,
                                               const void *p)
{
    const struct embed_args *a = p;
    struct clann_opt opt = a->opt;
    opt.guard = v[5];
    return clann__op_embedding_update(be, &opt, v[0], v[1], v[2], a->n_ids, a->dim, v[3], v[4],
                                      a->n_unique);
}

/* A slot's id, or -1 for a pad or a value outside the table (backend.h). */
static long slot_id(float v, size_t n_ids)
{
    return v >= 0.0f && v < (float)n_ids && v == floorf(v) ? (long)v : -1;
}

size_t clann__case_embedding_index(const float *ids, size_t rows, size_t width, size_t n_ids,
                                   float *uniq, float *offsets, float *occ, size_t *n_occ)
{
    size_t n_unique = 0, o = 0;
    for (size_t id = 0; id < n_ids; id++) {
        size_t start = o;
        for (size_t i = 0; i < rows * width; i++)
            if (slot_id(ids[i], n_ids) == (long)id)
                occ[o++] = (float)(i / width);
        if (o == start)
            continue;
        uniq[n_unique] = (float)id;
        offsets[n_unique++] = (float)start;
    }
    offsets[n_unique] = (float)o;
    *n_occ = o;
    return n_unique;
}
