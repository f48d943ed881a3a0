#include "eval/score.h"

#include <math.h>
#include <stdlib.h>
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

static int by_conf_desc(const void *a, const void *b)
{
    const score_rank *x = a, *y = b;
    if (x->conf != y->conf)
        return x->conf < y->conf ? 1 : -1;
    return x->i < y->i ? -1 : 1;
}

double score_coverage_at(const float *conf, const int *pred, const int *y, size_t n,
                         double precision, score_rank *order)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (y[i] >= 0)
            order[m++] = (score_rank){isnan(conf[i]) ? -1 : conf[i], i}; /* NaN: last */
    qsort(order, m, sizeof *order, by_conf_desc);
    /* as --min-confidence auto's threshold is fitted: down from 0.999 in steps of 0.001,
       until the first threshold whose products are not precise enough */
    size_t kept = 0, right = 0, best = 0;
    for (int step = 999; step >= 1; step--) {
        const float t = (float)step / 1000;
        for (; kept < m && order[kept].conf >= t; kept++)
            right += pred[order[kept].i] == y[order[kept].i];
        if (kept && (double)right < precision * (double)kept - 1e-6 * (double)kept)
            break; /* 990 of 1000 is 0.99 */
        best = kept;
    }
    return m ? (double)best / (double)m : 0;
}
