/* Duplicate fingerprints: what two listings of the same product share whatever a seller
 * changed, for shelf duplicates --data (duplicates.c), without a model.
 *
 * The vector (FP_DIM floats, unit length) has two halves, each unit length and weighed
 * 1/sqrt(2) (a product without one of them has the other whole):
 *   title   its words case-folded (NFKC) with their letters sorted, so that word order,
 *           case and a swap of two letters change nothing, TF-IDF weighted over the catalog
 *           and hashed with a sign into FP_TITLE_DIM buckets;
 *   photo   the object's bounding box (pixels not near white) at 16 x 16 RGB, added to its
 *           mirror image and centred: the same under a mirror and under a crop of the
 *           white margin.
 * Their cosine finds candidates; a pair is then verified on its photos' grey thumbnails
 * (fp_verify): the best correlation over a mirror and a cut of a tenth of each side. */
#ifndef SHELF_INDEX_FINGERPRINT_H
#define SHELF_INDEX_FINGERPRINT_H

#include <stddef.h>
#include <stdint.h>

#include "image/decode.h"

enum {
    FP_TITLE_DIM = 1024,
    FP_SIDE = 16,                          /* the photo half's side, in pixels */
    FP_PHOTO_DIM = FP_SIDE * FP_SIDE * 3,
    FP_DIM = FP_TITLE_DIM + FP_PHOTO_DIM,
    FP_THUMB_MAX = 128,                    /* a verification thumbnail's longer side, at most */
    FP_VERIFY_SIDE = 32                    /* photos are compared at this size */
};

/* A photo kept for verification: grey, at most FP_THUMB_MAX on its longer side. */
typedef struct fp_thumb {
    int w, h; /* 0: no photo */
    unsigned char *px;
} fp_thumb;

/* The photo half of v (FP_PHOTO_DIM floats, unit length) and the thumbnail of a decoded
 * photo; a blank photo (one colour, or one grey) is none: zeros and an empty thumbnail. 0,
 * or -1 out of memory. */
int fp_photo(const image *im, float *v, fp_thumb *t);
void fp_thumb_free(fp_thumb *t);

/* The correlation of two photos at their best alignment: b as it is, mirrored, and each cut
 * by a tenth of one side, against a, and the other way round. In [-1, 1]; -1 when either
 * has no photo. Returns 0: it allocates nothing (thumbnails are at most FP_THUMB_MAX
 * square), which keeps the verification of many pairs free of the heap. */
int fp_verify(const fp_thumb *a, const fp_thumb *b, float *score);

/* The key of a title word: its bytes sorted (n bytes of w into key). */
void fp_word_key(const char *w, size_t n, char *key);

#endif
