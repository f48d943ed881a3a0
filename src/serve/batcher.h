/* Image classification for the server: requests waiting for the CNN queue here, and one
 * thread runs them, as many as are waiting (up to a cap) in one call of the model's
 * predictor (threads and work areas made once per model) on all the cores: a CNN is much
 * faster per image on a batch than one image at a time, and the queue is bounded so that a
 * flood is answered 503 instead of waiting without end. Each image is decoded once, there:
 * a product whose image is not usable comes back with bad_image set. */
#ifndef SHELF_SERVE_BATCHER_H
#define SHELF_SERVE_BATCHER_H

#include <stddef.h>

#include "shelf.h"

typedef struct image_job image_job;
struct image_job {
    /* given */
    shelf_predictor *predictor;     /* of the model the submitter holds until done */
    const shelf_product *products;
    size_t n;
    int kq;                         /* labels wanted per product */
    int *labels, *counts;           /* n * kq, n */
    float *probs;                   /* n * kq */
    unsigned char *used;            /* n: SHELF_USED_TEXT | SHELF_USED_IMAGE */
    float *fusion;                  /* fused models: n * 2, the weights of text and image
                                       (shelf_predictor_fusion); NULL otherwise */
    void (*done)(image_job *j);     /* called from the batcher's thread, last thing it does
                                       with j */
    void *user;
    /* filled before done */
    shelf_status status;            /* not OK: the call failed (out of memory), see message */
    long bad_image;                 /* the first product whose image_data could not be used
                                       (message says why), or -1 */
    char message[SHELF_ERROR_MAX];
    image_job *next;
};

/* Runs j at once on this thread, with its own predictor, outside any queue; fills what the
 * batcher would have, then returns (done is not called). */
void image_job_run(image_job *j);

typedef struct batcher batcher;

/* max_queue: products waiting at the most; max_call: products per call. NULL when out of
 * memory or the thread cannot start. */
batcher *batcher_new(long max_queue, size_t max_call);
/* Makes room for n products: 0, or -1 when the queue is full (a lone request larger than
 * the queue is let in when the queue is empty). Then batcher_submit must follow. */
int batcher_reserve(batcher *b, size_t n);
void batcher_submit(batcher *b, image_job *j);
long batcher_queued(batcher *b);
/* Runs what is queued, then stops the thread and frees. NULL does nothing. */
void batcher_free(batcher *b);

#endif
