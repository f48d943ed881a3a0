#include "eval/score.h"

#include <string.h>

void score_predictions(const int *pred, const int *y, size_t n, int K, long *counts,
                       double *accuracy, double *macro_f1)
{
    long *tp = counts, *fp = counts + K, *fn = counts + 2 * K, right = 0, used = 0;
    memset(counts, 0, 3 * (size_t)K * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0)
            continue;
        used++;
        if (pred[i] == y[i]) {
            right++;
            tp[y[i]]++;
        } else {
            fp[pred[i]]++;
            fn[y[i]]++;
        }
    }
    double f1 = 0;
    int labels = 0;
    for (int c = 0; c < K; c++) {
        if (tp[c] + fp[c] + fn[c] == 0)
            continue;
        labels++;
        f1 += 2.0 * (double)tp[c] / (double)(2 * tp[c] + fp[c] + fn[c]);
    }
    *accuracy = used ? (double)right / (double)used : 0;
    *macro_f1 = labels ? f1 / labels : 0;
}
