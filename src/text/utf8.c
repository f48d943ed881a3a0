#include "text/utf8.h"

#include <string.h>

/* How one lead byte constrains the next: the number of continuation bytes and the range
 * of the first of them (the others are always 0x80..0xBF). The narrowed first ranges are
 * what exclude overlongs (E0, F0), surrogates (ED) and code points above U+10FFFF (F4). */
typedef struct lead {
    unsigned char more, lo, hi;
} lead;

static lead lead_of(unsigned char c)
{
    if (c >= 0xC2 && c <= 0xDF)
        return (lead){1, 0x80, 0xBF};
    if (c == 0xE0)
        return (lead){2, 0xA0, 0xBF};
    if (c == 0xED)
        return (lead){2, 0x80, 0x9F};
    if (c >= 0xE1 && c <= 0xEF)
        return (lead){2, 0x80, 0xBF};
    if (c == 0xF0)
        return (lead){3, 0x90, 0xBF};
    if (c >= 0xF1 && c <= 0xF3)
        return (lead){3, 0x80, 0xBF};
    if (c == 0xF4)
        return (lead){3, 0x80, 0x8F};
    return (lead){0, 1, 0}; /* 0x80..0xC1, 0xF5..0xFF: never a lead byte */
}

/* Bytes of the character at s: > 0 when valid; otherwise -(length of the maximal invalid
 * subpart), at least 1. s[0] is not ASCII. */
static long seq_at(const unsigned char *s, size_t n)
{
    lead l = lead_of(s[0]);
    if (l.more == 0)
        return -1;
    size_t i = 1;
    for (; i <= l.more; i++) {
        unsigned char lo = i == 1 ? l.lo : 0x80, hi = i == 1 ? l.hi : 0xBF;
        if (i >= n || s[i] < lo || s[i] > hi)
            return -(long)i;
    }
    return (long)i;
}

size_t utf8_valid_prefix(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        long len = seq_at(u + i, n - i);
        if (len < 0)
            return i;
        i += (size_t)len;
    }
    return n;
}

size_t utf8_invalid_len(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n == 0 || u[0] < 0x80)
        return 0;
    long len = seq_at(u, n);
    return len < 0 ? (size_t)-len : 0;
}

size_t utf8_fix(char *dst, const char *src, size_t n, size_t *replaced)
{
    size_t out = 0, count = 0;
    while (n > 0) {
        size_t ok = utf8_valid_prefix(src, n);
        memcpy(dst + out, src, ok);
        out += ok;
        src += ok;
        n -= ok;
        if (n == 0)
            break;
        size_t bad = utf8_invalid_len(src, n);
        memcpy(dst + out, UTF8_REPLACEMENT, UTF8_REPLACEMENT_LEN);
        out += UTF8_REPLACEMENT_LEN;
        count++;
        src += bad;
        n -= bad;
    }
    if (replaced)
        *replaced = count;
    return out;
}
