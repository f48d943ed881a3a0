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

/* Reddens each of the g x g cells of rgb (w x h) by its weight's share of the largest
 * positive weight: where the occlusion grid says the label lives. */
static void overlay(unsigned char *rgb, int w, int h, const float *grid, int g)
{
    float top = 0;
    for (int c = 0; c < g * g; c++)
        top = grid[c] > top ? grid[c] : top;
    for (int y = 0; y < h && top > 0; y++)
        for (int x = 0; x < w; x++) {
            float v = grid[(y * g / h) * g + x * g / w] / top;
            float a = v > 0 ? 0.6f * v : 0;
            unsigned char *px = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            px[0] = (unsigned char)(px[0] * (1 - a) + 230 * a);
            px[1] = (unsigned char)(px[1] * (1 - a) + 20 * a);
            px[2] = (unsigned char)(px[2] * (1 - a) + 20 * a);
        }
}

shelf_status shelf_image_thumbnail(const char *data_path, const char *ref, int max_side,
                                   unsigned char **png, size_t *size, shelf_error *err)
{
    return shelf_image_overlay(data_path, ref, NULL, 0, max_side, png, size, err);
}

shelf_status shelf_image_overlay(const char *data_path, const char *ref, const float *grid,
                                 int g, int max_side, unsigned char **png, size_t *size,
                                 shelf_error *err)
{
    *png = NULL;
    *size = 0;
    char path[PATH_MAX];
    if (max_side < 1 || !ref || (grid && g < 1) || image_resolve_path(data_path ? data_path : "-", ref, path,
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
    if (grid && g > 0)
        overlay(small, w, h, grid, g);
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
