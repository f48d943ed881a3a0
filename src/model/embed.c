/* Product embeddings (embed.h): the parts, the projection of sparse features, and
 * shelf_embed over the predictor's threads. */
#include "model/embed.h"

#include <math.h>
#include <stdatomic.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "model/predictor.h"

size_t embed_features_dim(const encoder *e)
{
    if (e->ops->kind == ENCODER_BAG && as_const_bag(e)->dim == 0)
        return EMBED_PROJECTION;
    return encoder_width(e);
}

size_t model_text_feature_dim(const shelf_model *m)
{
    size_t n = 0;
    for (int j = 0; j < m->nmembers; j++)
        n += model_text_feature_dim(m->member[j]);
    return m->text ? embed_features_dim(m->text) : n;
}

void embed_layout_of(const shelf_model *m, embed_layout *l)
{
    memset(l, 0, sizeof *l);
    l->K = (size_t)model_num_labels(m);
    l->text = model_reads_text(m);
    l->image = m->image != NULL;
    if (l->text) {
        l->text_nfeat = model_text_feature_dim(m);
        l->text_probs = l->text_nfeat;
        l->dim = l->text_probs + l->K;
    }
    if (l->image) {
        l->image_feat = l->dim;
        l->image_nfeat = embed_features_dim(m->image);
        l->image_probs = l->image_feat + l->image_nfeat;
        l->dim = l->image_probs + l->K;
    }
}

/* The sign of a feature row in projected dimension d: bit d of a hash of the row, the same
 * in every run. */
static uint64_t sign_bits(uint32_t row, size_t block)
{
    uint64_t z = ((uint64_t)row << 8 | block) + 0x9e3779b97f4a7c15ull; /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void normalize(float *v, size_t n)
{
    double ss = 0;
    for (size_t d = 0; d < n; d++)
        ss += (double)v[d] * v[d];
    float inv = ss > 0 ? (float)(1 / sqrt(ss)) : 0;
    for (size_t d = 0; d < n; d++)
        v[d] *= inv;
}

void embed_features(const encoder_features *f, size_t j, float *dst)
{
    if (f->dense) {
        memcpy(dst, f->dense + j * f->width, f->width * sizeof *dst);
        normalize(dst, f->width);
        return;
    }
    memset(dst, 0, EMBED_PROJECTION * sizeof *dst);
    const sparse_vec *x = &f->sparse[j];
    for (size_t e = 0; e < x->n; e++) {
        if (x->rows[e] == VEC_UNKNOWN)
            continue;
        for (size_t b = 0; b < EMBED_PROJECTION / 64; b++) {
            uint64_t bits = sign_bits(x->rows[e], b);
            float *to = dst + b * 64;
            for (int d = 0; d < 64; d++)
                to[d] += (bits >> d & 1) ? x->vals[e] : -x->vals[e];
        }
    }
    normalize(dst, EMBED_PROJECTION);
}

void embed_probs(float *dst, const float *p, size_t K, int logs)
{
    for (size_t c = 0; c < K; c++)
        dst[c] = sqrtf(logs ? expf(p[c]) : p[c]);
}

static void scale(float *v, size_t n, float by)
{
    for (size_t d = 0; d < n; d++)
        v[d] *= by;
}

int embed_finish(const embed_layout *l, float *v, int text_ok, int image_ok)
{
    const float a = sqrtf(EMBED_FEATURE_SHARE), b = sqrtf(1 - EMBED_FEATURE_SHARE);
    text_ok = text_ok && l->text;
    image_ok = image_ok && l->image;
    if (l->text) {
        scale(v + l->text_feat, l->text_nfeat, text_ok ? a : 0);
        scale(v + l->text_probs, l->K, text_ok ? b : 0);
    }
    if (l->image) {
        scale(v + l->image_feat, l->image_nfeat, image_ok ? a : 0);
        scale(v + l->image_probs, l->K, image_ok ? b : 0);
    }
    normalize(v, l->dim);
    return text_ok || image_ok;
}

size_t shelf_embedding_dim(const shelf_model *m)
{
    embed_layout l;
    if (!m)
        return 0;
    embed_layout_of(m, &l);
    return l.dim;
}

/* Texts on the predictor's threads, each with its scratch. */
typedef struct embed_job {
    const shelf_model *m;
    shelf_scratch **scratch;
    const char *const *texts;
    size_t n, dim;
    float *out;
    unsigned char *known;
    atomic_int failed;
} embed_job;

static void run_embed(void *arg, int tid, int nthreads)
{
    embed_job *j = arg;
    size_t i0, i1;
    model_split_texts(j->scratch[tid], j->n, tid, nthreads, &i0, &i1);
    if (model_texts_embed(j->m, j->scratch[tid], j->texts + i0, i1 - i0, j->out + i0 * j->dim,
                          j->dim, j->known + i0))
        atomic_store(&j->failed, 1);
}

static shelf_status embed_texts(shelf_predictor *p, const shelf_product *products, size_t n,
                                float *out, unsigned char *ok, shelf_error *err)
{
    embed_layout l;
    embed_layout_of(p->m, &l);
    const char **texts = mem_alloc((n ? n : 1) * sizeof *texts);
    if (!texts)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        texts[i] = products[i].text ? products[i].text : "";
    embed_job j = {p->m, p->scratch, texts, n, l.dim, out, ok, 0};
    pool_run(p->pool, run_embed, &j);
    mem_free(texts);
    if (atomic_load(&j.failed))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        ok[i] = (unsigned char)embed_finish(&l, out + i * l.dim, ok[i], 0);
    return SHELF_OK;
}

shelf_status shelf_predictor_embed(shelf_predictor *p, const char *data_path,
                                   const shelf_product *products, size_t n, float *out,
                                   unsigned char *ok, shelf_predict_stats *stats,
                                   shelf_error *err)
{
    if (!p || (!products && n) || (!out && n) || (!ok && n))
        return err_set(err, SHELF_EINVAL, "shelf_predictor_embed: missing argument");
    shelf_predict_stats ignored;
    if (!stats)
        stats = &ignored;
    memset(stats, 0, sizeof *stats);
    predictor_forget_run(p, n);
    if (!p->m->image)
        return embed_texts(p, products, n, out, ok, err);
    int *labels = mem_alloc((n ? n : 1) * sizeof *labels);
    int *counts = mem_alloc((n ? n : 1) * sizeof *counts);
    float *probs = mem_alloc((n ? n : 1) * sizeof *probs);
    shelf_status st = SHELF_OK;
    if (!labels || !counts || !probs) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    } else {
        p->embed = out; /* chunk_probs writes the parts and finishes each product's */
        p->embed_ok = ok;
        st = predictor_images(p, data_path, products, n, 1, labels, probs, counts, NULL, stats,
                              err);
        p->embed = NULL;
        p->embed_ok = NULL;
    }
    mem_free(labels);
    mem_free(counts);
    mem_free(probs);
    return st;
}

shelf_status shelf_embed(const shelf_model *m, const char *data_path,
                         const shelf_product *products, size_t n, int threads, float *out,
                         unsigned char *ok, shelf_predict_stats *stats, shelf_error *err)
{
    if (!m)
        return err_set(err, SHELF_EINVAL, "shelf_embed: no model");
    shelf_predictor *p = NULL;
    shelf_status st = shelf_predictor_new(m, threads, 0, &p, err);
    if (st == SHELF_OK)
        st = shelf_predictor_embed(p, data_path, products, n, out, ok, stats, err);
    shelf_predictor_free(p);
    return st;
}
