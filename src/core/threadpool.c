#include "core/threadpool.h"
#include "core/mem.h"

#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

enum { POOL_MAX_THREADS = 64 };

struct thread_pool {
    int n; /* threads in the team, the caller included */
    pthread_t tid[POOL_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    pool_fn fn;
    void *ctx;
    unsigned long generation; /* bumped per run, so a worker runs each job once */
    int pending;              /* workers still running the current job */
    int quit;
};

typedef struct worker_arg {
    thread_pool *p;
    int tid;
} worker_arg;

static void *worker(void *arg)
{
    thread_pool *p = ((worker_arg *)arg)->p;
    int tid = ((worker_arg *)arg)->tid;
    mem_free(arg);
    unsigned long seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->quit && p->generation == seen)
            pthread_cond_wait(&p->go, &p->mu);
        if (p->quit)
            break;
        seen = p->generation;
        pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, tid, p->n);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0)
            pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int pool_cores(void)
{
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

thread_pool *pool_new(int threads)
{
    if (threads <= 0)
        threads = pool_cores();
    if (threads > POOL_MAX_THREADS)
        threads = POOL_MAX_THREADS;
    thread_pool *p = mem_calloc(1, sizeof *p);
    if (!p)
        return NULL;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->go, NULL);
    pthread_cond_init(&p->done, NULL);
    p->n = 1;
    for (int t = 1; t < threads; t++) {
        worker_arg *a = mem_alloc(sizeof *a);
        if (!a)
            break;
        *a = (worker_arg){p, t};
        if (pthread_create(&p->tid[t], NULL, worker, a) != 0) {
            mem_free(a);
            break;
        }
        p->n++;
    }
    return p;
}

int pool_threads(const thread_pool *p) { return p->n; }

void pool_run(thread_pool *p, pool_fn fn, void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->pending = p->n - 1;
    p->generation++;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0, p->n);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0)
        pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

void pool_free(thread_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->go);
    pthread_mutex_unlock(&p->mu);
    for (int t = 1; t < p->n; t++)
        pthread_join(p->tid[t], NULL);
    pthread_cond_destroy(&p->go);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    mem_free(p);
}

void pool_split(size_t n, int tid, int nthreads, size_t *begin, size_t *end)
{
    *begin = n * (size_t)tid / (size_t)nthreads;
    *end = n * (size_t)(tid + 1) / (size_t)nthreads;
}
