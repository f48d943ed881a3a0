#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/hash.h"
#include "core/mem.h"

void strmap_init(strmap *m)
{
    memset(m, 0, sizeof *m);
    arena_init(&m->strings);
}

static uint64_t key_hash(const char *s) { return hash_fnv1a(HASH_FNV_BASIS, s, strlen(s)); }

static long lookup(const strmap *m, const char *s, size_t *slot)
{
    if (!m->nslots)
        return -1;
    size_t mask = m->nslots - 1, i = key_hash(s) & mask;
    for (; m->slots[i]; i = (i + 1) & mask)
        if (strcmp(m->keys[m->slots[i] - 1], s) == 0)
            return (long)m->slots[i] - 1;
    if (slot)
        *slot = i;
    return -1;
}

static int rehash(strmap *m)
{
    size_t n = m->nslots ? m->nslots * 2 : 64;
    uint32_t *slots = mem_calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t id = 0; id < m->n; id++) {
        size_t i = key_hash(m->keys[id]) & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = (uint32_t)id + 1;
    }
    mem_free(m->slots);
    m->slots = slots;
    m->nslots = n;
    return 0;
}

long strmap_find(const strmap *m, const char *s) { return lookup(m, s, NULL); }

long strmap_intern(strmap *m, const char *s)
{
    long id = lookup(m, s, NULL);
    if (id >= 0)
        return id;
    if ((m->n + 1) * 2 > m->nslots && rehash(m))
        return -1;
    if (grow_array((void **)&m->keys, &m->keys_cap, m->n + 1, sizeof *m->keys, 64))
        return -1;
    char *copy = arena_strndup(&m->strings, s, strlen(s));
    if (!copy)
        return -1;
    size_t slot = 0;
    lookup(m, s, &slot);
    m->keys[m->n] = copy;
    m->slots[slot] = (uint32_t)m->n + 1;
    return (long)m->n++;
}

void strmap_free(strmap *m)
{
    arena_free(&m->strings);
    mem_free(m->keys);
    mem_free(m->slots);
    memset(m, 0, sizeof *m);
}
