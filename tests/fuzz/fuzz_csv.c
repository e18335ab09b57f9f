/*
 * fuzz_csv.c - libFuzzer target for the CSV loaders: every input is read by the numeric loader
 * (with each fill policy and with no header) and by the typed table loader, whose tables then
 * go through the missing-cell functions (cells, counts, dropping rows). Failing to load
 * is the expected outcome for most inputs; any crash, sanitizer report, leak, hang or an
 * output left set after a failure is a finding.
 */
#include "fuzz_input.h"

#include "clann.h"

static void numeric(const char *path, bool header, enum clann_fill_policy fill)
{
    struct clann_csv_params p = clann_csv_default_params();
    p.has_header = header;
    p.fill = fill;
    struct clann_matrix x, y;
    if (clann_csv_load(path, &p, &x, &y) == CLANN_OK) {
        if (x.rows != y.rows || !x.data || !y.data)
            abort();
        clann_matrix_free(&x);
        clann_matrix_free(&y);
    } else if (x.data || y.data) {
        abort(); /* a failed load leaves nothing allocated */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_input_file(data, size, path, sizeof path);
    numeric(path, true, CLANN_FILL_NONE);
    numeric(path, true, CLANN_FILL_MEAN);
    numeric(path, false, CLANN_FILL_ZERO);
    struct clann_table *t = NULL;
    if (clann_table_load_csv(path, NULL, &t) == CLANN_OK) {
        char buf[64];
        for (size_t c = 0; c < clann_table_cols(t); c++) {
            if (!clann_table_column_name(t, c) || !clann_table_cell(t, c, 0, buf, sizeof buf) ||
                clann_table_column_missing(t, c) > clann_table_rows(t))
                abort();
        }
        struct clann_table *complete = NULL; /* the missing-cell path (--fill drop) */
        if (clann_table_drop_missing(t, NULL, 0, &complete, NULL) == CLANN_OK)
            clann_table_destroy(complete);
        clann_table_destroy(t);
    } else if (t) {
        abort();
    }
    close(fd);
    return 0;
}
