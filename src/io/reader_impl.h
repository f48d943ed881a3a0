/* The catalog reader's insides, shared by the per-format files (dsv.c for CSV and TSV,
 * jsonl.c, fasttext.c) and reader.c, which dispatches to them and turns their raw rows
 * into products: UTF-8 checks, trimming, joining the text columns, bad-row accounting. */
#ifndef SHELF_IO_READER_IMPL_H
#define SHELF_IO_READER_IMPL_H

#include <cjson/cJSON.h>

#include "core/buf.h"
#include "io/columns.h"
#include "io/csv.h"
#include "io/field.h"
#include "io/json_array.h"
#include "io/lines.h"
#include "shelf.h"


/* One record as a format found it, before validation. The spans stay valid until the
 * format reads the next record. */
typedef struct row {
    long line;
    span id, label, image;
    span *text; /* columns.ntext of them (the reader's r->parts) */
    span *kept; /* columns.nkeep of them (r->kept_parts) */
} row;

struct shelf_reader {
    shelf_format format;
    char *name;       /* the path for messages; "<stdin>" for "-" */
    FILE *f;
    int own_f;        /* 0 for standard input, which is not closed */
    lines in;
    int require_label, skip_bad, fix_utf8, max_depth;
    long unlabelled;      /* rows without a label, when it is required and not skip_bad */
    long unlabelled_at[3]; /* the lines of the first of them */
    char *label_sep;
    columns cols;
    span *parts;      /* text spans of the current row, cols.ntext of them */
    span *kept_parts; /* its kept columns' spans, cols.nkeep of them */
    buf kept;         /* the current product's kept values, each with its NUL */
    const char **kept_at; /* cols.nkeep: each value's start in kept */
    size_t *kept_off;     /* the same as offsets, while kept grows */
    int done;         /* nothing more to read (a JSONL file of blank lines only) */

    record header, rec; /* CSV and TSV; with no_header, header is the first product */
    csv_parser csv;
    const char **names; /* header field names (into header.data, or numbers) */
    char (*numbers)[12]; /* no_header: the column names "1", "2", ... */
    int no_header;
    int from_stdin;     /* reading standard input */

    cJSON *json;       /* JSONL: the current object */
    int in_array;      /* JSONL: the input is one JSON array of objects, read by array */
    json_array array;
    char **owned;      /* JSONL: texts of the current row's non-string values */
    int nowned;
    int pending;       /* the first row, read by open, is not yet delivered (JSONL, and
                          CSV and TSV without a header) */
    row first;
    int first_bad;     /* JSONL: the first object is a bad row, for first_why */
    char first_why[512];

    buf ftlabel;       /* fastText: the label with '_' made ' ' */

    buf text, label, id, image, fixed, tmp; /* the current product's strings, and scratch */
    shelf_read_stats stats;
};

/* What a format's next-row function reports: a row, a bad row (why says what is wrong,
 * row->line where), the end, or a failure whose error is already set. */
typedef enum { ROW_OK, ROW_BAD, ROW_END, ROW_FAIL } row_status;

/* Each format reads its header (if any) and resolves the columns on open, then rows. */
shelf_status dsv_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err);
/* The next line that blank() does not reject, of a line-per-record format: ROW_OK with
 * *s, *n and *line set; ROW_END at the end; ROW_BAD (why filled) for a line over the limit;
 * ROW_FAIL (err set) when reading fails. */
row_status reader_next_line(shelf_reader *r, int (*blank)(const char *, size_t),
                            const char **s, size_t *n, long *line, char *why, size_t whysz,
                            shelf_error *err);

row_status dsv_row(shelf_reader *r, row *out, char *why, size_t whysz, shelf_error *err);
void dsv_free(shelf_reader *r);
shelf_status jsonl_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err);
row_status jsonl_row(shelf_reader *r, row *out, char *why, size_t whysz, shelf_error *err);
void jsonl_free(shelf_reader *r);
shelf_status fasttext_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err);
row_status fasttext_row(shelf_reader *r, row *out, char *why, size_t whysz,
                        shelf_error *err);
void fasttext_free(shelf_reader *r);

/* A bad row at line: under skip_bad counts it (keeping the first message) and returns
 * SHELF_OK; otherwise sets err to "FILE:LINE: why" and returns SHELF_EDATA. */
shelf_status reader_bad(shelf_reader *r, long line, const char *why, shelf_error *err);

/* The error for input that cannot be read on from (a line or record over the limit that
 * never ends): "FILE:LINE: why: stopped reading", not skipped even under skip_bad. */
shelf_status reader_runaway(shelf_reader *r, long line, const char *why, shelf_error *err);

/* The error for a failed read from r->in, as "FILE:LINE: ...". */
shelf_status reader_read_error(shelf_reader *r, line_status ls, shelf_error *err);

/* "CSV", "TSV", "JSONL" or "fastText", for messages. */
const char *io_format_name(shelf_format f);

/* The name used for path in messages: "<stdin>" for "-". */
const char *io_display_name(const char *path);

/* The format to read path with: fmt itself unless SHELF_FORMAT_AUTO. */
shelf_status io_detect_format(const char *path, shelf_format fmt, shelf_format *out,
                              shelf_error *err);

#endif
