/* Multi-head self-attention over padded batches, as PyTorch's nn.MultiheadAttention(D, heads)
 * called as mha(x, x, x, key_padding_mask=padding), without dropout.
 *
 * B = sequences, T = steps (the padded length), D = width, heads divides D, dh = D / heads.
 * x and out are row-major [B][T][D] (see gru.h); the sequences [b0, b1) are a contiguous
 * slice, so threads share a batch by taking slices. lens[b] in [0, T] counts sequence b's
 * real steps. Padding takes no part: a real step attends to the real steps of its sequence
 * only (the key padding mask), the rows of padded steps are 0 in out, and their gradient is
 * ignored. (PyTorch also fills padded rows with attention over the real keys; with a loss
 * that ignores padding, as pooling over the real steps does, every real row and every
 * gradient is the same.) A sequence without real steps gives zeros, where PyTorch gives NaN.
 *
 * Parameters, in nn.MultiheadAttention's layout: W_qkv [3D][D] (in_proj_weight: the query,
 * key and value projections), b_qkv [3D], W_o [D][D] (out_proj.weight), b_o [D]. Gradients
 * have the same layout. */
#ifndef SHELF_NN_ATTENTION_H
#define SHELF_NN_ATTENTION_H

#include <stddef.h>

typedef struct attn_shape {
    int D, heads;
} attn_shape;

/* Floats of the parameters (and of their gradients). */
size_t attention_param_floats(const attn_shape *a);

/* Floats of the work area of a batch of B sequences of T steps: what the forward pass keeps
 * for the backward pass (the projections, the attention weights, the heads' outputs), and
 * the backward pass's scratch. */
size_t attention_work_floats(const attn_shape *a, int B, int T);

/* out[B][T][D] = softmax(Q K^T / sqrt(dh)) V per head, concatenated, times W_o^T plus b_o. */
void attention_forward(const attn_shape *a, float *out, float *work, const float *x,
                       const int *lens, const float *params, int B, int T);

/* Given dout and the forward pass's x and work: dparams += the gradient, dx[B][T][D] = the
 * input gradient (0 on padding; dx may be NULL). */
void attention_backward(const attn_shape *a, float *dx, float *dparams, float *work,
                        const float *dout, const float *x, const int *lens,
                        const float *params, int B, int T);

#endif
