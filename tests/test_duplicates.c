/* shelf_find_duplicates: listings of the same product found without a model, whatever a
 * seller changed (title words reordered, case, a typo, words added; the photo mirrored and
 * cut by a tenth), and nothing else; fp_verify's alignment; bad photos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>

#include "index/fingerprint.h"
#include "scratch_dir.h"
#include "shelf.h"

enum { W = 48, H = 64, PRODUCTS = 12 };

/* A product photo: coloured blocks on white, drawn from seed. */
static void draw(int seed, unsigned char *px)
{
    memset(px, 255, W * H * 3);
    unsigned s = (unsigned)seed * 2654435761u + 7;
    for (int b = 0; b < 5; b++) {
        s = s * 1103515245u + 12345u;
        int x0 = 4 + (int)(s >> 8) % (W - 20), y0 = 4 + (int)(s >> 16) % (H - 24);
        int w = 6 + (int)(s >> 4) % 12, h = 6 + (int)(s >> 12) % 16;
        unsigned char c[3] = {(unsigned char)(s >> 3), (unsigned char)(s >> 11),
                              (unsigned char)(s >> 19)};
        for (int y = y0; y < y0 + h && y < H; y++)
            for (int x = x0; x < x0 + w && x < W; x++)
                memcpy(px + (y * W + x) * 3, c, 3);
    }
}

/* The seller's copy: mirrored, then a tenth cut off its left side (width W - W/10). */
static void copy_of(const unsigned char *px, unsigned char *out, int *w)
{
    const int cut = W / 10;
    *w = W - cut;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < *w; x++)
            memcpy(out + (y * *w + x) * 3, px + (y * W + (W - 1 - (x + cut))) * 3, 3);
}

static void write_webp(const char *name, const unsigned char *px, int w)
{
    unsigned char *data = NULL;
    size_t n = WebPEncodeLosslessRGB(px, w, H, w * 3, &data);
    assert_true(n > 0);
    write_bytes(name, data, n);
    WebPFree(data);
}

static const char *items[] = {"tee", "jeans", "knife", "hose", "kettle", "lamp",
                              "scarf", "kite", "mug", "sofa", "drill", "boots"};

static char csv[256];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(scratch_setup("duplicates"), 0);
    snprintf(csv, sizeof csv, "%s", path_of("c.csv"));
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "id,title,image,category\n");
    unsigned char px[W * H * 3], cp[W * H * 3];
    for (int i = 0; i < PRODUCTS; i++) {
        char name[32];
        snprintf(name, sizeof name, "p%d.webp", i);
        draw(i, px);
        write_webp(name, px, W);
        fprintf(f, "p%d,Brand%d Classic %s Model%d,%s,Things > %s\n", i, i, items[i], 100 + i,
                name, items[i]);
        if (i < 3) { /* the same product listed again by another seller */
            int w;
            copy_of(px, cp, &w);
            snprintf(name, sizeof name, "c%d.webp", i);
            write_webp(name, cp, w);
            fprintf(f, "c%d,FREE SHIPPING model%d %s CALSSIC brand%d,%s,Things > %s\n", i,
                    100 + i, items[i], i, name, i == 2 ? "misfiled" : items[i]);
        }
    }
    /* without photos: the same words make a pair; others do not */
    fprintf(f, "t1,Acme Steel Water Bottle 750ml,,Things > bottle\n");
    fprintf(f, "t2,750ML bottle WATER steel acme,,Things > bottle\n");
    fprintf(f, "t3,Acme Plastic Lunch Box,,Things > box\n");
    assert_int_equal(fclose(f), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

static shelf_catalog *load(const char *path, int skip_bad)
{
    shelf_read_options ro = {0};
    ro.skip_bad = skip_bad;
    shelf_catalog *c = NULL;
    shelf_error err;
    if (shelf_catalog_load(path, &ro, &c, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    return c;
}

/* A catalog file of these lines, read. */
static shelf_catalog *catalog_of(const char *name, const char *lines)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fputs(lines, f);
    assert_int_equal(fclose(f), 0);
    return load(path_of(name), 0);
}

static const char *id(const shelf_catalog *c, size_t i) { return shelf_catalog_get(c, i)->id; }

static void finds_the_copies_and_nothing_else(void **state)
{
    (void)state;
    shelf_catalog *c = load(csv, 0);
    shelf_duplicate_options o;
    shelf_duplicate_options_default(&o);
    o.threads = 2;
    shelf_duplicate_pairs found;
    shelf_error err;
    if (shelf_find_duplicates(c, &o, &found, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    char got[256] = "";
    for (size_t i = 0; i < found.n; i++) {
        assert_true(found.pairs[i].a < found.pairs[i].b);
        assert_true(found.pairs[i].score >= o.threshold);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s-%s ",
                 id(c, found.pairs[i].a), id(c, found.pairs[i].b));
    }
    assert_string_equal(got, "p0-c0 p1-c1 p2-c2 t1-t2 ");
    assert_int_equal(found.unread_photos, 0);
    shelf_duplicate_pairs_free(&found);
    shelf_catalog_free(c);
}

static void fp_of(int seed, int copied, fp_thumb *t)
{
    unsigned char px[W * H * 3], cp[W * H * 3];
    draw(seed, px);
    image im = {W, H, px};
    if (copied) {
        copy_of(px, cp, &im.w);
        im.rgb = cp;
    }
    float v[FP_PHOTO_DIM];
    assert_int_equal(fp_photo(&im, v, t), 0);
    double norm = 0;
    for (int i = 0; i < FP_PHOTO_DIM; i++)
        norm += (double)v[i] * v[i];
    assert_true(norm > 0.999 && norm < 1.001);
}

static void verify_aligns_a_mirror_and_a_cut(void **state)
{
    (void)state;
    fp_thumb a, b, other;
    fp_of(3, 0, &a);
    fp_of(3, 1, &b);
    fp_of(4, 0, &other);
    float same, copy, diff;
    assert_int_equal(fp_verify(&a, &a, &same), 0);
    assert_int_equal(fp_verify(&a, &b, &copy), 0);
    assert_int_equal(fp_verify(&a, &other, &diff), 0);
    assert_true(same > 0.9999f);
    assert_true(copy > 0.99f);
    assert_true(diff < 0.9f);
    fp_thumb none = {0};
    assert_int_equal(fp_verify(&a, &none, &same), 0);
    assert_true(same == -1);
    fp_thumb_free(&a);
    fp_thumb_free(&b);
    fp_thumb_free(&other);
}

static void bad_photos_stop_or_are_counted(void **state)
{
    (void)state;
    write_bytes("broken.webp", (const unsigned char *)"RIFF\x10\0\0\0WEBPVP8 ", 16);
    shelf_catalog *c = catalog_of("bad.csv", "id,title,image,category\n"
                                             "p0,Brand0 Classic tee,p0.webp,A\n"
                                             "b1,Brand0 tee classic,broken.webp,A\n"
                                             "b2,other thing,missing.webp,B\n");
    shelf_duplicate_options o;
    shelf_duplicate_options_default(&o);
    shelf_duplicate_pairs found;
    shelf_error err;
    assert_int_equal(shelf_find_duplicates(c, &o, &found, &err), SHELF_EDATA);
    if (!strstr(err.message, "bad.csv:3: broken.webp") && !strstr(err.message, "bad.csv:4: "))
        fail_msg("%s", err.message);
    assert_int_equal(found.n, 0);
    o.skip_bad = 1;
    assert_int_equal(shelf_find_duplicates(c, &o, &found, &err), SHELF_OK);
    assert_int_equal(found.unread_photos, 2);
    assert_non_null(strstr(found.first_unread, "bad.csv:"));
    shelf_duplicate_pairs_free(&found);
    shelf_catalog_free(c);
}

/* Two listings alone with the same words (in every title of the catalog), and a pair whose
 * photos are blank (one colour: as none), are found by their titles. */
static void titles_alone_and_blank_photos(void **state)
{
    (void)state;
    unsigned char white[W * H * 3];
    memset(white, 255, sizeof white);
    write_webp("white.webp", white, W);
    const char *cases[][2] = {
        {"a.csv", "id,title,image\n1,Acme Kettle,\n2,kettle ACME,\n"},
        {"b.csv", "id,title,image\n1,Acme Kettle,white.webp\n2,kettle ACME,white.webp\n"
                  "3,Garden Hose,\n"},
    };
    for (size_t k = 0; k < 2; k++) {
        shelf_catalog *c = catalog_of(cases[k][0], cases[k][1]);
        shelf_duplicate_options o;
        shelf_duplicate_options_default(&o);
        shelf_duplicate_pairs found;
        shelf_error err;
        if (shelf_find_duplicates(c, &o, &found, &err) != SHELF_OK)
            fail_msg("%s", err.message);
        assert_int_equal(found.n, 1);
        assert_string_equal(id(c, found.pairs[0].a), "1");
        assert_string_equal(id(c, found.pairs[0].b), "2");
        shelf_duplicate_pairs_free(&found);
        shelf_catalog_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(finds_the_copies_and_nothing_else),
        cmocka_unit_test(verify_aligns_a_mirror_and_a_cut),
        cmocka_unit_test(bad_photos_stop_or_are_counted),
        cmocka_unit_test(titles_alone_and_blank_photos),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
