/* Training of a model's text side: the bag of n-grams or a sequence encoder, with its head. */
#ifndef SHELF_TRAIN_TEXT_TRAINER_H
#define SHELF_TRAIN_TEXT_TRAINER_H

#include "model/model.h"

/* m is new: its read options, its labels and its text encoder come from o (checked by
 * train_check_options) and train. */
shelf_status train_text_model(shelf_model *m, const shelf_catalog *train,
                              const shelf_catalog *valid, const shelf_train_options *o,
                              shelf_error *err);

#endif
