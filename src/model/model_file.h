/* The model file's readers: of today's sections (model_file_read.c), of the formats before
 * sections (model_file_legacy.c), and the parts both read alike (model_file_read.c). Each
 * check marks the reader failed when what was read is not something training could have
 * written. */
#ifndef SHELF_MODEL_MODEL_FILE_H
#define SHELF_MODEL_MODEL_FILE_H

#include "model/model.h"
#include "model/model_io.h"
#include "model/seq_encoder.h"

/* The sections' tags. */
#define MODEL_TAG(a, b, c, d) \
    ((uint32_t)(a) | (uint32_t)(b) << 8 | (uint32_t)(c) << 16 | (uint32_t)(d) << 24)
enum {
    SECTION_MODEL = MODEL_TAG('M', 'O', 'D', 'L'),     /* modality, hierarchy */
    SECTION_READ = MODEL_TAG('R', 'E', 'A', 'D'),      /* how to read a catalog */
    SECTION_LABELS = MODEL_TAG('L', 'A', 'B', 'L'),
    SECTION_INFO = MODEL_TAG('I', 'N', 'F', 'O'),      /* what training recorded */
    SECTION_CALIBRATION = MODEL_TAG('C', 'A', 'L', 'B'),
    SECTION_SEEN = MODEL_TAG('S', 'E', 'E', 'N'),      /* the training texts' hashes */
    SECTION_TEXT_ENCODER = MODEL_TAG('E', 'N', 'C', 'T'),
    SECTION_TEXT_ENCODER_INT8 = MODEL_TAG('E', 'N', 'T', '8'), /* a GRU's or Transformer's
                                                                  int8 embedding table */
    SECTION_TEXT_HEAD = MODEL_TAG('H', 'E', 'D', 'T'),
    SECTION_TEXT_HEAD_INT8 = MODEL_TAG('H', 'D', '8', 'T'), /* the text head as int8 rows
                                                            (shelf quantize) */
    SECTION_SEQ = MODEL_TAG('S', 'E', 'Q', 'T'),       /* read only: a sequence encoder with its
                                                    head, as format 7 first wrote it */
    SECTION_IMAGE_ENCODER = MODEL_TAG('E', 'N', 'C', 'I'),
    SECTION_IMAGE_HEAD = MODEL_TAG('H', 'E', 'D', 'I'),
    SECTION_IMAGE_ENCODER_INT8 = MODEL_TAG('E', 'N', 'I', '8'), /* the CNN's int8 form */
    SECTION_CNN = MODEL_TAG('C', 'N', 'N', 'I'),       /* read only: the CNN with its classifier,
                                                    as format 7 first wrote it */
    SECTION_FUSION = MODEL_TAG('F', 'U', 'S', 'E'),    /* read only: the per-branch head, as
                                                    files before the gate wrote it */
    SECTION_FUSION_HEAD = MODEL_TAG('F', 'U', 'S', 'H'), /* the head of any kind */
    SECTION_CURVE = MODEL_TAG('C', 'U', 'R', 'V'),       /* loss and validation accuracy per
                                                           epoch */
    SECTION_THRESHOLD = MODEL_TAG('T', 'H', 'R', 'S'),   /* --min-confidence auto */
    SECTION_ADJUST = MODEL_TAG('L', 'A', 'D', 'J'),      /* --balance adjust */
    SECTION_ENSEMBLE = MODEL_TAG('E', 'N', 'S', 'M'),    /* an ensemble's weights, then a
                                                           SECTION_MEMBER per member */
    SECTION_MEMBER = MODEL_TAG('M', 'E', 'M', 'B'),      /* a member: a model's sections */
    SECTION_SEARCH = MODEL_TAG('A', 'T', 'U', 'N'),      /* --autotune's trials (JSON lines) */
    SECTION_STATE = MODEL_TAG('C', 'K', 'P', 'T')        /* a checkpoint's training state */
};

/* Version 7 on: the sections after the header, and whether they make a whole model of its
 * modality (model_file_read.c). 0, or -1 with r failed. */
int model_read_sections(model_reader *r, shelf_model *m);
/* Versions 1-6: the whole model, after the header (model_file_legacy.c). */
int model_read_legacy(model_reader *r, shelf_model *m);
/* Whether f (size bytes) holds the checksum of a version-1 file written before 7d13485. 1
 * or 0, -1 out of memory. */
int model_legacy_early_checksum_ok(FILE *f, uint64_t size);

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
/* The fusion head of any kind (SECTION_FUSION_HEAD). */
int model_read_fusion_head(model_reader *r, shelf_model *m);
/* A sequence encoder of this kind and sizes (D, layers, heads, F, T, nwords, nbuckets,
 * nsub), then its words and parameters and those of its label head, into m->text and
 * m->text_head. */
int model_read_seq(model_reader *r, shelf_model *m, seq_kind kind, const uint32_t *sizes);

#endif
