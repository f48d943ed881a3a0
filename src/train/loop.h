/* The training loop, one for every encoder: epochs over the training products, shuffled or
 * balanced (train/balance.h), cut into batches (or, for the sparse bag, into one Hogwild
 * shard per thread), progress about once a second, validation after each epoch through the
 * predictor that shelf predict uses, the best epoch's parameters kept with patience, the
 * divergence check and the timing. What differs per encoder, one step over some products
 * (forward, loss, backward, update), plugs in as a trainee. */
#ifndef SHELF_TRAIN_LOOP_H
#define SHELF_TRAIN_LOOP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "model/model.h"
#include "train/balance.h"

enum { LOOP_MAX_THREADS = 64, LOOP_MAX_BLOCKS = 4 };

/* What a step has done so far, read by the loop for progress while Hogwild shards run. */
typedef struct loop_meter {
    _Atomic double loss; /* summed */
    atomic_long count;   /* products */
} loop_meter;

typedef struct trainee {
    void *ctx;
    /* 0: steps of `batch` products, one after another (each may use all threads); 1: each
     * thread steps through its shard of the epoch at once (the sparse bag's Hogwild SGD). */
    int hogwild;
    size_t batch;
    /* Optional: the epoch's batches from its shuffled order[0..n) (a sequence encoder
     * groups texts of similar length), drawing from r: batch k is (*rows)[bounds[k] ..
     * bounds[k+1]), arrays the trainee owns. Returns the number of batches. NULL: batches of
     * `batch` products in the shuffled order. */
    size_t (*plan)(void *ctx, const uint32_t *order, size_t n, rng *r, const uint32_t **rows,
                   const size_t **bounds);
    /* One step over rows[0..n) (products of the training catalog), the epoch's `first`
     * product onwards: adds the summed loss (weighted by class) and the products to meter.
     * Hogwild steps run on thread tid of nthreads. 0, or -1 out of memory. */
    int (*step)(void *ctx, int tid, const uint32_t *rows, size_t n, int epoch, size_t first,
                loop_meter *meter);
    /* Optional, batches one after another: called before each step with the batch the
     * step after it will take (n 0: none in this epoch), for the trainee to prepare
     * beside the coming step's compute. */
    void (*upcoming)(void *ctx, const uint32_t *rows, size_t n, int epoch, size_t first);
    /* Optional: how many of the validation products [from, to) of nvalid it predicts right
     * (a distributed run's ranks each score a share); 0, or -1 out of memory. NULL: the
     * model's text predictions on the validation catalog. */
    int (*validate)(void *ctx, size_t from, size_t to, size_t *correct);
    size_t nvalid;
    /* A distributed run's ranks hold the same blocks after every step (their gradients
     * are shared): nothing to average at an epoch's end. */
    int identical;
    /* The parameters whose values at the best epoch are kept. */
    float *blocks[LOOP_MAX_BLOCKS];
    size_t sizes[LOOP_MAX_BLOCKS];
    int nblocks;
} trainee;

typedef struct loop_options {
    const shelf_model *m;       /* for the default validation */
    const shelf_catalog *valid; /* NULL: no validation, every epoch runs */
    const uint32_t *y;          /* the training products' labels, for balance */
    size_t n;                   /* training products */
    const balance *bal;
    int epochs, threads;
    int patience;               /* epochs without a better validation accuracy before
                                   stopping; 0: never stop early */
    uint64_t seed;
    shelf_progress_fn progress;
    void *progress_user;
    model_info *record;         /* its curve gets each epoch's loss and validation accuracy
                                   (replacing any before); NULL: not kept */
    const shelf_comm *comm;     /* a distributed run: each rank steps through its share, then
                                   the ranks average their blocks after every epoch (and sum
                                   its loss); NULL: one process */
    /* NULL, or where a checkpointed run stopped (the trainee's blocks hold its parameters,
     * record its curve): the epochs go on from there, in the order they would have had */
    const train_state *resume;
    /* NULL, or told after every epoch where the run stands (epochs, the best epoch and its
     * parameters; steps and fingerprints left for it): a checkpoint. SHELF_OK, or the error
     * (err set), which stops the run. */
    shelf_status (*checkpoint)(void *user, const train_state *s, shelf_error *err);
    void *checkpoint_user;
} loop_options;

typedef struct loop_result {
    int epochs;            /* the epoch kept (with validation), else the epochs run */
    int ran;               /* epochs run */
    double valid_accuracy; /* of the epoch kept; -1 without validation */
    double step_seconds;   /* in steps, every epoch */
} loop_result;

/* The blocks to keep of an encoder and its head: the encoder's state, then the head's
 * parameters. */
void trainee_keep(trainee *t, encoder *e, const label_head *h);

/* Runs the epochs. SHELF_OK, SHELF_ENOMEM, or SHELF_EDATA when training diverged. */
shelf_status train_loop(trainee *t, const loop_options *o, loop_result *res, shelf_error *err);

#endif
