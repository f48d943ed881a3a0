/* A product's strings made from its fields as they were found: UTF-8 checked (or repaired),
 * trimmed of white space, and its text fields joined. The catalog readers and the server
 * both build products with these, so that a product gets the same text, and so the same
 * prediction, from shelf predict as from shelf serve. */
#ifndef SHELF_IO_FIELD_H
#define SHELF_IO_FIELD_H

#include <stddef.h>

#include "core/buf.h"

/* Bytes of a field as found in the input, not NUL-terminated. p == NULL: absent. */
typedef struct span {
    const char *p;
    size_t n;
} span;

/* s without the white space (space, tab, CR, LF, VT, FF) at either end. */
span field_trim(span s);

/* Appends field s, trimmed, to out. Invalid UTF-8: with fix (a scratch buffer) it becomes
 * U+FFFD and counts in *fixed; without (NULL), returns 1 with *bad_at the byte where the
 * invalid UTF-8 starts and appends nothing. Else 0; a failed allocation is left in the
 * buffers' oom marks, for the caller to check once. */
int field_append(buf *out, span s, buf *fix, long *fixed, size_t *bad_at);

/* Sets out to the text of the fields f[0..n) (absent ones have p NULL), NUL-terminated:
 * each as field_append makes it, joined by single spaces, the empty ones left out. Returns
 * 0, or i + 1 when field i holds invalid UTF-8 and fix is NULL (*bad_at as above). */
int field_join_text(buf *out, const span *f, int n, buf *fix, long *fixed, size_t *bad_at);

#endif
