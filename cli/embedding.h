/* Embedding a catalog batch by batch (shelf embed, shelf index): each batch's vectors from
 * shelf_predictor_embed, its products with a bad image stopped at or (--skip-bad) left out
 * and counted, those of no known word kept with zeros and counted; what is kept goes to a
 * sink, in input order. */
#ifndef SHELF_CLI_EMBEDDING_H
#define SHELF_CLI_EMBEDDING_H

#include "options.h"
#include "stream.h"

typedef struct embedding {
    shelf_predictor *pred;
    const char *data;
    size_t dim;
    int skip_bad;
    float *vecs;            /* BATCH * dim */
    unsigned char *ok;      /* BATCH */
    const char **ids;       /* BATCH: the ids of the products kept */
    size_t *kept;           /* BATCH: their index in the batch */
    long skipped;           /* bad images skipped under --skip-bad */
    long unknown;           /* products of no known word (zero vectors) */
    long first_unknown;     /* the line of the first */
    progress *pg;
    /* the kept products of batch b: kept[0..n) of it, their ids and vectors. 0, or -1
       after a note */
    int (*sink)(struct embedding *e, const batch *b, size_t n);
    void *sink_arg;
} embedding;

/* The arrays for model m (predictor on `threads`), the rest zero. 0, or -1 after printing. */
int embedding_init(embedding *e, const shelf_model *m, int threads, const char *data,
                   int skip_bad, progress *pg);
void embedding_free(embedding *e);
/* stream_batches' callback: arg is the embedding. */
int embedding_batch(void *arg, const batch *b);
/* The counts after the run, on standard error. */
void embedding_report(const embedding *e);

/* The whole run of shelf CMD: the catalog `data` read with the model's read options as the
 * flags change them, embedded batch by batch on `threads` threads, each batch's kept
 * products handed to sink (with sink_arg in the embedding), the read counts and the
 * embedding's printed at the end. 0, 1 after an error it printed, 2 for bad flags. */
int embedding_run(const char *cmd, const shelf_model *m, const read_flags *rf,
                  const char *data, int threads,
                  int (*sink)(embedding *e, const batch *b, size_t n), void *sink_arg);

#endif
