#include "model/bag_vocab.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/error.h"
#include "core/mem.h"

/* Character n-grams seen in a single product are mostly noise (misspellings, codes) and
 * cost a row of weights each; word n-grams are kept from their first occurrence. */
enum { MIN_CHAR_DF = 2 };

typedef struct df_job {
    const bag_encoder *bag;
    const char *const *texts;
    size_t from, to;
    uint32_t *df;      /* per bucket: products containing it */
    uint8_t *is_word;  /* per bucket: 1 when some word n-gram hashed there */
    uint32_t *stamp;   /* per bucket: last product that counted it */
    uint64_t *seen;    /* NULL, or per product: hash of its normalized text */
    int failed;
} df_job;

static void *df_count(void *arg)
{
    df_job *j = arg;
    feat_list f = {0};
    for (size_t i = j->from; i < j->to; i++) {
        const char *t = j->texts[i];
        if (feat_extract(&j->bag->feat, &f, t, strlen(t))) {
            j->failed = 1;
            break;
        }
        if (j->seen)
            j->seen[i] = feat_tokens_hash(&f);
        uint32_t stamp = (uint32_t)i + 1;
        for (size_t k = 0; k < f.n; k++) {
            uint32_t b = f.ids[k];
            if (k < f.nword)
                j->is_word[b] = 1;
            if (j->stamp[b] != stamp) {
                j->stamp[b] = stamp;
                j->df[b]++;
            }
        }
    }
    feat_list_free(&f);
    return NULL;
}

static shelf_status count_features(const bag_encoder *bag, const char *const *texts, size_t n,
                                   int threads, df_job *jobs, uint64_t *seen, shelf_error *err)
{
    size_t B = bag->feat.buckets;
    pthread_t tid[64];
    int started[64] = {0}, failed = 0;
    for (int t = 0; t < threads; t++) {
        df_job *j = &jobs[t];
        *j = (df_job){bag, texts, n * (size_t)t / (size_t)threads,
                      n * (size_t)(t + 1) / (size_t)threads, mem_calloc(B, 4), mem_calloc(B, 1),
                      mem_calloc(B, 4), seen, 0};
        if (!j->df || !j->is_word || !j->stamp) {
            failed = 1;
            break;
        }
        if (pthread_create(&tid[t], NULL, df_count, j)) {
            df_count(j);
            continue;
        }
        started[t] = 1;
    }
    for (int t = 0; t < threads; t++) {
        if (started[t])
            pthread_join(tid[t], NULL);
        failed |= jobs[t].failed;
        mem_free(jobs[t].stamp);
        jobs[t].stamp = NULL;
    }
    return failed ? err_set(err, SHELF_ENOMEM, "out of memory counting features") : SHELF_OK;
}

/* Whether a feature bucket gets a row: words always, character n-grams when frequent. */
static int keep_bucket(uint32_t df, uint8_t word) { return df >= MIN_CHAR_DF || (df && word); }

/* Merges the per-thread counts (and the ranks', with comm) and gives each kept bucket a
 * row and an IDF. */
static shelf_status assign_rows(bag_encoder *bag, df_job *jobs, int threads, size_t n,
                                const shelf_comm *comm, shelf_error *err)
{
    size_t B = bag->feat.buckets;
    uint32_t *df = jobs[0].df;
    uint8_t *word = jobs[0].is_word;
    for (int t = 1; t < threads; t++)
        for (size_t b = 0; b < B; b++) {
            df[b] += jobs[t].df[b];
            word[b] |= jobs[t].is_word[b];
        }
    if (comm_ranks(comm) > 1) { /* every rank's counts: a u32 each, flags too (any count) */
        uint64_t total = n;
        uint32_t *flags = mem_alloc(B * sizeof *flags), failed = flags == NULL;
        for (size_t b = 0; flags && b < B; b++)
            flags[b] = word[b];
        /* the ranks agree first that each has its buffer: none waits in a sum another left */
        int bad = comm_sum(comm, &failed, 1, SHELF_COMM_U32) || failed ||
                  comm_sum(comm, df, B, SHELF_COMM_U32) ||
                  comm_sum(comm, flags, B, SHELF_COMM_U32) ||
                  comm_sum(comm, &total, 1, SHELF_COMM_U64);
        for (size_t b = 0; !bad && b < B; b++)
            word[b] = flags[b] != 0;
        mem_free(flags);
        if (bad)
            return err_set(err, SHELF_EIO, "the ranks could not combine their counts");
        n = (size_t)total;
    }
    uint32_t rows = 0;
    for (size_t b = 0; b < B; b++)
        rows += keep_bucket(df[b], word[b]);
    if (bag_encoder_alloc(bag, rows))
        return err_set(err, SHELF_ENOMEM, "out of memory for %u feature rows", rows);
    for (size_t b = 0; b < B; b++)
        if (keep_bucket(df[b], word[b])) { /* smoothed IDF, as scikit-learn's TfidfVectorizer */
            bag->idf[bag->rows.n] = (float)(log((1.0 + (double)n) / (1.0 + df[b])) + 1.0);
            bucket_map_add(&bag->rows, (uint32_t)b);
        }
    return SHELF_OK;
}

shelf_status bag_vocab_build(bag_encoder *bag, const char *const *texts, size_t n,
                             int threads, uint64_t *seen, const shelf_comm *comm,
                             shelf_error *err)
{
    if (threads > 64)
        threads = 64;
    if ((size_t)threads > n)
        threads = n ? (int)n : 1;
    df_job jobs[64];
    memset(jobs, 0, sizeof jobs);
    shelf_status st = count_features(bag, texts, n, threads, jobs, seen, err);
    if (st == SHELF_OK)
        st = assign_rows(bag, jobs, threads, n, comm, err);
    for (int t = 0; t < threads; t++) {
        mem_free(jobs[t].df);
        mem_free(jobs[t].is_word);
    }
    return st;
}

shelf_status bag_vocab_extend(const bag_encoder *bag, const char *const *texts, size_t n,
                              long corpus, uint64_t *seen, bag_encoder **out,
                              uint32_t **old_to_new, shelf_error *err)
{
    *out = NULL;
    *old_to_new = NULL;
    if (bag->dim) /* new rows would have no embedding to give them */
        return err_set(err, SHELF_EINVAL, "a bag with embeddings (--dim) cannot gain rows");
    df_job job = {0};
    shelf_status st = count_features(bag, texts, n, 1, &job, seen, err);
    const uint32_t B = bag->feat.buckets, old = bag->nrows;
    uint32_t added = 0;
    for (uint32_t b = 0; st == SHELF_OK && b < B; b++)
        added += keep_bucket(job.df[b], job.is_word[b]) && bucket_map_row(&bag->rows, b) < 0;
    bag_encoder *e = NULL;
    if (st == SHELF_OK) {
        e = bag_encoder_new(&bag->feat, 0);
        *old_to_new = mem_alloc(((size_t)old + 1) * sizeof **old_to_new);
        if (!e || !*old_to_new || bag_encoder_alloc(e, old + added))
            st = err_set(err, SHELF_ENOMEM, "out of memory for %u feature rows", old + added);
    }
    if (st == SHELF_OK) {
        e->char_norm_one = bag->char_norm_one;
        /* both lists ascend: merge them, so that the rows stay in bucket order */
        uint32_t r = 0;
        for (uint32_t b = 0; b < B; b++) {
            int is_old = r < old && bag->rows.buckets[r] == b;
            if (!is_old && !(keep_bucket(job.df[b], job.is_word[b]) &&
                             bucket_map_row(&bag->rows, b) < 0))
                continue;
            if (is_old) {
                (*old_to_new)[r] = e->rows.n;
                e->idf[e->rows.n] = bag->idf[r++];
            } else { /* the IDF it would have had with the texts in the training corpus */
                e->idf[e->rows.n] = (float)(log((1.0 + (double)corpus + (double)n) /
                                                (1.0 + job.df[b])) + 1.0);
            }
            bucket_map_add(&e->rows, b);
        }
        *out = e;
        e = NULL;
    }
    if (e)
        encoder_free(&e->base);
    if (st != SHELF_OK) {
        mem_free(*old_to_new);
        *old_to_new = NULL;
    }
    mem_free(job.df);
    mem_free(job.is_word);
    return st;
}
