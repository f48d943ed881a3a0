/* POST /v1/classify once the request is checked: the prediction (text models right here
 * with the request thread's scratch; image and fused models through the batcher, both by
 * the library calls shelf predict uses) and the answer, written by the same writer as
 * shelf predict's JSONL, so that the server and the command line cannot disagree. */
#ifndef SHELF_SERVE_CLASSIFY_H
#define SHELF_SERVE_CLASSIFY_H

#include <stddef.h>

#include "serve/batcher.h"
#include "serve/model_holder.h"
#include "serve/request.h"

/* The model's answers for a request's n products, kq labels each, in one allocation. */
typedef struct predictions {
    int kq;
    size_t n;
    const char **texts; /* the request's products' */
    int *labels, *counts;
    float *probs;
    unsigned char *used;
    float *fusion; /* fused models: n * 2, the weights of text and image; NULL otherwise */
    char **explanations; /* "explain": true: n JSON objects (NULL for a product not
                            classified); NULL otherwise */
    void *block;
} predictions;

/* Sizes p for q on model m: all labels under back-off (its sums need them), else k. */
int predictions_alloc(predictions *p, const classify_req *q, const shelf_model *m);
void predictions_free(predictions *p);

/* Text models: predicts q's products on this thread. 0, or -1 with e set. */
int classify_text(model_holder *h, served_model *sm, const classify_req *q, predictions *p,
                  req_error *e);

/* "explain": true: q's products through a predictor of the request's own, on this thread,
 * and each one's explanation (shelf_predictor_explain): an explanation costs a model pass per
 * token or image cell, so it stays off the shared queue. 0, or -1 with e set (400 for an
 * image that cannot be used, as without explanations). */
int classify_explained(const served_model *sm, const classify_req *q, predictions *p,
                       req_error *e);

/* Image and fused models: fills j to predict q's products into p; the caller submits it. */
void classify_image_job(image_job *j, const served_model *sm, const classify_req *q,
                        predictions *p);
/* After the batcher: 0, or -1 when the call failed (500) or an image given could not be
 * used (400, saying which and why: images are decoded there, once). */
int classify_image_result(const image_job *j, req_error *e);

/* The answer: one product's JSON object, or {"predictions": [...]} for a batch. The caller
 * frees it; NULL when out of memory. */
char *classify_answer(const served_model *sm, const classify_req *q, const predictions *p,
                      size_t *len);

#endif
