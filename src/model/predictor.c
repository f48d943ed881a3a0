/* The predictor: a model with the threads and scratch space its predictions need, made once
 * and run on batch after batch. The one prediction path of shelf predict, shelf eval, the
 * server and calibration: shelf_predict_products is a predictor used once. */
#include "model/predictor.h"

#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "image/image_set.h"
#include "model/explain.h"

enum { DEFAULT_CHUNK = 1024 };

void shelf_predictor_free(shelf_predictor *p)
{
    if (!p)
        return;
    for (int t = 0; t < p->nscratch; t++)
        shelf_scratch_free(p->scratch[t]);
    mem_free(p->scratch);
    predictor_image_free(p);
    for (size_t i = 0; i < p->nwhy; i++)
        mem_free(p->why[i].why);
    mem_free(p->why);
    mem_free(p->weights);
    explainer_free(p->explainer);
    pool_free(p->pool);
    mem_free(p);
}

shelf_status predictor_new(const shelf_model *m, int threads, size_t max_batch, int images,
                           shelf_predictor **out, shelf_error *err)
{
    *out = NULL;
    if (!m)
        return err_set(err, SHELF_EINVAL, "shelf_predictor_new: no model");
    shelf_predictor *p = mem_calloc(1, sizeof *p);
    if (!p || !(p->pool = pool_new(threads)))
        goto oom;
    p->m = m;
    p->chunk = max_batch ? max_batch : DEFAULT_CHUNK;
    if (model_has_text(m)) {
        int n = pool_threads(p->pool);
        if (!(p->scratch = mem_calloc((size_t)n, sizeof *p->scratch)))
            goto oom;
        for (; p->nscratch < n; p->nscratch++)
            if (shelf_scratch_new(m, &p->scratch[p->nscratch], err) != SHELF_OK) {
                shelf_predictor_free(p);
                return SHELF_ENOMEM;
            }
    }
    if (images && model_has_image(m) && predictor_image_init(p))
        goto oom;
    *out = p;
    return SHELF_OK;
oom:
    shelf_predictor_free(p);
    return err_set(err, SHELF_ENOMEM, "out of memory for a predictor");
}

shelf_status shelf_predictor_new(const shelf_model *m, int threads, size_t max_batch,
                                 shelf_predictor **out, shelf_error *err)
{
    return predictor_new(m, threads, max_batch, 1, out, err);
}

shelf_status shelf_predictor_run(shelf_predictor *p, const char *data_path,
                                 const shelf_product *products, size_t n, int k, int *labels,
                                 float *probs, int *counts, unsigned char *used,
                                 shelf_predict_stats *stats, shelf_error *err)
{
    memset(stats, 0, sizeof *stats);
    for (size_t i = 0; i < p->nwhy; i++)
        mem_free(p->why[i].why);
    p->nwhy = 0;
    p->nweights = 0;
    p->nlast = n;
    if (k <= 0)
        return err_set(err, SHELF_EINVAL, "k must be at least 1, not %d", k);
    if (model_has_image(p->m) && !p->probs)
        return err_set(err, SHELF_EINVAL, "a predictor made for texts only");
    if (model_has_image(p->m))
        return predictor_images(p, data_path, products, n, k, labels, probs, counts, used,
                                stats, err);
    const char **texts = mem_alloc((n ? n : 1) * sizeof *texts);
    if (!texts)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        texts[i] = products[i].text;
    double t0 = now_sec();
    shelf_status st = predictor_texts(p, texts, n, k, labels, probs, counts, err);
    if (used)
        memset(used, SHELF_USED_TEXT, n);
    stats->model_seconds = now_sec() - t0;
    mem_free(texts);
    return st;
}

static int cmp_why(const void *key, const void *elem)
{
    size_t i = *(const size_t *)key, j = ((const image_why *)elem)->i;
    return i < j ? -1 : i > j;
}

const char *shelf_predictor_image_error(const shelf_predictor *p, size_t i)
{
    const image_why *w = p && p->nwhy ? bsearch(&i, p->why, p->nwhy, sizeof *p->why, cmp_why)
                                      : NULL;
    return w ? w->why : NULL;
}

int shelf_predictor_fusion(const shelf_predictor *p, size_t i, float weights[2])
{
    if (!p || i >= p->nweights)
        return -1;
    weights[0] = p->weights[2 * i];
    weights[1] = p->weights[2 * i + 1];
    return 0;
}

shelf_status shelf_predictor_explain(shelf_predictor *p, const char *data_path,
                                     const shelf_product *products, size_t i, int label,
                                     char **json, shelf_error *err)
{
    *json = NULL;
    if (!p || !products || i >= p->nlast || label < 0 || label >= model_num_labels(p->m))
        return err_set(err, SHELF_EINVAL, "shelf_predictor_explain: no predictor, a product "
                       "that was not in its last run, or a label the model does not have");
    const shelf_model *m = p->m;
    if (!p->explainer && !(p->explainer = explainer_new(m)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    const shelf_product *q = products + i;
    const char *text = model_has_text(m) && q->text && *q->text ? q->text : NULL;
    image_set set = {0};
    const unsigned char *pixels = NULL;
    if (model_has_image(m) && p->image_work) { /* decoded again: the run kept no pixels */
        shelf_status st = image_set_load(&set, data_path, &q->image, &q->line, q, 1,
                                         image_encoder_size(m->image), p->pool, err);
        if (st != SHELF_OK)
            return st;
        pixels = set.ok[0] ? set.pix : NULL;
    }
    float w[2];
    int fused = m->modality == SHELF_MODALITY_BOTH && shelf_predictor_fusion(p, i, w) == 0;
    if (fused && w[0] == 0) /* the text had no word the model knows: it played no part */
        text = NULL;
    if (fused && w[1] == 0) /* no usable image, or a head that keeps the text alone */
        pixels = NULL;
    *json = explain_product(p->explainer, p->scratch ? p->scratch[0] : NULL, p->image_work,
                            p->image_batch, text, pixels, label, fused ? w : NULL);
    image_set_free(&set);
    return *json ? SHELF_OK : err_set(err, SHELF_ENOMEM, "out of memory");
}

shelf_status shelf_predict_products(const shelf_model *m, const char *data_path,
                                    const shelf_product *products, size_t n, int k, int threads,
                                    int *labels, float *probs, int *counts, unsigned char *used,
                                    shelf_predict_stats *stats, shelf_error *err)
{
    memset(stats, 0, sizeof *stats);
    if (k <= 0)
        return err_set(err, SHELF_EINVAL, "k must be at least 1, not %d", k);
    shelf_predictor *p = NULL;
    shelf_status st = shelf_predictor_new(m, threads, 0, &p, err);
    if (st == SHELF_OK)
        st = shelf_predictor_run(p, data_path, products, n, k, labels, probs, counts, used,
                                 stats, err);
    shelf_predictor_free(p);
    return st;
}
