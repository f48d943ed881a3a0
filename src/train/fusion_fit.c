#include "train/fusion_fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "nn/softmax.h"

void fusion_fit_options_default(fusion_fit_options *o)
{
    *o = (fusion_fit_options){.steps = 300, .lr = 0.05f, .l2_branch = 0.1f};
}

double fusion_head_loss(const fusion_head *h, const float *text, const float *image,
                        const int *y, size_t n, const fusion_fit_options *o, float *grad,
                        float *z)
{
    int K = h->nlabels, G = h->ngroups;
    float *gt = grad, *gi = grad ? grad + G : NULL;
    if (grad)
        memset(grad, 0, (size_t)(2 * G) * sizeof *grad);
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += y[i] >= 0;
    double loss = 0, inv = used ? 1.0 / (double)used : 0;
    for (size_t i = 0; i < n; i++) {
        if (y[i] < 0)
            continue;
        const float *t = text + i * (size_t)K, *im = image + i * (size_t)K;
        fusion_head_apply(h, t, im, z);
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
