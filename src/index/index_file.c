/* The index file, in the model file's primitives (model/model_io.h), checksummed whole and
 * written atomically:
 *   "SHELFIDX", u32 version 1, u32 flags (1: the labels are the model's guesses),
 *   u64 the model's fingerprint, u64 products n, u64 dimensions,
 *   u64 distinct ids, each a string; u32 id per product;
 *   u64 distinct labels, each a string; u32 label per product;
 *   the vectors, n * dim floats;
 *   u32 the graph's links per node (0: no graph), u32 its search breadth, u64 its bytes, them;
 *   u64 checksum of every byte before it. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/mem.h"
#include "index/hnsw.h"
#include "index/index.h"
#include "io/outfile.h"
#include "model/model.h"
#include "model/model_io.h"

static const char MAGIC[8] = {'S', 'H', 'E', 'L', 'F', 'I', 'D', 'X'};
enum { VERSION = 1, HEADER = 8 + 4 + 4 + 8 + 8 + 8 };

static void put_strings(model_writer *w, const strmap *m)
{
    mw_u64(w, m->n);
    for (size_t i = 0; i < m->n; i++)
        mw_str(w, m->keys[i]);
}

static void put_index(model_writer *w, const shelf_index *x, const unsigned char *graph,
                      size_t graph_size)
{
    mw_put(w, MAGIC, 8);
    mw_u32(w, VERSION);
    mw_u32(w, x->labels_predicted > 0);
    mw_u64(w, x->fingerprint);
    mw_u64(w, x->n);
    mw_u64(w, x->dim);
    put_strings(w, &x->ids);
    mw_put(w, x->id_of, x->n * sizeof *x->id_of);
    put_strings(w, &x->labels);
    mw_put(w, x->label_of, x->n * sizeof *x->label_of);
    mw_put(w, x->vecs, x->n * x->dim * sizeof *x->vecs);
    mw_u32(w, graph ? (uint32_t)x->ann_m : 0);
    mw_u32(w, graph ? (uint32_t)x->ann_ef : 0);
    mw_u64(w, graph_size);
    mw_put(w, graph, graph_size);
    mw_u64(w, sum64_final(&w->sum));
}

shelf_status shelf_index_save(const shelf_index *x, const char *path, shelf_error *err)
{
    if (!x || !path)
        return err_set(err, SHELF_EINVAL, "shelf_index_save: missing argument");
    unsigned char *graph = NULL;
    size_t graph_size = 0;
    shelf_status s = x->ann ? hnsw_save(x->ann, &graph, &graph_size, err) : SHELF_OK;
    outfile o;
    if (s == SHELF_OK && (s = outfile_open(&o, path, err)) == SHELF_OK) {
        model_writer w = {.f = o.f};
        put_index(&w, x, graph, graph_size);
        s = outfile_close(&o, 1, err);
    }
    mem_free(graph);
    return s;
}

/* ---- loading ------------------------------------------------------------------------- */

/* count strings into m, each new (a repeat is a damaged file). 0, or -1 with r failed. */
static int get_strings(model_reader *r, strmap *m, const char *what)
{
    uint64_t count = mr_u64(r);
    if (mr_claim(r, what, count, 4))
        return -1;
    for (uint64_t i = 0; i < count && !r->failed; i++) {
        char *s = mr_str(r);
        long id = s ? strmap_intern(m, s) : -1;
        mem_free(s);
        if (!s || r->failed)
            return mr_fail(r, what);
        if (id < 0)
            return mr_oom(r);
        if ((uint64_t)id != i)
            return mr_fail(r, "a repeated string");
    }
    return r->failed ? -1 : 0;
}

/* n u32 indexes into a table of `of` entries. */
static uint32_t *get_indexes(model_reader *r, const char *what, size_t n, size_t of)
{
    uint32_t *v = mr_array(r, what, n, sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        if (v[i] >= of) {
            mem_free(v);
            mr_fail(r, what);
            return NULL;
        }
    return v;
}

static int read_index(model_reader *r, shelf_index *x, shelf_error *err, const char *path)
{
    char magic[8];
    mr_get(r, magic, 8);
    uint32_t version = mr_u32(r), flags = mr_u32(r);
    x->fingerprint = mr_u64(r);
    uint64_t n = mr_u64(r), dim = mr_u64(r);
    if (r->failed || memcmp(magic, MAGIC, 8))
        return err_set(err, SHELF_EMODEL, "%s: not a shelf index file", path), -1;
    if (version != VERSION)
        return err_set(err, SHELF_EMODEL, "%s: index file version %u; this shelf reads version "
                       "%d (build the index again)", path, version, VERSION), -1;
    if (flags > 1 || n > INDEX_MAX_ROWS || dim == 0 || dim > INDEX_MAX_DIM ||
        mr_claim(r, "the vectors", n, dim * sizeof(float)))
        return mr_fail(r, "bad sizes");
    x->labels_predicted = (int)flags;
    x->dim = (size_t)dim;
    if (get_strings(r, &x->ids, "the ids") ||
        !(x->id_of = get_indexes(r, "the products' ids", n, x->ids.n)) ||
        get_strings(r, &x->labels, "the labels") ||
        !(x->label_of = get_indexes(r, "the products' labels", n, x->labels.n)) ||
        !(x->vecs = mr_array(r, "the vectors", n * dim, sizeof(float))))
        return -1;
    x->n = x->cap = (size_t)n;
    x->row_of_id_cap = x->ids.n ? x->ids.n : 1;
    x->row_of_id = mem_alloc(x->row_of_id_cap * sizeof *x->row_of_id);
    if (!x->row_of_id)
        return mr_oom(r);
    for (size_t i = 0; i < x->ids.n; i++)
        x->row_of_id[i] = UINT32_MAX;
    for (size_t i = x->n; i-- > 0;) /* the first product with each id */
        x->row_of_id[x->id_of[i]] = (uint32_t)i;
    for (size_t i = 0; i < x->ids.n; i++)
        if (x->row_of_id[i] == UINT32_MAX)
            return mr_fail(r, "an id without a product");
    uint32_t m = mr_u32(r), ef = mr_u32(r);
    uint64_t size = mr_u64(r);
    if (r->failed || (m == 0) != (size == 0) || mr_claim(r, "the graph", size, 1))
        return mr_fail(r, "bad graph sizes");
    if (size) {
        unsigned char *graph = mr_array(r, "the graph", size, 1);
        if (!graph)
            return -1;
        shelf_status s = hnsw_load(graph, (size_t)size, x->n, x->dim, &x->ann, err);
        mem_free(graph);
        if (s != SHELF_OK) {
            char why[SHELF_ERROR_MAX];
            snprintf(why, sizeof why, "%s", err ? err->message : "a bad graph");
            return err_set(err, s, "%s: %s", path, why), -1;
        }
        x->ann_m = (int)m;
        x->ann_ef = (int)ef;
    }
    return r->left == 0 ? 0 : mr_fail(r, "bytes after the graph");
}

shelf_status shelf_index_load(const char *path, const shelf_model *m, shelf_index **out,
                              shelf_error *err)
{
    if (!path || !out)
        return err_set(err, SHELF_EINVAL, "shelf_index_load: missing argument");
    *out = NULL;
    struct stat st;
    FILE *f = NULL;
    shelf_status s = model_open(path, "index", &f, &st, err); /* a regular file, never a FIFO */
    if (s != SHELF_OK)
        return s;
    uint64_t sum = 0;
    int ok = st.st_size >= HEADER + 8 ? mr_checksum_ok(f, (uint64_t)st.st_size, &sum) : 0;
    shelf_index *x = mem_calloc(1, sizeof *x);
    if (ok < 0 || !x)
        s = err_set(err, SHELF_ENOMEM, "out of memory");
    else if (!ok)
        s = err_set(err, SHELF_EMODEL, "%s: not a shelf index file, or a damaged one "
                    "(checksum mismatch)", path);
    else if (fseek(f, 0, SEEK_SET) != 0)
        s = err_set(err, SHELF_EIO, "%s: cannot read: %s", path, strerror(errno));
    if (s == SHELF_OK) {
        strmap_init(&x->ids);
        strmap_init(&x->labels);
        model_reader r = {.f = f, .left = (uint64_t)st.st_size - 8};
        shelf_error mine = {0};
        if (read_index(&r, x, &mine, path)) {
            if (mine.code)
                s = err_set(err, mine.code, "%s", mine.message);
            else if (r.oom)
                s = err_set(err, SHELF_ENOMEM, "%s: out of memory loading the index", path);
            else
                s = err_set(err, SHELF_EMODEL, "%s: damaged index file (%s)", path,
                            r.why[0] ? r.why : "inconsistent contents");
        }
    }
    fclose(f);
    if (s == SHELF_OK && m && shelf_model_fingerprint(m) != x->fingerprint)
        s = err_set(err, SHELF_EINVAL, "%s: built by another model (its vectors do not "
                    "compare with this model's): build it again with this model", path);
    if (s != SHELF_OK) {
        shelf_index_free(x);
        return s;
    }
    *out = x;
    return SHELF_OK;
}
