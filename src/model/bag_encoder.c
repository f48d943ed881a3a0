#include "model/bag_encoder.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "model/bag_cache.h"
#include "model/bag_vocab.h"
#include "nn/sparse_linear.h"

/* The training vectors are cached when they take less than this. */
static const size_t CACHE_BUDGET = (size_t)256 << 20;

struct encoder_work {
    size_t cap, n;        /* n: the last training batch's products */
    vec_scratch vs;
    sparse_vec *x;        /* cap: vectors made here */
    sparse_vec *in;       /* cap: the batch's vectors (made here, or the cache's) */
    float *hidden;        /* cap x dim */
    float *grad;          /* cap x dim: the gradient of hidden, training */
    unsigned char *missing;
};

/* What the bag trains on: the texts (its own copy in the rows' order when the setup named
 * rows), and their vectors when they fit the budget. */
typedef struct bag_training {
    const char *const *texts;
    const char **ordered; /* owned: texts in the rows' order, or NULL */
    vcache cache;
    int cached;
} bag_training;

static size_t bag_width(const encoder *e)
{
    const bag_encoder *b = as_const_bag(e);
    return b->dim ? (size_t)b->dim : b->nrows;
}

static size_t bag_batch(const encoder *e)
{
    (void)e;
    return 1; /* one text at a time: nothing is shared between texts */
}

static void bag_work_free(encoder_work *w)
{
    if (!w)
        return;
    vec_scratch_free(&w->vs);
    for (size_t i = 0; w->x && i < w->cap; i++)
        sparse_vec_free(&w->x[i]);
    mem_free(w->x);
    mem_free(w->in);
    mem_free(w->hidden);
    mem_free(w->grad);
    mem_free(w->missing);
    mem_free(w);
}

static encoder_work *bag_work_new(const encoder *e, size_t batch, int training)
{
    const bag_encoder *b = as_const_bag(e);
    encoder_work *w = mem_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->cap = batch ? batch : 1;
    const size_t D = (size_t)(b->dim ? b->dim : 1);
    w->x = mem_calloc(w->cap, sizeof *w->x);
    w->in = mem_calloc(w->cap, sizeof *w->in);
    w->hidden = mem_alloc(w->cap * D * sizeof *w->hidden);
    w->grad = training ? mem_alloc(w->cap * D * sizeof *w->grad) : NULL;
    w->missing = mem_calloc(w->cap, 1);
    if (!w->x || !w->in || !w->hidden || (training && !w->grad) || !w->missing ||
        vec_scratch_init(&w->vs, b->nrows)) {
        bag_work_free(w);
        return NULL;
    }
    return w;
}

void bag_embed(const bag_encoder *b, const sparse_vec *x, float *hidden)
{
    sparse_linear_forward(hidden, x->rows, x->vals, x->n, b->emb, NULL, b->dim);
}

static int bag_forward(const encoder *e, encoder_work *w, const encoder_batch *in,
                       encoder_features *out)
{
    const bag_encoder *b = as_const_bag(e);
    const size_t D = (size_t)b->dim;
    for (size_t i = 0; i < in->n; i++) {
        const char *t = in->texts[i];
        const float *next = D ? b->emb : in->next_rows;
        if (bag_vectorize(b, &w->vs, &w->x[i], t, strlen(t), next, D ? D : in->next_stride))
            return -1;
        w->missing[i] = w->x[i].n == 0;
        if (D)
            bag_embed(b, &w->x[i], w->hidden + i * D);
    }
    *out = (encoder_features){in->n, bag_width(e), D ? w->hidden : NULL, D ? NULL : w->x,
                              w->missing, NULL, 0, NULL};
    return 0;
}

/* The vocabulary from the texts, the embeddings' random start (the head starts at zero),
 * and the cache of the texts' vectors. */
static shelf_status bag_train_begin(encoder *e, const encoder_setup *s, shelf_error *err)
{
    bag_encoder *b = as_bag(e);
    const encoder_batch *all = s->all;
    bag_training *t = b->training = mem_calloc(1, sizeof *t);
    if (!t)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    t->texts = all->texts;
    if (all->rows) { /* product i is texts[rows[i]]: one array in that order for all below */
        if (!(t->ordered = mem_alloc((all->n + 1) * sizeof *t->ordered)))
            return err_set(err, SHELF_ENOMEM, "out of memory");
        for (size_t i = 0; i < all->n; i++)
            t->ordered[i] = all->texts[all->rows[i]];
        t->texts = t->ordered;
    }
    /* a bag with rows already (shelf train --init) keeps them */
    shelf_status st = b->nrows ? SHELF_OK
                               : bag_vocab_build(b, t->texts, all->n, s->threads, s->seen,
                                                 s->opts->comm, err);
    if (st != SHELF_OK)
        return st;
    const float a = b->dim ? 1.0f / (float)b->dim : 0;
    for (size_t i = 0; b->dim && i < (size_t)b->nrows * (size_t)b->dim; i++)
        b->emb[i] = (2 * rng_float(s->r) - 1) * a;
    t->cached = vcache_build(&t->cache, b, t->texts, all->n, s->threads, CACHE_BUDGET);
    if (t->cached < 0)
        return err_set(err, SHELF_ENOMEM, "out of memory caching training vectors");
    return SHELF_OK;
}

static void bag_train_end(encoder *e)
{
    bag_encoder *b = as_bag(e);
    if (b->training) {
        vcache_free(&b->training->cache);
        mem_free(b->training->ordered);
    }
    mem_free(b->training);
    b->training = NULL;
}

/* The rows' vectors from the cache, or made here. */
static int bag_forward_train(encoder *e, encoder_work *w, const encoder_batch *in,
                             encoder_features *out)
{
    const bag_encoder *b = as_const_bag(e);
    const bag_training *t = b->training;
    const size_t D = (size_t)b->dim;
    for (size_t i = 0; i < in->n; i++) {
        const uint32_t p = in->rows[i];
        if (t->cached) {
            vcache_get(&t->cache, p, &w->in[i]);
        } else {
            const char *text = t->texts[p];
            if (bag_vectorize(b, &w->vs, &w->x[i], text, strlen(text), D ? b->emb : in->next_rows,
                              D ? D : in->next_stride))
                return -1;
            w->in[i] = w->x[i];
        }
        w->missing[i] = w->in[i].n == 0;
        if (D)
            bag_embed(b, &w->in[i], w->hidden + i * D);
    }
    w->n = in->n;
    *out = (encoder_features){in->n, bag_width(e), D ? w->hidden : NULL, D ? NULL : w->in,
                              w->missing, NULL, 0, D ? w->grad : NULL};
    return 0;
}

/* The embeddings' rows that the batch used, an SGD step each (Hogwild: shared, unlocked). */
static int bag_backward(encoder *e, encoder_work *w, const encoder_update *u)
{
    bag_encoder *b = as_bag(e);
    const size_t D = (size_t)b->dim;
    for (size_t i = 0; D && i < w->n; i++) {
        const sparse_vec *x = &w->in[i];
        sparse_linear_sgd(b->emb, NULL, w->grad + i * D, NULL, 0, x->rows, x->vals, x->n,
                          b->dim, u->lr);
    }
    return 0;
}

static float *bag_params(encoder *e, size_t *n)
{
    bag_encoder *b = as_bag(e);
    *n = b->dim ? (size_t)b->nrows * (size_t)b->dim : 0;
    return *n ? b->emb : NULL;
}

static int bag_state(encoder *e, float **blocks, size_t *sizes, int max)
{
    size_t n = 0;
    float *p = bag_params(e, &n);
    if (!n || max < 1)
        return 0; /* without embeddings the bag learns nothing: its head does */
    blocks[0] = p;
    sizes[0] = n;
    return 1;
}

static void bag_save(const encoder *e, model_writer *w)
{
    const bag_encoder *b = as_const_bag(e);
    const uint32_t u[5] = {(uint32_t)b->feat.ngrams, (uint32_t)b->feat.minn,
                           (uint32_t)b->feat.maxn, b->feat.buckets, (uint32_t)b->dim};
    mw_put(w, u, sizeof u);
    mw_u32(w, b->nrows);
    mw_put(w, b->rows.buckets, (size_t)b->nrows * 4); /* each row's bucket, ascending */
    mw_put(w, b->idf, (size_t)b->nrows * 4);
    if (b->dim)
        mw_floats(w, b->emb, (size_t)b->nrows * (size_t)b->dim);
}

static void bag_describe(const encoder *e, buf *out, int labels, int nodes)
{
    (void)nodes;
    const bag_encoder *b = as_const_bag(e);
    buf_printf(out, "features          word n-grams 1..%d, character n-grams %d..%d, "
               "%u buckets\n", b->feat.ngrams, b->feat.minn, b->feat.maxn, b->feat.buckets);
    if (b->dim)
        buf_printf(out, "model             embeddings %u x %d, linear %d x %d\n", b->nrows,
                   b->dim, b->dim, labels);
    else
        buf_printf(out, "model             sparse linear %u features x %d labels\n", b->nrows,
                   labels);
}

static void bag_free(encoder *e)
{
    bag_encoder *b = as_bag(e);
    bag_train_end(e);
    bucket_map_free(&b->rows);
    mem_free(b->idf);
    mem_free(b->emb);
    mem_free(b);
}

static const encoder_ops BAG_OPS = {
    .kind = ENCODER_BAG,
    .name = "bag",
    .width = bag_width,
    .batch = bag_batch,
    .work_new = bag_work_new,
    .work_free = bag_work_free,
    .forward = bag_forward,
    .train_begin = bag_train_begin,
    .train_end = bag_train_end,
    .forward_train = bag_forward_train,
    .backward = bag_backward,
    .params = bag_params,
    .state = bag_state,
    .save = bag_save,
    .describe = bag_describe,
    .free = bag_free,
};

bag_encoder *bag_encoder_new(const feat_config *feat, int dim)
{
    bag_encoder *b = mem_calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base.ops = &BAG_OPS;
    b->feat = *feat;
    b->dim = dim;
    return b;
}

int bag_encoder_alloc(bag_encoder *b, uint32_t nrows)
{
    bucket_map_free(&b->rows);
    mem_free(b->idf);
    mem_free(b->emb);
    b->emb = NULL;
    b->nrows = nrows;
    b->idf = mem_alloc((nrows ? nrows : 1) * sizeof *b->idf);
    if (b->dim)
        b->emb = mem_calloc((size_t)nrows * (size_t)b->dim + 1, sizeof *b->emb);
    return b->idf && (!b->dim || b->emb) && bucket_map_init(&b->rows, nrows) == 0 ? 0 : -1;
}

/* The rows' buckets (ascending, each below the hash space) and their weights. */
int bag_read_rows(bag_encoder *b, model_reader *r)
{
    uint32_t n = mr_u32(r);
    uint32_t *buckets = mr_array(r, "the feature rows", n, 4);
    if (!buckets || mr_claim(r, "the IDF weights", n, 4)) {
        mem_free(buckets);
        return mr_fail(r, NULL);
    }
    if (bag_encoder_alloc(b, n)) {
        mem_free(buckets);
        return mr_oom(r);
    }
    for (uint32_t i = 0; i < n; i++) /* the writer stores them in increasing order */
        if (buckets[i] >= b->feat.buckets || bucket_map_add(&b->rows, buckets[i])) {
            mem_free(buckets);
            return mr_fail(r, NULL);
        }
    mem_free(buckets);
    return mr_get(r, b->idf, (size_t)n * 4);
}

/* The settings as training checks them. */
int bag_settings_ok(const feat_config *f, uint32_t dim)
{
    return f->ngrams >= 0 && f->ngrams <= BAG_MAX_NGRAMS && f->minn >= 0 &&
           f->minn <= BAG_MAX_CHARN && f->maxn >= 0 && f->maxn <= BAG_MAX_CHARN &&
           f->buckets > 0 && f->buckets <= BAG_MAX_BUCKETS && dim <= BAG_MAX_DIM;
}

int bag_encoder_load(model_reader *r, encoder **out)
{
    uint32_t u[5];
    mr_get(r, u, sizeof u);
    feat_config f = {(int)u[0], (int)u[1], (int)u[2], u[3]};
    if (r->failed || !bag_settings_ok(&f, u[4]))
        return mr_fail(r, "bad bag-of-n-grams settings");
    bag_encoder *b = bag_encoder_new(&f, (int)u[4]);
    if (!b)
        return mr_oom(r);
    *out = &b->base;
    if (bag_read_rows(b, r))
        return -1;
    if (b->dim && mr_floats(r, "the embeddings", b->emb, (size_t)b->nrows * (size_t)b->dim))
        return -1;
    return 0;
}
