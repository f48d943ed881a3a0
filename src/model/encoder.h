/* The encoder interface. An encoder turns a batch of products into feature vectors of a
 * known width and back-propagates into its own parameters; the label head (label_head.h),
 * the fusion of two encoders, calibration and back-off sit above it and know nothing of its
 * insides. The bag of n-grams (bag_encoder.c), the GRU and the Transformer
 * (seq_text_encoder.c) and the CNN (cnn_encoder.c) each implement it.
 *
 * A product may lack what an encoder reads (an empty title, a missing photo): forward says
 * so per product, so that a model can route around a missing title as around a missing
 * photo.
 *
 * Training drives the same encoder through train_begin (vocabulary, statistics, random
 * start), forward_train and backward, which the trainers of train/ call from the one
 * training loop (train/loop.h).
 *
 * Features are dense ([n][width] floats) except the bag's without embeddings, whose
 * features are the sparse TF-IDF vector over its rows (width = rows): its label head is a
 * sparse linear layer. */
#ifndef SHELF_MODEL_ENCODER_H
#define SHELF_MODEL_ENCODER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/rng.h"
#include "model/model_io.h"
#include "model/sparse_vec.h"
#include "shelf.h"

enum { ENCODER_MAX_STATE = 2 };

/* Kinds, as the model file names them. */
typedef enum encoder_kind {
    ENCODER_BAG = 1,
    ENCODER_GRU = 2,
    ENCODER_TRANSFORMER = 3,
    ENCODER_CNN = 4
} encoder_kind;

/* What an encoder reads of a batch of products. */
typedef struct encoder_batch {
    size_t n;
    const char *const *texts;    /* text encoders: n texts */
    const unsigned char *pixels; /* image encoders: n images of S x S x 3 bytes, decoded at
                                    the encoder's size S, one after another */
    const unsigned char *usable; /* image encoders: NULL, or per image whether it decoded */
    /* Training (forward_train): the products are these rows of the set given to
     * train_begin, whose input the encoder prepared then (token ids, sparse vectors, the
     * decoded images); texts and pixels are not read. */
    const uint32_t *rows;
    uint64_t noise; /* training: seeds the batch's dropout or augmentation */
    /* Training, optional: the batch the next forward_train will take, which an encoder may
     * prepare (augment) beside this batch's compute; its work_free waits for that, so a
     * trainer frees the work area before the training set. */
    const struct encoder_batch *upcoming;
    /* Sparse features: the matrix (stride floats per row) that the layer above reads a row
     * of per nonzero, which forward asks the memory for early (NULL: no hint). */
    const float *next_rows;
    size_t next_stride;
} encoder_batch;

/* The features of a batch, written by forward into the work area. Rows may come in the
 * encoder's own order: row j is product order[j] (order NULL: product j). A layer above that
 * runs a matrix product over rows keeps them in runs of `group` (0: all n), as the encoder
 * made them, so that its sums come out as they did when the head was part of the encoder
 * (a product's last bits depend on its size). */
typedef struct encoder_features {
    size_t n, width;
    float *dense;          /* [n][width]; NULL for sparse features */
    const sparse_vec *sparse; /* n vectors over width rows; NULL for dense ones */
    unsigned char *missing;   /* per row: 1 where the product lacks the encoder's input */
    const int *order;
    size_t group;
    /* Training, dense features: [n][width] in the work area, where the layer above writes
     * the loss's gradient with respect to the features before calling backward. */
    float *grad;
} encoder_features;

/* What training an encoder begins with (train_begin). */
typedef struct encoder_setup {
    const encoder_batch *all;        /* every training product (with rows: those rows of the
                                        texts or pixels) */
    const shelf_train_options *opts; /* the encoder's settings among them */
    int threads;
    rng *r;          /* the parameters' random start is drawn from it, which the caller
                        seeded; the label head's start is drawn after it */
    uint64_t *seen;  /* NULL, or per product: the hash of its normalized text (bag), which
                        the model keeps to tell a product it was trained on */
} encoder_setup;

/* What a step's backward pass does to the parameters. */
typedef struct encoder_update {
    float *grads; /* dense: the parameters' gradient is added here, laid out as params */
    float lr;     /* sparse (the bag's embeddings, Hogwild): the rows the batch used take an
                     SGD step at this rate at once */
} encoder_update;

typedef struct encoder encoder;
typedef struct encoder_work encoder_work; /* one thread's activations, the encoder's own */

typedef struct encoder_ops {
    encoder_kind kind;
    const char *name;
    /* Features per product. */
    size_t (*width)(const encoder *e);
    /* Products a prediction pass takes at once: more amortize a batch's matrix products. */
    size_t (*batch)(const encoder *e);
    /* Whether its label head is laid out w[out][in] (label_head.h). */
    int head_by_output;
    /* A work area for batches of up to `batch` products (training keeps what backward
     * needs). NULL when out of memory. */
    encoder_work *(*work_new)(const encoder *e, size_t batch, int training);
    void (*work_free)(encoder_work *w);
    /* Features of the batch (b->n <= the work area's batch) into *out, which points into
     * w and stays valid until the next call. 0, or -1 out of memory. */
    int (*forward)(const encoder *e, encoder_work *w, const encoder_batch *b,
                   encoder_features *out);
    /* ---- training (train/ drives these; prediction never calls them) ---- */
    /* Learns what it needs from the training products before the first step (a vocabulary,
     * the images' channel statistics), allocates its parameters and draws their start. It
     * keeps the products' input in its own prepared form until train_end, so that a step
     * names products by row (encoder_batch.rows); s->all must stay valid until then. */
    shelf_status (*train_begin)(encoder *e, const encoder_setup *s, shelf_error *err);
    void (*train_end)(encoder *e);
    /* As forward on a batch of rows, in a work area made for training: with dropout or
     * augmentation, batch statistics (which it may fold into its running ones), keeping
     * what backward needs. 0, or -1 out of memory. */
    int (*forward_train)(encoder *e, encoder_work *w, const encoder_batch *b,
                         encoder_features *out);
    /* After forward_train and the layer above's gradient in out->grad: back into the
     * parameters (encoder_update). 0, or -1 out of memory. */
    int (*backward)(encoder *e, encoder_work *w, const encoder_update *u);
    /* The parameter block (NULL, 0 for an encoder without parameters). */
    float *(*params)(encoder *e, size_t *n);
    /* Everything training changes: the parameters, then any statistics it keeps (the CNN's
     * batch-norm running averages), for keep-best and checkpoints. Fills up to max blocks
     * (ENCODER_MAX_STATE is enough) and returns how many. */
    int (*state)(encoder *e, float **blocks, size_t *sizes, int max);
    /* Its own section of the model file. */
    void (*save)(const encoder *e, model_writer *w);
    /* Lines for shelf info: its features, and itself with a head to labels scores of nodes
     * (the labels, or the taxonomy's nodes under --hierarchy). */
    void (*describe)(const encoder *e, buf *b, int labels, int nodes);
    void (*free)(encoder *e);
} encoder_ops;

/* Every encoder's struct begins with this. */
struct encoder {
    const encoder_ops *ops;
};

static inline size_t encoder_width(const encoder *e) { return e->ops->width(e); }

/* Frees e and what it holds; NULL does nothing. */
void encoder_free(encoder *e);

#endif
