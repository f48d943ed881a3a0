/* Feature hashing: word n-grams and character n-grams hashed with FNV-1a (core/hash.h), then
 * combined and mixed. Pinned by golden tests (tests/test_text.c): changing any of these
 * functions changes every saved model, so the model file format version must change too. */
#ifndef SHELF_TEXT_HASH_H
#define SHELF_TEXT_HASH_H

#include <stdint.h>

#include "core/hash.h"

/* Order-sensitive combination of a word n-gram's running hash with the next word's. */
static inline uint64_t hash_combine(uint64_t h, uint64_t next)
{
    return (h ^ (h >> 29)) * 0x9e3779b97f4a7c15ULL + next;
}

/* Final avalanche so that `% buckets` sees well-mixed bits (splitmix64's finalizer). */
static inline uint64_t hash_finish(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#endif
