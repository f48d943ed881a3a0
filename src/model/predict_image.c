/* Prediction for image models: decode, resize, normalize, the CNN in batches on all cores. */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "image/augment.h"
#include "image/image_set.h"
#include "model/model.h"
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

/* Images through the network at a time, and images decoded at a time: memory stays bounded
 * however many products one call is given. */
enum { PREDICT_BATCH = 64, PREDICT_CHUNK = 1024 };

/* Fused models: the text model's log-probabilities of a chunk of products, on all threads,
 * each with its own scratch. */
typedef struct prior_job {
    const shelf_model *m;
    const shelf_product *products;
    size_t n;
    float *prior;
    shelf_scratch **scratch;
    int failed;
} prior_job;

static void run_prior(void *arg, int tid, int nthreads)
{
    prior_job *j = arg;
    size_t i0, i1, K = (size_t)model_num_labels(j->m);
    pool_split(j->n, tid, nthreads, &i0, &i1);
    for (size_t i = i0; i < i1; i++)
        if (model_text_log_probs(j->m, j->scratch[tid], j->products[i].text, j->prior + i * K))
            j->failed = 1;
}

/* Image and fused models: the images of the n products, resolved against data_path's
 * folder; a fused model weighs its text model's evidence and the CNN's with its fusion head,
 * and falls back on the text alone for a product whose image is missing or unusable. */
static shelf_status predict_images(const shelf_model *m, const char *data_path,
                                   const shelf_product *products, size_t n, int k, int threads,
                                   int *labels, float *probs, int *counts, unsigned char *used,
                                   shelf_predict_stats *stats, shelf_error *err)
{
    thread_pool *pool = pool_new(threads);
    cnn_work w = {0};
    size_t K = (size_t)m->net.nlabels;
    float *chunk_probs = malloc(PREDICT_CHUNK * K * sizeof *chunk_probs);
    const char **refs = malloc(PREDICT_CHUNK * sizeof *refs);
    long *lines = malloc(PREDICT_CHUNK * sizeof *lines);
    int fused = model_has_text(m), nscratch = 0;
    float *prior = fused ? malloc(PREDICT_CHUNK * K * sizeof *prior) : NULL;
    shelf_scratch *scratch[64] = {0};
    shelf_status st = SHELF_OK;
    if (!pool || !chunk_probs || !refs || !lines || (fused && !prior) ||
        cnn_work_init(&w, &m->net, PREDICT_BATCH, pool_threads(pool), 0)) {
        st = err_set(err, SHELF_ENOMEM, "out of memory");
        goto done;
    }
    w.log_probs = fused;
    for (; fused && nscratch < pool_threads(pool); nscratch++)
        if ((st = shelf_scratch_new(m, &scratch[nscratch], err)) != SHELF_OK)
            goto done;
    int kk = k < (int)K ? k : (int)K;
    for (size_t from = 0; from < n && st == SHELF_OK; from += PREDICT_CHUNK) {
        size_t c = n - from < PREDICT_CHUNK ? n - from : PREDICT_CHUNK;
        for (size_t i = 0; i < c; i++) {
            refs[i] = products[from + i].image;
            lines[i] = products[from + i].line;
        }
        image_set set;
        double t0 = now_sec();
        if ((st = image_set_load(&set, data_path, refs, lines, products + from, c, m->net.size,
                                    pool, err)))
            break;
        double t1 = now_sec();
        if (fused) {
            prior_job pj = {m, products + from, c, prior, scratch, 0};
            pool_run(pool, run_prior, &pj);
            if (pj.failed) {
                image_set_free(&set);
                st = err_set(err, SHELF_ENOMEM, "out of memory");
                break;
            }
        }
        image_model_probs(&m->net, &m->img, &w, pool, set.pix, c, chunk_probs);
        for (size_t i = 0; i < c; i++) {
            float *p = chunk_probs + i * K;
            if (fused) {
                if (set.ok[i])
                    fusion_head_apply(&m->head, prior + i * K, p, p);
                else /* no image: the text's evidence alone */
                    memcpy(p, prior + i * K, K * sizeof *p);
                softmax_forward(p, p, (int)K);
            }
            model_apply_temperature(p, (int)K, m->temperature);
        }
        stats->load_seconds += t1 - t0;
        stats->model_seconds += now_sec() - t1;
        for (size_t i = 0; i < c; i++) {
            size_t at = (from + i) * (size_t)k;
            counts[from + i] = set.ok[i] || fused ? model_top_k(chunk_probs + i * K, (int)K, kk,
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
done:
    for (int t = 0; t < nscratch; t++)
        shelf_scratch_free(scratch[t]);
    free(prior);
    cnn_work_free(&w);
    free(chunk_probs);
    free(refs);
    free(lines);
    pool_free(pool);
    return st;
}

shelf_status shelf_predict_products(const shelf_model *m, const char *data_path,
                                    const shelf_product *products, size_t n, int k, int threads,
                                    int *labels, float *probs, int *counts, unsigned char *used,
                                    shelf_predict_stats *stats, shelf_error *err)
{
    memset(stats, 0, sizeof *stats);
    if (k <= 0)
        return err_set(err, SHELF_EINVAL, "k must be at least 1, not %d", k);
    if (model_has_image(m))
        return predict_images(m, data_path, products, n, k, threads, labels, probs, counts,
                              used, stats, err);
    const char **texts = malloc((n ? n : 1) * sizeof *texts);
    if (!texts)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        texts[i] = products[i].text;
    double t0 = now_sec();
    shelf_status st = shelf_predict_batch(m, texts, n, k, threads, labels, probs, counts, err);
    if (used)
        memset(used, SHELF_USED_TEXT, n);
    stats->model_seconds = now_sec() - t0;
    free(texts);
    return st;
}
