#include "train/fusion_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "nn/optim.h"
#include "nn/softmax.h"

void fusion_fit_options_default(fusion_fit_options *o)
{
    *o = (fusion_fit_options){.steps = 300, .lr = 0.05f, .l2_branch = 0.1f, .gate_steps = 500,
                              .gate_lr = 0.05f, .l2_gate = 1e-3f, .l2_bias = 1e-3f};
}

/* 1 / the number of products with a label (y >= 0), 0 without any: a mean's factor. */
static double per_product(const int *y, size_t n)
{
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += y[i] >= 0;
    return used ? 1.0 / (double)used : 0;
}

double fusion_head_loss(const fusion_head *h, const float *text, const float *image,
                        const int *y, size_t n, const fusion_fit_options *o, float *grad,
                        float *z)
{
    int K = h->nlabels, G = h->ngroups;
    float *gt = grad, *gi = grad ? grad + G : NULL;
    if (grad)
        memset(grad, 0, (size_t)(2 * G) * sizeof *grad);
    double loss = 0, inv = per_product(y, n);
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0)
            continue;
        const float *t = text + i * (size_t)K, *im = image + i * (size_t)K;
        fusion_head_apply(h, t, im, z, NULL);
        log_softmax_forward(z, z, K);
        loss -= z[y[i]];
        if (!grad)
            continue;
        for (int c = 0; c < K; c++) { /* d loss / d z[c] = p[c] - [c == y] */
            float d = (float)((exp((double)z[c]) - (c == y[i])) * inv);
            int g = h->group[c];
            gt[g] += d * t[c];
            gi[g] += d * im[c];
        }
    }
    loss *= inv;
    for (int g = 0; g < G; g++) { /* towards the text model alone: text 1, image 0 */
        float dt = h->w_text[g] - 1, di = h->w_image[g];
        loss += o->l2_branch * (dt * dt + di * di);
        if (grad) {
            gt[g] += 2 * o->l2_branch * dt;
            gi[g] += 2 * o->l2_branch * di;
        }
    }
    return loss;
}

double fusion_head_fit(fusion_head *h, const float *text, const float *image, const int *y,
                       size_t n, const fusion_fit_options *o)
{
    int K = h->nlabels, G = h->ngroups;
    size_t np = (size_t)(2 * G);
    float *grad = mem_alloc(np * sizeof *grad), *m1 = mem_calloc(np, sizeof *m1);
    float *m2 = mem_calloc(np, sizeof *m2), *z = mem_alloc((size_t)K * sizeof *z);
    double loss = -1;
    if (!grad || !m1 || !m2 || !z)
        goto done;
    h->kind = FUSION_BRANCH;
    for (int g = 0; g < G; g++) { /* from the text model alone */
        h->w_text[g] = 1;
        h->w_image[g] = 0;
    }
    float *param[2] = {h->w_text, h->w_image};
    const float b1 = 0.9f, b2 = 0.999f;
    for (int step = 1; step <= o->steps; step++) {
        fusion_head_loss(h, text, image, y, n, o, grad, z);
        float c1 = 1 - powf(b1, (float)step), c2 = 1 - powf(b2, (float)step);
        for (size_t p = 0, j = 0; p < 2; p++)
            for (int k = 0; k < G; k++, j++) {
                m1[j] = b1 * m1[j] + (1 - b1) * grad[j];
                m2[j] = b2 * m2[j] + (1 - b2) * grad[j] * grad[j];
                param[p][k] -= o->lr * (m1[j] / c1) / (sqrtf(m2[j] / c2) + 1e-8f);
            }
    }
    loss = fusion_head_loss(h, text, image, y, n, o, NULL, z);
done:
    mem_free(grad);
    mem_free(m1);
    mem_free(m2);
    mem_free(z);
    return loss;
}

/* The gate's parameters as one block: gate[2][FUSION_SIGNALS + 1], then bias[K]. */
enum { GATE_PARAMS = 2 * (FUSION_SIGNALS + 1) };

static float sigmoid(float x) { return 1 / (1 + expf(-x)); }

double fusion_gate_loss(const fusion_head *h, const float *text, const float *image,
                        const float *sig, const int *y, size_t n, const fusion_fit_options *o,
                        float *grad, float *z)
{
    const int K = h->nlabels, S = FUSION_SIGNALS;
    if (grad)
        memset(grad, 0, (GATE_PARAMS + (size_t)K) * sizeof *grad);
    double loss = 0, inv = per_product(y, n);
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0)
            continue;
        const float *t = text + i * (size_t)K, *im = image + i * (size_t)K, *s = sig + i * S;
        float u[2], a[2];
        fusion_gate_scores(h, s, u); /* once: the weights and their derivatives read it */
        a[0] = fusion_gate_weight(u[0]);
        a[1] = fusion_gate_weight(u[1]);
        for (int c = 0; c < K; c++)
            z[c] = a[0] * t[c] + a[1] * im[c] + h->bias[c];
        log_softmax_forward(z, z, K);
        loss -= z[y[i]];
        if (!grad)
            continue;
        double da[2] = {0, 0};
        for (int c = 0; c < K; c++) { /* d loss / d z[c] = p[c] - [c == y] */
            float d = (float)((exp((double)z[c]) - (c == y[i])) * inv);
            da[0] += (double)d * t[c];
            da[1] += (double)d * im[c];
            grad[GATE_PARAMS + c] += d;
        }
        for (int side = 0; side < 2; side++) { /* a = softplus(u): da/du = sigmoid(u) */
            float *g = grad + side * (S + 1);
            float du = (float)da[side] * sigmoid(u[side]);
            for (int j = 0; j < S; j++)
                g[j] += du * (s[j] - h->mean[j]) * h->scale[j];
            g[S] += du;
        }
    }
    loss *= inv;
    for (int side = 0; side < 2; side++)
        for (int j = 0; j <= S; j++) {
            float w = h->gate[side][j];
            loss += o->l2_gate * w * w;
            if (grad)
                grad[side * (S + 1) + j] += 2 * o->l2_gate * w;
        }
    for (int c = 0; c < K; c++) {
        loss += o->l2_bias * h->bias[c] * h->bias[c];
        if (grad)
            grad[GATE_PARAMS + c] += 2 * o->l2_bias * h->bias[c];
    }
    return loss;
}

/* The signals' mean and 1 / standard deviation over the products fitted on. */
static void standardize(fusion_head *h, const float *sig, const int *y, size_t n)
{
    double sum[FUSION_SIGNALS] = {0}, sq[FUSION_SIGNALS] = {0};
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0)
            continue;
        used++;
        for (int j = 0; j < FUSION_SIGNALS; j++) {
            sum[j] += sig[i * FUSION_SIGNALS + j];
            sq[j] += (double)sig[i * FUSION_SIGNALS + j] * sig[i * FUSION_SIGNALS + j];
        }
    }
    for (int j = 0; j < FUSION_SIGNALS; j++) {
        double mean = used ? sum[j] / (double)used : 0;
        double var = used ? sq[j] / (double)used - mean * mean : 0;
        h->mean[j] = (float)mean;
        h->scale[j] = var > 1e-12 ? (float)(1 / sqrt(var)) : 1; /* a constant signal: as is */
    }
}

double fusion_gate_fit(fusion_head *h, const float *text, const float *image, const int *y,
                       size_t n, const fusion_fit_options *o)
{
    const size_t K = (size_t)h->nlabels, P = GATE_PARAMS + K;
    float *sig = mem_alloc((n + 1) * FUSION_SIGNALS * sizeof *sig);
    float *theta = mem_calloc(P, sizeof *theta), *grad = mem_alloc(P * sizeof *grad);
    float *m1 = mem_calloc(P, sizeof *m1), *m2 = mem_calloc(P, sizeof *m2);
    float *z = mem_alloc(K * sizeof *z);
    double loss = -1;
    if (!sig || !theta || !grad || !m1 || !m2 || !z)
        goto done;
    for (size_t i = 0; i < n; i++)
        fusion_signals(text + i * K, image + i * K, (int)K, sig + i * FUSION_SIGNALS);
    standardize(h, sig, y, n);
    h->kind = FUSION_GATE;
    for (int step = 1; step <= o->gate_steps + 1; step++) {
        memcpy(h->gate, theta, sizeof h->gate); /* from zero: both sides at softplus(0) */
        memcpy(h->bias, theta + GATE_PARAMS, K * sizeof *h->bias);
        if (step > o->gate_steps)
            break;
        fusion_gate_loss(h, text, image, sig, y, n, o, grad, z);
        adamw_step(theta, grad, m1, m2, 0, P, o->gate_lr, 0.9f, 0.999f, 1e-8f, 0, step);
    }
    loss = fusion_gate_loss(h, text, image, sig, y, n, o, NULL, z);
done:
    mem_free(sig);
    mem_free(theta);
    mem_free(grad);
    mem_free(m1);
    mem_free(m2);
    mem_free(z);
    return loss;
}
