/* GELU with the exact normal CDF, as PyTorch's nn.GELU() default (approximate='none'):
 * gelu(x) = x Phi(x), Phi evaluated to float precision by nn/vmath.h (not the tanh
 * approximation). On any range of a flat array. */
#ifndef SHELF_NN_GELU_H
#define SHELF_NN_GELU_H

#include <stddef.h>

/* out = x Phi(x); out may alias x. */
void gelu_forward(float *out, const float *x, size_t n);

/* dx = dout (Phi(x) + x phi(x)), x the forward pass's input; dx may alias dout. */
void gelu_backward(float *dx, const float *dout, const float *x, size_t n);

#endif
