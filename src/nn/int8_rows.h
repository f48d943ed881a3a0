/* A weight matrix W[rows][cols] as int8 (shelf quantize): each row keeps its weights of some
 * size as int8 codes with one float scale (w = code * scale), in column order, and drops the
 * rest (zero). The bag's label head is a row of weights per feature of which most are near
 * zero (Hogwild SGD touches only the labels whose gradient counts), so the rows are sparse:
 * a u16 column and an int8 code per weight kept. */
#ifndef SHELF_NN_INT8_ROWS_H
#define SHELF_NN_INT8_ROWS_H

#include <stddef.h>
#include <stdint.h>

enum { INT8_ROWS_MAX_COLS = 65536 };

typedef struct int8_rows {
    uint32_t nrows;
    int cols;
    uint32_t *start; /* nrows + 1: row r's weights are [start[r], start[r + 1]) */
    uint16_t *col;   /* ascending within a row */
    int8_t *code;
    float *scale;    /* nrows */
} int8_rows;

/* q = the rows keep[0..nkeep) of W[.][cols] (keep NULL: every row, nkeep of them), each
 * scaled to its largest magnitude (127), its weights below drop times that magnitude left
 * out (drop 0: only those that round to zero). 0, or -1 out of memory (q then empty). */
int int8_rows_quantize(int8_rows *q, const float *W, int cols, const uint32_t *keep,
                       uint32_t nkeep, float drop);
/* Allocates q for nrows rows and nnz weights (start, col, code and scale left to fill). 0,
 * or -1 out of memory. */
int int8_rows_alloc(int8_rows *q, uint32_t nrows, int cols, size_t nnz);
void int8_rows_free(int8_rows *q);

static inline size_t int8_rows_nnz(const int8_rows *q) { return q->start[q->nrows]; }
/* Bytes its arrays take. */
size_t int8_rows_bytes(const int8_rows *q);
/* Whether the arrays are consistent (a model file's): starts ascending to nnz, columns in
 * range and ascending within each row, scales finite and >= 0. */
int int8_rows_valid(const int8_rows *q);

/* W[r][c] (0 where the row dropped it). */
float int8_rows_get(const int8_rows *q, uint32_t r, int c);

/* out[cols] = b[cols] (or 0 when b is NULL) + sum_j vals[j] * W[rows[j]], as
 * sparse_linear_forward over the float rows. */
void int8_sparse_forward(float *out, const uint32_t *rows, const float *vals, size_t n,
                         const int8_rows *W, const float *b);

#endif
