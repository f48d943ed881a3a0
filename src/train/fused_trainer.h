/* Training of fused (text and image) models, called by shelf_train. */
#ifndef SHELF_TRAIN_FUSED_TRAINER_H
#define SHELF_TRAIN_FUSED_TRAINER_H

#include "shelf.h"

shelf_status train_fused_model(const shelf_catalog *train, const shelf_catalog *valid,
                               const shelf_train_options *opts, shelf_model **out,
                               shelf_error *err);

#endif
