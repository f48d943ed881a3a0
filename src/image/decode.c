/* JPEG (libjpeg-turbo), PNG (libpng) and WebP (libwebp) into 8-bit RGB.
 *
 * libjpeg and libpng report errors by calling a function that must not return; each
 * decoder here jumps back with longjmp to a setjmp in a small function whose own locals do
 * not change after the setjmp: everything it builds lives in a job struct owned by its
 * caller, which then frees what was built, whether the decoding finished or not. */
#include "image/decode.h"

#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>
#include <webp/decode.h>

#include "core/error.h"
#include "core/mem.h"

enum {
    MAX_FILE_BYTES = 256 << 20,
    MAX_JPEG_SCANS = 500, /* a progressive JPEG of thousands of tiny scans takes minutes */
    WHY_MAX = 256,
};

/* Refuses w x h (from a header) when it is empty or over max_pixels. */
static int size_problem(long w, long h, long max_pixels, char *why, size_t whysz)
{
    if (w <= 0 || h <= 0)
        snprintf(why, whysz, "image of %ldx%ld pixels is empty", w, h);
    else if (w > max_pixels / h)
        snprintf(why, whysz, "image of %ldx%ld pixels is over the limit of %ld", w, h,
                 max_pixels);
    else
        return 0;
    return 1;
}

/* RGBA (straight alpha) to RGB over a white background, in place; returns px, shrunk to
 * the RGB size when realloc can. */
static unsigned char *rgba_over_white(unsigned char *px, size_t npixels)
{
    for (size_t i = 0; i < npixels; i++) {
        const unsigned char *s = px + 4 * i;
        unsigned a = s[3];
        for (int c = 0; c < 3; c++)
            px[3 * i + c] = (unsigned char)((s[c] * a + 255 * (255 - a) + 127) / 255);
    }
    unsigned char *p = mem_realloc(px, npixels * 3);
    return p ? p : px;
}

static unsigned get16(const unsigned char *p, int little)
{
    return little ? p[0] | p[1] << 8 : p[0] << 8 | p[1];
}

static uint32_t get32(const unsigned char *p, int little)
{
    return little ? get16(p, 1) | (uint32_t)get16(p + 2, 1) << 16
                  : (uint32_t)get16(p, 0) << 16 | get16(p + 2, 0);
}

/* ---- JPEG ------------------------------------------------------------------------------ */

typedef struct jpeg_job {
    struct jpeg_error_mgr errmgr; /* first: libjpeg's cinfo->err leads back to the job */
    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    jmp_buf jump;
    shelf_status status;
    char why[WHY_MAX];
    unsigned char *rgb; /* malloc'ed output, output_width x output_height */
} jpeg_job;

static void jpeg_stop(j_common_ptr c, shelf_status status, const char *why)
{
    jpeg_job *job = (jpeg_job *)c->err;
    job->status = status;
    snprintf(job->why, sizeof job->why, "%s", why);
    longjmp(job->jump, 1);
}

static void jpeg_on_error(j_common_ptr c)
{
    char msg[JMSG_LENGTH_MAX], why[WHY_MAX];
    c->err->format_message(c, msg);
    if (c->err->msg_code == JERR_OUT_OF_MEMORY)
        jpeg_stop(c, SHELF_ENOMEM, "out of memory");
    snprintf(why, sizeof why, "bad JPEG data: %s", msg);
    jpeg_stop(c, SHELF_EDATA, why);
}

/* "corrupt JPEG data: premature end of data segment", from libjpeg's message. */
static void jpeg_corrupt(j_common_ptr c)
{
    static const char prefix[] = "Corrupt JPEG data: ";
    char msg[JMSG_LENGTH_MAX], why[WHY_MAX];
    c->err->format_message(c, msg);
    size_t skip = strncmp(msg, prefix, sizeof prefix - 1) == 0 ? sizeof prefix - 1 : 0;
    snprintf(why, sizeof why, "corrupt JPEG data: %s", msg + skip);
    jpeg_stop(c, SHELF_EDATA, why);
}

/* libjpeg carries on past a truncated or damaged stream, filling the rest with gray; that
 * would train on a broken picture, so those warnings are errors here. Warnings about
 * harmless oddities (extraneous bytes, unknown JFIF versions) are ignored. */
static void jpeg_on_message(j_common_ptr c, int level)
{
    if (level >= 0)
        return; /* trace messages */
    switch (c->err->msg_code) {
    case JWRN_JPEG_EOF:
        jpeg_stop(c, SHELF_EDATA, "truncated JPEG data");
        break;
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_ARITH_BAD_CODE:
    case JWRN_MUST_RESYNC:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_NOT_SEQUENTIAL:
        jpeg_corrupt(c);
        break;
    default:
        break;
    }
}

static void jpeg_on_progress(j_common_ptr c)
{
    if (((j_decompress_ptr)c)->input_scan_number > MAX_JPEG_SCANS)
        jpeg_stop(c, SHELF_EDATA, "bad JPEG data: over 500 progressive scans");
}

/* The Orientation tag (1..8) of the first IFD of an APP1 "Exif" segment; 0 when the
 * segment is not Exif or has no valid orientation. */
static int exif_orientation(const unsigned char *p, size_t n)
{
    if (n < 6 + 8 || memcmp(p, "Exif\0\0", 6) != 0)
        return 0;
    const unsigned char *tiff = p + 6; /* offsets count from the TIFF header */
    n -= 6;
    int little = tiff[0] == 'I' && tiff[1] == 'I';
    if (!little && !(tiff[0] == 'M' && tiff[1] == 'M'))
        return 0;
    size_t ifd = get32(tiff + 4, little);
    if (ifd > n - 2)
        return 0;
    unsigned entries = get16(tiff + ifd, little);
    for (size_t i = 0, at = ifd + 2; i < entries && at + 12 <= n; i++, at += 12) {
        if (get16(tiff + at, little) == 0x0112) {
            unsigned v = get16(tiff + at + 8, little);
            return v >= 1 && v <= 8 ? (int)v : 0;
        }
    }
    return 0;
}

static int jpeg_orientation(j_decompress_ptr c)
{
    for (jpeg_saved_marker_ptr m = c->marker_list; m; m = m->next) {
        int o = m->marker == JPEG_APP0 + 1 ? exif_orientation(m->data, m->data_length) : 0;
        if (o)
            return o;
    }
    return 1;
}

/* The smallest scale num/8 at which both sides are still at least min_side. */
static void jpeg_choose_scale(j_decompress_ptr c, int min_side)
{
    c->scale_denom = 8;
    for (c->scale_num = 1; c->scale_num < 8; c->scale_num++) {
        jpeg_calc_output_dimensions(c);
        if (c->output_width >= (unsigned)min_side && c->output_height >= (unsigned)min_side)
            return;
    }
}

/* Inverted CMYK, as Adobe writes it (and libjpeg's YCCK turns into), or plain CMYK. */
static void cmyk_to_rgb(unsigned char *rgb, const unsigned char *cmyk, size_t npixels,
                        int inverted)
{
    for (size_t i = 0; i < npixels; i++) {
        const unsigned char *s = cmyk + 4 * i;
        unsigned k = inverted ? s[3] : 255u - s[3];
        for (int ch = 0; ch < 3; ch++) {
            unsigned v = inverted ? s[ch] : 255u - s[ch];
            rgb[3 * i + ch] = (unsigned char)((v * k + 127) / 255);
        }
    }
}

static void jpeg_read_pixels(jpeg_job *job)
{
    j_decompress_ptr c = &job->cinfo;
    size_t w = c->output_width, stride = w * 3;
    int cmyk = c->out_color_space == JCS_CMYK;
    JSAMPARRAY row = cmyk ? (*c->mem->alloc_sarray)((j_common_ptr)c, JPOOL_IMAGE,
                                                      (JDIMENSION)(w * 4), 1)
                          : NULL;
    while (c->output_scanline < c->output_height) {
        unsigned char *out = job->rgb + c->output_scanline * stride;
        JSAMPROW dst = cmyk ? row[0] : out;
        if (jpeg_read_scanlines(c, &dst, 1) != 1)
            jpeg_stop((j_common_ptr)c, SHELF_EDATA, "truncated JPEG data");
        if (cmyk)
            cmyk_to_rgb(out, row[0], w, c->saw_Adobe_marker);
    }
}

/* Decodes into job->rgb (output_width x output_height, not yet oriented); max_pixels 0:
 * reads only the header (image_width, image_height). 0, or -1 with job->status and
 * job->why set. Either way the caller destroys job->cinfo. */
static int jpeg_run(jpeg_job *job, const unsigned char *data, size_t n, int min_side,
                    long max_pixels)
{
    j_decompress_ptr c = &job->cinfo;
    char why[WHY_MAX];
    if (setjmp(job->jump))
        return -1;
    jpeg_create_decompress(c);
    c->progress = &job->progress;
    jpeg_mem_src(c, data, (unsigned long)n);
    jpeg_save_markers(c, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(c, TRUE);
    if (max_pixels == 0)
        return 0;
    if (size_problem(c->image_width, c->image_height, max_pixels, why, sizeof why))
        jpeg_stop((j_common_ptr)c, SHELF_EDATA, why);
    int cmyk = c->jpeg_color_space == JCS_CMYK || c->jpeg_color_space == JCS_YCCK;
    c->out_color_space = cmyk ? JCS_CMYK : JCS_RGB; /* grayscale too becomes RGB */
    if (min_side > 0)
        jpeg_choose_scale(c, min_side);
    jpeg_start_decompress(c);
    job->rgb = mem_alloc((size_t)c->output_width * c->output_height * 3);
    if (!job->rgb)
        jpeg_stop((j_common_ptr)c, SHELF_ENOMEM, "out of memory");
    jpeg_read_pixels(job);
    return 0;
}

/* Turns the w x h pixels of *im as EXIF orientation o (2..8) says: the pixel that goes to
 * (x, y) comes from index base + x*dx + y*dy of the source. 0, or -1 when out of memory. */
static int orient(image *im, int o)
{
    long w = im->w, h = im->h, base = 0, dx = 1, dy = w;
    switch (o) {
    case 2: base = w - 1, dx = -1, dy = w; break;         /* mirrored */
    case 3: base = w * h - 1, dx = -1, dy = -w; break;    /* upside down */
    case 4: base = (h - 1) * w, dx = 1, dy = -w; break;   /* flipped */
    case 5: base = 0, dx = w, dy = 1; break;              /* transposed */
    case 6: base = (h - 1) * w, dx = -w, dy = 1; break;   /* turn 90 degrees clockwise */
    case 7: base = w * h - 1, dx = -w, dy = -1; break;    /* transversed */
    case 8: base = w - 1, dx = w, dy = -1; break;         /* turn 90 counterclockwise */
    default: return 0;
    }
    long ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    unsigned char *out = mem_alloc((size_t)(w * h * 3));
    if (!out)
        return -1;
    for (long y = 0; y < oh; y++)
        for (long x = 0; x < ow; x++)
            memcpy(out + 3 * (y * ow + x), im->rgb + 3 * (base + x * dx + y * dy), 3);
    mem_free(im->rgb);
    *im = (image){(int)ow, (int)oh, out};
    return 0;
}

static void jpeg_job_init(jpeg_job *job)
{
    *job = (jpeg_job){.status = SHELF_OK};
    job->cinfo.err = jpeg_std_error(&job->errmgr);
    job->errmgr.error_exit = jpeg_on_error;
    job->errmgr.emit_message = jpeg_on_message;
    job->progress.progress_monitor = jpeg_on_progress;
}

static shelf_status jpeg_probe(const unsigned char *data, size_t n, long *w, long *h,
                               shelf_error *err)
{
    jpeg_job job;
    jpeg_job_init(&job);
    int failed = jpeg_run(&job, data, n, 0, 0);
    *w = job.cinfo.image_width;
    *h = job.cinfo.image_height;
    jpeg_destroy_decompress(&job.cinfo);
    return failed ? err_set(err, job.status, "%s", job.why) : SHELF_OK;
}

static shelf_status jpeg_decode(const unsigned char *data, size_t n, int min_side,
                                long max_pixels, image *out, shelf_error *err)
{
    jpeg_job job;
    jpeg_job_init(&job);
    int failed = jpeg_run(&job, data, n, min_side, max_pixels);
    image im = {(int)job.cinfo.output_width, (int)job.cinfo.output_height, job.rgb};
    int orientation = failed ? 1 : jpeg_orientation(&job.cinfo);
    jpeg_destroy_decompress(&job.cinfo);
    if (failed) {
        mem_free(job.rgb);
        return err_set(err, job.status, "%s", job.why);
    }
    if (orient(&im, orientation)) {
        mem_free(im.rgb);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    *out = im;
    return SHELF_OK;
}

/* ---- PNG ------------------------------------------------------------------------------- */

typedef struct png_job {
    const unsigned char *data;
    size_t n, at;
    shelf_status status;
    char why[WHY_MAX];
    unsigned char *rgba; /* malloc'ed output, w x h x 4 */
    png_bytep *rows;
    long w, h;
} png_job;

static void png_stop(png_structp png, shelf_status status, const char *why)
{
    png_job *job = png_get_error_ptr(png);
    job->status = status;
    snprintf(job->why, sizeof job->why, "%s", why);
    png_longjmp(png, 1);
}

static void png_on_error(png_structp png, png_const_charp msg)
{
    char why[WHY_MAX];
    snprintf(why, sizeof why, "bad PNG data: %s", msg);
    png_stop(png, SHELF_EDATA, why);
}

/* Warnings are about ancillary chunks that libpng drops (bad CRC, bad ICC profile). */
static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    png_job *job = png_get_io_ptr(png);
    if (n > job->n - job->at)
        png_stop(png, SHELF_EDATA, "truncated PNG data");
    memcpy(out, job->data + job->at, n);
    job->at += n;
}

/* Decodes into job->rgba. 0, or -1 with job->status and job->why set. */
static int png_run(png_structp png, png_infop info, png_job *job)
{
    if (setjmp(png_jmpbuf(png)))
        return -1;
    png_set_read_fn(png, job, png_read_mem);
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX); /* max_pixels decides */
    png_read_info(png, info);
    job->w = png_get_image_width(png, info);
    job->h = png_get_image_height(png, info);
    /* Every kind of PNG to 8-bit RGBA, so that one path puts alpha over white. */
    png_set_expand(png); /* palette, gray under 8 bits and tRNS transparency */
    png_set_scale_16(png);
    png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xFF, PNG_FILLER_AFTER);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t stride = (size_t)job->w * 4;
    if (png_get_rowbytes(png, info) != stride)
        png_stop(png, SHELF_EDATA, "bad PNG data: unexpected pixel layout");
    job->rgba = mem_alloc(stride * (size_t)job->h);
    job->rows = mem_alloc((size_t)job->h * sizeof *job->rows);
    if (!job->rgba || !job->rows)
        png_stop(png, SHELF_ENOMEM, "out of memory");
    for (long y = 0; y < job->h; y++)
        job->rows[y] = job->rgba + (size_t)y * stride;
    png_read_image(png, job->rows);
    return 0;
}

/* The size in the IHDR chunk, which must come first: 13 bytes after the signature and the
 * chunk's length and type. */
static shelf_status png_probe(const unsigned char *data, size_t n, long *w, long *h,
                              shelf_error *err)
{
    if (n < 8 + 8 + 13 + 4)
        return err_set(err, SHELF_EDATA, "truncated PNG data");
    if (get32(data + 8, 0) != 13 || memcmp(data + 12, "IHDR", 4) != 0)
        return err_set(err, SHELF_EDATA, "bad PNG data: IHDR does not come first");
    *w = get32(data + 16, 0);
    *h = get32(data + 20, 0);
    if (*w > PNG_UINT_31_MAX || *h > PNG_UINT_31_MAX)
        return err_set(err, SHELF_EDATA, "bad PNG data: image size out of range");
    return SHELF_OK;
}

static shelf_status png_decode(const unsigned char *data, size_t n, long max_pixels,
                               image *out, shelf_error *err)
{
    /* IHDR, first, says the size; libpng would read the chunks up to the pixels first */
    char why[WHY_MAX];
    long w, h;
    if (png_probe(data, n, &w, &h, err) == SHELF_OK &&
        size_problem(w, h, max_pixels, why, sizeof why))
        return err_set(err, SHELF_EDATA, "%s", why);
    png_job job = {.data = data, .n = n, .status = SHELF_OK};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &job, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return err_set(err, SHELF_ENOMEM, "out of memory");
    }
    int failed = png_run(png, info, &job);
    png_destroy_read_struct(&png, &info, NULL);
    mem_free(job.rows);
    if (failed) {
        mem_free(job.rgba);
        return err_set(err, job.status, "%s", job.why);
    }
    size_t npixels = (size_t)job.w * (size_t)job.h;
    *out = (image){(int)job.w, (int)job.h, rgba_over_white(job.rgba, npixels)};
    return SHELF_OK;
}

/* ---- WebP ------------------------------------------------------------------------------ */

static shelf_status webp_error(VP8StatusCode st, shelf_error *err)
{
    switch (st) {
    case VP8_STATUS_OUT_OF_MEMORY:
        return err_set(err, SHELF_ENOMEM, "out of memory");
    case VP8_STATUS_NOT_ENOUGH_DATA:
        return err_set(err, SHELF_EDATA, "truncated WebP data");
    case VP8_STATUS_UNSUPPORTED_FEATURE:
        return err_set(err, SHELF_EDATA, "unsupported WebP feature");
    default:
        return err_set(err, SHELF_EDATA, "bad WebP data");
    }
}

static shelf_status webp_probe(const unsigned char *data, size_t n, long *w, long *h,
                               shelf_error *err)
{
    WebPBitstreamFeatures f;
    VP8StatusCode st = WebPGetFeatures(data, n, &f);
    if (st != VP8_STATUS_OK)
        return webp_error(st, err);
    *w = f.width;
    *h = f.height;
    return SHELF_OK;
}

static shelf_status webp_decode(const unsigned char *data, size_t n, long max_pixels,
                                image *out, shelf_error *err)
{
    WebPDecoderConfig cfg;
    if (!WebPInitDecoderConfig(&cfg))
        return err_set(err, SHELF_EINVAL, "libwebp version mismatch");
    VP8StatusCode st = WebPGetFeatures(data, n, &cfg.input);
    if (st != VP8_STATUS_OK)
        return webp_error(st, err);
    if (cfg.input.has_animation)
        return err_set(err, SHELF_EDATA, "animated WebP images are not supported");
    char why[WHY_MAX];
    long w = cfg.input.width, h = cfg.input.height;
    if (size_problem(w, h, max_pixels, why, sizeof why))
        return err_set(err, SHELF_EDATA, "%s", why);
    int channels = cfg.input.has_alpha ? 4 : 3;
    size_t npixels = (size_t)w * (size_t)h;
    unsigned char *px = mem_alloc(npixels * (size_t)channels);
    if (!px)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    cfg.output.colorspace = channels == 4 ? MODE_RGBA : MODE_RGB;
    cfg.output.is_external_memory = 1;
    cfg.output.u.RGBA = (WebPRGBABuffer){px, (int)w * channels, npixels * (size_t)channels};
    st = WebPDecode(data, n, &cfg);
    WebPFreeDecBuffer(&cfg.output);
    if (st != VP8_STATUS_OK) {
        mem_free(px);
        return webp_error(st, err);
    }
    if (channels == 4)
        px = rgba_over_white(px, npixels);
    *out = (image){(int)w, (int)h, px};
    return SHELF_OK;
}

/* ---- by content ------------------------------------------------------------------------ */

typedef enum { KIND_OTHER, KIND_JPEG, KIND_PNG, KIND_WEBP } image_kind;

static int starts(const unsigned char *data, size_t n, size_t at, const char *magic,
                  size_t len)
{
    return n >= at + len && memcmp(data + at, magic, len) == 0;
}

static image_kind sniff(const unsigned char *data, size_t n)
{
    if (starts(data, n, 0, "\xFF\xD8\xFF", 3))
        return KIND_JPEG;
    if (starts(data, n, 0, "\x89PNG\r\n\x1A\n", 8))
        return KIND_PNG;
    if (starts(data, n, 0, "RIFF", 4) && starts(data, n, 8, "WEBP", 4))
        return KIND_WEBP;
    return KIND_OTHER;
}

/* Names formats that are often met in catalogs, for a more helpful message. */
static shelf_status unsupported(const unsigned char *data, size_t n, shelf_error *err)
{
#define MAGIC(at, bytes, name) {at, bytes, sizeof bytes - 1, name}
    static const struct {
        size_t at;
        const char *magic;
        size_t len;
        const char *name;
    } known[] = {
        MAGIC(0, "GIF8", "a GIF image"),       MAGIC(0, "II*\0", "a TIFF image"),
        MAGIC(0, "MM\0*", "a TIFF image"),     MAGIC(4, "ftypavif", "an AVIF image"),
        MAGIC(4, "ftypheic", "a HEIC image"),  MAGIC(0, "<", "HTML or XML text"),
    };
#undef MAGIC
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (starts(data, n, known[i].at, known[i].magic, known[i].len))
            return err_set(err, SHELF_EDATA, "%s, not a JPEG, PNG or WebP image",
                           known[i].name);
    return err_set(err, SHELF_EDATA, "not a JPEG, PNG or WebP image");
}

shelf_status image_decode_mem(const unsigned char *data, size_t n, int min_side,
                              long max_pixels, image *out, shelf_error *err)
{
    if (!out || (!data && n > 0))
        return err_set(err, SHELF_EINVAL, "image_decode_mem: NULL argument");
    *out = (image){0, 0, NULL};
    if (n == 0)
        return err_set(err, SHELF_EDATA, "no image data");
    if (max_pixels <= 0)
        max_pixels = IMAGE_DEFAULT_MAX_PIXELS;
    switch (sniff(data, n)) {
    case KIND_JPEG:
        return jpeg_decode(data, n, min_side, max_pixels, out, err);
    case KIND_PNG:
        return png_decode(data, n, max_pixels, out, err);
    case KIND_WEBP:
        return webp_decode(data, n, max_pixels, out, err);
    default:
        return unsupported(data, n, err);
    }
}

shelf_status image_probe_size(const unsigned char *data, size_t n, long *w, long *h,
                              shelf_error *err)
{
    *w = *h = 0;
    if (!data || n == 0)
        return err_set(err, SHELF_EDATA, "no image data");
    shelf_status st;
    switch (sniff(data, n)) {
    case KIND_JPEG: st = jpeg_probe(data, n, w, h, err); break;
    case KIND_PNG: st = png_probe(data, n, w, h, err); break;
    case KIND_WEBP: st = webp_probe(data, n, w, h, err); break;
    default: return unsupported(data, n, err);
    }
    if (st == SHELF_OK && (*w <= 0 || *h <= 0))
        st = err_set(err, SHELF_EDATA, "image of %ldx%ld pixels is empty", *w, *h);
    return st;
}

/* Reads the whole of path into *data (malloc'ed) with one fread. */
static shelf_status read_file(const char *path, unsigned char **data, size_t *n,
                              shelf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set(err, SHELF_EIO, "cannot open: %s", strerror(errno));
    struct stat st;
    shelf_status s = SHELF_OK;
    if (fstat(fileno(f), &st) != 0)
        s = err_set(err, SHELF_EIO, "cannot read: %s", strerror(errno));
    else if (S_ISDIR(st.st_mode))
        s = err_set(err, SHELF_EIO, "cannot open: %s", strerror(EISDIR));
    else if (st.st_size == 0)
        s = err_set(err, SHELF_EDATA, "empty file");
    else if (st.st_size > MAX_FILE_BYTES)
        s = err_set(err, SHELF_EDATA, "file of %lld bytes is over the limit of 256 MiB",
                    (long long)st.st_size);
    else if (!(*data = mem_alloc((size_t)st.st_size)))
        s = err_set(err, SHELF_ENOMEM, "out of memory");
    else if ((*n = fread(*data, 1, (size_t)st.st_size, f)) != (size_t)st.st_size)
        s = err_set(err, SHELF_EIO, "read error: %s",
                    ferror(f) ? strerror(errno) : "the file shrank while being read");
    fclose(f);
    return s;
}

shelf_status image_decode_file(const char *path, int min_side, long max_pixels, image *out,
                               shelf_error *err)
{
    if (!path || !out)
        return err_set(err, SHELF_EINVAL, "image_decode_file: NULL argument");
    *out = (image){0, 0, NULL};
    unsigned char *data = NULL;
    size_t n = 0;
    shelf_status st = read_file(path, &data, &n, err);
    if (st == SHELF_OK)
        st = image_decode_mem(data, n, min_side, max_pixels, out, err);
    mem_free(data);
    return st;
}

void image_free(image *im)
{
    if (!im)
        return;
    mem_free(im->rgb);
    *im = (image){0, 0, NULL};
}

shelf_status shelf_image_check(const unsigned char *data, size_t size, shelf_error *err)
{
    image im = {0};
    /* the scale of a default image model's input: as cheap as prediction would decode it */
    shelf_status st = image_decode_mem(data, size, 64, IMAGE_DEFAULT_MAX_PIXELS, &im, err);
    image_free(&im);
    return st;
}
