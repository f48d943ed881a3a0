#include "core/mem.h"
#include "text/tokenize.h"
#include "core/grow.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define OPTIONS ((utf8proc_option_t)(UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_COMPOSE | \
                                      UTF8PROC_IGNORE | UTF8PROC_STABLE))

/* Grows *p to hold need elements of size elem. 0 on success. */
static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    return grow_array(p, cap, need, elem, 64);
}

/* 1 for a code point of a script written without spaces between words. */
static int tok_is_cjk(int32_t cp)
{
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x3FFFF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x31F0 && cp <= 0x31FF) ||
           (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0x1100 && cp <= 0x11FF) ||
           (cp >= 0x0E00 && cp <= 0x0E7F);
}

static int is_word_char(int32_t cp)
{
    if (cp < 0x80)
        return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z');
    switch (utf8proc_category(cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

/* Copies text with every byte that is not part of valid UTF-8 replaced by a space. */
static const char *sanitize(tok_scratch *s, const char *text, size_t n)
{
    if (reserve((void **)&s->text, &s->text_cap, n + 1, 1))
        return NULL;
    size_t i = 0;
    while (i < n) {
        int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)text + i,
                                              (utf8proc_ssize_t)(n - i), &cp);
        if (k <= 0) {
            s->text[i++] = ' ';
            continue;
        }
        memcpy(s->text + i, text + i, (size_t)k);
        i += (size_t)k;
    }
    return s->text;
}

/* NFKC + case folding into s->cps. Returns the number of code points, or -1. */
static long normalize(tok_scratch *s, const char *text, size_t n)
{
    size_t i = 0;
    if (reserve((void **)&s->cps, &s->cps_cap, n + 16, sizeof *s->cps))
        return -1;
    for (; i < n && (unsigned char)text[i] < 0x80; i++) { /* ASCII: lowercasing is NFKC_CF */
        int32_t c = (unsigned char)text[i];
        s->cps[i] = (c >= 'A' && c <= 'Z') ? c + 32 : c;
    }
    if (i == n)
        return (long)n;
    int sanitized = 0;
    for (;;) {
        utf8proc_ssize_t m = utf8proc_decompose((const utf8proc_uint8_t *)text,
                                                (utf8proc_ssize_t)n, s->cps,
                                                (utf8proc_ssize_t)s->cps_cap, OPTIONS);
        if (m == UTF8PROC_ERROR_INVALIDUTF8 && !sanitized) {
            text = sanitize(s, text, n);
            if (!text)
                return -1;
            sanitized = 1;
            continue;
        }
        if (m < 0)
            return -1;
        if ((size_t)m > s->cps_cap) {
            if (reserve((void **)&s->cps, &s->cps_cap, (size_t)m, sizeof *s->cps))
                return -1;
            continue;
        }
        m = utf8proc_normalize_utf32(s->cps, m, OPTIONS);
        return m < 0 ? -1 : (long)m;
    }
}

static int push_token(tok_scratch *s, const int32_t *cps, size_t ncp, size_t *used, int cjk)
{
    if (reserve((void **)&s->tokens, &s->tokens_cap, s->ntokens + 1, sizeof *s->tokens) ||
        reserve((void **)&s->text, &s->text_cap, *used + 4 * ncp + 1, 1))
        return -1;
    tok_span *t = &s->tokens[s->ntokens++];
    t->start = (uint32_t)*used;
    for (size_t i = 0; i < ncp; i++)
        *used += (size_t)utf8proc_encode_char(cps[i], (utf8proc_uint8_t *)s->text + *used);
    t->len = (uint32_t)(*used - t->start);
    t->nchars = (uint32_t)ncp;
    t->cjk = (uint32_t)cjk;
    return 0;
}

long tok_tokenize(tok_scratch *s, const char *text, size_t n)
{
    s->ntokens = 0;
    long ncp = normalize(s, text, n);
    if (ncp < 0)
        return -1;
    size_t used = 0, start = 0;
    int in_word = 0;
    for (size_t i = 0; i <= (size_t)ncp; i++) {
        int32_t cp = i < (size_t)ncp ? s->cps[i] : ' ';
        int letter = is_word_char(cp), cjk = letter && tok_is_cjk(cp), word = letter && !cjk;
        if (in_word && !word) {
            if (push_token(s, s->cps + start, i - start, &used, 0))
                return -1;
            in_word = 0;
        }
        if (word && !in_word) {
            start = i;
            in_word = 1;
        }
        if (cjk && push_token(s, s->cps + i, 1, &used, 1))
            return -1;
    }
    return (long)s->ntokens;
}

void tok_scratch_free(tok_scratch *s)
{
    mem_free(s->cps);
    mem_free(s->text);
    mem_free(s->tokens);
    memset(s, 0, sizeof *s);
}
