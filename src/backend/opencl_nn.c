/*
 * opencl_nn.c - the layer ops of cl/nn.cl: bias + activation, their backward passes, PReLU
 * slope gradients, column sums and dropout.
 */
#include "backend/opencl_impl.h"

/* ---------------------------------------------------------------------------------------------
 * Layers.
 */
static void ka_act(struct kargs *a, const struct clann_act *act, int kind)
{
    ka_i32(a, kind);
    ka_f32(a, act->alpha);
    ka_f32(a, act->lower);
    ka_f32(a, act->upper);
    ka_i32(a, act->training);
    ka_u64(a, act->rng.seed);
    ka_u32(a, act->rng.stream);
    ka_u64(a, act->rng.offset);
}

enum clann_status op_bias_act_forward(struct clann_backend *be_,
                                      const struct clann_act *act, struct clann_view z,
                                      struct clann_view bias, struct clann_view prelu,
                                      struct clann_view y, size_t rows, size_t cols)
{
    struct cl_backend *be = cl_be(be_);
    size_t n;
    CHECK(check_matrix(be_, "bias_act_forward", rows, cols, &n));
    if (n == 0)
        return CLANN_OK;
    if (act->kind != CLANN__ACT_PRELU)
        prelu.buf = NULL;

    bool softmax = act->kind == CLANN__ACT_SOFTMAX;
    if (!softmax || bias.buf) {
        /* softmax: z += bias here (y = z in place), the rows below */
        struct kargs a = ka_begin(be, K_BIAS_ACT_FORWARD);
        ka_view(&a, z);
        ka_view(&a, bias);
        ka_i32(&a, bias.buf != NULL);
        ka_view(&a, prelu);
        ka_view(&a, softmax ? z : y);
        ka_u32(&a, rows);
        ka_u32(&a, cols);
        ka_act(&a, act, softmax ? CLANN__ACT_LINEAR : (int)act->kind);
        CHECK(LAUNCH_1D(&a, n));
    }
    if (softmax) {
        struct kargs a = ka_begin(be, K_SOFTMAX_FORWARD);
        ka_view(&a, z);
        ka_view(&a, y);
        ka_u32(&a, rows);
        ka_u32(&a, cols);
        CHECK(LAUNCH_1D(&a, rows));
    }
    return CLANN_OK;
}

enum clann_status op_act_backward(struct clann_backend *be_, const struct clann_act *act,
                                  struct clann_view z, struct clann_view y,
                                  struct clann_view dy, struct clann_view prelu,
                                  struct clann_view dz, size_t rows, size_t cols)
{
    struct cl_backend *be = cl_be(be_);
    size_t n;
    enum clann__act_kind kind = act->kind;
    CHECK(check_matrix(be_, "act_backward", rows, cols, &n));
    if (n == 0)
        return CLANN_OK;
    bool uses_y = kind == CLANN__ACT_SIGMOID || kind == CLANN__ACT_TANH ||
                  kind == CLANN__ACT_SOFTMAX;
    bool uses_z = !uses_y && kind != CLANN__ACT_LINEAR;
    if (!uses_y)
        y.buf = NULL;
    if (!uses_z)
        z.buf = NULL;
    if (kind != CLANN__ACT_PRELU)
        prelu.buf = NULL;

    if (kind == CLANN__ACT_SOFTMAX) {
        struct kargs a = ka_begin(be, K_SOFTMAX_BACKWARD);
        ka_view(&a, y);
        ka_view(&a, dy);
        ka_view(&a, dz);
        ka_u32(&a, rows);
        ka_u32(&a, cols);
        return LAUNCH_1D(&a, rows);
    }
    struct kargs a = ka_begin(be, K_ACT_BACKWARD);
    ka_view(&a, z);
    ka_view(&a, y);
    ka_view(&a, dy);
    ka_view(&a, prelu);
    ka_view(&a, dz);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_act(&a, act, (int)kind);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_prelu_grad(struct clann_backend *be_, struct clann_view z,
                                struct clann_view dy, struct clann_view dprelu, size_t rows,
                                size_t cols, float beta)
{
    size_t n;
    CHECK(check_matrix(be_, "prelu_grad", rows, cols, &n));
    if (cols == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_PRELU_GRAD);
    ka_view(&a, n ? z : dprelu);
    ka_view(&a, n ? dy : dprelu);
    ka_view(&a, dprelu);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_f32(&a, beta);
    return LAUNCH_1D(&a, cols);
}

enum clann_status op_col_sum(struct clann_backend *be_, struct clann_view x, size_t rows,
                             size_t cols, struct clann_view out, float beta)
{
    size_t n;
    CHECK(check_matrix(be_, "col_sum", rows, cols, &n));
    if (cols == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_COL_SUM);
    ka_view(&a, n ? x : out);
    ka_u32(&a, rows);
    ka_u32(&a, cols);
    ka_view(&a, out);
    ka_f32(&a, beta);
    return LAUNCH_1D(&a, cols);
}

enum clann_status op_dropout(struct clann_backend *be_, struct clann_view x,
                             struct clann_view y, size_t n, size_t spatial, float rate,
                             struct clann_rng_key key)
{
    if (n == 0)
        return CLANN_OK;
    CHECK(check_count(be_, "dropout", n));
    struct kargs a = ka_begin(cl_be(be_), K_DROPOUT);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_u32(&a, n);
    ka_u32(&a, spatial); /* <= n: the ops wrapper checked that n is a multiple of it */
    ka_f32(&a, rate);
    ka_u64(&a, key.seed);
    ka_u32(&a, key.stream);
    ka_u64(&a, key.offset);
    return LAUNCH_1D(&a, n);
}

