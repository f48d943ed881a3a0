/* A bump allocator for many small strings that live and die together (a catalog's fields,
 * a model's labels). Blocks are never moved, so returned pointers stay valid until
 * arena_free. */
#ifndef SHELF_CORE_ARENA_H
#define SHELF_CORE_ARENA_H

#include <stddef.h>

typedef struct arena_block arena_block;
typedef struct arena {
    arena_block *head;
    size_t used, cap; /* of the head block */
    size_t total;     /* bytes handed out, for statistics */
} arena;

void arena_init(arena *a);
/* NULL when out of memory. */
void *arena_alloc(arena *a, size_t n);
/* Copies n bytes of s and a terminating NUL. */
char *arena_strndup(arena *a, const char *s, size_t n);
void arena_free(arena *a);

#endif
