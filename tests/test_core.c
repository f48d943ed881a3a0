/* The core: FNV-1a, pinned by its published test vectors and by values computed
 * independently (a Python transcription) for bytes >= 0x80. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/hash.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fnv1a_matches_published_vectors),
        cmocka_unit_test(fnv1a_hashes_high_bytes_as_unsigned),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
