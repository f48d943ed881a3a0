/* Catalog hygiene (shelf_catalog_hygiene): duplicates found by sorting products on a hash of
 * their text (and image), leaves under two parents by sorting (leaf, label) pairs. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/mem.h"
#include "shelf.h"

typedef struct keyed {
    uint64_t key;
    size_t row;
} keyed;

/* The string with its NUL, so that "ab" then "c" differs from "a" then "bc". */
static uint64_t hash_str(uint64_t h, const char *s)
{
    return hash_fnv1a(h, s, strlen(s) + 1);
}

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : x->row < y->row ? -1 : x->row > y->row;
}

/* Keeps the SHELF_HYGIENE_EXAMPLES pairs of the smallest product seen, in that order. */
static void keep_earliest(shelf_hygiene_pair *ex, int *n, shelf_hygiene_pair p)
{
    int i = *n < SHELF_HYGIENE_EXAMPLES ? (*n)++ : SHELF_HYGIENE_EXAMPLES;
    for (; i > 0 && ex[i - 1].product > p.product; i--)
        if (i < SHELF_HYGIENE_EXAMPLES)
            ex[i] = ex[i - 1];
    if (i < SHELF_HYGIENE_EXAMPLES)
        ex[i] = p;
}

static int same_product(const shelf_product *a, const shelf_product *b, int with_image)
{
    return strcmp(a->text, b->text) == 0 && (!with_image || strcmp(a->image, b->image) == 0);
}

/* Products whose text (and image, with_image) repeat an earlier product's; conflicting:
 * groups of such products with more than one label. 0, or -1 out of memory. */
static int find_duplicates(const shelf_catalog *c, int with_image, shelf_hygiene *h)
{
    size_t n = shelf_catalog_size(c);
    keyed *k = mem_alloc((n + 1) * sizeof *k);
    if (!k)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const shelf_product *p = shelf_catalog_get(c, i);
        uint64_t key = hash_str(HASH_FNV_BASIS, p->text);
        k[i] = (keyed){with_image ? hash_str(key, p->image ? p->image : "") : key, i};
    }
    qsort(k, n, sizeof *k, by_key);
    for (size_t i = 0; i < n;) { /* a group of equal keys, its earliest product first */
        const shelf_product *first = shelf_catalog_get(c, k[i].row);
        size_t j = i + 1, differ = 0;
        for (; j < n && k[j].key == k[i].key; j++) {
            const shelf_product *p = shelf_catalog_get(c, k[j].row);
            if (!same_product(p, first, with_image))
                break; /* a hash collision: not a duplicate (rare enough to stop here) */
            if (!differ && strcmp(p->label, first->label) != 0)
                differ = j;
            keep_earliest(h->duplicate_examples, &h->n_duplicate_examples,
                          (shelf_hygiene_pair){k[j].row, k[i].row});
            h->duplicates++;
        }
        if (differ) {
            keep_earliest(h->conflicting_examples, &h->n_conflicting_examples,
                          (shelf_hygiene_pair){k[differ].row, k[i].row});
            h->conflicting++;
        }
        i = j;
    }
    mem_free(k);
    return 0;
}

typedef struct leafed {
    const char *leaf, *label;
} leafed;

static int by_leaf(const void *a, const void *b)
{
    const leafed *x = a, *y = b;
    int c = strcmp(x->leaf, y->leaf);
    return c ? c : strcmp(x->label, y->label);
}

/* Leaf names found under more than one parent path. 0, or -1 out of memory. */
static int find_two_parents(const shelf_catalog *c, const char *sep, shelf_hygiene *h)
{
    size_t n = shelf_catalog_size(c), seplen = strlen(sep), m = 0;
    leafed *l = mem_alloc((n + 1) * sizeof *l);
    if (!l)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const char *label = shelf_catalog_get(c, i)->label;
        size_t parent;
        if (shelf_label_parent(label, sep, &parent)) /* a top-level label has no parent */
            l[m++] = (leafed){label + parent + seplen, label};
    }
    qsort(l, m, sizeof *l, by_leaf);
    for (size_t i = 0; i < m;) {
        size_t j = i + 1, other = 0;
        for (; j < m && strcmp(l[j].leaf, l[i].leaf) == 0; j++)
            if (!other && strcmp(l[j].label, l[i].label) != 0)
                other = j;
        if (other) {
            if (h->n_two_parent_examples < SHELF_HYGIENE_EXAMPLES)
                h->two_parent_examples[h->n_two_parent_examples++] =
                    (shelf_hygiene_leaf){l[i].leaf, l[i].label, l[other].label};
            h->two_parents++;
        }
        i = j;
    }
    mem_free(l);
    return 0;
}

shelf_status shelf_catalog_hygiene(const shelf_catalog *c, const char *label_sep,
                                   int with_image, shelf_hygiene *out, shelf_error *err)
{
    if (!out)
        return err_set(err, SHELF_EINVAL, "shelf_catalog_hygiene: out is NULL");
    memset(out, 0, sizeof *out);
    if (!c)
        return err_set(err, SHELF_EINVAL, "shelf_catalog_hygiene: no catalog");
    if (find_duplicates(c, with_image, out) ||
        find_two_parents(c, label_sep ? label_sep : SHELF_DEFAULT_LABEL_SEP, out)) {
        memset(out, 0, sizeof *out);
        return err_set(err, SHELF_ENOMEM, "%s: checking for duplicates: out of memory",
                       shelf_catalog_path(c));
    }
    return SHELF_OK;
}
