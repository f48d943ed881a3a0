/* Training of text models with the bag of n-grams (model/bag_encoder.h). */
#ifndef SHELF_TRAIN_BAG_TRAINER_H
#define SHELF_TRAIN_BAG_TRAINER_H

#include "model/model.h"

/* Builds the labels, the bag's rows and the training texts' hashes from train, then trains
 * the bag and its label head as m's text side. o is checked and completed. */
shelf_status train_bag_model(shelf_model *m, const shelf_catalog *train,
                             const shelf_catalog *valid, const shelf_train_options *o,
                             shelf_error *err);

#endif
