/* A square RGB image into the planar, normalized floats a CNN reads, with the random
 * augmentations of training: flip, crop, rotation, brightness and contrast. */
#ifndef SHELF_IMAGE_AUGMENT_H
#define SHELF_IMAGE_AUGMENT_H

#include <stddef.h>

#include "core/rng.h"
#include "shelf.h"

enum { AUG_FLIP = 1, AUG_CROP = 2, AUG_ROTATE = 4, AUG_JITTER = 8, AUG_ALL = 15 };

/* Parses "flip,crop,rotate,jitter" (any of them, comma-separated, spaces allowed around
 * each), "all" or "none" into *flags. Returns 0, or -1 with err naming the bad word. */
int augment_parse(const char *list, int *flags, shelf_error *err);

/* The flags back as a list augment_parse reads: "flip,crop", "none". Cut short to fit n. */
void augment_format(int flags, char *out, size_t n);

/* Writes channel c (0..2) of src, S x S RGB pixels, to dst + c * plane_stride: S*S floats,
 * row-major, each (pixel / 255 - mean[c]) / std[c]. With flags (and r not NULL) the image is
 * first augmented, drawing from r in a fixed order so that a seed reproduces it: mirrored
 * left to right with probability 1/2 (AUG_FLIP); cropped to a random 60-100% of its area
 * with an aspect ratio in 3/4..4/3, scaled back to S x S (AUG_CROP); turned by a uniform
 * angle in [-10, 10] degrees about its centre, edges replicated (AUG_ROTATE); brightness
 * and then contrast each scaled by a uniform factor in [0.8, 1.2] (AUG_JITTER). The three
 * geometric steps are one bilinear resampling. Needs no memory besides dst. */
void augment_to_tensor(const unsigned char *src, int S, int flags, rng *r,
                       const float mean[3], const float std[3], float *dst,
                       long plane_stride);

#endif
