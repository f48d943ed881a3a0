/* Accuracy and macro-F1 of a list of predictions, without a report: what fitting on the
 * validation set compares candidates by (the fusion head's choice, the logit adjustment). */
#ifndef SHELF_EVAL_SCORE_H
#define SHELF_EVAL_SCORE_H

#include <stddef.h>

/* Of pred against y on the products with y >= 0 (labels in [0, K)): *accuracy, and
 * *macro_f1 over the labels true or predicted somewhere. counts: 3 K longs of scratch. */
void score_predictions(const int *pred, const int *y, size_t n, int K, long *counts,
                       double *accuracy, double *macro_f1);

#endif
