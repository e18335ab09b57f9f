/*
 * check.c - `clann check`: is this device computing correctly? Runs clann_device_check() on
 * each selected device (every OpenCL device by default) and prints, per device, a table of op,
 * shape, error, tolerance and pass/fail with a verdict, or one JSON object. Exit status 0 when
 * every check on every device passed, 1 otherwise.
 */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEVICES 16

struct check_args {
    const char *devices[MAX_DEVICES];
    size_t n_devices;
    bool json, quick, failures_only;
};

/* --device may repeat, which cli_parse does not do: take every --device out of argv first. */
static int take_devices(int argc, char **argv, struct check_args *a, char **rest, int *n_rest)
{
    *n_rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *v = NULL;
        if (strcmp(argv[i], "--device") == 0) {
            if (i + 1 >= argc)
                return cli_usage("check: option '--device' needs a value");
            v = argv[++i];
        } else if (strncmp(argv[i], "--device=", 9) == 0) {
            v = argv[i] + 9;
        } else {
            rest[(*n_rest)++] = argv[i];
            continue;
        }
        if (a->n_devices == MAX_DEVICES)
            return cli_usage("check: at most %d --device options", MAX_DEVICES);
        a->devices[a->n_devices++] = v;
    }
    return CLI_OK;
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned)(unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void json_number(double v)
{
    if (isfinite(v))
        printf("%.6g", v);
    else
        printf("null"); /* JSON has no infinity: null is "not a number we can compare" */
}

static void print_entry_json(const struct clann_check_entry *e)
{
    printf("{\"op\": ");
    json_string(e->op);
    printf(", \"shape\": ");
    json_string(e->shape);
    printf(", \"error\": ");
    json_number(e->error);
    printf(", \"tolerance\": ");
    json_number(e->tolerance);
    printf(", \"detail\": ");
    json_string(e->detail);
    printf("}");
}

static void print_device_json(const char *sel, const struct clann_check_report *r,
                              const char *error)
{
    printf("{\"selector\": ");
    json_string(sel);
    printf(", \"device\": ");
    json_string(r->device.name);
    printf(", \"platform\": ");
    json_string(r->device.platform_name);
    printf(", \"checks\": %zu, \"failed\": %zu, \"seconds\": %.3f, \"verdict\": \"%s\"",
           r->count, r->failed, r->seconds, !error && r->failed == 0 ? "pass" : "fail");
    if (error) {
        printf(", \"error\": ");
        json_string(error);
    }
    printf(", \"failures\": [");
    size_t k = 0;
    for (size_t i = 0; i < r->count; i++) {
        if (r->entries[i].pass)
            continue;
        printf(k++ ? ", " : "");
        print_entry_json(&r->entries[i]);
    }
    printf("]}");
}

static void print_device_text(const char *sel, const struct clann_check_report *r,
                              bool failures_only)
{
    printf("%s: %s (%s)\n", sel, r->device.name, r->device.platform_name);
    printf("  %-48s %-28s %10s %9s  %s\n", "op", "shape", "error", "tolerance", "result");
    for (size_t i = 0; i < r->count; i++) {
        const struct clann_check_entry *e = &r->entries[i];
        if (failures_only && e->pass)
            continue;
        printf("  %-48s %-28s %10.3g %9.3g  %s", e->op, e->shape, e->error, e->tolerance,
               e->pass ? "pass" : "FAIL");
        printf(e->pass ? "\n" : ": %s\n", e->detail);
    }
    printf("  verdict: %s (%zu checks, %zu failed, %.1f s)\n\n",
           r->failed == 0 ? "PASS" : "FAIL", r->count, r->failed, r->seconds);
}

/* Every OpenCL device, or the CPU backend when there is none. */
static size_t default_devices(char sel[][32], size_t max)
{
    struct clann_device_info *list;
    size_t n, pick, count = 0;
    const char *why;
    if (clann_devices_list(&list, &n, &pick, &why) != CLANN_OK)
        return 0;
    for (size_t i = 0; i < n && count < max; i++)
        if (list[i].platform >= 0)
            snprintf(sel[count++], 32, "opencl:%d:%d", list[i].platform, list[i].device);
    if (count == 0) {
        fprintf(stderr, "clann: check: no OpenCL device (%s); checking the CPU backend\n", why);
        snprintf(sel[count++], 32, "cpu");
    }
    clann_devices_free(list);
    return count;
}

/* Checks one device; prints its part; returns whether every check passed, with the counts. */
static bool check_one(const struct check_args *a, const char *sel, size_t index, size_t *checks,
                      size_t *failed)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = sel;
    struct clann_check_report r;
    if (!a->json)
        fprintf(stderr, "checking %s%s...\n", sel, a->quick ? " (quick)" : "");
    enum clann_status st = clann_device_check(&p, a->quick, &r);
    const char *error = st == CLANN_OK ? NULL : clann_last_error();
    if (a->json) {
        printf(index ? ",\n    " : "    ");
        print_device_json(sel, &r, error);
    } else if (error) {
        printf("%s: could not run the check: %s: %s\n  verdict: FAIL\n\n", sel,
               clann_status_name(st), error);
    } else {
        print_device_text(sel, &r, a->failures_only);
    }
    bool ok = st == CLANN_OK && r.failed == 0;
    *checks = r.count;
    *failed = r.failed + (st != CLANN_OK);
    clann_check_report_free(&r);
    return ok;
}

int cli_check(int argc, char **argv)
{
    struct check_args a;
    memset(&a, 0, sizeof a);
    char **rest = malloc(((size_t)argc + 1) * sizeof *rest);
    int n_rest;
    if (!rest)
        return cli_fail("check", CLANN_ERR_NO_MEMORY);
    const struct cli_option opts[] = {
        {"device", true, NULL, NULL,
         "a device to check (repeatable): opencl, opencl:P:D, a name, cpu; default: every "
         "OpenCL device"},
        {"quick", false, NULL, &a.quick, "fewer shapes and a shorter training run"},
        {"failures", false, NULL, &a.failures_only, "list only the checks that failed"},
        {"json", false, NULL, &a.json,
         "print one JSON object: per device checks, failed and the failing entries"},
    };
    size_t n_opts = sizeof opts / sizeof *opts;
    int rc = take_devices(argc, argv, &a, rest, &n_rest);
    if (rc == CLI_OK)
        rc = cli_parse("check", n_rest, rest, opts + 1, n_opts - 1);
    free(rest);
    if (rc < 0) {
        cli_print_help("check", "[--device D]... [--quick] [--failures] [--json]", opts, n_opts);
        return CLI_OK;
    }
    if (rc != CLI_OK)
        return rc;
    char found[MAX_DEVICES][32];
    if (a.n_devices == 0) {
        a.n_devices = default_devices(found, MAX_DEVICES);
        for (size_t i = 0; i < a.n_devices; i++)
            a.devices[i] = found[i];
    }
    if (a.json)
        printf("{\n  \"devices\": [\n");
    size_t failed_devices = 0, checks = 0, failed = 0;
    for (size_t i = 0; i < a.n_devices; i++)
        failed_devices += !check_one(&a, a.devices[i], i, &checks, &failed);
    if (a.json && a.n_devices == 1) /* one device: its counts at the top level too */
        printf("\n  ],\n  \"checks\": %zu,\n  \"failed\": %zu,\n  \"verdict\": \"%s\"\n}\n",
               checks, failed, failed_devices ? "fail" : "pass");
    else if (a.json)
        printf("\n  ],\n  \"verdict\": \"%s\"\n}\n", failed_devices ? "fail" : "pass");
    else
        printf("%zu of %zu device(s) passed\n", a.n_devices - failed_devices, a.n_devices);
    return failed_devices ? CLI_FAILED : CLI_OK;
}
