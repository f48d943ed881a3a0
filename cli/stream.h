/* A catalog read as a stream of batches, for the commands that go through it once (predict,
 * embed): batch i is handled while a second thread reads batch i + 1, so reading takes no
 * turn of its own, and a catalog of millions of rows is never held whole. A progress line
 * on a terminal, and notes that go after it. */
#ifndef SHELF_CLI_STREAM_H
#define SHELF_CLI_STREAM_H

#include <stddef.h>

#include "shelf.h"

/* Products read at a time. */
enum { BATCH = 8192 };

typedef struct batch {
    shelf_product p[BATCH];  /* strings point into strings */
    size_t at[BATCH][4];     /* offsets of each product's id, text, image, label in strings */
    char *strings;           /* the batch's strings, one after another */
    size_t len, cap;         /* of strings */
    int oom;                 /* a string did not fit: later ones are not kept */
    size_t n;
    int end;                 /* batch_fill's answer: 0 more may follow, 1 the end, -1 error */
    char why[SHELF_ERROR_MAX]; /* the error, when end is -1 */
} batch;

/* Appends s and its NUL to b->strings; returns its offset (0 once out of memory, b->oom). */
size_t batch_keep(batch *b, const char *s);

/* A line on a terminal (on: standard error is one), redrawn at most a few times a second:
 * products so far, how far into the input, and the rate. cmd names the command. */
typedef struct progress {
    const char *cmd;
    int on, shown;
    double start, last;
    long done;
} progress;

void progress_start(progress *pg, const char *cmd, int on);
void progress_show(progress *pg, shelf_reader *r, int final);
/* Prints "shelf CMD: MESSAGE" on a line of its own, after any progress line. */
void note(progress *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The catalog, batch after batch in input order, each handed to each(arg, batch) while the
 * next is read, through b[2] (zeroed; the caller frees their strings). Returns 0, each's
 * non-zero answer, or -1 after a note of the reader's error. */
int stream_batches(shelf_reader *r, batch *b, progress *pg,
                   int (*each)(void *arg, const batch *b), void *arg);

#endif
