/* The image side of a model: the CNN (model/cnn.h) and how images are prepared for it. */
#ifndef SHELF_MODEL_IMAGE_MODEL_H
#define SHELF_MODEL_IMAGE_MODEL_H

#include "core/threadpool.h"
#include "model/cnn.h"

typedef struct image_settings {
    float mean[3], std[3]; /* per channel, of pixel / 255 over the training images */
    /* how it was trained, for shelf info */
    int augment, batch, optimizer, schedule;
    float weight_decay;
} image_settings;

/* Probabilities of n images (S x S RGB, S = the model's size, one after another) into
 * probs[n][labels], through w (made for this model with training 0 or 1) in batches of its
 * capacity; their logarithms when w->log_probs. */
void image_model_probs(const cnn *net, const image_settings *is, cnn_work *w, thread_pool *pool,
                       const unsigned char *pix, size_t n, float *probs);

#endif
