/* Image decoding: a JPEG, PNG or WebP file or buffer, told apart by its first bytes (not
 * its name), into 8-bit RGB. Corrupt, truncated or oversized input is an error, never a
 * crash. Messages say what is wrong without naming the file: the caller puts its own
 * "FILE:LINE: IMAGE-PATH: " in front. */
#ifndef SHELF_IMAGE_DECODE_H
#define SHELF_IMAGE_DECODE_H

#include <stddef.h>

#include "shelf.h"

/* w*h pixels of 3 bytes (R, G, B), row-major. */
typedef struct image {
    int w, h;
    unsigned char *rgb;
} image;

/* Images with more pixels are refused as possible decompression bombs. */
enum { IMAGE_DEFAULT_MAX_PIXELS = 64L << 20 };

/* Decodes data[0..n) into *out, which then owns its pixels (image_free); on failure *out is
 * empty. min_side > 0: a JPEG is decoded at the smallest of libjpeg's scales 1/8..8/8 whose
 * both sides are still >= min_side, so that a large photo costs little (other formats come
 * at full size). max_pixels: an image whose header claims more pixels (w*h) is refused
 * before any pixel is decoded; <= 0 means IMAGE_DEFAULT_MAX_PIXELS. A JPEG's EXIF
 * orientation is applied; transparent pixels are put over white. */
shelf_status image_decode_mem(const unsigned char *data, size_t n, int min_side,
                              long max_pixels, image *out, shelf_error *err);

/* The width and height data[0..n) claims, from its header alone (a JPEG's markers up to
 * its first scan, a PNG's IHDR, a WebP's header): no pixel is decoded, so this is cheap
 * whatever the size, and says before a decode what it would cost. The pixels may still be
 * broken. SHELF_OK, or SHELF_EDATA saying what is wrong (an unknown format, a bad or
 * truncated header, an empty image). */
shelf_status image_probe_size(const unsigned char *data, size_t n, long *w, long *h,
                              shelf_error *err);

/* The same for a file, read whole (at most 256 MiB). */
shelf_status image_decode_file(const char *path, int min_side, long max_pixels, image *out,
                               shelf_error *err);

/* Frees the pixels and empties *im; NULL or an empty image does nothing. */
void image_free(image *im);

#endif
