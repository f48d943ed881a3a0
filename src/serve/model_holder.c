#include "serve/model_holder.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "core/mem.h"
#include "serve/model_info.h"

static void served_free(served_model *sm)
{
    if (!sm)
        return;
    for (int i = 0; i < sm->nspare; i++)
        shelf_scratch_free(sm->spare[i]);
    mem_free(sm->spare);
    shelf_predictor_free(sm->predictor);
    shelf_index_free(sm->index);
    mem_free(sm->info_json);
    mem_free(sm->path);
    shelf_model_free(sm->model);
    mem_free(sm);
}

/* Loads path as the given generation, with its GET /v1/model body made once, and its
 * predictor when it reads images: made here, so that a reload that cannot have one fails
 * and leaves the old model serving. */
static shelf_status served_load(const model_holder *h, const char *path, long generation,
                                served_model **out, shelf_error *err)
{
    served_model *sm = mem_calloc(1, sizeof *sm);
    if (!sm || !(sm->path = mem_strdup(path))) {
        mem_free(sm);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    shelf_status st = shelf_model_load(path, &sm->model, err);
    if (st == SHELF_OK && shelf_model_modality(sm->model) != SHELF_MODALITY_TEXT)
        st = shelf_predictor_new(sm->model, h->threads, h->image_batch, &sm->predictor, err);
    if (st == SHELF_OK && h->index_path)
        st = shelf_index_load(h->index_path, sm->model, &sm->index, err);
    if (st != SHELF_OK) {
        served_free(sm);
        return st;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    sm->generation = generation;
    sm->loaded_at = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    sm->refs = 1; /* the holder's own */
    sm->info_json = model_info_json(sm->model, path, generation, sm->loaded_at, &sm->info_len);
    if (!sm->info_json) {
        served_free(sm);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    *out = sm;
    return SHELF_OK;
}

shelf_status holder_init(model_holder *h, const char *path, const char *index_path,
                         int threads, size_t image_batch, shelf_error *err)
{
    memset(h, 0, sizeof *h);
    h->threads = threads;
    h->image_batch = image_batch;
    if (index_path && !(h->index_path = mem_strdup(index_path)))
        return err_set(err, SHELF_ENOMEM, "out of memory");
    shelf_status st = served_load(h, path, 1, &h->current, err);
    if (st != SHELF_OK) {
        mem_free(h->index_path);
        h->index_path = NULL;
        return st;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_mutex_init(&h->reload_mu, NULL);
    return SHELF_OK;
}

served_model *holder_acquire(model_holder *h)
{
    pthread_mutex_lock(&h->mu);
    served_model *sm = h->current;
    sm->refs++;
    pthread_mutex_unlock(&h->mu);
    return sm;
}

void holder_release(model_holder *h, served_model *sm)
{
    pthread_mutex_lock(&h->mu);
    int last = --sm->refs == 0;
    pthread_mutex_unlock(&h->mu);
    if (last)
        served_free(sm);
}

long holder_generation(model_holder *h)
{
    pthread_mutex_lock(&h->mu);
    long g = h->current->generation;
    pthread_mutex_unlock(&h->mu);
    return g;
}

shelf_status holder_reload(model_holder *h, const char *path, shelf_error *err)
{
    pthread_mutex_lock(&h->reload_mu);
    served_model *old = holder_acquire(h);
    served_model *fresh = NULL;
    /* the slow part, loading, runs while the old model keeps answering */
    shelf_status st = served_load(h, path ? path : old->path, old->generation + 1, &fresh, err);
    if (st == SHELF_OK) {
        pthread_mutex_lock(&h->mu);
        h->current = fresh;
        old->refs--; /* the holder's reference moves to the new model */
        pthread_mutex_unlock(&h->mu);
    }
    holder_release(h, old);
    pthread_mutex_unlock(&h->reload_mu);
    return st;
}

void holder_free(model_holder *h)
{
    mem_free(h->index_path);
    h->index_path = NULL;
    if (!h->current)
        return;
    holder_release(h, h->current);
    h->current = NULL;
    pthread_mutex_destroy(&h->mu);
    pthread_mutex_destroy(&h->reload_mu);
}

shelf_scratch *holder_take_scratch(model_holder *h, served_model *sm)
{
    shelf_scratch *s = NULL;
    pthread_mutex_lock(&h->mu);
    if (sm->nspare > 0)
        s = sm->spare[--sm->nspare];
    pthread_mutex_unlock(&h->mu);
    if (!s && shelf_scratch_new(sm->model, &s, NULL) != SHELF_OK)
        return NULL;
    return s;
}

void holder_give_scratch(model_holder *h, served_model *sm, shelf_scratch *s)
{
    pthread_mutex_lock(&h->mu);
    if (sm->nspare == sm->spare_cap) {
        int cap = sm->spare_cap ? 2 * sm->spare_cap : 8;
        shelf_scratch **p = mem_realloc(sm->spare, (size_t)cap * sizeof *p);
        if (!p) { /* keep going without pooling this one */
            pthread_mutex_unlock(&h->mu);
            shelf_scratch_free(s);
            return;
        }
        sm->spare = p;
        sm->spare_cap = cap;
    }
    sm->spare[sm->nspare++] = s;
    pthread_mutex_unlock(&h->mu);
}
