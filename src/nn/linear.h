/* A dense linear layer on one vector: out[K] = b[K] + sum_c inp[c] * W[c][K].
 * C = inputs, K = outputs. W is stored input-major so that the forward pass is a sequence
 * of axpy over contiguous rows. */
#ifndef SHELF_NN_LINEAR_H
#define SHELF_NN_LINEAR_H

void linear_forward(float *out, const float *inp, const float *W, const float *b, int C, int K);
/* dinp[C] = W dout (overwritten; may be NULL); dW += inp dout^T; db += dout (may be NULL). */
void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                     const float *W, int C, int K);

/* The SGD step of the layer fused with its backward pass: dinp[C] = W dout, then
 * W -= lr inp dout^T and b -= lr dout, over the classes active[0..nactive) only (every class
 * when active is NULL, nactive = K). */
void linear_sgd(float *W, float *b, float *dinp, const float *dout, const int *active,
                int nactive, const float *inp, int C, int K, float lr);

#endif
