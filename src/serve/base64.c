#include "serve/base64.h"

#include <string.h>

/* 0..63 for a digit of either alphabet, 64 for white space, 65 for '=', 255 otherwise. */
static unsigned char digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return (unsigned char)(c - 'A');
    if (c >= 'a' && c <= 'z')
        return (unsigned char)(c - 'a' + 26);
    if (c >= '0' && c <= '9')
        return (unsigned char)(c - '0' + 52);
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
        return 64;
    return c == '=' ? 65 : 255;
}

long base64_decode(const char *s, size_t n, unsigned char *out, size_t *bad)
{
    size_t start = 0;
    if (n > 5 && memcmp(s, "data:", 5) == 0) { /* a data URL, as browsers make them */
        const char *comma = memchr(s, ',', n);
        if (!comma || comma - s < 12 || memcmp(comma - 7, ";base64", 7) != 0) {
            *bad = comma ? (size_t)(comma - s) : n;
            return -1;
        }
        start = (size_t)(comma - s) + 1;
    }
    unsigned long acc = 0;
    int have = 0;   /* digits in acc */
    int pad = 0;    /* '=' seen: only padding and white space may follow */
    size_t len = 0;
    for (size_t i = start; i < n; i++) {
        unsigned char d = digit((unsigned char)s[i]);
        if (d == 64)
            continue;
        if (d == 255 || (pad && d != 65) || (d == 65 && have < 2)) {
            *bad = i;
            return -1;
        }
        if (d == 65) {
            pad++;
            continue;
        }
        acc = acc << 6 | d;
        if (++have == 4) {
            out[len++] = (unsigned char)(acc >> 16);
            out[len++] = (unsigned char)(acc >> 8);
            out[len++] = (unsigned char)acc;
            acc = 0;
            have = 0;
        }
    }
    if (have == 1 || pad > 2) { /* one lone digit carries no whole byte */
        *bad = n;
        return -1;
    }
    if (have == 2) {
        out[len++] = (unsigned char)(acc >> 4);
    } else if (have == 3) {
        out[len++] = (unsigned char)(acc >> 10);
        out[len++] = (unsigned char)(acc >> 2);
    }
    return (long)len;
}
