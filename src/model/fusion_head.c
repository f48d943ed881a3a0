#include "model/fusion_head.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>

int fusion_head_init(fusion_head *h, int nlabels, int ngroups, const int32_t *group)
{
    memset(h, 0, sizeof *h);
    h->group = mem_alloc((size_t)(nlabels > 0 ? nlabels : 1) * sizeof *h->group);
    h->w_text = mem_alloc((size_t)(ngroups > 0 ? ngroups : 1) * sizeof *h->w_text);
    h->w_image = mem_alloc((size_t)(ngroups > 0 ? ngroups : 1) * sizeof *h->w_image);
    if (!h->group || !h->w_text || !h->w_image) {
        fusion_head_free(h);
        return -1;
    }
    h->nlabels = nlabels;
    h->ngroups = ngroups;
    memcpy(h->group, group, (size_t)nlabels * sizeof *group);
    for (int g = 0; g < ngroups; g++)
        h->w_text[g] = h->w_image[g] = 1;
    return 0;
}

void fusion_head_free(fusion_head *h)
{
    mem_free(h->group);
    mem_free(h->w_text);
    mem_free(h->w_image);
    memset(h, 0, sizeof *h);
}

void fusion_head_apply(const fusion_head *h, const float *text_log_prob,
                       const float *image_log_prob, float *z)
{
    for (int c = 0; c < h->nlabels; c++) {
        int g = h->group[c];
        z[c] = h->w_text[g] * text_log_prob[c] + h->w_image[g] * image_log_prob[c];
    }
}
