/* Hashed n-gram features of a text: a pure function of the text and the settings, so
 * training and prediction see the same features. */
#ifndef SHELF_TEXT_FEATURES_H
#define SHELF_TEXT_FEATURES_H

#include <stddef.h>
#include <stdint.h>

#include "text/tokenize.h"

typedef struct feat_config {
    int ngrams;       /* word n-grams of length 1..ngrams */
    int minn, maxn;   /* character n-grams of "<word>"; maxn 0: none */
    uint32_t buckets; /* hash space */
} feat_config;

/* The features of one text: bucket ids, word n-grams first, then character n-grams;
 * repeats kept (the caller counts them). */
typedef struct feat_list {
    uint32_t *ids;
    size_t n, nword, cap;
    /* Explanations: set track, and each feature's first token and number of tokens (1 for a
     * character n-gram) are kept beside ids (capacity cap). */
    int track;
    uint32_t *from;
    uint8_t *span;
    size_t from_cap, span_cap;
    uint64_t *word_hash; /* per token, scratch */
    size_t word_hash_cap;
    tok_scratch tok;
} feat_list;

/* Fills f with the features of text. Returns 0, or -1 when out of memory. */
int feat_extract(const feat_config *c, feat_list *f, const char *text, size_t n);
void feat_list_free(feat_list *f);

/* The hash of a whole normalized text, for finding the same product in two catalogs. */
uint64_t feat_text_hash(feat_list *f, const char *text, size_t n);
/* The same hash, of the tokens of the last feat_extract call. */
uint64_t feat_tokens_hash(const feat_list *f);

#endif
