/*
 * devices.c - `clann devices`: every device with its properties, and the one `auto` picks.
 */
#include "cli.h"

#include <stdio.h>

static const char *type_name(enum clann_device_type t)
{
    switch (t) {
    case CLANN_DEVICE_TYPE_CPU_BACKEND: return "cpu-backend";
    case CLANN_DEVICE_TYPE_GPU: return "gpu";
    case CLANN_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    case CLANN_DEVICE_TYPE_CPU: return "cpu";
    default: return "other";
    }
}

/* Where auto lands now: it starts the devices in rank order until one builds its kernels and
 * passes the warm-up check, so this says which device was passed over and why. */
static int show_auto_start(void)
{
    struct clann_context_params p = clann_context_default_params();
    p.device = "auto";
    struct clann_context *ctx = NULL;
    enum clann_status st = clann_context_create(&p, &ctx);
    if (st != CLANN_OK)
        return cli_fail("devices: starting auto's device", st);
    const struct clann_device_info *d = clann_context_device(ctx);
    printf("auto starts now: %s (%s)\n", d->name, d->note);
    clann_context_destroy(ctx);
    return CLI_OK;
}

int cli_devices(int argc, char **argv)
{
    if (argc > 0) {
        if (argv[0][0] == '-' && argv[0][1] == '-' && argv[0][2] == 'h') {
            printf("usage: clann devices\n\nLists the CPU backend and every OpenCL device with "
                   "its rank in auto's order and why; '*' marks the one --device auto (the "
                   "default) tries first. When that is an OpenCL device, auto is started and "
                   "the device it lands on is shown, with the one passed over and why.\n");
            return CLI_OK;
        }
        return cli_usage("devices: takes no arguments");
    }
    struct clann_device_info *list;
    size_t n, pick;
    const char *why;
    enum clann_status st = clann_devices_list(&list, &n, &pick, &why);
    if (st != CLANN_OK)
        return cli_fail("devices", st);
    printf("  %-10s %-22s %-40s %-11s %5s %10s %10s %4s %-18s %4s %s\n", "selector", "platform",
           "device", "type", "units", "memory", "max-alloc", "fp64", "version", "auto", "why");
    for (size_t i = 0; i < n; i++) {
        const struct clann_device_info *d = &list[i];
        char sel[32];
        if (d->platform < 0)
            snprintf(sel, sizeof sel, "cpu");
        else
            snprintf(sel, sizeof sel, "opencl:%d:%d", d->platform, d->device);
        char mem[32] = "-", alloc[32] = "-";
        if (d->global_memory)
            snprintf(mem, sizeof mem, "%.1f GiB", (double)d->global_memory / (1u << 30));
        if (d->max_allocation)
            snprintf(alloc, sizeof alloc, "%.1f GiB", (double)d->max_allocation / (1u << 30));
        char rank[16] = "-";
        if (d->rank)
            snprintf(rank, sizeof rank, "%u", d->rank);
        printf("%c %-10s %-22.22s %-40.40s %-11s %5u %10s %10s %4s %-18.18s %4s %s\n",
               i == pick ? '*' : ' ', sel, d->platform_name, d->name, type_name(d->type),
               d->compute_units, mem, alloc, d->fp64 ? "yes" : "no", d->version, rank, d->note);
    }
    printf("\n* auto picks %s: %s\n"
           "auto tries the devices in rank order (discrete GPU, integrated GPU, accelerator; then "
           "memory, compute units) and falls back to the next when one fails to start or its "
           "warm-up check, finally the CPU backend; '-': never picked by auto (select it "
           "explicitly).\n",
           list[pick].name, why);
    clann_devices_free(list);
    return pick != 0 ? show_auto_start() : CLI_OK;
}
