/* Layer normalization (see layernorm.h). N = rows, C = columns. The statistics take two
 * passes over a row (the mean, then squares about it), so that a row far from zero keeps
 * its variance. */
#include "nn/layernorm.h"

#include <math.h>
#include <stddef.h>

static float row_sum(const float *x, int C)
{
    float s = 0;
    for (int j = 0; j < C; j++)
        s += x[j];
    return s;
}

void layernorm_forward(float *out, float *mean, float *rstd, const float *x,
                       const float *gamma, const float *beta, int N, int C, float eps)
{
    for (int i = 0; i < N; i++) {
        const float *xr = x + (size_t)i * C;
        float *o = out + (size_t)i * C;
        const float m = row_sum(xr, C) / (float)C;
        float v = 0;
        for (int j = 0; j < C; j++)
            v += (xr[j] - m) * (xr[j] - m);
        const float rs = 1.0f / sqrtf(v / (float)C + eps);
        for (int j = 0; j < C; j++)
            o[j] = (xr[j] - m) * rs * gamma[j] + beta[j];
        mean[i] = m;
        rstd[i] = rs;
    }
}

/* With xhat = (x - mean) rstd and g = dout gamma:
 * dx = rstd (g - mean(g) - xhat mean(g xhat)). */
void layernorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                        const float *x, const float *gamma, const float *mean,
                        const float *rstd, int N, int C)
{
    for (int i = 0; i < N; i++) {
        const float *xr = x + (size_t)i * C, *d = dout + (size_t)i * C;
        const float m = mean[i], rs = rstd[i];
        float sg = 0, sgx = 0;
        for (int j = 0; j < C; j++) {
            const float xhat = (xr[j] - m) * rs, g = d[j] * gamma[j];
            sg += g;
            sgx += g * xhat;
            dgamma[j] += d[j] * xhat;
            dbeta[j] += d[j];
        }
        const float mg = sg / (float)C, mgx = sgx / (float)C;
        float *o = dx + (size_t)i * C;
        for (int j = 0; j < C; j++)
            o[j] = rs * (d[j] * gamma[j] - mg - (xr[j] - m) * rs * mgx);
    }
}
