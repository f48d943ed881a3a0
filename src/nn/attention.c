/* Multi-head self-attention (see attention.h).
 *
 * B = sequences, T = steps, D = width, BT = B*T rows, dh = D / heads, L = a sequence's
 * length. The work area holds qkv[BT][3D] (each row: the query, key and value, each split
 * into heads of dh columns), ctx[BT][D] (the heads' outputs side by side) and
 * probs[B][heads][T][T] (the attention weights; the first L rows and columns of each
 * sequence's block are used); backward adds dqkv[BT][3D], dctx[BT][D] and dp[T][T]. Each
 * (sequence, head) pair is a few small sgemms over its L real steps: padding costs nothing
 * inside attention. */
#include "nn/attention.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "nn/dense.h"
#include "nn/vmath.h"

typedef struct attn_work {
    float *qkv, *ctx, *probs, *dqkv, *dctx, *dp;
} attn_work;

size_t attention_param_floats(const attn_shape *a)
{
    const size_t D = (size_t)a->D;
    return 4 * D * D + 4 * D;
}

size_t attention_work_floats(const attn_shape *a, int B, int T)
{
    const size_t BT = (size_t)B * (size_t)T, D = (size_t)a->D;
    return 8 * BT * D + (size_t)B * a->heads * T * T + (size_t)T * T;
}

/* Where W_qkv, b_qkv, W_o and b_o start in a parameter (or gradient) block. */
static void param_offsets(const attn_shape *a, size_t off[4])
{
    const size_t D = (size_t)a->D;
    off[0] = 0;
    off[1] = 3 * D * D;
    off[2] = off[1] + 3 * D;
    off[3] = off[2] + D * D;
}

static attn_work work_view(const attn_shape *a, float *work, int B, int T)
{
    const size_t BT = (size_t)B * (size_t)T, D = (size_t)a->D;
    attn_work w;
    w.qkv = work;
    w.ctx = w.qkv + 3 * BT * D;
    w.probs = w.ctx + BT * D;
    w.dqkv = w.probs + (size_t)B * a->heads * T * T;
    w.dctx = w.dqkv + 3 * BT * D;
    w.dp = w.dctx + BT * D;
    return w;
}

/* Sum of x[0..n) in eight lanes, so that it vectorizes. */
static float sum_lanes(const float *x, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += x[i + l];
    float s = 0;
    for (; i < n; i++)
        s += x[i];
    for (int l = 0; l < 8; l++)
        s += acc[l];
    return s;
}

/* Each of the L rows of p (leading dimension ld) becomes the softmax of its first L
 * values. */
static void softmax_rows(float *p, int L, int ld)
{
    for (int i = 0; i < L; i++) {
        float *row = p + (size_t)i * ld, mx = row[0];
        for (int j = 1; j < L; j++)
            mx = row[j] > mx ? row[j] : mx;
        for (int j = 0; j < L; j++)
            row[j] = vexpf(row[j] - mx);
        const float inv = 1.0f / sum_lanes(row, L);
        for (int j = 0; j < L; j++)
            row[j] *= inv;
    }
}

/* Zeroes the rows t >= lens[b] of each sequence of a [B][T][C] array. */
static void zero_padding(float *x, const int *lens, int B, int T, int C)
{
    for (int b = 0; b < B; b++)
        memset(x + ((size_t)b * T + (size_t)lens[b]) * C, 0,
               (size_t)(T - lens[b]) * (size_t)C * sizeof *x);
}

/* The heads of sequence b: ctx = softmax(Q K^T / sqrt(dh)) V, over its L real steps. */
static void heads_forward(const attn_shape *a, const attn_work *w, int b, int L, int T)
{
    const int D = a->D, dh = D / a->heads, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)dh);
    const float *q = w->qkv + (size_t)b * T * ld;
    for (int h = 0; h < a->heads; h++) {
        const float *Q = q + h * dh, *K = Q + D, *V = Q + 2 * D;
        float *P = w->probs + ((size_t)b * a->heads + h) * T * T;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dh, scale, Q, ld, K, ld,
                    0.0f, P, T);
        softmax_rows(P, L, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dh, L, 1.0f, P, T, V, ld,
                    0.0f, w->ctx + (size_t)b * T * D + h * dh, D);
    }
}

void attention_forward(const attn_shape *a, float *out, float *work, const float *x,
                       const int *lens, const float *params, int B, int T)
{
    const int D = a->D, BT = B * T;
    size_t o[4];
    param_offsets(a, o);
    attn_work w = work_view(a, work, B, T);
    dense_forward(w.qkv, x, params + o[0], params + o[1], BT, D, 3 * D);
    for (int b = 0; b < B; b++)
        if (lens[b] > 0)
            heads_forward(a, &w, b, lens[b], T);
    zero_padding(w.ctx, lens, B, T, D);
    dense_forward(out, w.ctx, params + o[2], params + o[3], BT, D, D);
    zero_padding(out, lens, B, T, D);
}

/* dS = P (dP - rowsum(dP P)), over the L rows and columns, written over dp: the softmax's
 * backward. */
static void softmax_rows_backward(float *dp, const float *p, int L, int ld)
{
    for (int i = 0; i < L; i++) {
        float *d = dp + (size_t)i * ld;
        const float *pr = p + (size_t)i * ld;
        float acc[8] = {0}, c = 0;
        int j = 0;
        for (; j + 8 <= L; j += 8)
            for (int l = 0; l < 8; l++)
                acc[l] += d[j + l] * pr[j + l];
        for (; j < L; j++)
            c += d[j] * pr[j];
        for (int l = 0; l < 8; l++)
            c += acc[l];
        for (j = 0; j < L; j++)
            d[j] = pr[j] * (d[j] - c);
    }
}

/* The heads of sequence b backward: from dctx to dqkv, over its L real steps. */
static void heads_backward(const attn_shape *a, const attn_work *w, int b, int L, int T)
{
    const int D = a->D, dh = D / a->heads, ld = 3 * D;
    const float scale = 1.0f / sqrtf((float)dh);
    const size_t base = (size_t)b * T * ld;
    for (int h = 0; h < a->heads; h++) {
        const float *Q = w->qkv + base + h * dh, *K = Q + D, *V = Q + 2 * D;
        float *dQ = w->dqkv + base + h * dh, *dK = dQ + D, *dV = dQ + 2 * D;
        const float *P = w->probs + ((size_t)b * a->heads + h) * T * T;
        const float *dC = w->dctx + (size_t)b * T * D + h * dh;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L, L, dh, 1.0f, dC, D, V, ld,
                    0.0f, w->dp, T);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, dh, L, 1.0f, P, T, dC, D, 0.0f,
                    dV, ld);
        softmax_rows_backward(w->dp, P, L, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L, dh, L, scale, w->dp, T, K,
                    ld, 0.0f, dQ, ld);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, L, dh, L, scale, w->dp, T, Q, ld,
                    0.0f, dK, ld);
    }
}

void attention_backward(const attn_shape *a, float *dx, float *dparams, float *work,
                        const float *dout, const float *x, const int *lens,
                        const float *params, int B, int T)
{
    const int D = a->D, BT = B * T;
    size_t o[4];
    param_offsets(a, o);
    attn_work w = work_view(a, work, B, T);
    /* padded rows of ctx are 0, so their dout adds nothing to dW_o; b_o sums real rows */
    dense_backward(w.dctx, 0, dparams + o[2], NULL, dout, w.ctx, params + o[2], BT, D, D);
    for (int b = 0; b < B; b++)
        add_column_sums(dparams + o[3], dout + (size_t)b * T * D, lens[b], D, D);
    for (int b = 0; b < B; b++)
        if (lens[b] > 0)
            heads_backward(a, &w, b, lens[b], T);
    zero_padding(w.dqkv, lens, B, T, 3 * D);
    dense_backward(dx, 0, dparams + o[0], dparams + o[1], w.dqkv, x, params + o[0], BT, D,
                   3 * D);
}
