/* Normalization and tokenization of product text.
 *
 * Text is normalized with NFKC and Unicode case folding (utf8proc). Tokens are runs of
 * letters, marks and digits, split on Unicode spaces, punctuation, symbols and controls.
 * Scripts written without spaces (Han, Hiragana, Katakana, Hangul, Thai) give one token per
 * character; word bigrams over them then are character bigrams. Invalid UTF-8 bytes are
 * treated as separators, never read past. */
#ifndef SHELF_TEXT_TOKENIZE_H
#define SHELF_TEXT_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tok_span {
    uint32_t start, len; /* bytes in tok_scratch.text */
    uint32_t nchars;     /* code points */
    uint32_t cjk;        /* 1: a single character of a script without spaces */
} tok_span;

/* Reusable buffers; zero-initialize, then tok_scratch_free. Grows as needed, so the hot
 * path allocates only while it meets longer texts than before. */
typedef struct tok_scratch {
    int32_t *cps;
    size_t cps_cap;
    char *text; /* normalized UTF-8 of the tokens, back to back */
    size_t text_cap;
    tok_span *tokens;
    size_t ntokens, tokens_cap;
} tok_scratch;

/* Tokenizes n bytes of s into s->tokens. Returns the number of tokens, or -1 when out of
 * memory. */
long tok_tokenize(tok_scratch *s, const char *text, size_t n);
void tok_scratch_free(tok_scratch *s);


#endif
