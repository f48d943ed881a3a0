/* A GRU layer, one- or bidirectional, over padded batches: PyTorch's nn.GRU (batch_first,
 * one layer) on sequences packed with pack_padded_sequence, forward and backward through
 * time.
 *
 * B = sequences, T = steps (the padded length), D = input width, H = hidden width per
 * direction. Activations are row-major [B][T][width]: the B*T rows form one matrix, so the
 * input projections of all steps are one sgemm, and the sequences [b0, b1) are a contiguous
 * slice. Threads share a batch by each passing its slice (x + b0*T*D, out + b0*T*dirs*H,
 * lens + b0, B = b1 - b0) with a work area and a gradient block of its own.
 *
 * lens[b] in [0, T] counts sequence b's real steps; the steps t >= lens[b] are padding:
 * they neither update the state nor receive gradient, their outputs are 0, and the backward
 * direction starts at each sequence's last real step. A batch sorted by decreasing length
 * does the least work (each step's sgemm runs over the rows up to the last live sequence).
 *
 * The gates are PyTorch's, in its order r, z, n:
 *   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)      z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
 *   n = tanh(W_in x + b_in + r (W_hn h + b_hn))     h' = (1 - z) n + z h,   h_0 = 0.
 * Parameters, per direction (forward, then backward), in PyTorch's layout: W_ih [3H][D]
 * (weight_ih_l0), W_hh [3H][H], b_ih [3H], b_hh [3H]. Gradients have the same layout. */
#ifndef SHELF_NN_GRU_H
#define SHELF_NN_GRU_H

#include <stddef.h>

typedef struct gru_shape {
    int D, H;
    int dirs; /* 1 or 2 */
} gru_shape;

/* Floats of the parameters (and of their gradients). */
size_t gru_param_floats(const gru_shape *g);

/* Floats of the work area of a batch of B sequences of T steps: the forward pass's gates,
 * which the backward pass reads, and the backward pass's scratch. */
size_t gru_work_floats(const gru_shape *g, int B, int T);

/* out[B][T][dirs*H]: the forward direction's states in columns [0, H), the backward
 * direction's in [H, 2H). Keeps the gates in work for gru_backward. */
void gru_forward(const gru_shape *g, float *out, float *work, const float *x, const int *lens,
                 const float *params, int B, int T);

/* Given dout[B][T][dirs*H] and the forward pass's x, out and work: dparams += the gradient,
 * dx[B][T][D] = the input gradient (0 on padding; dx may be NULL). Consumes the gates in
 * work: a second backward needs a new forward. */
void gru_backward(const gru_shape *g, float *dx, float *dparams, float *work, const float *dout,
                  const float *out, const float *x, const int *lens, const float *params,
                  int B, int T);

#endif
