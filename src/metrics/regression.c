/*
 * regression.c - regression metrics on host arrays of n x outputs predictions and labels:
 * MSE, RMSE, MAE, R^2 (as sklearn, averaged uniformly over outputs) and prediction bias.
 */
#include "metrics/metrics.h"

#include <math.h>

static enum clann_status check_regression(const float *pred, const float *labels, size_t n,
                                          size_t outputs, size_t *total)
{
    const char *fn = "clann_regression_evaluate";
    if (!pred || !labels)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: %s is NULL", fn,
                            pred ? "labels" : "predictions");
    if (n == 0 || outputs == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: no values (%zu rows, %zu outputs)",
                            fn, n, outputs);
    if (!clann__mul_size(n, outputs, total))
        return clann__error(NULL, CLANN_ERR_TOO_LARGE, "%s: %zu x %zu overflows", fn, n, outputs);
    for (size_t i = 0; i < *total; i++) {
        const char *name = !isfinite(pred[i]) ? "predictions" : "labels";
        float v = !isfinite(pred[i]) ? pred[i] : labels[i];
        if (!isfinite(v))
            return clann__error(NULL, CLANN_ERR_NONFINITE, "%s: %s[row %zu, output %zu] is %s",
                                fn, name, i / outputs, i % outputs,
                                isnan(v) ? "NaN" : "infinite");
    }
    return CLANN_OK;
}

/* R^2 of output j, sklearn's force_finite rule for constant labels. */
static double output_r2(const float *pred, const float *labels, size_t n, size_t outputs,
                        size_t j)
{
    double mean = 0, ss_res = 0, ss_tot = 0;
    for (size_t i = 0; i < n; i++)
        mean += labels[i * outputs + j];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        double y = labels[i * outputs + j], d = (double)pred[i * outputs + j] - y;
        ss_res += d * d;
        ss_tot += (y - mean) * (y - mean);
    }
    if (ss_tot == 0.0)
        return ss_res == 0.0 ? 1.0 : 0.0;
    return 1.0 - ss_res / ss_tot;
}

/* Mean squared error of output j. */
static double output_mse(const float *pred, const float *labels, size_t n, size_t outputs,
                         size_t j)
{
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)pred[i * outputs + j] - (double)labels[i * outputs + j];
        sum += d * d;
    }
    return sum / (double)n;
}

CLANN_API enum clann_status clann_regression_evaluate(const float *predictions,
                                                      const float *labels, size_t n,
                                                      size_t outputs,
                                                      struct clann_regression_metrics *out)
{
    size_t total;
    if (!out)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_regression_evaluate: out is NULL");
    enum clann_status st = check_regression(predictions, labels, n, outputs, &total);
    if (st != CLANN_OK)
        return st;
    double abs_sum = 0, bias_sum = 0, mse_sum = 0, rmse_sum = 0, r2_sum = 0;
    for (size_t i = 0; i < total; i++) {
        double d = (double)predictions[i] - (double)labels[i];
        abs_sum += fabs(d);
        bias_sum += d;
    }
    for (size_t j = 0; j < outputs; j++) {
        double mse = output_mse(predictions, labels, n, outputs, j);
        mse_sum += mse;
        rmse_sum += sqrt(mse);
        r2_sum += output_r2(predictions, labels, n, outputs, j);
    }
    out->count = n;
    out->outputs = outputs;
    out->mse = mse_sum / (double)outputs;
    out->rmse = rmse_sum / (double)outputs;
    out->mae = abs_sum / (double)total;
    out->r2 = n < 2 ? NAN : r2_sum / (double)outputs;
    out->prediction_bias = bias_sum / (double)total;
    return CLANN_OK;
}
