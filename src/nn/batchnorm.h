/* Batch normalization over channels of a CNHW batch (see conv2d.h): channel c's M = N*H*W
 * values are the contiguous run x[c*M .. c*M+M). Matches PyTorch's BatchNorm2d: training
 * normalizes with the batch mean and biased variance, and updates the running statistics as
 * running = (1 - momentum) running + momentum batch, the running variance unbiased
 * (M / (M - 1)). Inference is a fixed affine map per channel from the running statistics,
 * which the CNN folds into its convolution's output (model/cnn.c).
 *
 * The calls work on the channels [c0, c1), so that threads can share a layer. */
#ifndef SHELF_NN_BATCHNORM_H
#define SHELF_NN_BATCHNORM_H

/* out = gamma (x - mean) istd + beta with batch statistics; saves mean and istd =
 * 1/sqrt(var + eps) per channel for the backward pass. out may alias x. run_mean and
 * run_var may be NULL (no running update). */
void batchnorm_forward_train(float *out, const float *x, const float *gamma, const float *beta,
                             float *save_mean, float *save_istd, float *run_mean,
                             float *run_var, long M, int c0, int c1, float momentum, float eps);

/* Given dout and the forward pass's input x and saved statistics: dx (overwritten; may
 * alias dout), dgamma += and dbeta += per channel. */
void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                        const float *x, const float *gamma, const float *save_mean,
                        const float *save_istd, long M, int c0, int c1);

#endif
