/* Training of fused (text and image) models, called by shelf_train. */
#ifndef SHELF_TRAIN_FUSED_TRAINER_H
#define SHELF_TRAIN_FUSED_TRAINER_H

#include "shelf.h"

shelf_status train_fused_model(const shelf_catalog *train, const shelf_catalog *valid,
                               const shelf_train_options *opts, shelf_model **out,
                               shelf_error *err);

/* Fits the fusion head of m (a text model with its CNN trained) on (the first products of)
 * fit, which neither has trained on. Also run alone by bench/refit_head.c, to refit a
 * trained model's head. */
shelf_status fused_fit_head(shelf_model *m, const shelf_catalog *fit, int threads,
                            shelf_error *err);

#endif
