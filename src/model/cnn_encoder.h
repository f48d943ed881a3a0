/* The CNN (model/cnn.h) as an encoder (model/encoder.h): an image's features are the pooled
 * output of its last stage, 8 width floats. It reads images decoded at its size S (S x S x
 * 3 bytes), normalized per channel by the training images' mean and deviation, and keeps
 * how it was trained for shelf info. The classifier above it is the model's image label
 * head. Training reads the decoded images in place (train_begin's pixels), augmenting each
 * batch with a stream seeded per image. */
#ifndef SHELF_MODEL_CNN_ENCODER_H
#define SHELF_MODEL_CNN_ENCODER_H

#include "core/threadpool.h"
#include "model/cnn.h"
#include "model/encoder.h"
#include "model/label_head.h"

typedef struct image_settings {
    float mean[3], std[3]; /* per channel, of pixel / 255 over the training images */
    /* how it was trained, for shelf info */
    int augment, batch, optimizer, schedule;
    float weight_decay;
} image_settings;

typedef struct cnn_encoder {
    encoder base;
    cnn net;
    image_settings img;
    struct cnn_training *training; /* between train_begin and train_end */
} cnn_encoder;

/* A CNN of this size and width, its parameters zero and settings unset (cnn_reset, the
 * trainer or a model file fill them). NULL for bad sizes or out of memory. */
cnn_encoder *cnn_encoder_new(int size, int width);

/* A work area whose passes run on pool's threads (the interface's work_new makes one on a
 * single thread of its own); NULL when out of memory. pool must outlive it. */
encoder_work *cnn_encoder_work_new(const encoder *e, size_t batch, int training,
                                   thread_pool *pool);

/* The section of a model file (encoder.h); load reads what save wrote. */
int cnn_encoder_load(model_reader *r, encoder **out);
/* An int8 network's section (the model file's SECTION_IMAGE_ENCODER_INT8): the settings,
 * then the int8 form alone (cnn_int8), a quarter of the float one's bytes. */
void cnn_encoder_save_int8(const encoder *e, model_writer *w);
int cnn_encoder_load_int8(model_reader *r, encoder **out);

/* The network's int8 form (model/cnn_int8.h), calibrated on n images (S x S x 3 bytes at
 * its size, one after another) run through the float network in batches of `batch` on
 * pool's threads; clip 1 chooses each activation's clip for the least distortion, 0 (the
 * default of shelf quantize) takes the largest value seen. 0; -1 out of memory or already int8; -2 when the float network
 * gives values that are not numbers, or out of range (c unchanged in both). */
int cnn_encoder_quantize(cnn_encoder *c, const unsigned char *pix, size_t n, size_t batch,
                         int clip, thread_pool *pool);
/* The CNN as files before the encoder interface stored it (format 1-6, and format 7's
 * 'CNNI' section): the same fields, with the classifier's weights and bias after the
 * network's in one parameter block, read into head (nlabels outputs). 0, or -1 with r
 * failed. */
int cnn_encoder_load_with_classifier(model_reader *r, encoder **out, label_head *head,
                                     int nlabels);

static inline cnn_encoder *as_cnn(encoder *e) { return (cnn_encoder *)e; }
static inline const cnn_encoder *as_const_cnn(const encoder *e)
{
    return (const cnn_encoder *)e;
}

#endif
