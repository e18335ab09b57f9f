/*
 * report.c - `clann report RUN_DIR`: reads the run folder (run_dir.c) and writes its HTML page
 * (report_html.c) to standard output or --out.
 */
#include "cli.h"
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the command ------------------------------------------------------------------------ */

/* cli_parse() takes options only: this moves the one positional argument (RUN_DIR) out of argv,
 * stepping over the values of options that take one. */
static int split_args(int argc, char **argv, const struct cli_option *options, size_t n_options,
                      char **opts, int *n_opts, const char **dir)
{
    *n_opts = 0;
    *dir = NULL;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "-", 1) == 0 && argv[i][1] != '\0') {
            opts[(*n_opts)++] = argv[i];
            for (size_t k = 0; k < n_options && !strchr(argv[i], '='); k++) {
                if (strcmp(argv[i] + 2, options[k].name) == 0 && options[k].takes_value &&
                    i + 1 < argc)
                    opts[(*n_opts)++] = argv[++i];
            }
        } else if (*dir) {
            return cli_usage("report: one run folder expected, got '%s' and '%s'", *dir,
                             argv[i]);
        } else {
            *dir = argv[i];
        }
    }
    return CLI_OK;
}

static const char *base_name(const char *dir, char *buf, size_t size)
{
    snprintf(buf, size, "%s", dir);
    size_t n = strlen(buf);
    while (n > 1 && buf[n - 1] == '/')
        buf[--n] = '\0';
    const char *slash = strrchr(buf, '/');
    return slash && slash[1] ? slash + 1 : buf;
}

struct page {
    const char *title, *dir;
    const struct run_dir *rd;
};

static void page_to(FILE *f, const void *user)
{
    const struct page *p = user;
    report_write_page(f, p->title, p->dir, p->rd);
}

/* --out goes through the library's atomic writer (a failure keeps an older page). */
static int write_report(const char *dir, const char *out, const char *title,
                        const struct run_dir *rd)
{
    char name[256], default_title[300];
    if (!title) {
        snprintf(default_title, sizeof default_title, "clann report: %s",
                 base_name(dir, name, sizeof name));
        title = default_title;
    }
    struct page page = {title, dir, rd};
    if (out)
        return cli_write_file(out, page_to, &page);
    page_to(stdout, &page);
    if (ferror(stdout) || fflush(stdout) != 0) {
        fprintf(stderr, "clann: standard output: cannot write: %s\n", strerror(errno));
        return CLI_FAILED;
    }
    return CLI_OK;
}

int cli_report(int argc, char **argv)
{
    const char *out = NULL, *title = NULL, *dir;
    const struct cli_option options[] = {
        {"out", true, &out, NULL, "write the page to this file (default: standard output)"},
        {"title", true, &title, NULL, "page title (default: 'clann report: RUN_DIR')"},
    };
    size_t n_opt = sizeof options / sizeof *options;
    char **opts = malloc((size_t)(argc + 1) * sizeof *opts);
    int n_opts, rc = opts ? split_args(argc, argv, options, n_opt, opts, &n_opts, &dir)
                          : CLI_FAILED;
    if (rc == CLI_OK)
        rc = cli_parse("report", n_opts, opts, options, n_opt);
    free(opts);
    if (rc < 0) {
        cli_print_help("report", "RUN_DIR [OPTIONS]  (HTML on standard output)", options,
                       n_opt);
        return CLI_OK;
    }
    if (rc != CLI_OK)
        return rc;
    if (!dir)
        return cli_usage("report: which run folder? (usage: clann report RUN_DIR > report.html)");
    struct run_dir rd;
    rc = run_dir_read(dir, &rd);
    if (rc == CLI_OK)
        rc = write_report(dir, out, title, &rd);
    run_dir_free(&rd);
    return rc;
}
