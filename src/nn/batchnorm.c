/* Batch normalization over the channels of a CNHW batch (see batchnorm.h).
 *
 * M = values per channel (N*H*W); channel c is x[c*M .. c*M+M). Sums run in float over
 * short blocks (so they vectorize) and add up in double across blocks, so that a channel of
 * a large batch keeps its precision. */
#include "nn/batchnorm.h"

#include <math.h>
#include <stddef.h>

enum { LANES = 16, BLOCK = 256 };

static double sum_floats(const float *x, long n)
{
    double total = 0;
    long i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float acc[LANES] = {0};
        for (int k = 0; k < BLOCK; k += LANES)
            for (int l = 0; l < LANES; l++)
                acc[l] += x[i + k + l];
        for (int l = 0; l < LANES; l++)
            total += acc[l];
    }
    for (; i < n; i++)
        total += x[i];
    return total;
}

/* Sum of (x[i] - shift)^2. */
static double sum_squares(const float *x, long n, float shift)
{
    double total = 0;
    long i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float acc[LANES] = {0};
        for (int k = 0; k < BLOCK; k += LANES)
            for (int l = 0; l < LANES; l++) {
                float d = x[i + k + l] - shift;
                acc[l] += d * d;
            }
        for (int l = 0; l < LANES; l++)
            total += acc[l];
    }
    for (; i < n; i++) {
        double d = x[i] - shift;
        total += d * d;
    }
    return total;
}

/* Sum of dout[i] and of dout[i] (x[i] - shift), in *sd and *sdx. */
static void sum_grads(double *sd, double *sdx, const float *dout, const float *x, long n,
                      float shift)
{
    double t1 = 0, t2 = 0;
    long i = 0;
    for (; i + BLOCK <= n; i += BLOCK) {
        float a1[LANES] = {0}, a2[LANES] = {0};
        for (int k = 0; k < BLOCK; k += LANES)
            for (int l = 0; l < LANES; l++) {
                float g = dout[i + k + l];
                a1[l] += g;
                a2[l] += g * (x[i + k + l] - shift);
            }
        for (int l = 0; l < LANES; l++) {
            t1 += a1[l];
            t2 += a2[l];
        }
    }
    for (; i < n; i++) {
        t1 += dout[i];
        t2 += (double)dout[i] * (x[i] - shift);
    }
    *sd = t1;
    *sdx = t2;
}

/* out = (x - mean) scale + shift over one channel; out may alias x. Subtracting the mean
 * first keeps the precision of a channel whose mean is large next to its spread. */
static void affine(float *out, const float *x, long n, float mean, float scale, float shift)
{
    for (long i = 0; i < n; i++)
        out[i] = (x[i] - mean) * scale + shift;
}

void batchnorm_forward_train(float *out, const float *x, const float *gamma, const float *beta,
                             float *save_mean, float *save_istd, float *run_mean,
                             float *run_var, long M, int c0, int c1, float momentum, float eps)
{
    for (int c = c0; c < c1; c++) {
        const float *xc = x + (size_t)c * (size_t)M;
        /* Two passes: the squares are taken about the mean, not about zero, so a channel
         * with a large mean and a small spread does not cancel away its variance. */
        double mean = sum_floats(xc, M) / (double)M;
        float fmean = (float)mean;
        /* sum (x - fmean)^2 = sum (x - mean)^2 + M (mean - fmean)^2 */
        double var = sum_squares(xc, M, fmean) / (double)M - (mean - fmean) * (mean - fmean);
        if (var < 0)
            var = 0;
        double istd = 1.0 / sqrt(var + eps);
        save_mean[c] = fmean;
        save_istd[c] = (float)istd;
        if (run_mean)
            run_mean[c] = (1 - momentum) * run_mean[c] + momentum * fmean;
        if (run_var) {
            double unbiased = M > 1 ? var * (double)M / (double)(M - 1) : var;
            run_var[c] = (1 - momentum) * run_var[c] + momentum * (float)unbiased;
        }
        /* the shift also takes back the rounding of the mean to float */
        double scale = gamma[c] * istd;
        affine(out + (size_t)c * (size_t)M, xc, M, fmean, (float)scale,
               (float)(beta[c] - (mean - fmean) * scale));
    }
}

/* With xhat = (x - mean) istd:
 * dx = istd gamma / M (M dout - sum(dout) - xhat sum(dout xhat)), which is
 * dout a + (x - mean) b + k with the constants below. */
void batchnorm_backward(float *dx, float *dgamma, float *dbeta, const float *dout,
                        const float *x, const float *gamma, const float *save_mean,
                        const float *save_istd, long M, int c0, int c1)
{
    for (int c = c0; c < c1; c++) {
        const size_t off = (size_t)c * (size_t)M;
        const float mean = save_mean[c];
        const double istd = save_istd[c];
        double sd, sdx;
        sum_grads(&sd, &sdx, dout + off, x + off, M, mean);
        const double sdxhat = sdx * istd; /* sum(dout xhat) */
        dgamma[c] += (float)sdxhat;
        dbeta[c] += (float)sd;
        const double g = gamma[c] * istd;
        const float a = (float)g;
        const float b = (float)(-g * sdxhat * istd / (double)M);
        const float k = (float)(-g * sd / (double)M);
        float *d = dx + off;
        const float *go = dout + off, *xc = x + off;
        for (long i = 0; i < M; i++)
            d[i] = go[i] * a + (xc[i] - mean) * b + k;
    }
}
