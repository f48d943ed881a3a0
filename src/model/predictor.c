/* The predictor: a model with the threads and scratch space its predictions need, made once
 * and run on batch after batch. The one prediction path of shelf predict, shelf eval, the
 * server and calibration: shelf_predict_products is a predictor used once. */
#include "model/predictor.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/grow.h"
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
    for (int t = 0; p->explainers && t < pool_threads(p->pool); t++)
        explainer_free(p->explainers[t]);
    mem_free(p->explainers);
    for (int t = 0; p->xbuf && t < pool_threads(p->pool); t++)
        buf_free(&p->xbuf[t]);
    mem_free(p->xbuf);
    mem_free(p->xrec);
    pool_free(p->pool);
    mem_free(p);
}

shelf_status predictor_new(const shelf_model *m, int threads, size_t max_batch, int images,
                           shelf_predictor **out, shelf_error *err)
{
    *out = NULL;
    if (!m)
        return err_set(err, SHELF_EINVAL, "shelf_predictor_new: no model");
    if (images && m->modality == SHELF_MODALITY_BOTH && !fusion_head_ready(&m->head))
        return err_set(err, SHELF_EINVAL, "a fused model's checkpoint taken while its CNN "
                       "trained: its fusion head is fitted when training ends (resume it "
                       "with shelf train --resume)");
    shelf_predictor *p = mem_calloc(1, sizeof *p);
    if (!p || !(p->pool = pool_new(threads)))
        goto oom;
    p->m = m;
    p->chunk = max_batch ? max_batch : DEFAULT_CHUNK;
    const size_t T = (size_t)pool_threads(p->pool);
    if (!(p->explainers = mem_calloc(T, sizeof *p->explainers)) ||
        !(p->xbuf = mem_calloc(T, sizeof *p->xbuf)))
        goto oom;
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

int predictor_forget_explained(shelf_predictor *p, size_t n)
{
    const int T = pool_threads(p->pool);
    p->nxrec = 0;
    for (int t = 0; t < T; t++) { /* kept, so that the next run reuses them */
        p->xbuf[t].len = 0;
        p->xbuf[t].oom = 0;
    }
    if (grow_array((void **)&p->xrec, &p->xrec_cap, n + 1, sizeof *p->xrec, 256))
        return -1;
    for (size_t i = 0; i < n; i++)
        p->xrec[i].tid = -1;
    p->nxrec = n;
    return 0;
}

void shelf_predictor_explain_best(shelf_predictor *p, int on)
{
    if (p)
        p->explain_best = on != 0;
}

shelf_status shelf_predictor_new(const shelf_model *m, int threads, size_t max_batch,
                                 shelf_predictor **out, shelf_error *err)
{
    return predictor_new(m, threads, max_batch, 1, out, err);
}

void predictor_forget_run(shelf_predictor *p, size_t n)
{
    for (size_t i = 0; i < p->nwhy; i++)
        mem_free(p->why[i].why);
    p->nwhy = 0;
    p->nweights = 0;
    p->nlast = n;
    predictor_forget_explained(p, 0);
}

shelf_status shelf_predictor_run(shelf_predictor *p, const char *data_path,
                                 const shelf_product *products, size_t n, int k, int *labels,
                                 float *probs, int *counts, unsigned char *used,
                                 shelf_predict_stats *stats, shelf_error *err)
{
    memset(stats, 0, sizeof *stats);
    predictor_forget_run(p, n);
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

explainer *predictor_explainer(shelf_predictor *p, int t)
{
    if (!p->explainers[t]) /* each thread its own: made from the pool without a lock */
        p->explainers[t] = explainer_new(p->m);
    return p->explainers[t];
}

/* Product i's explanation through explainer t, appended to out (with its NUL): the text on
 * scratch t, the image (decoded again: the run kept no pixels) on the image work area and
 * the pool, so only one thread explains a model that reads images. */
static shelf_status explain_one(shelf_predictor *p, int t, const char *data_path,
                                const shelf_product *products, size_t i, int label, buf *out,
                                shelf_error *err)
{
    const shelf_model *m = p->m;
    explainer *x = predictor_explainer(p, t);
    if (!x)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    const shelf_product *q = products + i;
    const char *text = model_has_text(m) && q->text && *q->text ? q->text : NULL;
    image_set set = {0};
    const unsigned char *pixels = NULL;
    if (model_has_image(m) && p->image_work) {
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
    int bad = explain_product_to(x, out, p->scratch ? p->scratch[t] : NULL, p->image_work,
                                 p->image_batch, text, pixels, label, fused ? w : NULL);
    image_set_free(&set);
    return bad ? err_set(err, SHELF_ENOMEM, "out of memory") : SHELF_OK;
}

static shelf_status bad_explain_args(const char *fn, shelf_error *err)
{
    return err_set(err, SHELF_EINVAL, "%s: no predictor, a product that was not in its last "
                   "run, or a label the model does not have", fn);
}

shelf_status shelf_predictor_explain(shelf_predictor *p, const char *data_path,
                                     const shelf_product *products, size_t i, int label,
                                     char **json, shelf_error *err)
{
    *json = NULL;
    if (!p || !products || i >= p->nlast || label < 0 || label >= model_num_labels(p->m))
        return bad_explain_args("shelf_predictor_explain", err);
    buf b;
    buf_init(&b);
    shelf_status st = explain_one(p, 0, data_path, products, i, label, &b, err);
    if (st == SHELF_OK && !(*json = buf_detach(&b)))
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    buf_free(&b);
    return st;
}

/* Explains product i for label into thread t's buffer, and records where. */
static shelf_status explain_recorded(shelf_predictor *p, int t, const char *data_path,
                                     const shelf_product *products, size_t i, int label,
                                     shelf_error *err)
{
    buf *out = &p->xbuf[t];
    size_t off = out->len;
    shelf_status st = explain_one(p, t, data_path, products, i, label, out, err);
    if (st == SHELF_OK) {
        p->xrec[i] = (struct explained){off, t, label};
    } else { /* the half-written object goes; a later call may still fit */
        out->len = off;
        out->oom = 0;
    }
    return st;
}

/* Whether product i still needs explaining for label: the run did not, or for another. */
static int unexplained(const shelf_predictor *p, size_t i, int label)
{
    return label >= 0 && (p->xrec[i].tid < 0 || p->xrec[i].label != label);
}

typedef struct explain_job {
    shelf_predictor *p;
    const shelf_product *products;
    const int *labels;
    size_t n;
    atomic_int failed; /* set by any thread, only ever to 1 */
} explain_job;

static void run_explain(void *arg, int tid, int nthreads)
{
    explain_job *j = arg;
    size_t i0, i1;
    pool_split(j->n, tid, nthreads, &i0, &i1);
    shelf_error err;
    for (size_t i = i0; i < i1 && !atomic_load(&j->failed); i++)
        if (unexplained(j->p, i, j->labels[i]) &&
            explain_recorded(j->p, tid, NULL, j->products, i, j->labels[i], &err))
            atomic_store(&j->failed, 1);
}

shelf_status shelf_predictor_explain_many(shelf_predictor *p, const char *data_path,
                                          const shelf_product *products, size_t n,
                                          const int *labels, const char **json,
                                          shelf_error *err)
{
    if (json)
        memset(json, 0, n * sizeof *json);
    if (!p || !products || !labels || !json || n > p->nlast)
        return bad_explain_args("shelf_predictor_explain_many", err);
    const int K = model_num_labels(p->m);
    for (size_t i = 0; i < n; i++)
        if (labels[i] >= K)
            return bad_explain_args("shelf_predictor_explain_many", err);
    if (p->nxrec < p->nlast && predictor_forget_explained(p, p->nlast))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    shelf_status st = SHELF_OK;
    if (model_has_image(p->m)) { /* each image's occluded copies fill the cores already */
        for (size_t i = 0; i < n && st == SHELF_OK; i++)
            if (unexplained(p, i, labels[i]))
                st = explain_recorded(p, 0, data_path, products, i, labels[i], err);
    } else {
        explain_job j = {p, products, labels, n, 0};
        pool_run(p->pool, run_explain, &j);
        if (atomic_load(&j.failed))
            st = err_set(err, SHELF_ENOMEM, "out of memory");
    }
    if (st != SHELF_OK)
        return st;
    for (size_t i = 0; i < n; i++) /* the buffers are done growing: pointers into them */
        if (labels[i] >= 0)
            json[i] = p->xbuf[p->xrec[i].tid].data + p->xrec[i].off;
    return SHELF_OK;
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
