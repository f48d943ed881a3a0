/* The bag of n-grams: hashed word and character n-gram features, TF-IDF weighted and
 * L2-normalized per group (word n-grams, character n-grams), kept for the feature buckets
 * seen in training (a row each). Its features are that sparse vector over its rows, or with
 * embeddings (dim > 0) their weighted sum of rows of E[rows][dim]. */
#ifndef SHELF_MODEL_BAG_ENCODER_H
#define SHELF_MODEL_BAG_ENCODER_H

#include "model/bucket_map.h"
#include "model/encoder.h"

/* Limits shared by training and the model file, so that every model trained can be loaded
 * and a damaged file cannot ask for absurd allocations. */
enum {
    BAG_MAX_BUCKETS = 1 << 28,
    BAG_MAX_DIM = 4096,
    BAG_MAX_NGRAMS = 8,
    BAG_MAX_CHARN = 32
};

typedef struct bag_encoder {
    encoder base;
    feat_config feat;
    int dim;          /* 0: the sparse vector is the feature; else the embedding size */
    bucket_map rows;  /* feature bucket -> row, for the nrows buckets kept */
    uint32_t nrows;
    float *idf;       /* nrows */
    float *emb;       /* dim > 0: E[nrows][dim] */
    int char_norm_one; /* models of before d99ec33: character n-grams normed to 1, as words */
    struct bag_training *training; /* between train_begin and train_end */
} bag_encoder;

/* An empty bag with these settings (rows come from train_begin or a model file). NULL when
 * out of memory. */
bag_encoder *bag_encoder_new(const feat_config *feat, int dim);
/* Allocates idf and the rows' table for nrows rows, and E (zeroed). 0, or -1. */
int bag_encoder_alloc(bag_encoder *b, uint32_t nrows);

/* Text -> TF-IDF weighted sparse vector over the rows. prefetch (NULL, or a matrix of
 * stride floats per row) is asked for the vector's rows while the weights are computed:
 * the layer that reads them next does so at random places in a matrix too large for the
 * caches. 0, or -1 out of memory. */
int bag_vectorize(const bag_encoder *b, vec_scratch *s, sparse_vec *x, const char *text,
                  size_t n, const float *prefetch, size_t stride);
/* dim > 0: the features of x, hidden[dim] = sum of x's weights times E's rows. */
void bag_embed(const bag_encoder *b, const sparse_vec *x, float *hidden);

/* Whether settings read from a file are ones training could have made. */
int bag_settings_ok(const feat_config *f, uint32_t dim);
/* Reads the rows (u32 count, their buckets ascending, their IDF weights) into b, allocating
 * it for them. 0, or -1 with r failed. */
int bag_read_rows(bag_encoder *b, model_reader *r);
/* The section of a model file (encoder.h); load reads what save wrote. */
int bag_encoder_load(model_reader *r, encoder **out);

static inline bag_encoder *as_bag(encoder *e) { return (bag_encoder *)e; }
static inline const bag_encoder *as_const_bag(const encoder *e) { return (const bag_encoder *)e; }

#endif
