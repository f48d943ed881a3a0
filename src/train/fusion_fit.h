/* Fitting the fusion head (model/fusion_head.h) on products that neither encoder trained on,
 * in either of its fitted forms (train/fusion_choice.h picks one).
 *
 * Branch: the mean cross-entropy of the fused scores, plus a pull of each branch's weights towards
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
    int gate_steps;   /* the gate's Adam steps */
    float gate_lr;
    float l2_gate;    /* on the gate's weights and constants */
    float l2_bias;    /* on the labels' biases: without it a rare label's bias fits noise */
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

/* Gate: the mean cross-entropy of a_text * text + a_image * image + bias (fusion_head.h),
 * plus l2 on the gate's parameters and on the biases. Full-batch Adam from zero (both sides
 * at softplus(0)), a fixed number of steps, one thread: the same head every run. The
 * signals' mean and scale come from the products fitted on. Sets h->kind to FUSION_GATE.
 * The mean loss, or -1 when out of memory (h is then left as it was). */
double fusion_gate_fit(fusion_head *h, const float *text, const float *image, const int *y,
                       size_t n, const fusion_fit_options *o);

/* The loss fusion_gate_fit minimizes, given each product's signals sig[n][FUSION_SIGNALS]
 * (fusion_signals), and its gradient laid out as gate[2][FUSION_SIGNALS + 1], then bias[K]
 * (grad may be NULL). Exposed for the finite-difference test. scratch holds K floats. */
double fusion_gate_loss(const fusion_head *h, const float *text, const float *image,
                        const float *sig, const int *y, size_t n, const fusion_fit_options *o,
                        float *grad, float *scratch);

#endif
