/* Training of the sequence text encoders (model/seq_encoder.h): a vocabulary from the
 * training set, then the loop's step (train/loop.h): batches of similar length shared by
 * all threads, AdamW with warm-up and cosine decay. */
#ifndef SHELF_TRAIN_SEQ_TRAINER_H
#define SHELF_TRAIN_SEQ_TRAINER_H

#include "model/model.h"

/* The sequence encoders' epochs for n training products, and --heads against --dim (their
 * ranges and other defaults are the options' table's). */
shelf_status seq_check_options(shelf_train_options *o, size_t n, shelf_error *err);

/* Trains a sequence encoder and its label head as m's text side, for the labels already in
 * m (y[i]: product i's label id). */
shelf_status train_seq_model(shelf_model *m, const shelf_catalog *train,
                             const shelf_catalog *valid, const shelf_train_options *o,
                             const uint32_t *y, shelf_error *err);

#endif
