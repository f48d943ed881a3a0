#include "core/buf.h"
#include "core/mem.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b) { memset(b, 0, sizeof *b); }

int buf_reserve(buf *b, size_t extra)
{
    if (b->oom)
        return -1;
    if (extra > SIZE_MAX / 2 - b->len) { /* len + extra + 1, and the doubling, would wrap */
        b->oom = 1;
        return -1;
    }
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = mem_realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return -1;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void buf_append(buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n))
        return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void buf_puts(buf *b, const char *s) { buf_append(b, s, strlen(s)); }

void buf_printf(buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n))
        return;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *buf_detach(buf *b)
{
    if (b->oom || buf_reserve(b, 0)) {
        buf_free(b);
        return NULL;
    }
    b->data[b->len] = '\0'; /* a buffer nothing was written to is "" (fuzz_model found it
                                unterminated: a fused model's branch without a label) */
    char *p = b->data;
    buf_init(b);
    return p;
}

void buf_free(buf *b)
{
    mem_free(b->data);
    buf_init(b);
}

void buf_put_escaped(buf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t run = 0;
        while (p[run] >= 0x20 && p[run] != 0x7f)
            run++;
        buf_append(b, p, run);
        p += run;
        if (*p)
            buf_printf(b, "\\x%02x", *p++);
    }
}
