/*
 * registry.c - every backend's devices in one list, device selection, and backend creation:
 * the one place that knows which backends exist (core and the context never call a backend
 * constructor or a device listing themselves).
 *
 * Selection (docs/architecture.md, "Devices and the context"): "auto" prefers a GPU, then
 * another accelerator, then the native CPU backend, which is faster on CPUs than OpenCL-on-CPU.
 * "cpu", "opencl" (the first OpenCL device), "opencl:P:D" and a device-name substring select
 * explicitly.
 */
#include "backend/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct clann_device_info cpu_backend_info(void)
{
    struct clann_device_info info;
    memset(&info, 0, sizeof info);
    info.platform = -1;
    info.device = -1;
    snprintf(info.platform_name, sizeof info.platform_name, "clann");
    snprintf(info.name, sizeof info.name, "CPU backend");
    snprintf(info.driver, sizeof info.driver, "%s", CLANN_VERSION);
    info.type = CLANN_DEVICE_TYPE_CPU_BACKEND;
    info.compute_units = 1;
    info.fp64 = true;
    return info;
}

/* The entry "auto" picks from a list whose first entry is the CPU backend. */
static size_t auto_choice(const struct clann_device_info *list, size_t count, const char **why)
{
    for (size_t i = 0; i < count; i++) {
        if (list[i].type == CLANN_DEVICE_TYPE_GPU) {
            *why = "a GPU is preferred";
            return i;
        }
    }
    for (size_t i = 0; i < count; i++) {
        if (list[i].type == CLANN_DEVICE_TYPE_ACCELERATOR) {
            *why = "no GPU; an accelerator is preferred to the CPU";
            return i;
        }
    }
    if (count > 1)
        *why = "no GPU or accelerator; the CPU backend is faster than OpenCL on a CPU";
    return 0;
}

/* Builds the device list: the CPU backend first, then every OpenCL device. *why_none says why
 * there is no OpenCL device when the list holds the CPU backend alone. */
static enum clann_status list_devices(struct clann_device_info **out, size_t *count,
                                      const char **why_none)
{
    struct clann_device_info *list = clann__malloc(sizeof *list);
    if (!list)
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "device list: out of memory");
    list[0] = cpu_backend_info();
    size_t n = 1;
    *why_none = "clann was built without OpenCL";
#if CLANN_HAVE_OPENCL
    *why_none = NULL;
    enum clann_status st = clann__opencl_devices_append(&list, &n, why_none);
    if (st != CLANN_OK) {
        clann__free(list);
        return st;
    }
    if (n == 1 && !*why_none)
        *why_none = "no OpenCL device found";
#endif
    *out = list;
    *count = n;
    return CLANN_OK;
}

CLANN_API enum clann_status clann_devices_list(struct clann_device_info **out, size_t *count,
                                               size_t *auto_index, const char **auto_reason)
{
    if (!out || !count)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "clann_devices_list: NULL argument");
    *out = NULL;
    *count = 0;
    const char *why_none;
    enum clann_status st = list_devices(out, count, &why_none);
    if (st != CLANN_OK)
        return st;
    const char *why = why_none;
    size_t pick = auto_choice(*out, *count, &why);
    if (auto_index)
        *auto_index = pick;
    if (auto_reason)
        *auto_reason = why;
    return CLANN_OK;
}

CLANN_API void clann_devices_free(struct clann_device_info *list)
{
    clann__free(list);
}

static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] &&
               (hay[i] | 0x20) == (needle[i] | 0x20) && hay[i] >= ' ')
            i++;
        if (i == n)
            return true;
    }
    return false;
}

/* Resolves a selector to an index in list, or records why it matches nothing. */
static enum clann_status select_device(const char *sel, const struct clann_device_info *list,
                                       size_t count, const char *list_why, size_t *pick)
{
    if (strcmp(sel, "auto") == 0) {
        const char *why = list_why;
        *pick = auto_choice(list, count, &why);
        clann__log(CLANN_LOG_LEVEL_INFO, "device auto: %s (%s)", list[*pick].name,
                   why ? why : "only the CPU backend is available");
        return CLANN_OK;
    }
    if (strcmp(sel, "cpu") == 0) {
        *pick = 0;
        return CLANN_OK;
    }
    if (strcmp(sel, "opencl") == 0) {
        if (count < 2)
            return clann__error(NULL, CLANN_ERR_NO_DEVICE, "device 'opencl': no OpenCL device: %s",
                                list_why ? list_why : "none found");
        *pick = 1;
        return CLANN_OK;
    }
    int p, d;
    char tail;
    if (sscanf(sel, "opencl:%d:%d%c", &p, &d, &tail) == 2) {
        for (size_t i = 1; i < count; i++) {
            if (list[i].platform == p && list[i].device == d) {
                *pick = i;
                return CLANN_OK;
            }
        }
        return clann__error(NULL, CLANN_ERR_NO_DEVICE,
                            "device '%s': no OpenCL platform %d device %d (%zu OpenCL devices "
                            "found; run 'clann devices')", sel, p, d, count - 1);
    }
    if (strncmp(sel, "opencl:", 7) == 0)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG,
                            "device '%s': expected opencl:PLATFORM:DEVICE, e.g. opencl:0:0", sel);
    for (size_t i = 1; i < count; i++) {
        if (contains_ci(list[i].name, sel) || contains_ci(list[i].platform_name, sel)) {
            *pick = i;
            return CLANN_OK;
        }
    }
    return clann__error(NULL, CLANN_ERR_NO_DEVICE,
                        "device '%s': matches no device name (use auto, cpu, opencl, "
                        "opencl:P:D or a name substring; run 'clann devices')", sel);
}

enum clann_status clann__registry_select(const char *sel, struct clann_device_info *out)
{
    struct clann_device_info *list = NULL;
    size_t count = 0;
    const char *why_none = NULL;
    enum clann_status st;
    if (strcmp(sel, "cpu") == 0) {
        /* The CPU backend needs no enumeration (and no OpenCL runtime loaded). */
        *out = cpu_backend_info();
        return CLANN_OK;
    }
    st = list_devices(&list, &count, &why_none);
    if (st != CLANN_OK)
        return st;
    size_t pick = 0;
    st = select_device(sel, list, count, why_none, &pick);
    if (st == CLANN_OK)
        *out = list[pick];
    clann__free(list);
    return st;
}

enum clann_status clann__registry_create(struct clann_context *ctx,
                                         const struct clann_device_info *dev,
                                         const struct clann_context_params *p,
                                         struct clann_backend **out)
{
    if (dev->type == CLANN_DEVICE_TYPE_CPU_BACKEND)
        return clann__cpu_backend_create(ctx, p->cpu_mode, out);
#if CLANN_HAVE_OPENCL
    return clann__opencl_backend_create(ctx, dev->platform, dev->device, p, out);
#else
    return clann__error(ctx, CLANN_ERR_NO_DEVICE, "built without OpenCL");
#endif
}
