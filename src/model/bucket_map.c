#include "model/bucket_map.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

int bucket_map_init(bucket_map *b, uint32_t cap)
{
    memset(b, 0, sizeof *b);
    int bits = 4; /* at most half full: short probes */
    while ((UINT64_C(1) << bits) < 2 * (uint64_t)cap)
        bits++;
    b->slots = mem_calloc(UINT64_C(1) << bits, sizeof *b->slots);
    b->buckets = mem_alloc((cap ? cap : 1) * sizeof *b->buckets);
    b->cap = cap;
    b->shift = 64 - bits;
    if (b->slots && b->buckets)
        return 0;
    bucket_map_free(b);
    return -1;
}

void bucket_map_free(bucket_map *b)
{
    mem_free(b->slots);
    mem_free(b->buckets);
    memset(b, 0, sizeof *b);
}

int bucket_map_add(bucket_map *b, uint32_t bucket)
{
    if (b->n >= b->cap || (b->n && bucket <= b->buckets[b->n - 1]) || bucket == UINT32_MAX)
        return -1;
    uint64_t key = (uint64_t)bucket + 1, mask = (UINT64_C(1) << (64 - b->shift)) - 1;
    uint64_t i = (key * UINT64_C(0x9e3779b97f4a7c15)) >> b->shift;
    while (b->slots[i])
        i = (i + 1) & mask;
    b->slots[i] = key << 32 | b->n;
    b->buckets[b->n++] = bucket;
    return 0;
}
