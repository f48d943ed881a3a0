/* A whole catalog in memory: the products in one array, their strings in an arena, so
 * that loading millions of rows costs a few large allocations, not millions of small ones.
 * Products with the same label share one copy of it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/grow.h"
#include "core/mem.h"
#include "core/strmap.h"
#include "io/catalog.h"
#include "io/reader_impl.h"

struct shelf_catalog {
    arena strings;
    strmap labels; /* each distinct label stored once: millions of rows, few labels */
    shelf_product *items;
    size_t n, cap;
    char *path;
    shelf_read_stats stats;
    int nkept;            /* keep_columns: their names, and n * nkept values (in strings) */
    char **kept_names;
    const char **kept;
    size_t kept_cap;
};

/* Copies the kept values of the product being added (c->n) into the arena. */
static int add_kept(shelf_catalog *c, const char *const *kept)
{
    size_t want = (c->n + 1) * (size_t)c->nkept;
    if (grow_array((void **)&c->kept, &c->kept_cap, want, sizeof *c->kept, 1024))
        return -1;
    for (int j = 0; j < c->nkept; j++) {
        char *v = arena_strndup(&c->strings, kept[j], strlen(kept[j]));
        if (!v)
            return -1;
        c->kept[c->n * (size_t)c->nkept + (size_t)j] = v;
    }
    return 0;
}

/* Copies p into the catalog: id, text, image reference and the image's bytes (when in
 * memory) in one arena allocation, the label interned, the kept values. */
static int add(shelf_catalog *c, const shelf_product *p, const char *const *kept)
{
    if (grow_array((void **)&c->items, &c->cap, c->n + 1, sizeof *c->items, 1024) ||
        (c->nkept && add_kept(c, kept)))
        return -1;
    size_t idlen = strlen(p->id) + 1, textlen = strlen(p->text) + 1;
    size_t imagelen = strlen(p->image) + 1, bytes = p->image_data ? p->image_size : 0;
    char *mem = arena_alloc(&c->strings, idlen + textlen + imagelen + bytes);
    long id = strmap_intern(&c->labels, p->label);
    if (!mem || id < 0)
        return -1;
    const char *label = c->labels.keys[id];
    memcpy(mem, p->id, idlen);
    memcpy(mem + idlen, p->text, textlen);
    memcpy(mem + idlen + textlen, p->image, imagelen);
    unsigned char *data = bytes ? (unsigned char *)mem + idlen + textlen + imagelen : NULL;
    if (bytes)
        memcpy(data, p->image_data, bytes);
    c->items[c->n++] = (shelf_product){mem, mem + idlen, label, mem + idlen + textlen, p->line,
                                       data, bytes};
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
    if ((c->nkept = shelf_reader_nkept(r)) > 0) {
        if (!(c->kept_names = mem_calloc((size_t)c->nkept, sizeof *c->kept_names)))
            return err_set(err, SHELF_ENOMEM, "%s: out of memory", io_display_name(c->path));
        for (int j = 0; j < c->nkept; j++)
            if (!(c->kept_names[j] = mem_strdup(shelf_reader_kept_name(r, j))))
                return err_set(err, SHELF_ENOMEM, "%s: out of memory",
                               io_display_name(c->path));
    }
    while ((st = shelf_reader_next(r, &p, err)) == SHELF_OK) {
        if (add(c, &p, shelf_reader_kept(r))) {
            st = err_set(err, SHELF_ENOMEM, "%s:%ld: out of memory after %zu products",
                         io_display_name(c->path), p.line, c->n);
            break;
        }
    }
    shelf_reader_stats(r, &c->stats);
    if (st != SHELF_END)
        return st;
    if (c->n == 0)
        return no_products(c, err);
    shelf_product *fit = mem_realloc(c->items, c->n * sizeof *fit); /* give back the slack */
    if (fit) {
        c->items = fit;
        c->cap = c->n;
    }
    return SHELF_OK;
}

/* The products of path (of its part when part is not NULL). */
static shelf_status load(const char *path, const shelf_read_options *opts,
                         const shelf_catalog_part *part, shelf_catalog **out, shelf_error *err)
{
    if (!path || !out)
        return err_set(err, SHELF_EINVAL, "shelf_catalog_load: NULL argument");
    *out = NULL;
    shelf_catalog *c = mem_calloc(1, sizeof *c);
    if (!c || !(c->path = mem_strdup(path))) {
        mem_free(c);
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", io_display_name(path));
    }
    arena_init(&c->strings);
    strmap_init(&c->labels);
    shelf_reader *r = NULL;
    shelf_status st = part ? shelf_reader_open_part(path, opts, part, &r, err)
                           : shelf_reader_open(path, opts, &r, err);
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

shelf_status shelf_catalog_load(const char *path, const shelf_read_options *opts,
                                shelf_catalog **out, shelf_error *err)
{
    return load(path, opts, NULL, out, err);
}

shelf_status shelf_catalog_from_products(const shelf_product *products, size_t n,
                                         const char *data_path, int require_label,
                                         shelf_catalog **out, shelf_error *err)
{
    if (!out || (n && !products))
        return err_set(err, SHELF_EINVAL, "shelf_catalog_from_products: NULL argument");
    *out = NULL;
    const char *name = data_path ? data_path : "products";
    if (n == 0)
        return err_set(err, SHELF_EDATA, "%s: no products", name);
    shelf_catalog *c = mem_calloc(1, sizeof *c);
    if (!c || !(c->path = mem_strdup(name))) {
        mem_free(c);
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", name);
    }
    arena_init(&c->strings);
    strmap_init(&c->labels);
    shelf_status st = SHELF_OK;
    for (size_t i = 0; i < n && st == SHELF_OK; i++) {
        const shelf_product *p = &products[i];
        char idbuf[32];
        snprintf(idbuf, sizeof idbuf, "%zu", i + 1);
        /* a product is numbered from 1, as a file's rows are named by their lines */
        shelf_product q = {p->id ? p->id : idbuf, p->text ? p->text : "",
                           p->label ? p->label : "", p->image ? p->image : "",
                           p->line > 0 ? p->line : (long)(i + 1), p->image_data,
                           p->image_data ? p->image_size : 0};
        if (p->image_data && (!p->image_size || p->image_size > SIZE_MAX / 4))
            st = err_set(err, SHELF_EINVAL, "%s: product %zu (id %s): image bytes of size %zu",
                         name, i + 1, q.id, p->image_size);
        else if (require_label && !q.label[0])
            st = err_set(err, SHELF_EDATA, "%s: product %zu (id %s): no label", name, i + 1,
                         q.id);
        else if (!q.text[0] && !q.image[0] && !q.image_data)
            st = err_set(err, SHELF_EDATA, "%s: product %zu (id %s): neither a text nor an "
                         "image", name, i + 1, q.id);
        else if (add(c, &q, NULL))
            st = err_set(err, SHELF_ENOMEM, "%s: out of memory after %zu products", name, i);
    }
    if (st != SHELF_OK) {
        shelf_catalog_free(c);
        return st;
    }
    c->stats.rows = (long)n;
    *out = c;
    return SHELF_OK;
}

shelf_status shelf_catalog_load_part(const char *path, const shelf_read_options *opts,
                                     const shelf_catalog_part *part, shelf_catalog **out,
                                     shelf_error *err)
{
    return load(path, opts, part, out, err);
}

shelf_catalog *catalog_view(const shelf_catalog *c, const size_t *rows, size_t n)
{
    shelf_catalog *v = mem_calloc(1, sizeof *v);
    if (!v || !(v->path = mem_strdup(c->path)) ||
        !(v->items = mem_alloc((n ? n : 1) * sizeof *v->items))) {
        shelf_catalog_free(v);
        return NULL;
    }
    arena_init(&v->strings); /* stays empty: the strings are c's */
    strmap_init(&v->labels);
    for (size_t i = 0; i < n; i++)
        v->items[i] = c->items[rows[i]];
    v->n = v->cap = n;
    return v;
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

int shelf_catalog_nkept(const shelf_catalog *c) { return c ? c->nkept : 0; }

const char *shelf_catalog_kept_name(const shelf_catalog *c, int j)
{
    return c && j >= 0 && j < c->nkept ? c->kept_names[j] : NULL;
}

const char *const *shelf_catalog_kept(const shelf_catalog *c, size_t i)
{
    return c && c->nkept && i < c->n ? c->kept + i * (size_t)c->nkept : NULL;
}

void shelf_catalog_free(shelf_catalog *c)
{
    if (!c)
        return;
    for (int j = 0; c->kept_names && j < c->nkept; j++)
        mem_free(c->kept_names[j]);
    mem_free(c->kept_names);
    mem_free(c->kept);
    arena_free(&c->strings);
    strmap_free(&c->labels);
    mem_free(c->items);
    mem_free(c->path);
    mem_free(c);
}
