/* A growable byte buffer, for building strings and file images. */
#ifndef SHELF_CORE_BUF_H
#define SHELF_CORE_BUF_H

#include <stddef.h>

typedef struct buf {
    char *data;
    size_t len, cap;
    int oom; /* set once an allocation failed; later appends do nothing */
} buf;

void buf_init(buf *b);
/* Room for extra more bytes and a NUL: 0, or -1 with oom set when out of memory. */
int buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *p, size_t n);
void buf_puts(buf *b, const char *s);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with its control characters (below 0x20, and 0x7f) as \xNN: text from a file
 * (a label, a column name) shown on a terminal must not carry escape sequences. */
void buf_put_escaped(buf *b, const char *s);
/* Returns the NUL-terminated contents, which the caller frees; NULL after an allocation
 * failure. The buffer is left empty. */
char *buf_detach(buf *b);
void buf_free(buf *b);

#endif
