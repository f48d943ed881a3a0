#include "stream.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

size_t batch_keep(batch *b, const char *s)
{
    size_t n = strlen(s) + 1, at = b->len;
    if (b->oom)
        return 0;
    if (at + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < at + n)
            cap *= 2;
        char *grown = realloc(b->strings, cap);
        if (!grown) {
            b->oom = 1;
            return 0;
        }
        b->strings = grown;
        b->cap = cap;
    }
    memcpy(b->strings + at, s, n);
    b->len += n;
    return at;
}

/* A monotonic clock in seconds, for the progress line. */
static double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Reads up to BATCH products; b->end says 0 (more may follow), 1 at the end, -1 on an error
 * (in b->why: this may run on another thread while the main one writes). */
static void batch_fill(batch *b, shelf_reader *r)
{
    shelf_error err = {0};
    b->n = 0;
    b->len = 0;
    b->end = 0;
    while (b->n < BATCH && !b->end) {
        shelf_product p;
        shelf_status st = shelf_reader_next(r, &p, &err);
        if (st == SHELF_END) {
            b->end = 1;
        } else if (st != SHELF_OK) {
            snprintf(b->why, sizeof b->why, "%s", err.message);
            b->end = -1;
        } else {
            b->at[b->n][0] = batch_keep(b, p.id);
            b->at[b->n][1] = batch_keep(b, p.text);
            b->at[b->n][2] = batch_keep(b, p.image ? p.image : "");
            b->at[b->n][3] = batch_keep(b, p.label ? p.label : "");
            b->p[b->n++] = (shelf_product){NULL, NULL, "", NULL, p.line, NULL, 0};
        }
    }
    if (b->oom) {
        snprintf(b->why, sizeof b->why, "out of memory");
        b->end = -1;
        return;
    }
    for (size_t i = 0; i < b->n; i++) { /* the strings have stopped moving */
        b->p[i].id = b->strings + b->at[i][0];
        b->p[i].text = b->strings + b->at[i][1];
        b->p[i].image = b->strings + b->at[i][2];
        b->p[i].label = b->strings + b->at[i][3];
    }
}

typedef struct fill_arg {
    batch *b;
    shelf_reader *r;
} fill_arg;

static void *fill_thread(void *arg)
{
    fill_arg *a = arg;
    batch_fill(a->b, a->r);
    return NULL;
}


void note(progress *pg, const char *fmt, ...)
{
    if (pg->shown)
        fputc('\n', stderr);
    pg->shown = 0;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "shelf %s: ", pg->cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void progress_show(progress *pg, shelf_reader *r, int final)
{
    double now = now_sec();
    if (!pg->on || (!final && now - pg->last < 0.25))
        return;
    pg->last = now;
    pg->shown = !final;
    uint64_t at, total;
    shelf_reader_progress(r, &at, &total);
    char share[16] = "";
    if (total)
        snprintf(share, sizeof share, "  %3.0f%%", 100.0 * (double)at / (double)total);
    fprintf(stderr, "\rshelf %s: %ld products%s  %.0f products/s%s", pg->cmd, pg->done, share,
            pg->done / (now - pg->start > 1e-9 ? now - pg->start : 1e-9), final ? "\n" : "");
    fflush(stderr);
}

void progress_start(progress *pg, const char *cmd, int on)
{
    *pg = (progress){.cmd = cmd, .on = on, .start = now_sec()};
}

int stream_batches(shelf_reader *r, batch *b, progress *pg,
                   int (*each)(void *arg, const batch *b), void *arg)
{
    batch_fill(&b[0], r);
    for (int cur = 0;; cur ^= 1) {
        batch *now = &b[cur], *next = &b[cur ^ 1];
        if (now->end < 0) {
            note(pg, "%s", now->why);
            return -1;
        }
        fill_arg fa = {next, r};
        pthread_t t;
        int reading = !now->end && pthread_create(&t, NULL, fill_thread, &fa) == 0;
        int rc = each(arg, now);
        pg->done += (long)now->n;
        if (reading)
            pthread_join(t, NULL);
        else if (!now->end && rc == 0) /* no second thread: read in turn */
            batch_fill(next, r);
        progress_show(pg, r, 0); /* the reader is ours again */
        if (rc || now->end)
            return rc;
    }
}
