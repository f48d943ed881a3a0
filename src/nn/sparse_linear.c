#include "nn/sparse_linear.h"

#include <string.h>

#include "core/kernels.h"

HOT_KERNEL void sparse_linear_forward(float *out, const uint32_t *rows, const float *vals, size_t n,
                           const float *W, const float *b, int K)
{
    if (b)
        memcpy(out, b, (size_t)K * sizeof *out);
    else
        memset(out, 0, (size_t)K * sizeof *out);
    for (size_t j = 0; j < n; j++) {
        const float *w = W + (size_t)rows[j] * (size_t)K;
        float v = vals[j];
        for (int k = 0; k < K; k++)
            out[k] += v * w[k];
    }
}

HOT_KERNEL void sparse_linear_sgd(float *W, float *b, const float *dout, const int *active, int nactive,
                       const uint32_t *rows, const float *vals, size_t n, int K, float lr)
{
    if (!active) {
        for (size_t j = 0; j < n; j++) {
            float *w = W + (size_t)rows[j] * (size_t)K, s = lr * vals[j];
            for (int k = 0; k < K; k++)
                w[k] -= s * dout[k];
        }
        if (b)
            for (int k = 0; k < K; k++)
                b[k] -= lr * dout[k];
        return;
    }
    for (size_t j = 0; j < n; j++) {
        float *w = W + (size_t)rows[j] * (size_t)K, s = lr * vals[j];
        for (int a = 0; a < nactive; a++)
            w[active[a]] -= s * dout[active[a]];
    }
    if (b)
        for (int a = 0; a < nactive; a++)
            b[active[a]] -= lr * dout[active[a]];
}
