/* Global average pooling over CNHW batches: C = channels, N = images in the batch, HW =
 * values of a plane. Channel c of image n is the plane at (c N + n) HW of the batch; a call
 * walks the planes of the images [n0, n1) only, so threads on disjoint ranges never share
 * one. */
#include "nn/pool.h"

#include <stddef.h>

void gap_forward(float *out, const float *in, int C, int N, int HW, int n0, int n1)
{
    const float inv = 1.0f / (float)HW;
    for (int c = 0; c < C; c++)
        for (int n = n0; n < n1; n++) {
            const float *x = in + ((size_t)c * (size_t)N + (size_t)n) * (size_t)HW;
            float sum = 0;
            for (int i = 0; i < HW; i++)
                sum += x[i];
            out[(size_t)n * (size_t)C + (size_t)c] = sum * inv;
        }
}

void gap_backward(float *din, const float *dout, int C, int N, int HW, int n0, int n1)
{
    const float inv = 1.0f / (float)HW;
    for (int c = 0; c < C; c++)
        for (int n = n0; n < n1; n++) {
            float *d = din + ((size_t)c * (size_t)N + (size_t)n) * (size_t)HW;
            float v = dout[(size_t)n * (size_t)C + (size_t)c] * inv;
            for (int i = 0; i < HW; i++)
                d[i] = v;
        }
}
