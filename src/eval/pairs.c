/* Sparse confusion counts: with thousands of labels a dense K x K matrix would be mostly
 * zeros (and gigabytes), while the pairs that do occur are at most one per row. */
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "core/mem.h"

/* splitmix64's finalizer: ids are small and dense, so spread them over the slots. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void pairs_init(eval_pairs *m) { memset(m, 0, sizeof *m); }

/* The slot holding key, or the empty slot where it would go. */
static eval_pair *find(const eval_pairs *m, uint64_t key)
{
    size_t mask = m->nslots - 1, i = (size_t)mix(key) & mask;
    while (m->slots[i].key && m->slots[i].key != key)
        i = (i + 1) & mask;
    return &m->slots[i];
}

/* Doubles the table, keeping it at most half full. */
static int grow(eval_pairs *m)
{
    size_t nslots = m->nslots ? m->nslots * 2 : 256;
    eval_pairs bigger = {mem_calloc(nslots, sizeof(eval_pair)), m->n, nslots};
    if (!bigger.slots)
        return -1;
    for (size_t i = 0; i < m->nslots; i++)
        if (m->slots[i].key)
            *find(&bigger, m->slots[i].key) = m->slots[i];
    mem_free(m->slots);
    *m = bigger;
    return 0;
}

int pairs_add(eval_pairs *m, uint32_t truth, uint32_t pred)
{
    if ((m->n + 1) * 2 > m->nslots && grow(m))
        return -1;
    uint64_t key = ((uint64_t)truth << 32 | pred) + 1;
    eval_pair *p = find(m, key);
    if (!p->key) {
        p->key = key;
        m->n++;
    }
    p->count++;
    return 0;
}

void pairs_free(eval_pairs *m)
{
    mem_free(m->slots);
    pairs_init(m);
}
