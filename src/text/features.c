#include "core/mem.h"
#include "text/features.h"
#include "core/grow.h"

#include <stdlib.h>
#include <string.h>

#include "text/hash.h"

/* Namespaces, so that the word "ab" and the character bigram "ab" differ. */
static const unsigned char WORD_NS = 0x01, CHAR_NS = 0x02;

static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    return grow_array(p, cap, need, elem, 256);
}

/* Appends a feature of tokens [from, from + span). */
static void add(const feat_config *c, feat_list *f, uint64_t h, size_t from, int span)
{
    if (f->track) {
        f->from[f->n] = (uint32_t)from;
        f->span[f->n] = (uint8_t)span;
    }
    f->ids[f->n++] = (uint32_t)(hash_finish(h) % c->buckets);
}

static void add_word_ngrams(const feat_config *c, feat_list *f, size_t ntok)
{
    for (size_t i = 0; i < ntok; i++) {
        uint64_t h = f->word_hash[i];
        add(c, f, h, i, 1);
        for (int k = 1; k < c->ngrams && i + (size_t)k < ntok; k++) {
            h = hash_combine(h, f->word_hash[i + (size_t)k]);
            add(c, f, h, i, k + 1);
        }
    }
}

/* Character n-grams of "<word>", counted in code points, hashed over their bytes. */
static void add_char_ngrams(const feat_config *c, feat_list *f, const char *w, size_t len,
                            size_t token)
{
    unsigned char padded[4096 + 2];
    uint32_t pos[4096 + 3]; /* byte offset of each code point in padded */
    if (len > 4096)
        len = 4096; /* a "word" this long is noise; its first 4 KiB say enough */
    padded[0] = '<';
    memcpy(padded + 1, w, len);
    padded[len + 1] = '>';
    size_t total = len + 2, nch = 0;
    for (size_t i = 0; i < total; i++)
        if ((padded[i] & 0xC0) != 0x80)
            pos[nch++] = (uint32_t)i;
    pos[nch] = (uint32_t)total;
    for (size_t i = 0; i < nch; i++) {
        for (int n = c->minn; n <= c->maxn && i + (size_t)n <= nch; n++) {
            uint64_t h = hash_fnv1a(HASH_FNV_BASIS, &CHAR_NS, 1);
            h = hash_fnv1a(h, padded + pos[i], pos[i + (size_t)n] - pos[i]);
            add(c, f, h, token, 1);
        }
    }
}

int feat_extract(const feat_config *c, feat_list *f, const char *text, size_t n)
{
    f->n = f->nword = 0;
    long ntok = tok_tokenize(&f->tok, text, n);
    if (ntok < 0)
        return -1;
    size_t nt = (size_t)ntok, need = nt * (size_t)(c->ngrams > 0 ? c->ngrams : 1);
    int span = c->maxn >= c->minn && c->maxn > 0 ? c->maxn - c->minn + 1 : 0;
    for (size_t i = 0; i < nt; i++) /* add_char_ngrams reads at most 4 KiB of a word */
        if (!f->tok.tokens[i].cjk)
            need += (size_t)span * ((f->tok.tokens[i].nchars < 4096 ? f->tok.tokens[i].nchars
                                                                    : 4096) + 2);
    if (reserve((void **)&f->word_hash, &f->word_hash_cap, nt + 1, sizeof(uint64_t)) ||
        reserve((void **)&f->ids, &f->cap, need + 1, sizeof(uint32_t)))
        return -1;
    if (f->track && (reserve((void **)&f->from, &f->from_cap, need + 1, sizeof *f->from) ||
                     reserve((void **)&f->span, &f->span_cap, need + 1, sizeof *f->span)))
        return -1;
    for (size_t i = 0; i < nt; i++) {
        const tok_span *t = &f->tok.tokens[i];
        uint64_t h = hash_fnv1a(HASH_FNV_BASIS, &WORD_NS, 1);
        f->word_hash[i] = hash_fnv1a(h, f->tok.text + t->start, t->len);
    }
    if (c->ngrams > 0)
        add_word_ngrams(c, f, nt);
    f->nword = f->n;
    for (size_t i = 0; span && i < nt; i++) {
        const tok_span *t = &f->tok.tokens[i];
        if (!t->cjk)
            add_char_ngrams(c, f, f->tok.text + t->start, t->len, i);
    }
    return 0;
}

uint64_t feat_text_hash(feat_list *f, const char *text, size_t n)
{
    tok_tokenize(&f->tok, text, n);
    return feat_tokens_hash(f);
}

uint64_t feat_tokens_hash(const feat_list *f)
{
    uint64_t h = HASH_FNV_BASIS;
    for (size_t i = 0; i < f->tok.ntokens; i++) {
        const tok_span *t = &f->tok.tokens[i];
        h = hash_fnv1a(h, f->tok.text + t->start, t->len);
        h = hash_fnv1a(h, " ", 1);
    }
    return hash_finish(h);
}

void feat_list_free(feat_list *f)
{
    mem_free(f->ids);
    mem_free(f->word_hash);
    mem_free(f->from);
    mem_free(f->span);
    tok_scratch_free(&f->tok);
    memset(f, 0, sizeof *f);
}
