/* The CNN's int8 form (cnn.h's cnn_int8), and the calibration that chooses each
 * convolution's input scale. The kernels that run it are oneDNN's (model/cnn_dnnl.h). */
#ifndef SHELF_MODEL_CNN_INT8_H
#define SHELF_MODEL_CNN_INT8_H

#include "model/cnn.h"

/* c->q allocated (codes, scales and biases unset) for c's shapes; a previous one freed.
 * 0, or -1 out of memory. */
int cnn_int8_alloc(cnn *c);
void cnn_int8_free(cnn *c);

/* The int8 form of the float network c, given each convolution's input bound: act_max[0]
 * the image's largest magnitude, act_max[l] the clip of convolution l - 1's output. Batch
 * norm is folded in, each output channel's weights coded in [-127, 127]; c->params then
 * hold the codes' values (what the float paths run). 0; -1 out of memory or already int8;
 * -2 for bounds, weights or batch norm out of range (c unchanged in both). */
int cnn_quantize(cnn *c, const float act_max[CNN_CONVS]);
/* 0 when c->q's scales are within range and what the kernels derive from them (the
 * biases in the units of the s32 sums, the output scales) finite; else -1. */
int cnn_int8_check(const cnn *c);
/* c->params and c->stats from c->q (after reading a file). */
void cnn_int8_dequantize(cnn *c);

/* Calibration: the float network run twice over sample images (cnn_forward_infer_seen with
 * cnn_calib_see), pass 0 finding each output's largest value, pass 1 counting its values
 * in CNN_CALIB_BINS bins up to it; then each clip, the largest value or (clip 1) the one
 * that least distorts the values in 255 steps. */
enum { CNN_CALIB_BINS = 2048 };
typedef struct cnn_calib {
    int pass, clip;
    int nonfinite; /* pass 0 saw a NaN or an infinity: the float network is broken */
    float top[CNN_CONVS];
    double zeros[CNN_CONVS];
    double *hist; /* CNN_CONVS x CNN_CALIB_BINS, zeroed, for pass 1 */
} cnn_calib;
void cnn_calib_see(void *user, int layer, const float *out, size_t count);
/* act_max[1..] from the counts (act_max[0], the image's bound, is the caller's). */
void cnn_calib_clips(const cnn_calib *k, float act_max[CNN_CONVS]);

#endif
