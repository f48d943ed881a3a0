/* The record parser for CSV (RFC 4180) and TSV.
 *
 * CSV: fields separated by ',', optionally quoted with '"'; a quoted field may hold
 * commas, doubled quotes and line breaks, so a record can span lines. A quote inside an
 * unquoted field is kept literally (as Python's csv does), but anything other than a
 * separator or the line end after a closing quote makes the record bad.
 * TSV: fields separated by tabs, no quoting; a record is exactly one line.
 * Both accept LF and CRLF line endings and skip blank lines. */
#ifndef SHELF_IO_CSV_H
#define SHELF_IO_CSV_H

#include <stddef.h>

#include "core/buf.h"
#include "io/lines.h"

/* One record's fields, reused from record to record so that reading allocates only while
 * records grow. */
typedef struct record {
    buf data;      /* the field values back to back, each followed by a NUL */
    size_t *start; /* where each field starts in data */
    int n, cap;    /* fields, and room in start */
    long line;     /* the line the record starts on */
} record;

typedef struct csv_parser {
    char sep;
    int quoting;              /* 0 for TSV: quotes are ordinary characters */
    int expected;             /* fields each record must have; 0: any (the header) */
    const char *const *names; /* column names for messages; NULL while reading the header */
} csv_parser;

typedef enum { CSV_OK, CSV_END, CSV_BAD, CSV_RUNAWAY, CSV_EIO, CSV_ENOMEM } csv_status;

/* Reads the next non-blank record into rec. CSV_BAD: why (whysz bytes) says what is wrong,
 * rec->line where the record starts, and the input is positioned after the bad record (its
 * quotes followed to its real end, so that no line inside a quoted field is taken for a
 * record) so that reading can go on. CSV_RUNAWAY: as CSV_BAD, but the record's end was not
 * found within LINES_SKIP_MAX bytes (or in->skip_long is 0 and a line passed LINES_MAX):
 * nothing more can be read. CSV_EIO: in->error holds the errno. */
csv_status csv_next(const csv_parser *p, lines *in, record *rec, char *why, size_t whysz);

/* Field i of rec, NUL-terminated; its length in *len when len is not NULL. */
char *record_field(const record *rec, int i, size_t *len);
void record_free(record *rec);

#endif
