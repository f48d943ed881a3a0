/* The text model: hashed n-gram features, TF-IDF weighted and L2-normalized per group (word
 * n-grams, character n-grams), feeding either a sparse linear layer straight to the label
 * logits (dim 0) or an embedding bag of size dim and a linear layer (dim > 0); softmax over
 * the label paths seen in training. Read-only once trained. */
#ifndef SHELF_MODEL_MODEL_H
#define SHELF_MODEL_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/strmap.h"
#include "model/bucket_map.h"
#include "model/fusion_head.h"
#include "model/image_model.h"
#include "model/seq_encoder.h"
#include "model/taxonomy.h"
#include "shelf.h"
#include "text/features.h"

/* Limits shared by training and the model file, so that every model trained can be loaded
 * and a damaged file cannot ask for absurd allocations. */
enum {
    MODEL_MAX_BUCKETS = 1 << 28,
    MODEL_MAX_DIM = 4096,
    MODEL_MAX_NGRAMS = 8,
    MODEL_MAX_CHARN = 32,
    MODEL_MAX_LABEL_DEPTH = 64
};

/* A sparse input vector: model rows and their weights. */
typedef struct sparse_vec {
    uint32_t *rows;
    float *vals;
    size_t n, cap;
} sparse_vec;

/* Scratch for turning a text into a sparse_vec without allocating per call. */
typedef struct vec_scratch {
    feat_list feats;
    uint32_t *stamp; /* per model row: the call that last saw it */
    uint32_t *slot;  /* per model row: its index in the vector being built */
    uint32_t *count;
    size_t count_cap;
    uint32_t call;
    size_t nrows;
} vec_scratch;

typedef struct model_info {
    char *train_path;
    long train_rows, valid_rows;
    int epochs;         /* run */
    int epochs_planned;
    float lr;
    int threads;
    uint64_t seed;
    double train_seconds;
    double valid_accuracy; /* -1 without a validation set */
    long skipped_images;   /* image models: products skipped for a bad image (--skip-bad) */
    long skipped_empty;    /* fused models: products with neither a text nor an image */
    double fit_seconds;    /* in training steps (no loading, no validation): image models
                              all epochs, sequence text encoders per epoch */
} model_info;

struct shelf_model {
    shelf_modality modality;
    float temperature;   /* logits are divided by it before the softmax (train/calibrate.h) */
    /* image models: the CNN over the labels, and how images are prepared */
    cnn net;
    image_settings img;
    /* fused models: how the text's and the image's evidence are weighed, per branch */
    fusion_head head;
    /* text models */
    feat_config feat;
    int dim;             /* 0: linear; else embedding size */
    strmap labels;       /* label path -> id */
    int hierarchical;    /* scores shared along label paths (see taxonomy.h) */
    taxonomy tax;        /* the nodes that the output layer scores */
    bucket_map rows;     /* feature bucket -> row, for the nrows buckets kept */
    uint32_t nrows;
    float *idf;          /* nrows */
    /* parameters, one block, over the N = tax.nnodes outputs: linear: W[nrows][N], b[N];
     * embedding: E[nrows][dim], O[dim][N], b[N] */
    float *params;
    size_t nparams;
    float *W, *O, *b;
    shelf_read_options read;
    char *read_strings[5]; /* owned copies behind read's strings */
    model_info info;
    uint64_t *seen;      /* sorted hashes of the training texts */
    size_t nseen;
    seq_encoder *seq;    /* text models with a sequence encoder (then the bag is empty) */
};

struct shelf_scratch {
    vec_scratch vs;
    sparse_vec x;
    float *hidden; /* dim */
    float *z;      /* N: node scores */
    float *logits; /* K */
    seq_scratch *seq; /* models with a sequence encoder, and a window of its texts': */
    float *many;      /* label logits [window][K] */
    float *zs;        /* node scores [window][N] */
};

static inline int model_num_labels(const shelf_model *m) { return (int)m->labels.n; }
/* The length of label's parent path ("Apparel > Topwear" of "Apparel > Topwear > Tshirts"),
 * split on the model's label separator; 0 for a label of one part. */
size_t model_parent_len(const shelf_model *m, const char *label);
static inline int model_has_text(const shelf_model *m) { return m->modality != SHELF_MODALITY_IMAGE; }
static inline int model_has_image(const shelf_model *m) { return m->modality != SHELF_MODALITY_TEXT; }
static inline int model_num_nodes(const shelf_model *m) { return m->tax.nnodes; }

/* The text model's log-probabilities of all K labels for texts[0..n) into out[n][K] (no
 * temperature: the evidence a fused model's head weighs); a sequence encoder runs them in
 * batches. 0, or -1 out of memory. */
int model_texts_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                          size_t n, float *out);
/* Thread tid's share [begin, end) of n texts, in whole windows of the texts a scratch
 * predicts at once: the same batches, so the same probabilities, with any thread count. */
void model_split_texts(const shelf_scratch *s, size_t n, int tid, int nthreads, size_t *begin,
                       size_t *end);

/* p[K] (probabilities) become p^(1/T) renormalized: the softmax of logits divided by T. */
void model_apply_temperature(float *p, int K, float T);

/* The k (<= K) largest of p[K], best first, into labels and probs; returns k. */
int model_top_k(const float *p, int K, int k, int *labels, float *probs);

/* Builds m->tax from the labels and the label separator of m->read. 0, or -1 out of memory. */
int model_build_taxonomy(shelf_model *m);

/* Allocates the parameter block for nrows, dim and the model's labels; zeroed. */
int model_alloc_params(shelf_model *m);

/* Text -> TF-IDF weighted sparse vector over the model's rows. 0, or -1 out of memory. */
int model_vectorize(const shelf_model *m, vec_scratch *s, sparse_vec *x, const char *text,
                    size_t n);
int vec_scratch_init(vec_scratch *s, size_t nrows);
void vec_scratch_free(vec_scratch *s);
int sparse_vec_reserve(sparse_vec *x, size_t n);
void sparse_vec_free(sparse_vec *x);

/* Label logits of x into logits[K], through the node scores z[N]; hidden[dim] receives the
 * embedding bag (dim > 0). */
void model_logits(const shelf_model *m, const sparse_vec *x, float *hidden, float *z,
                  float *logits);

/* Copies read options' strings into the model. 0, or -1 out of memory. */
int model_set_read_options(shelf_model *m, const shelf_read_options *r);
shelf_model *model_new(void);

/* Opens a model file for reading, refusing anything but a regular file (a FIFO would block
 * forever) without blocking on the open; fills st. SHELF_OK with *f open, or an error. */
shelf_status model_open(const char *path, FILE **f, struct stat *st, shelf_error *err);

/* The model file's checksum of data[0..n) (the file stores it of every byte before it). */
uint64_t model_checksum(const void *data, size_t n);

#endif
