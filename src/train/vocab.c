#include "train/vocab.h"

#include <string.h>

#include "core/buf.h"
#include "core/comm.h"
#include "core/mem.h"
#include "core/strmap.h"

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

shelf_status vocab_share(shelf_model *m, const shelf_catalog *cat, const shelf_comm *comm,
                         shelf_error *err)
{
    if (comm_ranks(comm) < 2)
        return SHELF_OK;
    strmap mine;
    strmap_init(&mine);
    buf names;
    buf_init(&names);
    const size_t n = shelf_catalog_size(cat);
    int oom = 0;
    for (size_t i = 0; i < n && !oom; i++) { /* this rank's labels, first seen first */
        const char *label = shelf_catalog_get(cat, i)->label;
        size_t before = mine.n;
        oom = strmap_intern(&mine, label) < 0;
        if (!oom && mine.n > before)
            buf_append(&names, label, strlen(label) + 1);
    }
    oom |= names.oom;
    void *all = NULL;
    size_t total = 0, at = 0;
    /* every rank takes part in the gather, even one that ran out of memory (with nothing) */
    int bad = comm_gather(comm, oom ? "" : names.data, oom ? 0 : names.len, &all, &total, &at);
    for (size_t i = 0; !bad && !oom && i < total;) {
        const char *label = (const char *)all + i;
        oom = strmap_intern(&m->labels, label) < 0;
        i += strlen(label) + 1;
    }
    mem_free(all);
    buf_free(&names);
    strmap_free(&mine);
    if (oom)
        return err_set(err, SHELF_ENOMEM, "out of memory gathering the ranks' labels");
    return bad ? err_set(err, SHELF_EIO, "the ranks could not gather their labels") : SHELF_OK;
}

shelf_status vocab_share_seen(const shelf_comm *comm, uint64_t **seen, size_t *nseen,
                              shelf_error *err)
{
    if (comm_ranks(comm) < 2)
        return SHELF_OK;
    void *all = NULL;
    size_t total = 0, at = 0;
    if (comm_gather(comm, *seen, *nseen * sizeof **seen, &all, &total, &at))
        return err_set(err, SHELF_ENOMEM, "the ranks could not gather their texts' hashes");
    mem_free(*seen);
    *seen = all;
    *nseen = total / sizeof **seen;
    return SHELF_OK;
}
