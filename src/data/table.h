/*
 * table.h - the host table behind feature columns (table.c): named columns, each numeric
 * (floats) or text (strings in one pool per column). Shared with the feature columns
 * (features.c, feature_transform.c).
 */
#ifndef CLANN_TABLE_H
#define CLANN_TABLE_H

#include "core/internal.h"

struct clann__table_col {
    char *name;
    bool numeric;
    size_t numbers; /* cells that read as numbers (all rows for a numeric column) */
    size_t missing; /* missing cells: NaN in a numeric column, a missing token in a text one */
    float *num;    /* numeric: rows floats */
    char *pool;    /* text: the cells, each NUL-terminated */
    size_t *offs;  /* text: rows offsets into pool */
    size_t pool_len, pool_cap;
};

struct clann_table {
    size_t rows, cols, cap;
    struct clann__table_col *c;
};

/* The column named `name`, or SIZE_MAX. */
size_t clann__table_find(const struct clann_table *t, const char *name);
/* The text of cell (row, col): a text cell as stored, a numeric one as its shortest decimal
 * (integers without a point: "42", not "42.0"), written into buf (>= 32 bytes). */
const char *clann__table_text(const struct clann_table *t, size_t col, size_t row, char *buf,
                              size_t size);
/* Whether cell (row, col) is missing (see clann_is_missing()). */
bool clann__table_cell_missing(const struct clann_table *t, size_t col, size_t row);
/* Writes the column names, comma separated, into buf (for messages). */
void clann__table_names(const struct clann_table *t, char *buf, size_t size);

#endif /* CLANN_TABLE_H */
