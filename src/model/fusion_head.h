/* The fusion head of text+image models: how much to believe the title and how much the
 * photo, learned per branch of the taxonomy. A label c under parent branch g scores
 *     z[c] = w_text[g] * text_log_prob[c] + w_image[g] * image_log_prob[c]
 * so that under "Footwear > Shoes" (flats against heels) the photo can weigh more than under
 * "Apparel > Topwear", where the title already says "Tshirt". The two encoders are trained
 * first, each on its own; the head is fitted afterwards on products neither has seen (the
 * validation set), where each modality's mistakes look as they will on new products. */
#ifndef SHELF_MODEL_FUSION_HEAD_H
#define SHELF_MODEL_FUSION_HEAD_H

#include <stddef.h>
#include <stdint.h>

typedef struct fusion_head {
    int nlabels, ngroups;
    int32_t *group;  /* nlabels: the label's branch (its parent path) */
    float *w_text;   /* ngroups */
    float *w_image;  /* ngroups */
} fusion_head;

/* Allocates a head for the given branches (group[c] in [0, ngroups)), at the plain sum of
 * the two log-probabilities: weights 1. 0, or -1 when out of memory. */
int fusion_head_init(fusion_head *h, int nlabels, int ngroups, const int32_t *group);
void fusion_head_free(fusion_head *h);
static inline int fusion_head_ready(const fusion_head *h) { return h->nlabels > 0; }

/* The fused scores z[0..K) of one product (z may be image_log_prob). */
void fusion_head_apply(const fusion_head *h, const float *text_log_prob,
                       const float *image_log_prob, float *z);

#endif
