/* The catalog reader harness behind fuzz_csv, fuzz_tsv, fuzz_jsonl and fuzz_fasttext: the
 * input's first byte picks the read options, the rest is the catalog, read whole through
 * shelf_reader_open/next as `shelf predict` streams it, or through shelf_catalog_load as
 * train and eval read it.
 *
 * option byte: bit 0 skip_bad, bit 1 fix_utf8, bit 2 require_label, bit 3 catalog_load,
 * bits 4-5 the columns (defaults; named; other names; an image catalog), bits 6-7 the
 * label separator (default " > ", "/", "", ">").
 * second option byte: bit 0 no_header (the named columns become numbers), bits 1-2 the
 * delimiter (the format's; ';'; '|'; tab), bits 3-4 max_depth (0: whole paths), bit 5
 * columns kept (keep_columns). */
#ifndef SHELF_TESTS_FUZZ_READER_H
#define SHELF_TESTS_FUZZ_READER_H

#include "fuzz_util.h"
#include "shelf.h"

static void fuzz_read_options(uint8_t b, uint8_t b2, shelf_format format,
                              shelf_read_options *o)
{
    static const char delims[4] = {0, ';', '|', '\t'};
    static const char *const seps[4] = {NULL, "/", "", ">"};
    *o = (shelf_read_options){.format = format,
                              .skip_bad = b & 1,
                              .fix_utf8 = (b >> 1) & 1,
                              .require_label = (b >> 2) & 1,
                              .label_sep = seps[b >> 6],
                              .no_header = b2 & 1,
                              .delimiter = delims[(b2 >> 1) & 3],
                              .max_depth = (b2 >> 3) & 3,
                              .keep_columns = (b2 >> 5) & 1 ? (b2 & 1 ? "1,3" : "id,title")
                                                            : NULL};
    switch ((b >> 4) & 3) {
    case 1:
        o->text_columns = o->no_header ? "2,3" : "title,description";
        o->label_column = o->no_header ? "4" : "category";
        o->id_column = o->no_header ? "1" : "id";
        break;
    case 2:
        o->text_columns = "name";
        o->label_column = "label";
        o->image_column = "photo";
        break;
    case 3:
        o->for_images = 1;
        o->image_column = "image";
        break;
    }
}

/* Streams every product, touching each string so that ASan sees a bad pointer. */
static void fuzz_stream(const char *path, const shelf_read_options *o)
{
    shelf_reader *r = NULL;
    shelf_error err;
    if (shelf_reader_open(path, o, &r, &err) != SHELF_OK)
        return;
    shelf_product p;
    size_t sum = 0;
    while (shelf_reader_next(r, &p, &err) == SHELF_OK) {
        sum += strlen(p.id) + strlen(p.text) + strlen(p.label) + strlen(p.image);
        for (int j = 0; j < shelf_reader_nkept(r); j++)
            sum += strlen(shelf_reader_kept(r)[j]) + strlen(shelf_reader_kept_name(r, j));
        uint64_t done, total;
        shelf_reader_progress(r, &done, &total);
    }
    shelf_read_stats stats;
    shelf_reader_stats(r, &stats);
    sum += strlen(stats.first_skip);
    shelf_reader_close(r);
    (void)sum;
}

static void fuzz_load(const char *path, const shelf_read_options *o)
{
    shelf_catalog *c = NULL;
    shelf_error err;
    if (shelf_catalog_load(path, o, &c, &err) != SHELF_OK)
        return;
    size_t sum = 0;
    for (size_t i = 0; i < shelf_catalog_size(c); i++) {
        const shelf_product *p = shelf_catalog_get(c, i);
        sum += strlen(p->id) + strlen(p->text) + strlen(p->label) + strlen(p->image);
        for (int j = 0; j < shelf_catalog_nkept(c); j++)
            sum += strlen(shelf_catalog_kept(c, i)[j]);
    }
    shelf_catalog_free(c);
    (void)sum;
}

/* Reads data[2..n) as a catalog file named name (its extension is the format's). */
static int fuzz_reader_run(const uint8_t *data, size_t n, shelf_format format,
                           const char *name)
{
    if (n < 2)
        return 0;
    shelf_read_options o;
    fuzz_read_options(data[0], data[1], format, &o);
    const char *path = fuzz_write_file(name, data + 2, n - 2);
    if (data[0] & 8)
        fuzz_load(path, &o);
    else
        fuzz_stream(path, &o);
    return 0;
}

#endif
