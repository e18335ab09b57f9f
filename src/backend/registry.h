/*
 * registry.h - the devices of every backend, selection by a selector string, and creation of
 * the backend for a device (registry.c). The context (context.c) goes through these alone.
 */
#ifndef CLANN_BACKEND_REGISTRY_H
#define CLANN_BACKEND_REGISTRY_H

#include "backend/backend.h"

/* The device a selector names ("auto", "cpu", "opencl", "opencl:P:D" or a name substring).
 * "auto" logs its choice and the reason. Statuses: ERR_NO_DEVICE, ERR_INVALID_ARG (a
 * malformed selector), ERR_NO_MEMORY; the message is the thread's (no context yet). */
enum clann_status clann__registry_select(const char *sel, struct clann_device_info *out);

/* A selector list, "opencl:0:0,opencl:0:1": the entry of this process's local rank in a
 * parallel job (rank L takes entry L mod k; 0 alone) into one[size], *sel pointed at it; a
 * single selector is left as it is. ERR_INVALID_ARG for an empty or overlong entry. */
enum clann_status clann__registry_local_entry(const char **sel, char *one, size_t size);

/* Sets rank and note on every entry of a device list whose first entry is the CPU backend
 * (clann_device_info's rank: discrete GPU, integrated GPU, accelerator, then memory and compute
 * units; simulators, emulators, duplicates and OpenCL CPU devices get 0); returns the entry
 * ranked first and sets *why (a static string; left as it is when there is no OpenCL device). */
size_t clann__registry_rank(struct clann_device_info *list, size_t count, const char **why);

/* Auto's candidates in the order it tries them (rank 1 first, the CPU backend last), as
 * *count entries of *out (free with clann__free). */
enum clann_status clann__registry_auto_order(struct clann_device_info **out, size_t *count);

/* Creates the backend of a device that clann__registry_select() returned. */
enum clann_status clann__registry_create(struct clann_context *ctx,
                                         const struct clann_device_info *dev,
                                         const struct clann_context_params *p,
                                         struct clann_backend **out);

#endif /* CLANN_BACKEND_REGISTRY_H */
