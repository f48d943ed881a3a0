#include "index/fingerprint.h"

#include <math.h>
#include <string.h>

#include "core/mem.h"
#include "image/resize.h"

/* A pixel is part of the object unless all its channels are this light: product photos sit
 * on white, and a crop that only takes margin then changes nothing. */
enum { FP_WHITE = 235 };

static unsigned char grey(const unsigned char *p)
{
    /* ITU-R 601 luma in 16-bit fixed point, as PIL's convert("L") */
    return (unsigned char)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

/* The object's bounding box: x0, y0, width, height (the whole photo when it is all white). */
static void object_box(const image *im, int box[4])
{
    int x0 = im->w, y0 = im->h, x1 = -1, y1 = -1;
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++) {
            const unsigned char *p = im->rgb + ((size_t)y * (size_t)im->w + (size_t)x) * 3;
            if (p[0] < FP_WHITE || p[1] < FP_WHITE || p[2] < FP_WHITE) {
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            }
        }
    if (x1 < 0)
        x0 = 0, y0 = 0, x1 = im->w - 1, y1 = im->h - 1;
    box[0] = x0, box[1] = y0, box[2] = x1 - x0 + 1, box[3] = y1 - y0 + 1;
}

int fp_photo(const image *im, float *v, fp_thumb *t)
{
    memset(t, 0, sizeof *t);
    int box[4];
    object_box(im, box);
    const int bw = box[2], bh = box[3];
    const int longer = im->w > im->h ? im->w : im->h;
    int tw = longer > FP_THUMB_MAX ? (int)lround((double)im->w * FP_THUMB_MAX / longer) : im->w;
    int th = longer > FP_THUMB_MAX ? (int)lround((double)im->h * FP_THUMB_MAX / longer) : im->h;
    tw = tw < 1 ? 1 : tw; /* a long thin photo keeps a side of a pixel */
    th = th < 1 ? 1 : th;
    unsigned char *crop = mem_alloc((size_t)bw * (size_t)bh * 3);
    unsigned char *small = mem_alloc((size_t)tw * (size_t)th * 3);
    t->px = mem_alloc((size_t)tw * (size_t)th);
    if (!crop || !small || !t->px) {
        mem_free(crop);
        mem_free(small);
        fp_thumb_free(t);
        return -1;
    }
    for (int y = 0; y < bh; y++)
        memcpy(crop + (size_t)y * (size_t)bw * 3,
               im->rgb + (((size_t)(box[1] + y)) * (size_t)im->w + (size_t)box[0]) * 3,
               (size_t)bw * 3);
    unsigned char o[FP_PHOTO_DIM];
    image_resize(crop, bw, bh, o, FP_SIDE, FP_SIDE);
    double mean = 0, norm = 0;
    for (int y = 0; y < FP_SIDE; y++) /* the object and its mirror image, added */
        for (int x = 0; x < FP_SIDE; x++)
            for (int c = 0; c < 3; c++) {
                float s = (float)o[(y * FP_SIDE + x) * 3 + c] +
                          (float)o[(y * FP_SIDE + FP_SIDE - 1 - x) * 3 + c];
                v[(y * FP_SIDE + x) * 3 + c] = s;
                mean += s;
            }
    mean /= FP_PHOTO_DIM;
    for (int i = 0; i < FP_PHOTO_DIM; i++) {
        v[i] -= (float)mean;
        norm += (double)v[i] * v[i];
    }
    if (norm <= 1e-6) { /* a blank photo says nothing: the product has none */
        memset(v, 0, FP_PHOTO_DIM * sizeof *v);
        mem_free(crop);
        mem_free(small);
        fp_thumb_free(t);
        return 0;
    }
    for (int i = 0; i < FP_PHOTO_DIM; i++)
        v[i] = (float)(v[i] / sqrt(norm));
    const unsigned char *src = im->rgb;
    if (tw != im->w || th != im->h) {
        image_resize(im->rgb, im->w, im->h, small, tw, th);
        src = small;
    }
    unsigned char lo = 255, hi = 0;
    for (size_t i = 0; i < (size_t)tw * (size_t)th; i++) {
        t->px[i] = grey(src + i * 3);
        lo = t->px[i] < lo ? t->px[i] : lo;
        hi = t->px[i] > hi ? t->px[i] : hi;
    }
    t->w = tw, t->h = th;
    if (lo == hi) { /* one grey: nothing to align, as a blank photo */
        memset(v, 0, FP_PHOTO_DIM * sizeof *v);
        fp_thumb_free(t);
    }
    mem_free(crop);
    mem_free(small);
    return 0;
}

void fp_thumb_free(fp_thumb *t)
{
    mem_free(t->px);
    memset(t, 0, sizeof *t);
}

/* Region (x0, y0, w, h) of t, mirrored or not, at FP_VERIFY_SIDE square into out; rgb is
 * scratch of w * h * 3 bytes, sq of FP_VERIFY_SIDE^2 * 3. */
static void region(const fp_thumb *t, int x0, int y0, int w, int h, int mirror,
                   unsigned char *rgb, unsigned char *sq, float *out)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char g = t->px[(size_t)(y0 + y) * (size_t)t->w + (size_t)(x0 + x)];
            unsigned char *p = rgb + ((size_t)y * (size_t)w + (size_t)(mirror ? w - 1 - x : x)) * 3;
            p[0] = p[1] = p[2] = g;
        }
    image_resize(rgb, w, h, sq, FP_VERIFY_SIDE, FP_VERIFY_SIDE);
    for (int i = 0; i < FP_VERIFY_SIDE * FP_VERIFY_SIDE; i++)
        out[i] = sq[i * 3];
}

static float correlation(const float *a, const float *b)
{
    enum { N = FP_VERIFY_SIDE * FP_VERIFY_SIDE };
    double ma = 0, mb = 0, ab = 0, aa = 0, bb = 0;
    for (int i = 0; i < N; i++)
        ma += a[i], mb += b[i];
    ma /= N, mb /= N;
    for (int i = 0; i < N; i++) {
        double x = a[i] - ma, y = b[i] - mb;
        ab += x * y, aa += x * x, bb += y * y;
    }
    if (aa == 0 || bb == 0) /* flat at this size: the same only when the same grey */
        return aa == bb && fabs(ma - mb) < 0.5 ? 1 : 0;
    return (float)(ab / sqrt(aa * bb));
}

/* The best correlation of a as it is with b mirrored or not, whole or cut by a tenth of
 * one side. */
static float best_of(const fp_thumb *a, const fp_thumb *b, unsigned char *rgb,
                     unsigned char *sq)
{
    float fa[FP_VERIFY_SIDE * FP_VERIFY_SIDE], fb[FP_VERIFY_SIDE * FP_VERIFY_SIDE];
    region(a, 0, 0, a->w, a->h, 0, rgb, sq, fa);
    const int cx = (int)(b->w * 0.1), cy = (int)(b->h * 0.1);
    /* cuts: none, left, top, right, bottom (x0, y0, dw, dh) */
    const int cut[5][4] = {{0, 0, 0, 0}, {cx, 0, cx, 0}, {0, cy, 0, cy}, {0, 0, cx, 0},
                           {0, 0, 0, cy}};
    float best = -1;
    for (int mirror = 0; mirror < 2; mirror++)
        for (int c = 0; c < 5; c++) {
            int w = b->w - cut[c][2], h = b->h - cut[c][3];
            if (w < 1 || h < 1)
                continue;
            /* the cut is of the mirrored photo: its left is the original's right */
            int x0 = mirror ? b->w - cut[c][0] - w : cut[c][0];
            region(b, x0, cut[c][1], w, h, mirror, rgb, sq, fb);
            float s = correlation(fa, fb);
            best = s > best ? s : best;
        }
    return best;
}

int fp_verify(const fp_thumb *a, const fp_thumb *b, float *score)
{
    *score = -1;
    if (!a->w || !b->w)
        return 0;
    /* thumbnails are at most FP_THUMB_MAX square: scratch on the stack, nothing allocated
     * per pair */
    unsigned char rgb[FP_THUMB_MAX * FP_THUMB_MAX * 3], sq[FP_VERIFY_SIDE * FP_VERIFY_SIDE * 3];
    float ab = best_of(a, b, rgb, sq), ba = best_of(b, a, rgb, sq);
    *score = ab > ba ? ab : ba;
    return 0;
}

void fp_word_key(const char *w, size_t n, char *key)
{
    memcpy(key, w, n); /* a few bytes: insertion sort */
    for (size_t i = 1; i < n; i++) {
        char c = key[i];
        size_t j = i;
        for (; j > 0 && (unsigned char)key[j - 1] > (unsigned char)c; j--)
            key[j] = key[j - 1];
        key[j] = c;
    }
}
