/* FNV-1a, 64 bits: the hash under shelf's tables (strmap) and its feature hashing
 * (text/hash.h). Pinned by golden tests (tests/test_core.c): changing it changes every saved
 * model, so the model file format version must change too. */
#ifndef SHELF_CORE_HASH_H
#define SHELF_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a over unsigned bytes, continuing from h (start with HASH_FNV_BASIS). */
#define HASH_FNV_BASIS 0xcbf29ce484222325ULL
uint64_t hash_fnv1a(uint64_t h, const void *data, size_t n);

#endif
