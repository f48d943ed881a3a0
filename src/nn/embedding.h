/* Token embeddings with learned position embeddings, for padded batches of token ids.
 *
 * B = sequences, T = steps (the padded length), D = width, V = vocabulary rows, S = ids per
 * step (a token and its subwords, say). tokens[B][T][S] holds ids in [0, V): slot 0 always,
 * slots 1..S-1 may be -1 (unused); a step's vector is the mean of its slots' rows.
 * lens[b] in [0, T] counts sequence b's real tokens, the
 * steps t >= lens[b] are padding. Outputs are row-major [B][T][D] (see gru.h), the sequences
 * [b0, b1) a contiguous slice, so threads share a batch by taking slices. */
#ifndef SHELF_NN_EMBEDDING_H
#define SHELF_NN_EMBEDDING_H

#include <stdint.h>

/* out[b][t] = mean over s of table[tokens[b][t][s]] + pos[t] (pos [T][D] may be NULL) for
 * t < lens[b]; padded rows are 0. */
void embedding_forward(float *out, const int32_t *tokens, int S, const int *lens,
                       const float *table, const float *pos, int B, int T, int D);
/* As embedding_forward over an int8 table: row r is scales[r] times codes[r][0..D). */
void embedding_forward_int8(float *out, const int32_t *tokens, int S, const int *lens,
                            const int8_t *codes, const float *scales, const float *pos, int B,
                            int T, int D);

/* dtable[tokens[b][t][s]] += dout[b][t] / (slots used) and dpos[t] += dout[b][t] (dpos may
 * be NULL) for t < lens[b]: only the rows of the ids present are touched, and padding has
 * none. */
void embedding_backward(float *dtable, float *dpos, const float *dout, const int32_t *tokens,
                        int S, const int *lens, int B, int T, int D);

/* rows[0..n) = the distinct ids of the real steps, ascending; returns n. rows has room for
 * B*T*S ids. Those are the rows of dtable that embedding_backward touched: the rows to
 * update and to clear after the step, instead of all V. */
int embedding_rows(int32_t *rows, const int32_t *tokens, int S, const int *lens, int B, int T);

#endif
