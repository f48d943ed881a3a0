/* libFuzzer target: the image decoders (JPEG, PNG, WebP, told apart by their first bytes)
 * through image_decode_mem, at full size and as prediction decodes a JPEG (scaled down
 * towards 64 pixels), then resized to a model's input as prediction does. The pixel limit
 * is 4 Mpx, so that each input stays fast; the limit itself is checked on the header. */
#include <stdlib.h>

#include "image/decode.h"
#include "image/resize.h"

enum { FUZZ_MAX_PIXELS = 4 << 20, SIDE = 16 };

static void decode(const uint8_t *data, size_t size, int min_side)
{
    image im = {0};
    shelf_error err;
    if (image_decode_mem(data, size, min_side, FUZZ_MAX_PIXELS, &im, &err) == SHELF_OK) {
        unsigned char out[SIDE * SIDE * 3];
        image_resize(im.rgb, im.w, im.h, out, SIDE, SIDE);
    }
    image_free(&im);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    decode(data, size, 0);
    if (size > 0 && data[0] == 0xFF) /* a JPEG: the reduced-scale path too */
        decode(data, size, 64);
    return 0;
}
