/* Normalization and training augmentation. S is the side of the square image.
 *
 * Crop, flip and rotation together are one affine map from each output pixel back to a
 * point of the source, which is then sampled bilinearly: the image is interpolated once
 * rather than once per step, and no intermediate image is needed. Brightness and contrast
 * follow torchvision's ColorJitter (contrast blends with the mean gray level). */
#include "image/augment.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/error.h"

/* The single augmentations first, in the order augment_format lists them. */
static const struct {
    const char *name;
    int flags;
} words[] = {
    {"flip", AUG_FLIP}, {"crop", AUG_CROP}, {"rotate", AUG_ROTATE},
    {"jitter", AUG_JITTER}, {"all", AUG_ALL}, {"none", 0},
};
enum { NWORDS = sizeof words / sizeof words[0], NSINGLE = 4 };

static int is_space(char c) { return c == ' ' || c == '\t'; }

/* Index in words of s[0..n), or -1. */
static int find_word(const char *s, size_t n)
{
    for (int i = 0; i < NWORDS; i++)
        if (strlen(words[i].name) == n && memcmp(words[i].name, s, n) == 0)
            return i;
    return -1;
}

int augment_parse(const char *list, int *flags, shelf_error *err)
{
    *flags = 0;
    for (const char *p = list ? list : "";;) {
        const char *end = strchr(p, ','), *e;
        if (!end)
            end = p + strlen(p);
        for (e = end; e > p && is_space(e[-1]); e--)
            ;
        while (p < e && is_space(*p))
            p++;
        int i = find_word(p, (size_t)(e - p));
        if (i < 0) {
            *flags = 0;
            if (p == e)
                err_set(err, SHELF_EINVAL, "missing augmentation name in '%s'",
                        list ? list : "");
            else
                err_set(err, SHELF_EINVAL,
                        "unknown augmentation '%.*s': use flip, crop, rotate, jitter, all or "
                        "none", (int)(e - p), p);
            return -1;
        }
        *flags |= words[i].flags;
        if (!*end)
            return 0;
        p = end + 1;
    }
}

void augment_format(int flags, char *out, size_t n)
{
    if (n == 0)
        return;
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < NSINGLE; i++) {
        if (!(flags & words[i].flags))
            continue;
        int k = snprintf(out + len, n - len, "%s%s", len ? "," : "", words[i].name);
        if (k < 0 || (size_t)k >= n - len)
            return;
        len += (size_t)k;
    }
    if (len == 0)
        snprintf(out, n, "none");
}

/* ---- the image ------------------------------------------------------------------------- */

/* Output pixel (u, v) comes from source point (x, y): turned about the centre, mirrored,
 * then taken from the crop whose corner is (x0, y0) and whose sides are (sx, sy) * S. */
typedef struct warp {
    float cos, sin, flip; /* flip: -1 mirrors */
    float x0, y0, sx, sy;
} warp;

static float uniform(rng *r, float lo, float hi) { return lo + (hi - lo) * rng_float(r); }

/* torchvision's RandomResizedCrop: 10 tries at an area of 60..100% and an aspect ratio
 * uniform in log scale between 3/4 and 4/3, else the whole image. */
static void draw_crop(warp *w, rng *r, int S)
{
    for (int attempt = 0; attempt < 10; attempt++) {
        float area = uniform(r, 0.6f, 1.0f);
        float aspect = expf(uniform(r, logf(3.0f / 4.0f), logf(4.0f / 3.0f)));
        float sx = sqrtf(area * aspect), sy = sqrtf(area / aspect);
        if (sx <= 1.0f && sy <= 1.0f) {
            w->sx = sx;
            w->sy = sy;
            w->x0 = uniform(r, 0.0f, 1.0f - sx) * (float)S;
            w->y0 = uniform(r, 0.0f, 1.0f - sy) * (float)S;
            return;
        }
    }
}

static warp draw_warp(rng *r, int S, int flags)
{
    warp w = {.cos = 1, .sin = 0, .flip = 1, .x0 = 0, .y0 = 0, .sx = 1, .sy = 1};
    if (flags & AUG_FLIP && rng_float(r) < 0.5f)
        w.flip = -1;
    if (flags & AUG_CROP)
        draw_crop(&w, r, S);
    if (flags & AUG_ROTATE) {
        float angle = uniform(r, -10.0f, 10.0f) * (3.14159265358979f / 180.0f);
        w.cos = cosf(angle);
        w.sin = sinf(angle);
    }
    return w;
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Bilinear sample of src at pixel coordinates (x, y), edges replicated. Exact at whole
 * coordinates, so that without augmentation the pixels come through unchanged. */
static void sample(const unsigned char *src, int S, float x, float y, float out[3])
{
    x = clampf(x, 0.0f, (float)(S - 1));
    y = clampf(y, 0.0f, (float)(S - 1));
    int x0 = (int)x, y0 = (int)y, x1 = x0 + (x0 < S - 1), y1 = y0 + (y0 < S - 1);
    float fx = x - (float)x0, fy = y - (float)y0;
    const unsigned char *row0 = src + (size_t)y0 * S * 3, *row1 = src + (size_t)y1 * S * 3;
    const unsigned char *a = row0 + 3 * x0, *b = row0 + 3 * x1;
    const unsigned char *c = row1 + 3 * x0, *d = row1 + 3 * x1;
    for (int ch = 0; ch < 3; ch++) {
        float top = a[ch] + (b[ch] - a[ch]) * fx, bottom = c[ch] + (d[ch] - c[ch]) * fx;
        out[ch] = top + (bottom - top) * fy;
    }
}

/* Writes the warped image, in 0..1 and brightened, to dst; returns its mean gray level. */
static float warp_to_planes(const unsigned char *src, int S, const warp *w, float bright,
                            float *dst, long plane_stride)
{
    float half = 0.5f * (float)S;
    double gray = 0.0;
    for (int v = 0; v < S; v++) {
        for (int u = 0; u < S; u++) {
            float dx = (float)u + 0.5f - half, dy = (float)v + 0.5f - half;
            float rx = w->cos * dx + w->sin * dy, ry = w->cos * dy - w->sin * dx;
            float px[3];
            sample(src, S, w->x0 + w->sx * (half + w->flip * rx) - 0.5f,
                   w->y0 + w->sy * (half + ry) - 0.5f, px);
            for (int c = 0; c < 3; c++) {
                px[c] = fminf(px[c] / 255.0f * bright, 1.0f);
                dst[c * plane_stride + (long)v * S + u] = px[c];
            }
            gray += 0.299f * px[0] + 0.587f * px[1] + 0.114f * px[2];
        }
    }
    return (float)(gray / ((double)S * S));
}

void augment_to_tensor(const unsigned char *src, int S, int flags, rng *r,
                       const float mean[3], const float std[3], float *dst,
                       long plane_stride)
{
    if (!r)
        flags = 0;
    warp w = draw_warp(r, S, flags);
    float bright = 1.0f, contrast = 1.0f;
    if (flags & AUG_JITTER) {
        bright = uniform(r, 0.8f, 1.2f);
        contrast = uniform(r, 0.8f, 1.2f);
    }
    float gray = warp_to_planes(src, S, &w, bright, dst, plane_stride);
    for (int c = 0; c < 3; c++) {
        float *plane = dst + c * plane_stride;
        for (long i = 0; i < (long)S * S; i++) {
            float v = clampf(plane[i] * contrast + (1.0f - contrast) * gray, 0.0f, 1.0f);
            plane[i] = (v - mean[c]) / std[c];
        }
    }
}
