/*
 * tfevents.h - a TensorBoard event-file writer with no protobuf runtime (internal).
 *
 * The file is a TFRecord stream: each record is a uint64 little-endian length, the masked
 * CRC32C of those 8 bytes (uint32 LE), the data, and the masked CRC32C of the data, where
 * mask(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8. Each record's data is a serialized
 * tensorflow.Event: wall_time (field 1, double), step (2, int64), file_version (3, string,
 * "brain.Event:2" in the first record only) and summary (5, Summary { repeated Value value = 1 }
 * with Value { string tag = 1; float simple_value = 2 }).
 */
#ifndef CLANN_IO_TFEVENTS_H
#define CLANN_IO_TFEVENTS_H

#include "core/internal.h"

#include <stdint.h>

struct clann_tfevents;

/* Creates logdir (and its parents) when missing and opens a new event file in it named
 * events.out.tfevents.<unix time>.<hostname> (".<k>" is appended when that name exists),
 * then writes the file_version record. *out is NULL on failure. Statuses: ERR_INVALID_ARG,
 * ERR_IO (naming the path and the system error), ERR_NO_MEMORY. */
enum clann_status clann__tfevents_open(const char *logdir, struct clann_tfevents **out);

/* The path of the open file, owned by w. */
const char *clann__tfevents_path(const struct clann_tfevents *w);

/* Appends one scalar summary event. wall_time is in seconds since the Unix epoch; a negative
 * value stands for now. Statuses: ERR_INVALID_ARG (NULL writer, NULL or empty tag), ERR_IO,
 * ERR_NO_MEMORY. */
enum clann_status clann__tfevents_scalar(struct clann_tfevents *w, const char *tag, int64_t step,
                                         double wall_time, float value);

/* Pushes buffered records to the file. ERR_IO. */
enum clann_status clann__tfevents_flush(struct clann_tfevents *w);

/* Flushes, closes and frees w (NULL is a no-op returning CLANN_OK). w is freed even when the
 * close fails with ERR_IO. */
enum clann_status clann__tfevents_close(struct clann_tfevents *w);

/* CRC32C (Castagnoli, reflected polynomial 0x82f63b78) of n bytes. */
uint32_t clann__crc32c(const void *data, size_t n);

#endif /* CLANN_IO_TFEVENTS_H */
