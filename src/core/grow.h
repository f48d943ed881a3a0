/* Growing arrays by doubling, for scratch buffers reused across calls. */
#ifndef SHELF_CORE_GROW_H
#define SHELF_CORE_GROW_H

#include <stddef.h>

/* Makes *p hold at least need elements of elem bytes (starting at min_cap), keeping its
 * contents. 0, or -1 when out of memory (then *p and *cap are unchanged). */
int grow_array(void **p, size_t *cap, size_t need, size_t elem, size_t min_cap);

#endif
