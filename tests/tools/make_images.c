/* Writes a small image catalog for the end-to-end tests and the demo: products whose photo
 * tells their category (a colour and a pattern, with noise), as JPEG, PNG and WebP files,
 * plus the bad files a catalog meets (truncated, not an image, missing).
 *
 * usage: make_images DIR PER_CLASS
 * writes DIR/train.csv, DIR/valid.csv, DIR/test.csv (id,title,image,category), DIR/img/
 * and DIR/bad.csv (a catalog whose rows 2..4 have a truncated, a fake and a missing image,
 * their titles of a word the models know, for fused models to fall back on). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h> /* after stdio.h, which it needs */
#include <png.h>
#include <webp/encode.h>

enum { W = 48, H = 40, CLASSES = 4 };
static const char *const labels[CLASSES] = {
    "Apparel > Topwear > Red stripes", "Apparel > Topwear > Blue stripes",
    "Footwear > Shoes > Red dots", "Footwear > Shoes > Green dots"};

static unsigned long seed = 12345;
static int noise(int amp)
{
    seed = seed * 6364136223846793005UL + 1442695040888963407UL;
    return (int)((seed >> 33) % (unsigned long)(2 * amp + 1)) - amp;
}

static unsigned char clamp(int v) { return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v); }

/* Class c's picture: a base colour, stripes or dots, shifted at random. */
static void draw(unsigned char *rgb, int c)
{
    static const int colour[CLASSES][3] = {{200, 40, 40}, {40, 60, 200}, {210, 50, 60}, {40, 180, 60}};
    int dx = noise(6), dy = noise(6);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int on = c < 2 ? ((x + dx) / 4) % 2 == 0
                           : (((x + dx) % 10 - 5) * ((x + dx) % 10 - 5) +
                              ((y + dy) % 10 - 5) * ((y + dy) % 10 - 5)) < 9;
            for (int k = 0; k < 3; k++)
                rgb[(y * W + x) * 3 + k] = clamp((on ? colour[c][k] : 235) + noise(20));
        }
}

static int write_jpeg(const char *path, const unsigned char *rgb)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    cinfo.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = W;
    cinfo.image_height = H;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < H) {
        JSAMPROW row = (JSAMPROW)(rgb + cinfo.next_scanline * W * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return fclose(f);
}

static int write_png(const char *path, const unsigned char *rgb)
{
    png_image im;
    memset(&im, 0, sizeof im);
    im.version = PNG_IMAGE_VERSION;
    im.width = W;
    im.height = H;
    im.format = PNG_FORMAT_RGB;
    return png_image_write_to_file(&im, path, 0, rgb, 0, NULL) ? 0 : -1;
}

static int write_webp(const char *path, const unsigned char *rgb)
{
    uint8_t *out = NULL;
    size_t n = WebPEncodeRGB(rgb, W, H, W * 3, 90, &out);
    FILE *f = fopen(path, "wb");
    int ok = n && f && fwrite(out, 1, n, f) == n;
    if (f)
        ok &= fclose(f) == 0;
    WebPFree(out);
    return ok ? 0 : -1;
}

static int write_split(const char *dir, const char *name, int per_class, int *next_id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.csv", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "id,title,image,category\n");
    unsigned char rgb[W * H * 3];
    for (int i = 0; i < per_class; i++)
        for (int c = 0; c < CLASSES; c++) {
            int id = (*next_id)++;
            static const char *const ext[3] = {"jpg", "png", "webp"};
            const char *e = ext[id % 3];
            char rel[64];
            snprintf(rel, sizeof rel, "img/%d.%s", id, e);
            snprintf(path, sizeof path, "%s/%s", dir, rel);
            draw(rgb, c);
            int r = e[0] == 'j' ? write_jpeg(path, rgb) : e[0] == 'p' ? write_png(path, rgb)
                                                                     : write_webp(path, rgb);
            if (r)
                return -1;
            fprintf(f, "%d,product %d,%s,%s\n", id, id, rel, labels[c]);
        }
    return fclose(f);
}

/* A catalog with one good image and three bad ones. */
static int write_bad(const char *dir)
{
    char path[4096];
    unsigned char rgb[W * H * 3];
    draw(rgb, 0);
    snprintf(path, sizeof path, "%s/img/truncated.jpg", dir);
    if (write_jpeg(path, rgb) || truncate(path, 200))
        return -1;
    snprintf(path, sizeof path, "%s/img/fake.jpg", dir);
    FILE *f = fopen(path, "w");
    if (!f || fputs("this is not a picture\n", f) < 0 || fclose(f))
        return -1;
    snprintf(path, sizeof path, "%s/bad.csv", dir);
    f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "id,title,image,category\n"
               "b1,product truncated,img/truncated.jpg,%s\n"
               "b2,product fake,img/fake.jpg,%s\n"
               "b3,product missing,img/missing.jpg,%s\n"
               "b4,product good,img/0.jpg,%s\n",
            labels[0], labels[1], labels[2], labels[0]);
    return fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 3 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: make_images DIR PER_CLASS\n");
        return 2;
    }
    const char *dir = argv[1];
    int per = atoi(argv[2]), id = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/img", dir);
    if ((mkdir(dir, 0755) && errno != EEXIST) || (mkdir(path, 0755) && errno != EEXIST) ||
        write_split(dir, "train", per, &id) || write_split(dir, "valid", per / 4 + 1, &id) ||
        write_split(dir, "test", per / 4 + 1, &id) || write_bad(dir)) {
        fprintf(stderr, "make_images: cannot write %s: %s\n", dir, strerror(errno));
        return 1;
    }
    return 0;
}
