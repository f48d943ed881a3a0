#include "train/vocab.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted, without repeats, into m->seen (takes ownership of seen). */
void vocab_keep_seen(shelf_model *m, uint64_t *seen, size_t n)
{
    qsort(seen, n, sizeof *seen, cmp_u64);
    size_t u = 0;
    for (size_t i = 0; i < n; i++)
        if (u == 0 || seen[i] != seen[u - 1])
            seen[u++] = seen[i];
    m->seen = seen;
    m->nseen = u;
}

const char **vocab_texts(const shelf_catalog *cat)
{
    const size_t n = shelf_catalog_size(cat);
    const char **t = mem_alloc((n + 1) * sizeof *t);
    for (size_t i = 0; t && i < n; i++)
        t[i] = shelf_catalog_get(cat, i)->text;
    return t;
}

shelf_status vocab_labels(shelf_model *m, const shelf_catalog *cat, uint32_t *y,
                          shelf_error *err)
{
    size_t n = shelf_catalog_size(cat);
    for (size_t i = 0; i < n; i++) {
        long id = strmap_intern(&m->labels, shelf_catalog_get(cat, i)->label);
        if (id < 0)
            return err_set(err, SHELF_ENOMEM, "out of memory storing labels");
        y[i] = (uint32_t)id;
    }
    return model_build_taxonomy(m) ? err_set(err, SHELF_ENOMEM, "out of memory building the "
                                             "taxonomy") : SHELF_OK;
}
