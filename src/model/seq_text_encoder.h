/* The GRU and Transformer text encoders (model/seq_encoder.h) behind the encoder interface:
 * a text's features are its pooled token states; its label head is laid out by output, as
 * their training runs it over a batch. */
#ifndef SHELF_MODEL_SEQ_TEXT_ENCODER_H
#define SHELF_MODEL_SEQ_TEXT_ENCODER_H

#include "model/encoder.h"
#include "model/seq_encoder.h"

typedef struct seq_text_encoder {
    encoder base;
    seq_encoder seq;
} seq_text_encoder;

/* A sequence encoder of kind (sizes and vocabulary still to be set). NULL when out of
 * memory. */
seq_text_encoder *seq_text_encoder_new(seq_kind kind);

/* The encoder section of a model file: its sizes (D, layers, heads, F, T, nwords, nbuckets,
 * nsub), words and parameters; load reads what save wrote. */
int seq_text_encoder_load(model_reader *r, encoder_kind kind, encoder **out);
/* Reads the sizes into a new encoder of kind (checked as training checks them), for a
 * section of today's format or of an earlier one. 0, or -1 with r failed. */
int seq_text_encoder_read_sizes(model_reader *r, seq_kind kind, const uint32_t *sizes,
                                seq_text_encoder **out);

static inline seq_encoder *as_seq(encoder *e) { return &((seq_text_encoder *)e)->seq; }
static inline const seq_encoder *as_const_seq(const encoder *e)
{
    return &((const seq_text_encoder *)e)->seq;
}

#endif
