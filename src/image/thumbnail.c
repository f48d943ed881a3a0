/* Thumbnails for reports: decode, shrink to fit a square of max_side, encode as PNG with
 * libpng's in-memory writer. */
#include <limits.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "image/decode.h"
#include "image/path.h"
#include "image/resize.h"

shelf_status shelf_image_thumbnail(const char *data_path, const char *ref, int max_side,
                                   unsigned char **png, size_t *size, shelf_error *err)
{
    *png = NULL;
    *size = 0;
    char path[PATH_MAX];
    if (max_side < 1 || !ref || image_resolve_path(data_path ? data_path : "-", ref, path,
                                                   sizeof path))
        return err_set(err, SHELF_EINVAL, "shelf_image_thumbnail: no image, or a size below 1");
    image im;
    shelf_status st = image_decode_file(path, max_side, 0, &im, err);
    if (st != SHELF_OK)
        return st;
    int w = im.w, h = im.h;
    if (w > max_side || h > max_side) { /* the longer side to max_side */
        w = im.w >= im.h ? max_side : (int)((long)im.w * max_side / im.h);
        h = im.h > im.w ? max_side : (int)((long)im.h * max_side / im.w);
        w = w > 0 ? w : 1;
        h = h > 0 ? h : 1;
    }
    unsigned char *small = w == im.w && h == im.h ? im.rgb : mem_alloc((size_t)w * (size_t)h * 3);
    if (!small) {
        image_free(&im);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    if (small != im.rgb)
        image_resize(im.rgb, im.w, im.h, small, w, h);
    png_image out;
    memset(&out, 0, sizeof out);
    out.version = PNG_IMAGE_VERSION;
    out.width = (png_uint_32)w;
    out.height = (png_uint_32)h;
    out.format = PNG_FORMAT_RGB;
    png_alloc_size_t need = 0;
    unsigned char *bytes = NULL;
    /* the first call measures, the second writes */
    if (png_image_write_to_memory(&out, NULL, &need, 0, small, 0, NULL) && need > 0 &&
        (bytes = mem_alloc(need)) &&
        png_image_write_to_memory(&out, bytes, &need, 0, small, 0, NULL)) {
        *png = bytes;
        *size = need;
    } else {
        mem_free(bytes);
        st = err_set(err, SHELF_ENOMEM, "%s: could not make a thumbnail: %s", ref,
                     out.message[0] ? out.message : "out of memory");
    }
    png_image_free(&out);
    if (small != im.rgb)
        mem_free(small);
    image_free(&im);
    return st;
}
