/* Training of image models (the CNN of model/cnn.h), called by shelf_train. */
#ifndef SHELF_TRAIN_IMAGE_TRAINER_H
#define SHELF_TRAIN_IMAGE_TRAINER_H

#include "shelf.h"

/* Trains m's CNN on the images of train; valid (may be NULL) picks the best epoch. Fills
 * in o's image defaults. m is new and empty, or (a fused model) a trained text model whose
 * evidence, prior_train and prior_valid (one row of log-probabilities over m's labels per
 * catalog product), the CNN learns on top of; NULL for an image model. */
shelf_status train_image_model(shelf_model *m, const shelf_catalog *train,
                               const shelf_catalog *valid, shelf_train_options *o,
                               const float *prior_train, const float *prior_valid,
                               shelf_error *err);

#endif
