#include "serve/classify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

int predictions_alloc(predictions *p, const classify_req *q, const shelf_model *m)
{
    int K = shelf_model_num_labels(m);
    int kq = q->min_conf > 0 ? K : q->k < K ? q->k : K;
    if (kq < 1)
        kq = 1;
    size_t n = q->n, nk = n * (size_t)kq;
    size_t nf = shelf_model_modality(m) == SHELF_MODALITY_BOTH ? 2 * n : 0;
    /* pointers, then floats and ints, bytes last: every part stays aligned */
    p->block = mem_alloc(n * sizeof(char *) + (nk + nf) * sizeof(float) + nk * sizeof(int) +
                         n * sizeof(int) + n);
    if (!p->block)
        return -1;
    p->kq = kq;
    p->n = n;
    p->texts = p->block;
    for (size_t i = 0; i < n; i++)
        p->texts[i] = q->products[i].text;
    p->labels = (int *)(p->texts + n);
    p->probs = (float *)(p->labels + nk);
    p->fusion = nf ? p->probs + nk : NULL;
    if (q->explain && !(p->explanations = mem_calloc(n + 1, sizeof *p->explanations))) {
        mem_free(p->block);
        p->block = NULL;
        return -1;
    }
    p->counts = (int *)(p->probs + nk + nf);
    p->used = (unsigned char *)(p->counts + n);
    return 0;
}

void predictions_free(predictions *p)
{
    for (size_t i = 0; p->explanations && i < p->n; i++)
        mem_free(p->explanations[i]);
    mem_free(p->explanations);
    mem_free(p->block);
    memset(p, 0, sizeof *p);
}

int classify_text(model_holder *h, served_model *sm, const classify_req *q, predictions *p,
                  req_error *e)
{
    shelf_scratch *s = holder_take_scratch(h, sm);
    if (!s)
        return req_fail(e, 500, "out of memory");
    int rc = 0;
    /* the function shelf_predict_batch runs for shelf predict on a text model */
    if (shelf_predict_texts(sm->model, s, p->texts, q->n, p->kq, p->labels, p->probs,
                            p->counts))
        rc = req_fail(e, 500, "out of memory predicting");
    memset(p->used, SHELF_USED_TEXT, q->n);
    holder_give_scratch(h, sm, s);
    return rc;
}

void classify_image_job(image_job *j, const served_model *sm, const classify_req *q,
                        predictions *p)
{
    memset(j, 0, sizeof *j);
    j->predictor = sm->predictor;
    j->products = q->products;
    j->n = q->n;
    j->kq = p->kq;
    j->labels = p->labels;
    j->probs = p->probs;
    j->counts = p->counts;
    j->used = p->used;
    j->fusion = p->fusion;
}

int classify_explained(const served_model *sm, const classify_req *q, predictions *p,
                       req_error *e)
{
    if (q->n > REQ_MAX_EXPLAINED)
        return req_fail(e, 413, "explain: at most %d products per request, not %zu (each "
                        "costs a model pass per token or image cell)", REQ_MAX_EXPLAINED, q->n);
    shelf_predictor *pr = NULL;
    shelf_error err = {0};
    if (shelf_predictor_new(sm->model, 1, q->n, &pr, &err) != SHELF_OK)
        return req_fail(e, 500, "%s", err.message);
    int rc = 0;
    if (shelf_model_modality(sm->model) == SHELF_MODALITY_TEXT) { /* images are ignored */
        shelf_predict_stats st;
        if (shelf_predictor_run(pr, "-", q->products, q->n, p->kq, p->labels, p->probs,
                                p->counts, p->used, &st, &err) != SHELF_OK)
            rc = req_fail(e, 500, "%s", err.message);
    } else {
        image_job j;
        classify_image_job(&j, sm, q, p);
        j.predictor = pr;
        image_job_run(&j);
        rc = classify_image_result(&j, e);
    }
    for (size_t i = 0; rc == 0 && i < q->n; i++)
        if (p->counts[i] >= 0 &&
            shelf_predictor_explain(pr, "-", q->products, i, p->labels[i * (size_t)p->kq],
                                    &p->explanations[i], &err) != SHELF_OK)
            rc = req_fail(e, 500, "%s", err.message);
    shelf_predictor_free(pr);
    return rc;
}

int classify_image_result(const image_job *j, req_error *e)
{
    if (j->status != SHELF_OK)
        return req_fail(e, 500, "%s", j->message);
    if (j->bad_image >= 0) /* "products[3].image_base64: what is wrong" */
        return req_fail(e, 400, "%s", j->message);
    return 0;
}

/* One product's object, as shelf predict --min-confidence writes it, modalities (and a fused
 * model's fusion weights) included. */
static void write_product(FILE *f, const served_model *sm, const classify_req *q,
                          const predictions *p, size_t i)
{
    const shelf_output_columns cols = {.format = SHELF_OUTPUT_JSONL,
                                       .backoff = 1,
                                       .modalities = 1,
                                       .fusion = p->fusion != NULL,
                                       .explain = p->explanations != NULL};
    const int *labels = p->labels + i * (size_t)p->kq;
    const float *probs = p->probs + i * (size_t)p->kq;
    int count = p->counts[i] > 0 ? p->counts[i] : 0;
    const char *names[REQ_MAX_K];
    int n = 0;
    for (; n < count && n < q->k; n++)
        names[n] = shelf_model_label(sm->model, labels[n]);
    char path[1024];
    shelf_prediction pr = {.id = q->products[i].id, .n = n, .labels = names, .probs = probs,
                           .path = path, .used = p->used[i],
                           .explanation = p->explanations ? p->explanations[i] : NULL};
    if (p->fusion) {
        pr.fusion[0] = p->fusion[2 * i];
        pr.fusion[1] = p->fusion[2 * i + 1];
    }
    /* min_confidence 0 gives the best label: the same call either way */
    pr.status = shelf_backoff(sm->model, labels, probs, count, q->min_conf, path, sizeof path,
                              &pr.confidence);
    shelf_write_prediction(f, &cols, &pr, NULL); /* valid by construction */
}

char *classify_answer(const served_model *sm, const classify_req *q, const predictions *p,
                      size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    if (!f)
        return NULL;
    if (q->batch)
        fputs("{\"predictions\":[", f);
    for (size_t i = 0; i < q->n; i++) {
        if (i)
            fputc(',', f);
        write_product(f, sm, q, p, i);
    }
    if (q->batch)
        fputs("]}\n", f);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        mem_free(out);
        return NULL;
    }
    return out;
}
