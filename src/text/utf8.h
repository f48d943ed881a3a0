/* UTF-8 validation and repair, shared by the catalog readers and the prediction writer.
 *
 * Valid means well-formed per Unicode §3.9 (table 3-7): no overlong forms, no surrogates
 * (U+D800..U+DFFF), nothing above U+10FFFF, no truncated sequences. */
#ifndef SHELF_TEXT_UTF8_H
#define SHELF_TEXT_UTF8_H

#include <stddef.h>

/* The UTF-8 encoding of U+FFFD REPLACEMENT CHARACTER, and its length. */
#define UTF8_REPLACEMENT "\xEF\xBF\xBD"
#define UTF8_REPLACEMENT_LEN 3

/* Length of the longest prefix of s[0..n) that is valid UTF-8; n when all of it is. So the
 * first invalid byte, if any, is s[utf8_valid_prefix(s, n)]. */
size_t utf8_valid_prefix(const char *s, size_t n);

/* Length of the invalid sequence at s[0..n), n > 0, that starts where utf8_valid_prefix
 * stopped: the "maximal subpart" of Unicode's recommended U+FFFD substitution, so a
 * truncated 3-byte sequence counts once but a stray continuation byte counts alone.
 * Returns 0 when s starts with a valid character. */
size_t utf8_invalid_len(const char *s, size_t n);

/* Copies s[0..n) into dst, replacing each invalid sequence (see utf8_invalid_len) with
 * U+FFFD. dst needs room for UTF8_FIX_MAX(n) bytes and must not overlap s; it is not
 * NUL-terminated. Returns the bytes written; *replaced (when not NULL) gets the number of
 * replacements. */
#define UTF8_FIX_MAX(n) ((n) * UTF8_REPLACEMENT_LEN)
size_t utf8_fix(char *dst, const char *src, size_t n, size_t *replaced);

#endif
