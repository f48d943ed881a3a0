/* Checks of a training catalog worth telling the user before training: exact duplicates
 * (and duplicates labelled differently, which no model can get all right), and leaf names
 * that sit under two parents (the label is the whole path, so they are two labels). */
#include "hygiene.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "text/hash.h"

typedef struct keyed {
    uint64_t key;
    size_t row;
} keyed;

/* The string with its NUL, so that "ab" then "c" differs from "a" then "bc". */
/* "PATH: the leaf 'L' sits under two parents: 'A' and 'B' (two different labels)", the
 * labels escaped: they come from the catalog and go to a terminal. */
static void two_parents(FILE *out, const char *path, const char *leaf, const char *a,
                        const char *b)
{
    buf m;
    buf_init(&m);
    const char *parts[] = {path, ": the leaf '", leaf, "' sits under two parents: '", a,
                           "' and '", b, "' (two different labels)\n"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        (i % 2 ? buf_puts : buf_put_escaped)(&m, parts[i]);
    char *s = buf_detach(&m);
    if (s)
        fputs(s, out);
    free(s);
}

static uint64_t hash_str(uint64_t h, const char *s) { return hash_fnv1a(h, s, strlen(s) + 1); }

static int by_key(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key ? 1 : x->row < y->row ? -1 : x->row > y->row;
}

/* Rows whose text (and image, with_image) repeat an earlier row's; conflicting: groups of
 * such rows with more than one label. */
static int count_duplicates(const shelf_catalog *c, int with_image, long *dups,
                            long *conflicting)
{
    size_t n = shelf_catalog_size(c);
    keyed *k = malloc((n + 1) * sizeof *k);
    if (!k)
        return -1;
    for (size_t i = 0; i < n; i++) {
        const shelf_product *p = shelf_catalog_get(c, i);
        uint64_t h = hash_str(HASH_FNV_BASIS, p->text);
        k[i] = (keyed){with_image ? hash_str(h, p->image ? p->image : "") : h, i};
    }
    qsort(k, n, sizeof *k, by_key);
    *dups = *conflicting = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        int differ = 0;
        const shelf_product *first = shelf_catalog_get(c, k[i].row);
        for (; j < n && k[j].key == k[i].key; j++) {
            const shelf_product *p = shelf_catalog_get(c, k[j].row);
            if (strcmp(p->text, first->text) != 0 ||
                (with_image && strcmp(p->image, first->image) != 0))
                break; /* a hash collision: not a duplicate (rare enough to stop here) */
            differ |= strcmp(p->label, first->label) != 0;
            ++*dups;
        }
        *conflicting += differ;
        i = j;
    }
    free(k);
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

/* Leaf names found under more than one parent path; prints up to `show` of them. */
static long leaves_under_two_parents(const shelf_catalog *c, const char *sep, FILE *out,
                                     const char *path, int show)
{
    size_t n = shelf_catalog_size(c), seplen = strlen(sep), m = 0;
    leafed *l = malloc((n + 1) * sizeof *l);
    if (!l)
        return 0;
    for (size_t i = 0; i < n; i++) {
        const char *label = shelf_catalog_get(c, i)->label, *leaf = label;
        for (const char *p; (p = strstr(leaf, sep));)
            leaf = p + seplen;
        if (leaf != label) /* a top-level label has no parent */
            l[m++] = (leafed){leaf, label};
    }
    qsort(l, m, sizeof *l, by_leaf);
    long found = 0;
    for (size_t i = 0; i < m;) {
        size_t j = i + 1, other = 0;
        for (; j < m && strcmp(l[j].leaf, l[i].leaf) == 0; j++)
            if (!other && strcmp(l[j].label, l[i].label) != 0)
                other = j;
        if (other) {
            if (found < show)
                two_parents(out, path, l[i].leaf, l[i].label, l[other].label);
            found++;
        }
        i = j;
    }
    free(l);
    return found;
}

void hygiene_report(const shelf_catalog *c, const char *path, const char *sep, int with_image,
                    FILE *out)
{
    long dups = 0, conflicting = 0;
    if (count_duplicates(c, with_image, &dups, &conflicting) == 0 && dups)
        fprintf(out, "%s: %ld products repeat an earlier product's %s; %ld groups of them "
                "have different labels\n", path, dups, with_image ? "text and image" : "text",
                conflicting);
    long two = leaves_under_two_parents(c, sep ? sep : " > ", out, path, 5);
    if (two > 5)
        fprintf(out, "%s: %ld leaf names sit under two parents in all\n", path, two);
}
