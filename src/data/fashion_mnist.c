/*
 * fashion_mnist.c - Fashion-MNIST from its four gzip-compressed IDX files.
 */
#include "core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define FASHION_PIXELS 784
#define FASHION_CLASSES 10

static enum clann_status load_split(const char *dir, const char *images, const char *labels,
                                    struct clann_matrix *x, struct clann_matrix *y)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, images) >= sizeof path)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "%s: folder path too long", dir);
    enum clann_status st = clann_idx_load(path, x);
    if (st != CLANN_OK)
        return st;
    if (x->cols != FASHION_PIXELS)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: expected images of %d pixels (28 x 28), file has %zu per image",
                            path, FASHION_PIXELS, x->cols);
    size_t n = x->rows * x->cols;
    for (size_t i = 0; i < n; i++)
        x->data[i] /= 255.0f;

    snprintf(path, sizeof path, "%s/%s", dir, labels);
    if ((st = clann_idx_load(path, y)) != CLANN_OK)
        return st;
    if (y->cols != 1)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: expected a 1-D label file, file has %zu values per row", path,
                            y->cols);
    if (y->rows != x->rows)
        return clann__error(NULL, CLANN_ERR_FORMAT,
                            "%s: counts disagree: %zu labels for %zu images in %s", path, y->rows,
                            x->rows, images);
    for (size_t i = 0; i < y->rows; i++)
        if (!(y->data[i] >= 0.0f && y->data[i] < FASHION_CLASSES))
            return clann__error(NULL, CLANN_ERR_FORMAT,
                                "%s: label %zu is %g, outside 0..%d", path, i + 1,
                                (double)y->data[i], FASHION_CLASSES - 1);
    return CLANN_OK;
}

CLANN_API enum clann_status clann_fashion_mnist_load(const char *dir, struct clann_matrix *train_x,
                                                     struct clann_matrix *train_y,
                                                     struct clann_matrix *test_x,
                                                     struct clann_matrix *test_y)
{
    struct clann_matrix *all[] = {train_x, train_y, test_x, test_y};
    for (size_t i = 0; i < 4; i++) {
        if (!all[i])
            return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                                "clann_fashion_mnist_load: an output matrix is NULL");
        memset(all[i], 0, sizeof *all[i]);
    }
    if (!dir)
        dir = clann__getenv("CLANN_FASHION_MNIST");
    if (!dir)
        dir = FASHION_DEFAULT_DIR;
    struct stat sb;
    const char *why = stat(dir, &sb) != 0 ? strerror(errno)
                      : !S_ISDIR(sb.st_mode) ? "not a folder"
                                             : NULL;
    if (why)
        return clann__error(NULL, CLANN_ERR_IO,
                            "%s: cannot open the Fashion-MNIST folder: %s; install it with "
                            "`apt-get install dataset-fashion-mnist` or set CLANN_FASHION_MNIST "
                            "to a folder holding the four .gz files",
                            dir, why);
    enum clann_status st = load_split(dir, "train-images-idx3-ubyte.gz",
                                      "train-labels-idx1-ubyte.gz", train_x, train_y);
    if (st == CLANN_OK)
        st = load_split(dir, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", test_x,
                        test_y);
    if (st != CLANN_OK)
        for (size_t i = 0; i < 4; i++)
            clann_matrix_free(all[i]);
    return st;
}
