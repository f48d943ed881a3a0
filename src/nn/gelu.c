#include "nn/gelu.h"

#include "nn/vmath.h"

void gelu_forward(float *out, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float pdf;
        out[i] = x[i] * vnormcdf(x[i], &pdf);
    }
}

void gelu_backward(float *dx, const float *dout, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float pdf, cdf = vnormcdf(x[i], &pdf);
        dx[i] = dout[i] * (cdf + x[i] * pdf);
    }
}
