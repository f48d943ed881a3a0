/* Training of image models (the CNN of model/cnn.h), called by shelf_train. */
#ifndef SHELF_TRAIN_IMAGE_TRAINER_H
#define SHELF_TRAIN_IMAGE_TRAINER_H

#include "shelf.h"

/* Trains m (new, empty) on the images of train; valid (may be NULL) picks the best epoch.
 * Fills in o's image defaults. */
shelf_status train_image_model(shelf_model *m, const shelf_catalog *train,
                               const shelf_catalog *valid, shelf_train_options *o,
                               shelf_error *err);

#endif
