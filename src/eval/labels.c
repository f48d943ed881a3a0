/* Label paths interned by (bytes, length), so that a prefix of a path ("Apparel > Topwear"
 * of "Apparel > Topwear > Tshirts") is looked up in place, without copying it first. */
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/hash.h"
#include "core/mem.h"
#include "eval/eval.h"

void labels_init(eval_labels *t, const char *sep)
{
    memset(t, 0, sizeof *t);
    arena_init(&t->strings);
    t->sep = sep;
    t->seplen = strlen(sep);
}

/* The id of s[0..n), or -1; *slot gets the empty slot where it would go. */
static long lookup(const eval_labels *t, const char *s, size_t n, uint64_t h, size_t *slot)
{
    if (!t->nslots)
        return -1;
    size_t mask = t->nslots - 1, i = (size_t)h & mask;
    for (; t->slots[i]; i = (i + 1) & mask) {
        const eval_label *l = &t->items[t->slots[i] - 1];
        if (l->hash == h && l->len == n && memcmp(l->name, s, n) == 0)
            return (long)t->slots[i] - 1;
    }
    if (slot)
        *slot = i;
    return -1;
}

/* Makes room for one more label: slots at most half full, items with a free place. */
static int grow(eval_labels *t)
{
    if (grow_array((void **)&t->items, &t->cap, t->n + 1, sizeof *t->items, 64))
        return -1;
    if ((t->n + 1) * 2 <= t->nslots)
        return 0;
    size_t nslots = t->nslots ? t->nslots * 2 : 128;
    uint32_t *slots = mem_calloc(nslots, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t id = 0; id < t->n; id++) {
        size_t i = (size_t)t->items[id].hash & (nslots - 1);
        while (slots[i])
            i = (i + 1) & (nslots - 1);
        slots[i] = (uint32_t)id + 1;
    }
    mem_free(t->slots);
    t->slots = slots;
    t->nslots = nslots;
    return 0;
}

/* The id of s[0..n), whose parent path (when it has one) is already interned as parent. */
static long intern_one(eval_labels *t, const char *s, size_t n, long parent)
{
    uint64_t h = hash_fnv1a(HASH_FNV_BASIS, s, n);
    long id = lookup(t, s, n, h, NULL);
    if (id >= 0)
        return id;
    if (t->n >= UINT32_MAX - 1 || grow(t))
        return -1;
    char *name = arena_strndup(&t->strings, s, n);
    if (!name)
        return -1;
    size_t slot = 0;
    lookup(t, s, n, h, &slot);
    eval_label *l = &t->items[t->n];
    memset(l, 0, sizeof *l);
    l->name = name;
    l->len = n;
    l->hash = h;
    l->parent = parent;
    l->depth = parent >= 0 ? t->items[parent].depth + 1 : 1;
    t->slots[slot] = (uint32_t)t->n + 1;
    return (long)t->n++;
}

/* The next separator at or after s, or NULL; parts are split left to right without
 * overlap, as Python's str.split does. */
static const char *next_sep(const eval_labels *t, const char *s)
{
    return t->seplen ? strstr(s, t->sep) : NULL;
}

long labels_intern_path(eval_labels *t, const char *s)
{
    size_t n = strlen(s);
    long id = lookup(t, s, n, hash_fnv1a(HASH_FNV_BASIS, s, n), NULL);
    if (id >= 0)
        return id;
    /* New path: intern its ancestors shortest first, each linked to the one before. */
    long parent = -1;
    for (const char *p = next_sep(t, s); p; p = next_sep(t, p + t->seplen)) {
        parent = intern_one(t, s, (size_t)(p - s), parent);
        if (parent < 0)
            return -1;
    }
    return intern_one(t, s, n, parent);
}

void labels_free(eval_labels *t)
{
    arena_free(&t->strings);
    mem_free(t->items);
    mem_free(t->slots);
    memset(t, 0, sizeof *t);
}
