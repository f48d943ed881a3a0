/* The label head: a linear layer from an encoder's features to the scores of the taxonomy's
 * nodes (the labels, or under --hierarchy every prefix of their paths; model/taxonomy.h).
 * It reads dense features, or the bag's sparse ones (then it is a sparse linear layer, a row
 * of weights per feature row). Parameters in one block: w[in][out], then b[out]. */
#ifndef SHELF_MODEL_LABEL_HEAD_H
#define SHELF_MODEL_LABEL_HEAD_H

#include <stddef.h>

#include "model/encoder.h"
#include "model/model_io.h"
#include "nn/int8_rows.h"

typedef struct label_head {
    size_t in;
    int out;
    int by_output;
    float *params; /* nparams = in * out + out */
    size_t nparams;
    float *w, *b;
    /* int8 (shelf quantize, the sparse layout only): the weights as int8 rows, w NULL and
     * params the biases alone (nparams = out) */
    int8_rows *q;
} label_head;

/* Allocates a zeroed head. 0, or -1 out of memory. */
int label_head_alloc(label_head *h, size_t in, int out);
void label_head_free(label_head *h);

/* The weight from input `in` to output `out`, in any layout. */
float label_head_weight(const label_head *h, size_t in, int out);

/* z[n][out] = the scores of f's n rows (in f's order). */
void label_head_forward(const label_head *h, const encoder_features *f, float *z);
/* z[out] = the scores of row i alone (threads may share a batch's rows this way). */
void label_head_forward_row(const label_head *h, const encoder_features *f, size_t i, float *z);

/* from's weights into to, a head of the same layout with at least as many inputs and
 * outputs (labels added: train/imprint.c, shelf train --init): input r goes to row_of[r]
 * (NULL: r), output o stays o; the rest of to is left as it is. */
void label_head_copy_into(const label_head *from, label_head *to, const uint32_t *row_of);

void label_head_save(const label_head *h, model_writer *w);
/* Reads a head that must have in inputs and out outputs (in the layout by_output says). 0,
 * or -1 with r failed. */
int label_head_load(label_head *h, model_reader *r, size_t in, int out, int by_output);

/* An int8 head (h->q set): its own section, as the float head's. */
void label_head_save_int8(const label_head *h, model_writer *w);
int label_head_load_int8(label_head *h, model_reader *r, size_t in, int out);

/* to = an int8 head of from's rows keep[0..nkeep) (keep NULL: all, nkeep of them), weights
 * below drop times a row's largest left out (int8_rows_quantize); from is a float head of
 * the sparse layout. 0, or -1 out of memory (to then empty). */
int label_head_quantize(const label_head *from, const uint32_t *keep, uint32_t nkeep,
                        float drop, label_head *to);

#endif
