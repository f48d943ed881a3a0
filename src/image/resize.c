/* PIL's bilinear resampling (Pillow's libImaging/Resample.c): output sample i of an axis
 * resized from `in` to `out` samples is centred on source position (i + 0.5) * in / out and
 * averages the source samples within a triangle whose radius is max(in / out, 1) samples,
 * so a shrunk image averages all its pixels instead of picking a few (no aliasing). Rows are
 * resampled first, rounded to 8 bits, then columns, in PIL's fixed-point arithmetic, so
 * that the bytes are PIL's.
 *
 * PIL keeps the row pass in a temporary image. Here each output row redoes the row pass of
 * the few source rows it reads (about twice the work of the row pass), so the function
 * needs only a small stack and cannot fail. */
#include "image/resize.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

enum {
    CHUNK = 64, /* output columns done per sweep over the rows: bounds the stack */
    PRECISION = 22, /* bits of PIL's fixed-point weights for 8-bit images */
};

/* The source samples that one output sample reads, and how to weigh them. */
typedef struct taps {
    int first, n;        /* source samples first .. first + n - 1 */
    double center, step; /* sample k weighs tent((first + k - center + 0.5) * step) / sum */
    double sum;
} taps;

static double tent(double x)
{
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double tap_weight(const taps *t, int k)
{
    return tent((t->first + k - t->center + 0.5) * t->step) / t->sum;
}

/* The weight in fixed point, rounded as PIL rounds it (weights are never negative here). */
static int32_t tap_fixed(const taps *t, int k)
{
    return (int32_t)(0.5 + tap_weight(t, k) * (1 << PRECISION));
}

/* PIL's precompute_coeffs for one output sample, with its rounding of the window. */
static taps taps_of(int i, int in, int out)
{
    double scale = (double)in / out, radius = scale > 1.0 ? scale : 1.0;
    taps t = {.center = (i + 0.5) * scale, .step = 1.0 / radius, .sum = 1.0};
    int lo = (int)(t.center - radius + 0.5), hi = (int)(t.center + radius + 0.5);
    t.first = lo < 0 ? 0 : lo;
    t.n = (hi > in ? in : hi) - t.first;
    double sum = 0.0;
    for (int k = 0; k < t.n; k++)
        sum += tap_weight(&t, k);
    t.sum = sum != 0.0 ? sum : 1.0;
    return t;
}

/* A sum of fixed-point products, with its rounding half, back to a byte. */
static unsigned char to_byte(int32_t v)
{
    v >>= PRECISION;
    return v < 0 ? 0 : v > 255 ? 255 : (unsigned char)v;
}

/* Output columns x0 .. x0 + nx - 1 of every output row. */
static void resize_columns(const unsigned char *src, int sw, int sh, unsigned char *dst,
                           int dw, int dh, int x0, int nx)
{
    const int32_t half = 1 << (PRECISION - 1);
    taps cols[CHUNK];
    for (int i = 0; i < nx; i++)
        cols[i] = taps_of(x0 + i, sw, dw);
    for (int y = 0; y < dh; y++) {
        taps rows = taps_of(y, sh, dh);
        int32_t acc[CHUNK * 3];
        for (int i = 0; i < 3 * nx; i++)
            acc[i] = half;
        for (int r = 0; r < rows.n; r++) {
            const unsigned char *line = src + (size_t)(rows.first + r) * sw * 3;
            int32_t wy = tap_fixed(&rows, r);
            for (int i = 0; i < nx; i++) {
                const unsigned char *p = line + (size_t)cols[i].first * 3;
                int32_t h[3] = {half, half, half};
                for (int k = 0; k < cols[i].n; k++, p += 3) {
                    int32_t wx = tap_fixed(&cols[i], k);
                    h[0] += wx * p[0], h[1] += wx * p[1], h[2] += wx * p[2];
                }
                for (int c = 0; c < 3; c++)
                    acc[3 * i + c] += wy * to_byte(h[c]);
            }
        }
        unsigned char *out = dst + ((size_t)y * dw + x0) * 3;
        for (int i = 0; i < 3 * nx; i++)
            out[i] = to_byte(acc[i]);
    }
}

void image_resize(const unsigned char *src, int sw, int sh, unsigned char *dst, int dw,
                  int dh)
{
    if (sw == dw && sh == dh) {
        memcpy(dst, src, (size_t)sw * sh * 3);
        return;
    }
    for (int x0 = 0; x0 < dw; x0 += CHUNK)
        resize_columns(src, sw, sh, dst, dw, dh, x0, dw - x0 < CHUNK ? dw - x0 : CHUNK);
}
