/* A pre-LayerNorm Transformer encoder block over padded batches, as PyTorch's
 * nn.TransformerEncoderLayer(D, heads, ffn, dropout=0, activation="gelu", norm_first=True,
 * batch_first=True) called with src_key_padding_mask:
 *   h = x + attention(layernorm1(x)),   out = h + W2 gelu(W1 layernorm2(h) + b1) + b2,
 * the layer norms with eps 1e-5 and the exact GELU.
 *
 * B = sequences, T = steps, D = width, F = the feed-forward width. x and out are row-major
 * [B][T][D] with lens[b] real steps (see gru.h); the sequences [b0, b1) are a contiguous
 * slice, so threads share a batch by taking slices. Padding takes no part (see
 * attention.h): the rows of padded steps are 0 in out and their gradient is ignored.
 *
 * With dropout > 0 (training), the attention's and the feed-forward network's outputs are
 * dropped (inverted dropout) before each is added to its residual, as PyTorch's layer does
 * in training mode; the masks are drawn from rng in the forward pass and kept in the work
 * area for the backward pass, which must get the same shape.
 *
 * Parameters: layernorm1's gamma [D] and beta [D]; the attention's (attention.h); layernorm2's
 * gamma and beta; W1 [F][D], b1 [F]; W2 [D][F], b2 [D] (nn.Linear's layout). Gradients
 * have the same layout. */
#ifndef SHELF_NN_TRANSFORMER_H
#define SHELF_NN_TRANSFORMER_H

#include <stddef.h>

#include "core/rng.h"

typedef struct transformer_shape {
    int D, heads, F;
    float dropout; /* 0: none (prediction) */
    rng *rng;      /* draws the dropout masks */
} transformer_shape;

size_t transformer_param_floats(const transformer_shape *s);

/* Floats of the work area of a batch of B sequences of T steps: the forward pass's
 * activations, which the backward pass reads, and the backward pass's scratch. */
size_t transformer_work_floats(const transformer_shape *s, int B, int T);

/* out[B][T][D]; keeps the activations in work for transformer_backward. out must not alias
 * x. */
void transformer_forward(const transformer_shape *s, float *out, float *work, const float *x,
                         const int *lens, const float *params, int B, int T);

/* Given dout and the forward pass's x and work: dparams += the gradient, dx[B][T][D] = the
 * input gradient (0 on padding; dx may be NULL). */
void transformer_backward(const transformer_shape *s, float *dx, float *dparams, float *work,
                          const float *dout, const float *x, const int *lens,
                          const float *params, int B, int T);

#endif
