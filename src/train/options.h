/* The training options: their table (shelf_train_option_table), defaults and checks. */
#ifndef SHELF_TRAIN_OPTIONS_H
#define SHELF_TRAIN_OPTIONS_H

#include <stddef.h>

#include "shelf.h"

/* Checks o for a catalog of n products: which options given apply to the model, and the
 * range of each that does; then fills in the defaults of what it leaves unset (the text
 * side's; an image model's lr and augmentations are options_check_image's). */
/* Whether the option of this name was given by name (shelf_train_options_set). */
int train_option_given(const shelf_train_options *o, const char *name);

shelf_status train_check_options(shelf_train_options *o, size_t n, shelf_error *err);

/* For the table's entries that apply to encoders (SHELF_FOR_*; fused: a fused model's
 * entries): the range of each value given, the table's default for each not given. */
shelf_status options_fill(shelf_train_options *o, unsigned encoders, int fused,
                          shelf_error *err);

/* The CNN's options for a catalog of n products: options_fill's, then the epochs by n when
 * not given, the learning rate by the optimizer, and the smallest batch at the smallest
 * image. */
shelf_status options_check_image(shelf_train_options *o, size_t n, shelf_error *err);

/* What shapes a run (the encoders' settings, epochs, rate, batch, optimizer, seed,
 * balance, the size of the validation set, 0 without one; not threads nor ranks): checkpoints record it so that
 * --resume of another run is refused. */
uint64_t train_options_fingerprint(const shelf_train_options *o, size_t valid);

#endif
