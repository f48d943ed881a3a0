/* The image network: the reference CNN of issue 3, written out layer by layer so that it
 * can be compared with PyTorch's:
 *
 *   stem   conv3x3(3 -> w)                        at S x S
 *   stage  conv3x3 stride 2 (c -> 2c), conv3x3 (2c -> 2c)   three times
 *   every convolution without bias, then batch norm and ReLU
 *   global average pooling to the features (8w per image)
 *
 * The classifier above the features is the model's label head (model/label_head.h); the
 * CNN encoder (cnn_encoder.h) is this network behind the encoder interface.
 *
 * Activations are CNHW batches (see nn/conv2d.h). Parameters live in one block, tensor
 * after tensor (conv weight, bn gamma, bn beta per convolution), so that an optimizer steps
 * over one array; batch-norm running statistics live in a second block. Knows nothing about
 * files or images on disk: the caller fills the input batch. */
#ifndef SHELF_MODEL_CNN_H
#define SHELF_MODEL_CNN_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/threadpool.h"
#include "nn/conv2d.h"

/* Batch norm's epsilon and the running statistics' momentum, PyTorch's defaults. */
#define CNN_BN_EPS 1e-5f
#define CNN_BN_MOMENTUM 0.1f

enum {
    CNN_CONVS = 7,
    CNN_MAX_SIZE = 512,
    CNN_MAX_WIDTH = 256,
    CNN_MIN_SIZE = 8 /* three stride-2 stages still leave one pixel */
};

/* int8 inference (shelf quantize, model/cnn_int8.c): batch norm folded into each
 * convolution, its weights as codes with a scale per output channel, and a scale for each
 * convolution's input, calibrated on sample images: the image as s8, the ReLUs' outputs as
 * u8. oneDNN runs it where the CPU has AVX-512 VNNI; elsewhere the float network runs on
 * the codes' values (cnn.params holds them, batch norm then the identity and the bias). */
typedef struct cnn_int8 {
    int8_t *codes;         /* each convolution's folded weights (oihw), one after another */
    size_t code_off[CNN_CONVS], ncodes;
    float *scale;          /* nchans: a weight of output channel ch is scale[ch] * its code */
    float *bias;           /* nchans: batch norm's shift, folded */
    float act[CNN_CONVS];  /* convolution l's input is act[l] * its code */
} cnn_int8;

typedef struct cnn {
    int size, width;
    conv_shape conv[CNN_CONVS];
    int feat;                    /* channels after the last stage: 8 width */
    float *params;               /* nparams: the trained tensors */
    size_t nparams;
    size_t w_off[CNN_CONVS], gamma_off[CNN_CONVS], beta_off[CNN_CONVS];
    float *stats;                /* running mean then running variance per convolution */
    size_t nstats;
    size_t mean_off[CNN_CONVS], var_off[CNN_CONVS];
    size_t chan_off[CNN_CONVS];  /* convolution l's first channel among all convolutions' */
    size_t nchans;
    cnn_int8 *q;                 /* NULL: float */
} cnn;

/* Sets up the shapes and allocates the blocks; -1 on bad sizes or out of memory. */
int cnn_init(cnn *c, int size, int width);
/* As cnn_init without allocating: the shapes and sizes (nparams, nstats), for a model file
 * to check what it claims before anything is allocated. 0, or -1 for bad sizes. */
int cnn_shape(cnn *c, int size, int width);
/* PyTorch's default initialization (uniform +-1/sqrt(fan_in) for the convolutions, gamma 1,
 * beta 0, running mean 0 and variance 1), drawing from r: a linear layer above initialized
 * from r next gets what PyTorch's would. */
void cnn_reset(cnn *c, rng *r);
/* A linear layer w[in][out], b[out] above the features, initialized as PyTorch's (uniform
 * +-1/sqrt(in)) from r: after cnn_reset, the network and classifier of the reference. */
void cnn_reset_linear(float *w, float *b, int in, int out, rng *r);
void cnn_free(cnn *c);

/* Batch norm of convolution l's channel ch as the fixed map inference applies: x * scale +
 * shift (running statistics; for an int8 network, folded already: 1 and the bias). */
void cnn_bn_affine(const cnn *c, int l, int ch, float *scale, float *shift);

/* How the steps run: im2col and OpenBLAS's sgemm on CNHW batches (this file, any CPU), or
 * oneDNN's kernels on blocked layouts (model/cnn_dnnl.h), with Winograd's convolutions where
 * it has them or (DNNL_DIRECT) direct ones only. AUTO takes oneDNN with Winograd where it has
 * its AVX-512 kernels, which were measured faster (docs/benchmarks.md), for widths that are
 * multiples of 16 (its kernels' channel blocks), im2col elsewhere; for an int8 network's
 * inference, oneDNN's int8 kernels where the CPU has AVX-512 VNNI. */
typedef enum cnn_path {
    CNN_PATH_AUTO,
    CNN_PATH_GEMM,
    CNN_PATH_DNNL,
    CNN_PATH_DNNL_DIRECT
} cnn_path;

/* Everything a batch of up to `batch` images needs, allocated once. */
typedef struct cnn_work {
    int cap, threads;
    int training;          /* keeps every layer's activations for the backward pass */
    struct cnn_dnnl *dnnl; /* the oneDNN paths; NULL: im2col, and the buffers below */
    float *x;              /* input: [3][cap][S][S] */
    float *pre[CNN_CONVS]; /* convolution outputs, before batch norm (training only) */
    float *act[CNN_CONVS]; /* after batch norm and ReLU (inference: two alternating) */
    float *save_mean, *save_istd; /* per convolution and channel */
    float *feat;           /* [cap][feat]: the forward pass's output */
    float *dfeat;          /* [cap][feat], training only: the backward pass's input */
    float *dbuf[2];        /* gradients flowing back, alternating */
    float *scratch;        /* per thread, im2col columns */
    size_t scratch_floats;
    float *grads;          /* per thread, nparams each */
    int chunk[CNN_CONVS];  /* images per sgemm */
} cnn_work;

/* Bytes that cnn_work_init would allocate (the larger of the two paths' needs), to refuse
 * a run that cannot fit beforehand. */
double cnn_work_bytes(const cnn *c, int batch, int threads, int training);

/* The path given, or for AUTO the faster one here (falling back to im2col when oneDNN
 * cannot make its primitives, or would run its slow reference code for some: an explicit
 * oneDNN path takes that code, which the golden test's tiny network needs). The im2col
 * path sets OpenBLAS to one thread for the process: the CNN runs its own threads. -1 on
 * bad sizes, out of memory, or an explicit oneDNN path that oneDNN cannot serve. */
int cnn_work_init(cnn_work *w, const cnn *c, int batch, int threads, int training,
                  cnn_path path);
void cnn_work_free(cnn_work *w);

/* The training forward pass over the first n images of w->x into w->feat: batch statistics
 * (the running ones updated with momentum 0.1, as PyTorch's). 0, or -1 when the oneDNN
 * path cannot make a new batch size's primitives (out of memory). */
int cnn_forward_train(cnn *c, cnn_work *w, thread_pool *pool, int n);

/* The inference forward pass (running statistics) over the first n images of w->x into
 * w->feat, through a work area made with training 0 or 1 (whose training activations it
 * leaves alone but whose gradient buffers it uses). The network is only read, so threads
 * may share it, each with its own work area; an inference work area of the oneDNN path
 * keeps the network's weights folded from its first call, so serves one unchanging
 * network. 0, or -1 as cnn_forward_train. */
int cnn_forward_infer(const cnn *c, cnn_work *w, thread_pool *pool, int n);

/* As cnn_forward_infer on an im2col work area (CNN_PATH_GEMM), showing see each
 * convolution's output after batch norm and the ReLU (n images, CNHW, count floats): what
 * int8 calibration measures. 0, or -1 for a oneDNN work area. */
int cnn_forward_infer_seen(const cnn *c, cnn_work *w, thread_pool *pool, int n,
                           void (*see)(void *user, int layer, const float *out, size_t count),
                           void *user);

/* After a training forward pass, from the gradient of the loss with respect to the
 * features in w->dfeat (n x feat, filled by the caller): the gradient of the parameters,
 * summed over the threads' blocks (w->grads), added to grads (nparams floats). w->dfeat is
 * left as it was. 0, or -1 as cnn_forward_train. */
int cnn_backward(const cnn *c, cnn_work *w, thread_pool *pool, int n, float *grads);

#endif
