/* Global average pooling of a CNHW batch (see conv2d.h) to one vector per image, the CNN's
 * last layer before its head. Calls work on the images [n0, n1) of a batch of N. */
#ifndef SHELF_NN_POOL_H
#define SHELF_NN_POOL_H

/* out[n][c] (row-major, one row of C per image) = mean of in's channel c of image n over
 * its HW values. */
void gap_forward(float *out, const float *in, int C, int N, int HW, int n0, int n1);
/* din (overwritten) = dout[n][c] / HW spread over the plane. */
void gap_backward(float *din, const float *dout, int C, int N, int HW, int n0, int n1);

#endif
