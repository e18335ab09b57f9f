/*
 * backend.c - buffer helpers shared by every backend, and convolution geometry.
 */
#include "backend/ops.h"

#include <string.h>

enum clann_status clann__buf_create(struct clann_backend *be, size_t n, struct clann_buf *buf)
{
    memset(buf, 0, sizeof *buf);
    enum clann_status st = clann__op_buf_alloc(be, n, buf);
    if (st != CLANN_OK) {
        memset(buf, 0, sizeof *buf);
        return st;
    }
    buf->be = be;
    buf->n = n;
    return CLANN_OK;
}

void clann__buf_destroy(struct clann_buf *buf)
{
    if (buf && buf->be && buf->ptr)
        clann__op_buf_free(buf->be, buf);
    if (buf)
        memset(buf, 0, sizeof *buf);
}

/* One axis of clann__conv_geom_init: the output size and the padding before the first input. */
static void conv_axis(size_t size, size_t kernel, size_t stride, size_t dilation, bool same,
                      size_t *out, size_t *pad_before)
{
    size_t span = (kernel - 1) * dilation + 1;
    *pad_before = 0;
    if (!same) {
        *out = size >= span ? (size - span) / stride + 1 : 0;
        return;
    }
    *out = (size + stride - 1) / stride;
    size_t need = *out ? (*out - 1) * stride + span : 0;
    *pad_before = need > size ? (need - size) / 2 : 0;
}

void clann__conv_geom_init(struct clann_conv_geom *g, size_t batch, size_t channels,
                           size_t height, size_t width, size_t kernel_h, size_t kernel_w,
                           size_t stride, size_t dilation, bool same)
{
    memset(g, 0, sizeof *g);
    g->batch = batch;
    g->channels = channels;
    g->height = height;
    g->width = width;
    g->kernel_h = kernel_h;
    g->kernel_w = kernel_w;
    g->stride = stride;
    g->dilation = dilation;
    if (kernel_h == 0 || kernel_w == 0 || stride == 0 || dilation == 0)
        return; /* out_h = out_w = 0; the ops reject the geometry */
    conv_axis(height, kernel_h, stride, dilation, same, &g->out_h, &g->pad_top);
    conv_axis(width, kernel_w, stride, dilation, same, &g->out_w, &g->pad_left);
}
