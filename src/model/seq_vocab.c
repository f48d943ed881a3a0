/* The sequence encoders' vocabulary, learned from the training texts, and those texts as
 * the encoder's ids, tokenized once for every epoch. */
#include "model/seq_text_encoder.h"

#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"

enum { MIN_WORD_COUNT = 2, UNKNOWN_BUCKETS = 1 << 14 };

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* A token's hash and how often it was seen. */
typedef struct seen_count {
    uint64_t hash, count;
} seen_count;

static int by_hash(const void *a, const void *b) { return cmp_u64(a, b); }

/* The vocabulary from the texts' sorted hashes (total of them): the hashes seen at least
 * MIN_WORD_COUNT times, in a distributed run over every rank's texts (each rank's counts
 * gathered and summed), the first SEQ_MAX_WORDS in hash order, into e->words. 0, or -1 out
 * of memory or failed_before (this rank failed already, and joins the gather to say so),
 * or when another rank failed. */
static int learn_words(seq_encoder *e, const uint64_t *sorted, size_t total,
                       const shelf_comm *comm, int failed_before)
{
    seen_count *mine = failed_before ? NULL : mem_alloc((total + 1) * sizeof *mine);
    seen_count *all = mine;
    size_t n = 0, bytes;
    for (size_t i = 0, j; mine && i < total; i = j) {
        for (j = i + 1; j < total && sorted[j] == sorted[i]; j++)
            ;
        mine[n++] = (seen_count){sorted[i], j - i};
    }
    if (comm_ranks(comm) > 1) {
        size_t at;
        void *got = NULL;
        uint32_t failed = mine == NULL;
        /* every rank takes part in every gather, even one that failed */
        int rc = comm_gather(comm, mine, mine ? n * sizeof *mine : 0, &got, &bytes, &at);
        if (comm_sum(comm, &failed, 1, SHELF_COMM_U32) || failed || rc) {
            mem_free(got);
            mem_free(mine);
            return -1;
        }
        mem_free(mine);
        all = got;
        n = bytes / sizeof *all;
        qsort(all, n, sizeof *all, by_hash);
    }
    if (!all)
        return -1;
    uint64_t *words = mem_alloc((n + 1) * sizeof *words);
    size_t kept = 0;
    for (size_t i = 0, j; words && i < n; i = j) {
        uint64_t count = 0;
        for (j = i; j < n && all[j].hash == all[i].hash; j++)
            count += all[j].count;
        if (count >= MIN_WORD_COUNT && kept < SEQ_MAX_WORDS)
            words[kept++] = all[i].hash;
    }
    mem_free(all);
    if (!words)
        return -1;
    e->words = words;
    e->nwords = (uint32_t)kept;
    return 0;
}

/* Every text's first T tokens: their hashes (into *hashes) and, with subwords, their
 * subword buckets (into c->tok, the slots after each token's first, not yet offset past
 * the words' rows); offsets in c->off. 0, or -1 out of memory. */
static int hash_tokens(const seq_encoder *e, seq_corpus *c, const char *const *texts,
                       const uint32_t *rows, uint64_t **hashes, size_t *total)
{
    tok_scratch ts = {0};
    size_t cap = 0, used = 0;
    uint64_t *h = NULL;
    const int T = e->T, S = seq_slots(e);
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i++) {
        const char *t = texts[rows ? rows[i] : i];
        long n = tok_tokenize(&ts, t, strlen(t));
        if (n < 0) {
            rc = -1;
            break;
        }
        const long k = n > T ? T : n;
        if (used + (size_t)k > cap) {
            size_t ncap = (used + (size_t)k) * 2 + 1024;
            uint64_t *nh = mem_realloc(h, ncap * sizeof *nh);
            int32_t *nt = mem_realloc(c->tok, ncap * (size_t)S * sizeof *nt);
            if (nh)
                h = nh;
            if (nt)
                c->tok = nt;
            if (!nh || !nt) {
                rc = -1;
                break;
            }
            cap = ncap;
        }
        c->off[i] = used;
        c->len[i] = (int)k;
        for (long j = 0; j < k; j++, used++) {
            h[used] = seq_token_hash(ts.text + ts.tokens[j].start, ts.tokens[j].len);
            if (S > 1)
                seq_subwords(&ts, j, n, e->nsub, c->tok + used * S + 1);
        }
    }
    tok_scratch_free(&ts);
    *hashes = h;
    *total = used;
    return rc;
}

shelf_status seq_corpus_build(seq_encoder *e, seq_corpus *c, const char *const *texts,
                              const uint32_t *rows, size_t n, const shelf_comm *comm,
                              shelf_error *err)
{
    uint64_t *h = NULL, *sorted = NULL;
    size_t total = 0;
    const int S = seq_slots(e);
    memset(c, 0, sizeof *c);
    c->n = n;
    c->off = mem_alloc((n + 1) * sizeof *c->off);
    c->len = mem_alloc((n + 1) * sizeof *c->len);
    if (!c->off || !c->len || hash_tokens(e, c, texts, rows, &h, &total) ||
        (!c->tok && !(c->tok = mem_alloc(sizeof *c->tok))) ||
        !(sorted = mem_alloc((total + 1) * sizeof *sorted))) {
        learn_words(e, NULL, 0, comm, 1); /* the other ranks wait in its gather */
        mem_free(h);
        mem_free(sorted);
        return err_set(err, SHELF_ENOMEM, "out of memory building the token vocabulary");
    }
    memcpy(sorted, h, total * sizeof *h);
    qsort(sorted, total, sizeof *sorted, cmp_u64);
    int rc = learn_words(e, sorted, total, comm, 0);
    mem_free(sorted);
    if (rc) {
        mem_free(h);
        return err_set(err, SHELF_ENOMEM, "out of memory building the token vocabulary%s",
                       comm_ranks(comm) > 1 ? " (or another rank stopped)" : "");
    }
    e->nbuckets = UNKNOWN_BUCKETS;
    const int32_t base = (int32_t)(e->nwords + e->nbuckets);
    for (size_t i = 0; i < total; i++) {
        int32_t *id = c->tok + i * S;
        id[0] = seq_row_of_hash(e, h[i]);
        for (int s = 1; s < S; s++)
            id[s] += id[s] >= 0 ? base : 0;
    }
    mem_free(h);
    return SHELF_OK;
}

void seq_corpus_free(seq_corpus *c)
{
    mem_free(c->tok);
    mem_free(c->off);
    mem_free(c->len);
    memset(c, 0, sizeof *c);
}

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

int seq_corpus_rows_used(const seq_encoder *e, const seq_corpus *c, const uint32_t *rows,
                         size_t n, int32_t *out)
{
    const size_t S = (size_t)seq_slots(e);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const int32_t *id = c->tok + c->off[rows[i]] * S;
        for (size_t j = 0; j < (size_t)c->len[rows[i]] * S; j++)
            if (id[j] >= 0)
                out[k++] = id[j];
    }
    if (k == 0)
        return 0;
    qsort(out, k, sizeof *out, cmp_i32);
    size_t m = 1;
    for (size_t i = 1; i < k; i++)
        if (out[i] != out[m - 1])
            out[m++] = out[i];
    return (int)m;
}
