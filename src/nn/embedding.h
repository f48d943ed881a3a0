/* Token embeddings with learned position embeddings, for padded batches of token ids.
 *
 * B = sequences, T = steps (the padded length), D = width, V = vocabulary rows.
 * tokens[B][T] holds ids in [0, V); lens[b] in [0, T] counts sequence b's real tokens, the
 * steps t >= lens[b] are padding. Outputs are row-major [B][T][D] (see gru.h), the sequences
 * [b0, b1) a contiguous slice, so threads share a batch by taking slices. */
#ifndef SHELF_NN_EMBEDDING_H
#define SHELF_NN_EMBEDDING_H

#include <stdint.h>

/* out[b][t] = table[tokens[b][t]] + pos[t] (pos [T][D] may be NULL) for t < lens[b]; padded
 * rows are 0. */
void embedding_forward(float *out, const int32_t *tokens, const int *lens, const float *table,
                       const float *pos, int B, int T, int D);

/* dtable[tokens[b][t]] += dout[b][t] and dpos[t] += dout[b][t] (dpos may be NULL) for
 * t < lens[b]: only the rows of the tokens present are touched, and padding has none. */
void embedding_backward(float *dtable, float *dpos, const float *dout, const int32_t *tokens,
                        const int *lens, int B, int T, int D);

/* rows[0..n) = the distinct token ids of the real steps, ascending; returns n. rows has room
 * for B*T ids. Those are the rows of dtable that embedding_backward touched: the rows to
 * update and to clear after the step, instead of all V. */
int embedding_rows(int32_t *rows, const int32_t *tokens, const int *lens, int B, int T);

#endif
