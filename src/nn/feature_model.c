/*
 * feature_model.c - models built from a feature set: creating one (its first layer is the
 * feature layer of embedding.c) and predicting from a raw table. Apart from embedding.c so
 * that the feature layer does not call the model's creation and prediction, which call it.
 */
#include "nn/embedding.h"

#include <string.h>

CLANN_API enum clann_status clann_model_create_with_features(struct clann_context *ctx,
                                                             const struct clann_features *fs,
                                                             struct clann_model **out)
{
    if (!out)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "create_with_features: out is NULL");
    *out = NULL;
    if (!ctx || !fs)
        return clann__error(ctx, CLANN_ERR_INVALID_ARG, "create_with_features: NULL argument");
    if (!fs->fitted)
        return clann__error(ctx, CLANN_ERR_STATE, "create_with_features: fit the feature set "
                            "on the training table first (clann_features_fit)");
    struct clann_model *m;
    enum clann_status st = clann_model_create(ctx, fs->in_width, &m);
    if (st != CLANN_OK)
        return st;
    st = clann__features_clone(fs, &m->features);
    if (st != CLANN_OK)
        clann__error_to_context(ctx);
    if (st == CLANN_OK)
        st = clann__model_add_features_layer(m);
    if (st != CLANN_OK) {
        clann_model_destroy(m);
        return st;
    }
    *out = m;
    return CLANN_OK;
}

CLANN_API const struct clann_features *clann_model_features(const struct clann_model *m)
{
    return m ? m->features : NULL;
}

CLANN_API enum clann_status clann_model_predict_table(struct clann_model *m,
                                                      const struct clann_table *t,
                                                      struct clann_matrix *out)
{
    if (!out)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "predict_table: out is "
                            "NULL");
    memset(out, 0, sizeof *out);
    if (!m || !m->features)
        return clann__error(m ? m->ctx : NULL, CLANN_ERR_INVALID_ARG, "predict_table: the "
                            "model has no feature columns");
    struct clann_matrix x;
    enum clann_status st = clann_features_transform(m->features, t, &x);
    if (st != CLANN_OK) {
        clann__error_to_context(m->ctx);
        return st;
    }
    st = clann_model_predict(m, &x, out);
    clann_matrix_free(&x);
    return st;
}
