/*
 * csv_reader.h - the one RFC 4180 record reader behind the numeric CSV loader (csv.c) and the
 * typed table loader (table.c). Internal: the loaders own what a field means; the reader only
 * splits a file into records of text fields.
 *
 * Quoted fields may hold delimiters, doubled quotes and line ends; LF, CRLF and a lone CR all
 * end a line; blank lines are skipped; a leading UTF-8 byte order mark is skipped. Only the
 * current record is held in memory. Rows are 1-based line numbers of a record's first line
 * (a quoted line end moves later records down, as an editor shows them); columns are 1-based.
 */
#ifndef CLANN_CSV_READER_H
#define CLANN_CSV_READER_H

#include "core/internal.h"

struct clann__csv_reader;

/* Opens path for reading records whose fields are split by delimiter (not a quote, line end
 * or NUL: the loaders check it, each with its own message). */
enum clann_status clann__csv_reader_open(const char *path, char delimiter,
                                         struct clann__csv_reader **out);

/* Reads the next record; *got is false at the end of the file. The fields stay valid until the
 * next read or the close. */
enum clann_status clann__csv_read_record(struct clann__csv_reader *r, bool *got);

/* The current record: its number of fields, field i (NUL-terminated) and its 1-based row. */
size_t clann__csv_nfields(const struct clann__csv_reader *r);
const char *clann__csv_field(const struct clann__csv_reader *r, size_t i);
size_t clann__csv_row(const struct clann__csv_reader *r);

/* Sets the loaders' shared "PATH: out of memory at row N" error and returns its status. */
enum clann_status clann__csv_no_memory(const struct clann__csv_reader *r);

/* Closes the file and frees r; NULL is ignored. */
void clann__csv_reader_close(struct clann__csv_reader *r);

#endif /* CLANN_CSV_READER_H */
