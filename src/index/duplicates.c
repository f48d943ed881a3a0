/* shelf duplicates --data: near-duplicate listings of a catalog without a model. Every
 * product's fingerprint (fingerprint.h), its nearest products by their cosine (exact below
 * SHELF_INDEX_AUTO_ROWS products, an HNSW graph above), and each pair at least
 * o->candidate close verified on its photos, or on its titles when either has no photo.
 * Photos are decoded on the threads of a pool; thumbnails stay in memory for verification
 * (at most FP_THUMB_MAX^2 bytes a product). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/strmap.h"
#include "core/threadpool.h"
#include "image/path.h"
#include "index/fingerprint.h"
#include "index/index.h"
#include "text/tokenize.h"

/* An index made of fingerprints says so in place of a model's. */
#define FP_FINGERPRINT UINT64_C(0x5348454c46445550) /* "SHELFDUP" */

typedef struct dup_job {
    const shelf_catalog *c;
    const char *path;
    float *vecs;       /* [n][FP_DIM] */
    fp_thumb *thumbs;
    unsigned char *has_title;
    unsigned char *has_any; /* a title or a photo: something to compare */
    long *unread;      /* per thread: photos that could not be read */
    int *failed;       /* per thread: 1 out of memory, 2 a bad photo (not skip_bad) */
    shelf_error *why;  /* per thread: the first bad photo */
    int skip_bad;
} dup_job;

/* The photo halves and thumbnails of the thread's share of the products. */
static void read_photos(void *ctx, int tid, int nthreads)
{
    dup_job *j = ctx;
    size_t begin, end;
    pool_split(shelf_catalog_size(j->c), tid, nthreads, &begin, &end);
    char path[4096];
    for (size_t i = begin; i < end && !j->failed[tid]; i++) {
        const shelf_product *p = shelf_catalog_get(j->c, i);
        if (!p->image || !*p->image)
            continue;
        shelf_error e = {0};
        image im = {0};
        shelf_status st = image_resolve_path(j->path, p->image, path, sizeof path)
                              ? err_set(&e, SHELF_EDATA, "image path too long")
                              : image_decode_file(path, FP_THUMB_MAX, 0, &im, &e);
        if (st == SHELF_OK && fp_photo(&im, j->vecs + i * FP_DIM + FP_TITLE_DIM, &j->thumbs[i]))
            st = err_set(&e, SHELF_ENOMEM, "out of memory");
        image_free(&im);
        if (st == SHELF_ENOMEM) {
            j->failed[tid] = 1;
        } else if (st != SHELF_OK) {
            j->unread[tid]++;
            if (!j->why[tid].message[0])
                snprintf(j->why[tid].message, SHELF_ERROR_MAX, "%.300s:%ld: %.300s: %.300s",
                         j->path, p->line, p->image, e.message);
            if (!j->skip_bad)
                j->failed[tid] = 2;
        }
    }
}

/* The title halves: each product's word keys, TF-IDF weighted over the catalog (a key in
 * df products weighs log(n / df)), hashed with a sign into FP_TITLE_DIM buckets. */
static shelf_status title_halves(dup_job *j, shelf_error *err)
{
    const size_t n = shelf_catalog_size(j->c);
    strmap keys;
    strmap_init(&keys);
    tok_scratch tok = {0};
    uint32_t *df = NULL, *seen = NULL;
    size_t df_cap = 0;
    char *key = NULL;
    size_t key_cap = 0;
    shelf_status st = SHELF_OK;
    /* two passes: the document frequencies, then the vectors */
    for (int pass = 0; pass < 2 && st == SHELF_OK; pass++)
        for (size_t i = 0; i < n && st == SHELF_OK; i++) {
            const char *text = shelf_catalog_get(j->c, i)->text;
            long nt = tok_tokenize(&tok, text ? text : "", text ? strlen(text) : 0);
            if (nt < 0) {
                st = err_set(err, SHELF_ENOMEM, "out of memory");
                break;
            }
            float *v = j->vecs + i * FP_DIM;
            for (long t = 0; t < nt; t++) {
                const tok_span *s = &tok.tokens[t];
                if (s->len + 1 > key_cap) {
                    char *k2 = mem_realloc(key, s->len + 64);
                    if (!k2) {
                        st = err_set(err, SHELF_ENOMEM, "out of memory");
                        break;
                    }
                    key = k2, key_cap = s->len + 64;
                }
                fp_word_key(tok.text + s->start, s->len, key);
                key[s->len] = '\0';
                long id = strmap_intern(&keys, key);
                if (id < 0 || (size_t)id >= df_cap) {
                    size_t cap = df_cap ? df_cap * 2 : 4096;
                    uint32_t *d2 = id < 0 ? NULL : mem_realloc(df, cap * sizeof *df);
                    uint32_t *s2 = d2 ? mem_realloc(seen, cap * sizeof *seen) : NULL;
                    if (d2)
                        df = d2;
                    if (!s2) {
                        st = err_set(err, SHELF_ENOMEM, "out of memory");
                        break;
                    }
                    seen = s2;
                    memset(df + df_cap, 0, (cap - df_cap) * sizeof *df);
                    memset(seen + df_cap, 0, (cap - df_cap) * sizeof *seen);
                    df_cap = cap;
                }
                if (pass == 0) { /* once per product */
                    if (seen[id] != i + 1)
                        df[id]++, seen[id] = (uint32_t)(i + 1);
                    continue;
                }
                uint64_t h = hash_fnv1a(HASH_FNV_BASIS, key, s->len);
                float w = (float)log((n + 1.0) / df[id]); /* > 0 even in every title */
                v[h % FP_TITLE_DIM] += (h >> 63) ? -w : w;
            }
            if (pass == 1) {
                double norm = 0;
                for (int d = 0; d < FP_TITLE_DIM; d++)
                    norm += (double)v[d] * v[d];
                j->has_title[i] = norm > 1e-12;
                for (int d = 0; norm > 1e-12 && d < FP_TITLE_DIM; d++)
                    v[d] = (float)(v[d] / sqrt(norm));
            }
        }
    strmap_free(&keys);
    tok_scratch_free(&tok);
    mem_free(df);
    mem_free(seen);
    mem_free(key);
    return st;
}

/* Both halves weighed 1/sqrt(2) when both are there, one alone whole. */
static void join_halves(dup_job *j, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float *v = j->vecs + i * FP_DIM;
        int photo = j->thumbs[i].w > 0, title = j->has_title[i];
        float w = photo && title ? (float)M_SQRT1_2 : 1;
        j->has_any[i] = photo || title;
        for (int d = 0; d < FP_DIM && w != 1; d++)
            v[d] *= w;
    }
}

static int by_pair(const void *a, const void *b)
{
    const shelf_duplicate_pair *x = a, *y = b;
    if (x->a != y->a)
        return x->a < y->a ? -1 : 1;
    return (x->b > y->b) - (x->b < y->b);
}

/* Candidate pairs (a < b, each once) from every product's nearest at o->candidate or
 * more; a product with neither a title nor a photo has none. */
static shelf_status candidates(const dup_job *j, const shelf_index *x,
                               const shelf_duplicate_options *o, shelf_duplicate_pairs *c,
                               shelf_error *err)
{
    enum { QUERIES = 1024 };
    const size_t n = x->n;
    const int k = o->k < (int)n - 1 ? o->k : (int)n - 1;
    long *rows = mem_alloc(QUERIES * (size_t)k * sizeof *rows);
    long *skip = mem_alloc(QUERIES * sizeof *skip);
    float *scores = mem_alloc(QUERIES * (size_t)k * sizeof *scores);
    size_t cap = 0;
    shelf_status st = rows && skip && scores ? SHELF_OK : err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t q0 = 0; st == SHELF_OK && q0 < n; q0 += QUERIES) {
        size_t m = n - q0 < QUERIES ? n - q0 : QUERIES;
        for (size_t i = 0; i < m; i++)
            skip[i] = (long)(q0 + i);
        st = shelf_index_search(x, x->vecs + q0 * FP_DIM, m, k, skip, 0, o->threads, rows,
                                scores, err);
        for (size_t i = 0; st == SHELF_OK && i < m; i++)
            for (int r = 0; r < k; r++) {
                long nb = rows[i * (size_t)k + (size_t)r];
                size_t a = q0 + i;
                if (nb < 0 || scores[i * (size_t)k + (size_t)r] < o->candidate)
                    break;
                if (!j->has_any[a] || !j->has_any[nb])
                    continue;
                if (c->n == cap) {
                    size_t c2 = cap ? cap * 2 : 256;
                    shelf_duplicate_pair *p2 = mem_realloc(c->pairs, c2 * sizeof *p2);
                    if (!p2) {
                        st = err_set(err, SHELF_ENOMEM, "out of memory");
                        break;
                    }
                    c->pairs = p2, cap = c2;
                }
                size_t lo = (size_t)nb < a ? (size_t)nb : a, hi = (size_t)nb < a ? a : (size_t)nb;
                c->pairs[c->n++] = (shelf_duplicate_pair){lo, hi, 0};
            }
    }
    if (st == SHELF_OK && c->n) { /* a pair found from both sides once */
        qsort(c->pairs, c->n, sizeof *c->pairs, by_pair);
        size_t u = 1;
        for (size_t i = 1; i < c->n; i++)
            if (c->pairs[i].a != c->pairs[u - 1].a || c->pairs[i].b != c->pairs[u - 1].b)
                c->pairs[u++] = c->pairs[i];
        c->n = u;
    }
    mem_free(rows);
    mem_free(skip);
    mem_free(scores);
    return st;
}

/* Each candidate verified on its photos, or on its titles when either has none; those at
 * o->threshold or above are kept, in place. */
static shelf_status verify_pairs(const dup_job *j, const shelf_index *x,
                                 const shelf_duplicate_options *o, shelf_duplicate_pairs *c,
                                 shelf_error *err)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        size_t lo = c->pairs[i].a, hi = c->pairs[i].b;
        float s;
        if (j->thumbs[lo].w && j->thumbs[hi].w) {
            if (fp_verify(&j->thumbs[lo], &j->thumbs[hi], &s))
                return err_set(err, SHELF_ENOMEM, "out of memory");
        } else { /* no photo to compare: the titles' cosine */
            double d = 0;
            for (int t = 0; t < FP_TITLE_DIM; t++)
                d += (double)x->vecs[lo * FP_DIM + (size_t)t] * x->vecs[hi * FP_DIM + (size_t)t];
            int halved = j->thumbs[lo].w || j->thumbs[hi].w; /* one title weighed 1/sqrt(2) */
            s = (float)(halved ? d * M_SQRT2 : d);
        }
        if (s >= o->threshold)
            c->pairs[kept++] = (shelf_duplicate_pair){lo, hi, s};
    }
    c->n = kept;
    return SHELF_OK;
}

void shelf_duplicate_options_default(shelf_duplicate_options *o)
{
    memset(o, 0, sizeof *o);
    o->threshold = SHELF_DUPLICATE_THRESHOLD;
    o->candidate = SHELF_DUPLICATE_CANDIDATE;
    o->k = 10;
}

shelf_status shelf_find_duplicates(const shelf_catalog *c, const shelf_duplicate_options *o,
                                   shelf_duplicate_pairs *out, shelf_error *err)
{
    if (!c || !o || !out)
        return err_set(err, SHELF_EINVAL, "shelf_find_duplicates: missing argument");
    memset(out, 0, sizeof *out);
    const size_t n = shelf_catalog_size(c);
    if (o->k < 1 || o->k > INDEX_MAX_K || !(o->threshold >= -1 && o->threshold <= 1) ||
        !(o->candidate >= -1 && o->candidate <= 1))
        return err_set(err, SHELF_EINVAL, "shelf_find_duplicates: k from 1 to %d, thresholds "
                       "from -1 to 1", INDEX_MAX_K);
    if (n < 2)
        return SHELF_OK;
    if (n > INDEX_MAX_ROWS)
        return err_set(err, SHELF_EINVAL, "%zu products: at most %llu", n, INDEX_MAX_ROWS);
    thread_pool *pool = pool_new(o->threads);
    const int T = pool ? pool_threads(pool) : 1;
    dup_job j = {.c = c, .path = shelf_catalog_path(c), .skip_bad = o->skip_bad};
    shelf_index *x = mem_calloc(1, sizeof *x);
    j.vecs = mem_calloc(n * FP_DIM, sizeof *j.vecs);
    j.thumbs = mem_calloc(n, sizeof *j.thumbs);
    j.has_title = mem_calloc(n, 1);
    j.has_any = mem_calloc(n, 1);
    j.unread = mem_calloc((size_t)T, sizeof *j.unread);
    j.failed = mem_calloc((size_t)T, sizeof *j.failed);
    j.why = mem_calloc((size_t)T, sizeof *j.why);
    shelf_status st = pool && x && j.vecs && j.thumbs && j.has_title && j.has_any && j.unread &&
                      j.failed && j.why ? SHELF_OK : err_set(err, SHELF_ENOMEM, "out of memory");
    if (st == SHELF_OK) {
        pool_run(pool, read_photos, &j);
        for (int t = 0; t < T && st == SHELF_OK; t++) {
            out->unread_photos += j.unread[t];
            if (j.failed[t] == 1)
                st = err_set(err, SHELF_ENOMEM, "out of memory reading the photos");
        }
        for (int t = 0; t < T && st == SHELF_OK; t++)
            if (j.failed[t] == 2) /* the first bad photo of the first thread that met one */
                st = err_set(err, SHELF_EDATA, "%s (--skip-bad leaves such products' photos "
                             "out)", j.why[t].message);
        for (int t = 0; t < T && st == SHELF_OK && !out->first_unread[0]; t++)
            if (j.why[t].message[0])
                snprintf(out->first_unread, sizeof out->first_unread, "%s", j.why[t].message);
    }
    if (st == SHELF_OK)
        st = title_halves(&j, err);
    if (st == SHELF_OK) {
        join_halves(&j, n);
        strmap_init(&x->ids);
        strmap_init(&x->labels);
        x->fingerprint = FP_FINGERPRINT;
        x->dim = FP_DIM;
        x->vecs = j.vecs, x->n = x->cap = n;
        j.vecs = NULL; /* the index's now */
        st = shelf_index_build(x, SHELF_INDEX_AUTO, o->threads, err);
    }
    if (st == SHELF_OK)
        st = candidates(&j, x, o, out, err);
    if (st == SHELF_OK)
        st = verify_pairs(&j, x, o, out, err);
    if (st != SHELF_OK)
        shelf_duplicate_pairs_free(out);
    for (size_t i = 0; j.thumbs && i < n; i++)
        fp_thumb_free(&j.thumbs[i]);
    if (x && !x->vecs)
        mem_free(x), x = NULL;
    shelf_index_free(x);
    mem_free(j.vecs);
    mem_free(j.thumbs);
    mem_free(j.has_title);
    mem_free(j.has_any);
    mem_free(j.unread);
    mem_free(j.failed);
    mem_free(j.why);
    pool_free(pool);
    return st;
}

void shelf_duplicate_pairs_free(shelf_duplicate_pairs *p)
{
    mem_free(p->pairs);
    p->pairs = NULL;
    p->n = 0;
}
