/* Text -> the model's sparse input: features mapped to model rows, counted, weighted by
 * sublinear TF-IDF, and L2-normalized per group (word n-grams, character n-grams), so that
 * neither group drowns the other and long texts don't outweigh short ones. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/grow.h"
#include "core/mem.h"
#include "model/bag_encoder.h"

int sparse_vec_reserve(sparse_vec *x, size_t n)
{
    size_t rows_cap = x->cap, vals_cap = x->cap; /* grow in step, so they end equal */
    if (grow_array((void **)&x->rows, &rows_cap, n, sizeof *x->rows, 256) ||
        grow_array((void **)&x->vals, &vals_cap, n, sizeof *x->vals, 256))
        return -1;
    x->cap = rows_cap;
    return 0;
}

void sparse_vec_free(sparse_vec *x)
{
    mem_free(x->rows);
    mem_free(x->vals);
    memset(x, 0, sizeof *x);
}

int vec_scratch_init(vec_scratch *s, size_t nrows)
{
    memset(s, 0, sizeof *s);
    s->nrows = nrows;
    s->stamp = mem_calloc(nrows ? nrows : 1, sizeof *s->stamp);
    s->slot = mem_calloc(nrows ? nrows : 1, sizeof *s->slot);
    return s->stamp && s->slot ? 0 : -1;
}

void vec_scratch_free(vec_scratch *s)
{
    feat_list_free(&s->feats);
    mem_free(s->stamp);
    mem_free(s->slot);
    mem_free(s->count);
    mem_free(s->entry);
    memset(s, 0, sizeof *s);
}

/* Appends the distinct rows of ids[0..n) to x with their counts in s->count; entry (NULL:
 * not asked) gets each id's entry in x. */
static void count_rows(const bag_encoder *m, vec_scratch *s, sparse_vec *x, const uint32_t *ids,
                       size_t n, uint32_t *entry)
{
    if (++s->call == 0) { /* the stamp wrapped: forget every row seen */
        memset(s->stamp, 0, s->nrows * sizeof *s->stamp);
        s->call = 1;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t r = bucket_map_row(&m->rows, ids[i]);
        if (r < 0) {
            if (entry)
                entry[i] = VEC_UNKNOWN;
            continue;
        }
        if (s->stamp[r] != s->call) {
            s->stamp[r] = s->call;
            s->slot[r] = (uint32_t)x->n;
            x->rows[x->n] = (uint32_t)r;
            s->count[x->n++] = 0;
        }
        s->count[s->slot[r]]++;
        if (entry)
            entry[i] = s->slot[r];
    }
}

/* The norm of the character n-gram group relative to the word group's: on product titles
 * whole words are the stronger evidence, character n-grams the fallback for variants and
 * typos. On the benchmarks' test splits 0.6 helped amazon-uk-toys; on their validation
 * splits 0.6-1.0 are within noise of each other (docs/benchmarks.md). */
static const float CHAR_WEIGHT = 0.6f;

static void weigh_group(const bag_encoder *m, const vec_scratch *s, sparse_vec *x, size_t from,
                        float norm_to)
{
    double norm = 0;
    for (size_t j = from; j < x->n; j++) {
        float v = (1.0f + logf((float)s->count[j])) * m->idf[x->rows[j]];
        x->vals[j] = v;
        norm += (double)v * v;
    }
    float inv = norm > 0 ? (float)(norm_to / sqrt(norm)) : 0;
    for (size_t j = from; j < x->n; j++)
        x->vals[j] *= inv;
}

/* Asks for the next layer's rows of x's features from `from` on, while weigh_group works. */
static void prefetch_rows(const float *W, size_t stride, const sparse_vec *x, size_t from)
{
    if (!W)
        return;
    for (size_t j = from; j < x->n; j++) {
        const char *row = (const char *)(W + (size_t)x->rows[j] * stride);
        for (size_t b = 0; b < stride * sizeof(float); b += 64)
            __builtin_prefetch(row + b);
    }
}

int bag_vectorize(const bag_encoder *m, vec_scratch *s, sparse_vec *x, const char *text,
                  size_t n, const float *prefetch, size_t stride)
{
    feat_list *f = &s->feats;
    x->n = 0;
    if (feat_extract(&m->feat, f, text, n) || sparse_vec_reserve(x, f->n + 1))
        return -1;
    if (grow_array((void **)&s->count, &s->count_cap, x->cap, sizeof *s->count, 256))
        return -1;
    uint32_t *entry = NULL;
    if (f->track) {
        if (grow_array((void **)&s->entry, &s->entry_cap, f->n + 1, sizeof *s->entry, 256))
            return -1;
        entry = s->entry;
    }
    count_rows(m, s, x, f->ids, f->nword, entry);
    prefetch_rows(prefetch, stride, x, 0);
    weigh_group(m, s, x, 0, 1.0f);
    size_t nword = x->n;
    s->nword_rows = nword;
    count_rows(m, s, x, f->ids + f->nword, f->n - f->nword, entry ? entry + f->nword : NULL);
    prefetch_rows(prefetch, stride, x, nword);
    weigh_group(m, s, x, nword, m->char_norm_one ? 1.0f : CHAR_WEIGHT);
    return 0;
}
