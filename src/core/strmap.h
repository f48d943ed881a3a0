/* Interns strings: maps each distinct string to a dense id 0, 1, 2... in first-seen order.
 * Open addressing over an arena of copies. */
#ifndef SHELF_CORE_STRMAP_H
#define SHELF_CORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

typedef struct strmap {
    arena strings;
    const char **keys; /* id -> string */
    uint32_t *slots;   /* hash slot -> id + 1, 0 empty */
    size_t n, keys_cap, nslots;
} strmap;

void strmap_init(strmap *m);
/* The id of s, adding it when new. -1 when out of memory. */
long strmap_intern(strmap *m, const char *s);
/* The id of s, or -1 when absent. */
long strmap_find(const strmap *m, const char *s);
void strmap_free(strmap *m);

#endif
