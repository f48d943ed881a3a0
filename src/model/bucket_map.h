/* The bag's rows: hashed feature bucket -> model row, for the buckets training kept.
 * An open-addressing table sized by the rows, not by the buckets, so that a model's memory
 * follows what it holds (2,000,000 buckets of which 40,000 are kept cost 40,000 entries) and
 * a model file cannot make a load allocate more than its own size justifies. */
#ifndef SHELF_MODEL_BUCKET_MAP_H
#define SHELF_MODEL_BUCKET_MAP_H

#include <stdint.h>

typedef struct bucket_map {
    uint64_t *slots;   /* (bucket + 1) << 32 | row; 0: empty */
    uint32_t *buckets; /* n: each row's bucket, ascending (rows are added in bucket order) */
    uint32_t n, cap;   /* rows added; rows the table was made for */
    int shift;         /* 64 - log2(slots) */
} bucket_map;

/* A table for up to cap rows, empty. 0, or -1 out of memory. */
int bucket_map_init(bucket_map *b, uint32_t cap);
void bucket_map_free(bucket_map *b);

/* Gives bucket the next row (b->n before the call); buckets come in increasing order, at
 * most cap of them. 0, or -1 when they don't (a damaged model file). */
int bucket_map_add(bucket_map *b, uint32_t bucket);

/* The row of bucket, or -1 when the model has none. */
static inline int32_t bucket_map_row(const bucket_map *b, uint32_t bucket)
{
    uint64_t key = (uint64_t)bucket + 1, mask = (UINT64_C(1) << (64 - b->shift)) - 1;
    for (uint64_t i = (key * UINT64_C(0x9e3779b97f4a7c15)) >> b->shift;; i = (i + 1) & mask) {
        uint64_t s = b->slots[i];
        if (s >> 32 == key)
            return (int32_t)(uint32_t)s;
        if (!s)
            return -1;
    }
}

#endif
