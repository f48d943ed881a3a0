#include "core/fmt_float.h"

#include <math.h>
#include <stdio.h>

size_t fmt_uint(char out[24], unsigned long long n)
{
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

/* a * 10^k rounded to an integer, ties to even as printf does. */
static long long scaled(double a, int k)
{
    double x = a * POW10[k], r = floor(x), frac = x - r;
    long long d = (long long)r;
    if (frac > 0.5 || (frac == 0.5 && (d & 1)))
        d++;
    return d;
}

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
    /* six significant digits d of a = d * 10^(e - 5): a guess from the powers of ten,
     * then corrected below (1e-3 and the like are not exact in binary) */
    static const double BELOW[] = {1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4, 1e5};
    int e = -4;
    while (e < 5 && a >= BELOW[e + 4])
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
    char digits[6];
    for (int i = 5; i >= 0; i--, d /= 10)
        digits[i] = (char)('0' + d % 10);
    int last = 5; /* the last digit kept: trailing zeros after the point go */
    while (last > e && last > 0 && digits[last] == '0')
        last--;
    size_t len = 0;
    if (v < 0)
        out[len++] = '-';
    if (e >= 0) {
        for (int i = 0; i <= e; i++)
            out[len++] = digits[i];
        if (last > e) {
            out[len++] = '.';
            for (int i = e + 1; i <= last; i++)
                out[len++] = digits[i];
        }
    } else {
        out[len++] = '0';
        out[len++] = '.';
        for (int i = 0; i < -e - 1; i++)
            out[len++] = '0';
        for (int i = 0; i <= last; i++)
            out[len++] = digits[i];
    }
    out[len] = '\0';
    return len;
}
