/* Why a model gave a product its label: an explanation per side, as one JSON object.
 *
 * Text: the margin of the label over the text side's runner-up (their logits' difference,
 * which the temperature only scales) split into a weight per token of the normalized text.
 *   - The bag of n-grams is linear in its TF-IDF vector, so the split is exact: each
 *     feature row's share of the margin (its weight times the difference of the two labels'
 *     head weights, through the embeddings with --dim, summed over each label's taxonomy
 *     nodes under --hierarchy) goes equally to its occurrences, and an occurrence's to the
 *     tokens it spans: a word bigram half to each word, a character n-gram to its word.
 *     The tokens' weights and the bias difference sum to the margin.
 *   - The GRU and the Transformer by occlusion: a token's weight is how much the margin
 *     falls when the text is read without it. Integrated gradients would need a backward
 *     pass through every layer at prediction time, which these encoders only have in
 *     training; occlusion needs only the forward pass any encoder has, and measures
 *     directly what a merchandiser asks ("would it still be Flats without this word?").
 * Image: occlusion on a 4 x 4 grid: a cell's weight is how much the label's probability
 * (the image side's) falls when the cell is greyed to the training images' mean colour.
 * Fused models: the fusion weights the product got, and each side it had. */
#ifndef SHELF_MODEL_EXPLAIN_H
#define SHELF_MODEL_EXPLAIN_H

#include "core/buf.h"
#include "model/model.h"

enum { EXPLAIN_GRID = 4, EXPLAIN_MAX_TOKENS = 256 };

typedef struct explainer explainer;

/* An explainer of m's predictions, with its own scratch. NULL when out of memory. */
explainer *explainer_new(const shelf_model *m);
void explainer_free(explainer *x);

/* The text side's explanation of label for text: tokens[0..*n) (pointers into the
 * explainer, valid until its next call) with weights and positions, best first; the
 * runner-up; the margin
 * and the part no token carries (bias: exact for the bag, 0 for occlusion). exact says
 * which. 0, or -1 out of memory. */
typedef struct text_explanation {
    int label, versus;
    int exact;
    float margin, bias;
    float adjust; /* --balance adjust's part of the margin (0 without), in the bias */
    size_t n;
    const char **tokens;
    float *weights;
    const size_t *positions; /* each token's place in the text's token sequence */
    const size_t *lens;      /* by position: each token's bytes */
} text_explanation;
int explain_text(explainer *x, shelf_scratch *s, const char *text, int label,
                 text_explanation *out);

/* The image side's occlusion grid (EXPLAIN_GRID x EXPLAIN_GRID, row by row) of label for one
 * image decoded at the model's size, through the work area w (batch images at a time), and
 * the label's probability of the whole image. 0, or -1 out of memory. */
int explain_image(explainer *x, encoder_work *w, size_t batch, const unsigned char *pixels,
                  int label, float grid[EXPLAIN_GRID * EXPLAIN_GRID], float *prob);

/* One product's explanation as a JSON object (caller frees): {"label", "text": {...},
 * "image": {...}, "fusion": {...}}, each side when given (text NULL or pixels NULL: not),
 * fusion when fusion is not NULL. NULL when out of memory. */
char *explain_product(explainer *x, shelf_scratch *s, encoder_work *w, size_t batch,
                      const char *text, const unsigned char *pixels, int label,
                      const float *fusion);

/* explain_product's object appended to out, with its NUL (so that many can share one
 * buffer). 0, or -1 out of memory. */
int explain_product_to(explainer *x, buf *out, shelf_scratch *s, encoder_work *w,
                       size_t batch, const char *text, const unsigned char *pixels, int label,
                       const float *fusion);

/* The bag model's prediction of text as shelf_predict_texts gives it (k labels and their
 * probabilities; returns how many) and the explanation of the best one appended to out as
 * explain_product_to does (nothing when no label), reading the text once for both: what an
 * explained run of a bag model does per product. -1 out of memory. */
int explain_bag_predict(explainer *x, const char *text, int k, int *labels, float *probs,
                        buf *out);

#endif
