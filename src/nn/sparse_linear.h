/* A linear layer over a sparse input, and an embedding bag (the same product with a
 * different output size). n = nonzeros of the input, K = outputs.
 * The input is rows[n] (which weight rows are active) and vals[n] (their values). */
#ifndef SHELF_NN_SPARSE_LINEAR_H
#define SHELF_NN_SPARSE_LINEAR_H

#include <stddef.h>
#include <stdint.h>

/* out[K] = b[K] (or 0 when b is NULL) + sum_j vals[j] * W[rows[j]][0..K) */
void sparse_linear_forward(float *out, const uint32_t *rows, const float *vals, size_t n,
                           const float *W, const float *b, int K);

/* The layer's only backward pass: the gradient fused with its SGD step, for Hogwild
 * training (no gradient buffer the size of the weights). For k in active[0..nactive)
 * (every k when active is NULL), W[rows[j]][k] -= lr * vals[j] * dout[k] and
 * b[k] -= lr * dout[k] (b may be NULL). Skipping the classes whose gradient is negligible
 * is what makes a softmax over thousands of labels cheap. */
void sparse_linear_sgd(float *W, float *b, const float *dout, const int *active, int nactive,
                       const uint32_t *rows, const float *vals, size_t n, int K, float lr);

#endif
