/* Temperature scaling: one number T, fitted on the validation set after training, by which
 * the model divides its logits, so that its probabilities mean what they say (a product
 * given 0.9 is right about 9 times in 10). Margin training leaves the softmax overconfident;
 * back-off (--min-confidence) relies on honest probabilities. Accuracy does not change. */
#ifndef SHELF_TRAIN_CALIBRATE_H
#define SHELF_TRAIN_CALIBRATE_H

#include <stddef.h>

/* rows[i*K ..] hold the probabilities of row i over its K labels (any order), truth[i] the
 * position of the true label in that row, -1 when it is not there (the row is left out).
 * Returns the T in [0.25, 8] that minimizes the mean negative log-likelihood of
 * p^(1/T) / sum p^(1/T); 1 when there is nothing to fit. */
float calibrate_temperature(const float *rows, const int *truth, size_t n, int K);

#include "shelf.h"

/* --balance adjust: the strength tau in [0, 2] (steps of 0.05) of the logit adjustment
 * log p - tau log prior with the best mean of accuracy and macro-F1 over rows whose
 * probabilities probs (after the temperature) rank labels[] as the model gave them, truth[i]
 * row i's true label (-1: left out); the smaller tau on a tie, so 0 unless it helps.
 * 0, or -1 out of memory. */
int calibrate_adjustment(const float *probs, const int *labels, const int *truth, size_t n,
                         int K, const float *log_prior, float *tau);

/* Fits m->temperature on (up to the first 20,000 products, and 16 M probabilities, of) valid,
 * then, when m->log_prior is set (--balance adjust), m->adjust_tau, then the lowest back-off
 * threshold that keeps MODEL_AUTO_PRECISION there (m->auto_threshold, for --min-confidence
 * auto). 0, or -1 when out of memory (the model is left at its temperature). */
int calibrate_model(shelf_model *m, const shelf_catalog *valid, int threads);

#endif
