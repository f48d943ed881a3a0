/* The bag's input vectors of the training texts, computed once when they fit a memory
 * budget, so that epochs after the first skip tokenizing and hashing. */
#ifndef SHELF_MODEL_BAG_CACHE_H
#define SHELF_MODEL_BAG_CACHE_H

#include "model/bag_encoder.h"

typedef struct vcache {
    uint64_t *off; /* n + 1 */
    uint32_t *rows;
    float *vals;
} vcache;

/* Builds the cache with `threads` threads when its size is under budget bytes (estimated
 * first, then enforced while building; the build briefly holds about 1.5 times that).
 * Returns 1 when built, 0 when it would not fit (nothing kept), -1 out of memory. */
int vcache_build(vcache *c, const bag_encoder *m, const char *const *texts, size_t n,
                 int threads, size_t budget);
static inline void vcache_get(const vcache *c, size_t i, sparse_vec *x)
{
    x->rows = c->rows + c->off[i];
    x->vals = c->vals + c->off[i];
    x->n = (size_t)(c->off[i + 1] - c->off[i]);
}
void vcache_free(vcache *c);

#endif
