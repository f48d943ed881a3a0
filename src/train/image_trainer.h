/* Training of image models (the CNN of model/cnn.h), called by shelf_train. */
#ifndef SHELF_TRAIN_IMAGE_TRAINER_H
#define SHELF_TRAIN_IMAGE_TRAINER_H

#include "shelf.h"

/* Trains m's CNN on the images of train; valid (may be NULL) picks the best epoch. Fills
 * in o's image defaults. m is new and empty, or (fused) a trained text model, beside which
 * the CNN learns on its own; products without an image are then left to the text model
 * rather than refused. */
shelf_status train_image_model(shelf_model *m, const shelf_catalog *train,
                               const shelf_catalog *valid, shelf_train_options *o, int fused,
                               shelf_error *err);

#endif
