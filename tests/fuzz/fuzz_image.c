/* libFuzzer target: the header probe the server runs on every upload (image_probe_size),
 * then the image decoders (JPEG, PNG, WebP, told apart by their first bytes) through
 * image_decode_mem, at full size and as prediction decodes a JPEG (scaled down
 * towards 64 pixels), then resized to a model's input as prediction does, and made into a
 * duplicate fingerprint compared with itself (shelf duplicates --data). The pixel limit
 * is 4 Mpx, so that each input stays fast; the limit itself is checked on the header. */
#include <stdlib.h>

#include "image/decode.h"
#include "image/resize.h"
#include "index/fingerprint.h"

enum { FUZZ_MAX_PIXELS = 4 << 20, SIDE = 16 };

/* probe_w, probe_h: the probe's size, 0 when it refused the header. A decode at full size
 * must agree with it (or swap the two: an EXIF quarter turn). */
static void decode(const uint8_t *data, size_t size, int min_side, long probe_w, long probe_h)
{
    image im = {0};
    shelf_error err;
    if (image_decode_mem(data, size, min_side, FUZZ_MAX_PIXELS, &im, &err) == SHELF_OK) {
        if (min_side == 0 && probe_w > 0 &&
            !((im.w == probe_w && im.h == probe_h) || (im.w == probe_h && im.h == probe_w)))
            abort(); /* the probe let the server budget pixels that are not there */
        unsigned char out[SIDE * SIDE * 3];
        image_resize(im.rgb, im.w, im.h, out, SIDE, SIDE);
        float v[FP_PHOTO_DIM], score;
        fp_thumb t;
        if (min_side == 0 && fp_photo(&im, v, &t) == 0) {
            if (t.w && (fp_verify(&t, &t, &score) != 0 || !(score > 0.99f)))
                abort(); /* a photo is its own duplicate */
            fp_thumb_free(&t);
        }
    }
    image_free(&im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long w = 0, h = 0;
    shelf_error err;
    if (image_probe_size(data, size, &w, &h, &err) == SHELF_OK && (w < 1 || h < 1))
        abort(); /* a size the pixel budget cannot use */
    if (!(w > 0 && h > 0))
        w = h = 0;
    decode(data, size, 0, w, h);
    if (size > 0 && data[0] == 0xFF) /* a JPEG: the reduced-scale path too */
        decode(data, size, 64, w, h);
    return 0;
}
