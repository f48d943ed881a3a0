/* The predictor's insides, shared by predictor.c (the handle, and shelf_predict_products
 * over it), predict_batch.c (texts on the team of threads) and predict_image.c (images and
 * fused models). */
#ifndef SHELF_MODEL_PREDICTOR_H
#define SHELF_MODEL_PREDICTOR_H

#include "core/buf.h"
#include "model/model.h"

/* A product whose image was not used, and why (owned). */
typedef struct image_why {
    size_t i;
    char *why;
} image_why;

struct shelf_predictor {
    const shelf_model *m;
    thread_pool *pool;
    shelf_scratch **scratch; /* one per thread of the pool; models that read text */
    int nscratch;
    size_t chunk;            /* products loaded at a time */
    /* models that read images: chunk-sized buffers, and the image encoder's work area for
       batches of image_batch images */
    encoder_work *image_work;
    size_t image_batch;
    float *probs, *prior;    /* chunk * K: the image side's, the text side's (fused) */
    unsigned char *known;    /* chunk, fused: whether the text had a word the model knows */
    const char **refs, **texts; /* chunk: image references, texts (fused) */
    long *lines;
    /* the last run's products without a usable image, by increasing index */
    image_why *why;
    size_t nwhy, why_cap;
    /* fused models: the last run's weights of text and image per product, [n][2] */
    float *weights;
    size_t nweights, weights_cap;
    struct explainer **explainers; /* one per thread of the pool, made on first use */
    int explain_best;              /* shelf_predictor_explain_best */
    /* the explanations of the last run's products: each thread's appended to its buffer,
       where record i says which and at what offset product i's is (the label it explains;
       -1: none). Kept until the next run: the pointers handed out point into them. */
    buf *xbuf;
    struct explained {
        size_t off;
        int tid, label;
    } *xrec;
    size_t nxrec, xrec_cap;
    size_t nlast;                /* products of the last run */
    /* shelf_predictor_embed of an image or fused model: the run writes each product's
       embedding here (embed.h's layout) and whether it has one, instead of nothing */
    float *embed;
    unsigned char *embed_ok;
};

/* shelf_predictor_new; images 0 leaves out what images need (for texts only). */
shelf_status predictor_new(const shelf_model *m, int threads, size_t max_batch, int images,
                           shelf_predictor **out, shelf_error *err);

/* Forgets what the last run left (why images were not used, fusion weights,
 * explanations) before a run of n products. */
void predictor_forget_run(shelf_predictor *p, size_t n);

/* Forgets the explanations of the last run, and makes room to record n: 0, or -1 out of
 * memory. */
int predictor_forget_explained(shelf_predictor *p, size_t n);

/* Explainer t (one per thread of the pool), made on first use. NULL out of memory. */
struct explainer *predictor_explainer(shelf_predictor *p, int t);

/* Texts texts[0..n) on the predictor's threads, as shelf_predict_batch says. */
shelf_status predictor_texts(shelf_predictor *p, const char *const *texts, size_t n, int k,
                             int *labels, float *probs, int *counts, shelf_error *err);

/* Allocates the image buffers and the image encoder's work area. 0, or -1 out of memory. */
int predictor_image_init(shelf_predictor *p);
void predictor_image_free(shelf_predictor *p);

/* Products of an image or fused model, as shelf_predictor_run says; stats zeroed by the
 * caller, and the last run's verdicts forgotten. */
shelf_status predictor_images(shelf_predictor *p, const char *data_path,
                              const shelf_product *products, size_t n, int k, int *labels,
                              float *probs, int *counts, unsigned char *used,
                              shelf_predict_stats *stats, shelf_error *err);

#endif
