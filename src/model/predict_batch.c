/* Prediction of many texts on all cores: the one path shared by predict, eval, the server's
 * image queue (fused models' text side aside) and validation during training. */
#include <stdatomic.h>

#include "core/error.h"
#include "model/explain.h"
#include "model/predictor.h"

typedef struct text_job {
    shelf_predictor *p;
    const shelf_model *m;
    shelf_scratch **scratch;
    const char *const *texts;
    size_t n;
    int k, *labels, *counts;
    float *probs;
    atomic_int failed; /* set by any thread, only ever to 1 */
} text_job;

static void run_texts(void *arg, int tid, int nthreads)
{
    text_job *j = arg;
    size_t i0, i1, k = (size_t)j->k;
    model_split_texts(j->scratch[tid], j->n, tid, nthreads, &i0, &i1);
    if (shelf_predict_texts(j->m, j->scratch[tid], j->texts + i0, i1 - i0, j->k,
                            j->labels + i0 * k, j->probs + i0 * k, j->counts + i0))
        atomic_store(&j->failed, 1); /* its counts are 0 */
}

/* run_texts of a bag model whose run explains as it predicts (shelf_predictor_explain_best):
 * each text read once for its labels and its explanation, kept in the thread's buffer. */
static void run_texts_explained(void *arg, int tid, int nthreads)
{
    text_job *j = arg;
    shelf_predictor *p = j->p;
    size_t i0, i1, k = (size_t)j->k;
    model_split_texts(j->scratch[tid], j->n, tid, nthreads, &i0, &i1);
    explainer *x = predictor_explainer(p, tid);
    buf *out = &p->xbuf[tid];
    for (size_t i = i0; i < i1; i++) {
        size_t off = out->len;
        int got = x ? explain_bag_predict(x, j->texts[i], j->k, j->labels + i * k,
                                          j->probs + i * k, out) : -1;
        j->counts[i] = got < 0 ? 0 : got;
        p->xrec[i] = (struct explained){off, tid, got > 0 ? j->labels[i * k] : -1};
        if (got < 0) { /* the half-written object goes; later ones may still fit */
            atomic_store(&j->failed, 1);
            out->len = off;
            out->oom = 0;
        }
    }
}

shelf_status predictor_texts(shelf_predictor *p, const char *const *texts, size_t n, int k,
                             int *labels, float *probs, int *counts, shelf_error *err)
{
    if (k <= 0)
        return err_set(err, SHELF_EINVAL, "k must be at least 1, not %d", k);
    if (!model_has_text(p->m))
        return err_set(err, SHELF_EINVAL, "the model classifies images: use "
                       "shelf_predict_products");
    text_job j = {p, p->m, p->scratch, texts, n, k, labels, counts, probs, 0};
    if (p->explain_best && model_bag(p->m)) {
        if (predictor_forget_explained(p, n))
            return err_set(err, SHELF_ENOMEM, "out of memory");
        pool_run(p->pool, run_texts_explained, &j);
        return atomic_load(&j.failed) ? err_set(err, SHELF_ENOMEM, "out of memory predicting")
                                      : SHELF_OK;
    }
    pool_run(p->pool, run_texts, &j);
    return atomic_load(&j.failed) ? err_set(err, SHELF_ENOMEM, "out of memory predicting")
                                  : SHELF_OK;
}

shelf_status shelf_predict_batch(const shelf_model *m, const char *const *texts, size_t n,
                                 int k, int threads, int *labels, float *probs, int *counts,
                                 shelf_error *err)
{
    if (k <= 0)
        return err_set(err, SHELF_EINVAL, "k must be at least 1, not %d", k);
    if (!model_has_text(m))
        return err_set(err, SHELF_EINVAL, "the model classifies images: use "
                       "shelf_predict_products");
    if (threads <= 0)
        threads = pool_cores();
    if ((size_t)threads > n / 64 + 1) /* a thread per few texts costs more than it saves */
        threads = (int)(n / 64 + 1);
    shelf_predictor *p = NULL;
    shelf_status st = predictor_new(m, threads, 0, 0, &p, err);
    if (st == SHELF_OK)
        st = predictor_texts(p, texts, n, k, labels, probs, counts, err);
    shelf_predictor_free(p);
    return st;
}
