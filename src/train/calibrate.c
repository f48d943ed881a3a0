#include "train/calibrate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "eval/score.h"
#include "model/model.h"

enum { CALIBRATE_MAX_ROWS = 20000, CALIBRATE_MAX_CELLS = 16 << 20 };

/* Mean negative log-likelihood at temperature T. */
static double nll(const float *rows, const int *truth, size_t n, int K, double T)
{
    double sum = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (truth[i] < 0)
            continue;
        const float *p = rows + i * (size_t)K;
        double z = 0; /* sum of p^(1/T), computed as exp(log p / T) */
        for (int k = 0; k < K; k++)
            if (p[k] > 0)
                z += exp(log((double)p[k]) / T);
        double py = p[truth[i]] > 1e-30f ? (double)p[truth[i]] : 1e-30;
        sum += log(z) - log(py) / T;
        used++;
    }
    return used ? sum / (double)used : 0;
}

float calibrate_temperature(const float *rows, const int *truth, size_t n, int K)
{
    /* golden-section search on log T: the likelihood is unimodal in it */
    const double phi = 0.6180339887498949;
    double a = log(0.25), b = log(8.0);
    double c = b - phi * (b - a), d = a + phi * (b - a);
    double fc = nll(rows, truth, n, K, exp(c)), fd = nll(rows, truth, n, K, exp(d));
    for (int it = 0; it < 40; it++) {
        if (fc < fd) {
            b = d, d = c, fd = fc;
            c = b - phi * (b - a);
            fc = nll(rows, truth, n, K, exp(c));
        } else {
            a = c, c = d, fc = fd;
            d = a + phi * (b - a);
            fd = nll(rows, truth, n, K, exp(d));
        }
    }
    double best = exp((a + b) / 2);
    return nll(rows, truth, n, K, best) < nll(rows, truth, n, K, 1.0) ? (float)best : 1.0f;
}

int calibrate_adjustment(const float *probs, const int *labels, const int *truth, size_t n,
                         int K, const float *log_prior, float *tau)
{
    int *predicted = mem_alloc((n + 1) * sizeof *predicted);
    long *counts = mem_alloc(3 * (size_t)K * sizeof *counts);
    float best_tau = 0;
    int status = -1;
    if (!predicted || !counts)
        goto done;
    double best = -1;
    for (int step = 0; step <= 40; step++) {
        const float t = (float)step * 0.05f;
        for (size_t i = 0; i < n; i++) {
            const float *p = probs + i * (size_t)K;
            const int *l = labels + i * (size_t)K;
            float top = -INFINITY;
            predicted[i] = l[0];
            for (int j = 0; j < K && truth[i] >= 0; j++) {
                float s = (p[j] > 0 ? logf(p[j]) : -1e30f) - t * log_prior[l[j]];
                if (s > top) {
                    top = s;
                    predicted[i] = l[j];
                }
            }
        }
        double accuracy, macro_f1;
        score_predictions(predicted, truth, n, K, counts, &accuracy, &macro_f1);
        double score = (accuracy + macro_f1) / 2;
        if (score > best + 1e-9) {
            best = score;
            best_tau = t;
        }
    }
    status = 0;
done:
    *tau = best_tau;
    mem_free(predicted);
    mem_free(counts);
    return status;
}

/* --min-confidence auto: scanning down from 0.999 in steps of 0.001 while back-off keeps
 * MODEL_AUTO_PRECISION on the validation rows, the last threshold that did. */
static void fit_threshold(shelf_model *m, const char *const *truths, const int *labels,
                          const float *probs, const int *counts, size_t n)
{
    m->auto_threshold = -1;
    for (int step = 999; step >= 1; step--) {
        float t = (float)step / 1000;
        double c, q;
        shelf_backoff_measure(m, labels, probs, model_num_labels(m), counts, truths, n, t, &c,
                              &q);
        if (q < (double)MODEL_AUTO_PRECISION - 1e-6) /* 990 of 1000 is 0.99 */
            break;
        m->auto_threshold = t;
        m->auto_coverage = (float)c;
        m->auto_precision = (float)q;
    }
}

int calibrate_model(shelf_model *m, const shelf_catalog *valid, int threads)
{
    int K = model_num_labels(m);
    size_t n = shelf_catalog_size(valid), most = CALIBRATE_MAX_CELLS / (size_t)(K > 0 ? K : 1);
    n = n < CALIBRATE_MAX_ROWS ? n : CALIBRATE_MAX_ROWS;
    n = n < most ? n : most; /* every label's probability is kept for each row */
    if (n == 0 || K < 2)
        return 0;
    shelf_product *p = mem_alloc(n * sizeof *p);
    int *labels = mem_alloc(n * (size_t)K * sizeof *labels);
    int *counts = mem_alloc(n * sizeof *counts);
    int *truth = mem_alloc(n * sizeof *truth);
    int *label_of = mem_alloc(n * sizeof *label_of);
    float *probs = mem_alloc(n * (size_t)K * sizeof *probs);
    int status = -1;
    m->temperature = 1;
    m->adjust_tau = 0;
    if (!p || !labels || !counts || !truth || !label_of || !probs)
        goto done;
    for (size_t i = 0; i < n; i++)
        p[i] = *shelf_catalog_get(valid, i);
    shelf_predict_stats ps;
    if (shelf_predict_products(m, shelf_catalog_path(valid), p, n, K, threads, labels, probs,
                               counts, NULL, &ps, NULL) != SHELF_OK)
        goto done;
    for (size_t i = 0; i < n; i++) { /* where the true label sits in row i's ranking */
        long y = strmap_find(&m->labels, p[i].label);
        truth[i] = -1;
        label_of[i] = counts[i] == K ? (int)y : -1; /* -1 also for a label the model lacks */
        for (int j = 0; y >= 0 && j < counts[i]; j++)
            if (labels[i * (size_t)K + (size_t)j] == (int)y)
                truth[i] = j;
        if (counts[i] < K) /* a row without every label (a bad image) is left out */
            truth[i] = -1;
    }
    m->temperature = calibrate_temperature(probs, truth, n, K);
    for (size_t i = 0; i < n; i++) /* the ranking stays: a temperature is monotone */
        if (counts[i] == K) /* the others (a bad image) are left out below too */
            model_apply_temperature(probs + i * (size_t)K, K, m->temperature);
    if (m->log_prior) { /* --balance adjust; the threshold below is then the adjusted model's */
        if (calibrate_adjustment(probs, labels, label_of, n, K, m->log_prior, &m->adjust_tau))
            goto done;
        if (m->adjust_tau > 0 &&
            shelf_predict_products(m, shelf_catalog_path(valid), p, n, K, threads, labels,
                                   probs, counts, NULL, &ps, NULL) != SHELF_OK)
            goto done;
    }
    const char **truths = mem_alloc(n * sizeof *truths);
    if (!truths)
        goto done;
    for (size_t i = 0; i < n; i++)
        truths[i] = p[i].label;
    fit_threshold(m, truths, labels, probs, counts, n);
    mem_free(truths);
    status = 0;
done:
    mem_free(p);
    mem_free(labels);
    mem_free(counts);
    mem_free(truth);
    mem_free(label_of);
    mem_free(probs);
    return status;
}
