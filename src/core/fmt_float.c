#include "core/fmt_float.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

size_t fmt_uint(char out[24], unsigned long long n)
{
    if (n < 10) { /* the usual: a token's place in a title */
        out[0] = (char)('0' + n);
        out[1] = '\0';
        return 1;
    }
    if (n < 100) {
        out[0] = (char)('0' + n / 10);
        out[1] = (char)('0' + n % 10);
        out[2] = '\0';
        return 2;
    }
    char tmp[24];
    size_t len = 0;
    do {
        tmp[len++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    for (size_t i = 0; i < len; i++)
        out[i] = tmp[len - 1 - i];
    out[len] = '\0';
    return len;
}

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

/* a * 10^k rounded to an integer, ties to even as printf does (rint, in the default
 * rounding mode). */
static long long scaled(double a, int k) { return (long long)rint(a * POW10[k]); }

size_t fmt_g6(char out[FMT_G6_MAX], float v)
{
    double a = fabs((double)v);
    if (!(a >= 1e-4 && a < 999999.5)) {
        if (v == 0) {
            size_t len = 0;
            if (signbit(v))
                out[len++] = '-';
            out[len++] = '0';
            out[len] = '\0';
            return len;
        }
        return (size_t)snprintf(out, FMT_G6_MAX, "%.6g", (double)v);
    }
    /* six significant digits d of a = d * 10^(e - 5). e = floor(log10 a) is floor(b log10 2)
     * or one more, for v's binary exponent b (78913 / 2^18 is log10 2 closely enough for
     * these b); the loops below mend a guess that rounding upsets */
    static const double TEN[] = {1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6};
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    const int b = (int)((bits >> 23) & 0xff) - 127, scaled_b = b * 78913; /* a in [2^b, 2^b+1) */
    int e = (scaled_b - (scaled_b < 0 ? (1 << 18) - 1 : 0)) / (1 << 18); /* rounded down */
    if (e < -4)
        e = -4;
    if (e < 5 && a >= TEN[e + 5])
        e++;
    long long d = scaled(a, 5 - e);
    while (d < 100000 && e > -4)
        d = scaled(a, 5 - --e);
    while (d >= 1000000) {
        if (e == 5) /* rounds up to 1e+06, printf's exponent form */
            return (size_t)snprintf(out, FMT_G6_MAX, "%.6g", (double)v);
        d = scaled(a, 5 - ++e);
    }
    if (d < 100000) /* below 1e-4 after rounding: the exponent form */
        return (size_t)snprintf(out, FMT_G6_MAX, "%.6g", (double)v);
    char digits[17] = "0000000000000000"; /* six used; the rest lets copies be of 8 */
    uint32_t hi = (uint32_t)d / 1000, lo = (uint32_t)d % 1000; /* two short chains */
    for (int i = 2; i >= 0; i--, hi /= 10, lo /= 10) {
        digits[i] = (char)('0' + hi % 10);
        digits[i + 3] = (char)('0' + lo % 10);
    }
    char *o = out;
    *o = '-';
    o += v < 0;
    /* copies of a fixed 8 bytes (FMT_G6_MAX leaves room), which compile to single moves */
    if (e >= 0) { /* e + 1 digits, the point, the rest */
        memcpy(o, digits, 8);
        memcpy(o + e + 2, digits + e + 1, 8);
        o[e + 1] = '.';
        o += e < 5 ? 7 : 6;
    } else { /* "0.", -e - 1 zeros, the digits */
        memcpy(o, "0.000000", 8);
        memcpy(o + 1 - e, digits, 8);
        o += 7 - e;
    }
    if (e < 5) { /* trailing zeros after the point go, and a point left bare */
        while (o[-1] == '0')
            o--;
        if (o[-1] == '.')
            o--;
    }
    *o = '\0';
    return (size_t)(o - out);
}
