/* The image side of a model: an image encoder (model/cnn_encoder.h) and the label head
 * above it, softmax over the labels. */
#ifndef SHELF_MODEL_IMAGE_MODEL_H
#define SHELF_MODEL_IMAGE_MODEL_H

#include "model/cnn_encoder.h"
#include "model/encoder.h"
#include "model/label_head.h"

/* Probabilities of n images (S x S RGB at the encoder's size, one after another) into
 * probs[n][labels] by encoder e and head h, through w (made for e with training 0 or 1 for
 * batches of up to batch images) in batches of that size; their logarithms with log_probs
 * (the evidence a fusion head weighs). feat (NULL: not asked) gets image i's features,
 * L2-normalized, at feat + i * feat_stride (model/embed.h). 0, or -1 out of memory. */
int image_model_probs(const encoder *e, const label_head *h, encoder_work *w, size_t batch,
                      const unsigned char *pix, size_t n, int log_probs, float *probs,
                      float *feat, size_t feat_stride);

/* The size an image encoder reads images at. */
static inline int image_encoder_size(const encoder *e) { return as_const_cnn(e)->net.size; }

#endif
