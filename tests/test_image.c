/* Image decoding, resizing, augmentation and image paths. The tests make their own images
 * with the libjpeg, libpng and libwebp encoders, in memory or in a fresh directory under
 * /tmp. Resizing is checked against values computed once with PIL (the script is in the
 * comment above those values). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>
#include <webp/encode.h>

#include "core/rng.h"
#include "image/augment.h"
#include "image/decode.h"
#include "image/path.h"
#include "image/resize.h"
#include "shelf.h"
#include "scratch_dir.h"

/* ---- helpers ------------------------------------------------------------------------- */

#define assert_contains(hay, needle)                                                       \
    do {                                                                                   \
        if (!strstr((hay), (needle)))                                                      \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                       \
    } while (0)

/* An encoded image; data is malloc'ed. */
typedef struct blob {
    unsigned char *data;
    size_t n;
} blob;

/* A w x h RGB picture with detail in every pixel: the same formula as the PIL script's. */
static unsigned char *pattern(int w, int h)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + 3 * (y * w + x);
            p[0] = (unsigned char)((x * 37 + y * 11) % 256);
            p[1] = (unsigned char)((x * x * 7 + y * 23 + 5) % 256);
            p[2] = (unsigned char)((x * y * 13 + 91) % 256);
        }
    return px;
}

/* A smooth w x h RGB picture, which lossy codecs keep well. */
static unsigned char *gradient(int w, int h)
{
    unsigned char *px = malloc((size_t)w * h * 3);
    assert_non_null(px);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char *p = px + 3 * (y * w + x);
            p[0] = (unsigned char)(x * 255 / (w - 1));
            p[1] = (unsigned char)(y * 255 / (h - 1));
            p[2] = 128;
        }
    return px;
}

static const unsigned char *pixel(const image *im, int x, int y)
{
    return im->rgb + 3 * ((size_t)y * im->w + x);
}

/* The mean absolute difference of two RGB images of n pixels. */
static double mean_diff(const unsigned char *a, const unsigned char *b, size_t n)
{
    double sum = 0;
    for (size_t i = 0; i < 3 * n; i++)
        sum += abs(a[i] - b[i]);
    return sum / (3.0 * n);
}

static image decode_ok(const blob *b, int min_side)
{
    image im;
    shelf_error err = {0};
    shelf_status st = image_decode_mem(b->data, b->n, min_side, 0, &im, &err);
    if (st != SHELF_OK)
        fail_msg("unexpected failure: %s", err.message);
    assert_non_null(im.rgb);
    return im;
}

/* Decodes, expecting status want and an empty image; returns the message (static). */
static const char *decode_fail(const void *data, size_t n, long max_pixels, shelf_status want)
{
    static shelf_error err;
    memset(&err, 0, sizeof err);
    image im = {1, 1, (unsigned char *)"x"};
    shelf_status st = image_decode_mem(data, n, 0, max_pixels, &im, &err);
    if (st == SHELF_OK)
        image_free(&im);
    assert_int_equal(st, want);
    assert_int_equal(err.code, want);
    assert_null(im.rgb);
    assert_int_equal(im.w, 0);
    return err.message;
}

/* ---- encoders ------------------------------------------------------------------------ */

typedef struct jpeg_spec {
    int components;         /* of px: 3 RGB, 1 gray, 4 CMYK */
    J_COLOR_SPACE in, out;  /* the colour space of px, and of the file */
    int progressive;
    int marker;             /* an extra marker (JPEG_APP0 + n) written before the pixels */
    const unsigned char *marker_data;
    unsigned marker_len;
    int marker2;            /* and a second one */
    const unsigned char *marker2_data;
    unsigned marker2_len;
} jpeg_spec;

static blob jpeg_encode(const unsigned char *px, int w, int h, const jpeg_spec *s)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    unsigned char *out = NULL;
    unsigned long n = 0;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &out, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = s->components;
    c.in_color_space = s->in;
    jpeg_set_defaults(&c);
    jpeg_set_colorspace(&c, s->out);
    jpeg_set_quality(&c, 95, TRUE);
    if (s->progressive)
        jpeg_simple_progression(&c);
    jpeg_start_compress(&c, TRUE);
    if (s->marker)
        jpeg_write_marker(&c, s->marker, s->marker_data, s->marker_len);
    if (s->marker2)
        jpeg_write_marker(&c, s->marker2, s->marker2_data, s->marker2_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * w * s->components);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return (blob){out, n};
}

static blob jpeg_rgb(const unsigned char *px, int w, int h)
{
    jpeg_spec s = {.components = 3, .in = JCS_RGB, .out = JCS_YCbCr};
    return jpeg_encode(px, w, h, &s);
}

typedef struct png_spec {
    int color_type, bit_depth, interlace;
    const png_color *palette;
    int npalette;
    const png_byte *trans; /* alpha of the first palette entries */
    int ntrans;
} png_spec;

static void png_append(png_structp png, png_bytep data, size_t n)
{
    blob *b = png_get_io_ptr(png);
    b->data = realloc(b->data, b->n + n);
    assert_non_null(b->data);
    memcpy(b->data + b->n, data, n);
    b->n += n;
}

static void png_no_flush(png_structp png) { (void)png; }

/* px: rows of packed samples as the PNG stores them (16-bit big-endian). */
static blob png_encode(const unsigned char *px, int w, int h, const png_spec *s)
{
    static const int channels[] = {[PNG_COLOR_TYPE_GRAY] = 1, [PNG_COLOR_TYPE_RGB] = 3,
                                   [PNG_COLOR_TYPE_PALETTE] = 1,
                                   [PNG_COLOR_TYPE_GRAY_ALPHA] = 2,
                                   [PNG_COLOR_TYPE_RGB_ALPHA] = 4};
    size_t stride = ((size_t)w * channels[s->color_type] * s->bit_depth + 7) / 8;
    blob b = {NULL, 0};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    assert_int_equal(setjmp(png_jmpbuf(png)), 0);
    png_set_write_fn(png, &b, png_append, png_no_flush);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, s->bit_depth, s->color_type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trans)
        png_set_tRNS(png, info, s->trans, s->ntrans, NULL);
    png_bytep *rows = malloc((size_t)h * sizeof *rows);
    assert_non_null(rows);
    for (int y = 0; y < h; y++)
        rows[y] = (png_bytep)px + (size_t)y * stride;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return b;
}

static blob png_rgb(const unsigned char *px, int w, int h)
{
    png_spec s = {PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0};
    return png_encode(px, w, h, &s);
}

static blob webp_lossy(const unsigned char *px, int w, int h)
{
    uint8_t *out = NULL;
    size_t n = WebPEncodeRGB(px, w, h, w * 3, 95, &out);
    assert_true(n > 0);
    blob b = {malloc(n), n};
    assert_non_null(b.data);
    memcpy(b.data, out, n);
    WebPFree(out);
    return b;
}

/* A PNG of 8-bit gray pixels px. */
static blob png_gray(const unsigned char *px, int w, int h)
{
    png_spec s = {PNG_COLOR_TYPE_GRAY, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0};
    return png_encode(px, w, h, &s);
}

/* ---- JPEG ---------------------------------------------------------------------------- */

static void test_jpeg_rgb_decodes_close_to_its_source(void **state)
{
    (void)state;
    unsigned char *px = gradient(48, 32);
    blob b = jpeg_rgb(px, 48, 32);
    image im = decode_ok(&b, 0);
    assert_int_equal(im.w, 48);
    assert_int_equal(im.h, 32);
    assert_true(mean_diff(im.rgb, px, 48 * 32) < 2.0);
    image_free(&im);
    image_free(&im); /* twice is harmless */
    image_free(NULL);
    free(b.data);
    free(px);
}

static void test_jpeg_progressive_decodes(void **state)
{
    (void)state;
    unsigned char *px = gradient(40, 24);
    jpeg_spec s = {.components = 3, .in = JCS_RGB, .out = JCS_YCbCr, .progressive = 1};
    blob b = jpeg_encode(px, 40, 24, &s);
    image im = decode_ok(&b, 0);
    assert_true(mean_diff(im.rgb, px, 40 * 24) < 2.0);
    image_free(&im);
    free(b.data);
    free(px);
}

static void test_jpeg_grayscale_becomes_rgb(void **state)
{
    (void)state;
    unsigned char gray[16 * 8];
    for (int i = 0; i < 16 * 8; i++)
        gray[i] = (unsigned char)(i % 16 * 16);
    jpeg_spec s = {.components = 1, .in = JCS_GRAYSCALE, .out = JCS_GRAYSCALE};
    blob b = jpeg_encode(gray, 16, 8, &s);
    image im = decode_ok(&b, 0);
    assert_int_equal(im.w, 16);
    for (int i = 0; i < 16 * 8; i++) {
        const unsigned char *p = im.rgb + 3 * i;
        assert_int_equal(p[0], p[1]);
        assert_int_equal(p[1], p[2]);
        assert_true(abs(p[0] - gray[i]) <= 8);
    }
    image_free(&im);
    free(b.data);
}

/* Adobe's CMYK JPEGs store ink inverted (255 = no ink); libjpeg writes the Adobe marker that
 * says so. Stored (255, 0, 255, 255) is full magenta ink only: magenta on screen. */
static void test_jpeg_cmyk_and_ycck_become_rgb(void **state)
{
    (void)state;
    unsigned char cmyk[16 * 16 * 4];
    for (int i = 0; i < 16 * 16; i++)
        memcpy(cmyk + 4 * i, "\xFF\x00\xFF\xFF", 4);
    J_COLOR_SPACE spaces[] = {JCS_CMYK, JCS_YCCK};
    for (int k = 0; k < 2; k++) {
        jpeg_spec s = {.components = 4, .in = JCS_CMYK, .out = spaces[k]};
        blob b = jpeg_encode(cmyk, 16, 16, &s);
        image im = decode_ok(&b, 0);
        const unsigned char *p = pixel(&im, 8, 8);
        if (p[0] < 245 || p[1] > 10 || p[2] < 245)
            fail_msg("colour space %d: got (%d, %d, %d), want magenta", spaces[k], p[0], p[1],
                     p[2]);
        image_free(&im);
        free(b.data);
    }
}

/* An APP1 Exif segment whose first IFD holds only the Orientation tag. */
static size_t exif_segment(unsigned char *out, int orientation, int little_endian)
{
    static const unsigned char big[] = {'E', 'x', 'i', 'f', 0, 0,
                                        'M', 'M', 0, 42, 0, 0, 0, 8,    /* TIFF header */
                                        0, 1,                          /* one entry */
                                        0x01, 0x12, 0, 3, 0, 0, 0, 1,  /* Orientation, SHORT */
                                        0, 0, 0, 0,                    /* its value */
                                        0, 0, 0, 0};                   /* no next IFD */
    static const unsigned char little[] = {'E', 'x', 'i', 'f', 0, 0,
                                           'I', 'I', 42, 0, 8, 0, 0, 0,
                                           1, 0,
                                           0x12, 0x01, 3, 0, 1, 0, 0, 0,
                                           0, 0, 0, 0,
                                           0, 0, 0, 0};
    memcpy(out, little_endian ? little : big, sizeof big);
    out[little_endian ? 24 : 25] = (unsigned char)orientation;
    return sizeof big;
}

/* A 32 x 16 JPEG, white with a red top-left 16 x 8 quarter; an XMP APP1 segment comes
 * before the Exif one, as Photoshop writes them. */
static blob jpeg_oriented(int orientation, int little_endian)
{
    unsigned char px[32 * 16 * 3];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 32; x++)
            memcpy(px + 3 * (y * 32 + x), x < 16 && y < 8 ? "\xFF\0\0" : "\xFF\xFF\xFF", 3);
    static const char xmp[] = "http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>";
    unsigned char exif[64];
    jpeg_spec s = {.components = 3, .in = JCS_RGB, .out = JCS_YCbCr,
                   .marker = JPEG_APP0 + 1, .marker_data = (const unsigned char *)xmp,
                   .marker_len = sizeof xmp, .marker2 = JPEG_APP0 + 1,
                   .marker2_data = exif,
                   .marker2_len = (unsigned)exif_segment(exif, orientation, little_endian)};
    return jpeg_encode(px, 32, 16, &s);
}

static int is_red(const unsigned char *p) { return p[0] > 220 && p[1] < 40 && p[2] < 40; }
static int is_white(const unsigned char *p) { return p[0] > 220 && p[1] > 220 && p[2] > 220; }

static void test_jpeg_exif_orientation_is_applied(void **state)
{
    (void)state;
    /* where the red quarter ends up: 0 top-left, 1 top-right, 2 bottom-right, 3 bottom-left */
    static const int corner[9] = {0, 0, 1, 2, 3, 0, 1, 2, 3};
    for (int o = 1; o <= 8; o++) {
        blob b = jpeg_oriented(o, o % 2);
        image im = decode_ok(&b, 0);
        int turned = o >= 5;
        assert_int_equal(im.w, turned ? 16 : 32);
        assert_int_equal(im.h, turned ? 32 : 16);
        int xs[4] = {2, im.w - 3, im.w - 3, 2}, ys[4] = {2, 2, im.h - 3, im.h - 3};
        int c = corner[o], opposite = (c + 2) % 4;
        if (!is_red(pixel(&im, xs[c], ys[c])) ||
            !is_white(pixel(&im, xs[opposite], ys[opposite])))
            fail_msg("orientation %d: the red quarter is not in corner %d", o, c);
        image_free(&im);
        free(b.data);
    }
}

/* Photoshop files carry tens of KiB of metadata in APP13 (IPTC) and APP1 (XMP). */
static void test_jpeg_with_big_metadata_segments_decodes(void **state)
{
    (void)state;
    enum { BIG = 65000 };
    unsigned char *app13 = malloc(BIG), *xmp = malloc(BIG);
    assert_non_null(app13);
    assert_non_null(xmp);
    memset(app13, 'x', BIG);
    memcpy(app13, "Photoshop 3.0\0008BIM", 18);
    memset(xmp, ' ', BIG);
    memcpy(xmp, "http://ns.adobe.com/xap/1.0/", 29);
    unsigned char *px = gradient(24, 16);
    jpeg_spec s = {.components = 3, .in = JCS_RGB, .out = JCS_YCbCr,
                   .marker = JPEG_APP0 + 13, .marker_data = app13, .marker_len = BIG,
                   .marker2 = JPEG_APP0 + 1, .marker2_data = xmp, .marker2_len = BIG};
    blob b = jpeg_encode(px, 24, 16, &s);
    assert_true(b.n > 2 * BIG);
    image im = decode_ok(&b, 0);
    assert_int_equal(im.w, 24);
    assert_true(mean_diff(im.rgb, px, 24 * 16) < 2.0);
    image_free(&im);
    free(b.data);
    free(px);
    free(app13);
    free(xmp);
}

static void test_jpeg_dct_scaling_keeps_both_sides_at_least_min_side(void **state)
{
    (void)state;
    unsigned char *px = gradient(640, 480);
    blob b = jpeg_rgb(px, 640, 480);
    static const struct {
        int min_side, w, h;
    } cases[] = {{0, 640, 480},  {60, 80, 60},   {64, 160, 120}, {120, 160, 120},
                 {121, 240, 180}, {480, 640, 480}, {1000, 640, 480}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        image im = decode_ok(&b, cases[i].min_side);
        if (im.w != cases[i].w || im.h != cases[i].h)
            fail_msg("min_side %d: %dx%d, want %dx%d", cases[i].min_side, im.w, im.h,
                     cases[i].w, cases[i].h);
        image_free(&im);
    }
    /* the scaled picture is the picture, smaller */
    image im = decode_ok(&b, 60);
    const unsigned char *p = pixel(&im, 79, 59);
    assert_true(p[0] > 240 && p[1] > 240 && abs(p[2] - 128) < 6);
    image_free(&im);
    free(b.data);
    free(px);
}

/* ---- PNG ----------------------------------------------------------------------------- */

static void test_png_rgb_and_interlaced_rgb_are_exact(void **state)
{
    (void)state;
    unsigned char *px = pattern(13, 9);
    for (int interlace = 0; interlace < 2; interlace++) {
        png_spec s = {PNG_COLOR_TYPE_RGB, 8,
                      interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, NULL, 0, NULL, 0};
        blob b = png_encode(px, 13, 9, &s);
        image im = decode_ok(&b, 0);
        assert_int_equal(im.w, 13);
        assert_int_equal(im.h, 9);
        assert_memory_equal(im.rgb, px, 13 * 9 * 3);
        image_free(&im);
        free(b.data);
    }
    free(px);
}

static void test_png_palette_with_transparency_goes_over_white(void **state)
{
    (void)state;
    static const png_color palette[] = {{0, 0, 0}, {200, 10, 20}, {0, 0, 255}};
    static const png_byte trans[] = {0, 255, 128}; /* black fully transparent */
    unsigned char idx[4 * 2] = {0, 1, 2, 1, 2, 1, 0, 0};
    png_spec s = {PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, palette, 3, trans, 3};
    blob b = png_encode(idx, 4, 2, &s);
    image im = decode_ok(&b, 0);
    assert_memory_equal(pixel(&im, 0, 0), "\xFF\xFF\xFF", 3);
    assert_memory_equal(pixel(&im, 1, 0), "\xC8\x0A\x14", 3);
    /* blue at alpha 128 over white: (255 * 127 + 127) / 255 = 127 for red and green */
    assert_memory_equal(pixel(&im, 2, 0), "\x7F\x7F\xFF", 3);
    image_free(&im);
    free(b.data);
}

static void test_png_gray_and_low_bit_gray_become_rgb(void **state)
{
    (void)state;
    unsigned char gray[5 * 3] = {0, 30, 60, 90, 120, 150, 180, 210, 240, 255, 1, 2, 3, 4, 5};
    blob b = png_gray(gray, 5, 3);
    image im = decode_ok(&b, 0);
    for (int i = 0; i < 15; i++)
        assert_memory_equal(im.rgb + 3 * i, ((unsigned char[]){gray[i], gray[i], gray[i]}), 3);
    image_free(&im);
    free(b.data);

    /* 1-bit gray: 8 pixels a byte, 1 is white */
    unsigned char bits[2] = {0xA5, 0x0F}; /* 2 rows of 8 */
    png_spec s = {PNG_COLOR_TYPE_GRAY, 1, PNG_INTERLACE_NONE, NULL, 0, NULL, 0};
    b = png_encode(bits, 8, 2, &s);
    im = decode_ok(&b, 0);
    for (int i = 0; i < 16; i++) {
        int white = bits[i / 8] >> (7 - i % 8) & 1;
        assert_int_equal(im.rgb[3 * i], white ? 255 : 0);
    }
    image_free(&im);
    free(b.data);
}

static void test_png_gray_alpha_and_rgba_go_over_white(void **state)
{
    (void)state;
    unsigned char ga[3 * 2] = {100, 255, 100, 0, 0, 128};
    png_spec s = {PNG_COLOR_TYPE_GRAY_ALPHA, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0};
    blob b = png_encode(ga, 3, 1, &s);
    image im = decode_ok(&b, 0);
    assert_memory_equal(im.rgb, "\x64\x64\x64" "\xFF\xFF\xFF" "\x7F\x7F\x7F", 9);
    image_free(&im);
    free(b.data);

    unsigned char rgba[2 * 4] = {10, 20, 30, 255, 200, 100, 50, 0};
    s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
    b = png_encode(rgba, 2, 1, &s);
    im = decode_ok(&b, 0);
    assert_memory_equal(im.rgb, "\x0A\x14\x1E" "\xFF\xFF\xFF", 6);
    image_free(&im);
    free(b.data);
}

static void test_png_16_bit_becomes_8_bit(void **state)
{
    (void)state;
    unsigned char *px = pattern(6, 4), wide[6 * 4 * 6];
    for (int i = 0; i < 6 * 4 * 3; i++)
        wide[2 * i] = wide[2 * i + 1] = px[i]; /* v * 257, big-endian */
    png_spec s = {PNG_COLOR_TYPE_RGB, 16, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0};
    blob b = png_encode(wide, 6, 4, &s);
    image im = decode_ok(&b, 0);
    assert_memory_equal(im.rgb, px, 6 * 4 * 3);
    image_free(&im);
    free(b.data);
    free(px);
}

/* ---- WebP ---------------------------------------------------------------------------- */

static void test_webp_lossy_decodes_close_to_its_source(void **state)
{
    (void)state;
    unsigned char *px = gradient(40, 30);
    blob b = webp_lossy(px, 40, 30);
    image im = decode_ok(&b, 0);
    assert_int_equal(im.w, 40);
    assert_int_equal(im.h, 30);
    assert_true(mean_diff(im.rgb, px, 40 * 30) < 3.0);
    image_free(&im);
    free(b.data);
    free(px);
}

static void test_webp_lossless_alpha_goes_over_white(void **state)
{
    (void)state;
    static const unsigned char rgba[4 * 4] = {10, 20, 30, 255, 200, 100, 50, 0,
                                              0, 0, 0, 128, 250, 5, 7, 255};
    uint8_t *out = NULL;
    size_t n = WebPEncodeLosslessRGBA(rgba, 2, 2, 2 * 4, &out);
    assert_true(n > 0);
    blob b = {out, n};
    image im = decode_ok(&b, 0);
    assert_int_equal(im.w, 2);
    assert_memory_equal(im.rgb, "\x0A\x14\x1E" "\xFF\xFF\xFF" "\x7F\x7F\x7F" "\xFA\x05\x07",
                        12);
    image_free(&im);
    WebPFree(out);
}

/* ---- bad input ----------------------------------------------------------------------- */

static void test_truncated_images_are_errors(void **state)
{
    (void)state;
    unsigned char *px = gradient(64, 48);
    blob blobs[] = {jpeg_rgb(px, 64, 48), png_rgb(px, 64, 48), webp_lossy(px, 64, 48)};
    static const char *const why[] = {"truncated JPEG data", "truncated PNG data",
                                      "truncated WebP data"};
    for (int k = 0; k < 3; k++) {
        assert_string_equal(decode_fail(blobs[k].data, blobs[k].n / 2, 0, SHELF_EDATA), why[k]);
        assert_string_equal(decode_fail(blobs[k].data, 20, 0, SHELF_EDATA), why[k]);
        free(blobs[k].data);
    }
    free(px);
}

static void test_other_content_is_not_an_image(void **state)
{
    (void)state;
    static const char text[] = "id,title\n1,mug\n";
    assert_string_equal(decode_fail(text, sizeof text - 1, 0, SHELF_EDATA),
                        "not a JPEG, PNG or WebP image");
    assert_string_equal(decode_fail("GIF89a\1\0\1\0", 10, 0, SHELF_EDATA),
                        "a GIF image, not a JPEG, PNG or WebP image");
    assert_contains(decode_fail("<!DOCTYPE html><html>", 21, 0, SHELF_EDATA), "HTML");
    assert_string_equal(decode_fail("\xFF", 1, 0, SHELF_EDATA),
                        "not a JPEG, PNG or WebP image");
    assert_string_equal(decode_fail("", 0, 0, SHELF_EDATA), "no image data");
}

/* A PNG signature and an IHDR chunk of w x h 8-bit RGB, and nothing else. */
static size_t png_header(unsigned char *out, uint32_t w, uint32_t h)
{
    static const unsigned char head[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n',
                                         0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    memcpy(out, head, sizeof head);
    unsigned char *p = out + sizeof head;
    uint32_t fields[2] = {w, h};
    for (int f = 0; f < 2; f++)
        for (int i = 0; i < 4; i++)
            *p++ = (unsigned char)(fields[f] >> (24 - 8 * i));
    memcpy(p, "\x08\x02\x00\x00\x00", 5); /* depth 8, RGB, deflate, no filter, no interlace */
    p += 5;
    uint32_t crc = 0xFFFFFFFFu; /* over the chunk type and data */
    for (const unsigned char *q = out + 12; q < p; q++) {
        crc ^= *q;
        for (int k = 0; k < 8; k++)
            crc = crc >> 1 ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    crc ^= 0xFFFFFFFFu;
    for (int i = 0; i < 4; i++)
        *p++ = (unsigned char)(crc >> (24 - 8 * i));
    return (size_t)(p - out);
}

static void test_pixel_limit_is_checked_from_the_header(void **state)
{
    (void)state;
    unsigned char head[64];
    size_t n = png_header(head, 100000, 100000);
    assert_string_equal(decode_fail(head, n, 0, SHELF_EDATA),
                        "image of 100000x100000 pixels is over the limit of 67108864");
    n = png_header(head, 0x7FFFFFFF, 0x7FFFFFFF);
    assert_contains(decode_fail(head, n, 0, SHELF_EDATA), "is over the limit");
    /* within the limit, the missing pixel data is what is wrong */
    n = png_header(head, 64, 64);
    assert_string_equal(decode_fail(head, n, 0, SHELF_EDATA), "truncated PNG data");

    /* every format refuses before decoding */
    unsigned char *px = gradient(64, 48);
    blob blobs[] = {jpeg_rgb(px, 64, 48), png_rgb(px, 64, 48), webp_lossy(px, 64, 48)};
    for (int k = 0; k < 3; k++) {
        assert_string_equal(decode_fail(blobs[k].data, blobs[k].n, 3000, SHELF_EDATA),
                            "image of 64x48 pixels is over the limit of 3000");
        image im;
        assert_int_equal(image_decode_mem(blobs[k].data, blobs[k].n, 0, 3072, &im, NULL),
                         SHELF_OK);
        image_free(&im);
        free(blobs[k].data);
    }
    free(px);
}

/* The size from the header alone: what a server checks before it decodes (or instead of
 * decoding, for a text model). */
static void test_probe_reads_the_size_from_the_header_alone(void **state)
{
    (void)state;
    unsigned char *px = gradient(64, 48);
    blob blobs[] = {jpeg_rgb(px, 64, 48), png_rgb(px, 64, 48), webp_lossy(px, 64, 48)};
    long w, h;
    shelf_error err = {0};
    for (int k = 0; k < 3; k++) {
        assert_int_equal(image_probe_size(blobs[k].data, blobs[k].n, &w, &h, &err), SHELF_OK);
        assert_int_equal(w, 64);
        assert_int_equal(h, 48);
        assert_int_equal(image_probe_size(blobs[k].data, 20, &w, &h, &err), SHELF_EDATA);
        assert_contains(err.message, "truncated");
    }
    /* cut after the header: the size is there, the pixels are not looked at */
    assert_int_equal(image_probe_size(blobs[0].data, blobs[0].n - 100, &w, &h, &err),
                     SHELF_OK);
    unsigned char head[64];
    size_t n = png_header(head, 100000, 90000); /* a bomb's header: nothing allocated */
    assert_int_equal(image_probe_size(head, n, &w, &h, &err), SHELF_OK);
    assert_true(w == 100000 && h == 90000);
    n = png_header(head, 0, 5);
    assert_int_equal(image_probe_size(head, n, &w, &h, &err), SHELF_EDATA);
    assert_string_equal(err.message, "image of 0x5 pixels is empty");
    assert_int_equal(image_probe_size((const unsigned char *)"GIF89a\1\0\1\0", 10, &w, &h,
                                      &err), SHELF_EDATA);
    assert_string_equal(err.message, "a GIF image, not a JPEG, PNG or WebP image");
    assert_int_equal(image_probe_size(NULL, 0, &w, &h, &err), SHELF_EDATA);
    for (int k = 0; k < 3; k++)
        free(blobs[k].data);
    free(px);
}

/* A fixed LCG, so that a failure can be reproduced. */
static uint32_t lcg(uint32_t *seed)
{
    *seed = *seed * 1664525u + 1013904223u;
    return *seed >> 8;
}

/* Decodes data, expecting success or bad data, never a crash (the sanitizer build checks
 * the memory side). */
static void decode_anything(const unsigned char *data, size_t n, uint32_t seed)
{
    image im;
    shelf_error err = {0};
    shelf_status st = image_decode_mem(data, n, (int)(seed % 3) * 16, 1 << 20, &im, &err);
    if (st != SHELF_OK && st != SHELF_EDATA)
        fail_msg("seed %u: status %d: %s", seed, st, err.message);
    assert_true(st == SHELF_OK || err.message[0] != '\0');
    image_free(&im);
    long w, h;
    st = image_probe_size(data, n, &w, &h, &err);
    assert_true(st == SHELF_OK ? w > 0 && h > 0 : st == SHELF_EDATA && err.message[0]);
}

static void test_random_and_damaged_bytes_give_errors_not_crashes(void **state)
{
    (void)state;
    unsigned char buf[4096];
    static const char *const magic[] = {"", "\xFF\xD8\xFF", "\x89PNG\r\n\x1A\n",
                                        "RIFF\0\0\0\0WEBPVP8 "};
    static const size_t magic_len[] = {0, 3, 8, 16};
    for (uint32_t seed = 1; seed <= 200; seed++) {
        uint32_t s = seed;
        size_t n = 1 + lcg(&s) % sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)lcg(&s);
        int k = (int)(seed % 4);
        memcpy(buf, magic[k], magic_len[k] < n ? magic_len[k] : n);
        decode_anything(buf, n, seed);
    }

    /* real images with a few bytes changed and perhaps cut short */
    unsigned char *px = pattern(24, 16);
    jpeg_spec prog = {.components = 3, .in = JCS_RGB, .out = JCS_YCbCr, .progressive = 1};
    blob blobs[] = {jpeg_rgb(px, 24, 16), jpeg_encode(px, 24, 16, &prog), png_rgb(px, 24, 16),
                    webp_lossy(px, 24, 16), jpeg_oriented(6, 1)};
    for (uint32_t seed = 1; seed <= 400; seed++) {
        const blob *b = &blobs[seed % 5];
        uint32_t s = seed;
        size_t n = b->n <= sizeof buf ? b->n : sizeof buf;
        memcpy(buf, b->data, n);
        for (uint32_t flips = 1 + lcg(&s) % 8; flips > 0; flips--)
            buf[lcg(&s) % n] = (unsigned char)lcg(&s);
        if (lcg(&s) % 3 == 0)
            n = 1 + lcg(&s) % n;
        decode_anything(buf, n, seed);
    }
    for (int k = 0; k < 5; k++)
        free(blobs[k].data);
    free(px);
}

/* ---- files --------------------------------------------------------------------------- */

static void test_decode_file_reads_by_content_not_name(void **state)
{
    (void)state;
    unsigned char *px = pattern(10, 6);
    blob b = png_rgb(px, 10, 6);
    const char *path = write_bytes("really_a_png.jpg", b.data, b.n);
    image im;
    shelf_error err = {0};
    assert_int_equal(image_decode_file(path, 0, 0, &im, &err), SHELF_OK);
    assert_memory_equal(im.rgb, px, 10 * 6 * 3);
    image_free(&im);
    free(b.data);
    free(px);
}

static void test_decode_file_errors_do_not_name_the_file(void **state)
{
    (void)state;
    image im;
    shelf_error err = {0};
    assert_int_equal(image_decode_file(path_of("missing.jpg"), 0, 0, &im, &err), SHELF_EIO);
    assert_string_equal(err.message, "cannot open: No such file or directory");
    assert_null(im.rgb);
    assert_int_equal(image_decode_file(scratch_dir, 0, 0, &im, &err), SHELF_EIO);
    assert_string_equal(err.message, "cannot open: Is a directory");
    assert_int_equal(image_decode_file(write_bytes("empty.png", "", 0), 0, 0, &im, &err),
                     SHELF_EDATA);
    assert_string_equal(err.message, "empty file");
    assert_int_equal(image_decode_file(write_bytes("notes.png", "hello", 5), 0, 0, &im, &err),
                     SHELF_EDATA);
    assert_string_equal(err.message, "not a JPEG, PNG or WebP image");
    assert_int_equal(image_decode_file(NULL, 0, 0, &im, &err), SHELF_EINVAL);
}

/* ---- resize -------------------------------------------------------------------------- */

/* Expected values from PIL 9.4 (Debian python3-pil):
 *   from PIL import Image
 *   def pattern(w, h):  # the formula of pattern() above
 *       return Image.frombytes("RGB", (w, h), bytes(v for y in range(h) for x in range(w)
 *           for v in ((x*37 + y*11) % 256, (x*x*7 + y*23 + 5) % 256, (x*y*13 + 91) % 256)))
 *   pattern(13, 9).resize((5, 4), Image.BILINEAR).tobytes()   # and so on */
static const unsigned char pil_down_13x9_to_5x4[] = {
    48,  38,  103, 133, 111, 127, 151, 108, 140, 73,  150, 133, 158, 127, 157,
    70,  85,  130, 155, 148, 169, 150, 126, 131, 95,  115, 134, 180, 106, 118,
    96,  137, 145, 178, 167, 131, 101, 127, 138, 121, 125, 131, 200, 138, 117,
    118, 184, 125, 172, 156, 135, 78,  135, 132, 143, 155, 113, 166, 147, 127};
static const unsigned char pil_up_4x3_to_7x5[] = {
    0,   5,   91,  13,  8,   91,  34,  12,  91,  56,  23,  91,  77,  35,  91,  98,  55,  91,
    111, 68,  91,  4,   14,  91,  17,  17,  93,  38,  21,  96,  60,  32,  99,  81,  44,  102,
    102, 64,  105, 115, 77,  107, 11,  28,  91,  24,  31,  96,  45,  35,  103, 67,  46,  111,
    88,  58,  118, 109, 78,  125, 122, 91,  130, 18,  42,  91,  31,  45,  98,  52,  49,  110,
    74,  60,  122, 95,  72,  134, 116, 92,  146, 129, 105, 153, 22,  51,  91,  35,  54,  100,
    56,  58,  115, 78,  69,  130, 99,  81,  145, 120, 101, 160, 133, 114, 169};
static const unsigned char pil_mixed_13x9_to_16x3[] = {
    14,  34,  91,  41,  39,  103, 71,  52,  116, 101, 74,  129, 131, 105, 142, 161, 144, 156,
    191, 195, 144, 221, 103, 150, 147, 67,  137, 25,  137, 113, 55,  191, 125, 85,  105, 139,
    115, 155, 152, 145, 154, 150, 175, 104, 146, 202, 82,  158, 44,  97,  91,  71,  102, 128,
    101, 115, 171, 131, 137, 183, 161, 168, 156, 191, 207, 129, 221, 125, 125, 150, 97,  137,
    76,  130, 133, 55,  157, 125, 85,  65,  164, 115, 137, 114, 145, 90,  138, 175, 113, 127,
    205, 149, 101, 232, 81,  118, 74,  160, 91,  101, 165, 154, 131, 178, 140, 161, 200, 104,
    191, 206, 112, 221, 115, 183, 126, 86,  130, 64,  125, 128, 55,  167, 134, 85,  164, 128,
    115, 100, 120, 145, 196, 87,  175, 134, 138, 205, 131, 150, 190, 166, 117, 102, 144, 88};
/* A 150 x 4 image whose every row is (x*x*7 % 256, x*13 % 256, 255 - x) to 100 x 2: wider
 * than the columns resize does at a time. The red of an output row. */
static const unsigned char pil_wide_red[100] = {
    3,   25,  75,  163, 188, 142, 115, 133, 195, 108, 32,  153, 222, 209, 55,  107, 128,
    103, 184, 196, 139, 46,  163, 135, 113, 123, 162, 208, 108, 192, 153, 131, 67,  110,
    107, 216, 188, 192, 225, 123, 131, 94,  78,  78,  94,  131, 123, 225, 192, 188, 216,
    107, 110, 67,  131, 153, 192, 108, 208, 162, 123, 113, 135, 163, 46,  139, 196, 184,
    103, 128, 107, 55,  209, 222, 153, 32,  108, 195, 133, 115, 142, 188, 163, 75,  25,
    3,   13,  57,  128, 208, 140, 115, 137, 177, 146, 52,  81,  224, 228, 99};

static void assert_close_to_pil(const unsigned char *got, const unsigned char *want, size_t n,
                                size_t step)
{
    for (size_t i = 0; i < n; i++)
        if (abs(got[i * step] - want[i]) > 1)
            fail_msg("byte %zu: %d, PIL has %d", i * step, got[i * step], want[i]);
}

static void test_resize_matches_pil_bilinear(void **state)
{
    (void)state;
    static const struct {
        int sw, sh, dw, dh;
        const unsigned char *want;
    } cases[] = {{13, 9, 5, 4, pil_down_13x9_to_5x4},
                 {4, 3, 7, 5, pil_up_4x3_to_7x5},
                 {13, 9, 16, 3, pil_mixed_13x9_to_16x3}};
    unsigned char out[16 * 5 * 3];
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        unsigned char *src = pattern(cases[k].sw, cases[k].sh);
        image_resize(src, cases[k].sw, cases[k].sh, out, cases[k].dw, cases[k].dh);
        assert_close_to_pil(out, cases[k].want, (size_t)cases[k].dw * cases[k].dh * 3, 1);
        free(src);
    }

    unsigned char src[150 * 4 * 3], wide[100 * 2 * 3];
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 150; x++)
            memcpy(src + 3 * (y * 150 + x),
                   ((unsigned char[]){(unsigned char)(x * x * 7 % 256),
                                      (unsigned char)(x * 13 % 256), (unsigned char)(255 - x)}),
                   3);
    image_resize(src, 150, 4, wide, 100, 2);
    assert_close_to_pil(wide, pil_wide_red, 100, 3);
    assert_close_to_pil(wide + 100 * 3, pil_wide_red, 100, 3);
}

static void test_resize_to_the_same_size_copies_and_one_pixel_averages(void **state)
{
    (void)state;
    unsigned char *src = pattern(7, 5), out[7 * 5 * 3];
    image_resize(src, 7, 5, out, 7, 5);
    assert_memory_equal(out, src, sizeof out);
    unsigned char two[2 * 1 * 3] = {0, 100, 255, 200, 50, 1}, one[3];
    image_resize(two, 2, 1, one, 1, 1);
    assert_memory_equal(one, "\x64\x4B\x80", 3); /* (0+200)/2, (100+50)/2, 128 rounded */
    free(src);
}

/* ---- augment ------------------------------------------------------------------------- */

static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdev[3] = {0.229f, 0.224f, 0.225f};

/* Runs augment_to_tensor on src (S x S) with a seeded rng into dst (planes of S*S). */
static void augment(const unsigned char *src, int S, int flags, uint64_t seed, float *dst)
{
    rng r;
    rng_seed(&r, seed);
    augment_to_tensor(src, S, flags, &r, mean, stdev, dst, (long)S * S);
}

static void test_augment_without_flags_is_exact_normalization(void **state)
{
    (void)state;
    enum { S = 9, STRIDE = S * S + 5 };
    unsigned char *src = pattern(S, S);
    float dst[3 * STRIDE];
    for (int i = 0; i < 3 * STRIDE; i++)
        dst[i] = -99.0f;
    augment_to_tensor(src, S, 0, NULL, mean, stdev, dst, STRIDE);
    for (int c = 0; c < 3; c++) {
        for (int i = 0; i < S * S; i++) {
            float want = ((float)src[3 * i + c] / 255.0f - mean[c]) / stdev[c];
            assert_true(dst[c * STRIDE + i] == want);
        }
        for (int i = S * S; i < STRIDE; i++)
            assert_true(dst[c * STRIDE + i] == -99.0f); /* the gap between planes */
    }
    /* flags without an rng: no augmentation either */
    float again[3 * STRIDE];
    memcpy(again, dst, sizeof again);
    augment_to_tensor(src, S, AUG_ALL, NULL, mean, stdev, dst, STRIDE);
    assert_memory_equal(again, dst, sizeof again);
    free(src);
}

static void test_augment_is_deterministic_given_the_seed(void **state)
{
    (void)state;
    enum { S = 32 };
    unsigned char *src = pattern(S, S);
    static float a[3 * S * S], b[3 * S * S];
    augment(src, S, AUG_ALL, 42, a);
    augment(src, S, AUG_ALL, 42, b);
    assert_memory_equal(a, b, sizeof a);
    augment(src, S, AUG_ALL, 43, b);
    assert_true(memcmp(a, b, sizeof a) != 0);
    free(src);
}

static void test_augment_flip_is_a_mirror_half_of_the_time(void **state)
{
    (void)state;
    enum { S = 8 };
    unsigned char *src = pattern(S, S);
    float plain[3 * S * S], out[3 * S * S];
    augment_to_tensor(src, S, 0, NULL, mean, stdev, plain, S * S);
    int flipped = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        augment(src, S, AUG_FLIP, seed, out);
        if (memcmp(out, plain, sizeof out) == 0)
            continue;
        flipped++;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++) {
                    const float *row = plain + c * S * S + y * S;
                    assert_true(out[c * S * S + y * S + x] == row[S - 1 - x]);
                }
    }
    assert_in_range(flipped, 10, 30);
    free(src);
}

/* Every augmentation of a flat image is flat: no sample falls outside the picture. */
static void test_augment_keeps_a_flat_image_flat(void **state)
{
    (void)state;
    enum { S = 24 };
    unsigned char src[S * S * 3];
    for (int i = 0; i < S * S; i++)
        memcpy(src + 3 * i, "\x64\xC8\x20", 3);
    static float out[3 * S * S];
    for (uint64_t seed = 1; seed <= 10; seed++) {
        augment(src, S, AUG_FLIP | AUG_CROP | AUG_ROTATE, seed, out);
        for (int c = 0; c < 3; c++)
            for (int i = 0; i < S * S; i++)
                assert_float_equal(out[c * S * S + i], out[c * S * S], 1e-5);
        assert_float_equal(out[0], (100 / 255.0f - mean[0]) / stdev[0], 1e-5);
    }
}

static void test_augment_rotation_keeps_the_centre_and_crop_keeps_order(void **state)
{
    (void)state;
    enum { S = 33 }; /* odd: one pixel sits on the centre of rotation */
    unsigned char src[S * S * 3];
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++)
            memcpy(src + 3 * (y * S + x),
                   ((unsigned char[]){(unsigned char)(x * 7), (unsigned char)(y * 7), 9}), 3);
    static float out[3 * S * S], plain[3 * S * S];
    augment_to_tensor(src, S, 0, NULL, mean, stdev, plain, S * S);
    int centre = S / 2 * S + S / 2, turned = 0;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        augment(src, S, AUG_ROTATE, seed, out);
        for (int c = 0; c < 3; c++)
            assert_float_equal(out[c * S * S + centre], plain[c * S * S + centre], 1e-5);
        turned += memcmp(out, plain, sizeof out) != 0;
    }
    assert_int_equal(turned, 5);
    /* a crop scaled back up keeps red growing to the right and green growing down */
    const float *red = out, *green = out + S * S;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        augment(src, S, AUG_CROP, seed, out);
        for (int i = 0; i < S; i++)
            for (int j = 1; j < S; j++) {
                assert_true(red[i * S + j] >= red[i * S + j - 1]);    /* along row i */
                assert_true(green[j * S + i] >= green[(j - 1) * S + i]); /* down column i */
            }
    }
}

static void test_augment_jitter_stays_in_range(void **state)
{
    (void)state;
    enum { S = 16 };
    unsigned char *src = pattern(S, S);
    static float out[3 * S * S], plain[3 * S * S];
    augment_to_tensor(src, S, 0, NULL, mean, stdev, plain, S * S);
    augment(src, S, AUG_JITTER, 7, out);
    assert_true(memcmp(out, plain, sizeof out) != 0);
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < S * S; i++) {
            float v = out[c * S * S + i] * stdev[c] + mean[c]; /* back to 0..1 */
            assert_true(v >= -1e-5f && v <= 1.0f + 1e-5f);
        }
    free(src);
}

static void test_augment_parse_and_format(void **state)
{
    (void)state;
    int flags = -1;
    shelf_error err = {0};
    assert_int_equal(augment_parse("flip,crop", &flags, &err), 0);
    assert_int_equal(flags, AUG_FLIP | AUG_CROP);
    assert_int_equal(augment_parse(" rotate , jitter ", &flags, &err), 0);
    assert_int_equal(flags, AUG_ROTATE | AUG_JITTER);
    assert_int_equal(augment_parse("all", &flags, &err), 0);
    assert_int_equal(flags, AUG_ALL);
    assert_int_equal(augment_parse("none", &flags, &err), 0);
    assert_int_equal(flags, 0);

    assert_int_equal(augment_parse("flip,blur", &flags, &err), -1);
    assert_int_equal(err.code, SHELF_EINVAL);
    assert_string_equal(err.message, "unknown augmentation 'blur': use flip, crop, rotate, "
                                     "jitter, all or none");
    assert_int_equal(flags, 0);
    assert_int_equal(augment_parse("flip,,crop", &flags, &err), -1);
    assert_contains(err.message, "missing augmentation name in 'flip,,crop'");
    assert_int_equal(augment_parse("", &flags, &err), -1);
    assert_int_equal(augment_parse(NULL, &flags, NULL), -1);

    char out[64];
    for (int f = 0; f <= AUG_ALL; f++) {
        augment_format(f, out, sizeof out);
        assert_int_equal(augment_parse(out, &flags, &err), 0);
        assert_int_equal(flags, f);
    }
    augment_format(AUG_FLIP | AUG_ROTATE, out, sizeof out);
    assert_string_equal(out, "flip,rotate");
    augment_format(0, out, sizeof out);
    assert_string_equal(out, "none");
    augment_format(AUG_ALL, out, 8); /* cut short, still a string */
    assert_true(strlen(out) < 8);
}

/* ---- paths --------------------------------------------------------------------------- */

static void test_image_paths_are_relative_to_the_data_file(void **state)
{
    (void)state;
    static const struct {
        const char *data, *ref, *want;
    } cases[] = {
        {"data/train.csv", "img/a.jpg", "data/img/a.jpg"},
        {"train.csv", "img/a.jpg", "img/a.jpg"},
        {"/srv/cat/train.csv", "a.png", "/srv/cat/a.png"},
        {"data/train.csv", "/abs/a.png", "/abs/a.png"},
        {"-", "img/a.jpg", "img/a.jpg"},
        {"data/train.csv", "../shared/a.jpg", "data/../shared/a.jpg"},
    };
    char out[64];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(image_resolve_path(cases[i].data, cases[i].ref, out, sizeof out), 0);
        assert_string_equal(out, cases[i].want);
    }
    assert_int_equal(image_resolve_path("data/train.csv", "img/a.jpg", out, 14), -1);
    assert_string_equal(out, "");
    assert_int_equal(image_resolve_path("data/train.csv", "img/a.jpg", out, 15), 0);
    assert_int_equal(image_resolve_path("data/train.csv", "", out, sizeof out), -1);
}

/* The whole way: a catalog's image column, resolved and decoded. */
static void test_catalog_image_reference_resolves_and_decodes(void **state)
{
    (void)state;
    unsigned char *px = pattern(5, 4);
    blob b = png_rgb(px, 5, 4);
    char dir[128];
    snprintf(dir, sizeof dir, "%s/imgs", scratch_dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_bytes("imgs/mug.png", b.data, b.n);
    static const char text[] = "title,image,category\nMug, imgs/mug.png ,K\n";
    const char *csv = write_bytes("cat.csv", text, sizeof text - 1);
    shelf_catalog *c = NULL;
    shelf_read_options o = {.require_label = 1};
    assert_int_equal(shelf_catalog_load(csv, &o, &c, NULL), SHELF_OK);
    const shelf_product *p = shelf_catalog_get(c, 0);
    assert_string_equal(p->image, "imgs/mug.png");
    char path[256];
    assert_int_equal(image_resolve_path(csv, p->image, path, sizeof path), 0);
    image im;
    assert_int_equal(image_decode_file(path, 0, 0, &im, NULL), SHELF_OK);
    assert_memory_equal(im.rgb, px, 5 * 4 * 3);
    image_free(&im);
    shelf_catalog_free(c);
    free(b.data);
    free(px);
}

/* ---- setup --------------------------------------------------------------------------- */

static int setup(void **state)
{
    (void)state;
    return scratch_setup("image");
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jpeg_rgb_decodes_close_to_its_source),
        cmocka_unit_test(test_jpeg_progressive_decodes),
        cmocka_unit_test(test_jpeg_grayscale_becomes_rgb),
        cmocka_unit_test(test_jpeg_cmyk_and_ycck_become_rgb),
        cmocka_unit_test(test_jpeg_exif_orientation_is_applied),
        cmocka_unit_test(test_jpeg_with_big_metadata_segments_decodes),
        cmocka_unit_test(test_jpeg_dct_scaling_keeps_both_sides_at_least_min_side),
        cmocka_unit_test(test_png_rgb_and_interlaced_rgb_are_exact),
        cmocka_unit_test(test_png_palette_with_transparency_goes_over_white),
        cmocka_unit_test(test_png_gray_and_low_bit_gray_become_rgb),
        cmocka_unit_test(test_png_gray_alpha_and_rgba_go_over_white),
        cmocka_unit_test(test_png_16_bit_becomes_8_bit),
        cmocka_unit_test(test_webp_lossy_decodes_close_to_its_source),
        cmocka_unit_test(test_webp_lossless_alpha_goes_over_white),
        cmocka_unit_test(test_truncated_images_are_errors),
        cmocka_unit_test(test_other_content_is_not_an_image),
        cmocka_unit_test(test_pixel_limit_is_checked_from_the_header),
        cmocka_unit_test(test_probe_reads_the_size_from_the_header_alone),
        cmocka_unit_test(test_random_and_damaged_bytes_give_errors_not_crashes),
        cmocka_unit_test(test_decode_file_reads_by_content_not_name),
        cmocka_unit_test(test_decode_file_errors_do_not_name_the_file),
        cmocka_unit_test(test_resize_matches_pil_bilinear),
        cmocka_unit_test(test_resize_to_the_same_size_copies_and_one_pixel_averages),
        cmocka_unit_test(test_augment_without_flags_is_exact_normalization),
        cmocka_unit_test(test_augment_is_deterministic_given_the_seed),
        cmocka_unit_test(test_augment_flip_is_a_mirror_half_of_the_time),
        cmocka_unit_test(test_augment_keeps_a_flat_image_flat),
        cmocka_unit_test(test_augment_rotation_keeps_the_centre_and_crop_keeps_order),
        cmocka_unit_test(test_augment_jitter_stays_in_range),
        cmocka_unit_test(test_augment_parse_and_format),
        cmocka_unit_test(test_image_paths_are_relative_to_the_data_file),
        cmocka_unit_test(test_catalog_image_reference_resolves_and_decodes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
