/* A linear layer applied to every row of a batch, by one sgemm: the projections of attention
 * and of the GRU's inputs, and the Transformer's feed-forward layers.
 *
 * N = rows (sequences times steps), C = inputs, OC = outputs. W is [OC][C] as PyTorch's
 * nn.Linear.weight, so that weights load as they are. Calls cblas_sgemm; the caller decides
 * how many threads BLAS uses. */
#ifndef SHELF_NN_DENSE_H
#define SHELF_NN_DENSE_H

/* out[N][OC] = x[N][C] W^T + b (b may be NULL). */
void dense_forward(float *out, const float *x, const float *W, const float *b, int N, int C,
                   int OC);

/* dW += dout^T x; db += the column sums of dout (db may be NULL); dx = dout W, or
 * dx += dout W when add_dx (dx may be NULL). */
void dense_backward(float *dx, int add_dx, float *dW, float *db, const float *dout,
                    const float *x, const float *W, int N, int C, int OC);

/* sum[j] += sum over the N rows of a[i * lda + j], j < n. */
void add_column_sums(float *sum, const float *a, int N, int n, int lda);

#endif
