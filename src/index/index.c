/* The index in memory (index.h): made from a model, products appended, then built. */
#include "index/index.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/grow.h"
#include "core/mem.h"
#include "index/hnsw.h"

static const char *const type_names[] = {"auto", "exact", "hnsw"};

shelf_status shelf_index_type_parse(const char *name, shelf_index_type *out, shelf_error *err)
{
    for (int i = 0; name && i < 3; i++)
        if (!strcasecmp(name, type_names[i])) {
            *out = (shelf_index_type)i;
            return SHELF_OK;
        }
    return err_set(err, SHELF_EINVAL, "unknown index type '%s': auto, exact or hnsw",
                   name ? name : "");
}

shelf_status shelf_index_new(const shelf_model *m, shelf_index **out, shelf_error *err)
{
    if (!m || !out)
        return err_set(err, SHELF_EINVAL, "shelf_index_new: missing argument");
    *out = NULL;
    size_t dim = shelf_embedding_dim(m);
    if (dim == 0 || dim > INDEX_MAX_DIM)
        return err_set(err, SHELF_EINVAL, "the model's embeddings have %zu dimensions (at "
                       "most %d)", dim, INDEX_MAX_DIM);
    shelf_index *x = mem_calloc(1, sizeof *x);
    if (!x)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    x->fingerprint = shelf_model_fingerprint(m);
    x->dim = dim;
    x->labels_predicted = -1; /* set by the first add */
    strmap_init(&x->ids);
    strmap_init(&x->labels);
    *out = x;
    return SHELF_OK;
}

/* Room for n more rows. 0, or -1 out of memory. */
static int index_reserve(shelf_index *x, size_t n)
{
    size_t need = x->n + n;
    if (need <= x->cap)
        return 0;
    size_t cap = x->cap ? x->cap : 1024;
    while (cap < need)
        cap *= 2;
    float *v = mem_realloc(x->vecs, cap * x->dim * sizeof *v);
    if (!v)
        return -1;
    x->vecs = v;
    uint32_t *a = mem_realloc(x->id_of, cap * sizeof *a);
    if (!a)
        return -1;
    x->id_of = a;
    uint32_t *b = mem_realloc(x->label_of, cap * sizeof *b);
    if (!b)
        return -1;
    x->label_of = b;
    x->cap = cap;
    return 0;
}

/* Row r's id and label, interned. 0, or -1 out of memory. */
int index_name_row(shelf_index *x, size_t r, const char *id, const char *label)
{
    /* room first: an id interned always has its row */
    long l = strmap_intern(&x->labels, label ? label : "");
    if (l < 0 || grow_array((void **)&x->row_of_id, &x->row_of_id_cap, x->ids.n + 1,
                            sizeof *x->row_of_id, 1024))
        return -1;
    long before = (long)x->ids.n, i = strmap_intern(&x->ids, id ? id : "");
    if (i < 0)
        return -1;
    if (i == before) /* a new id: this is its first row */
        x->row_of_id[i] = (uint32_t)r;
    x->id_of[r] = (uint32_t)i;
    x->label_of[r] = (uint32_t)l;
    return 0;
}

shelf_status shelf_index_add(shelf_index *x, const char *const *ids,
                             const char *const *labels, int labels_predicted,
                             const float *vecs, size_t n, shelf_error *err)
{
    if (!x || (n && (!vecs || !ids)))
        return err_set(err, SHELF_EINVAL, "shelf_index_add: missing argument");
    if (x->ann)
        return err_set(err, SHELF_EINVAL, "shelf_index_add: the index is built");
    if (x->labels_predicted >= 0 && x->labels_predicted != (labels_predicted != 0))
        return err_set(err, SHELF_EINVAL, "shelf_index_add: the labels changed kind");
    if (x->n + n > INDEX_MAX_ROWS)
        return err_set(err, SHELF_EINVAL, "an index holds at most %llu products",
                       (unsigned long long)INDEX_MAX_ROWS);
    x->labels_predicted = labels_predicted != 0;
    if (index_reserve(x, n))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (index_name_row(x, x->n + i, ids[i], labels ? labels[i] : NULL))
            return err_set(err, SHELF_ENOMEM, "out of memory");
    memcpy(x->vecs + x->n * x->dim, vecs, n * x->dim * sizeof *x->vecs);
    x->n += n;
    return SHELF_OK;
}

shelf_status shelf_index_build(shelf_index *x, shelf_index_type type, int threads,
                               shelf_error *err)
{
    if (!x || (unsigned)type > SHELF_INDEX_HNSW)
        return err_set(err, SHELF_EINVAL, "shelf_index_build: bad arguments");
    if (x->labels_predicted < 0)
        x->labels_predicted = 0;
    if (type == SHELF_INDEX_AUTO)
        type = x->n < SHELF_INDEX_AUTO_ROWS ? SHELF_INDEX_EXACT : SHELF_INDEX_HNSW;
    hnsw_free(x->ann);
    x->ann = NULL;
    if (type == SHELF_INDEX_EXACT || x->n == 0)
        return SHELF_OK;
    x->ann_m = HNSW_M;
    x->ann_ef = HNSW_EF_SEARCH;
    return hnsw_build(x->vecs, x->n, x->dim, HNSW_M, HNSW_EF_BUILD, threads, &x->ann, err);
}

void shelf_index_free(shelf_index *x)
{
    if (!x)
        return;
    hnsw_free(x->ann);
    mem_free(x->vecs);
    mem_free(x->id_of);
    mem_free(x->label_of);
    mem_free(x->row_of_id);
    strmap_free(&x->ids);
    strmap_free(&x->labels);
    mem_free(x);
}

size_t shelf_index_size(const shelf_index *x) { return x ? x->n : 0; }
size_t shelf_index_dim(const shelf_index *x) { return x ? x->dim : 0; }
int shelf_index_is_approximate(const shelf_index *x) { return x && x->ann; }
int shelf_index_labels_predicted(const shelf_index *x) { return x && x->labels_predicted > 0; }

const char *shelf_index_id(const shelf_index *x, size_t i)
{
    return x && i < x->n ? x->ids.keys[x->id_of[i]] : NULL;
}

const char *shelf_index_label(const shelf_index *x, size_t i)
{
    return x && i < x->n ? x->labels.keys[x->label_of[i]] : NULL;
}

long shelf_index_find(const shelf_index *x, const char *id)
{
    long i = x && id ? strmap_find(&x->ids, id) : -1;
    return i < 0 ? -1 : (long)x->row_of_id[i];
}

const float *shelf_index_vector(const shelf_index *x, size_t i)
{
    return x && i < x->n ? x->vecs + i * x->dim : NULL;
}
