#include "model/fusion_head.h"
#include "core/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int fusion_head_init(fusion_head *h, int nlabels, int ngroups, const int32_t *group)
{
    memset(h, 0, sizeof *h);
    h->group = mem_alloc((size_t)(nlabels > 0 ? nlabels : 1) * sizeof *h->group);
    h->w_text = mem_alloc((size_t)(ngroups > 0 ? ngroups : 1) * sizeof *h->w_text);
    h->w_image = mem_alloc((size_t)(ngroups > 0 ? ngroups : 1) * sizeof *h->w_image);
    h->bias = mem_calloc((size_t)(nlabels > 0 ? nlabels : 1), sizeof *h->bias);
    if (!h->group || !h->w_text || !h->w_image || !h->bias) {
        fusion_head_free(h);
        return -1;
    }
    h->nlabels = nlabels;
    h->ngroups = ngroups;
    h->kind = FUSION_BRANCH;
    memcpy(h->group, group, (size_t)nlabels * sizeof *group);
    for (int g = 0; g < ngroups; g++)
        h->w_text[g] = h->w_image[g] = 1;
    for (int j = 0; j < FUSION_SIGNALS; j++)
        h->scale[j] = 1;
    for (int k = 0; k < FUSION_KINDS; k++)
        h->tried[k] = (fusion_score){-1, -1};
    return 0;
}

void fusion_head_free(fusion_head *h)
{
    mem_free(h->group);
    mem_free(h->w_text);
    mem_free(h->w_image);
    mem_free(h->bias);
    memset(h, 0, sizeof *h);
}

const char *fusion_kind_name(fusion_kind k)
{
    static const char *const names[FUSION_KINDS] = {"branch", "gate", "text", "image"};
    return k >= 0 && k < FUSION_KINDS ? names[k] : "?";
}

/* Entropy, top probability and margin of one side's log-probabilities. */
static void side_signals(const float *lp, int K, float *s)
{
    double entropy = 0;
    float top = 0, second = 0;
    for (int c = 0; c < K; c++) {
        float p = expf(lp[c]);
        if (p > 0)
            entropy -= (double)p * lp[c];
        if (p > top) {
            second = top;
            top = p;
        } else if (p > second) {
            second = p;
        }
    }
    s[0] = (float)entropy;
    s[1] = top;
    s[2] = top - second;
}

void fusion_signals(const float *text_log_prob, const float *image_log_prob, int K,
                    float s[FUSION_SIGNALS])
{
    side_signals(text_log_prob, K, s);
    side_signals(image_log_prob, K, s + FUSION_SIDE_SIGNALS);
}

void fusion_gate_scores(const fusion_head *h, const float s[FUSION_SIGNALS], float u[2])
{
    for (int side = 0; side < 2; side++) {
        const float *w = h->gate[side];
        u[side] = w[FUSION_SIGNALS];
        for (int j = 0; j < FUSION_SIGNALS; j++)
            u[side] += w[j] * (s[j] - h->mean[j]) * h->scale[j];
    }
}

void fusion_gate_weights(const fusion_head *h, const float s[FUSION_SIGNALS], float a[2])
{
    float u[2];
    fusion_gate_scores(h, s, u);
    a[0] = fusion_gate_weight(u[0]);
    a[1] = fusion_gate_weight(u[1]);
}

int fusion_head_photo_branch(const fusion_head *h, const unsigned char *skip)
{
    int best = -1;
    for (int g = 0; g < h->ngroups; g++)
        if (!(skip && skip[g]) && (best < 0 || h->w_image[g] * fabsf(h->w_text[best]) >
                                                   h->w_image[best] * fabsf(h->w_text[g])))
            best = g;
    return best;
}

void fusion_head_apply(const fusion_head *h, const float *text_log_prob,
                       const float *image_log_prob, float *z, float weights[2])
{
    float a[2] = {1, 0};
    switch (h->kind) {
    case FUSION_GATE: {
        float s[FUSION_SIGNALS];
        fusion_signals(text_log_prob, image_log_prob, h->nlabels, s);
        fusion_gate_weights(h, s, a);
        for (int c = 0; c < h->nlabels; c++)
            z[c] = a[0] * text_log_prob[c] + a[1] * image_log_prob[c] + h->bias[c];
        break;
    }
    case FUSION_BRANCH: {
        int best = 0;
        for (int c = 0; c < h->nlabels; c++) {
            int g = h->group[c];
            z[c] = h->w_text[g] * text_log_prob[c] + h->w_image[g] * image_log_prob[c];
            best = z[c] > z[best] ? c : best;
        }
        a[0] = h->w_text[h->group[best]];
        a[1] = h->w_image[h->group[best]];
        break;
    }
    case FUSION_TEXT:
        memmove(z, text_log_prob, (size_t)h->nlabels * sizeof *z);
        break;
    default: /* FUSION_IMAGE */
        memmove(z, image_log_prob, (size_t)h->nlabels * sizeof *z);
        a[0] = 0;
        a[1] = 1;
        break;
    }
    if (weights) {
        weights[0] = a[0];
        weights[1] = a[1];
    }
}
