/* The core: FNV-1a, pinned by its published test vectors and by values computed
 * independently (a Python transcription) for bytes >= 0x80; label path queries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/hash.h"
#include "shelf.h"

static void fnv1a_matches_published_vectors(void **state)
{
    (void)state;
    assert_true(hash_fnv1a(HASH_FNV_BASIS, "", 0) == 0xcbf29ce484222325ULL);
    assert_true(hash_fnv1a(HASH_FNV_BASIS, "a", 1) == 0xaf63dc4c8601ec8cULL);
    assert_true(hash_fnv1a(HASH_FNV_BASIS, "foobar", 6) == 0x85944171f73967e8ULL);
}

static void fnv1a_hashes_high_bytes_as_unsigned(void **state)
{
    (void)state;
    assert_true(hash_fnv1a(HASH_FNV_BASIS, "\xff\x80", 2) == 0x0a9a2607b6f6e56aULL);
    assert_true(hash_fnv1a(HASH_FNV_BASIS, "短袖", strlen("短袖")) == 0xcdf9b1d444e95f06ULL);
}

static void label_parent_is_the_path_before_the_last_separator(void **state)
{
    (void)state;
    size_t len = 99;
    assert_int_equal(shelf_label_parent("Apparel > Topwear > Tshirts", NULL, &len), 1);
    assert_int_equal(len, strlen("Apparel > Topwear"));
    assert_int_equal(shelf_label_parent("Apparel > Topwear", SHELF_DEFAULT_LABEL_SEP, &len), 1);
    assert_int_equal(len, strlen("Apparel"));
    assert_int_equal(shelf_label_parent("a/b/c", "/", &len), 1);
    assert_int_equal(len, 3);
    assert_int_equal(shelf_label_parent("a/b/c", "/", NULL), 1);
}

static void top_level_labels_have_no_parent(void **state)
{
    (void)state;
    size_t len = 99;
    assert_int_equal(shelf_label_parent("Apparel", NULL, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(shelf_label_parent("", NULL, &len), 0);
    assert_int_equal(shelf_label_parent("a > b", "", &len), 0); /* "" splits nothing */
    assert_int_equal(shelf_label_parent("a > b", "/", &len), 0);
}

static void label_parts_split_left_to_right_without_overlap(void **state)
{
    (void)state;
    size_t len = 99;
    /* "a---b".split("--") is ["a", "-b"]: the parent is "a", not "a-" */
    assert_int_equal(shelf_label_parent("a---b", "--", &len), 1);
    assert_int_equal(len, 1);
    /* an empty first part is a parent all the same */
    assert_int_equal(shelf_label_parent(" > b", NULL, &len), 1);
    assert_int_equal(len, 0);
}

static int under(const char *label, const char *path, const char *sep)
{
    return shelf_label_is_under(label, path, strlen(path), sep);
}

static void label_is_under_its_ancestors_and_itself(void **state)
{
    (void)state;
    assert_true(under("Apparel > Topwear > Tshirts", "Apparel > Topwear", NULL));
    assert_true(under("Apparel > Topwear > Tshirts", "Apparel", NULL));
    assert_true(under("Apparel > Topwear > Tshirts", "Apparel > Topwear > Tshirts", NULL));
    assert_true(under("a/b", "a", "/"));
    assert_true(under("a", "a", ""));
}

static void label_is_not_under_a_part_of_a_level(void **state)
{
    (void)state;
    assert_false(under("Apparel > Topwear", "Apparel > Top", NULL));
    assert_false(under("Apparel > Topwear", "Apparel >", NULL));
    assert_false(under("Apparel", "Apparel > Topwear", NULL));
    assert_false(under("Footwear > Shoes", "Apparel", NULL));
    assert_false(under("a/b", "a", "")); /* "" splits nothing: only the label itself */
    assert_false(under("a > b", "a", "/"));
}

static void label_is_under_a_prefix_asked_in_place(void **state)
{
    (void)state;
    const char *best = "Apparel > Topwear > Tshirts";
    assert_true(shelf_label_is_under("Apparel > Topwear > Shirts", best, 17, NULL));
    assert_true(shelf_label_is_under("Apparel > Topwear", best, 17, NULL));
    assert_false(shelf_label_is_under("Apparel > Bottomwear", best, 17, NULL));
    assert_false(shelf_label_is_under("Apparel", best, 17, NULL)); /* shorter than the path */
    assert_false(shelf_label_is_under("anything", best, 0, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fnv1a_matches_published_vectors),
        cmocka_unit_test(fnv1a_hashes_high_bytes_as_unsigned),
        cmocka_unit_test(label_parent_is_the_path_before_the_last_separator),
        cmocka_unit_test(top_level_labels_have_no_parent),
        cmocka_unit_test(label_parts_split_left_to_right_without_overlap),
        cmocka_unit_test(label_is_under_its_ancestors_and_itself),
        cmocka_unit_test(label_is_not_under_a_part_of_a_level),
        cmocka_unit_test(label_is_under_a_prefix_asked_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
