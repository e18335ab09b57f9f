/*
 * options.c - option parsing and error reporting for the subcommands.
 */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* "clann: ", naming the rank when the job has several, so that a failed rank is known. The
 * line is printed with one call: the ranks' stderr streams interleave. */
static const char *prefix(char *buf, size_t size)
{
    if (clann_world_size() == 1)
        return "clann: ";
    snprintf(buf, size, "clann: rank %d: ", clann_world_rank());
    return buf;
}

void cli_note(const char *fmt, ...)
{
    if (clann_world_rank() != 0)
        return; /* the ranks of one job would repeat rank 0's notes */
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

int cli_usage(const char *fmt, ...)
{
    char line[1024], pre[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s\n", prefix(pre, sizeof pre), line);
    return CLI_USAGE;
}

int cli_fail_text(const char *what, const char *fmt, ...)
{
    char line[1024], pre[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s%s: %s\n", prefix(pre, sizeof pre), what, line);
    return CLI_FAILED;
}

int cli_fail(const char *what, enum clann_status status)
{
    const char *msg = clann_last_error();
    if (!*msg)
        msg = clann_status_str(status);
    /* Loader messages already start with the file's path: name it once. */
    char pre[32];
    size_t n = strlen(what);
    if (strncmp(msg, what, n) == 0 && msg[n] == ':')
        fprintf(stderr, "%s%s\n", prefix(pre, sizeof pre), msg);
    else
        fprintf(stderr, "%s%s: %s\n", prefix(pre, sizeof pre), what, msg);
    return CLI_FAILED;
}

int cli_write_file(const char *path, void (*fill)(FILE *f, const void *user), const void *user)
{
    struct clann_file *file;
    enum clann_status st = clann_file_create(path, &file);
    FILE *f = st == CLANN_OK ? clann_file_stream(file) : NULL;
    if (st == CLANN_OK && !f) {
        clann_file_discard(file);
        return cli_usage("out of memory");
    }
    if (st == CLANN_OK) {
        fill(f, user);
        st = clann_file_commit(file);
    }
    if (st != CLANN_OK)
        fprintf(stderr, "clann: %s\n", clann_last_error());
    return st == CLANN_OK ? CLI_OK : CLI_FAILED;
}

void cli_make_dirs(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        mkdir(path, 0777);
        *p = saved;
        if (!saved)
            break;
    }
}

void cli_print_help(const char *command, const char *synopsis, const struct cli_option *options,
                    size_t n_options)
{
    printf("usage: clann %s %s\n\noptions:\n", command, synopsis);
    for (size_t i = 0; i < n_options; i++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s", options[i].name,
                 options[i].takes_value ? " VALUE" : "");
        printf("  %-26s %s\n", left, options[i].help);
    }
}

static const struct cli_option *find_option(const struct cli_option *options, size_t n,
                                            const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
    }
    return NULL;
}

int cli_parse(const char *command, int argc, char **argv, const struct cli_option *options,
              size_t n_options)
{
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return -1;
        if (strncmp(arg, "--", 2) != 0)
            return cli_usage("%s: unexpected argument '%s' (options start with --)", command, arg);
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const struct cli_option *o = find_option(options, n_options, name, len);
        if (!o)
            return cli_usage("%s: unknown option '--%.*s' (see 'clann %s --help')", command,
                             (int)len, name, command);
        if (!o->takes_value) {
            if (eq)
                return cli_usage("%s: option '--%s' takes no value", command, o->name);
            *o->flag = true;
        } else if (eq) {
            *o->value = eq + 1;
        } else if (i + 1 < argc) {
            *o->value = argv[++i];
        } else {
            return cli_usage("%s: option '--%s' needs a value", command, o->name);
        }
    }
    return CLI_OK;
}

bool cli_u64(const char *option, const char *text, unsigned long long *out)
{
    char *end;
    errno = 0;
    /* Digits only: strtoull would skip leading spaces and negate a sign (" -1" is 2^64-1). */
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (text[0] < '0' || text[0] > '9' || errno || *end) {
        cli_usage("--%s: '%s' is not a non-negative integer", option, text);
        return false;
    }
    *out = v;
    return true;
}

bool cli_size(const char *option, const char *text, size_t *out)
{
    unsigned long long v;
    if (!cli_u64(option, text, &v))
        return false;
    *out = (size_t)v;
    return true;
}

bool cli_float(const char *option, const char *text, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(v) || fabs(v) > FLT_MAX) {
        cli_usage("--%s: '%s' is not a number", option, text);
        return false;
    }
    *out = (float)v;
    return true;
}

bool cli_float_in(const char *option, const char *text, enum cli_range range, float *out)
{
    static const char *const wanted[] = {"a number >= 0", "a number > 0",
                                         "a number in [0, 1)"};
    if (!cli_float(option, text, out))
        return false;
    bool ok = range == CLI_RANGE_NONNEG     ? *out >= 0.0f
              : range == CLI_RANGE_POSITIVE ? *out > 0.0f
                                            : *out >= 0.0f && *out < 1.0f;
    if (!ok)
        cli_usage("--%s: '%s' must be %s", option, text, wanted[range]);
    return ok;
}

bool cli_positive_size(const char *option, const char *text, size_t *out)
{
    if (!cli_size(option, text, out))
        return false;
    if (*out == 0)
        cli_usage("--%s: must be a positive integer", option);
    return *out > 0;
}

bool cli_size_list(const char *option, const char *text, size_t **out, size_t *count)
{
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    size_t *list = calloc(n, sizeof *list);
    if (!list) {
        cli_usage("out of memory");
        return false;
    }
    char buf[32];
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        size_t len = strcspn(p, ",");
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 31 ? len : 31), p);
        bool parsed = cli_size(option, buf, &list[i]); /* prints its own error */
        if (!parsed || list[i] == 0) {
            if (parsed)
                cli_usage("--%s: sizes must be positive integers ('%s')", option, text);
            free(list);
            return false;
        }
        p += len + (p[len] == ',');
    }
    *out = list;
    *count = n;
    return true;
}

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void log_to_stderr(enum clann_log_level level, const char *message, void *user)
{
    (void)user;
    fprintf(stderr, "%s%s\n", level >= CLANN_LOG_LEVEL_WARN ? "warning: " : "", message);
}

int cli_context(const char *device, struct clann_context **ctx)
{
    clann_log_set(log_to_stderr, CLANN_LOG_LEVEL_INFO, NULL);
    struct clann_context_params p = clann_context_default_params();
    p.device = device;
    enum clann_status st = clann_context_create(&p, ctx);
    if (st != CLANN_OK)
        return cli_fail("device", st);
    const struct clann_device_info *d = clann_context_device(*ctx);
    cli_note("device: %s (%s backend)\n", d->name, clann_context_backend_name(*ctx));
    return CLI_OK;
}

const char *cli_names(enum clann_name_list list)
{
    static char lists[16][256];
    char *buf = lists[(size_t)list % 16];
    if (buf[0])
        return buf;
    size_t used = 0;
    const char *name;
    for (size_t i = 0; (name = clann_name_at(list, i)) && used < sizeof lists[0]; i++)
        used += (size_t)snprintf(buf + used, sizeof lists[0] - used, "%s%s", i ? "|" : "", name);
    return buf;
}

const char *cli_fmt(const char *fmt, ...)
{
    static char ring[48][320];
    static size_t next;
    char *buf = ring[next++ % 48];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof ring[0], fmt, ap);
    va_end(ap);
    return buf;
}
