/* A dense linear layer on one vector: out[K] = b[K] + sum_c inp[c] * W[c][K].
 * C = inputs, K = outputs. W is stored input-major so that the forward pass is a sequence
 * of axpy over contiguous rows. */
#ifndef SHELF_NN_LINEAR_H
#define SHELF_NN_LINEAR_H

void linear_forward(float *out, const float *inp, const float *W, const float *b, int C, int K);
/* dinp[C] = W dout (overwritten; may be NULL); dW += inp dout^T; db += dout (may be NULL). */
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                     const float *W, int C, int K);

#endif
