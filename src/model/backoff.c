/* Back-off: when the best label is not sure enough, answer with the deepest ancestor of it
 * that is (its probability: the sum over the labels below it), rather than a wrong leaf. */
#include <string.h>

#include "model/model.h"

static void copy_out(char *out, size_t outsize, const char *s, size_t n)
{
    if (!outsize)
        return;
    if (n >= outsize)
        n = outsize - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

shelf_backoff_result shelf_backoff(const shelf_model *m, const int *labels, const float *probs,
                                   int n, float min_conf, char *out, size_t outsize,
                                   float *prob)
{
    const char *sep = m->read.label_sep ? m->read.label_sep : SHELF_DEFAULT_LABEL_SEP;
    size_t seplen = strlen(sep);
    copy_out(out, outsize, "", 0);
    *prob = 0;
    const char *best = n > 0 ? shelf_model_label(m, labels[0]) : NULL;
    if (!best)
        return SHELF_BACKOFF_REVIEW;
    if (probs[0] >= min_conf) {
        copy_out(out, outsize, best, strlen(best));
        *prob = probs[0];
        return SHELF_BACKOFF_FULL;
    }
    /* the ends of best's ancestor prefixes, deepest first */
    size_t ends[MODEL_MAX_LABEL_DEPTH];
    int nends = 0;
    for (const char *p = strstr(best, sep); p && nends < MODEL_MAX_LABEL_DEPTH;
         p = strstr(p + seplen, sep))
        ends[nends++] = (size_t)(p - best);
    float top = 0;
    for (int e = nends - 1; e >= 0; e--) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            const char *l = shelf_model_label(m, labels[i]);
            if (l && shelf_label_is_under(l, best, ends[e], sep))
                sum += probs[i];
        }
        top = (float)sum;
        if (sum >= min_conf) {
            copy_out(out, outsize, best, ends[e]);
            *prob = (float)sum;
            return SHELF_BACKOFF_PARTIAL;
        }
    }
    *prob = nends ? top : probs[0];
    return SHELF_BACKOFF_REVIEW;
}

void shelf_backoff_measure(const shelf_model *m, const int *labels, const float *probs,
                           int stride, const int *counts, const char *const *truths, size_t n,
                           float min_conf, double *coverage, double *precision)
{
    const char *sep = m->read.label_sep && *m->read.label_sep ? m->read.label_sep
                                                              : SHELF_DEFAULT_LABEL_SEP;
    size_t seplen = strlen(sep);
    long given = 0, right = 0, rows = 0;
    char path[1024];
    for (size_t i = 0; i < n; i++) {
        const char *truth = truths[i];
        if (!truth || (counts && counts[i] < stride))
            continue;
        rows++;
        float prob;
        size_t at = i * (size_t)stride;
        if (shelf_backoff(m, labels + at, probs + at, stride, min_conf, path, sizeof path,
                          &prob) == SHELF_BACKOFF_REVIEW)
            continue;
        given++;
        size_t len = strlen(path); /* the path, or an ancestor of it: a prefix ending a level */
        right += !strncmp(truth, path, len) &&
                 (truth[len] == '\0' || !strncmp(truth + len, sep, seplen));
    }
    *coverage = rows ? (double)given / (double)rows : 0;
    *precision = given ? (double)right / (double)given : 1;
}

void shelf_backoff_many(const shelf_model *m, const int *labels, const float *probs,
                        const int *counts, int stride, size_t n, float min_conf, char *paths,
                        size_t pathsize, float *prob, int *status)
{
    for (size_t i = 0; i < n; i++) {
        const size_t at = i * (size_t)stride;
        char *out = paths + i * pathsize;
        if (counts[i] < 1 || counts[i] > stride) {
            if (pathsize)
                out[0] = '\0';
            prob[i] = 0;
            status[i] = -1;
            continue;
        }
        status[i] = (int)shelf_backoff(m, labels + at, probs + at, counts[i], min_conf, out,
                                       pathsize, &prob[i]);
    }
}
