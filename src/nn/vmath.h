/* exp, sigmoid, tanh and the normal CDF for the sequence layers' element-wise loops, written
 * so that the compiler vectorizes the loops that use them: libm's expf, tanhf and erff are
 * scalar calls unless built with -ffast-math, and would cost more than the matrix products
 * of a GRU step or a GELU layer. Choices are made with vmath_select, a bitwise blend: a
 * float ?: is a branch that GCC will not vectorize under the default -ftrapping-math.
 *
 * Accuracy against double precision over the float range: vexpf within 2 ulp; vsigmoid and
 * vtanh within 2e-7 relative; vnormcdf within 5e-7 relative where Phi >= 1e-10, and its
 * density within 3e-7. The polynomials are near-minimax fits (iteratively reweighted
 * least squares against mpmath) of (e^r - 1 - r) / r^2 on |r| <= ln2/2, (tanh x - x) / x^3
 * on |x| <= 0.55, and erfc(u) e^(u^2) / t with t = 1 / (1 + u/2) on 0 <= u <= 12. */
#ifndef SHELF_NN_VMATH_H
#define SHELF_NN_VMATH_H

#include <math.h>
#include <stdint.h>

typedef union vmath_bits {
    int32_t i;
    float f;
} vmath_bits;

/* c ? a : b, both already computed */
static inline float vmath_select(int c, float a, float b)
{
    int32_t m = -(int32_t)(c != 0);
    vmath_bits x = {.f = a}, y = {.f = b}, r = {.i = (x.i & m) | (y.i & ~m)};
    return r.f;
}

/* e^x; below -87.3 gives about 1e-38 (not a denormal or zero), above 88.7 about 3e38 (not
 * infinity); NaN gives NaN. */
static inline float vexpf(float x)
{
    x = vmath_select(x < -87.3f, -87.3f, x);
    x = vmath_select(x > 88.7f, 88.7f, x);
    /* x = k ln2 + r, ln2 in two parts so that k times the first is exact */
    float k = rintf(x * 1.44269504f);
    k = vmath_select(k == k, k, 0.0f); /* NaN (which the clamps let by) is no int: keep it out
                                          of the exponent bits; r carries it to the result */
    float r = x - k * 0.693359375f;
    r = r + k * 2.12194440e-4f;
    float q = 1.38146132e-3f;
    q = q * r + 8.36871007e-3f;
    q = q * r + 4.16683874e-2f;
    q = q * r + 1.66665207e-1f;
    q = q * r + 4.99999935e-1f;
    vmath_bits scale = {.i = ((int32_t)k + 127) << 23};
    return (1.0f + r + r * r * q) * scale.f;
}

/* 1 / (1 + e^-x) */
static inline float vsigmoid(float x) { return 1.0f / (1.0f + vexpf(-x)); }

/* tanh x: a polynomial near zero, where 1 - 2 / (e^2x + 1) would cancel. */
static inline float vtanh(float x)
{
    float a = fabsf(x), a2 = a * a;
    float big = 1.0f - 2.0f / (vexpf(2.0f * a) + 1.0f);
    float q = -6.27423540e-3f;
    q = q * a2 + 2.10716762e-2f;
    q = q * a2 - 5.38523092e-2f;
    q = q * a2 + 1.33325861e-1f;
    q = q * a2 - 3.33333176e-1f;
    return copysignf(vmath_select(a < 0.55f, a + a * a2 * q, big), x);
}

/* The standard normal CDF Phi(x) = erfc(-x / sqrt 2) / 2, and the density phi(x) in *pdf. */
static inline float vnormcdf(float x, float *pdf)
{
    float u = fabsf(x) * 0.707106781f;
    u = vmath_select(u > 12.0f, 12.0f, u);
    float t = 1.0f / (1.0f + 0.5f * u);
    float q = -5.93639511e-2f;
    q = q * t + 2.86014540e-1f;
    q = q * t - 4.90180814e-1f;
    q = q * t + 2.81476682e-1f;
    q = q * t - 2.89730083e-2f;
    q = q * t + 2.03678924e-1f;
    q = q * t + 2.42853505e-1f;
    q = q * t + 2.82409608e-1f;
    q = q * t + 2.82084471e-1f;
    /* e^(-x^2 / 2) from x, not u, with the rounding error of x^2 put back: at x = -6 an
     * error of one ulp in the exponent is 2e-6 of the result */
    float xx = x * x;
    float g = vexpf(-0.5f * xx) * (1.0f - 0.5f * fmaf(x, x, -xx));
    float half_erfc = 0.5f * t * q * g;
    *pdf = g * 0.398942280f;
    return vmath_select(x < 0, half_erfc, 1.0f - half_erfc);
}

#endif
