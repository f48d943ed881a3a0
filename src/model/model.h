/* A model: the labels and their taxonomy, the encoders (text, image) with their label heads,
 * the fusion of the two, calibration, and what training recorded; softmax over the label
 * paths seen in training. Read-only once trained. */
#ifndef SHELF_MODEL_MODEL_H
#define SHELF_MODEL_MODEL_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "core/strmap.h"
#include "model/bag_encoder.h"
#include "model/fusion_head.h"
#include "model/image_model.h"
#include "model/label_head.h"
#include "model/taxonomy.h"
#include "shelf.h"

enum { MODEL_MAX_LABEL_DEPTH = 64, MODEL_MAX_MEMBERS = 3 };
#define MODEL_AUTO_PRECISION 0.99f

/* One epoch of training: the mean training loss, and the validation accuracy after it (-1
 * without a validation set). */
typedef struct model_epoch {
    float loss, valid_accuracy;
} model_epoch;

typedef struct model_info {
    char *train_path;
    long train_rows, valid_rows;
    int epochs;         /* run */
    int epochs_planned;
    float lr;
    int threads;
    uint64_t seed;
    double train_seconds;
    double valid_accuracy; /* -1 without a validation set */
    long skipped_images;   /* image models: products skipped for a bad image (--skip-bad) */
    long skipped_empty;    /* fused models: products with neither a text nor an image */
    double fit_seconds;    /* in training steps (no loading, no validation): image models
                              all epochs, sequence text encoders per epoch */
    model_epoch *curve;    /* the training curve, ncurve epochs (the CNN's in a fused model);
                              NULL in files before it was kept */
    int ncurve;
} model_info;

/* Where a training run stands, kept in a checkpoint (shelf train --checkpoint DIR): a model
 * file of the weights so far, which --resume continues from. */
typedef struct train_state {
    int epochs_done, best_epoch, bad_epochs;
    double best_acc;           /* of the best epoch; -1 without validation */
    uint64_t steps;            /* SGD steps taken: where the learning rate's schedule stands */
    uint64_t catalog, options; /* fingerprints of the training catalog and of the options
                                  that shape the run, so that a resume of another is refused */
    float *best;               /* the best epoch's parameters (keep-best), nbest; or NULL */
    size_t nbest;
    float *extra;              /* the trainer's own (the CNN's optimizer moments), nextra */
    size_t nextra;
} train_state;

struct shelf_model {
    shelf_modality modality;
    float temperature;   /* logits are divided by it before the softmax (train/calibrate.h) */
    /* the lowest --min-confidence whose back-off reached MODEL_AUTO_PRECISION on the
     * validation set (-1: none did, or no validation set), and its coverage and precision
     * there: --min-confidence auto */
    float auto_threshold, auto_coverage, auto_precision;
    /* --balance adjust: each label's logit less adjust_tau times the log of its share of the
     * training products (log_prior[K]; NULL: no adjustment), after the temperature, for
     * accuracy and macro-F1 together on the validation set (train/calibrate.h) */
    float adjust_tau;
    float *log_prior;
    /* the text encoder and its label head */
    encoder *text;
    label_head text_head;
    /* the image encoder (the CNN) and its label head over the labels (never hierarchical) */
    encoder *image;
    label_head image_head;
    /* fused models: how the text's and the image's evidence are weighed, per branch */
    fusion_head head;
    strmap labels;       /* label path -> id */
    int hierarchical;    /* scores shared along label paths (see taxonomy.h) */
    taxonomy tax;        /* the nodes that the label heads score */
    shelf_read_options read;
    char *read_strings[5]; /* owned copies behind read's strings */
    model_info info;
    uint64_t *seen;      /* sorted hashes of the training texts */
    size_t nseen;
    /* ensembles (model/ensemble.h): text models over the same labels, whose calibrated
     * probabilities are mixed with these weights; the ensemble has no encoder of its own */
    int nmembers;
    shelf_model *member[MODEL_MAX_MEMBERS];
    float member_w[MODEL_MAX_MEMBERS];
    char *search_log; /* --autotune: the trials, one JSON line each (NULL: not tuned) */
    uint64_t fingerprint; /* the checksum of the file it was loaded from (0: not loaded) */
    train_state *state;   /* a checkpoint's (shelf train --checkpoint); NULL for a model */
};

/* Per-thread prediction scratch, for a window of texts: as many as the text encoder takes
 * at once. */
struct shelf_scratch {
    const encoder *encoder; /* the model's text encoder, and its work area */
    encoder_work *text;
    size_t window;
    float *z;      /* node scores [window][N] */
    float *logits; /* label logits [window][K] */
    shelf_scratch *member[MODEL_MAX_MEMBERS]; /* an ensemble's: its members' scratch */
    float *mix;    /* an ensemble's: a member's log-probabilities [window][K] */
    /* embeddings (model/embed.h): when set, a window also writes each text's features,
       L2-normalized, at feat + i * feat_stride (model_text_feature_dim floats) */
    float *feat;
    size_t feat_stride;
};

static inline int model_num_labels(const shelf_model *m) { return (int)m->labels.n; }
/* The length of label's parent path ("Apparel > Topwear" of "Apparel > Topwear > Tshirts"),
 * split on the model's label separator; 0 for a label of one part. */
size_t model_parent_len(const shelf_model *m, const char *label);
/* Whether the model reads texts through an encoder of its own or its members'. */
static inline int model_reads_text(const shelf_model *m)
{
    return m->text != NULL || m->nmembers > 0;
}
static inline int model_has_text(const shelf_model *m)
{
    return m->modality != SHELF_MODALITY_IMAGE;
}
static inline int model_has_image(const shelf_model *m)
{
    return m->modality != SHELF_MODALITY_TEXT;
}
static inline int model_num_nodes(const shelf_model *m) { return m->tax.nnodes; }

/* The text side's log-probabilities (text encoder, label head, taxonomy) of all K labels
 * for texts[0..n) into out[n][K] (no temperature: the evidence a fused model's head weighs),
 * a window of the encoder's batch at a time; known (NULL: not asked) gets 1 per text with
 * something the encoder knows, 0 for an empty text or one of unknown words only (whose
 * log-probabilities are the head's bias: no evidence). 0, or -1 out of memory. */
int model_texts_log_probs(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                          size_t n, float *out, unsigned char *known);
/* The text side's embedding parts of texts[0..n) into out + i * stride: the features
 * (model_text_feature_dim floats, L2-normalized, zero for a text of no known word) then the
 * square roots of the calibrated probabilities of the K labels; known as for
 * model_texts_log_probs. 0, or -1 out of memory. */
int model_texts_embed(const shelf_model *m, shelf_scratch *s, const char *const *texts,
                      size_t n, float *out, size_t stride, unsigned char *known);
/* Thread tid's share [begin, end) of n texts, in whole windows of the texts a scratch
 * predicts at once: the same batches, so the same probabilities, with any thread count. */
void model_split_texts(const shelf_scratch *s, size_t n, int tid, int nthreads, size_t *begin,
                       size_t *end);

/* The logit adjustment of --balance adjust on the probabilities p[K] of every label (each
 * times prior^-tau, renormalized); nothing without one. */
void model_apply_adjustment(const shelf_model *m, float *p, int K);

/* p[K] (probabilities) become p^(1/T) renormalized: the softmax of logits divided by T. */
void model_apply_temperature(float *p, int K, float T);

/* A text's logits[K] become its calibrated probabilities: the temperature, the logit
 * adjustment, the softmax. */
void model_calibrate(const shelf_model *m, float *logits);

/* The k best labels of a text's logits[K] (overwritten by its probabilities: temperature,
 * softmax), as shelf_predict returns them; returns how many (k, or K when fewer). */
int model_top_labels(const shelf_model *m, float *logits, int k, int *labels, float *probs);

/* The k (<= K) largest of p[K], best first, into labels and probs; returns k. */
int model_top_k(const float *p, int K, int k, int *labels, float *probs);

/* Builds m->tax from the labels and the label separator of m->read. 0, or -1 out of memory. */
int model_build_taxonomy(shelf_model *m);

/* 1 when shelf quantize made the model's int8: its bag's head, or its CNN. */
int model_quantized(const shelf_model *m);
/* The image side's CNN in its int8 form (model/cnn_int8.h). */
int model_image_int8(const shelf_model *m);
/* The text side's GRU or Transformer with its int8 embedding table. */
int model_text_int8(const shelf_model *m);

/* The bag of a model's text side (NULL when it has none). */
static inline const bag_encoder *model_bag(const shelf_model *m)
{
    return m->text && m->text->ops->kind == ENCODER_BAG ? as_const_bag(m->text) : NULL;
}

/* Copies read options' strings into the model. 0, or -1 out of memory. */
int model_set_read_options(shelf_model *m, const shelf_read_options *r);
shelf_model *model_new(void);

/* Opens a model file (or another file of the model's making, `what` in messages) for
 * reading, refusing anything but a regular file (a FIFO would block forever) without
 * blocking on the open; fills st. SHELF_OK with *f open, or an error. */
shelf_status model_open(const char *path, const char *what, FILE **f, struct stat *st,
                        shelf_error *err);

/* The model file's checksum of data[0..n) (the file stores it of every byte before it). */
uint64_t model_checksum(const void *data, size_t n);

#endif
