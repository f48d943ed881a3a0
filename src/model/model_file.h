/* The model file's parts shared by the reader of today's format (model_file.c) and of the
 * formats before sections (model_file_legacy.c). Each check marks the reader failed when
 * what was read is not something training could have written. */
#ifndef SHELF_MODEL_MODEL_FILE_H
#define SHELF_MODEL_MODEL_FILE_H

#include "model/model.h"
#include "model/model_io.h"
#include "model/seq_encoder.h"

/* Versions 1-6: the whole model, after the header. 0, or -1 with r failed. */
int model_read_legacy(model_reader *r, shelf_model *m);

/* u32 count, then the labels, which must be distinct. */
int model_read_labels(model_reader *r, shelf_model *m);
/* Points m->read's strings at m->read_strings. */
void model_point_read_strings(shelf_model *m);
/* The temperature, the format and the depth the labels were cut at. */
int model_check_settings(model_reader *r, shelf_model *m);
/* The training texts' hashes (u64 count, then ascending hashes). */
int model_read_seen(model_reader *r, shelf_model *m);
/* A fusion head of G branches: with weights, each label's branch and the branches' text
 * and image weights follow; without (version 2), every label in one branch, weights 1. */
int model_read_fusion(model_reader *r, shelf_model *m, uint32_t G, int weights);
/* A sequence encoder of this kind and sizes (D, layers, heads, F, T, nwords, nbuckets,
 * nsub), then its words and parameters and those of its label head, into m->text and
 * m->text_head. */
int model_read_seq(model_reader *r, shelf_model *m, seq_kind kind, const uint32_t *sizes);

#endif
