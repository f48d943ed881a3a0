/* ReLU and inverted dropout over flat arrays of n floats. */
#include "nn/activation.h"

#include <stdint.h>
#include <string.h>

void relu_forward(float *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] > 0 ? x[i] : 0;
}

void relu_backward(float *dx, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = out[i] > 0 ? dout[i] : 0;
}

/* One draw of the rng gives two 32-bit uniforms; a value is dropped when its uniform falls
 * below p 2^32. */
void dropout_forward(float *out, float *mask, const float *x, size_t n, float p, rng *r)
{
    if (p <= 0) {
        if (out != x)
            memmove(out, x, n * sizeof *out);
        for (size_t i = 0; i < n; i++)
            mask[i] = 1;
        return;
    }
    if (p >= 1) {
        memset(out, 0, n * sizeof *out);
        memset(mask, 0, n * sizeof *mask);
        return;
    }
    const uint32_t cut = (uint32_t)((double)p * 4294967296.0);
    const float keep = 1.0f / (1.0f - p);
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        uint64_t u = rng_next(r);
        mask[i] = (uint32_t)u >= cut ? keep : 0;
        mask[i + 1] = (uint32_t)(u >> 32) >= cut ? keep : 0;
    }
    if (i < n)
        mask[i] = (uint32_t)rng_next(r) >= cut ? keep : 0;
    for (i = 0; i < n; i++)
        out[i] = x[i] * mask[i];
}

void dropout_backward(float *dx, const float *dout, const float *mask, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dout[i] * mask[i];
}
