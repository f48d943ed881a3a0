/* Helpers over a distributed run's collective sum (shelf_comm, given by the caller): every
 * function is a no-op returning 0 for a NULL comm (one process). Every rank must make the
 * same calls in the same order. */
#ifndef SHELF_CORE_COMM_H
#define SHELF_CORE_COMM_H

#include <stddef.h>

#include "shelf.h"

enum { COMM_MAX_RANKS = 4096 }; /* what the helpers below gather on the stack */

static inline int comm_ranks(const shelf_comm *c) { return c ? c->size : 1; }

/* buf[0..n) summed over the ranks. 0, or -1. */
int comm_sum(const shelf_comm *c, void *buf, size_t n, shelf_comm_type type);
/* buf[0..n) averaged over the ranks. 0, or -1. */
int comm_average(const shelf_comm *c, float *buf, size_t n);
/* 1 when every rank is ok, else 0 (also when the sum fails): a rank that failed on its
 * own tells the others before they go on into a collective it will not join. */
int comm_agree(const shelf_comm *c, int ok);
/* comm_agree on a status: st as it is when this rank failed; SHELF_EIO with "another rank
 * WHAT" when only another did ("stopped the run" for a NULL what); SHELF_OK when none did. */
shelf_status comm_agree_status(const shelf_comm *c, shelf_status st, const char *what,
                               shelf_error *err);
/* The smallest n over the ranks, into *min. 0, or -1. */
int comm_min(const shelf_comm *c, uint64_t n, uint64_t *min);
/* Every rank's n bytes at mine, one after another in rank order, into *all (mem_alloc'd;
 * *total bytes, *offset where this rank's start). 0, or -1 (out of memory or the sum
 * failed: *all NULL). */
int comm_gather(const shelf_comm *c, const void *mine, size_t n, void **all, size_t *total,
                size_t *offset);

#endif
