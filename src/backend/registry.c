/*
 * registry.c - every backend's devices in one list, device selection, and backend creation:
 * the one place that knows which backends exist (core and the context never call a backend
 * constructor or a device listing themselves).
 *
 * Selection (docs/architecture.md, "Devices and the context"): "auto" ranks the devices
 * (clann__registry_rank) and the context tries them in that order, then the native CPU
 * backend, which is faster on CPUs than OpenCL-on-CPU.
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

static bool contains_ci(const char *hay, const char *needle);

/* Simulators and emulators compute correctly but slowly (Oclgrind reports the CPU, GPU and
 * accelerator bits at once; Intel's FPGA emulator is an accelerator): never auto's choice. */
static bool simulator(const struct clann_device_info *d)
{
    return contains_ci(d->name, "oclgrind") || contains_ci(d->platform_name, "oclgrind") ||
           contains_ci(d->name, "emulat") || contains_ci(d->platform_name, "emulat");
}

/* The same hardware listed by a second driver (e.g. a vendor ICD and Mesa). Two identical
 * cards under one driver are two devices: a platform lists each of its devices once. */
static bool same_device(const struct clann_device_info *a, const struct clann_device_info *b)
{
    return a->platform != b->platform && a->type == b->type && strcmp(a->name, b->name) == 0 &&
           a->global_memory == b->global_memory && a->compute_units == b->compute_units;
}

/* Auto's class of a device: 0 discrete GPU, 1 integrated GPU, 2 accelerator, 3 an OpenCL CPU
 * device when CLANN_AUTO_OPENCL_CPU=1 (tests: the fallbacks run on PoCL), -1 never. */
static int auto_class(const struct clann_device_info *d)
{
    if (d->type == CLANN_DEVICE_TYPE_GPU)
        return d->unified_memory ? 1 : 0;
    if (d->type == CLANN_DEVICE_TYPE_ACCELERATOR)
        return 2;
    const char *env = clann__getenv("CLANN_AUTO_OPENCL_CPU");
    if (d->type == CLANN_DEVICE_TYPE_CPU && env && strcmp(env, "1") == 0)
        return 3;
    return -1;
}

/* Whether a ranks before b: class, then memory, then compute units, then list order. */
static bool ranks_before(const struct clann_device_info *a, const struct clann_device_info *b)
{
    int ca = auto_class(a), cb = auto_class(b);
    if (ca != cb)
        return ca < cb;
    if (a->global_memory != b->global_memory)
        return a->global_memory > b->global_memory;
    if (a->compute_units != b->compute_units)
        return a->compute_units > b->compute_units;
    return a->platform < b->platform || (a->platform == b->platform && a->device < b->device);
}

/* The process's rank among those of a parallel job on this machine (Open MPI, MPICH/Hydra,
 * Slurm), 0 when it runs alone. */
static unsigned local_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                       "SLURM_LOCALID"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = clann__getenv(vars[i]);
        char *end;
        unsigned long r = v && *v ? strtoul(v, &end, 10) : 0;
        if (v && *v && *end == '\0' && r < 1u << 20)
            return (unsigned)r;
    }
    return 0;
}

enum clann_status clann__registry_local_entry(const char **sel, char *one, size_t size)
{
    const char *list = *sel;
    if (!strchr(list, ','))
        return CLANN_OK;
    unsigned k = 1;
    for (const char *c = list; *c; c++)
        k += *c == ',';
    if (list[0] == ',' || list[strlen(list) - 1] == ',' || strstr(list, ",,"))
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "device list '%s': an entry is empty",
                            list);
    unsigned want = local_rank() % k;
    const char *start = list;
    for (unsigned i = 0; i < want; i++)
        start = strchr(start, ',') + 1;
    size_t len = strcspn(start, ",");
    if (len >= size)
        return clann__error(NULL, CLANN_ERR_INVALID_ARG, "device list '%s': entry %u is too "
                            "long", list, want + 1);
    memcpy(one, start, len);
    one[len] = '\0';
    *sel = one;
    clann__log(CLANN_LOG_LEVEL_INFO, "device list: local rank %u takes '%s' (entry %u of %u)",
               local_rank(), one, want + 1, k);
    return CLANN_OK;
}

/* One device per process: with k devices of the best class (e.g. 4 discrete GPUs), local rank L
 * of a parallel job moves the best class's device L mod k to rank 1, keeping the order of the
 * others, so the processes on a machine spread over its GPUs instead of sharing the first. */
static void spread_local_ranks(struct clann_device_info *list, size_t count)
{
    int best = -1;
    unsigned k = 0;
    for (size_t i = 1; i < count; i++)
        if (list[i].rank == 1)
            best = auto_class(&list[i]);
    for (size_t i = 1; i < count && best >= 0; i++)
        k += list[i].rank != 0 && auto_class(&list[i]) == best;
    unsigned shift = k > 1 ? local_rank() % k : 0;
    if (shift == 0)
        return;
    /* ranks 1..k hold the best class; rank r becomes (r - 1 - shift) mod k + 1 */
    for (size_t i = 1; i < count; i++)
        if (list[i].rank >= 1 && list[i].rank <= k) {
            list[i].rank = (list[i].rank - 1 + k - shift) % k + 1;
            size_t len = strlen(list[i].note);
            if (list[i].rank == 1 && len + 1 < sizeof list[i].note)
                snprintf(list[i].note + len, sizeof list[i].note - len,
                         " for local rank %u (%u alike)", local_rank(), k);
        }
}

size_t clann__registry_rank(struct clann_device_info *list, size_t count, const char **why)
{
    static const char *const class_notes[] = {"discrete GPU", "integrated GPU", "accelerator",
                                              "OpenCL CPU device (CLANN_AUTO_OPENCL_CPU=1)"};
    unsigned eligible = 0;
    for (size_t i = 1; i < count; i++) {
        struct clann_device_info *d = &list[i];
        d->rank = 0;
        size_t j = 1;
        while (j < i && !same_device(&list[j], d))
            j++;
        if (simulator(d)) {
            snprintf(d->note, sizeof d->note, "simulator/emulator: auto never picks it");
        } else if (j < i) {
            snprintf(d->note, sizeof d->note, "same device as opencl:%d:%d (a second driver)",
                     list[j].platform, list[j].device);
        } else if (auto_class(d) < 0) {
            snprintf(d->note, sizeof d->note, "OpenCL CPU device: the CPU backend is faster");
        } else {
            snprintf(d->note, sizeof d->note, "%s", class_notes[auto_class(d)]);
            d->rank = 1; /* eligible; ordered below */
            eligible++;
        }
    }
    /* rank = 1 + the number of eligible devices that rank before it */
    for (size_t i = 1; i < count; i++) {
        if (list[i].rank == 0)
            continue;
        unsigned r = 1;
        for (size_t j = 1; j < count; j++)
            r += j != i && list[j].rank != 0 && ranks_before(&list[j], &list[i]);
        list[i].rank = r;
    }
    spread_local_ranks(list, count);
    list[0].rank = eligible + 1;
    snprintf(list[0].note, sizeof list[0].note,
             eligible ? "the fallback when no device before it works"
                      : "no GPU or accelerator: faster than OpenCL on a CPU");
    size_t first = 0;
    for (size_t i = 1; i < count; i++)
        if (list[i].rank == 1)
            first = i;
    *why = first == 0 ? (count > 1 ? "no GPU or accelerator; the CPU backend is faster than "
                                     "OpenCL on a CPU"
                                   : *why)
                      : list[first].type == CLANN_DEVICE_TYPE_GPU
                          ? "the highest-ranked GPU (discrete over integrated, then memory and "
                            "compute units)"
                          : "no GPU; the highest-ranked accelerator or device";
    return first;
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
    size_t pick = clann__registry_rank(*out, *count, &why);
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
static enum clann_status select_device(const char *sel, struct clann_device_info *list,
                                       size_t count, const char *list_why, size_t *pick)
{
    if (strcmp(sel, "auto") == 0) {
        const char *why = list_why;
        *pick = clann__registry_rank(list, count, &why);
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

enum clann_status clann__registry_auto_order(struct clann_device_info **out, size_t *count)
{
    struct clann_device_info *list = NULL;
    size_t n = 0;
    const char *why = NULL;
    *out = NULL;
    *count = 0;
    enum clann_status st = list_devices(&list, &n, &why);
    if (st != CLANN_OK)
        return st;
    clann__registry_rank(list, n, &why);
    /* in place: entry r - 1 takes the device of rank r; unranked devices drop out */
    struct clann_device_info *order = clann__calloc(n, sizeof *order);
    if (!order) {
        clann__free(list);
        return clann__error(NULL, CLANN_ERR_NO_MEMORY, "device list: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (list[i].rank > 0 && list[i].rank <= n) {
            order[list[i].rank - 1] = list[i];
            k++;
        }
    clann__free(list);
    *out = order;
    *count = k;
    return CLANN_OK;
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
