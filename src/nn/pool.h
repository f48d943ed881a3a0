/* Pooling over CNHW batches (see conv2d.h): max and average pooling with a square window,
 * stride and zero padding (padding never wins a max and counts in an average, as PyTorch's
 * defaults), and global average pooling to one vector per image. Calls work on the images
 * [n0, n1) of a batch of N. */
#ifndef SHELF_NN_POOL_H
#define SHELF_NN_POOL_H

#include <stdint.h>

typedef struct pool_shape {
    int c, k, stride, pad;
    int h, w, ho, wo; /* ho = (h + 2 pad - k) / stride + 1 */
} pool_shape;

/* Returns 0, or -1 when the sizes give no output or pad > k / 2. */
int pool_shape_init(pool_shape *s, int c, int k, int stride, int pad, int h, int w);

/* out[C][N][HO][WO]; argmax[C][N][HO][WO] receives the index within the image's H*W plane
 * of each maximum, for the backward pass (the first maximum of a window, as PyTorch's
 * return_indices; a NaN in a window wins, so divergence shows). */
void maxpool_forward(const pool_shape *s, float *out, int32_t *argmax, const float *in, int N,
                     int n0, int n1);
/* din (overwritten on the images [n0, n1)) routes each dout to its maximum. */
void maxpool_backward(const pool_shape *s, float *din, const float *dout,
                      const int32_t *argmax, int N, int n0, int n1);

void avgpool_forward(const pool_shape *s, float *out, const float *in, int N, int n0, int n1);
void avgpool_backward(const pool_shape *s, float *din, const float *dout, int N, int n0,
                      int n1);

/* out[n][c] (row-major, one row of C per image) = mean of in's channel c of image n over
 * its HW values. */
void gap_forward(float *out, const float *in, int C, int N, int HW, int n0, int n1);
/* din (overwritten) = dout[n][c] / HW spread over the plane. */
void gap_backward(float *din, const float *dout, int C, int N, int HW, int n0, int n1);

#endif
