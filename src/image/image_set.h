/* The images of many products decoded and resized to S x S, on all cores: the training
 * set held in memory (S*S*3 bytes per product, 12 KiB at 64 x 64), or one batch of a
 * prediction stream. */
#ifndef SHELF_IMAGE_IMAGE_SET_H
#define SHELF_IMAGE_IMAGE_SET_H

#include <stddef.h>

#include "core/threadpool.h"
#include "shelf.h"

typedef struct image_set {
    int size;             /* S */
    size_t n;             /* products asked for */
    unsigned char *pix;   /* n * S*S*3 bytes, RGB; a bad product's are zero */
    unsigned char *ok;    /* n flags: 1 when the product's image loaded */
    long bad;             /* products without a usable image */
    long first_bad;       /* index of the first of them, -1 when none */
    char first_error[SHELF_ERROR_MAX]; /* "FILE:LINE: IMAGE-PATH: what is wrong" */
    long missing;         /* of the bad ones: products without an image reference */
    char first_broken[SHELF_ERROR_MAX]; /* the first whose image is there but unusable;
                                           "" when every bad one is missing */
    char **why;           /* n: a bad product's message (as first_error), else NULL */
} image_set;

/* Loads refs[0..n) (image references as found in the data file data_path, resolved
 * against its folder; lines[i] the line of each product, for messages). An empty reference
 * is a missing image. With products (may be NULL), a product whose image_data is set is
 * decoded from those bytes instead. Fails only when out of memory; a bad image marks its product in ok[]
 * and is counted (the caller decides whether that is fatal). */
shelf_status image_set_load(image_set *s, const char *data_path, const char *const *refs,
                            const long *lines, const shelf_product *products, size_t n,
                            int size, thread_pool *pool, shelf_error *err);
void image_set_free(image_set *s);


#endif
