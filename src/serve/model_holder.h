/* The model a server answers with, swappable while requests run: each request takes a
 * reference to the model of the moment and gives it back when done, so a reload never
 * frees a model under a request; the last reference frees it. Each model keeps a pool of
 * prediction scratches, made on demand, one per request running on it at once, and a model
 * that reads images a predictor for the image queue's thread (serve/batcher.h). */
#ifndef SHELF_SERVE_MODEL_HOLDER_H
#define SHELF_SERVE_MODEL_HOLDER_H

#include <pthread.h>

#include "shelf.h"

typedef struct served_model {
    shelf_model *model;
    char *path;
    long generation;        /* 1 for the first load, one more per reload */
    double loaded_at;       /* Unix time */
    char *info_json;        /* the body of GET /v1/model */
    size_t info_len;
    shelf_predictor *predictor; /* models that read images; used by one thread at a time */
    shelf_index *index;     /* --index: the catalog's vectors by this model (NULL: none) */
    /* guarded by the holder's lock */
    int refs;
    shelf_scratch **spare;  /* scratches not in use */
    int nspare, spare_cap;
} served_model;

typedef struct model_holder {
    pthread_mutex_t mu;        /* guards current and every model's refs and spare */
    pthread_mutex_t reload_mu; /* one reload at a time */
    served_model *current;
    int threads;               /* of each model's predictor */
    char *index_path;          /* loaded with each model (NULL: none) */
    size_t image_batch;        /* products a predictor decodes at a time */
} model_holder;

/* Loads path as generation 1, with the index at index_path (NULL: none), which must be of
 * its making; models that read images get a predictor of threads threads decoding
 * image_batch products at a time. */
shelf_status holder_init(model_holder *h, const char *path, const char *index_path,
                         int threads, size_t image_batch, shelf_error *err);
/* Loads path (NULL: the current model's path) and the index again, and swaps them in; the
 * old ones are freed when their last request gives them back. On failure (an index the new
 * model did not make, too) nothing changes. */
shelf_status holder_reload(model_holder *h, const char *path, shelf_error *err);
void holder_free(model_holder *h);

/* A reference to the current model; give it back with holder_release. */
served_model *holder_acquire(model_holder *h);
void holder_release(model_holder *h, served_model *sm);
/* The current model's generation (for gauges). */
long holder_generation(model_holder *h);

/* A scratch for predicting with sm (which the caller holds), or NULL when out of memory;
 * give it back with holder_give_scratch. */
shelf_scratch *holder_take_scratch(model_holder *h, served_model *sm);
void holder_give_scratch(model_holder *h, served_model *sm, shelf_scratch *s);

#endif
