/* Class imbalance: weights per class from the label counts, and the per-epoch order of
 * training products under --balance (every product once, shuffled; or re-drawn each epoch,
 * oversampling rare classes or undersampling common ones). */
#ifndef SHELF_TRAIN_BALANCE_H
#define SHELF_TRAIN_BALANCE_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "shelf.h"

typedef struct balance {
    shelf_balance mode;
    float *weight;  /* per class: (mean class size / class size)^power, normalized so that
                       the mean over products is 1; all 1 for SHELF_BALANCE_NONE */
    double *cum;    /* oversample: cumulative product weights, for drawing */
    size_t n;       /* products */
} balance;

/* From y[0..n) over K classes. 0, or -1 when out of memory. */
int balance_init(balance *b, shelf_balance mode, float power, const uint32_t *y, size_t n,
                 int K);
void balance_free(balance *b);

/* Expected products per epoch (n, except when undersampling). */
size_t balance_epoch_size(const balance *b, const uint32_t *y);

/* Fills order (room for n) with this epoch's products and returns how many. */
size_t balance_epoch(const balance *b, const uint32_t *y, rng *r, uint32_t *order);

#endif
