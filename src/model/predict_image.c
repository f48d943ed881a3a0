/* Prediction for image and fused models: decode, resize, the image encoder in batches on all
 * cores and its label head, and for fused models the text side and the fusion head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/grow.h"
#include "core/mem.h"
#include "image/image_set.h"
#include "model/embed.h"
#include "model/predictor.h"
#include "nn/softmax.h"

int image_model_probs(const encoder *e, const label_head *h, encoder_work *w, size_t batch,
                      const unsigned char *pix, size_t n, int log_probs, float *probs,
                      float *feat, size_t feat_stride)
{
    size_t S = (size_t)image_encoder_size(e), bytes = S * S * 3, K = (size_t)h->out;
    for (size_t done = 0; done < n;) {
        size_t b = n - done < batch ? n - done : batch;
        encoder_batch in = {.n = b, .pixels = pix + done * bytes};
        encoder_features f;
        if (e->ops->forward(e, w, &in, &f))
            return -1;
        for (size_t i = 0; i < b; i++) {
            float *z = probs + (done + i) * K;
            if (feat)
                embed_features(&f, i, feat + (done + (f.order ? (size_t)f.order[i] : i)) *
                                                 feat_stride);
            label_head_forward_row(h, &f, i, z);
            if (log_probs)
                log_softmax_forward(z, z, (int)K);
            else
                softmax_forward(z, z, (int)K);
        }
        done += b;
    }
    return 0;
}

/* Images through the encoder at a time: its work area holds this many. */
enum { PREDICT_BATCH = 64 };

int predictor_image_init(shelf_predictor *p)
{
    size_t K = (size_t)model_num_labels(p->m), c = p->chunk;
    p->image_batch = c < PREDICT_BATCH ? c : PREDICT_BATCH;
    p->probs = mem_alloc(c * K * sizeof *p->probs);
    p->refs = mem_alloc(c * sizeof *p->refs);
    p->lines = mem_alloc(c * sizeof *p->lines);
    if (model_has_text(p->m)) {
        p->prior = mem_alloc(c * K * sizeof *p->prior);
        p->texts = mem_alloc(c * sizeof *p->texts);
        p->known = mem_alloc(c);
    }
    if (!p->probs || !p->refs || !p->lines ||
        (model_has_text(p->m) && (!p->prior || !p->texts || !p->known)))
        return -1;
    p->image_work = cnn_encoder_work_new(p->m->image, p->image_batch, 0, p->pool);
    return p->image_work ? 0 : -1;
}

void predictor_image_free(shelf_predictor *p)
{
    if (p->image_work)
        p->m->image->ops->work_free(p->image_work);
    p->image_work = NULL;
    mem_free(p->probs);
    mem_free(p->prior);
    mem_free(p->refs);
    mem_free(p->lines);
    mem_free(p->texts);
    mem_free(p->known);
    p->known = NULL;
    p->probs = p->prior = NULL;
    p->refs = p->texts = NULL;
    p->lines = NULL;
}

/* Fused models: the text side's log-probabilities of a chunk of products, on all threads,
 * each with its own scratch. */
typedef struct prior_job {
    const shelf_model *m;
    const char *const *texts;
    size_t n;
    float *prior;
    unsigned char *known;
    shelf_scratch **scratch;
    int failed;
    float *feat; /* embeddings: the text's features of product i at feat + i * stride */
    size_t stride;
} prior_job;

static void run_prior(void *arg, int tid, int nthreads)
{
    prior_job *j = arg;
    size_t i0, i1, K = (size_t)model_num_labels(j->m);
    shelf_scratch *s = j->scratch[tid];
    model_split_texts(s, j->n, tid, nthreads, &i0, &i1);
    s->feat = j->feat ? j->feat + i0 * j->stride : NULL;
    s->feat_stride = j->stride;
    if (model_texts_log_probs(j->m, s, j->texts + i0, i1 - i0, j->prior + i0 * K,
                              j->known + i0))
        j->failed = 1;
    s->feat = NULL;
}

/* shelf_predictor_embed: the probabilities' parts of the chunk's embeddings emb[c][dim]
 * (the features are written), then each finished. */
static void finish_embeddings(shelf_predictor *p, const image_set *set, size_t c, float *emb,
                              unsigned char *ok)
{
    embed_layout l;
    embed_layout_of(p->m, &l);
    int fused = model_has_text(p->m);
    for (size_t i = 0; i < c; i++) {
        float *v = emb + i * l.dim;
        if (fused)
            embed_probs(v + l.text_probs, p->prior + i * l.K, l.K, 1);
        embed_probs(v + l.image_probs, p->probs + i * l.K, l.K, fused);
        ok[i] = (unsigned char)embed_finish(&l, v, fused && p->known[i], set->ok[i] != 0);
    }
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

/* A fused model's product with neither a usable image nor a word its text side knows: an
 * error row, its message the image's with the text's added. 0, or -1 out of memory. */
static int nothing_to_read(image_set *set, size_t i)
{
    const char *was = set->why[i] ? set->why[i] : "no image";
    size_t len = strlen(was) + 64;
    char *why = mem_alloc(len);
    if (!why)
        return -1;
    snprintf(why, len, "%s, and the text has no word the model knows", was);
    mem_free(set->why[i]);
    set->why[i] = why;
    return 0;
}

/* Probabilities of the chunk's c products into p->probs: the CNN's, or for a fused model
 * its head over the text's and the image's evidence; a fused model's product with only one
 * side to read (no usable image, or no word of its text known) gets that side's alone, as
 * its model would give it. */
static shelf_status chunk_probs(shelf_predictor *p, const shelf_product *products,
                                image_set *set, size_t c, float *weights, size_t from,
                                shelf_error *err)
{
    const shelf_model *m = p->m;
    size_t K = (size_t)model_num_labels(m);
    int fused = model_has_text(m);
    embed_layout l = {0};
    float *emb = NULL; /* shelf_predictor_embed: the chunk's embeddings */
    if (p->embed) {
        embed_layout_of(m, &l);
        emb = p->embed + from * l.dim;
    }
    if (fused) {
        for (size_t i = 0; i < c; i++)
            p->texts[i] = products[i].text;
        prior_job pj = {m,      p->texts, c, p->prior, p->known, p->scratch, 0,
                        emb ? emb + l.text_feat : NULL, l.dim};
        pool_run(p->pool, run_prior, &pj);
        if (pj.failed)
            return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    /* a fused model's head weighs log-probabilities */
    if (image_model_probs(m->image, &m->image_head, p->image_work, p->image_batch, set->pix, c,
                          fused, p->probs, emb ? emb + l.image_feat : NULL, l.dim))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    if (emb) /* the evidence of each side, before the fusion head mixes them */
        finish_embeddings(p, set, c, emb, p->embed_ok + from);
    for (size_t i = 0; i < c; i++) {
        float *q = p->probs + i * K;
        if (fused) {
            float *w = weights + 2 * i;
            w[0] = p->known[i];
            w[1] = set->ok[i] != 0;
            if (set->ok[i] && p->known[i])
                fusion_head_apply(&m->head, p->prior + i * K, q, q, w);
            else if (!set->ok[i]) /* no image: the text's evidence alone */
                memcpy(q, p->prior + i * K, K * sizeof *q);
            softmax_forward(q, q, (int)K);
            if (!p->known[i] && !set->ok[i] && nothing_to_read(set, i))
                return err_set(err, SHELF_ENOMEM, "out of memory");
            if (!p->known[i]) /* the image side alone, as the image model: its own softmax */
                continue;
        }
        model_apply_temperature(q, (int)K, m->temperature);
        model_apply_adjustment(m, q, (int)K);
    }
    return SHELF_OK;
}

shelf_status predictor_images(shelf_predictor *p, const char *data_path,
                              const shelf_product *products, size_t n, int k, int *labels,
                              float *probs, int *counts, unsigned char *used,
                              shelf_predict_stats *stats, shelf_error *err)
{
    const shelf_model *m = p->m;
    size_t K = (size_t)model_num_labels(m);
    int fused = model_has_text(m), kk = k < (int)K ? k : (int)K;
    shelf_status st = SHELF_OK;
    if (fused && grow_array((void **)&p->weights, &p->weights_cap, 2 * n, sizeof *p->weights,
                            64))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    p->nweights = fused ? n : 0;
    for (size_t from = 0; from < n && st == SHELF_OK; from += p->chunk) {
        size_t c = n - from < p->chunk ? n - from : p->chunk;
        for (size_t i = 0; i < c; i++) {
            p->refs[i] = products[from + i].image;
            p->lines[i] = products[from + i].line;
        }
        image_set set;
        double t0 = now_sec();
        if ((st = image_set_load(&set, data_path, p->refs, p->lines, products + from, c,
                                 image_encoder_size(m->image), p->pool, err)))
            break;
        double t1 = now_sec();
        st = chunk_probs(p, products + from, &set, c, fused ? p->weights + 2 * from : NULL,
                         from, err);
        stats->load_seconds += t1 - t0;
        stats->model_seconds += now_sec() - t1;
        long unread = 0; /* products with nothing the model can read: error rows */
        for (size_t i = 0; i < c && st == SHELF_OK; i++) {
            size_t at = (from + i) * (size_t)k;
            int text = fused && p->known[i], none = !set.ok[i] && !text;
            counts[from + i] = none ? -1 : model_top_k(p->probs + i * K, (int)K, kk,
                                                       labels + at, probs + at);
            if (used)
                used[from + i] = (unsigned char)((text ? SHELF_USED_TEXT : 0) |
                                                 (set.ok[i] ? SHELF_USED_IMAGE : 0));
            if (none && !unread++ && !stats->bad_images)
                snprintf(stats->first_bad, sizeof stats->first_bad, "%s", set.why[i]);
            stats->text_only += text && !set.ok[i];
            stats->image_only += fused && !text && set.ok[i];
        }
        if (set.bad && !unread && !stats->bad_images && !stats->text_only)
            memcpy(stats->first_bad, set.first_error, sizeof stats->first_bad);
        stats->bad_images += unread;
        if (st == SHELF_OK && keep_why(p, &set, from))
            st = err_set(err, SHELF_ENOMEM, "out of memory");
        image_set_free(&set);
    }
    return st;
}
