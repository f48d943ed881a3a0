/* 2-D convolution without bias (batch norm follows every convolution in our networks) or
 * with one, by im2col and sgemm.
 *
 * Layout: a batch of N images with C channels of H x W is stored channel-major, [C][N][H][W]
 * ("CNHW"): each channel's N*H*W values are contiguous, so batch norm reduces over one
 * contiguous run per channel, and one sgemm over a chunk of images writes its output rows
 * straight into the batch (ldc = N*HO*WO). Weights are [COUT][CIN][K][K], as PyTorch's.
 *
 * The calls work on the images [n0, n1) of the batch, so that threads can share a batch:
 * each thread passes its own range and its own scratch. They call cblas_sgemm; the caller
 * decides how many threads BLAS uses (one, when the caller runs its own threads). */
#ifndef SHELF_NN_CONV2D_H
#define SHELF_NN_CONV2D_H

#include <stddef.h>

typedef struct conv_shape {
    int cin, cout;  /* channels */
    int k;          /* kernel size (square) */
    int stride, pad;
    int h, w;       /* input size */
    int ho, wo;     /* output size: (h + 2 pad - k) / stride + 1 */
} conv_shape;

/* Fills s; returns 0, or -1 when the sizes give no output (kernel larger than the padded
 * input, or a size below 1). */
int conv_shape_init(conv_shape *s, int cin, int cout, int k, int stride, int pad, int h,
                    int w);

/* Floats of scratch that one call needs when it processes up to `chunk` images at a time
 * (the im2col columns of those images). */
size_t conv_scratch_floats(const conv_shape *s, int chunk);

/* out[COUT][N][HO][WO] = W * im2col(in[CIN][N][H][W]) (+ b[COUT] when b is not NULL), for
 * the images [n0, n1) of a batch of N, `chunk` images per sgemm. */
void conv2d_forward(const conv_shape *s, float *out, const float *in, const float *W,
                    const float *b, int N, int n0, int n1, int chunk, float *scratch);

/* For the images [n0, n1): dW += dout * im2col(in)^T; db += sum of dout (when db is not
 * NULL); din = col2im(W^T dout), overwritten on those images (skipped when din is NULL, as
 * for the first layer). */
void conv2d_backward(const conv_shape *s, float *din, float *dW, float *db, const float *dout,
                     const float *in, const float *W, int N, int n0, int n1, int chunk,
                     float *scratch);

#endif
