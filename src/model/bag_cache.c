#include "model/bag_cache.h"

#include "core/mem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct vc_job {
    const bag_encoder *bag;
    const char *const *texts;
    size_t from, to;
    uint64_t *off; /* shared; this job writes off[from+1 .. to] relative to its block */
    sparse_vec block; /* this job's vectors back to back */
    atomic_size_t *total; /* shared: entries cached by every job so far */
    size_t limit;         /* entries the budget allows */
    int failed, over;
} vc_job;

static void *vc_run(void *arg)
{
    vc_job *j = arg;
    vec_scratch vs;
    sparse_vec x = {0};
    if (vec_scratch_init(&vs, j->bag->nrows)) {
        j->failed = 1;
        vec_scratch_free(&vs);
        return NULL;
    }
    size_t used = 0;
    for (size_t i = j->from; i < j->to && !j->failed; i++) {
        const char *t = j->texts[i];
        if (bag_vectorize(j->bag, &vs, &x, t, strlen(t), NULL, 0) ||
            sparse_vec_reserve(&j->block, used + x.n + 1)) {
            j->failed = 1;
            break;
        }
        if (x.n) { /* an empty text may leave x without arrays */
            memcpy(j->block.rows + used, x.rows, x.n * sizeof *x.rows);
            memcpy(j->block.vals + used, x.vals, x.n * sizeof *x.vals);
        }
        used += x.n;
        j->off[i + 1] = used;
        if (atomic_fetch_add_explicit(j->total, x.n, memory_order_relaxed) + x.n > j->limit) {
            j->over = 1; /* the first products were shorter than the rest: give up caching */
            break;
        }
    }
    j->block.n = used;
    sparse_vec_free(&x);
    vec_scratch_free(&vs);
    return NULL;
}

/* Average nonzeros of the first products, to predict the cache's size. */
static double sample_nnz(const bag_encoder *m, const char *const *texts, size_t n)
{
    vec_scratch vs;
    sparse_vec x = {0};
    size_t k = n < 2000 ? n : 2000, total = 0;
    if (vec_scratch_init(&vs, m->nrows) == 0)
        for (size_t i = 0; i < k; i++) {
            const char *t = texts[i];
            if (bag_vectorize(m, &vs, &x, t, strlen(t), NULL, 0) == 0)
                total += x.n;
        }
    sparse_vec_free(&x);
    vec_scratch_free(&vs);
    return k ? (double)total / (double)k : 0;
}

static int vc_concat(vcache *c, vc_job *jobs, int threads, size_t n)
{
    size_t total = 0;
    for (int t = 0; t < threads; t++)
        total += jobs[t].block.n;
    c->rows = mem_alloc((total + 1) * sizeof *c->rows);
    c->vals = mem_alloc((total + 1) * sizeof *c->vals);
    if (!c->rows || !c->vals)
        return -1;
    size_t base = 0;
    for (int t = 0; t < threads; t++) {
        vc_job *j = &jobs[t];
        if (j->block.n) { /* a job without rows (more threads than rows) has no block */
            memcpy(c->rows + base, j->block.rows, j->block.n * sizeof *c->rows);
            memcpy(c->vals + base, j->block.vals, j->block.n * sizeof *c->vals);
        }
        for (size_t i = j->from + 1; i <= j->to; i++)
            c->off[i] += base;
        base += j->block.n;
        sparse_vec_free(&j->block);
    }
    c->off[0] = 0;
    (void)n;
    return 0;
}

int vcache_build(vcache *c, const bag_encoder *m, const char *const *texts, size_t n,
                 int threads, size_t budget)
{
    memset(c, 0, sizeof *c);
    if (sample_nnz(m, texts, n) * (double)n * 8.0 > (double)budget)
        return 0;
    if (threads > 64)
        threads = 64;
    c->off = mem_calloc(n + 1, sizeof *c->off);
    if (!c->off)
        return -1;
    vc_job jobs[64];
    pthread_t tid[64];
    atomic_size_t total = 0;
    int failed = 0, over = 0;
    for (int t = 0; t < threads; t++) {
        jobs[t] = (vc_job){m, texts, n * (size_t)t / (size_t)threads,
                           n * (size_t)(t + 1) / (size_t)threads, c->off, {0}, &total,
                           budget / 8, 0, 0};
        if (pthread_create(&tid[t], NULL, vc_run, &jobs[t]))
            tid[t] = 0, vc_run(&jobs[t]);
    }
    for (int t = 0; t < threads; t++) {
        if (tid[t])
            pthread_join(tid[t], NULL);
        failed |= jobs[t].failed;
        over |= jobs[t].over;
    }
    if (!failed && !over && vc_concat(c, jobs, threads, n) == 0)
        return 1;
    for (int t = 0; t < threads; t++)
        sparse_vec_free(&jobs[t].block);
    vcache_free(c);
    return over && !failed ? 0 : -1;
}

void vcache_free(vcache *c)
{
    mem_free(c->off);
    mem_free(c->rows);
    mem_free(c->vals);
    memset(c, 0, sizeof *c);
}
