/* Fitting the fusion head (model/fusion_head.h) on products that neither encoder trained on:
 * the mean cross-entropy of the fused scores, plus a pull of each branch's weights towards
 * the text model alone (text 1, image 0), so that the photo counts only where those
 * products show that it helps: on fashion a photo weighed the same everywhere costs the
 * rare categories, which the titles name and the CNN barely knows (a bias per label, tried
 * too, fitted the validation set's noise in rare categories).
 * Full-batch Adam from the text model alone, a fixed number of steps, one thread: the same
 * head every run. */
#ifndef SHELF_TRAIN_FUSION_FIT_H
#define SHELF_TRAIN_FUSION_FIT_H

#include <stddef.h>

#include "model/fusion_head.h"

typedef struct fusion_fit_options {
    int steps;        /* Adam steps */
    float lr;
    float l2_branch;  /* pull of a branch's weights towards text 1, image 0 */
} fusion_fit_options;

void fusion_fit_options_default(fusion_fit_options *o);

/* text[i*K ..] and image[i*K ..] hold product i's log-probabilities under each encoder, y[i]
 * its true label (-1: not one of the K, left out). h comes from fusion_head_init. The mean
 * loss of the fitted head, or -1 when out of memory (h is then left as it was). */
double fusion_head_fit(fusion_head *h, const float *text, const float *image, const int *y,
                       size_t n, const fusion_fit_options *o);

/* The loss fusion_head_fit minimizes, and its gradient with respect to the head's
 * parameters laid out as w_text[G], w_image[G] (grad may be NULL). Exposed for the
 * finite-difference test. scratch holds K floats. */
double fusion_head_loss(const fusion_head *h, const float *text, const float *image,
                        const int *y, size_t n, const fusion_fit_options *o, float *grad,
                        float *scratch);

#endif
