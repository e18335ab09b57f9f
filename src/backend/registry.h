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

/* Creates the backend of a device that clann__registry_select() returned. */
enum clann_status clann__registry_create(struct clann_context *ctx,
                                         const struct clann_device_info *dev,
                                         const struct clann_context_params *p,
                                         struct clann_backend **out);

#endif /* CLANN_BACKEND_REGISTRY_H */
