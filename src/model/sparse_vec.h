/* A sparse input vector (model rows and their weights), and the scratch that turns a text
 * into one without allocating per call. */
#ifndef SHELF_MODEL_SPARSE_VEC_H
#define SHELF_MODEL_SPARSE_VEC_H

#include <stddef.h>
#include <stdint.h>

#include "text/features.h"

typedef struct sparse_vec {
    uint32_t *rows;
    float *vals;
    size_t n, cap;
} sparse_vec;

#define VEC_UNKNOWN UINT32_MAX

typedef struct vec_scratch {
    feat_list feats;
    uint32_t *stamp; /* per model row: the call that last saw it */
    uint32_t *slot;  /* per model row: its index in the vector being built */
    uint32_t *count;
    size_t count_cap;
    uint32_t call;
    size_t nrows;
    size_t nword_rows; /* of the last vector: its first entries, from word n-grams */
    /* feats.track: per feature occurrence, its entry in the vector (VEC_UNKNOWN: a feature
     * the model has no row for), so that an explanation need not look the rows up again */
    uint32_t *entry;
    size_t entry_cap;
} vec_scratch;

int sparse_vec_reserve(sparse_vec *x, size_t n);
void sparse_vec_free(sparse_vec *x);
int vec_scratch_init(vec_scratch *s, size_t nrows);
void vec_scratch_free(vec_scratch *s);

#endif
