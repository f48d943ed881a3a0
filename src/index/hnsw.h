/* An approximate nearest-neighbour graph (HNSW) over unit vectors, by inner product: a thin
 * C face over hnswlib (Debian's libhnswlib-dev, a C++ header library), in hnsw.cpp. C++
 * exceptions stop there and come out as statuses. hnswlib allocates with malloc and new, not
 * through core/mem.h's hook. */
#ifndef SHELF_INDEX_HNSW_H
#define SHELF_INDEX_HNSW_H

#include <stddef.h>

#include "shelf.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Links per node, the breadth of the search while building and while searching: chosen on
 * bench/embed.sh's million vectors for recall@10 >= 0.95 of exact search. */
enum { HNSW_M = 16, HNSW_EF_BUILD = 200, HNSW_EF_SEARCH = 96 };

struct hnsw;

/* A graph over vecs[n][dim] (copied), built on `threads` threads (0: all cores); one thread
 * builds the same graph every time. */
shelf_status hnsw_build(const float *vecs, size_t n, size_t dim, int m, int ef_build,
                        int threads, struct hnsw **out, shelf_error *err);
/* The k (<= n) best of q[dim] by inner product, best first, searching HNSW_EF_SEARCH (or k,
 * when more) candidates: rows and scores. Returns how many; -1 out of memory. Threads may
 * search at once. */
int hnsw_search(const struct hnsw *h, const float *q, int k, long *rows, float *scores);
/* The graph as bytes (the caller frees them with mem_free), for the index file. */
shelf_status hnsw_save(const struct hnsw *h, unsigned char **bytes, size_t *size,
                       shelf_error *err);
/* A graph from hnsw_save's bytes over n vectors of dim; every link is checked to name a
 * node of the graph, so a damaged graph is refused, never followed. */
shelf_status hnsw_load(const unsigned char *bytes, size_t size, size_t n, size_t dim,
                       struct hnsw **out, shelf_error *err);
void hnsw_free(struct hnsw *h);

#ifdef __cplusplus
}
#endif

#endif
