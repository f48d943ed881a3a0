/* Catalog readers, the prediction writer, output files and the UTF-8 helpers. Each test writes small
 * files into a fresh directory under /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "core/buf.h"
#include "io/catalog.h"
#include "io/field.h"
#include "shelf.h"
#include "scratch_dir.h"
#include "text/utf8.h"

/* ---- helpers ------------------------------------------------------------------------- */

static const char *write_text(const char *name, const char *text)
{
    return write_bytes(name, text, strlen(text));
}

static shelf_read_options opts_default(void)
{
    shelf_read_options o = {0};
    o.require_label = 1;
    return o;
}

/* Loads path, expecting success. */
static shelf_catalog *load_ok(const char *path, const shelf_read_options *o)
{
    shelf_catalog *c = NULL;
    shelf_error err = {0};
    shelf_status st = shelf_catalog_load(path, o, &c, &err);
    if (st != SHELF_OK)
        print_error("unexpected failure: %s\n", err.message);
    assert_int_equal(st, SHELF_OK);
    assert_non_null(c);
    return c;
}

/* Loads path, expecting status want; returns the message (static). */
static const char *load_fail(const char *path, const shelf_read_options *o, shelf_status want)
{
    static shelf_error err;
    shelf_catalog *c = NULL;
    memset(&err, 0, sizeof err);
    shelf_status st = shelf_catalog_load(path, o, &c, &err);
    if (st == SHELF_OK)
        shelf_catalog_free(c);
    assert_int_equal(st, want);
    assert_null(st == SHELF_OK ? (void *)1 : (void *)c);
    assert_int_equal(err.code, want);
    return err.message;
}

static void assert_product(const shelf_catalog *c, size_t i, const char *id, const char *text,
                           const char *label, long line)
{
    const shelf_product *p = shelf_catalog_get(c, i);
    assert_non_null(p);
    assert_string_equal(p->id, id);
    assert_string_equal(p->text, text);
    assert_string_equal(p->label, label);
    assert_int_equal(p->line, line);
}

#define assert_contains(hay, needle)                                                       \
    do {                                                                                   \
        if (!strstr((hay), (needle)))                                                      \
            fail_msg("'%s' does not contain '%s'", (hay), (needle));                       \
    } while (0)

/* Checks that msg starts with "PATH:LINE: ". */
static void assert_at(const char *msg, const char *path, long line)
{
    char prefix[512];
    snprintf(prefix, sizeof prefix, "%s:%ld: ", path, line);
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("'%s' does not start with '%s'", msg, prefix);
}

/* ---- CSV ----------------------------------------------------------------------------- */

static void test_csv_quoted_fields_hold_commas_quotes_and_newlines(void **state)
{
    (void)state;
    const char *path = write_text("q.csv", "id,title,category\n"
                                           "1,\"Shirt, blue\",Apparel\n"
                                           "2,\"The \"\"best\"\" mug\",Kitchen\n"
                                           "3,\"two\nlines\",Home\n"
                                           "4,5\" screen,Electronics\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 4);
    assert_product(c, 0, "1", "Shirt, blue", "Apparel", 2);
    assert_product(c, 1, "2", "The \"best\" mug", "Kitchen", 3);
    assert_product(c, 2, "3", "two\nlines", "Home", 4);
    assert_product(c, 3, "4", "5\" screen", "Electronics", 6); /* a bare quote is literal */
    assert_string_equal(shelf_catalog_path(c), path);
    shelf_catalog_free(c);
}

static void test_csv_skips_bom_and_accepts_crlf(void **state)
{
    (void)state;
    const char *path = write_text("bom.csv", "\xEF\xBB\xBFtitle,category\r\n"
                                             "Mug,Kitchen\r\n"
                                             "\"Quoted\r\nmug\",\"Kitchen\"\r\n"
                                             "Cup,Kitchen");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    assert_product(c, 0, "2", "Mug", "Kitchen", 2);
    assert_product(c, 1, "3", "Quoted\r\nmug", "Kitchen", 3);
    assert_product(c, 2, "5", "Cup", "Kitchen", 5);
    shelf_catalog_free(c);
}

static void test_csv_line_numbers_follow_multiline_records(void **state)
{
    (void)state;
    const char *path = write_text("lines.csv", "title,category\n"
                                               "\"a\n\nb\nc\",X\n"
                                               "\n"
                                               "d,Y\n"
                                               "\"e\nf\",\n"
                                               "g,Z\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 8);
    assert_contains(msg, "empty label in column 'category'");

    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    assert_product(c, 0, "2", "a\n\nb\nc", "X", 2);
    assert_product(c, 1, "7", "d", "Y", 7);
    assert_product(c, 2, "10", "g", "Z", 10);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.skipped, 1);
    assert_at(st.first_skip, path, 8);
    shelf_catalog_free(c);
}

static void test_csv_garbage_after_closing_quote_is_a_bad_row(void **state)
{
    (void)state;
    const char *path = write_text("garbage.csv", "title,category\n"
                                                 "\"Mug\"x,Kitchen\n"
                                                 "Cup,Kitchen\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 2);
    assert_contains(msg, "after the closing quote in column 'title'");
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 1);
    assert_product(c, 0, "3", "Cup", "Kitchen", 3);
    shelf_catalog_free(c);
}

static void test_csv_unterminated_quote_is_one_bad_record(void **state)
{
    (void)state;
    const char *path = write_text("unterminated.csv", "title,category\n"
                                                      "Mug,Kitchen\n"
                                                      "\"Cup,Kitchen\n"
                                                      "Plate,Kitchen\n"
                                                      "Bowl,Kitchen\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "unterminated quote in column 'title'");

    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 1);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 1);
    assert_at(st.first_skip, path, 3);
    shelf_catalog_free(c);
}

static void test_csv_wrong_field_count_is_a_bad_row(void **state)
{
    (void)state;
    const char *path = write_text("count.csv", "id,title,brand,price,category\n"
                                               "1,Mug,Acme,3,Kitchen\n"
                                               "2,Cup,Acme,Kitchen\n"
                                               "3,Bowl,Acme,4,Kitchen,extra\n"
                                               "4,Plate,Acme,5,Kitchen\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "expected 5 fields, found 4");

    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 1, "4", "Plate", "Kitchen", 5);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 2);
    assert_contains(st.first_skip, "expected 5 fields, found 4");
    shelf_catalog_free(c);
}

/* ---- TSV, JSONL, fastText --------------------------------------------------------------- */

static void test_tsv_splits_on_tabs_without_quoting(void **state)
{
    (void)state;
    const char *path = write_text("t.tsv", "sku\ttitle\tcategory\r\n"
                                           "A1\t\"Quoted\" mug, big\tKitchen\r\n"
                                           "A2\tCup\tKitchen\n");
    shelf_read_options o = opts_default();
    o.id_column = "sku";
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 0, "A1", "\"Quoted\" mug, big", "Kitchen", 2);
    assert_product(c, 1, "A2", "Cup", "Kitchen", 3);
    shelf_catalog_free(c);
}

static void test_jsonl_values_become_text_and_blank_lines_are_skipped(void **state)
{
    (void)state;
    const char *path = write_text(
        "p.jsonl",
        "{\"id\": 12345678901234567890, \"title\": \"Caf\\u00e9 \\\"mug\\\"\\n\", "
        "\"category\": \"Kitchen\"}\n"
        "\n"
        "   \n"
        "{\"id\": 7, \"title\": \"Cup\", \"description\": null, \"category\": \"Kitchen\", "
        "\"x\": {\"a\": [1, 2]}}\r\n"
        "{\"title\": true, \"description\": 1.50, \"category\": \" Home \"}\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    assert_product(c, 0, "12345678901234567890", "Caf\xC3\xA9 \"mug\"", "Kitchen", 1);
    assert_product(c, 1, "7", "Cup", "Kitchen", 4);
    assert_product(c, 2, "5", "true 1.50", "Home", 5);
    shelf_catalog_free(c);

    o.text_columns = "x";
    c = load_ok(write_text("nested.jsonl", "{\"x\": {\"a\": [1, 2]}, \"category\": \"K\"}\n"), &o);
    assert_product(c, 0, "1", "{\"a\":[1,2]}", "K", 1);
    shelf_catalog_free(c);
}

static void test_jsonl_label_array_is_the_path_levels(void **state)
{
    (void)state;
    const char *path = write_text(
        "levels.jsonl",
        "{\"title\": \"AC\", \"category\": [\"Elektronik\", \" Alat Pendingin Ruangan\", "
        "\"Ac Portable\"]}\n"
        "{\"title\": \"Fan\", \"category\": \"Elektronik > Kipas\"}\n"
        "{\"title\": \"Bad\", \"category\": [\"Elektronik\", 3]}\n"
        "{\"title\": \"Empty\", \"category\": []}\n"
        "{\"title\": \"Blank\", \"category\": [\"Elektronik\", \" \"]}\n");
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 0, "1", "AC", "Elektronik > Alat Pendingin Ruangan > Ac Portable", 1);
    assert_product(c, 1, "2", "Fan", "Elektronik > Kipas", 2);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 3);
    shelf_catalog_free(c);
    o.skip_bad = 0;
    o.label_sep = "/";
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "label 'category': level 2 of the array is a number");
    c = load_ok(write_text("sep.jsonl", "{\"title\": \"AC\", \"category\": [\"A\", \"B\"]}\n"), &o);
    assert_product(c, 0, "1", "AC", "A/B", 1);
    shelf_catalog_free(c);
    msg = load_fail(write_text("first.jsonl", "{\"title\": \"AC\", \"category\": []}\n"), &o,
                    SHELF_EDATA);
    assert_contains(msg, "first.jsonl:1: label 'category' is an empty array");
}

static void test_jsonl_truncated_or_non_object_lines_are_bad_rows(void **state)
{
    (void)state;
    const char *path = write_text("bad.jsonl", "{\"title\": \"Mug\", \"category\": \"K\"}\n"
                                               "{\"title\": \"Cup\", \"categ\n"
                                               "[1, 2]\n"
                                               "{\"title\": \"Bowl\", \"category\": \"K\"} x\n"
                                               "{\"title\": \"Plate\", \"category\": \"K\"}\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 2);
    assert_contains(msg, "invalid JSON: the line ends before the object does (truncated?)");

    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 1, "5", "Plate", "K", 5);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 3);
    assert_at(st.first_skip, path, 2);
    shelf_catalog_free(c);

    /* the first object decides the columns, so bad lines before it are skipped too */
    path = write_text("badfirst.jsonl", "{\"title\": \n{\"title\": \"Cup\", \"category\": \"K\"}\n");
    c = load_ok(path, &o);
    assert_product(c, 0, "2", "Cup", "K", 2);
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 1);
    shelf_catalog_free(c);

    /* a file that starts with '[' is one JSON array (io/json_array.h) */
    path = write_text("array.jsonl", "[1, 2]\n");
    o.skip_bad = 0;
    msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "$[0]: expected a JSON object, found a number");
}

static void test_json_array_of_objects_is_read_element_by_element(void **state)
{
    (void)state;
    const char *path = write_text(
        "catalog.json",
        "\xEF\xBB\xBF [\n"
        "  {\"id\": 12345678901234567890, \"title\": \"Mug ]}\\\"\", \"category\": \"K\"},\n"
        "  {\"title\": \"AC\",\n   \"category\": [\"E\", \"A\"]}, 3,\n"
        "  {\"title\": \"Cup\", \"category\": \"K\"}\n]\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 4);
    assert_contains(msg, "$[2]: expected a JSON object, found a number");
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    assert_product(c, 0, "12345678901234567890", "Mug ]}\"", "K", 2);
    assert_product(c, 1, "3", "AC", "E > A", 3);
    assert_product(c, 2, "5", "Cup", "K", 5);
    shelf_catalog_free(c);
    /* what is wrong with the array itself stops the reading, under skip_bad too */
    static const char *const broken[][2] = {
        {"[{\"title\": \"a\", \"category\": \"K\"} {\"title\": \"b\"}]",
         "$[0]: expected ',' or ']' after it, found '{'"},
        {"[{\"title\": \"a\", \"category\": \"K\"},\n", ":2: the array ends before its closing"},
        {"[{\"title\": \"a\", \"category\": \"K\"},]", "$[1]: expected a value, found ']'"},
        {"[{\"title\": \"a\", \"category\": \"K\"}] x", "unexpected 'x' after the array's"}};
    for (size_t i = 0; i < 4; i++)
        assert_contains(load_fail(write_text("broken.json", broken[i][0]), &o, SHELF_EDATA),
                        broken[i][1]);
    assert_contains(load_fail(write_text("none.json", " [ ]\n"), &o, SHELF_EDATA),
                    "no products");
    /* elements across the reader's chunks of 256 KiB */
    buf big;
    buf_init(&big);
    buf_puts(&big, "[");
    for (int i = 0; i < 30000; i++)
        buf_printf(&big, "%s\n{\"title\": \"product %d\", \"category\": \"K%d\"}", i ? "," : "",
                   i, i % 5);
    buf_puts(&big, "]");
    c = load_ok(write_text("big.json", big.data), &o);
    assert_int_equal(shelf_catalog_size(c), 30000);
    assert_product(c, 29999, "30001", "product 29999", "K4", 30001);
    shelf_catalog_free(c);
    buf_free(&big);
}

static void test_jsonl_first_object_decides_the_columns(void **state)
{
    (void)state;
    const char *path = write_text("cols.jsonl", "{\"name\": \"Mug\", \"price\": 3}\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "no label column 'category' (columns: name, price)");
}

static void test_fasttext_label_underscores_become_spaces(void **state)
{
    (void)state;
    const char *path = write_text("train.txt",
                                  "__label__Apparel_>_Topwear __label__Other  Blue cotton shirt\n"
                                  "\n"
                                  "__label__Kitchen\tMug\r\n"
                                  "no label here\n");
    shelf_read_options o = opts_default();
    o.format = SHELF_FORMAT_FASTTEXT;
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 4);
    assert_contains(msg, "no __label__");

    o.require_label = 0;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    assert_product(c, 0, "1", "Blue cotton shirt", "Apparel > Topwear", 1);
    assert_product(c, 1, "3", "Mug", "Kitchen", 3);
    assert_product(c, 2, "4", "no label here", "", 4);
    shelf_catalog_free(c);
}

/* ---- columns ------------------------------------------------------------------------- */

static void test_default_text_columns_are_joined_without_empty_parts(void **state)
{
    (void)state;
    const char *path = write_text("join.csv", "description,id,name,title,category\n"
                                              "soft cotton,1,Shirt,Blue shirt,Apparel\n"
                                              ",2,,Mug,Kitchen\n"
                                              "  ,3,  Cup ,,Kitchen\n"
                                              ",4,,,Kitchen\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "1", "Blue shirt Shirt soft cotton", "Apparel", 2);
    assert_product(c, 1, "2", "Mug", "Kitchen", 3);
    assert_product(c, 2, "3", "Cup", "Kitchen", 4);
    assert_product(c, 3, "4", "", "Kitchen", 5);
    /* a catalog stores each distinct label once */
    assert_ptr_equal(shelf_catalog_get(c, 1)->label, shelf_catalog_get(c, 3)->label);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.empty_text, 1);
    shelf_catalog_free(c);
}

static void test_text_columns_option_selects_and_orders_columns(void **state)
{
    (void)state;
    const char *path = write_text("subset.csv", "title,brand,description,category\n"
                                                "Mug,Acme,big,Kitchen\n");
    shelf_read_options o = opts_default();
    o.text_columns = " brand , title";
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "2", "Acme Mug", "Kitchen", 2);
    shelf_catalog_free(c);

    o.text_columns = "title,colour";
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "no text column 'colour' (columns: title, brand, description, category); "
                         "choose the text columns with --text");
}

static void assert_kept(const shelf_catalog *c, size_t i, const char *a, const char *b)
{
    const char *const *kept = shelf_catalog_kept(c, i);
    assert_non_null(kept);
    assert_string_equal(kept[0], a);
    assert_string_equal(kept[1], b);
}

/* keep_columns: values carried through as the file has them, in the order named, from
 * CSV (quoted fields), TSV without a header (by number), JSONL (any value; a missing key is
 * ""), streamed or loaded; a missing column is an error naming the columns there are; the
 * fastText format has none to keep. */
static void test_kept_columns_are_carried_through_in_every_format(void **state)
{
    (void)state;
    const char *csv = write_text("keep.csv", "id,title,brand,price,category\n"
                                             "1,Mug,\"Acme, Inc.\",\"1,200\",Kitchen\n"
                                             "2,Tee,,5,Apparel\n"
                                             "3,Kayak,\"Ünï \"\"x\"\"\",\"multi\nline\",Sports\n");
    shelf_read_options o = opts_default();
    o.keep_columns = " price , brand";
    shelf_catalog *c = load_ok(csv, &o);
    assert_int_equal(shelf_catalog_nkept(c), 2);
    assert_string_equal(shelf_catalog_kept_name(c, 0), "price");
    assert_string_equal(shelf_catalog_kept_name(c, 1), "brand");
    assert_null(shelf_catalog_kept_name(c, 2));
    assert_kept(c, 0, "1,200", "Acme, Inc.");
    assert_kept(c, 1, "5", "");
    assert_kept(c, 2, "multi\nline", "Ünï \"x\"");
    assert_null(shelf_catalog_kept(c, 3));
    shelf_catalog_free(c);

    shelf_reader *r = NULL; /* streamed: the same values, until the next product */
    assert_int_equal(shelf_reader_open(csv, &o, &r, NULL), SHELF_OK);
    assert_null(shelf_reader_kept(r)); /* no product yet */
    assert_int_equal(shelf_reader_nkept(r), 2);
    assert_string_equal(shelf_reader_kept_name(r, 1), "brand");
    shelf_product p;
    assert_int_equal(shelf_reader_next(r, &p, NULL), SHELF_OK);
    assert_string_equal(shelf_reader_kept(r)[0], "1,200");
    assert_int_equal(shelf_reader_next(r, &p, NULL), SHELF_OK);
    assert_string_equal(shelf_reader_kept(r)[1], "");
    shelf_reader_close(r);

    /* invalid UTF-8 in a kept column is replaced: an output's column makes no row bad */
    const char *bad = write_text("keepbad.csv", "title,brand,category\nMug,Ac\xffme,K\n");
    o = opts_default();
    o.keep_columns = "brand";
    c = load_ok(bad, &o);
    assert_string_equal(shelf_catalog_kept(c, 0)[0], "Ac\xef\xbf\xbdme");
    shelf_catalog_free(c);

    const char *tsv = write_text("keep.tsv", "a\tMug\tKitchen\tAcme\n");
    o = opts_default();
    o.no_header = 1;
    o.text_columns = "2";
    o.label_column = "3";
    o.keep_columns = "4,1";
    c = load_ok(tsv, &o);
    assert_string_equal(shelf_catalog_kept_name(c, 0), "4");
    assert_kept(c, 0, "Acme", "a");
    shelf_catalog_free(c);

    const char *jsonl = write_text(
        "keep.jsonl", "{\"title\":\"Mug\",\"category\":\"K\",\"price\":1.50,\"tags\":[\"a\"]}\n"
                      "{\"title\":\"Tee\",\"category\":\"A\",\"price\":true}\n");
    o = opts_default();
    o.keep_columns = "price,tags";
    c = load_ok(jsonl, &o);
    assert_kept(c, 0, "1.50", "[\"a\"]");
    assert_kept(c, 1, "true", "");
    shelf_catalog_free(c);

    o.keep_columns = "price,colour";
    const char *msg = load_fail(jsonl, &o, SHELF_EDATA);
    assert_contains(msg, "no kept column 'colour' (columns: title, category, price, tags); "
                         "choose the kept columns with --keep");
    o = opts_default();
    o.keep_columns = "brand,colour";
    msg = load_fail(csv, &o, SHELF_EDATA);
    assert_at(msg, csv, 1);
    assert_contains(msg, "no kept column 'colour'");

    const char *ft = write_text("keep.txt", "__label__a red mug\n");
    o = opts_default();
    o.format = SHELF_FORMAT_FASTTEXT;
    o.keep_columns = "brand";
    msg = load_fail(ft, &o, SHELF_EDATA);
    assert_contains(msg, "the fastText format has no columns");
    o.keep_columns = NULL; /* without it, nothing is kept */
    c = load_ok(ft, &o);
    assert_int_equal(shelf_catalog_nkept(c), 0);
    assert_null(shelf_catalog_kept(c, 0));
    shelf_catalog_free(c);
}

static void test_no_default_text_column_is_an_error_listing_columns(void **state)
{
    (void)state;
    const char *path = write_text("notext.csv", "sku,category\nA,K\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "title, name, description");
    assert_contains(msg, "(columns: sku, category)");
}

static void test_label_column_missing_is_an_error_only_when_required(void **state)
{
    (void)state;
    const char *path = write_text("nolabel.csv", "id,title,brand\n1,Mug,Acme\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    char want[512];
    snprintf(want, sizeof want, "%s:1: no label column 'category' (columns: id, title, brand); "
             "choose the label column with --label", path);
    assert_string_equal(msg, want);

    o.require_label = 0;
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "1", "Mug", "", 2);
    shelf_catalog_free(c);

    o.label_column = "brand";
    o.require_label = 1;
    c = load_ok(path, &o);
    assert_product(c, 0, "1", "Mug", "Acme", 2);
    shelf_catalog_free(c);
}

static void test_id_column_defaults_to_the_line_number(void **state)
{
    (void)state;
    const char *path = write_text("ids.csv", "title,category,sku\nMug,K,X9\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "2", "Mug", "K", 2);
    shelf_catalog_free(c);
    o.id_column = "sku";
    c = load_ok(path, &o);
    assert_product(c, 0, "X9", "Mug", "K", 2);
    shelf_catalog_free(c);
    o.id_column = "code";
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_contains(msg, "no id column 'code' (columns: title, category, sku); choose the id "
                         "column with --id");
}

static void test_label_paths_are_trimmed(void **state)
{
    (void)state;
    const char *path = write_text("paths.csv", "title,category\n"
                                               "Shirt,\"  Apparel  >  Topwear \"\n"
                                               "Mug,Kitchen>Mugs\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "2", "Shirt", "Apparel > Topwear", 2);
    assert_product(c, 1, "3", "Mug", "Kitchen>Mugs", 3);
    shelf_catalog_free(c);
}

static void test_empty_label_is_a_bad_row(void **state)
{
    (void)state;
    const char *path = write_text("emptylabel.csv", "title,category\nMug,Kitchen\nCup,  \n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "empty label in column 'category'");
    o.require_label = 0;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 1, "3", "Cup", "", 3);
    shelf_catalog_free(c);
}

/* Many rows without a label: one message with the count and the first lines, after
 * reading them all, and the advice to skip them. */
static void test_empty_labels_are_summed_up_in_one_message(void **state)
{
    (void)state;
    const char *path = write_text("emptylabels.csv", "title,category\nMug,K\nCup,\nPot,K\n"
                                                     "Pan, \nBowl,\nJar,\nLid,K\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "4 rows have an empty label in column 'category' (at lines 3, 5, 6, "
                         "...); pass --skip-bad to skip them");
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    shelf_catalog_free(c);

    o.skip_bad = 0;
    o.format = SHELF_FORMAT_FASTTEXT;
    path = write_text("nolabels.txt", "__label__K Mug\nCup\nPot\n");
    assert_contains(load_fail(path, &o, SHELF_EDATA),
                    "nolabels.txt:2: 2 rows have no __label__ token (at lines 2, 3)");
}

static void test_max_depth_keeps_the_first_levels_of_a_path(void **state)
{
    (void)state;
    const char *path = write_text("deep.csv", "title,category\nMug,Home > Kitchen > Mugs\n"
                                              "Rug,Home\n\"Pan\",\"Home > Kitchen > Pans > Steel\"\n");
    shelf_read_options o = opts_default();
    o.max_depth = 2;
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "2", "Mug", "Home > Kitchen", 2);
    assert_product(c, 1, "3", "Rug", "Home", 3);
    assert_product(c, 2, "4", "Pan", "Home > Kitchen", 4);
    shelf_catalog_free(c);
    o.max_depth = 1;
    o.label_sep = "/";
    c = load_ok(write_text("deep.jsonl", "{\"title\": \"AC\", \"category\": [\"E\", \"A\"]}\n"
                                         "{\"title\": \"Fan\", \"category\": \"E / F\"}\n"),
                &o);
    assert_product(c, 0, "1", "AC", "E", 1);
    assert_product(c, 1, "2", "Fan", "E", 2);
    shelf_catalog_free(c);
}

/* ---- image column -------------------------------------------------------------------- */

static void assert_image(const shelf_catalog *c, size_t i, const char *image)
{
    const shelf_product *p = shelf_catalog_get(c, i);
    assert_non_null(p);
    assert_string_equal(p->image, image);
}

static void test_image_column_is_trimmed_and_empty_when_absent(void **state)
{
    (void)state;
    const char *path = write_text("img.csv", "title,image,category\n"
                                             "Mug, imgs/mug.jpg ,K\n"
                                             "Cup,,K\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_image(c, 0, "imgs/mug.jpg");
    assert_image(c, 1, "");
    assert_product(c, 0, "2", "Mug", "K", 2); /* the image is not text */
    shelf_catalog_free(c);

    c = load_ok(write_text("noimg.tsv", "title\tcategory\nMug\tK\n"), &o);
    assert_image(c, 0, "");
    shelf_catalog_free(c);

    o.format = SHELF_FORMAT_FASTTEXT;
    c = load_ok(write_text("img.txt", "__label__K Mug\n"), &o);
    assert_image(c, 0, "");
    shelf_catalog_free(c);
}

static void test_image_column_option_names_a_column_that_must_exist(void **state)
{
    (void)state;
    const char *path = write_text("photo.csv", "title,photo,category\nMug,a.jpg,K\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_image(c, 0, ""); /* no column named "image" */
    shelf_catalog_free(c);
    o.image_column = "photo";
    c = load_ok(path, &o);
    assert_image(c, 0, "a.jpg");
    shelf_catalog_free(c);

    o.image_column = "picture";
    char want[512];
    snprintf(want, sizeof want,
             "%s:1: no image column 'picture' (columns: title, photo, category); choose the "
             "image column with --image", path);
    assert_string_equal(load_fail(path, &o, SHELF_EDATA), want);
    o.image_column = "image";
    assert_contains(load_fail(path, &o, SHELF_EDATA), "no image column 'image' (columns: title, "
                    "photo, category); choose the image column with --image");

    o.format = SHELF_FORMAT_FASTTEXT;
    path = write_text("photo.txt", "__label__K Mug\n");
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_contains(msg, path);
    assert_contains(msg, "the fastText format has no images");
}

static void test_jsonl_image_key_is_looked_up_in_every_object(void **state)
{
    (void)state;
    const char *path = write_text("img.jsonl",
                                  "{\"title\": \"Mug\", \"category\": \"K\"}\n"
                                  "{\"title\": \"Cup\", \"image\": \" cup.png\", \"category\": "
                                  "\"K\"}\n"
                                  "{\"title\": \"Bowl\", \"image\": null, \"category\": \"K\"}\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_image(c, 0, "");
    assert_image(c, 1, "cup.png");
    assert_image(c, 2, "");
    shelf_catalog_free(c);

    o.image_column = "photo";
    c = load_ok(write_text("photo.jsonl", "{\"title\": \"Mug\", \"photo\": \"m.webp\", "
                                          "\"category\": \"K\"}\n"),
                &o);
    assert_image(c, 0, "m.webp");
    shelf_catalog_free(c);
}

static void test_image_reference_with_invalid_utf8_is_a_bad_row(void **state)
{
    (void)state;
    const char *path = write_text("imgutf8.csv", "title,image,category\n"
                                                 "Mug,caf\xE9.jpg,K\n"
                                                 "Cup,cup.jpg,K\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 2);
    assert_contains(msg, "invalid UTF-8 in column 'image' at byte 3");
    o.fix_utf8 = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_image(c, 0, "caf\xEF\xBF\xBD.jpg");
    assert_image(c, 1, "cup.jpg");
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.utf8_replaced, 1);
    shelf_catalog_free(c);
}

/* ---- file-level errors ------------------------------------------------------------------ */

static void test_empty_file_is_an_error_in_every_format(void **state)
{
    (void)state;
    shelf_read_options o = opts_default();
    const char *path = write_text("empty.csv", "");
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "empty file");
    path = write_text("empty.jsonl", "");
    assert_contains(load_fail(path, &o, SHELF_EDATA), "empty file");
    o.format = SHELF_FORMAT_FASTTEXT;
    path = write_text("empty.txt", "");
    assert_contains(load_fail(path, &o, SHELF_EDATA), "empty file");
}

static void test_header_only_catalog_has_no_products(void **state)
{
    (void)state;
    const char *path = write_text("header.csv", "title,category\n");
    shelf_read_options o = opts_default();
    char want[512];
    snprintf(want, sizeof want, "%s: no products", path);
    assert_string_equal(load_fail(path, &o, SHELF_EDATA), want);

    /* a reader, unlike a catalog, simply ends */
    shelf_reader *r = NULL;
    shelf_product p;
    assert_int_equal(shelf_reader_open(path, &o, &r, NULL), SHELF_OK);
    assert_int_equal(shelf_reader_next(r, &p, NULL), SHELF_END);
    assert_int_equal(shelf_reader_next(r, &p, NULL), SHELF_END);
    shelf_reader_close(r);
}

static void test_catalog_view_shares_the_products_it_picks(void **state)
{
    (void)state;
    const char *path = write_text("view.csv", "id,title,category\n1,a,X\n2,b,Y\n3,c,X\n");
    shelf_read_options o = opts_default();
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(path, &o, &c, NULL), SHELF_OK);
    const size_t rows[] = {2, 0};
    shelf_catalog *v = catalog_view(c, rows, 2);
    assert_non_null(v);
    assert_int_equal(shelf_catalog_size(v), 2);
    assert_string_equal(shelf_catalog_get(v, 0)->id, "3");
    assert_string_equal(shelf_catalog_get(v, 1)->text, "a");
    assert_ptr_equal(shelf_catalog_get(v, 0)->label, shelf_catalog_get(c, 2)->label);
    assert_string_equal(shelf_catalog_path(v), path);
    shelf_catalog_free(v);
    shelf_catalog_free(c);
}

static void test_all_rows_skipped_says_why(void **state)
{
    (void)state;
    const char *path = write_text("allbad.csv", "title,category\nMug,\nCup,\n");
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_contains(msg, "no products");
    assert_contains(msg, "all 2 rows were bad");
    assert_contains(msg, "empty label");
}

static void test_unknown_extension_asks_for_format(void **state)
{
    (void)state;
    const char *path = write_text("catalog.xlsx", "title,category\nMug,K\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EINVAL);
    assert_contains(msg, path);
    assert_contains(msg, "--format csv|tsv|jsonl|json|fasttext");
    o.format = SHELF_FORMAT_CSV;
    shelf_catalog_free(load_ok(path, &o));

    shelf_format f;
    assert_int_equal(shelf_format_parse("ndjson", &f), SHELF_OK);
    assert_int_equal(f, SHELF_FORMAT_JSONL);
    assert_int_equal(shelf_format_parse("fasttext", &f), SHELF_OK);
    assert_int_equal(f, SHELF_FORMAT_FASTTEXT);
    assert_int_equal(shelf_format_parse("xml", &f), SHELF_EINVAL);
    assert_int_equal(shelf_format_parse(NULL, &f), SHELF_EINVAL);
}

static void test_missing_file_names_the_file_and_reason(void **state)
{
    (void)state;
    const char *path = path_of("missing.csv");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EIO);
    assert_contains(msg, path);
    assert_contains(msg, "No such file or directory");
    assert_contains(load_fail(scratch_dir, &(shelf_read_options){.format = SHELF_FORMAT_CSV},
                              SHELF_EIO),
                    "directory");
}

static void test_stdin_is_csv_named_stdin_in_messages(void **state)
{
    (void)state;
    const char *path = write_text("stdin.csv", "title,category\nMug,K\nCup,\n");
    assert_non_null(freopen(path, "rb", stdin));
    shelf_read_options o = opts_default();
    const char *msg = load_fail("-", &o, SHELF_EDATA);
    assert_at(msg, "<stdin>", 3);
    assert_non_null(freopen("/dev/null", "rb", stdin));
}

/* Writes text gzip-compressed to name; returns the path. */
static const char *write_gzip(const char *name, const char *text)
{
    const char *path = path_of(name);
    gzFile gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_int_equal(gzwrite(gz, text, (unsigned)strlen(text)), (int)strlen(text));
    assert_int_equal(gzclose(gz), Z_OK);
    return path;
}

static void test_gzip_input_is_read_in_every_format(void **state)
{
    (void)state;
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(write_gzip("train.csv.gz", "title,category\nMug,K\nCup,L\n"), &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 1, "3", "Cup", "L", 3);
    shelf_catalog_free(c);
    c = load_ok(write_gzip("x.jsonl.GZ", "{\"title\": \"Mug\", \"category\": \"K\"}\n"), &o);
    assert_product(c, 0, "1", "Mug", "K", 1);
    shelf_catalog_free(c);
    c = load_ok(write_gzip("x.tsv.gz", "title\tcategory\nMug\tK\n"), &o);
    assert_product(c, 0, "2", "Mug", "K", 2);
    shelf_catalog_free(c);
    /* told by its magic bytes, whatever the name, and on standard input */
    const char *path = write_gzip("plain.csv", "title,category\nMug,K\n");
    shelf_catalog_free(load_ok(path, &o));
    assert_non_null(freopen(path, "rb", stdin));
    c = load_ok("-", &o);
    assert_product(c, 0, "2", "Mug", "K", 2);
    shelf_catalog_free(c);
    assert_non_null(freopen("/dev/null", "rb", stdin));
}

static void test_truncated_gzip_is_a_read_error(void **state)
{
    (void)state;
    buf text;
    buf_init(&text);
    buf_puts(&text, "title,category\n");
    for (int i = 0; i < 20000; i++)
        buf_printf(&text, "product %d with some words,K%d\n", i, i % 7);
    const char *path = write_gzip("cut.csv.gz", text.data);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char bytes[1 << 20];
    size_t n = fread(bytes, 1, sizeof bytes, f);
    fclose(f);
    path = write_bytes("cut.csv.gz", bytes, n / 2);
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EIO);
    assert_contains(msg, "read error: gzip data: unexpected end of file");
    buf_free(&text);
}

static void test_no_header_names_columns_by_number(void **state)
{
    (void)state;
    const char *path = write_text("nohead.csv", "a1,Mug,Home > Kitchen,big\n"
                                                "a2,\"Cup, blue\",Home,small\n");
    shelf_read_options o = opts_default();
    o.no_header = 1;
    o.text_columns = "2,4";
    o.label_column = "3";
    o.id_column = "1";
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 0, "a1", "Mug big", "Home > Kitchen", 1);
    assert_product(c, 1, "a2", "Cup, blue small", "Home", 2);
    shelf_catalog_free(c);
    o.label_column = NULL;
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_contains(msg, "nohead.csv:1: no label column 'category' (columns: 1, 2, 3, 4); "
                         "choose the label column with --label");
    o.label_column = "5";
    assert_contains(load_fail(path, &o, SHELF_EDATA), "no label column '5'");
    o.label_column = "3";
    msg = load_fail(write_text("nohead_bad.csv", "a1,Mug,K,x\na2,Cup\n"), &o, SHELF_EDATA);
    assert_contains(msg, "nohead_bad.csv:2: expected 4 fields, found 2");
    o.format = SHELF_FORMAT_TSV;
    c = load_ok(write_text("nohead.tsv", "a1\tMug\tK\tx\n"), &o);
    assert_product(c, 0, "a1", "Mug x", "K", 1);
    shelf_catalog_free(c);
}

static void test_delimiter_is_chosen_or_guessed_from_the_first_line(void **state)
{
    (void)state;
    shelf_read_options o = opts_default();
    /* more ';' than ',' outside quotes on the first line: ';' */
    const char *path = write_text("semi.csv", "title;\"a,b,c\";category\n\"Mug, big\";x;K\n");
    shelf_catalog *c = load_ok(path, &o);
    assert_product(c, 0, "2", "Mug, big", "K", 2);
    shelf_catalog_free(c);
    /* a ';' inside quotes does not count */
    c = load_ok(write_text("comma.csv", "title,\"a;b;c\",category\nMug,x,K\n"), &o);
    assert_product(c, 0, "2", "Mug", "K", 2);
    shelf_catalog_free(c);
    o.delimiter = '|';
    c = load_ok(write_text("pipe.csv", "title|category\n\"Mug|big\"|K\n"), &o);
    assert_product(c, 0, "2", "Mug|big", "K", 2);
    shelf_catalog_free(c);
    o.delimiter = '\t';
    c = load_ok(write_text("tabs.csv", "title\tcategory\n\"Mug\tbig\"\tK\n"), &o);
    assert_product(c, 0, "2", "Mug\tbig", "K", 2);
    shelf_catalog_free(c);
    o.delimiter = '"';
    load_fail(path, &o, SHELF_EINVAL);
}

static void test_stdin_that_is_not_csv_says_which_format(void **state)
{
    (void)state;
    static const char *const inputs[][2] = {
        {"\n  {\"title\": \"Mug\"}\n", "starts with '{'): pass --format jsonl"},
        {"[{\"title\": \"Mug\"}]", "starts with '['): pass --format json"},
        {"__label__K Mug\n", "starts with '__label__'): pass --format fasttext"}};
    shelf_read_options o = opts_default();
    for (size_t i = 0; i < 3; i++) {
        assert_non_null(freopen(write_text("in.txt", inputs[i][0]), "rb", stdin));
        const char *msg = load_fail("-", &o, SHELF_EDATA);
        assert_contains(msg, "<stdin>:1: standard input does not look like CSV (it ");
        assert_contains(msg, inputs[i][1]);
    }
    assert_non_null(freopen("/dev/null", "rb", stdin));
}

static void test_header_with_binary_or_bad_utf8_is_a_file_error(void **state)
{
    (void)state;
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    o.fix_utf8 = 1;
    const char *path = write_bytes("nulhead.csv", "tit\0le,category\nMug,K\n", 22);
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "binary data (NUL byte)");
    path = write_text("badhead.csv", "tit\xFFle,category\nMug,K\n");
    msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 1);
    assert_contains(msg, "invalid UTF-8 in the header");
}

/* ---- bad data ---------------------------------------------------------------------------- */

static void test_invalid_utf8_is_an_error_naming_column_and_byte(void **state)
{
    (void)state;
    const char *path = write_text("utf8.csv", "id,title,category\n"
                                              "1,Caf\xC3\xA9,K\n"
                                              "2,Mug \xE9t\xE9,K\n"
                                              "3,Cup,K\xC0\xAF\n"
                                              "4,Bowl,K\n");
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "invalid UTF-8 in column 'title' at byte 4");
}

static void test_invalid_utf8_rows_are_skipped_under_skip_bad(void **state)
{
    (void)state;
    const char *path = write_text("utf8skip.csv", "id,title,category\n"
                                                  "1,Caf\xC3\xA9,K\n"
                                                  "2,Mug \xE9t\xE9,K\n"
                                                  "3,Cup,K\xC0\xAF\n"
                                                  "4,Bowl,K\n");
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 1, "4", "Bowl", "K", 5);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 2);
    assert_int_equal(st.utf8_replaced, 0);
    assert_at(st.first_skip, path, 3);
    assert_contains(st.first_skip, "column 'title'");
    shelf_catalog_free(c);
}

/* Without a label needed (predict), a label that cannot be read costs no product; with one
 * (train, eval) it is a bad row. */
static void test_unreadable_labels_stop_only_readers_that_need_them(void **state)
{
    (void)state;
    const char *csv = write_text("badlabel.csv", "id,title,category\n1,shoe,bad \xff label\n"
                                                 "2,cup,Home\n");
    const char *jsonl = write_text("badlabel.jsonl",
                                   "{\"id\": \"1\", \"title\": \"shoe\", \"category\": []}\n"
                                   "{\"id\": \"2\", \"title\": \"cup\", \"category\": [1]}\n");
    shelf_read_options o = opts_default();
    o.require_label = 0;
    shelf_catalog *c = load_ok(csv, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 0, "1", "shoe", "", 2);
    assert_product(c, 1, "2", "cup", "Home", 3);
    shelf_catalog_free(c);
    c = load_ok(jsonl, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_product(c, 1, "2", "cup", "", 2);
    shelf_catalog_free(c);
    o.require_label = 1;
    assert_contains(load_fail(csv, &o, SHELF_EDATA), "invalid UTF-8 in column 'category'");
    assert_contains(load_fail(jsonl, &o, SHELF_EDATA), "label 'category' is an empty array");
}

/* buf_detach of a buffer nothing was written to (an empty escaped label) is "" */
static void test_an_empty_buffer_detaches_as_an_empty_string(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    buf_put_escaped(&b, "");
    char *s = buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
}

static void test_invalid_utf8_is_replaced_under_fix_utf8(void **state)
{
    (void)state;
    const char *path = write_text("utf8fix.csv", "id,title,category\n"
                                                 "1,Caf\xC3\xA9,K\n"
                                                 "2,Mug \xE9t\xE9,K\n"
                                                 "3,Cup,K\xC0\xAF\n");
    shelf_read_options o = opts_default();
    o.fix_utf8 = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 3);
    assert_product(c, 1, "2", "Mug \xEF\xBF\xBDt\xEF\xBF\xBD", "K", 3);
    assert_product(c, 2, "3", "Cup", "K\xEF\xBF\xBD\xEF\xBF\xBD", 4);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.utf8_replaced, 2);
    assert_int_equal(st.skipped, 0);
    shelf_catalog_free(c);
}

static void test_nul_byte_in_a_row_is_binary_data(void **state)
{
    (void)state;
    static const char data[] = "title,category\nMug,K\nC\0p,K\nBowl,K\n";
    const char *path = write_bytes("nul.csv", data, sizeof data - 1);
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "binary data (NUL byte)");
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    shelf_catalog_free(c);
}

/* A fixed LCG, so that a failure can be reproduced. */
static void random_bytes(unsigned char *out, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        out[i] = (unsigned char)(seed >> 24);
    }
}

/* Loads random bytes with every format and option combination: an error or some skipped
 * rows, never a crash (the sanitizer build and valgrind check the memory side). */
static void test_random_binary_bytes_give_errors_not_crashes(void **state)
{
    (void)state;
    static const char *const names[] = {"r.csv", "r.tsv", "r.jsonl", "r.txt"};
    static const shelf_format formats[] = {SHELF_FORMAT_CSV, SHELF_FORMAT_TSV,
                                           SHELF_FORMAT_JSONL, SHELF_FORMAT_FASTTEXT};
    unsigned char data[4096];
    for (uint32_t seed = 1; seed <= 8; seed++) {
        random_bytes(data, sizeof data, seed);
        for (int f = 0; f < 4; f++) {
            const char *path = write_bytes(names[f], data, sizeof data);
            for (int flags = 0; flags < 8; flags++) {
                shelf_read_options o = {.format = formats[f],
                                        .require_label = flags & 1,
                                        .skip_bad = (flags >> 1) & 1,
                                        .fix_utf8 = (flags >> 2) & 1};
                shelf_catalog *c = NULL;
                shelf_error err = {0};
                shelf_status st = shelf_catalog_load(path, &o, &c, &err);
                if (st == SHELF_OK) {
                    shelf_read_stats rs;
                    shelf_catalog_stats(c, &rs);
                    assert_true(rs.skipped > 0 || rs.utf8_replaced > 0);
                    shelf_catalog_free(c);
                } else {
                    assert_int_equal(st, SHELF_EDATA);
                    assert_true(strncmp(err.message, path, strlen(path)) == 0);
                }
            }
        }
    }
}

/* A line of n bytes of 'a' as the title, then a short row. */
static const char *write_long_line(const char *name, size_t n)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("title,category\n", f);
    char block[65536];
    memset(block, 'a', sizeof block);
    for (size_t left = n; left > 0;) {
        size_t k = left < sizeof block ? left : sizeof block;
        assert_int_equal(fwrite(block, 1, k, f), k);
        left -= k;
    }
    fputs(",K\nMug,K\n", f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_ten_mib_field_is_accepted(void **state)
{
    (void)state;
    const char *path = write_long_line("long.csv", (size_t)10 << 20);
    shelf_read_options o = opts_default();
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2);
    assert_int_equal(strlen(shelf_catalog_get(c, 0)->text), (size_t)10 << 20);
    assert_product(c, 1, "3", "Mug", "K", 3);
    shelf_catalog_free(c);
    unlink(path);
}

static void test_line_over_16_mib_is_rejected_and_reading_goes_on(void **state)
{
    (void)state;
    const char *path = write_long_line("huge.csv", (size_t)17 << 20);
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 2);
    assert_contains(msg, "line longer than 16 MiB");
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 1);
    assert_product(c, 0, "3", "Mug", "K", 3);
    shelf_catalog_free(c);
    unlink(path);
}

/* Product 2's title is a quoted field of n bytes whose lines look like rows of their own
 * ("x,Fake,Label"), between two good products. */
static const char *write_long_quoted_field(const char *name, size_t n)
{
    const char *path = path_of(name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("id,title,category\n1,Mug,K\n2,\"", f);
    static const char fake[] = "x,Fake,Label\n";
    for (size_t left = n; left >= sizeof fake - 1; left -= sizeof fake - 1)
        fputs(fake, f);
    fputs("end\",K\n3,Cup,K\n", f);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void test_oversized_quoted_field_is_skipped_to_its_real_end(void **state)
{
    (void)state;
    const char *path = write_long_quoted_field("quoted.csv", (size_t)17 << 20);
    shelf_read_options o = opts_default();
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "record longer than 16 MiB");
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 2); /* no row made up from inside the field */
    assert_product(c, 0, "1", "Mug", "K", 2);
    assert_product(c, 1, "3", "Cup", "K", (long)3 + ((17 << 20) / 13) + 1);
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    assert_int_equal(st.skipped, 1);
    shelf_catalog_free(c);
    unlink(path);
}

/* A bad byte after a closing quote must not make the reader resync inside the next
 * quoted field of the same record. */
static void test_bad_record_with_multiline_field_is_skipped_whole(void **state)
{
    (void)state;
    const char *path = write_text("badquote.csv", "id,title,category\n"
                                                  "1,\"a\"x,\"K\n2,Fake,Label\n3,Fake,Label\"\n"
                                                  "4,Cup,K\n");
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    shelf_catalog *c = load_ok(path, &o);
    assert_int_equal(shelf_catalog_size(c), 1);
    assert_product(c, 0, "4", "Cup", "K", 5);
    shelf_catalog_free(c);
    unlink(path);
}

/* /dev/zero: no line break ever. Every format stops at the line limit (or, skipping bad
 * rows, at the skip limit) instead of reading forever. */
static void test_input_without_line_breaks_fails_in_every_format(void **state)
{
    (void)state;
    const shelf_format formats[] = {SHELF_FORMAT_CSV, SHELF_FORMAT_TSV, SHELF_FORMAT_JSONL,
                                    SHELF_FORMAT_FASTTEXT};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        for (int skip = 0; skip <= 1; skip++) {
            shelf_read_options o = opts_default();
            o.format = formats[i];
            o.skip_bad = skip;
            const char *msg = load_fail("/dev/zero", &o, SHELF_EDATA);
            assert_contains(msg, "/dev/zero:1: ");
            assert_contains(msg, skip ? "longer than 64 MiB" : "longer than 16 MiB");
        }
    }
}

/* The same behind a header, and after a quote opened on a line that goes on forever. */
static void test_runaway_line_after_good_rows_stops_reading(void **state)
{
    (void)state;
    const char *path = path_of("runaway.csv");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("title,category\nMug,K\n\"", f);
    static char block[1 << 20];
    memset(block, 'a', sizeof block);
    for (int i = 0; i < 70; i++)
        assert_int_equal(fwrite(block, 1, sizeof block, f), sizeof block);
    fputs("\",K\nCup,K\n", f);
    assert_int_equal(fclose(f), 0);
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    const char *msg = load_fail(path, &o, SHELF_EDATA);
    assert_at(msg, path, 3);
    assert_contains(msg, "stopped reading");
    unlink(path);
}

static void test_reader_streams_and_reports_stats(void **state)
{
    (void)state;
    const char *path = write_text("stream.csv", "title,category\nMug,K\n,K\nCup,\nBowl,K\n");
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    shelf_reader *r = NULL;
    shelf_error err;
    assert_int_equal(shelf_reader_open(path, &o, &r, &err), SHELF_OK);
    shelf_product p;
    assert_int_equal(shelf_reader_next(r, &p, &err), SHELF_OK);
    assert_string_equal(p.text, "Mug");
    assert_int_equal(shelf_reader_next(r, &p, &err), SHELF_OK);
    assert_string_equal(p.text, "");
    assert_int_equal(shelf_reader_next(r, &p, &err), SHELF_OK);
    assert_string_equal(p.text, "Bowl");
    assert_int_equal(p.line, 5);
    assert_int_equal(shelf_reader_next(r, &p, &err), SHELF_END);
    shelf_read_stats st;
    shelf_reader_stats(r, &st);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.skipped, 1);
    assert_int_equal(st.empty_text, 1);
    assert_at(st.first_skip, path, 4);
    shelf_reader_close(r);
    shelf_reader_close(NULL);
    shelf_catalog_free(NULL);
}

static void test_reader_progress_counts_bytes_of_a_file(void **state)
{
    (void)state;
    const char *text = "title,category\nMug,K\nBowl,K\n";
    const char *path = write_text("progress.csv", text);
    shelf_read_options o = opts_default();
    shelf_reader *r = NULL;
    assert_int_equal(shelf_reader_open(path, &o, &r, NULL), SHELF_OK);
    uint64_t done, total;
    shelf_reader_progress(r, &done, &total);
    assert_int_equal(total, strlen(text));
    assert_true(done <= total);
    shelf_product p;
    while (shelf_reader_next(r, &p, NULL) == SHELF_OK)
        ;
    shelf_reader_progress(r, &done, &total);
    assert_int_equal(done, total);
    shelf_reader_close(r);
    shelf_reader_progress(NULL, &done, &total);
    assert_int_equal(total, 0);
}

/* ---- a product's text from its fields ------------------------------------------------- */

static char *joined(const span *f, int n, int *bad_field, size_t *bad_at)
{
    buf out;
    buf_init(&out);
    *bad_field = field_join_text(&out, f, n, NULL, NULL, bad_at);
    return buf_detach(&out);
}

static void test_text_fields_are_trimmed_and_joined_by_one_space(void **state)
{
    (void)state;
#define SPAN(s) {s, sizeof s - 1}
    span f[4] = {SPAN(" \tRed  mug \r\n"), {NULL, 0}, SPAN("   "), SPAN("ceramic\v")};
    int bad;
    size_t at;
    char *s = joined(f, 4, &bad, &at);
    assert_int_equal(bad, 0);
    assert_string_equal(s, "Red  mug ceramic"); /* inner spaces stay */
    free(s);
    s = joined(f + 1, 2, &bad, &at);
    assert_string_equal(s, "");
    free(s);
    span u[2] = {SPAN("ok"), SPAN("caf\xC3")};
#undef SPAN
    s = joined(u, 2, &bad, &at);
    assert_int_equal(bad, 2); /* the second field, from 1 */
    assert_int_equal(at, 3);
    free(s);
    buf out, fix;
    buf_init(&out);
    buf_init(&fix);
    long fixed = 0;
    assert_int_equal(field_join_text(&out, u, 2, &fix, &fixed, &at), 0);
    assert_string_equal(out.data, "ok caf\xEF\xBF\xBD");
    assert_int_equal(fixed, 1);
    buf_free(&out);
    buf_free(&fix);
}

/* ---- UTF-8 ----------------------------------------------------------------------------- */

static void test_utf8_valid_prefix_rejects_malformed_sequences(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t valid;
    } cases[] = {
        {"plain ascii", 11},
        {"caf\xC3\xA9", 5},
        {"\xE2\x82\xAC\xF0\x9F\x98\x80", 7},  /* euro sign, emoji */
        {"a\xC0\xAF", 1},                     /* overlong '/' */
        {"a\xE0\x80\xAF", 1},                 /* overlong, 3 bytes */
        {"a\xF0\x80\x80\xAF", 1},             /* overlong, 4 bytes */
        {"a\xED\xA0\x80", 1},                 /* surrogate U+D800 */
        {"a\xF4\x90\x80\x80", 1},             /* U+110000 */
        {"a\xF5\x80\x80\x80", 1},
        {"ab\xE2\x82", 2},                    /* truncated */
        {"\x80", 0},                          /* stray continuation byte */
        {"\xF4\x8F\xBF\xBF", 4},              /* U+10FFFF */
        {"\xEF\xBF\xBD", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(utf8_valid_prefix(cases[i].s, strlen(cases[i].s)), cases[i].valid);
}

static void test_utf8_fix_replaces_each_maximal_invalid_subpart(void **state)
{
    (void)state;
    /* truncated 3-byte sequence: one U+FFFD; overlong C0 AF: two; a lone 0xFF: one */
    const char *src = "a\xE2\x82" "b\xC0\xAF" "c\xFF";
    size_t n = strlen(src), replaced = 0;
    char dst[UTF8_FIX_MAX(16)];
    size_t out = utf8_fix(dst, src, n, &replaced);
    const char *want = "a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD" "c\xEF\xBF\xBD";
    assert_int_equal(out, strlen(want));
    assert_memory_equal(dst, want, out);
    assert_int_equal(replaced, 4);
    assert_int_equal(utf8_valid_prefix(dst, out), out);
    assert_int_equal(utf8_invalid_len("\xE2\x82" "b", 3), 2);
    assert_int_equal(utf8_invalid_len("ok", 2), 0);
}

/* ---- writer ---------------------------------------------------------------------------- */

/* Runs write() into a memory stream and returns what it wrote (static). */
static const char *capture(void (*write)(FILE *))
{
    static char out[4096];
    FILE *f = fmemopen(out, sizeof out, "w");
    assert_non_null(f);
    write(f);
    assert_int_equal(ferror(f), 0);
    fclose(f);
    return out;
}

static const char *const labels[] = {"Home > \"Deco\"", "A,B\\C\n\t\x01", "caf\xC3\xA9\xFF"};
static const float probs[] = {0.91f, 0.05f, 0.000012345f};

/* A row of n labels and probabilities, without back-off or modalities. */
static void write_plain(FILE *f, shelf_output_format fmt, int k, const char *id, int n,
                        const char *const *l, const float *p)
{
    shelf_output_columns c = {.format = fmt, .k = k};
    shelf_prediction pr = {.id = id, .n = n, .labels = l, .probs = p};
    assert_int_equal(shelf_write_prediction(f, &c, &pr, NULL), SHELF_OK);
}

static void write_header(FILE *f, shelf_output_format fmt, int k, int backoff, int modalities)
{
    shelf_output_columns c = {.format = fmt, .k = k, .backoff = backoff,
                             .modalities = modalities};
    assert_int_equal(shelf_write_prediction_header(f, &c, NULL), SHELF_OK);
}

static void write_jsonl(FILE *f)
{
    write_header(f, SHELF_OUTPUT_JSONL, 3, 0, 0);
    write_plain(f, SHELF_OUTPUT_JSONL, 3, "id\"1", 3, labels, probs);
    write_plain(f, SHELF_OUTPUT_JSONL, 3, NULL, 0, labels, probs);
}

static void write_csv(FILE *f)
{
    write_header(f, SHELF_OUTPUT_CSV, 3, 0, 0);
    write_plain(f, SHELF_OUTPUT_CSV, 3, "id,1", 2, labels, probs);
    write_plain(f, SHELF_OUTPUT_CSV, 3, "plain", 1, labels + 2, probs);
}

static void write_tsv(FILE *f)
{
    write_header(f, SHELF_OUTPUT_TSV, 2, 0, 0);
    write_plain(f, SHELF_OUTPUT_TSV, 2, "id\t1", 2, labels, probs);
}

static void test_writer_jsonl_escapes_strings(void **state)
{
    (void)state;
    assert_string_equal(capture(write_jsonl),
                        "{\"id\":\"id\\\"1\",\"labels\":[\"Home > \\\"Deco\\\"\","
                        "\"A,B\\\\C\\n\\t\\u0001\",\"caf\xC3\xA9\\ufffd\"],"
                        "\"probs\":[0.91,0.05,1.2345e-05]}\n"
                        "{\"id\":\"\",\"labels\":[],\"probs\":[]}\n");
}

static void test_writer_csv_quotes_when_needed(void **state)
{
    (void)state;
    assert_string_equal(capture(write_csv),
                        "id,label1,prob1,label2,prob2,label3,prob3\n"
                        "\"id,1\",\"Home > \"\"Deco\"\"\",0.91,\"A,B\\C\n\t\x01\",0.05,,\n"
                        "plain,caf\xC3\xA9\xFF,0.91,,,,\n");
}

static void test_writer_tsv_replaces_tabs_and_newlines(void **state)
{
    (void)state;
    assert_string_equal(capture(write_tsv), "id\tlabel1\tprob1\tlabel2\tprob2\n"
                                            "id 1\tHome > \"Deco\"\t0.91\tA,B\\C  \x01\t0.05\n");
    shelf_output_format f;
    shelf_error err = {0};
    assert_int_equal(shelf_output_format_parse("jsonl", &f, NULL), SHELF_OK);
    assert_int_equal(f, SHELF_OUTPUT_JSONL);
    assert_int_equal(shelf_output_format_parse("NDJSON", &f, NULL), SHELF_OK);
    assert_int_equal(f, SHELF_OUTPUT_JSONL);
    assert_int_equal(shelf_output_format_parse("tsv", &f, NULL), SHELF_OK);
    assert_int_equal(f, SHELF_OUTPUT_TSV);
    assert_int_equal(shelf_output_format_parse("parquet", &f, &err), SHELF_EINVAL);
    assert_string_equal(err.message, "unknown output format 'parquet' (jsonl, csv or tsv)");
    assert_int_equal(shelf_output_format_parse(NULL, &f, &err), SHELF_EINVAL);
}

/* One product backed off to an ancestor, one sent to review, classified by text and image. */
static void write_extras(FILE *f, shelf_output_format fmt)
{
    shelf_output_columns c = {.format = fmt, .k = 2, .backoff = 1, .modalities = 1,
                              .fusion = 1};
    assert_int_equal(shelf_write_prediction_header(f, &c, NULL), SHELF_OK);
    shelf_prediction partial = {.id = "p1", .n = 1, .labels = labels, .probs = probs,
                                .status = SHELF_BACKOFF_PARTIAL, .path = "Home",
                                .confidence = 0.96f, .used = SHELF_USED_TEXT | SHELF_USED_IMAGE,
                                .fusion = {0.25f, 1.5f}};
    shelf_prediction review = {.id = "p2", .n = 0, .status = SHELF_BACKOFF_REVIEW,
                               .path = "ignored", .confidence = 0.4f, .used = SHELF_USED_TEXT,
                               .fusion = {1, 0}};
    assert_int_equal(shelf_write_prediction(f, &c, &partial, NULL), SHELF_OK);
    assert_int_equal(shelf_write_prediction(f, &c, &review, NULL), SHELF_OK);
}

static void write_extras_jsonl(FILE *f) { write_extras(f, SHELF_OUTPUT_JSONL); }
static void write_extras_csv(FILE *f) { write_extras(f, SHELF_OUTPUT_CSV); }

static void test_writer_backoff_modalities_and_fusion_have_one_vocabulary(void **state)
{
    (void)state;
    assert_string_equal(capture(write_extras_jsonl),
                        "{\"id\":\"p1\",\"labels\":[\"Home > \\\"Deco\\\"\"],\"probs\":[0.91],"
                        "\"path\":\"Home\",\"confidence\":0.96,\"status\":\"partial\","
                        "\"modalities\":[\"text\",\"image\"],\"fusion\":{\"text\":0.25,\"image\":1.5}}\n"
                        "{\"id\":\"p2\",\"labels\":[],\"probs\":[],\"path\":null,"
                        "\"confidence\":0.4,\"status\":\"review\",\"modalities\":[\"text\"],"
                        "\"fusion\":{\"text\":1,\"image\":0}}\n");
    assert_string_equal(capture(write_extras_csv),
                        "id,label1,prob1,label2,prob2,path,confidence,status,modalities,"
                        "fusion_text,fusion_image\n"
                        "p1,\"Home > \"\"Deco\"\"\",0.91,,,Home,0.96,partial,text+image,0.25,1.5\n"
                        "p2,,,,,,0.4,review,text,1,0\n");
}

static void test_writer_refuses_bad_arguments(void **state)
{
    (void)state;
    shelf_output_columns c = {.format = SHELF_OUTPUT_CSV, .k = 1, .backoff = 1};
    shelf_prediction p = {.id = "x", .n = 1, .labels = labels, .probs = probs};
    shelf_error err = {0};
    FILE *f = fopen("/dev/null", "w");
    assert_non_null(f);
    assert_int_equal(shelf_write_prediction(NULL, &c, &p, &err), SHELF_EINVAL);
    assert_int_equal(shelf_write_prediction(f, NULL, &p, &err), SHELF_EINVAL);
    assert_int_equal(shelf_write_prediction(f, &c, NULL, &err), SHELF_EINVAL);
    p.status = (shelf_backoff_result)7;
    assert_int_equal(shelf_write_prediction(f, &c, &p, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "back-off status 7"));
    p.status = SHELF_BACKOFF_FULL;
    p.labels = NULL;
    assert_int_equal(shelf_write_prediction(f, &c, &p, &err), SHELF_EINVAL);
    p.labels = labels;
    c.format = (shelf_output_format)9;
    assert_int_equal(shelf_write_prediction_header(f, &c, &err), SHELF_EINVAL);
    assert_int_equal(shelf_write_prediction(f, &c, &p, &err), SHELF_EINVAL);
    fclose(f);
}

/* ---- output files ---------------------------------------------------------------------- */

static void assert_file_holds(const char *path, const char *want)
{
    char got[256] = "";
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    got[fread(got, 1, sizeof got - 1, f)] = '\0';
    fclose(f);
    assert_string_equal(got, want);
}

/* How many entries of the scratch directory start with prefix (temporary files). */
static int entries_starting(const char *prefix)
{
    DIR *d = opendir(scratch_dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void test_outfile_commit_replaces_the_target_whole(void **state)
{
    (void)state;
    const char *path = write_text("preds.csv", "old\n");
    shelf_outfile *o = NULL;
    shelf_error err = {0};
    assert_int_equal(shelf_outfile_open(path, &o, &err), SHELF_OK);
    fputs("new\n", shelf_outfile_stream(o));
    assert_file_holds(path, "old\n"); /* nothing shows before the commit */
    assert_int_equal(entries_starting("preds.csv.tmp."), 1);
    assert_int_equal(shelf_outfile_commit(o, &err), SHELF_OK);
    assert_file_holds(path, "new\n");
    assert_int_equal(entries_starting("preds.csv.tmp."), 0);
}

static void test_outfile_discard_leaves_the_old_file(void **state)
{
    (void)state;
    const char *path = write_text("keep.csv", "old\n");
    shelf_outfile *o = NULL;
    assert_int_equal(shelf_outfile_open(path, &o, NULL), SHELF_OK);
    fputs("half a fi", shelf_outfile_stream(o));
    shelf_outfile_discard(o);
    shelf_outfile_discard(NULL);
    assert_file_holds(path, "old\n");
    assert_int_equal(entries_starting("keep.csv.tmp."), 0);
}

static void test_outfile_check_refuses_what_it_must_not_replace(void **state)
{
    (void)state;
    shelf_error err = {0};
    shelf_outfile *o = (shelf_outfile *)&err;
    assert_int_equal(shelf_outfile_check("/dev/null", &err), SHELF_EIO);
    assert_non_null(strstr(err.message, "/dev/null: is a device"));
    assert_int_equal(shelf_outfile_check("/no/such/folder/x.csv", &err), SHELF_EIO);
    assert_non_null(strstr(err.message, "cannot write in /no/such/folder"));
    assert_int_equal(shelf_outfile_check("", &err), SHELF_EIO);
    assert_int_equal(shelf_outfile_open("/dev/null", &o, &err), SHELF_EIO);
    assert_null(o);
    assert_int_equal(shelf_outfile_open("x.csv", NULL, &err), SHELF_EINVAL);
    assert_int_equal(shelf_outfile_commit(NULL, &err), SHELF_EINVAL);
    assert_int_equal(shelf_outfile_check(path_of("new-name.csv"), &err), SHELF_OK);
}

static void test_outfile_flush_reports_a_full_disk(void **state)
{
    (void)state;
    shelf_error err = {0};
    FILE *f = fopen("/dev/full", "w");
    assert_non_null(f);
    fputs("x\n", f);
    assert_int_equal(shelf_outfile_flush(f, "out.jsonl", &err), SHELF_EIO);
    assert_string_equal(err.message, "out.jsonl: cannot write: No space left on device");
    fclose(f);
    assert_int_equal(shelf_outfile_flush(stdout, "standard output", &err), SHELF_OK);
    assert_int_equal(shelf_outfile_flush(NULL, "x", &err), SHELF_EINVAL);
}

/* ---- vectors ---------------------------------------------------------------------------- */

/* The bytes of a file, and how many. */
static size_t file_bytes(const char *path, unsigned char *out, size_t cap)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t n = fread(out, 1, cap, f);
    fclose(f);
    return n;
}

static const float three_vecs[3][2] = {{0.6f, 0.8f}, {1, 0}, {-0.25f, 1e-7f}};
static const char *const three_ids[3] = {"a", "line\nbreak\\x", NULL};

static void write_vectors(const char *path, const char *ids, shelf_vector_format fmt)
{
    shelf_vector_writer *w = NULL;
    shelf_error err = {0};
    assert_int_equal(shelf_vector_writer_open(path, ids, fmt, 2, &w, &err), SHELF_OK);
    assert_int_equal(shelf_vector_writer_add(w, three_ids, &three_vecs[0][0], 2, &err), SHELF_OK);
    assert_int_equal(shelf_vector_writer_add(w, three_ids + 2, &three_vecs[2][0], 1, &err),
                     SHELF_OK);
    assert_int_equal(shelf_vector_writer_commit(w, &err), SHELF_OK);
}

/* npy: numpy's header (magic, version 1.0, a dictionary with the shape, 64-byte aligned),
 * then the rows as little-endian float32; the ids beside, escaped. */
static void test_vectors_npy_holds_a_header_numpy_reads(void **state)
{
    (void)state;
    const char *path = path_of("v.npy");
    char ids[512];
    snprintf(ids, sizeof ids, "%s", path_of("v.npy.ids"));
    write_vectors(path, ids, shelf_vector_format_of(path));
    unsigned char b[512];
    size_t n = file_bytes(path, b, sizeof b);
    assert_int_equal(n, 128 + 3 * 2 * 4);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    size_t hlen = b[8] | (size_t)b[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(b[10 + hlen - 1], '\n');
    char header[256];
    memcpy(header, b + 10, hlen);
    header[hlen] = '\0';
    assert_non_null(strstr(header, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"));
    float got[6];
    memcpy(got, b + 10 + hlen, sizeof got);
    assert_memory_equal(got, three_vecs, sizeof got);
    assert_file_holds(ids, "a\nline\\nbreak\\\\x\n\n");
}

static void test_vectors_fvecs_and_jsonl(void **state)
{
    (void)state;
    const char *path = path_of("v.fvecs");
    write_vectors(path, NULL, shelf_vector_format_of(path)); /* no ids asked: none written */
    unsigned char b[512];
    assert_int_equal(file_bytes(path, b, sizeof b), 3 * (4 + 2 * 4));
    int32_t d;
    float v[2];
    memcpy(&d, b + 12, 4);
    memcpy(v, b + 16, 8);
    assert_int_equal(d, 2);
    assert_memory_equal(v, three_vecs[1], 8);
    path = path_of("v.jsonl");
    write_vectors(path, NULL, shelf_vector_format_of(path));
    assert_file_holds(path, "{\"id\":\"a\",\"vector\":[0.6,0.8]}\n"
                            "{\"id\":\"line\\nbreak\\\\x\",\"vector\":[1,0]}\n"
                            "{\"id\":\"\",\"vector\":[-0.25,1e-07]}\n");
}

static void test_vectors_refuse_bad_requests_and_keep_old_files(void **state)
{
    (void)state;
    shelf_vector_writer *w = (shelf_vector_writer *)state;
    shelf_error err = {0};
    shelf_vector_format f;
    assert_int_equal(shelf_vector_format_parse("NPY", &f, &err), SHELF_OK);
    assert_int_equal(f, SHELF_VECTORS_NPY);
    assert_int_equal(shelf_vector_format_parse("csv", &f, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "npy, fvecs or jsonl"));
    assert_int_equal(shelf_vector_format_of("x.FVECS"), SHELF_VECTORS_FVECS);
    assert_int_equal(shelf_vector_format_of(NULL), SHELF_VECTORS_JSONL);
    assert_int_equal(shelf_vector_writer_open(NULL, NULL, SHELF_VECTORS_NPY, 2, &w, &err),
                     SHELF_EINVAL);
    assert_null(w);
    assert_non_null(strstr(err.message, "need a file"));
    assert_int_equal(shelf_vector_writer_open("x.npy", NULL, SHELF_VECTORS_NPY, 0, &w, &err),
                     SHELF_EINVAL);
    assert_int_equal(shelf_vector_writer_open("x.npy", "x.npy", SHELF_VECTORS_NPY, 2, &w, &err),
                     SHELF_EINVAL);
    assert_int_equal(shelf_vector_writer_open("/dev/null", NULL, SHELF_VECTORS_NPY, 2, &w, &err),
                     SHELF_EIO);
    const char *path = write_text("old.npy", "old\n");
    assert_int_equal(shelf_vector_writer_open(path, NULL, SHELF_VECTORS_NPY, 2, &w, &err),
                     SHELF_OK);
    assert_int_equal(shelf_vector_writer_add(w, NULL, &three_vecs[0][0], 3, &err), SHELF_OK);
    shelf_vector_writer_discard(w);
    shelf_vector_writer_discard(NULL);
    assert_file_holds(path, "old\n");
    assert_int_equal(entries_starting("old.npy.tmp."), 0);
    assert_int_equal(shelf_vector_writer_commit(NULL, &err), SHELF_EINVAL);
}

/* ---- setup ----------------------------------------------------------------------------- */

/* ---- a catalog in parts (shelf_catalog_split, shelf_reader_open_part) ---------------- */

/* Every product of path as "LINE|ID|TEXT\n", read whole or part after part. */
static char *products_of(const char *path, shelf_format fmt, const shelf_catalog_part *parts,
                         int nparts)
{
    buf all;
    buf_init(&all);
    shelf_read_options o = opts_default();
    o.skip_bad = 1;
    o.format = fmt;
    for (int i = 0; i < (parts ? nparts : 1); i++) {
        shelf_reader *r = NULL;
        shelf_error err;
        shelf_status st = parts ? shelf_reader_open_part(path, &o, &parts[i], &r, &err)
                                : shelf_reader_open(path, &o, &r, &err);
        if (st != SHELF_OK)
            fail_msg("%s", err.message);
        shelf_product p;
        while ((st = shelf_reader_next(r, &p, &err)) == SHELF_OK)
            buf_printf(&all, "%ld|%s|%s\n", p.line, p.id, p.text);
        assert_int_equal(st, SHELF_END);
        shelf_reader_close(r);
    }
    return all.data ? all.data : strdup("");
}

static void parts_read_as_the_whole(const char *name, shelf_format fmt, const char *text)
{
    const char *path = write_text(name, text);
    shelf_read_options o = opts_default();
    o.format = fmt;
    char *whole = products_of(path, fmt, NULL, 0);
    assert_true(strlen(whole) > 0);
    for (int n = 1; n <= 7; n++) {
        shelf_catalog_part parts[7];
        shelf_error err;
        if (shelf_catalog_split(path, &o, n, parts, &err) != SHELF_OK)
            fail_msg("%s", err.message);
        for (int i = 1; i < n; i++) /* they follow one another and cover the file */
            assert_true(parts[i].start == parts[i - 1].end);
        assert_int_equal(parts[0].start, 0);
        char *joined = products_of(path, fmt, parts, n);
        if (strcmp(joined, whole) != 0)
            fail_msg("%s in %d parts:\n%s\nwhole:\n%s", name, n, joined, whole);
        free(joined);
    }
    free(whole);
}

static void test_parts_of_a_csv_with_quoted_line_breaks(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    buf_puts(&b, "id,title,category\n");
    for (int i = 0; i < 40; i++) { /* quoted breaks, doubled quotes, a quote in plain text */
        if (i % 3 == 0)
            buf_printf(&b, "%d,\"two\nlines, \"\"quoted\"\" %d\",A\n", i, i);
        else if (i % 3 == 1)
            buf_printf(&b, "%d,a 5\" screen %d,B\r\n", i, i);
        else
            buf_printf(&b, "%d,\"\n\n%d\n\",C\n\n", i, i);
    }
    buf_puts(&b, "40,\"bad\"x,C\n41,last,A\n"); /* a bad record, skipped in every part */
    parts_read_as_the_whole("parts.csv", SHELF_FORMAT_AUTO, b.data);
    buf_free(&b);
}

static void test_parts_of_tsv_jsonl_and_fasttext(void **state)
{
    (void)state;
    buf t, j, f;
    buf_init(&t), buf_init(&j), buf_init(&f);
    buf_puts(&t, "id\ttitle\tcategory\n");
    buf_puts(&j, "\n\n"); /* blank lines before the object that names the columns */
    for (int i = 0; i < 30; i++) {
        buf_printf(&t, "%d\ttitle \"%d\"\tA\n", i, i);
        buf_printf(&j, "{\"id\": \"%d\", \"title\": \"t\\n%d\", \"category\": \"B\"}\n", i, i);
        buf_printf(&f, "__label__c%d word%d more\n", i % 3, i);
    }
    parts_read_as_the_whole("parts.tsv", SHELF_FORMAT_AUTO, t.data);
    parts_read_as_the_whole("parts.jsonl", SHELF_FORMAT_AUTO, j.data);
    parts_read_as_the_whole("parts.txt", SHELF_FORMAT_FASTTEXT, f.data);
    buf_free(&t), buf_free(&j), buf_free(&f);
}

static void test_parts_refused_where_they_cannot_be(void **state)
{
    (void)state;
    shelf_catalog_part parts[2];
    shelf_error err;
    const char *arr = write_text("arr.json", "[{\"title\": \"a\", \"category\": \"b\"}]\n");
    shelf_read_options o = opts_default();
    o.format = SHELF_FORMAT_JSONL;
    assert_int_equal(shelf_catalog_split(arr, &o, 2, parts, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "JSON array"));
    const char *csv = "id,title,category\n1,a,b\n";
    gzFile g = gzopen(path_of("c.csv.gz"), "wb");
    gzwrite(g, csv, (unsigned)strlen(csv));
    gzclose(g);
    assert_int_equal(shelf_catalog_split(path_of("c.csv.gz"), NULL, 2, parts, &err),
                     SHELF_EINVAL);
    assert_non_null(strstr(err.message, "compressed"));
}

static int setup(void **state)
{
    (void)state;
    return scratch_setup("io");
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv_quoted_fields_hold_commas_quotes_and_newlines),
        cmocka_unit_test(test_an_empty_buffer_detaches_as_an_empty_string),
        cmocka_unit_test(test_unreadable_labels_stop_only_readers_that_need_them),
        cmocka_unit_test(test_catalog_view_shares_the_products_it_picks),
        cmocka_unit_test(test_csv_skips_bom_and_accepts_crlf),
        cmocka_unit_test(test_csv_line_numbers_follow_multiline_records),
        cmocka_unit_test(test_csv_garbage_after_closing_quote_is_a_bad_row),
        cmocka_unit_test(test_csv_unterminated_quote_is_one_bad_record),
        cmocka_unit_test(test_csv_wrong_field_count_is_a_bad_row),
        cmocka_unit_test(test_tsv_splits_on_tabs_without_quoting),
        cmocka_unit_test(test_jsonl_values_become_text_and_blank_lines_are_skipped),
        cmocka_unit_test(test_jsonl_label_array_is_the_path_levels),
        cmocka_unit_test(test_jsonl_truncated_or_non_object_lines_are_bad_rows),
        cmocka_unit_test(test_json_array_of_objects_is_read_element_by_element),
        cmocka_unit_test(test_jsonl_first_object_decides_the_columns),
        cmocka_unit_test(test_fasttext_label_underscores_become_spaces),
        cmocka_unit_test(test_default_text_columns_are_joined_without_empty_parts),
        cmocka_unit_test(test_text_columns_option_selects_and_orders_columns),
        cmocka_unit_test(test_kept_columns_are_carried_through_in_every_format),
        cmocka_unit_test(test_no_default_text_column_is_an_error_listing_columns),
        cmocka_unit_test(test_label_column_missing_is_an_error_only_when_required),
        cmocka_unit_test(test_id_column_defaults_to_the_line_number),
        cmocka_unit_test(test_label_paths_are_trimmed),
        cmocka_unit_test(test_empty_label_is_a_bad_row),
        cmocka_unit_test(test_empty_labels_are_summed_up_in_one_message),
        cmocka_unit_test(test_max_depth_keeps_the_first_levels_of_a_path),
        cmocka_unit_test(test_image_column_is_trimmed_and_empty_when_absent),
        cmocka_unit_test(test_image_column_option_names_a_column_that_must_exist),
        cmocka_unit_test(test_jsonl_image_key_is_looked_up_in_every_object),
        cmocka_unit_test(test_image_reference_with_invalid_utf8_is_a_bad_row),
        cmocka_unit_test(test_empty_file_is_an_error_in_every_format),
        cmocka_unit_test(test_header_only_catalog_has_no_products),
        cmocka_unit_test(test_all_rows_skipped_says_why),
        cmocka_unit_test(test_unknown_extension_asks_for_format),
        cmocka_unit_test(test_missing_file_names_the_file_and_reason),
        cmocka_unit_test(test_stdin_is_csv_named_stdin_in_messages),
        cmocka_unit_test(test_gzip_input_is_read_in_every_format),
        cmocka_unit_test(test_truncated_gzip_is_a_read_error),
        cmocka_unit_test(test_no_header_names_columns_by_number),
        cmocka_unit_test(test_delimiter_is_chosen_or_guessed_from_the_first_line),
        cmocka_unit_test(test_stdin_that_is_not_csv_says_which_format),
        cmocka_unit_test(test_header_with_binary_or_bad_utf8_is_a_file_error),
        cmocka_unit_test(test_invalid_utf8_is_an_error_naming_column_and_byte),
        cmocka_unit_test(test_invalid_utf8_rows_are_skipped_under_skip_bad),
        cmocka_unit_test(test_invalid_utf8_is_replaced_under_fix_utf8),
        cmocka_unit_test(test_nul_byte_in_a_row_is_binary_data),
        cmocka_unit_test(test_random_binary_bytes_give_errors_not_crashes),
        cmocka_unit_test(test_ten_mib_field_is_accepted),
        cmocka_unit_test(test_line_over_16_mib_is_rejected_and_reading_goes_on),
        cmocka_unit_test(test_oversized_quoted_field_is_skipped_to_its_real_end),
        cmocka_unit_test(test_bad_record_with_multiline_field_is_skipped_whole),
        cmocka_unit_test(test_input_without_line_breaks_fails_in_every_format),
        cmocka_unit_test(test_runaway_line_after_good_rows_stops_reading),
        cmocka_unit_test(test_reader_streams_and_reports_stats),
        cmocka_unit_test(test_reader_progress_counts_bytes_of_a_file),
        cmocka_unit_test(test_text_fields_are_trimmed_and_joined_by_one_space),
        cmocka_unit_test(test_utf8_valid_prefix_rejects_malformed_sequences),
        cmocka_unit_test(test_utf8_fix_replaces_each_maximal_invalid_subpart),
        cmocka_unit_test(test_writer_jsonl_escapes_strings),
        cmocka_unit_test(test_writer_csv_quotes_when_needed),
        cmocka_unit_test(test_writer_tsv_replaces_tabs_and_newlines),
        cmocka_unit_test(test_writer_backoff_modalities_and_fusion_have_one_vocabulary),
        cmocka_unit_test(test_writer_refuses_bad_arguments),
        cmocka_unit_test(test_outfile_commit_replaces_the_target_whole),
        cmocka_unit_test(test_outfile_discard_leaves_the_old_file),
        cmocka_unit_test(test_outfile_check_refuses_what_it_must_not_replace),
        cmocka_unit_test(test_outfile_flush_reports_a_full_disk),
        cmocka_unit_test(test_vectors_npy_holds_a_header_numpy_reads),
        cmocka_unit_test(test_vectors_fvecs_and_jsonl),
        cmocka_unit_test(test_vectors_refuse_bad_requests_and_keep_old_files),
        cmocka_unit_test(test_parts_of_a_csv_with_quoted_line_breaks),
        cmocka_unit_test(test_parts_of_tsv_jsonl_and_fasttext),
        cmocka_unit_test(test_parts_refused_where_they_cannot_be),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
