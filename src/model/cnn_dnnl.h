/* The CNN's steps on oneDNN (Debian's libdnnl, which PyTorch runs on): the activations in
 * its blocked layout from the first convolution to the pooling, batch norm with the ReLU
 * fused, Winograd F(4x4, 3x3) for the stride-1 3x3 convolutions where oneDNN has it (fewer
 * multiplications, within the golden test's tolerance) and direct ones elsewhere; the
 * primitives made once per batch size. Chosen at run time by cnn_work_init (cnn.h).
 *
 * The same network and results as model/cnn.c's im2col path: the input is its CNHW batch,
 * the features [n][feat], the parameters and statistics the cnn's own blocks, in place.
 *
 * oneDNN runs on OpenMP threads: each call runs on the work area's thread count, the
 * caller's restored after. Its primitives' own allocations bypass mem_alloc; the buffers
 * they read and write (scratchpad included) do not. */
#ifndef SHELF_MODEL_CNN_DNNL_H
#define SHELF_MODEL_CNN_DNNL_H

#include "model/cnn.h"

typedef struct cnn_dnnl cnn_dnnl;

/* 1 when oneDNN runs its AVX-512 convolutions on this CPU: where it was measured faster
 * than im2col and OpenBLAS (docs/benchmarks.md). ONEDNN_MAX_CPU_ISA=AVX2 in the
 * environment lowers what oneDNN uses, and so turns this path off. */
int cnn_dnnl_fast(void);
/* 1 when it runs its int8 convolutions on AVX-512 VNNI here (one instruction for four
 * multiply-adds: without it, u8 times s8 pairs can saturate). */
int cnn_dnnl_int8_fast(void);

/* The primitives for batches of `cap` images (others are made when first asked for), on
 * `threads` threads; training keeps what the backward pass needs; winograd 0 keeps every
 * convolution direct; fast_only refuses oneDNN's reference code, which serves shapes its
 * kernels do not (channel counts that are not multiples of 16) a hundred times slower than
 * im2col. int8: the inference of c's int8 form (c->q), batch norm folded in, u8
 * activations between the convolutions. NULL when oneDNN cannot make them (or only slowly,
 * with fast_only) or memory runs out. */
cnn_dnnl *cnn_dnnl_new(const cnn *c, int cap, int threads, int training, int winograd,
                       int fast_only, int int8);
/* 1 when some primitive made so far is oneDNN's reference code. */
int cnn_dnnl_slow(const cnn_dnnl *d);
void cnn_dnnl_free(cnn_dnnl *d);

/* As cnn_forward_train, cnn_forward_infer and cnn_backward (cnn.h): x is the CNHW input of
 * n images, feat [n][feat], dfeat [n][feat]. 0, or -1 when a new batch size's primitives
 * cannot be made or a primitive fails. */
int cnn_dnnl_forward_train(cnn_dnnl *d, cnn *c, const float *x, int n, float *feat);
int cnn_dnnl_backward(cnn_dnnl *d, const cnn *c, const float *dfeat, int n, float *grads);
int cnn_dnnl_forward_infer(cnn_dnnl *d, const cnn *c, const float *x, int n, float *feat);

/* Bytes of the buffers cnn_dnnl_new allocates for a cap-image batch, beyond the cnn_work's
 * input and features (an estimate for the memory check: the blocked layout pads channels to
 * 16). */
double cnn_dnnl_bytes(const cnn *c, int cap, int training);

#endif
