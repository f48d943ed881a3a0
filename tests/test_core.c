/* The core: FNV-1a, pinned by its published test vectors and by values computed
 * independently (a Python transcription) for bytes >= 0x80; label path queries; error
 * messages; the allocator's fault injection, and through it every allocation failure of the
 * arena, the buffer, growing arrays, the string map and the thread pool (each a clean -1 or
 * NULL, with nothing leaked: the sanitizer build runs these tests); the random numbers; the
 * pool's split of work; fmt_g6 against printf's "%.6g". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/fmt_float.h"
#include "core/grow.h"
#include "core/hash.h"
#include "core/mem.h"
#include "core/rng.h"
#include "core/strmap.h"
#include "core/threadpool.h"
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

/* ---- error */

static void err_set_formats_and_returns_the_code(void **state)
{
    (void)state;
    shelf_error e = {0};
    shelf_status st = err_set(&e, SHELF_EDATA, "%s:%d: column '%s' is empty", "a.csv", 7, "x");
    assert_int_equal(st, SHELF_EDATA);
    assert_int_equal(e.code, SHELF_EDATA);
    assert_string_equal(e.message, "a.csv:7: column 'x' is empty");
    assert_int_equal(err_set(NULL, SHELF_EIO, "ignored %d", 1), SHELF_EIO);
}

static void err_set_escapes_control_characters_and_stays_within_its_buffer(void **state)
{
    (void)state;
    shelf_error e;
    err_set(&e, SHELF_EMODEL, "label \x1b[2J%s", "\x7f!");
    assert_string_equal(e.message, "label \\x1b[2J\\x7f!");
    char long_text[3 * SHELF_ERROR_MAX];
    memset(long_text, '\n', sizeof long_text - 1); /* each grows to four characters */
    long_text[sizeof long_text - 1] = '\0';
    err_set(&e, SHELF_EDATA, "%s", long_text);
    size_t len = strnlen(e.message, sizeof e.message);
    assert_true(len < sizeof e.message);
    assert_int_equal(len % 4, 0); /* no escape cut in half */
    assert_int_equal(strncmp(e.message, "\\x0a\\x0a", 8), 0);
}

static void every_status_has_its_own_text(void **state)
{
    (void)state;
    const shelf_status all[] = {SHELF_OK, SHELF_END, SHELF_ENOMEM, SHELF_EIO, SHELF_EINVAL,
                                SHELF_EDATA, SHELF_EMODEL, SHELF_EVERSION};
    const size_t n = sizeof all / sizeof *all;
    for (size_t i = 0; i < n; i++) {
        assert_true(strlen(shelf_strerror(all[i])) > 0);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(shelf_strerror(all[i]), shelf_strerror(all[j]));
    }
    assert_string_equal(shelf_strerror((shelf_status)99), "unknown status");
}

/* ---- mem: fault injection */

static void mem_fail_at_fails_only_the_nth_allocation(void **state)
{
    (void)state;
    mem_fail_at(3, 0);
    void *a = mem_alloc(8), *b = mem_alloc(8), *c = mem_alloc(8), *d = mem_alloc(8);
    mem_fail_at(0, 0);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_non_null(d); /* one-shot: the next one succeeds */
    mem_free(a);
    mem_free(b);
    mem_free(d);
}

static void mem_fail_at_persistent_fails_every_later_allocation(void **state)
{
    (void)state;
    mem_fail_at(2, 1);
    void *a = mem_alloc(8);
    assert_non_null(a);
    assert_null(mem_alloc(8));
    assert_null(mem_calloc(2, 8));
    assert_null(mem_strdup("x"));
    void *keep = a;
    assert_null(mem_realloc(a, 64)); /* and leaves a as it was */
    assert_int_equal(mem_failed(), 1);
    mem_fail_at(0, 0);
    assert_int_equal(mem_failed(), 0);
    mem_free(keep);
}

static void mem_calls_counts_allocations_since_mem_fail_at(void **state)
{
    (void)state;
    mem_fail_at(ULONG_MAX, 0); /* counts, never fails */
    assert_int_equal(mem_calls(), 0);
    void *a = mem_alloc(1), *b = mem_calloc(3, 4);
    char *c = mem_strndup("abc", 2);
    a = mem_realloc(a, 100);
    assert_int_equal(mem_calls(), 4);
    assert_int_equal(mem_failed(), 0);
    mem_fail_at(0, 0);
    mem_free(a);
    mem_free(b);
    mem_free(c);
}

static void mem_calloc_overflow_returns_null(void **state)
{
    (void)state;
    assert_null(mem_calloc(SIZE_MAX / 2, 3));
    assert_null(mem_calloc(3, SIZE_MAX / 2));
    void *z = mem_calloc(0, 0); /* a valid pointer to nothing, freeable */
    assert_non_null(z);
    mem_free(z);
    mem_free(NULL);
}

static void mem_strndup_copies_at_most_n_bytes(void **state)
{
    (void)state;
    char *a = mem_strndup("hello", 3), *b = mem_strndup("hi", 10), *c = mem_strdup("");
    assert_string_equal(a, "hel");
    assert_string_equal(b, "hi");
    assert_string_equal(c, "");
    mem_free(a);
    mem_free(b);
    mem_free(c);
}

/* ---- arena */

static void arena_keeps_many_strings_apart(void **state)
{
    (void)state;
    enum { N = 50000 }; /* past one block of 1 MiB */
    arena a;
    arena_init(&a);
    char **s = malloc(N * sizeof *s), want[32];
    for (int i = 0; i < N; i++) {
        int len = snprintf(want, sizeof want, "string %d", i);
        s[i] = arena_strndup(&a, want, (size_t)len);
        assert_non_null(s[i]);
    }
    for (int i = 0; i < N; i++) {
        snprintf(want, sizeof want, "string %d", i);
        assert_string_equal(s[i], want);
    }
    free(s);
    arena_free(&a);
    assert_null(a.head);
    arena_free(&a); /* twice is harmless */
}

static void arena_hands_out_large_and_aligned_blocks(void **state)
{
    (void)state;
    arena a;
    arena_init(&a);
    char *small = arena_alloc(&a, 3);
    size_t big_n = (size_t)3 << 20; /* larger than a block */
    char *big = arena_alloc(&a, big_n);
    char *after = arena_alloc(&a, 1);
    assert_non_null(small);
    assert_non_null(big);
    assert_non_null(after);
    memset(big, 0x5a, big_n);
    small[0] = 1;
    after[0] = 2;
    assert_int_equal(big[0], 0x5a);
    assert_int_equal(big[big_n - 1], 0x5a);
    for (size_t n = 0; n < 40; n++) {
        void *p = arena_alloc(&a, n);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
    }
    char *cut = arena_strndup(&a, "abcdef", 3);
    assert_string_equal(cut, "abc");
    assert_null(arena_alloc(&a, SIZE_MAX)); /* no wrap-around to a small block */
    arena_free(&a);
}

static void arena_out_of_memory_returns_null_and_keeps_earlier_strings(void **state)
{
    (void)state;
    arena a;
    arena_init(&a);
    char *first = arena_strndup(&a, "first", 5);
    mem_fail_at(1, 1);
    assert_null(arena_alloc(&a, (size_t)2 << 20)); /* needs a block of its own */
    assert_null(arena_strndup(&a, "x", (size_t)2 << 20));
    mem_fail_at(0, 0);
    assert_string_equal(first, "first");
    arena_free(&a);
}

/* ---- buf */

static void buf_printf_grows_past_its_first_capacity(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    for (int i = 0; i < 1000; i++)
        buf_printf(&b, "%d,", i);
    buf_puts(&b, "end");
    assert_false(b.oom);
    char *s = buf_detach(&b);
    assert_non_null(s);
    assert_int_equal(strncmp(s, "0,1,2,", 6), 0);
    assert_non_null(strstr(s, ",998,999,end"));
    assert_int_equal(s[strlen(s) - 1], 'd');
    assert_null(b.data); /* detached: the buffer is empty again */
    assert_int_equal(b.len, 0);
    free(s);
}

static void buf_put_escaped_shows_control_characters_as_hex(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    buf_put_escaped(&b, "a\x1b[31mb\tc\x7f\n\xc3\xa9");
    char *s = buf_detach(&b);
    assert_string_equal(s, "a\\x1b[31mb\\x09c\\x7f\\x0a\xc3\xa9"); /* UTF-8 passes */
    free(s);
    buf_init(&b);
    buf_put_escaped(&b, "");
    s = buf_detach(&b);
    assert_string_equal(s, "");
    free(s);
}

static void buf_detach_is_always_nul_terminated(void **state)
{
    (void)state;
    buf b;
    buf_init(&b);
    char *s = buf_detach(&b); /* nothing written */
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s);
    buf_init(&b);
    buf_append(&b, "abc", 2);
    assert_int_equal(buf_reserve(&b, 100), 0);
    s = buf_detach(&b);
    assert_string_equal(s, "ab");
    free(s);
}

static void buf_out_of_memory_is_sticky_and_detaches_null(void **state)
{
    (void)state;
    for (unsigned long k = 1;; k++) {
        buf b;
        buf_init(&b);
        mem_fail_at(k, 0);
        for (int i = 0; i < 200; i++)
            buf_printf(&b, "line %d\n", i);
        char *s = buf_detach(&b);
        int failed = mem_failed();
        mem_fail_at(0, 0);
        if (!failed) {
            assert_non_null(s);
            assert_non_null(strstr(s, "line 199\n"));
            free(s);
            break;
        }
        assert_null(s); /* even though later growth would have succeeded */
        assert_null(b.data);
    }
    buf b;
    buf_init(&b);
    buf_puts(&b, "x");
    assert_int_equal(buf_reserve(&b, SIZE_MAX), -1); /* too large: no wrap-around */
    assert_true(b.oom);
    buf_puts(&b, "y");
    assert_null(buf_detach(&b));
}

/* ---- grow */

static void grow_array_doubles_and_keeps_contents(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(grow_array((void **)&a, &cap, 1, sizeof *a, 16), 0);
    assert_int_equal(cap, 16);
    for (int i = 0; i < 16; i++)
        a[i] = i;
    assert_int_equal(grow_array((void **)&a, &cap, 17, sizeof *a, 16), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(grow_array((void **)&a, &cap, 20, sizeof *a, 16), 0); /* fits */
    assert_int_equal(cap, 32);
    assert_int_equal(grow_array((void **)&a, &cap, 1000, sizeof *a, 16), 0);
    assert_int_equal(cap, 1024);
    for (int i = 0; i < 16; i++)
        assert_int_equal(a[i], i);
    mem_free(a);
    a = NULL;
    cap = 0;
    assert_int_equal(grow_array((void **)&a, &cap, 3, sizeof *a, 0), 0); /* no minimum */
    assert_true(cap >= 3);
    mem_free(a);
}

static void grow_array_failure_leaves_the_array_unchanged(void **state)
{
    (void)state;
    int *a = NULL;
    size_t cap = 0;
    assert_int_equal(grow_array((void **)&a, &cap, 4, sizeof *a, 4), 0);
    int *before = a;
    a[3] = 42;
    mem_fail_at(1, 0);
    assert_int_equal(grow_array((void **)&a, &cap, 5, sizeof *a, 4), -1);
    mem_fail_at(0, 0);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 4);
    assert_int_equal(a[3], 42);
    /* a size that does not fit in size_t fails the same way, without wrapping around */
    assert_int_equal(grow_array((void **)&a, &cap, SIZE_MAX / 2, sizeof *a, 4), -1);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 4);
    mem_free(a);
}

/* ---- rng */

static void rng_sequences_repeat_with_the_seed(void **state)
{
    (void)state;
    rng a, b, c;
    rng_seed(&a, 42);
    rng_seed(&b, 42);
    rng_seed(&c, 43);
    int differ = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = rng_next(&a);
        assert_true(x == rng_next(&b));
        differ += x != rng_next(&c);
    }
    assert_true(differ > 90);
    rng_seed(&a, 0); /* seed 0 still gives a working generator */
    assert_true(rng_next(&a) != 0 || rng_next(&a) != 0);
}

static void rng_floats_lie_in_zero_one(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 7);
    double sum = 0;
    enum { N = 100000 };
    for (int i = 0; i < N; i++) {
        float f = rng_float(&r);
        assert_true(f >= 0.0f && f < 1.0f);
        sum += f;
    }
    assert_true(sum / N > 0.49 && sum / N < 0.51);
    for (int i = 0; i < 1000; i++)
        assert_true(rng_below(&r, 7) < 7);
    assert_true(rng_below(&r, 0) == 0);
}

static void rng_shuffle_is_a_permutation(void **state)
{
    (void)state;
    enum { N = 1000 };
    uint32_t a[N];
    int seen[N] = {0}, moved = 0;
    for (uint32_t i = 0; i < N; i++)
        a[i] = i;
    rng r;
    rng_seed(&r, 3);
    rng_shuffle_u32(&r, a, N);
    for (uint32_t i = 0; i < N; i++) {
        assert_true(a[i] < N);
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    assert_true(moved > N / 2);
    rng_shuffle_u32(&r, a, 0); /* empty and single arrays are fine */
    rng_shuffle_u32(&r, a, 1);
}

/* ---- strmap */

static void strmap_interns_in_first_seen_order(void **state)
{
    (void)state;
    strmap m;
    strmap_init(&m);
    assert_int_equal(strmap_find(&m, "a"), -1); /* empty */
    assert_int_equal(strmap_intern(&m, "shoes"), 0);
    assert_int_equal(strmap_intern(&m, "shirts"), 1);
    assert_int_equal(strmap_intern(&m, "shoes"), 0);
    assert_int_equal(strmap_intern(&m, ""), 2);
    assert_int_equal(strmap_find(&m, "shirts"), 1);
    assert_int_equal(strmap_find(&m, ""), 2);
    assert_int_equal(strmap_find(&m, "shoe"), -1);
    assert_string_equal(m.keys[1], "shirts");
    strmap_free(&m);
}

static void strmap_keeps_ids_across_growth(void **state)
{
    (void)state;
    enum { N = 20000 };
    strmap m;
    strmap_init(&m);
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(strmap_intern(&m, key), i);
    }
    assert_int_equal(m.n, N);
    for (int i = N - 1; i >= 0; i--) {
        snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(strmap_find(&m, key), i);
        assert_int_equal(strmap_intern(&m, key), i);
        assert_string_equal(m.keys[i], key);
    }
    assert_int_equal(strmap_find(&m, "key-20000"), -1);
    strmap_free(&m);
}

static void strmap_out_of_memory_returns_minus_one_and_keeps_the_map(void **state)
{
    (void)state;
    enum { N = 300 }; /* past the first slot table and key array */
    char key[32];
    for (unsigned long k = 1;; k++) {
        strmap m;
        strmap_init(&m);
        mem_fail_at(k, 0);
        long failed_at = -1;
        for (int i = 0; i < N && failed_at < 0; i++) {
            snprintf(key, sizeof key, "k%d", i);
            long id = strmap_intern(&m, key);
            if (id < 0)
                failed_at = i;
            else
                assert_int_equal(id, i);
        }
        int failed = mem_failed();
        mem_fail_at(0, 0);
        assert_int_equal(failed, failed_at >= 0);
        if (failed_at >= 0) { /* the map holds what came before, and takes the rest */
            assert_int_equal(m.n, failed_at);
            for (int i = 0; i < N; i++) {
                snprintf(key, sizeof key, "k%d", i);
                assert_int_equal(strmap_intern(&m, key), i);
            }
        }
        strmap_free(&m);
        if (!failed)
            break;
    }
}

/* ---- fmt_float */

static void expect_g6(float v)
{
    char want[64], got[FMT_G6_MAX];
    snprintf(want, sizeof want, "%.6g", (double)v);
    size_t len = fmt_g6(got, v);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
}

static void fmt_g6_writes_what_printf_writes(void **state)
{
    (void)state;
    const float edges[] = {0.0f, -0.0f, 1, -1, 0.5f, 1e-4f, 1.00001e-4f, 9.999995e-5f,
                           0.000123456f, 999999, 999999.5f, 1e6f, 123456.5f, 0.1f, 9.5f,
                           99999.95f, 0.99999949f, 0.9999995f, 2.5f, 1e-5f, 3e38f, 1e-38f,
                           1.5e-45f, 12345.65f, 1.234565f, 100, 1000.5f, 10.25f};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
        expect_g6(edges[i]);
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < 2000000; i++) {
        /* every magnitude: random bits; the usual one: weights and probabilities */
        uint32_t bits = (uint32_t)rng_next(&r);
        float v;
        memcpy(&v, &bits, sizeof v);
        if (i % 2)
            v = (rng_float(&r) - 0.5f) * (float)(1 << (i % 24));
        if (v != v || v - v != 0) /* NaN, infinities: not for explanations */
            continue;
        expect_g6(v);
    }
    /* ties at the sixth digit: x.xxxxx5 exactly, as a float holds it */
    for (int i = 0; i < 100000; i++)
        expect_g6((float)i + 0.5f);
    for (int i = 0; i < 100000; i++)
        expect_g6((float)i * 0.125f);
}

static void fmt_uint_writes_decimal(void **state)
{
    (void)state;
    const unsigned long long cases[] = {0, 7, 10, 99, 12345, 18446744073709551615ULL};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[32], got[24];
        snprintf(want, sizeof want, "%llu", cases[i]);
        assert_int_equal(fmt_uint(got, cases[i]), strlen(want));
        assert_string_equal(got, want);
    }
}

/* ---- threadpool */

static void pool_split_covers_every_item_once(void **state)
{
    (void)state;
    const size_t ns[] = {0, 1, 2, 7, 64, 1000, 1001};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
        for (int t = 1; t <= 70; t++) {
            size_t expect = 0, lo = ns[i], hi = 0;
            for (int tid = 0; tid < t; tid++) {
                size_t b, e;
                pool_split(ns[i], tid, t, &b, &e);
                assert_int_equal(b, expect); /* contiguous, in thread order */
                assert_true(e >= b);
                assert_true(e - b <= ns[i] / (size_t)t + 1); /* balanced */
                expect = e;
                lo = e - b < lo ? e - b : lo;
                hi = e - b > hi ? e - b : hi;
            }
            assert_int_equal(expect, ns[i]);
            assert_true(hi - lo <= 1);
        }
}

typedef struct run_log {
    int runs[64];
    int nthreads[64];
} run_log;

static void record(void *ctx, int tid, int nthreads)
{
    run_log *log = ctx;
    log->runs[tid]++; /* each tid is one thread: no two write the same slot */
    log->nthreads[tid] = nthreads;
}

static void pool_run_runs_every_thread_once(void **state)
{
    (void)state;
    const int sizes[] = {1, 2, 3, 8};
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        thread_pool *p = pool_new(sizes[s]);
        assert_non_null(p);
        int n = pool_threads(p);
        assert_int_equal(n, sizes[s]);
        for (int round = 1; round <= 50; round++) {
            run_log log = {{0}, {0}};
            pool_run(p, record, &log);
            for (int t = 0; t < 64; t++) {
                assert_int_equal(log.runs[t], t < n);
                if (t < n)
                    assert_int_equal(log.nthreads[t], n);
            }
        }
        pool_free(p);
    }
    pool_free(NULL);
    assert_true(pool_cores() >= 1);
    thread_pool *all = pool_new(0); /* all cores */
    assert_non_null(all);
    assert_true(pool_threads(all) >= 1);
    pool_free(all);
}

static void pool_out_of_memory_runs_with_fewer_threads_or_returns_null(void **state)
{
    (void)state;
    mem_fail_at(1, 0);
    assert_null(pool_new(4));
    mem_fail_at(2, 1); /* the team itself, then no worker can start */
    thread_pool *p = pool_new(4);
    mem_fail_at(0, 0);
    assert_non_null(p);
    assert_int_equal(pool_threads(p), 1);
    run_log log = {{0}, {0}};
    pool_run(p, record, &log);
    assert_int_equal(log.runs[0], 1);
    assert_int_equal(log.nthreads[0], 1);
    pool_free(p);
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
        cmocka_unit_test(err_set_formats_and_returns_the_code),
        cmocka_unit_test(err_set_escapes_control_characters_and_stays_within_its_buffer),
        cmocka_unit_test(every_status_has_its_own_text),
        cmocka_unit_test(mem_fail_at_fails_only_the_nth_allocation),
        cmocka_unit_test(mem_fail_at_persistent_fails_every_later_allocation),
        cmocka_unit_test(mem_calls_counts_allocations_since_mem_fail_at),
        cmocka_unit_test(mem_calloc_overflow_returns_null),
        cmocka_unit_test(mem_strndup_copies_at_most_n_bytes),
        cmocka_unit_test(arena_keeps_many_strings_apart),
        cmocka_unit_test(arena_hands_out_large_and_aligned_blocks),
        cmocka_unit_test(arena_out_of_memory_returns_null_and_keeps_earlier_strings),
        cmocka_unit_test(buf_printf_grows_past_its_first_capacity),
        cmocka_unit_test(buf_put_escaped_shows_control_characters_as_hex),
        cmocka_unit_test(buf_detach_is_always_nul_terminated),
        cmocka_unit_test(buf_out_of_memory_is_sticky_and_detaches_null),
        cmocka_unit_test(grow_array_doubles_and_keeps_contents),
        cmocka_unit_test(grow_array_failure_leaves_the_array_unchanged),
        cmocka_unit_test(rng_sequences_repeat_with_the_seed),
        cmocka_unit_test(rng_floats_lie_in_zero_one),
        cmocka_unit_test(rng_shuffle_is_a_permutation),
        cmocka_unit_test(strmap_interns_in_first_seen_order),
        cmocka_unit_test(strmap_keeps_ids_across_growth),
        cmocka_unit_test(strmap_out_of_memory_returns_minus_one_and_keeps_the_map),
        cmocka_unit_test(fmt_g6_writes_what_printf_writes),
        cmocka_unit_test(fmt_uint_writes_decimal),
        cmocka_unit_test(pool_split_covers_every_item_once),
        cmocka_unit_test(pool_run_runs_every_thread_once),
        cmocka_unit_test(pool_out_of_memory_runs_with_fewer_threads_or_returns_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
