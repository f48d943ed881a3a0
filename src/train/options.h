/* The training options: defaults (shelf_train_options_default) and checks. */
#ifndef SHELF_TRAIN_OPTIONS_H
#define SHELF_TRAIN_OPTIONS_H

#include <stddef.h>

#include "shelf.h"

/* Checks o for a catalog of n products and fills in the defaults of what it leaves at 0
 * (the text side's; an image model's are the image trainer's). */
shelf_status train_check_options(shelf_train_options *o, size_t n, shelf_error *err);

#endif
