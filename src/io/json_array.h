/* A JSON document holding an array of objects ([{...}, {...}]), read one element at a time
 * so that a catalog of millions is never parsed whole: each element's text is cut out by
 * following strings and brackets, then parsed on its own as a JSONL line would be. */
#ifndef SHELF_IO_JSON_ARRAY_H
#define SHELF_IO_JSON_ARRAY_H

#include <stddef.h>

#include "core/buf.h"
#include "io/lines.h"

typedef struct json_array {
    int state;   /* where the scanner stands: before '[', between elements, inside one, done */
    int depth, in_string, escape;
    long index;  /* elements returned so far */
    buf elem;    /* the current element's text */
} json_array;

typedef enum { JA_OK, JA_END, JA_FAIL } json_array_status;

/* 1 when the input (after white space and a byte order mark) starts with '['. */
int json_array_starts(lines *in);

/* The next element: JA_OK with its text in *s, *n (valid until the next call), the line it
 * starts on in *line and its index from 0 in a->index - 1; JA_END after ']'; JA_FAIL with
 * why set when the document is not an array of values (nothing more can be read), and
 * also when reading fails (in->error set, why empty) or memory runs out (why empty).
 * in->lineno counts the line breaks passed, so read errors name the right line. */
json_array_status json_array_next(json_array *a, lines *in, const char **s, size_t *n,
                                  long *line, char *why, size_t whysz);
void json_array_free(json_array *a);

#endif
