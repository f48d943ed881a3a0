/* The first pass over the training catalog: which hashed features the model keeps (a row
 * each), their inverse document frequencies, the label ids, and the hashes of the training
 * texts (for reporting duplicates between training and test data). */
#ifndef SHELF_TRAIN_VOCAB_H
#define SHELF_TRAIN_VOCAB_H

#include "model/model.h"

/* Fills m->labels and m->seen, and the bag's rows and IDF weights (its settings must be
 * set); y[i] gets product i's label id. Uses `threads` threads. */
shelf_status vocab_build(shelf_model *m, bag_encoder *bag, const shelf_catalog *train,
                         int threads, uint32_t *y, shelf_error *err);

/* Fills m->labels and m->tax; y[i] gets product i's label id. */
shelf_status vocab_labels(shelf_model *m, const shelf_catalog *cat, uint32_t *y,
                          shelf_error *err);

#endif
