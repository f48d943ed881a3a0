/* Pooling over time (see seqpool.h). B = sequences, T = steps, D = width. */
#include "nn/seqpool.h"

#include <stddef.h>
#include <string.h>

void seqpool_mean_forward(float *out, int ldo, const float *x, const int *lens, int B, int T,
                          int D)
{
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * ldo;
        memset(o, 0, (size_t)D * sizeof *o);
        for (int t = 0; t < lens[b]; t++) {
            const float *row = x + ((size_t)b * T + t) * D;
            for (int j = 0; j < D; j++)
                o[j] += row[j];
        }
        const float inv = lens[b] > 0 ? 1.0f / (float)lens[b] : 0;
        for (int j = 0; j < D; j++)
            o[j] *= inv;
    }
}

void seqpool_mean_backward(float *dx, const float *dout, int ldo, const int *lens, int B, int T,
                           int D)
{
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * ldo;
        const float inv = lens[b] > 0 ? 1.0f / (float)lens[b] : 0;
        for (int t = 0; t < lens[b]; t++) {
            float *row = dx + ((size_t)b * T + t) * D;
            for (int j = 0; j < D; j++)
                row[j] += g[j] * inv;
        }
    }
}

void seqpool_max_forward(float *out, int ldo, int32_t *argmax, const float *x, const int *lens,
                         int B, int T, int D)
{
    for (int b = 0; b < B; b++) {
        float *o = out + (size_t)b * ldo;
        int32_t *am = argmax + (size_t)b * D;
        if (lens[b] < 1) {
            memset(o, 0, (size_t)D * sizeof *o);
            for (int j = 0; j < D; j++)
                am[j] = -1;
            continue;
        }
        memcpy(o, x + (size_t)b * T * D, (size_t)D * sizeof *o);
        memset(am, 0, (size_t)D * sizeof *am);
        for (int t = 1; t < lens[b]; t++) {
            const float *row = x + ((size_t)b * T + t) * D;
            for (int j = 0; j < D; j++)
                if (row[j] > o[j] || (row[j] != row[j] && o[j] == o[j])) {
                    o[j] = row[j];
                    am[j] = t;
                }
        }
    }
}

void seqpool_max_backward(float *dx, const float *dout, int ldo, const int32_t *argmax, int B,
                          int T, int D)
{
    for (int b = 0; b < B; b++) {
        const float *g = dout + (size_t)b * ldo;
        const int32_t *am = argmax + (size_t)b * D;
        for (int j = 0; j < D; j++)
            if (am[j] >= 0)
                dx[((size_t)b * T + am[j]) * D + j] += g[j];
    }
}
