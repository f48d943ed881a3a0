/* Layer normalization over the last dimension, as PyTorch's nn.LayerNorm(C): each of N rows
 * of C values becomes gamma (x - mean) / sqrt(var + eps) + beta, var the biased variance.
 * Works on any range of rows, so threads share a batch by taking slices. */
#ifndef SHELF_NN_LAYERNORM_H
#define SHELF_NN_LAYERNORM_H

/* out[N][C]; saves each row's mean and rstd = 1 / sqrt(var + eps) for the backward pass.
 * out may alias x. */
void layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int N, int C, float eps);

/* Given dout and the forward pass's x, mean and rstd: dx (overwritten; may alias dout),
 * dgamma += and dbeta += per column. */
void layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                        const float *x, const float *gamma, const float *mean,
                        const float *rstd, int N, int C);

#endif
