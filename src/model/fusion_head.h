/* The fusion head of text+image models: how much to believe the title and how much the
 * photo. Three forms, one chosen when the model is trained (train/fusion_choice.h):
 *
 *   gate     per product: z[c] = a_text * text_log_prob[c] + a_image * image_log_prob[c]
 *            + bias[c], where a = softplus(weights . signals) reads how sure each side is
 *            (its entropy, its top probability, its margin over the runner-up), so that
 *            "Puma Men" (the text unsure) leaves the decision to the photo and "Puma Men
 *            Black Running Shoes" does not; the bias per label corrects for the label's
 *            prior counted twice;
 *   branch   per branch g of the taxonomy (the label's parent path):
 *            z[c] = w_text[g] * text_log_prob[c] + w_image[g] * image_log_prob[c],
 *            so that under "Footwear > Shoes" the photo can weigh more than under
 *            "Apparel > Topwear" (models before the gate have this form only);
 *   one side the text's or the image's log-probabilities alone, when no head did better
 *            than that side on products neither encoder trained on.
 * Both encoders are trained first, each on its own; the head is fitted afterwards on
 * products neither has seen (the validation set), where each side's mistakes look as they
 * will on new products. */
#ifndef SHELF_MODEL_FUSION_HEAD_H
#define SHELF_MODEL_FUSION_HEAD_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

typedef enum fusion_kind {
    FUSION_BRANCH = 0,
    FUSION_GATE = 1,
    FUSION_TEXT = 2,
    FUSION_IMAGE = 3,
    FUSION_KINDS
} fusion_kind;

/* What the gate reads of a product, per side (text, then image): the entropy of its
 * probabilities, the top probability, and the top one's margin over the second. */
enum { FUSION_SIDE_SIGNALS = 3, FUSION_SIGNALS = 2 * FUSION_SIDE_SIGNALS };

/* How a head scored out of fold when training chose among them (accuracy < 0: not tried). */
typedef struct fusion_score {
    float accuracy, macro_f1;
} fusion_score;

typedef struct fusion_head {
    int nlabels, ngroups;
    fusion_kind kind;
    /* branch */
    int32_t *group;  /* nlabels: the label's branch (its parent path) */
    float *w_text;   /* ngroups */
    float *w_image;  /* ngroups */
    /* gate: the signals standardized, (s - mean) * scale, then per side the weights of the
     * signals and a constant last; a bias per label */
    float mean[FUSION_SIGNALS], scale[FUSION_SIGNALS];
    float gate[2][FUSION_SIGNALS + 1];
    float *bias;     /* nlabels */
    /* what training measured of each kind, for shelf info */
    fusion_score tried[FUSION_KINDS];
    int folds, rows; /* of the choice: folds and products it was measured on (0: none) */
} fusion_head;

/* Allocates a head for the given branches (group[c] in [0, ngroups)), of kind branch at the
 * plain sum of the two log-probabilities: weights 1, the gate's parameters and biases 0.
 * 0, or -1 when out of memory. */
int fusion_head_init(fusion_head *h, int nlabels, int ngroups, const int32_t *group);
void fusion_head_free(fusion_head *h);
static inline int fusion_head_ready(const fusion_head *h) { return h->nlabels > 0; }
/* A name for the kind: "gate", "branch", "text", "image". */
const char *fusion_kind_name(fusion_kind k);

/* The gate's signals of one product from its two sides' log-probabilities (K labels). */
void fusion_signals(const float *text_log_prob, const float *image_log_prob, int K,
                    float s[FUSION_SIGNALS]);
/* The gate's scores u (text, image) for signals s, before the softplus that makes them
 * weights; and the weights (a_text, a_image) themselves. */
void fusion_gate_scores(const fusion_head *h, const float s[FUSION_SIGNALS], float u[2]);
/* The weight a score gives: softplus(u) = log(1 + e^u), without overflow. */
static inline float fusion_gate_weight(float u) { return u > 20 ? u : log1pf(expf(u)); }
void fusion_gate_weights(const fusion_head *h, const float s[FUSION_SIGNALS], float a[2]);
/* Branch heads: the branch, other than those skip marks (NULL: none), where the photo
 * weighs most per unit of the title's weight (the first of equals); -1 when every one is
 * skipped. */
int fusion_head_photo_branch(const fusion_head *h, const unsigned char *skip);

/* The fused scores z[0..K) of one product (z may be image_log_prob), and in weights (NULL:
 * not asked) what the text and the image weighed for it: the gate's a, the branch weights
 * of the best label's branch, or 1 and 0 for one side. */
void fusion_head_apply(const fusion_head *h, const float *text_log_prob,
                       const float *image_log_prob, float *z, float weights[2]);

#endif
