/* Mean and max pooling over the real steps of padded sequences, x[B][T][D] row-major with
 * lens[b] in [0, T] real steps (see gru.h); the output of sequence b is a row of D values
 * at out + b*ldo, so that mean and max can fill the two halves of one [B][2D] feature row.
 * A sequence without steps pools to 0. Both backward passes add into dx, so that mean and
 * max pooling of one input add up: the caller zeroes dx first. */
#ifndef SHELF_NN_SEQPOOL_H
#define SHELF_NN_SEQPOOL_H

#include <stdint.h>

/* out[b] = the mean of x[b][t] over t < lens[b]. */
void seqpool_mean_forward(float *out, int ldo, const float *x, const int *lens, int B, int T,
                          int D);
/* dx[b][t] += dout[b] / lens[b] for t < lens[b]. */
void seqpool_mean_backward(float *dx, const float *dout, int ldo, const int *lens, int B, int T,
                           int D);

/* out[b][j] = the maximum of x[b][t][j] over t < lens[b]; argmax[b][j] its t (the first
 * maximum; a NaN wins, so divergence shows), -1 for an empty sequence. */
void seqpool_max_forward(float *out, int ldo, int32_t *argmax, const float *x, const int *lens,
                         int B, int T, int D);
/* dx[b][argmax[b][j]][j] += dout[b][j]. */
void seqpool_max_backward(float *dx, const float *dout, int ldo, const int32_t *argmax, int B,
                          int T, int D);

#endif
