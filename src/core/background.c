#include "core/background.h"

#include <pthread.h>

#include "core/mem.h"

struct background {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    void (*fn)(void *ctx); /* the job to run; NULL: none waiting */
    void *ctx;
    int running, quit;
};

static void *helper(void *arg)
{
    background *b = arg;
    pthread_mutex_lock(&b->mu);
    for (;;) {
        while (!b->fn && !b->quit)
            pthread_cond_wait(&b->changed, &b->mu);
        if (!b->fn)
            break; /* quit, with nothing left to run */
        void (*fn)(void *) = b->fn;
        void *ctx = b->ctx;
        b->fn = NULL;
        pthread_mutex_unlock(&b->mu);
        fn(ctx);
        pthread_mutex_lock(&b->mu);
        b->running = 0;
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

background *background_new(void)
{
    background *b = mem_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->changed, NULL);
    if (pthread_create(&b->thread, NULL, helper, b)) {
        pthread_cond_destroy(&b->changed);
        pthread_mutex_destroy(&b->mu);
        mem_free(b);
        return NULL;
    }
    return b;
}

/* Holding the lock: until no job runs. */
static void until_idle(background *b)
{
    while (b->running)
        pthread_cond_wait(&b->changed, &b->mu);
}

void background_wait(background *b)
{
    pthread_mutex_lock(&b->mu);
    until_idle(b);
    pthread_mutex_unlock(&b->mu);
}

void background_start(background *b, void (*fn)(void *ctx), void *ctx)
{
    pthread_mutex_lock(&b->mu);
    until_idle(b);
    b->fn = fn;
    b->ctx = ctx;
    b->running = 1;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
}

void background_free(background *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&b->mu);
    until_idle(b);
    b->quit = 1;
    pthread_cond_broadcast(&b->changed);
    pthread_mutex_unlock(&b->mu);
    pthread_join(b->thread, NULL);
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->mu);
    mem_free(b);
}
