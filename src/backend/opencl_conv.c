/*
 * opencl_conv.c - the convolution and pooling ops of cl/conv.cl: im2col, col2im, per-channel
 * bias and sums, max and average pooling. Geometry arrives checked by ops.c (sizes fit in
 * size_t, image sides in 32 bits).
 */
#include "backend/opencl_impl.h"

/* The geometry as the kernels' GEOM_ARGS take it. */
static void ka_geom(struct kargs *a, const struct clann_conv_geom *g)
{
    ka_u32(a, g->batch);
    ka_u32(a, g->channels);
    ka_u32(a, g->height);
    ka_u32(a, g->width);
    ka_u32(a, g->kernel_h);
    ka_u32(a, g->kernel_w);
    ka_u32(a, g->stride);
    ka_u32(a, g->dilation);
    ka_u32(a, g->pad_top);
    ka_u32(a, g->pad_left);
    ka_u32(a, g->out_h);
    ka_u32(a, g->out_w);
}

static size_t geom_input(const struct clann_conv_geom *g)
{
    return g->batch * g->channels * g->height * g->width;
}

static size_t geom_output(const struct clann_conv_geom *g, size_t channels)
{
    return g->batch * channels * g->out_h * g->out_w;
}

enum clann_status op_im2col(struct clann_backend *be_, const struct clann_conv_geom *g,
                            struct clann_view x, struct clann_view col)
{
    size_t n = geom_output(g, g->channels * g->kernel_h * g->kernel_w);
    CHECK(check_count(be_, "im2col", n));
    if (n == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_IM2COL);
    ka_view(&a, x);
    ka_view(&a, col);
    ka_geom(&a, g);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_col2im(struct clann_backend *be_, const struct clann_conv_geom *g,
                            struct clann_view col, struct clann_view x)
{
    size_t n = geom_input(g);
    CHECK(check_count(be_, "col2im", n));
    if (n == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_COL2IM);
    /* an empty output (out_h or out_w 0) leaves col without floats: bind x, never read */
    ka_view(&a, geom_output(g, 1) ? col : x);
    ka_view(&a, x);
    ka_geom(&a, g);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_channel_bias(struct clann_backend *be_, struct clann_view x,
                                  struct clann_view bias, size_t n, size_t channels, size_t hw)
{
    size_t total = n * channels * hw;
    CHECK(check_count(be_, "channel_bias", total));
    if (total == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_CHANNEL_BIAS);
    ka_view(&a, x);
    ka_view(&a, bias);
    ka_u32(&a, n);
    ka_u32(&a, channels);
    ka_u32(&a, hw);
    return LAUNCH_1D(&a, total);
}

enum clann_status op_channel_sum(struct clann_backend *be_, struct clann_view x, size_t n,
                                 size_t channels, size_t hw, struct clann_view out, float beta)
{
    CHECK(check_count(be_, "channel_sum", n * channels * hw));
    if (channels == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_CHANNEL_SUM);
    ka_view(&a, n && hw ? x : out);
    ka_u32(&a, n);
    ka_u32(&a, channels);
    ka_u32(&a, hw);
    ka_view(&a, out);
    ka_f32(&a, beta);
    return LAUNCH_1D(&a, channels);
}

enum clann_status op_pool2d_forward(struct clann_backend *be_, const struct clann_conv_geom *g,
                                    bool max, struct clann_view x, struct clann_view y)
{
    size_t n = geom_output(g, g->channels);
    CHECK(check_count(be_, "pool2d_forward", n));
    if (n == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), K_POOL2D_FORWARD);
    ka_view(&a, x);
    ka_view(&a, y);
    ka_i32(&a, max);
    ka_geom(&a, g);
    return LAUNCH_1D(&a, n);
}

enum clann_status op_pool2d_backward(struct clann_backend *be_, const struct clann_conv_geom *g,
                                     bool max, struct clann_view x, struct clann_view dy,
                                     struct clann_view dx)
{
    size_t n = geom_input(g);
    CHECK(check_count(be_, "pool2d_backward", n));
    if (n == 0)
        return CLANN_OK;
    if (!max)
        x.buf = NULL; /* avg reads counts only */
    struct kargs a = ka_begin(cl_be(be_), K_POOL2D_BACKWARD);
    ka_view(&a, x);
    ka_view(&a, geom_output(g, 1) ? dy : dx);
    ka_view(&a, dx);
    ka_i32(&a, max);
    ka_geom(&a, g);
    return LAUNCH_1D(&a, n);
}
