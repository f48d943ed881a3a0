/* Element-wise layers: ReLU and (inverted) dropout, on any range of a flat array. */
#ifndef SHELF_NN_ACTIVATION_H
#define SHELF_NN_ACTIVATION_H

#include <stddef.h>

#include "core/rng.h"

/* out = max(x, 0); out may alias x. */
void relu_forward(float *out, const float *x, size_t n);
/* dx = dout where out > 0, else 0 (out: the forward output); dx may alias dout. */
void relu_backward(float *dx, const float *dout, const float *out, size_t n);

/* Training: keeps each value with probability 1 - p and scales kept ones by 1 / (1 - p);
 * mask receives the factor applied (0 or 1 / (1 - p)). p = 0 copies (mask 1), p >= 1 gives
 * zeros. Draws one rng_next per two values, so a seed fixes the mask. out may alias x. */
void dropout_forward(float *out, float *mask, const float *x, size_t n, float p, rng *r);
/* dx = dout * mask; dx may alias dout. */
void dropout_backward(float *dx, const float *dout, const float *mask, size_t n);

#endif
