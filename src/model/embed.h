/* Product embeddings: one L2-normalized vector per product from what the model computes
 * anyway, for similar products, near-duplicates and new labels (shelf_embed in shelf.h).
 *
 * Each side the model reads (text, image) gives two parts: its encoder's features, the
 * ones its label head reads (L2-normalized; the sparse bag's TF-IDF vector is carried to
 * EMBED_PROJECTION dimensions by a fixed random projection of signs, which keeps the
 * cosines of TF-IDF vectors within a few hundredths), and the square roots of its calibrated
 * probabilities over the labels (a unit vector, whose dot product with another's is the
 * Bhattacharyya coefficient of the two predictions: what training learned of the labels).
 * The features tell one product from another, the probabilities group them by what they
 * are; EMBED_FEATURE_SHARE of each side's squared length goes to the features. The sides
 * weigh the same; a product without one (no photo, no known word) has zeros there. */
#ifndef SHELF_MODEL_EMBED_H
#define SHELF_MODEL_EMBED_H

#include <stddef.h>

#include "model/encoder.h"
#include "shelf.h"

enum { EMBED_PROJECTION = 256 };
#define EMBED_FEATURE_SHARE 0.5f

/* Where each part of a model's embedding starts, and its length. */
typedef struct embed_layout {
    size_t text_feat, text_nfeat;   /* the text's features */
    size_t text_probs;              /* the text's probabilities (K floats) */
    size_t image_feat, image_nfeat; /* the photo's features */
    size_t image_probs;             /* the photo's probabilities (K floats) */
    size_t K, dim;
    int text, image;                /* the sides the model reads */
} embed_layout;

void embed_layout_of(const shelf_model *m, embed_layout *l);

/* The length of an encoder's features in an embedding: its width, or EMBED_PROJECTION for
 * sparse ones. */
size_t embed_features_dim(const encoder *e);

/* Row j of f (in f's own order) into dst[embed_features_dim], L2-normalized (zeros for a
 * product with no features). */
void embed_features(const encoder_features *f, size_t j, float *dst);

/* The text side's features in an embedding: its encoder's, or its members' one after
 * another (each L2-normalized and weighed by the square root of its weight). */
size_t model_text_feature_dim(const shelf_model *m);

/* Probabilities p[K] (their logarithms with logs) as their square roots into dst: an
 * embedding's probability part. */
void embed_probs(float *dst, const float *p, size_t K, int logs);

/* Finishes embedding v (its parts written: features normalized, probabilities as square
 * roots): zeros over a side the product lacks, each part weighed, the whole L2-normalized.
 * Returns 1, or 0 when the product has neither side (v is then zeros). */
int embed_finish(const embed_layout *l, float *v, int text_ok, int image_ok);

#endif
