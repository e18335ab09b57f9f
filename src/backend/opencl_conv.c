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

/* Launches a kernel of cl/conv.cl in its form for the device: the 1-D GPU form over n
 * elements, or the 3-D CPU form over cols x rows x planes (n of them). */
static enum clann_status launch_planes(struct kargs *a, size_t n, size_t cols, size_t rows,
                                       size_t planes)
{
    if (!a->be->cpu_device)
        return LAUNCH_1D(a, n);
    size_t global[3] = {cols, rows, planes};
    return LAUNCH(a, 3, global, NULL);
}

/* The kernel of `gpu`'s form for the device, `cpu` being its CPU form. */
static enum kernel_id form(struct clann_backend *be, enum kernel_id gpu, enum kernel_id cpu)
{
    return cl_be(be)->cpu_device ? cpu : gpu;
}

enum clann_status op_im2col(struct clann_backend *be_, const struct clann_conv_geom *g,
                            struct clann_view x, struct clann_view col)
{
    size_t n = geom_output(g, g->channels * g->kernel_h * g->kernel_w);
    CHECK(check_count(be_, "im2col", n));
    if (n == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), form(be_, K_IM2COL, K_IM2COL_CPU));
    ka_view(&a, x);
    ka_view(&a, col);
    ka_geom(&a, g);
    return launch_planes(&a, n, g->out_w, g->out_h,
                         g->batch * g->channels * g->kernel_h * g->kernel_w);
}

enum clann_status op_col2im(struct clann_backend *be_, const struct clann_conv_geom *g,
                            struct clann_view col, struct clann_view x)
{
    size_t n = geom_input(g);
    CHECK(check_count(be_, "col2im", n));
    if (n == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), form(be_, K_COL2IM, K_COL2IM_CPU));
    /* an empty output (out_h or out_w 0) leaves col without floats: bind x, never read */
    ka_view(&a, geom_output(g, 1) ? col : x);
    ka_view(&a, x);
    ka_geom(&a, g);
    return launch_planes(&a, n, g->width, g->height, g->batch * g->channels);
}

enum clann_status op_channel_bias(struct clann_backend *be_, struct clann_view x,
                                  struct clann_view bias, size_t n, size_t channels, size_t hw)
{
    size_t total = n * channels * hw;
    CHECK(check_count(be_, "channel_bias", total));
    if (total == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), form(be_, K_CHANNEL_BIAS, K_CHANNEL_BIAS_CPU));
    ka_view(&a, x);
    ka_view(&a, bias);
    ka_u32(&a, n);
    ka_u32(&a, channels);
    ka_u32(&a, hw);
    return launch_planes(&a, total, hw, channels, n);
}

/* CPU devices: a work-item per channel (a work-group's barriers cost more than the sum); GPUs:
 * a work-group per channel adding with a tree. Either way the order depends on the shapes and
 * the device's work-group size only. */
enum clann_status op_channel_sum(struct clann_backend *be_, struct clann_view x, size_t n,
                                 size_t channels, size_t hw, struct clann_view out, float beta)
{
    struct cl_backend *be = cl_be(be_);
    CHECK(check_count(be_, "channel_sum", n * channels * hw));
    if (channels == 0)
        return CLANN_OK;
    enum kernel_id id = form(be_, K_CHANNEL_SUM_WG, K_CHANNEL_SUM);
    struct kargs a = ka_begin(be, id);
    ka_view(&a, n && hw ? x : out);
    ka_u32(&a, n);
    ka_u32(&a, channels);
    ka_u32(&a, hw);
    ka_view(&a, out);
    ka_f32(&a, beta);
    if (be->cpu_device)
        return LAUNCH_1D(&a, channels);
    size_t local = be->wgs[id], global = channels * local;
    ka_local_floats(&a, local);
    return LAUNCH(&a, 1, &global, &local);
}

enum clann_status op_pool2d_forward(struct clann_backend *be_, const struct clann_conv_geom *g,
                                    bool max, struct clann_view x, struct clann_view y)
{
    size_t n = geom_output(g, g->channels);
    CHECK(check_count(be_, "pool2d_forward", n));
    if (n == 0)
        return CLANN_OK;
    struct kargs a = ka_begin(cl_be(be_), form(be_, K_POOL2D_FORWARD, K_POOL2D_FORWARD_CPU));
    ka_view(&a, x);
    ka_view(&a, y);
    ka_i32(&a, max);
    ka_geom(&a, g);
    return launch_planes(&a, n, g->out_w, g->out_h, g->batch * g->channels);
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
    /* disjoint windows on a CPU device: a scatter per window (each input gets one window's
     * share or 0), which the gather's rescans of every covering window cost 5x */
    bool scatter = cl_be(be_)->cpu_device && g->dilation == 1 && g->stride >= g->kernel_h &&
                   g->stride >= g->kernel_w && geom_output(g, 1) > 0;
    struct kargs a = ka_begin(cl_be(be_), scatter ? K_POOL2D_BACKWARD_DISJOINT
                                                  : form(be_, K_POOL2D_BACKWARD,
                                                         K_POOL2D_BACKWARD_CPU));
    ka_view(&a, x);
    ka_view(&a, geom_output(g, 1) ? dy : dx);
    ka_view(&a, dx);
    ka_i32(&a, max);
    ka_geom(&a, g);
    if (scatter)
        return launch_planes(&a, n, g->out_w, g->out_h, g->batch * g->channels);
    return launch_planes(&a, n, g->width, g->height, g->batch * g->channels);
}
