/* The bag's first pass over the training texts: which hashed features it keeps (a row
 * each) and their inverse document frequencies. */
#ifndef SHELF_MODEL_BAG_VOCAB_H
#define SHELF_MODEL_BAG_VOCAB_H

#include "model/bag_encoder.h"

/* The bag's rows and IDF weights (its settings must be set) from texts[0..n), on `threads`
 * threads; seen (NULL, or n hashes) gets each text's normalized tokens' hash. With comm (a
 * distributed run, texts this rank's share) the counts of every rank's texts: the same rows
 * on every rank, as one process would keep from all of them. */
shelf_status bag_vocab_build(bag_encoder *bag, const char *const *texts, size_t n,
                             int threads, uint64_t *seen, const shelf_comm *comm,
                             shelf_error *err);

/* A copy of the bag (without embeddings) with rows for the features of texts[0..n) that it
 * has none for and training would have kept (the same rule), weighted with the IDF they
 * would have had in a corpus of corpus + n texts: the words of labels added after training
 * (train/imprint.c, shelf train --init). (*old_to_new)[r] is old row r's row in the copy;
 * seen (NULL, or n hashes) gets each text's, as bag_vocab_build. SHELF_EINVAL for a bag with
 * embeddings, whose new rows would have none. */
shelf_status bag_vocab_extend(const bag_encoder *bag, const char *const *texts, size_t n,
                              long corpus, uint64_t *seen, bag_encoder **out,
                              uint32_t **old_to_new, shelf_error *err);

#endif
