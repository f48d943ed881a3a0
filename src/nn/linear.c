#include "nn/linear.h"

#include <string.h>

void linear_forward(float *out, const float *inp, const float *W, const float *b, int C, int K)
{
    if (b)
        memcpy(out, b, (size_t)K * sizeof *out);
    else
        memset(out, 0, (size_t)K * sizeof *out);
    for (int c = 0; c < C; c++) {
        const float *w = W + (size_t)c * (size_t)K;
        for (int k = 0; k < K; k++)
            out[k] += inp[c] * w[k];
    }
}

void linear_backward(float *dinp, float *dW, float *db, const float *dout, const float *inp,
                     const float *W, int C, int K)
{
    for (int c = 0; c < C; c++) {
        const float *w = W + (size_t)c * (size_t)K;
        float *dw = dW + (size_t)c * (size_t)K, s = 0;
        for (int k = 0; k < K; k++) {
            s += w[k] * dout[k];
            dw[k] += inp[c] * dout[k];
        }
        if (dinp)
            dinp[c] = s;
    }
    if (db)
        for (int k = 0; k < K; k++)
            db[k] += dout[k];
}

void linear_sgd(float *W, float *b, float *dinp, const float *dout, const int *active,
                int nactive, const float *inp, int C, int K, float lr)
{
    for (int c = 0; c < C; c++) {
        float *w = W + (size_t)c * (size_t)K, s = 0, step = lr * inp[c];
        for (int a = 0; a < nactive; a++) {
            int k = active ? active[a] : a;
            s += w[k] * dout[k];
            w[k] -= step * dout[k];
        }
        dinp[c] = s;
    }
    for (int a = 0; a < nactive; a++) {
        int k = active ? active[a] : a;
        b[k] -= lr * dout[k];
    }
}
