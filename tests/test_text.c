/* Text features: normalization, tokenization (including Chinese) and hashing, pinned by
 * golden values. The hash values were computed independently by a Python transcription of
 * FNV-1a 64 and splitmix64's finalizer; FNV-1a itself is pinned in tests/test_core.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "text/features.h"
#include "text/hash.h"
#include "text/tokenize.h"

static void tokens_are(const char *text, const char *const *want, size_t n)
{
    tok_scratch s = {0};
    long got = tok_tokenize(&s, text, strlen(text));
    assert_int_equal(got, (long)n);
    for (size_t i = 0; i < n; i++) {
        const tok_span *t = &s.tokens[i];
        assert_int_equal(t->len, strlen(want[i]));
        assert_memory_equal(s.text + t->start, want[i], t->len);
    }
    tok_scratch_free(&s);
}

static void splits_on_spaces_and_punctuation(void **state)
{
    (void)state;
    const char *want[] = {"men", "s", "slim", "fit", "t", "shirt", "100", "cotton"};
    tokens_are("Men's  Slim-Fit T-Shirt (100% cotton)", want, 8);
}

static void splits_on_unicode_spaces(void **state)
{
    (void)state;
    const char *want[] = {"red", "blue", "green"};
    tokens_are("red\xc2\xa0" "blue\xe2\x80\x83green", want, 3); /* no-break and em space */
}

static void applies_nfkc_and_case_folding(void **state)
{
    (void)state;
    /* full-width letters and digits fold to ASCII; ß case-folds to ss; the ﬁ ligature
     * decomposes; a composed é and an e + combining acute become the same token */
    const char *want[] = {"abc12", "strasse", "file", "caf\xc3\xa9", "caf\xc3\xa9"};
    tokens_are("\xef\xbc\xa1\xef\xbd\x82\xef\xbd\x83\xef\xbc\x91\xef\xbc\x92 STRAßE \xef\xac\x81le "
               "Caf\xc3\xa9 cafe\xcc\x81",
               want, 5);
}

static void chinese_characters_are_tokens(void **state)
{
    (void)state;
    const char *want[] = {"夏", "季", "纯", "棉", "短", "袖", "t", "恤", "2024"};
    tokens_are("夏季纯棉短袖T恤 2024", want, 9);
}

static void japanese_and_korean_are_split_per_character(void **state)
{
    (void)state;
    const char *want[] = {"ス", "マ", "ホ", "ケ", "ー", "ス", "휴", "대", "폰"};
    tokens_are("スマホケース 휴대폰", want, 9);
}

static void cjk_punctuation_is_not_a_token(void **state)
{
    (void)state;
    const char *want[] = {"ス", "マ", "ホ", "ケ", "ー", "ス"}; /* the middle dot separates */
    tokens_are("スマホ・ケース", want, 6);
}

static void invalid_utf8_is_a_separator(void **state)
{
    (void)state;
    const char *want[] = {"ab", "c\xc3\xa9"};
    tokens_are("ab\xff\xfe" "C\xc3\xa9", want, 2);
}

static void empty_text_has_no_tokens(void **state)
{
    (void)state;
    tokens_are("", NULL, 0);
    tokens_are(" ,;- ", NULL, 0);
}

static void feature_ids_are_pinned(void **state)
{
    (void)state;
    feat_config c = {2, 2, 3, 1000003};
    feat_list f = {0};
    assert_int_equal(feat_extract(&c, &f, "Red 短袖", strlen("Red 短袖")), 0);
    /* word unigrams and bigrams of red 短 袖, then character 2- and 3-grams of <red> */
    const uint32_t want[] = {315909, 254751, 552088, 837721, 6428,  527731,
                             53952,  679261, 32913,  810358, 921444, 103958};
    assert_int_equal(f.nword, 5);
    assert_int_equal(f.n, 12);
    assert_memory_equal(f.ids, want, sizeof want);
    feat_list_free(&f);
}

static void text_hash_ignores_case_and_spacing(void **state)
{
    (void)state;
    feat_list f = {0};
    uint64_t a = feat_text_hash(&f, "Blue  Jeans", 11), b = feat_text_hash(&f, "blue jeans", 10);
    uint64_t c = feat_text_hash(&f, "blue jean", 9);
    assert_true(a == b);
    assert_true(a != c);
    feat_list_free(&f);
}

static void long_words_are_bounded(void **state)
{
    (void)state;
    static char text[20001];
    memset(text, 'x', 20000);
    feat_config c = {2, 2, 5, 1 << 20};
    feat_list f = {0};
    assert_int_equal(feat_extract(&c, &f, text, 20000), 0);
    assert_true(f.n > 1000 && f.n < 20000);
    feat_list_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(splits_on_spaces_and_punctuation),
        cmocka_unit_test(splits_on_unicode_spaces),
        cmocka_unit_test(applies_nfkc_and_case_folding),
        cmocka_unit_test(chinese_characters_are_tokens),
        cmocka_unit_test(japanese_and_korean_are_split_per_character),
        cmocka_unit_test(cjk_punctuation_is_not_a_token),
        cmocka_unit_test(invalid_utf8_is_a_separator),
        cmocka_unit_test(empty_text_has_no_tokens),
        cmocka_unit_test(feature_ids_are_pinned),
        cmocka_unit_test(text_hash_ignores_case_and_spacing),
        cmocka_unit_test(long_words_are_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
