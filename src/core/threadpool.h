/* A fixed team of threads that runs one function at a time on all of them, for the many
 * short parallel phases of a dense network's step (one per layer and direction): starting
 * threads per phase would cost more than some phases take. */
#ifndef SHELF_CORE_THREADPOOL_H
#define SHELF_CORE_THREADPOOL_H

#include <stddef.h>

typedef struct thread_pool thread_pool;

/* fn(ctx, tid, nthreads) runs on threads 0..nthreads-1; thread 0 is the caller's. */
typedef void (*pool_fn)(void *ctx, int tid, int nthreads);

/* threads <= 0: all cores. Returns NULL when out of memory; a team that could not start
 * some threads runs with fewer, so a pool always works. */
thread_pool *pool_new(int threads);
int pool_threads(const thread_pool *p);
/* Runs fn on every thread of the team and returns when all are done. */
void pool_run(thread_pool *p, pool_fn fn, void *ctx);
void pool_free(thread_pool *p);

/* The share [*begin, *end) of n items that thread tid of nthreads takes. */
void pool_split(size_t n, int tid, int nthreads, size_t *begin, size_t *end);

/* All cores of the machine (at least 1). */
int pool_cores(void);

#endif
