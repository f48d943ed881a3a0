#include "serve/batcher.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/mem.h"

struct batcher {
    pthread_mutex_t mu;
    pthread_cond_t wake;
    pthread_t thread;
    image_job *head, *tail;  /* submitted, not yet taken */
    long queued;             /* products reserved or submitted, not yet taken */
    long max_queue;
    size_t max_call;
    int quit;
    /* the combined call's arrays, reused */
    shelf_product *products;
    int *labels, *counts;
    float *probs;
    unsigned char *used;
    size_t cap_products, cap_labels, cap_counts, cap_probs, cap_used;
};

int batcher_reserve(batcher *b, size_t n)
{
    pthread_mutex_lock(&b->mu);
    int ok = b->queued == 0 || b->queued + (long)n <= b->max_queue;
    if (ok)
        b->queued += (long)n;
    pthread_mutex_unlock(&b->mu);
    return ok ? 0 : -1;
}

void batcher_submit(batcher *b, image_job *j)
{
    j->next = NULL;
    pthread_mutex_lock(&b->mu);
    if (b->tail)
        b->tail->next = j;
    else
        b->head = j;
    b->tail = j;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->mu);
}

long batcher_queued(batcher *b)
{
    pthread_mutex_lock(&b->mu);
    long n = b->queued;
    pthread_mutex_unlock(&b->mu);
    return n;
}

/* After the call, j's share of what the predictor kept of it (at: j's first product in the
 * call): the fusion weights, and each of j's products that was given image bytes the model
 * could not use, or that left the model nothing to read (a fused model's product with no
 * usable image and no word it knows), which makes the job a bad request. */
static void finish_job(image_job *j, const shelf_predictor *p, size_t at)
{
    for (size_t i = 0; j->fusion && i < j->n; i++)
        shelf_predictor_fusion(p, at + i, j->fusion + 2 * i);
    j->bad_image = -1;
    for (size_t i = 0; i < j->n; i++)
        if ((j->products[i].image_data && !(j->used[i] & SHELF_USED_IMAGE)) ||
            j->counts[i] < 0) {
            const char *why = shelf_predictor_image_error(p, at + i);
            snprintf(j->message, sizeof j->message, "%s",
                     why ? why : "the image could not be used");
            j->bad_image = (long)i;
            return;
        }
}

void image_job_run(image_job *j)
{
    shelf_error err = {0};
    shelf_predict_stats st;
    j->status = shelf_predictor_run(j->predictor, "-", j->products, j->n, j->kq, j->labels,
                                    j->probs, j->counts, j->used, &st, &err);
    if (j->status != SHELF_OK)
        memcpy(j->message, err.message, sizeof j->message);
    else
        finish_job(j, j->predictor, 0);
}

static int reserve_arrays(batcher *b, size_t n, int kq)
{
    size_t nk = n * (size_t)kq;
    return grow_array((void **)&b->products, &b->cap_products, n, sizeof *b->products, 64) ||
           grow_array((void **)&b->labels, &b->cap_labels, nk, sizeof *b->labels, 64) ||
           grow_array((void **)&b->probs, &b->cap_probs, nk, sizeof *b->probs, 64) ||
           grow_array((void **)&b->counts, &b->cap_counts, n, sizeof *b->counts, 64) ||
           grow_array((void **)&b->used, &b->cap_used, n, sizeof *b->used, 64);
}

/* Jobs first..(NULL) of one model through one call; each gets its share of the answers. */
static void run_many(batcher *b, image_job *first, size_t n, int kq)
{
    if (reserve_arrays(b, n, kq)) { /* no room to combine: one call each */
        for (image_job *j = first; j; j = j->next)
            image_job_run(j);
        return;
    }
    size_t at = 0;
    for (image_job *j = first; j; j = j->next) {
        memcpy(b->products + at, j->products, j->n * sizeof *j->products);
        at += j->n;
    }
    shelf_error err = {0};
    shelf_predict_stats st;
    shelf_status s = shelf_predictor_run(first->predictor, "-", b->products, n, kq, b->labels,
                                         b->probs, b->counts, b->used, &st, &err);
    at = 0;
    for (image_job *j = first; j; at += j->n, j = j->next) {
        j->status = s;
        if (s != SHELF_OK) {
            memcpy(j->message, err.message, sizeof j->message);
            continue;
        }
        for (size_t i = 0; i < j->n; i++) {
            size_t kk = (size_t)j->kq, from = at + i;
            memcpy(j->labels + i * kk, b->labels + from * (size_t)kq, kk * sizeof *j->labels);
            memcpy(j->probs + i * kk, b->probs + from * (size_t)kq, kk * sizeof *j->probs);
            j->counts[i] = b->counts[from] < j->kq ? b->counts[from] : j->kq;
            j->used[i] = b->used[from];
        }
        finish_job(j, first->predictor, at);
    }
}

/* Takes the jobs at the head that share its model, up to max_call products; the list is
 * NULL-terminated. Called locked. */
static image_job *take(batcher *b, size_t *n, int *kq)
{
    image_job *first = b->head, *last = first;
    *n = first->n;
    *kq = first->kq;
    while (last->next && last->next->predictor == first->predictor &&
           *n + last->next->n <= b->max_call) {
        last = last->next;
        *n += last->n;
        *kq = last->kq > *kq ? last->kq : *kq;
    }
    b->head = last->next;
    if (!b->head)
        b->tail = NULL;
    last->next = NULL;
    b->queued -= (long)*n;
    return first;
}

static void *run(void *arg)
{
    batcher *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->head && !b->quit)
            pthread_cond_wait(&b->wake, &b->mu);
        if (!b->head)
            break;
        size_t n;
        int kq;
        image_job *jobs = take(b, &n, &kq);
        pthread_mutex_unlock(&b->mu);
        if (!jobs->next)
            image_job_run(jobs);
        else
            run_many(b, jobs, n, kq);
        for (image_job *j = jobs, *next; j; j = next) {
            next = j->next; /* j belongs to its request again once done */
            j->done(j);
        }
        pthread_mutex_lock(&b->mu);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

batcher *batcher_new(long max_queue, size_t max_call)
{
    batcher *b = mem_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->wake, NULL);
    b->max_queue = max_queue;
    b->max_call = max_call;
    if (pthread_create(&b->thread, NULL, run, b) != 0) {
        pthread_mutex_destroy(&b->mu);
        pthread_cond_destroy(&b->wake);
        mem_free(b);
        return NULL;
    }
    return b;
}

void batcher_free(batcher *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    b->quit = 1;
    pthread_cond_signal(&b->wake);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_mutex_destroy(&b->mu);
    pthread_cond_destroy(&b->wake);
    mem_free(b->products);
    mem_free(b->labels);
    mem_free(b->probs);
    mem_free(b->counts);
    mem_free(b->used);
    mem_free(b);
}
