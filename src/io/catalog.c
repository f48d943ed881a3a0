/* A whole catalog in memory: the products in one array, their strings in an arena, so
 * that loading millions of rows costs a few large allocations, not millions of small ones.
 * Products with the same label share one copy of it. */
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "io/reader_impl.h"

struct shelf_catalog {
    arena strings;
    shelf_product *items;
    size_t n, cap;
    char *path;
    shelf_read_stats stats;
};

/* The distinct labels seen while loading, so that each is stored once: a catalog has
 * millions of rows but usually a few hundred or thousand labels. Open addressing over a
 * power-of-two table kept at most half full. */
typedef struct label_set {
    const char **slots;
    size_t cap, n;
} label_set;

static size_t hash_label(const char *s)
{
    size_t h = 1469598103934665603u; /* FNV-1a; only needs to spread, not to be pinned */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static int labels_grow(label_set *set)
{
    size_t cap = set->cap ? set->cap * 2 : 256;
    const char **slots = calloc(cap, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i < set->cap; i++) {
        if (!set->slots[i])
            continue;
        size_t j = hash_label(set->slots[i]) & (cap - 1);
        while (slots[j])
            j = (j + 1) & (cap - 1);
        slots[j] = set->slots[i];
    }
    free(set->slots);
    set->slots = slots;
    set->cap = cap;
    return 0;
}

/* The catalog's copy of label, made on first sight. NULL when out of memory. */
static const char *labels_intern(label_set *set, arena *a, const char *label)
{
    if (2 * (set->n + 1) > set->cap && labels_grow(set))
        return NULL;
    size_t i = hash_label(label) & (set->cap - 1);
    for (; set->slots[i]; i = (i + 1) & (set->cap - 1))
        if (strcmp(set->slots[i], label) == 0)
            return set->slots[i];
    const char *copy = arena_strndup(a, label, strlen(label));
    if (copy) {
        set->slots[i] = copy;
        set->n++;
    }
    return copy;
}

/* Copies p into the catalog: id and text in one arena allocation, the label interned. */
static int add(shelf_catalog *c, label_set *labels, const shelf_product *p)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        shelf_product *items = realloc(c->items, cap * sizeof *items);
        if (!items)
            return -1;
        c->items = items;
        c->cap = cap;
    }
    size_t idlen = strlen(p->id) + 1, textlen = strlen(p->text) + 1;
    char *mem = arena_alloc(&c->strings, idlen + textlen);
    const char *label = labels_intern(labels, &c->strings, p->label);
    if (!mem || !label)
        return -1;
    memcpy(mem, p->id, idlen);
    memcpy(mem + idlen, p->text, textlen);
    c->items[c->n++] = (shelf_product){mem, mem + idlen, label, p->line};
    return 0;
}

static shelf_status no_products(const shelf_catalog *c, shelf_error *err)
{
    const char *name = io_display_name(c->path);
    if (c->stats.skipped == 0)
        return err_set(err, SHELF_EDATA, "%s: no products", name);
    return err_set(err, SHELF_EDATA,
                   "%s: no products: all %ld rows were bad and skipped; the first: %s", name,
                   c->stats.skipped, c->stats.first_skip);
}

static shelf_status read_all(shelf_catalog *c, shelf_reader *r, shelf_error *err)
{
    shelf_product p;
    shelf_status st;
    label_set labels = {0};
    while ((st = shelf_reader_next(r, &p, err)) == SHELF_OK) {
        if (add(c, &labels, &p)) {
            st = err_set(err, SHELF_ENOMEM, "%s:%ld: out of memory after %zu products",
                         io_display_name(c->path), p.line, c->n);
            break;
        }
    }
    free(labels.slots);
    shelf_reader_stats(r, &c->stats);
    if (st != SHELF_END)
        return st;
    if (c->n == 0)
        return no_products(c, err);
    shelf_product *fit = realloc(c->items, c->n * sizeof *fit); /* give back the slack */
    if (fit)
        c->items = fit;
    return SHELF_OK;
}

shelf_status shelf_catalog_load(const char *path, const shelf_read_options *opts,
                                shelf_catalog **out, shelf_error *err)
{
    if (!path || !out)
        return err_set(err, SHELF_EINVAL, "shelf_catalog_load: NULL argument");
    *out = NULL;
    shelf_catalog *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        free(c);
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", io_display_name(path));
    }
    arena_init(&c->strings);
    shelf_reader *r = NULL;
    shelf_status st = shelf_reader_open(path, opts, &r, err);
    if (st == SHELF_OK)
        st = read_all(c, r, err);
    shelf_reader_close(r);
    if (st != SHELF_OK) {
        shelf_catalog_free(c);
        return st;
    }
    *out = c;
    return SHELF_OK;
}

size_t shelf_catalog_size(const shelf_catalog *c) { return c ? c->n : 0; }

const shelf_product *shelf_catalog_get(const shelf_catalog *c, size_t i)
{
    return c && i < c->n ? &c->items[i] : NULL;
}

const char *shelf_catalog_path(const shelf_catalog *c) { return c ? c->path : NULL; }

void shelf_catalog_stats(const shelf_catalog *c, shelf_read_stats *out)
{
    if (!out)
        return;
    if (c)
        *out = c->stats;
    else
        memset(out, 0, sizeof *out);
}

void shelf_catalog_free(shelf_catalog *c)
{
    if (!c)
        return;
    arena_free(&c->strings);
    free(c->items);
    free(c->path);
    free(c);
}
