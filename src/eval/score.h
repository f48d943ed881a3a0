/* Accuracy and macro-F1 of a list of predictions, without a report: what fitting on the
 * validation set compares candidates by (the fusion head's choice, the logit adjustment). */
#ifndef SHELF_EVAL_SCORE_H
#define SHELF_EVAL_SCORE_H

#include <stddef.h>

/* Of pred against y on the products with y >= 0 (labels in [0, K)): *accuracy, and
 * *macro_f1 over the labels true or predicted somewhere. counts: 3 K longs of scratch. */
void score_predictions(const int *pred, const int *y, size_t n, int K, long *counts,
                       double *accuracy, double *macro_f1);

/* The share of the products with y >= 0 whose top label is kept at the lowest confidence
 * threshold, scanning down from 0.999 in steps of 0.001 as --min-confidence auto is fitted,
 * before the first whose kept products are less than `precision` right (back-off to parent
 * paths is not counted). order: n entries of scratch. */
typedef struct score_rank {
    float conf;
    size_t i;
} score_rank;
double score_coverage_at(const float *conf, const int *pred, const int *y, size_t n,
                         double precision, score_rank *order);

#endif
