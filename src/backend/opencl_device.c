/*
 * opencl_device.c - OpenCL device discovery and device properties (clann_devices_list's
 * OpenCL entries).
 */
#include "backend/opencl_impl.h"

#include <stdio.h>
#include <string.h>


/* A string property of a device or platform into out (always NUL-terminated). */
void device_string(cl_device_id dev, cl_device_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetDeviceInfo(dev, what, cap, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[cap - 1] = '\0';
}

void platform_string(cl_platform_id p, cl_platform_info what, char *out, size_t cap)
{
    out[0] = '\0';
    if (clGetPlatformInfo(p, what, cap, out, NULL) != CL_SUCCESS)
        out[0] = '\0';
    out[cap - 1] = '\0';
}

/* ---------------------------------------------------------------------------------------------
 * Device list.
 */
static void fill_device_info(cl_platform_id platform, cl_device_id dev, int p, int d,
                             struct clann_device_info *info)
{
    memset(info, 0, sizeof *info);
    info->platform = p;
    info->device = d;
    platform_string(platform, CL_PLATFORM_NAME, info->platform_name, sizeof info->platform_name);
    device_string(dev, CL_DEVICE_NAME, info->name, sizeof info->name);
    device_string(dev, CL_DEVICE_OPENCL_C_VERSION, info->version, sizeof info->version);
    device_string(dev, CL_DRIVER_VERSION, info->driver, sizeof info->driver);
    cl_device_type type = 0;
    cl_uint cu = 0;
    cl_ulong mem = 0, alloc = 0;
    cl_device_fp_config fp64 = 0;
    clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_COMPUTE_UNITS, sizeof cu, &cu, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_GLOBAL_MEM_SIZE, sizeof mem, &mem, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, sizeof alloc, &alloc, NULL);
    clGetDeviceInfo(dev, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof fp64, &fp64, NULL);
    info->type = (type & CL_DEVICE_TYPE_GPU)           ? CLANN_DEVICE_TYPE_GPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? CLANN_DEVICE_TYPE_ACCELERATOR
                 : (type & CL_DEVICE_TYPE_CPU)         ? CLANN_DEVICE_TYPE_CPU
                                                       : CLANN_DEVICE_TYPE_OTHER;
    info->compute_units = cu;
    info->global_memory = mem;
    info->max_allocation = alloc;
    info->fp64 = fp64 != 0;
    cl_bool unified = CL_FALSE;
    clGetDeviceInfo(dev, CL_DEVICE_HOST_UNIFIED_MEMORY, sizeof unified, &unified, NULL);
    info->unified_memory = unified == CL_TRUE;
}

enum clann_status clann__opencl_devices_append(struct clann_device_info **list, size_t *count,
                                        const char **why)
{
    enum clann_status st = CLANN_OK;
    cl_platform_id *platforms = NULL;
    cl_device_id *devices = NULL;
    cl_uint np = 0;
    size_t added = 0;
    const char *reason = NULL;

    cl_int err = clGetPlatformIDs(0, NULL, &np);
    if (err == CL_PLATFORM_NOT_FOUND_KHR || (err == CL_SUCCESS && np == 0)) {
        reason = "no OpenCL platform found: clGetPlatformIDs reports no installed ICD "
                 "(CL_PLATFORM_NOT_FOUND_KHR); install an OpenCL driver such as "
                 "pocl-opencl-icd or check OCL_ICD_VENDORS";
        goto cleanup;
    }
    if (err != CL_SUCCESS) {
        reason = "no OpenCL platform usable: clGetPlatformIDs failed";
        goto cleanup;
    }
    platforms = clann__calloc(np, sizeof *platforms);
    if (!platforms) {
        st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "listing OpenCL devices: out of memory");
        goto cleanup;
    }
    if (clGetPlatformIDs(np, platforms, NULL) != CL_SUCCESS) {
        reason = "no OpenCL platform usable: clGetPlatformIDs failed";
        goto cleanup;
    }
    for (cl_uint p = 0; p < np; p++) {
        cl_uint nd = 0;
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &nd) != CL_SUCCESS ||
            nd == 0)
            continue;
        clann__free(devices);
        devices = clann__calloc(nd, sizeof *devices);
        if (!devices) {
            st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "listing OpenCL devices: out of memory");
            goto cleanup;
        }
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, nd, devices, NULL) != CL_SUCCESS)
            continue;
        struct clann_device_info *grown = clann__realloc(*list, (*count + nd) * sizeof **list);
        if (!grown) {
            st = clann__error(NULL, CLANN_ERR_NO_MEMORY, "listing OpenCL devices: out of memory");
            goto cleanup;
        }
        *list = grown;
        for (cl_uint d = 0; d < nd; d++)
            fill_device_info(platforms[p], devices[d], (int)p, (int)d, &(*list)[(*count)++]);
        added += nd;
    }
    if (added == 0)
        reason = "OpenCL platforms found, but none has a device";
cleanup:
    if (why)
        *why = reason;
    clann__free(devices);
    clann__free(platforms);
    return st;
}

