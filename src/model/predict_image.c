/* Prediction for image and fused models: decode, resize, normalize, the CNN in batches on all
 * cores, and for fused models the text model and the fusion head. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/grow.h"
#include "core/mem.h"
#include "image/augment.h"
#include "image/image_set.h"
#include "model/predictor.h"
#include "nn/softmax.h"

typedef struct fill_job {
    const image_settings *is;
    cnn_work *w;
    const unsigned char *pix;
    int size, n;
} fill_job;

static void run_fill(void *arg, int tid, int nthreads)
{
    fill_job *j = arg;
    size_t i0, i1, bytes = (size_t)j->size * j->size * 3, plane = (size_t)j->size * j->size;
    pool_split((size_t)j->n, tid, nthreads, &i0, &i1);
    for (size_t i = i0; i < i1; i++)
        augment_to_tensor(j->pix + i * bytes, j->size, 0, NULL, j->is->mean, j->is->std,
                          j->w->x + i * plane, (long)(plane * (size_t)j->n));
}

void image_model_probs(const cnn *net, const image_settings *is, cnn_work *w, thread_pool *pool,
                       const unsigned char *pix, size_t n, float *probs)
{
    size_t bytes = (size_t)net->size * net->size * 3, K = (size_t)net->nlabels;
    for (size_t done = 0; done < n;) {
        int b = n - done < (size_t)w->cap ? (int)(n - done) : w->cap;
        fill_job j = {is, w, pix + done * bytes, net->size, b};
        pool_run(pool, run_fill, &j);
        cnn_forward_infer(net, w, pool, b);
        memcpy(probs + done * K, w->logits, (size_t)b * K * sizeof *probs);
        done += (size_t)b;
    }
}

/* Images through the network at a time: the CNN's work area holds this many. */
enum { PREDICT_BATCH = 64 };

int predictor_image_init(shelf_predictor *p)
{
    size_t K = (size_t)p->m->net.nlabels, c = p->chunk;
    int batch = c < PREDICT_BATCH ? (int)c : PREDICT_BATCH;
    p->probs = mem_alloc(c * K * sizeof *p->probs);
    p->refs = mem_alloc(c * sizeof *p->refs);
    p->lines = mem_alloc(c * sizeof *p->lines);
    if (model_has_text(p->m)) {
        p->prior = mem_alloc(c * K * sizeof *p->prior);
        p->texts = mem_alloc(c * sizeof *p->texts);
    }
    if (!p->probs || !p->refs || !p->lines ||
        (model_has_text(p->m) && (!p->prior || !p->texts)) ||
        cnn_work_init(&p->w, &p->m->net, batch, pool_threads(p->pool), 0))
        return -1;
    p->w.log_probs = model_has_text(p->m); /* the fusion head weighs log-probabilities */
    return 0;
}

void predictor_image_free(shelf_predictor *p)
{
    cnn_work_free(&p->w);
    mem_free(p->probs);
    mem_free(p->prior);
    mem_free(p->refs);
    mem_free(p->lines);
    mem_free(p->texts);
    p->probs = p->prior = NULL;
    p->refs = p->texts = NULL;
    p->lines = NULL;
}

/* Fused models: the text model's log-probabilities of a chunk of products, on all threads,
 * each with its own scratch. */
typedef struct prior_job {
    const shelf_model *m;
    const char *const *texts;
    size_t n;
    float *prior;
    shelf_scratch **scratch;
    int failed;
} prior_job;

static void run_prior(void *arg, int tid, int nthreads)
{
    prior_job *j = arg;
    size_t i0, i1, K = (size_t)model_num_labels(j->m);
    model_split_texts(j->scratch[tid], j->n, tid, nthreads, &i0, &i1);
    if (model_texts_log_probs(j->m, j->scratch[tid], j->texts + i0, i1 - i0, j->prior + i0 * K))
        j->failed = 1;
}

/* Keeps the messages of the chunk's products whose image was not used, from index from. */
static int keep_why(shelf_predictor *p, image_set *set, size_t from)
{
    for (size_t i = 0; i < set->n; i++) {
        if (!set->why[i])
            continue;
        if (grow_array((void **)&p->why, &p->why_cap, p->nwhy + 1, sizeof *p->why, 16))
            return -1;
        p->why[p->nwhy++] = (image_why){from + i, set->why[i]};
        set->why[i] = NULL; /* the predictor's now */
    }
    return 0;
}

/* Probabilities of the chunk's c products into p->probs: the CNN's, or for a fused model
 * its head over the text's and the image's evidence (the text's alone without an image). */
static shelf_status chunk_probs(shelf_predictor *p, const shelf_product *products,
                                const image_set *set, size_t c, shelf_error *err)
{
    const shelf_model *m = p->m;
    size_t K = (size_t)m->net.nlabels;
    int fused = model_has_text(m);
    if (fused) {
        for (size_t i = 0; i < c; i++)
            p->texts[i] = products[i].text;
        prior_job pj = {m, p->texts, c, p->prior, p->scratch, 0};
        pool_run(p->pool, run_prior, &pj);
        if (pj.failed)
            return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    image_model_probs(&m->net, &m->img, &p->w, p->pool, set->pix, c, p->probs);
    for (size_t i = 0; i < c; i++) {
        float *q = p->probs + i * K;
        if (fused) {
            if (set->ok[i])
                fusion_head_apply(&m->head, p->prior + i * K, q, q);
            else /* no image: the text's evidence alone */
                memcpy(q, p->prior + i * K, K * sizeof *q);
            softmax_forward(q, q, (int)K);
        }
        model_apply_temperature(q, (int)K, m->temperature);
    }
    return SHELF_OK;
}

shelf_status predictor_images(shelf_predictor *p, const char *data_path,
                              const shelf_product *products, size_t n, int k, int *labels,
                              float *probs, int *counts, unsigned char *used,
                              shelf_predict_stats *stats, shelf_error *err)
{
    const shelf_model *m = p->m;
    size_t K = (size_t)m->net.nlabels;
    int fused = model_has_text(m), kk = k < (int)K ? k : (int)K;
    shelf_status st = SHELF_OK;
    for (size_t from = 0; from < n && st == SHELF_OK; from += p->chunk) {
        size_t c = n - from < p->chunk ? n - from : p->chunk;
        for (size_t i = 0; i < c; i++) {
            p->refs[i] = products[from + i].image;
            p->lines[i] = products[from + i].line;
        }
        image_set set;
        double t0 = now_sec();
        if ((st = image_set_load(&set, data_path, p->refs, p->lines, products + from, c,
                                 m->net.size, p->pool, err)))
            break;
        double t1 = now_sec();
        st = chunk_probs(p, products + from, &set, c, err);
        if (st == SHELF_OK && keep_why(p, &set, from))
            st = err_set(err, SHELF_ENOMEM, "out of memory");
        stats->load_seconds += t1 - t0;
        stats->model_seconds += now_sec() - t1;
        for (size_t i = 0; i < c && st == SHELF_OK; i++) {
            size_t at = (from + i) * (size_t)k;
            counts[from + i] = set.ok[i] || fused ? model_top_k(p->probs + i * K, (int)K, kk,
                                                                labels + at, probs + at)
                                                  : -1;
            if (used)
                used[from + i] = (unsigned char)((fused ? SHELF_USED_TEXT : 0) |
                                                 (set.ok[i] ? SHELF_USED_IMAGE : 0));
        }
        if (set.bad && !stats->bad_images && !stats->text_only)
            memcpy(stats->first_bad, set.first_error, sizeof stats->first_bad);
        *(fused ? &stats->text_only : &stats->bad_images) += set.bad;
        image_set_free(&set);
    }
    return st;
}
