/* Nearest neighbours (shelf_index_search): exactly, a block of queries against every
 * product by one matrix product (OpenBLAS) and a heap of the k best per query; or through
 * the HNSW graph. Queries are split over the threads, each with its own scratch. */
#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "index/hnsw.h"
#include "index/index.h"
#include "nn/blas_threads.h"

/* Scores held at a time per thread: queries in a block times the products. */
enum { SCORE_FLOATS = 1 << 22, MAX_BLOCK = 64 };

/* Whether (sa, ra) ranks below (sb, rb): a lower score, or the same and a later row. */
static int below(float sa, long ra, float sb, long rb)
{
    return sa < sb || (sa == sb && ra > rb);
}

/* The heap of the k best so far, its root the lowest ranked. */
static void sift(long *rows, float *scores, int n, int i)
{
    for (;;) {
        int low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && below(scores[l], rows[l], scores[low], rows[low]))
            low = l;
        if (r < n && below(scores[r], rows[r], scores[low], rows[low]))
            low = r;
        if (low == i)
            return;
        float ts = scores[i];
        long tr = rows[i];
        scores[i] = scores[low], rows[i] = rows[low];
        scores[low] = ts, rows[low] = tr;
        i = low;
    }
}

/* The k best of s[n] except row skip into rows/scores, best first; returns how many. */
static int top_k(const float *s, size_t n, int k, long skip, long *rows, float *scores)
{
    int have = 0;
    for (size_t r = 0; r < n; r++) {
        if ((long)r == skip)
            continue;
        if (have < k) {
            rows[have] = (long)r;
            scores[have++] = s[r];
            if (have == k)
                for (int i = k / 2 - 1; i >= 0; i--)
                    sift(rows, scores, k, i);
        } else if (below(scores[0], rows[0], s[r], (long)r)) {
            scores[0] = s[r];
            rows[0] = (long)r;
            sift(rows, scores, k, 0);
        }
    }
    if (have < k)
        for (int i = have / 2 - 1; i >= 0; i--)
            sift(rows, scores, have, i);
    for (int m = have - 1; m > 0; m--) { /* pop the lowest to the end: best first */
        float ts = scores[0];
        long tr = rows[0];
        scores[0] = scores[m], rows[0] = rows[m];
        scores[m] = ts, rows[m] = tr;
        sift(rows, scores, m, 0);
    }
    return have;
}

typedef struct search_job {
    const shelf_index *x;
    const float *q;
    size_t nq;
    int k, exact;
    const long *skip;
    long *rows;
    float *scores;
    atomic_int failed;
} search_job;

/* Thread tid's share of the queries, a block at a time. */
static void run_exact(void *arg, int tid, int nthreads)
{
    search_job *j = arg;
    const shelf_index *x = j->x;
    size_t q0, q1, block = SCORE_FLOATS / (x->n ? x->n : 1);
    block = block < 1 ? 1 : block > MAX_BLOCK ? MAX_BLOCK : block;
    pool_split(j->nq, tid, nthreads, &q0, &q1);
    if (q0 == q1)
        return;
    float *s = mem_alloc(block * x->n * sizeof *s);
    if (!s) {
        atomic_store(&j->failed, 1);
        return;
    }
    for (size_t b0 = q0; b0 < q1; b0 += block) {
        size_t b = q1 - b0 < block ? q1 - b0 : block;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)x->n, (int)x->dim,
                    1.0f, j->q + b0 * x->dim, (int)x->dim, x->vecs, (int)x->dim, 0.0f, s,
                    (int)x->n);
        for (size_t i = 0; i < b; i++) {
            size_t qi = b0 + i, at = qi * (size_t)j->k;
            int got = top_k(s + i * x->n, x->n, j->k, j->skip ? j->skip[qi] : -1,
                            j->rows + at, j->scores + at);
            for (int r = got; r < j->k; r++) { /* fewer products than k: none */
                j->rows[at + (size_t)r] = -1;
                j->scores[at + (size_t)r] = 0;
            }
        }
    }
    mem_free(s);
}

/* Through the graph: one more than k asked, so that a query's own product can be left out. */
static void run_graph(void *arg, int tid, int nthreads)
{
    search_job *j = arg;
    const shelf_index *x = j->x;
    size_t q0, q1;
    pool_split(j->nq, tid, nthreads, &q0, &q1);
    int kk = j->k + 1 <= (int)x->n ? j->k + 1 : j->k;
    long *rows = mem_alloc((size_t)kk * sizeof *rows);
    float *scores = mem_alloc((size_t)kk * sizeof *scores);
    int ok = rows && scores;
    for (size_t qi = q0; qi < q1 && ok; qi++) {
        int got = hnsw_search(x->ann, j->q + qi * x->dim, kk, rows, scores);
        ok = got >= 0;
        long skip = j->skip ? j->skip[qi] : -1;
        size_t at = qi * (size_t)j->k;
        int n = 0;
        for (int r = 0; r < got && n < j->k; r++)
            if (rows[r] != skip) {
                j->rows[at + (size_t)n] = rows[r];
                j->scores[at + (size_t)n++] = scores[r];
            }
        for (; n < j->k; n++) {
            j->rows[at + (size_t)n] = -1;
            j->scores[at + (size_t)n] = 0;
        }
    }
    if (!ok)
        atomic_store(&j->failed, 1);
    mem_free(rows);
    mem_free(scores);
}

shelf_status shelf_index_search(const shelf_index *x, const float *queries, size_t nq, int k,
                                const long *skip, int exact, int threads, long *rows,
                                float *scores, shelf_error *err)
{
    if (!x || (nq && (!queries || !rows || !scores)))
        return err_set(err, SHELF_EINVAL, "shelf_index_search: missing argument");
    if (k < 1 || k > INDEX_MAX_K || (size_t)k > x->n)
        return err_set(err, SHELF_EINVAL, "k must be from 1 to %zu (the products in the index%s),"
                       " not %d", x->n < INDEX_MAX_K ? x->n : (size_t)INDEX_MAX_K,
                       x->n < INDEX_MAX_K ? "" : ", at most 1000", k);
    if (nq == 0)
        return SHELF_OK;
    blas_threads_off();
    if (threads <= 0)
        threads = pool_cores();
    if ((size_t)threads > nq)
        threads = (int)nq;
    thread_pool *pool = pool_new(threads);
    if (!pool)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    search_job j = {x, queries, nq, k, exact, skip, rows, scores, 0};
    pool_run(pool, exact || !x->ann ? run_exact : run_graph, &j);
    pool_free(pool);
    return atomic_load(&j.failed) ? err_set(err, SHELF_ENOMEM, "out of memory searching")
                                  : SHELF_OK;
}
