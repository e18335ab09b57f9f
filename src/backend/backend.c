/*
 * backend.c - buffer helpers shared by every backend.
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
