/* The bag's first pass over the training texts: which hashed features it keeps (a row
 * each) and their inverse document frequencies. */
#ifndef SHELF_MODEL_BAG_VOCAB_H
#define SHELF_MODEL_BAG_VOCAB_H

#include "model/bag_encoder.h"

/* The bag's rows and IDF weights (its settings must be set) from texts[0..n), on `threads`
 * threads; seen (NULL, or n hashes) gets each text's normalized tokens' hash. */
shelf_status bag_vocab_build(bag_encoder *bag, const char *const *texts, size_t n,
                             int threads, uint64_t *seen, shelf_error *err);

#endif
