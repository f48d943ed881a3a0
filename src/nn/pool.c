/* Max, average and global average pooling over CNHW batches.
 * C = channels, N = images in the batch, H x W = input plane, HO x WO = output plane.
 * Channel c of image n is the plane at (c N + n) H W of the batch; every call walks the
 * planes of the images [n0, n1) one at a time, so threads on disjoint ranges never share a
 * plane. A window clipped to the input covers at least one value when pad <= k / 2. */
#include "nn/pool.h"

#include <math.h>
#include <string.h>

int pool_shape_init(pool_shape *s, int c, int k, int stride, int pad, int h, int w)
{
    if (c < 1 || k < 1 || stride < 1 || pad < 0 || h < 1 || w < 1 || pad > k / 2)
        return -1;
    if (h + 2 * pad < k || w + 2 * pad < k)
        return -1;
    *s = (pool_shape){.c = c, .k = k, .stride = stride, .pad = pad, .h = h, .w = w,
                      .ho = (h + 2 * pad - k) / stride + 1, .wo = (w + 2 * pad - k) / stride + 1};
    return 0;
}

/* The window [*lo, *hi) along one axis of length n, for output position o, clipped. */
static inline void window(int *lo, int *hi, int o, const pool_shape *s, int n)
{
    int a = o * s->stride - s->pad, b = a + s->k;
    *lo = a < 0 ? 0 : a;
    *hi = b > n ? n : b;
}

void maxpool_forward(const pool_shape *s, float *out, int32_t *argmax, const float *in, int N,
                     int n0, int n1)
{
    const int H = s->h, W = s->w, HO = s->ho, WO = s->wo;
    const size_t plane = (size_t)H * (size_t)W, oplane = (size_t)HO * (size_t)WO;
    for (int c = 0; c < s->c; c++)
        for (int n = n0; n < n1; n++) {
            size_t p = (size_t)c * (size_t)N + (size_t)n;
            const float *x = in + p * plane;
            float *o = out + p * oplane;
            int32_t *am = argmax + p * oplane;
            for (int oy = 0; oy < HO; oy++) {
                int y0, y1;
                window(&y0, &y1, oy, s, H);
                for (int ox = 0; ox < WO; ox++) {
                    int x0, x1;
                    window(&x0, &x1, ox, s, W);
                    /* as PyTorch: the first maximum wins, and a NaN propagates */
                    float best = -INFINITY;
                    int32_t bi = y0 * W + x0;
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++) {
                            float v = x[y * W + xx];
                            if (v > best || isnan(v)) {
                                best = v;
                                bi = y * W + xx;
                            }
                        }
                    o[oy * WO + ox] = best;
                    am[oy * WO + ox] = bi;
                }
            }
        }
}

void maxpool_backward(const pool_shape *s, float *din, const float *dout,
                      const int32_t *argmax, int N, int n0, int n1)
{
    const size_t plane = (size_t)s->h * (size_t)s->w, oplane = (size_t)s->ho * (size_t)s->wo;
    for (int c = 0; c < s->c; c++)
        for (int n = n0; n < n1; n++) {
            size_t p = (size_t)c * (size_t)N + (size_t)n;
            float *d = din + p * plane;
            const float *g = dout + p * oplane;
            const int32_t *am = argmax + p * oplane;
            memset(d, 0, plane * sizeof *d);
            for (size_t i = 0; i < oplane; i++) /* += : overlapping windows share maxima */
                d[am[i]] += g[i];
        }
}

void avgpool_forward(const pool_shape *s, float *out, const float *in, int N, int n0, int n1)
{
    const int H = s->h, W = s->w, HO = s->ho, WO = s->wo;
    const size_t plane = (size_t)H * (size_t)W, oplane = (size_t)HO * (size_t)WO;
    const float inv = 1.0f / (float)(s->k * s->k); /* padding counts, as PyTorch's default */
    for (int c = 0; c < s->c; c++)
        for (int n = n0; n < n1; n++) {
            size_t p = (size_t)c * (size_t)N + (size_t)n;
            const float *x = in + p * plane;
            float *o = out + p * oplane;
            for (int oy = 0; oy < HO; oy++) {
                int y0, y1;
                window(&y0, &y1, oy, s, H);
                for (int ox = 0; ox < WO; ox++) {
                    int x0, x1;
                    window(&x0, &x1, ox, s, W);
                    float sum = 0;
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++)
                            sum += x[y * W + xx];
                    o[oy * WO + ox] = sum * inv;
                }
            }
        }
}

void avgpool_backward(const pool_shape *s, float *din, const float *dout, int N, int n0,
                      int n1)
{
    const int H = s->h, W = s->w, HO = s->ho, WO = s->wo;
    const size_t plane = (size_t)H * (size_t)W, oplane = (size_t)HO * (size_t)WO;
    const float inv = 1.0f / (float)(s->k * s->k);
    for (int c = 0; c < s->c; c++)
        for (int n = n0; n < n1; n++) {
            size_t p = (size_t)c * (size_t)N + (size_t)n;
            float *d = din + p * plane;
            const float *g = dout + p * oplane;
            memset(d, 0, plane * sizeof *d);
            for (int oy = 0; oy < HO; oy++) {
                int y0, y1;
                window(&y0, &y1, oy, s, H);
                for (int ox = 0; ox < WO; ox++) {
                    int x0, x1;
                    window(&x0, &x1, ox, s, W);
                    float v = g[oy * WO + ox] * inv;
                    for (int y = y0; y < y1; y++)
                        for (int xx = x0; xx < x1; xx++)
                            d[y * W + xx] += v;
                }
            }
        }
}

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
