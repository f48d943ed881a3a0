/* Resizing RGB images as PIL's Image.resize(size, Image.BILINEAR) does. */
#ifndef SHELF_IMAGE_RESIZE_H
#define SHELF_IMAGE_RESIZE_H

/* Resizes src, sw x sh pixels of interleaved RGB, into dst, dw x dh (all sides >= 1; dst
 * must not overlap src). Bilinear; when shrinking, the triangle filter widens with the
 * factor, so every source pixel counts (antialiasing). Uses no heap memory and cannot fail.
 * Gives the bytes PIL gives. */
void image_resize(const unsigned char *src, int sw, int sh, unsigned char *dst, int dw,
                  int dh);

#endif
