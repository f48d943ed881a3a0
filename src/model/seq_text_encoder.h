/* The GRU and Transformer text encoders (model/seq_encoder.h) behind the encoder interface:
 * a text's features are its pooled token states; its label head is laid out by output, as
 * their training runs it over a batch. Training tokenizes the texts once (seq_corpus), and
 * its optimizer reads which embedding rows a batch used (seq_corpus_rows_used). */
#ifndef SHELF_MODEL_SEQ_TEXT_ENCODER_H
#define SHELF_MODEL_SEQ_TEXT_ENCODER_H

#include "model/encoder.h"
#include "model/seq_encoder.h"

/* The training texts as ids: text i's len[i] steps of seq_slots ids at tok + off[i] * slots. */
typedef struct seq_corpus {
    int32_t *tok;
    size_t *off;
    int *len;
    size_t n;
} seq_corpus;

typedef struct seq_text_encoder {
    encoder base;
    seq_encoder seq;
    float dropout;       /* training: the share of embedded and pooled values dropped */
    seq_corpus training; /* between train_begin and train_end */
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
                                int int8, seq_text_encoder **out);
/* An int8 encoder's section (the model file's SECTION_TEXT_ENCODER_INT8): its kind, sizes
 * and words, the embedding table's codes and scales, then the other parameters. */
void seq_text_encoder_save_int8(const encoder *e, model_writer *w);
int seq_text_encoder_load_int8(model_reader *r, encoder **out);

/* The vocabulary (tokens seen at least twice, over every rank's texts in a distributed run
 * (comm; NULL: one process); the others hash into buckets) into e, and the texts
 * (texts[rows[i]], or texts[i] without rows) as e's ids into c. */
shelf_status seq_corpus_build(seq_encoder *e, seq_corpus *c, const char *const *texts,
                              const uint32_t *rows, size_t n, const shelf_comm *comm,
                              shelf_error *err);
void seq_corpus_free(seq_corpus *c);
/* The embedding rows that texts rows[0..n) of c use, ascending, each once, into out (room
 * for all their ids); returns how many. */
int seq_corpus_rows_used(const seq_encoder *e, const seq_corpus *c, const uint32_t *rows,
                         size_t n, int32_t *out);

static inline seq_encoder *as_seq(encoder *e) { return &((seq_text_encoder *)e)->seq; }
static inline const seq_encoder *as_const_seq(const encoder *e)
{
    return &((const seq_text_encoder *)e)->seq;
}

#endif
