/* A catalog of small PNG photos in the scratch directory (scratch_dir.h): n photos of four
 * colours with some noise, labelled "Colour 0" to "Colour 3". Included by one test file
 * each, so everything is static. */
#ifndef SHELF_TESTS_PHOTO_CATALOG_H
#define SHELF_TESTS_PHOTO_CATALOG_H

#include <png.h>
#include <stdio.h>

#include "scratch_dir.h"

/* Writes NAME.csv (id,image,category; with titles, id,title,image,category, a title naming
 * the colour most of the time) and its photos NAME-i.png; returns the CSV's path (a buffer
 * of its own, valid until the next call). */
static inline const char *photo_catalog_titled(const char *name, int n, int titles)
{
    static const char *names[4] = {"red", "blue", "green", "yellow"};
    static const unsigned char rgb[4][3] = {{220, 30, 30}, {30, 30, 220}, {30, 200, 30},
                                            {200, 200, 40}};
    static char path[256]; /* path_of's buffer is the next calls' */
    char file[64];
    snprintf(file, sizeof file, "%s.csv", name);
    snprintf(path, sizeof path, "%s", path_of(file));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, titles ? "id,title,image,category\n" : "id,image,category\n");
    unsigned seed = 1;
    for (int i = 0; i < n; i++) {
        unsigned char px[12 * 12 * 3];
        for (int j = 0; j < 12 * 12 * 3; j++) {
            seed = seed * 1103515245u + 12345u;
            int v = rgb[i % 4][j % 3] + (int)((seed >> 16) % 41) - 20;
            px[j] = (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
        snprintf(file, sizeof file, "%s-%d.png", name, i);
        png_image img = {.version = PNG_IMAGE_VERSION, .width = 12, .height = 12,
                         .format = PNG_FORMAT_RGB};
        assert_int_not_equal(png_image_write_to_file(&img, path_of(file), 0, px, 0, NULL), 0);
        if (titles) /* every fifth title names another colour: the photo must tell */
            fprintf(f, "%d,%s thing %d,%s,Colour %d\n", i, names[(i + (i % 5 == 0)) % 4], i % 3,
                    file, i % 4);
        else
            fprintf(f, "%d,%s,Colour %d\n", i, file, i % 4);
    }
    assert_int_equal(fclose(f), 0);
    return path;
}

static inline const char *photo_catalog(const char *name, int n)
{
    return photo_catalog_titled(name, n, 0);
}

#endif
