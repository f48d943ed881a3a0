/* --autotune: shelf_autotune (shelf.h). A search over text models within a budget of time
 * or trials, each trial trained on train by shelf_train and scored on valid through the one
 * prediction path: bags of n-grams of sampled settings (the settings given first, so the
 * search never ends below them on valid; then without character n-grams, or with them;
 * then random settings, then the best with one or two
 * settings drawn again); a GRU and a Transformer at their defaults where the budget holds
 * them; then ensembles (model/ensemble.h) of two or three of the kept candidates, whose
 * weights are fitted on valid. Bags are ranked on valid and out of fold on the training
 * split (two halves), so that among a hundred settings the best is chosen by more than its
 * luck on a small validation split; the choice between the kept models and their mixes is
 * made on valid. The trials are recorded in the chosen model. */
#ifndef SHELF_TRAIN_AUTOTUNE_H
#define SHELF_TRAIN_AUTOTUNE_H

#include "shelf.h"

#endif
