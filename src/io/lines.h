/* A buffered reader of physical lines from a FILE*, the bottom layer of every catalog
 * format. A line longer than LINES_MAX is never held in memory: it is skipped (when the
 * reader skips bad rows) up to LINES_SKIP_MAX, and past that reading stops, so that
 * input without line breaks (/dev/zero, a binary file) fails instead of being read
 * forever. */
#ifndef SHELF_IO_LINES_H
#define SHELF_IO_LINES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

#include "core/buf.h"

/* The longest line (and CSV record) accepted: 16 MiB, not counting the line ending. */
#define LINES_MAX ((size_t)16 << 20)
/* The longest bad line (and CSV record) skipped whole under skip_bad: 64 MiB. */
#define LINES_SKIP_MAX (4 * LINES_MAX)

typedef struct lines {
    gzFile gz;        /* reads gzip-compressed input, and any other input as it is */
    char *chunk;      /* read buffer; unread bytes are chunk[pos..end) */
    size_t pos, end;
    buf line;         /* assembles the lines that straddle two reads */
    long lineno;      /* number of the line last returned, from 1 */
    int eof;          /* the FILE reported end of input: never read again */
    int error;        /* errno of a failed read, else 0 */
    char zerror[96];  /* what zlib said of bad compressed data, when it failed the read */
    int skip_long;    /* skip lines over LINES_MAX (up to LINES_SKIP_MAX); 0: stop at once */
    /* When set, sees every byte of a skipped line, in order: a CSV parser follows its
     * quotes, to know whether the record goes on after it. */
    void (*skipped)(void *ctx, const char *s, size_t n);
    void *skipped_ctx;
    uint64_t at;      /* the input's offset of chunk[end] (a plain file's bytes read) */
    uint64_t limit;   /* 0: none; else nothing at or past this offset is read (a part) */
} lines;

typedef enum { LINE_OK, LINE_EOF, LINE_TOOLONG, LINE_RUNAWAY, LINE_EIO, LINE_ENOMEM } line_status;

/* Prepares l; lines_attach then gives it its input. Returns -1 when out of memory. */
int lines_init(lines *l);
/* Reads from a duplicate of fd, decompressing it when it starts as gzip does: the caller
 * keeps fd. Returns -1 (errno set) when that fails. */
int lines_attach(lines *l, int fd);
void lines_free(lines *l);

/* Why the last read failed: zlib's message for bad compressed data, else the errno's. */
const char *lines_error_text(const lines *l);

/* Bytes of the underlying file consumed so far, for progress: compressed bytes for gzip. */
long long lines_offset(const lines *l);

/* A part of a plain file (not gzip): reading goes on at byte offset `from` (when it is past
 * what has been read: a later part), numbering its line `lineno` + 1, and stops at byte
 * `to` (0: the end), even inside what is read ahead already. 0, or -1 for compressed input
 * or a failed seek (l->error set). */
int lines_part(lines *l, uint64_t from, long lineno, uint64_t to);
/* The offset of the next byte to be parsed. */
static inline uint64_t lines_tell(const lines *l) { return l->at - (l->end - l->pos); }

/* Reads the next line into *s, *n: without its '\n' but with any '\r' before it, and
 * without a UTF-8 byte order mark on line 1. The bytes stay valid until the next call.
 * LINE_TOOLONG: the line (numbered l->lineno) was longer than LINES_MAX and has been
 * skipped whole. LINE_RUNAWAY: line l->lineno passed LINES_MAX (without skip_long) or
 * LINES_SKIP_MAX, and reading stopped inside it: nothing more can be read. LINE_EIO:
 * l->error holds the errno. */
line_status lines_next(lines *l, const char **s, size_t *n);

/* The bytes read ahead and not yet returned, *s[0..return value), reading a chunk when
 * there are none: the start of the input, for guessing its format. 0 at the end. */
size_t lines_peek(lines *l, const char **s);

/* Consumes n of the bytes lines_peek showed (the caller counts their line breaks). */
void lines_skip(lines *l, size_t n);

/* 1 when no byte is left to read (it may read ahead to find out), so an empty file can be
 * told apart before any line is parsed. */
int lines_at_eof(lines *l);

#endif
