/* Base64 (RFC 4648) decoding of the images that JSON requests carry. */
#ifndef SHELF_SERVE_BASE64_H
#define SHELF_SERVE_BASE64_H

#include <stddef.h>

/* Bytes that decoding n characters may produce at the most. */
static inline size_t base64_max_decoded(size_t n) { return n / 4 * 3 + 3; }

/* Decodes s[0..n) into out (room for base64_max_decoded(n) bytes): the standard or the
 * URL-safe alphabet, padding optional, line breaks and spaces ignored, and a "data:...;base64,"
 * prefix skipped. Returns the bytes written, or -1 with *bad set to the offset of the first
 * character that cannot be there (n for input cut short). */
long base64_decode(const char *s, size_t n, unsigned char *out, size_t *bad);

#endif
