/* Choosing a fused model's head (model/fusion_head.h) on products neither encoder trained
 * on: the gate and the per-branch head are each fitted on all folds but one and scored on
 * that one, and so for every fold; a head is eligible only if it matches the better single
 * side out of fold in both accuracy and macro-F1, and the most accurate eligible head is
 * refitted on every product and kept. With none eligible the model keeps that side alone:
 * fitting can never leave the fused model worse than its better side on these products.
 * (On fashion, the gate wins where titles are weak; with full titles it scores a little
 * above the text side in accuracy and below it in macro-F1, and the branch head is kept.) */
#ifndef SHELF_TRAIN_FUSION_CHOICE_H
#define SHELF_TRAIN_FUSION_CHOICE_H

#include <stddef.h>

#include "core/threadpool.h"
#include "model/fusion_head.h"
#include "train/fusion_fit.h"

/* Folds of the choice; with fewer products than 2 per fold, the branch head is fitted on all
 * without a choice. */
enum { FUSION_FOLDS = 5 };

/* text[i*K ..] and image[i*K ..] hold product i's log-probabilities under each encoder, y[i]
 * its true label (-1: left out). h comes from fusion_head_init with the labels' branches;
 * it ends as the chosen head, with h->tried what each kind scored. The fits run on pool's
 * threads, each on one thread, so the choice is the same with any number. 0, or -1 out of
 * memory. */
int fusion_head_choose(fusion_head *h, const float *text, const float *image, const int *y,
                       size_t n, const fusion_fit_options *o, thread_pool *pool);

#endif
