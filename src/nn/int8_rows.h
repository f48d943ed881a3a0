/* A weight matrix W[rows][cols] as int8 (shelf quantize): each row keeps its weights of some
 * size as int8 codes with one float scale (w = code * scale) and drops the rest (zero). The
 * bag's label head is a row of weights per feature of which most are near zero (Hogwild SGD
 * touches only the labels whose gradient counts), so a row is kept sparse (a u16 column and
 * a code per weight, columns ascending) unless that is not smaller than all its codes, as
 * the rows of the most frequent features are: then dense (cols codes, no columns), which
 * the forward pass also reads fastest. */
#ifndef SHELF_NN_INT8_ROWS_H
#define SHELF_NN_INT8_ROWS_H

#include <stddef.h>
#include <stdint.h>

enum { INT8_ROWS_MAX_COLS = 65535 }; /* a row's count of codes fits a u16 */

typedef struct int8_rows {
    uint32_t nrows;
    int cols;
    uint32_t *start;  /* nrows + 1: row r's codes are [start[r], start[r + 1]); cols of them
                         make a dense row */
    uint32_t *cstart; /* nrows + 1: a sparse row's columns are [cstart[r], cstart[r + 1]),
                         one per code; a dense row has none */
    uint16_t *col;
    int8_t *code;
    float *scale;     /* nrows */
} int8_rows;

/* q = the rows keep[0..nkeep) of W[.][cols] (keep NULL: every row, nkeep of them), each
 * scaled to its largest magnitude (127), its weights below drop times that magnitude left
 * out (drop 0: only those that round to zero). 0, or -1 out of memory (q then empty). */
int int8_rows_quantize(int8_rows *q, const float *W, int cols, const uint32_t *keep,
                       uint32_t nkeep, float drop);
/* Allocates q for nrows rows, ncodes codes and ncols columns (the arrays left to fill). 0,
 * or -1 out of memory. */
int int8_rows_alloc(int8_rows *q, uint32_t nrows, int cols, size_t ncodes, size_t ncols);
void int8_rows_free(int8_rows *q);

static inline size_t int8_rows_ncodes(const int8_rows *q) { return q->start[q->nrows]; }
static inline size_t int8_rows_ncols(const int8_rows *q) { return q->cstart[q->nrows]; }
/* Bytes its arrays take. */
size_t int8_rows_bytes(const int8_rows *q);
/* Sets start and cstart from each row's count of codes, len[nrows] (cols: a dense row), as a
 * file keeps them; 0, or -1 when the counts do not add up to the codes and columns
 * allocated (ncodes, ncols) or a count is over cols. */
int int8_rows_set_lengths(int8_rows *q, const uint16_t *len, size_t ncodes, size_t ncols);
/* Whether the arrays are consistent (a model file's): each row dense, or sparse with a
 * column per code, in range and ascending; scales finite and >= 0. */
int int8_rows_valid(const int8_rows *q);

/* W[r][c] (0 where the row dropped it). */
float int8_rows_get(const int8_rows *q, uint32_t r, int c);

/* out[cols] = b[cols] (or 0 when b is NULL) + sum_j vals[j] * W[rows[j]], as
 * sparse_linear_forward over the float rows. */
void int8_sparse_forward(float *out, const uint32_t *rows, const float *vals, size_t n,
                         const int8_rows *W, const float *b);

#endif
