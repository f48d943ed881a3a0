/* What every trainer's checkpoints share (shelf train --checkpoint, --resume): writing the
 * model as it stands with where the run stands, and taking up a checkpoint of this run. */
#ifndef SHELF_TRAIN_CHECKPOINT_H
#define SHELF_TRAIN_CHECKPOINT_H

#include "model/model.h"

/* m as it stands, with st (steps, fingerprints and the trainer's own state filled in by the
 * caller), to o->checkpoint, whole or not at all; shelf info reads the epochs so far and the
 * settings from it. Rank 0 alone writes in a distributed run (SHELF_OK elsewhere). */
shelf_status checkpoint_write(shelf_model *m, const shelf_train_options *o, train_state *st,
                              shelf_error *err);

/* --resume: the checkpoint `from` is of this run (its fingerprints are these), and m's
 * curve becomes its curve, which the run goes on. SHELF_EINVAL naming what differs. */
shelf_status checkpoint_take_up(shelf_model *m, const shelf_model *from, uint64_t catalog,
                                uint64_t options, shelf_error *err);

/* A catalog's fingerprint is a sum over its products, so that a distributed run's parts sum
 * to the whole's: sum with the product of this content (its text or image reference) and
 * label added. */
uint64_t checkpoint_fingerprint_add(uint64_t sum, const char *content, const char *label);

#endif
