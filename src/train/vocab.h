/* What a model keeps of its training catalog besides its encoders': the label ids, and the
 * hashes of the training texts (for reporting duplicates between training and test data). */
#ifndef SHELF_TRAIN_VOCAB_H
#define SHELF_TRAIN_VOCAB_H

#include "model/model.h"

/* The catalog's texts, in its order (for an encoder's train_begin); NULL out of memory. */
const char **vocab_texts(const shelf_catalog *cat);

/* m->seen from the n training texts' hashes (encoder_setup.seen): sorted, without repeats;
 * takes ownership of seen. */
void vocab_keep_seen(shelf_model *m, uint64_t *seen, size_t n);

/* A distributed run (comm): every rank's labels, in rank order and each rank's first-seen
 * order, into m->labels, so that the ids are the same on every rank and as one process
 * reading the whole file gives them; then *seen (n hashes, mem_alloc'd) becomes every
 * rank's, *nseen of them. Nothing for a NULL comm. */
shelf_status vocab_share(shelf_model *m, const shelf_catalog *cat, const shelf_comm *comm,
                         shelf_error *err);
shelf_status vocab_share_seen(const shelf_comm *comm, uint64_t **seen, size_t *nseen,
                              shelf_error *err);

/* Fills m->labels and m->tax; y[i] gets product i's label id. */
shelf_status vocab_labels(shelf_model *m, const shelf_catalog *cat, uint32_t *y,
                          shelf_error *err);

#endif
