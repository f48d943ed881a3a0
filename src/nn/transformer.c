/* A pre-LayerNorm Transformer encoder block (see transformer.h).
 *
 * B = sequences, T = steps, D = width, F = feed-forward width, BT = B*T rows. The work area
 * keeps ln1[BT][D], h[BT][D], ln2[BT][D], f1[BT][F] (before GELU), g[BT][F] (after), the
 * layer norms' statistics (mean and rstd per row, each), the attention's work area and the
 * dropout masks of the attention's and the feed-forward network's outputs (drop1, drop2
 * [BT][D]); backward adds dg[BT][F], dh[BT][D], dln[BT][D] and dsub[BT][D]. */
#include "nn/transformer.h"

#include <string.h>

#include "nn/activation.h"
#include "nn/attention.h"
#include "nn/dense.h"
#include "nn/gelu.h"
#include "nn/layernorm.h"

static const float LN_EPS = 1e-5f;

/* Where each tensor starts in a block's parameters (or gradients), in the order of
 * transformer.h, and their total. */
typedef struct block_layout {
    size_t ln1_g, ln1_b, attn, ln2_g, ln2_b, w1, b1, w2, b2, total;
} block_layout;

/* The work area's buffers. */
typedef struct block_work {
    float *ln1, *h, *ln2, *f1, *g, *stats, *attn, *drop1, *drop2, *dg, *dh, *dln, *dsub;
} block_work;

static attn_shape attn_of(const transformer_shape *s) { return (attn_shape){s->D, s->heads}; }

static block_layout layout_of(const transformer_shape *s)
{
    const size_t D = (size_t)s->D, F = (size_t)s->F;
    const attn_shape a = attn_of(s);
    block_layout l;
    l.ln1_g = 0;
    l.ln1_b = l.ln1_g + D;
    l.attn = l.ln1_b + D;
    l.ln2_g = l.attn + attention_param_floats(&a);
    l.ln2_b = l.ln2_g + D;
    l.w1 = l.ln2_b + D;
    l.b1 = l.w1 + F * D;
    l.w2 = l.b1 + F;
    l.b2 = l.w2 + D * F;
    l.total = l.b2 + D;
    return l;
}

size_t transformer_param_floats(const transformer_shape *s) { return layout_of(s).total; }

enum { NBUF = 13 };

/* The sizes of the work area's buffers, in block_work's order. */
static void work_sizes(const transformer_shape *s, int B, int T, size_t n[NBUF])
{
    const size_t BT = (size_t)B * (size_t)T, D = (size_t)s->D, F = (size_t)s->F;
    const attn_shape a = attn_of(s);
    const size_t sizes[NBUF] = {BT * D, BT * D, BT * D, BT * F, BT * F, 4 * BT,
                                attention_work_floats(&a, B, T), BT * D, BT * D,
                                BT * F, BT * D, BT * D, BT * D};
    memcpy(n, sizes, sizeof sizes);
}

size_t transformer_work_floats(const transformer_shape *s, int B, int T)
{
    size_t n[NBUF], total = 0;
    work_sizes(s, B, T, n);
    for (int i = 0; i < NBUF; i++)
        total += n[i];
    return total;
}

static block_work work_view(const transformer_shape *s, float *work, int B, int T)
{
    size_t n[NBUF];
    work_sizes(s, B, T, n);
    block_work w;
    float *p = work;
    float **bufs[NBUF] = {&w.ln1, &w.h, &w.ln2, &w.f1, &w.g, &w.stats, &w.attn, &w.drop1,
                          &w.drop2, &w.dg, &w.dh, &w.dln, &w.dsub};
    for (int i = 0; i < NBUF; i++)
        *bufs[i] = p, p += n[i];
    return w;
}

static void add_to(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] += x[i];
}

void transformer_forward(const transformer_shape *s, float *out, float *work, const float *x,
                         const int *lens, const float *params, int B, int T)
{
    const int D = s->D, F = s->F, BT = B * T;
    const attn_shape a = attn_of(s);
    const block_layout l = layout_of(s);
    const block_work w = work_view(s, work, B, T);
    const float *P = params;
    float *mean1 = w.stats, *rstd1 = mean1 + BT, *mean2 = rstd1 + BT, *rstd2 = mean2 + BT;
    layernorm_forward(w.ln1, mean1, rstd1, x, P + l.ln1_g, P + l.ln1_b, BT, D, LN_EPS);
    const int drop = s->dropout > 0;
    attention_forward(&a, w.h, w.attn, w.ln1, lens, P + l.attn, B, T);
    if (drop)
        dropout_forward(w.h, w.drop1, w.h, (size_t)BT * D, s->dropout, s->rng);
    add_to(w.h, x, (size_t)BT * D);
    layernorm_forward(w.ln2, mean2, rstd2, w.h, P + l.ln2_g, P + l.ln2_b, BT, D, LN_EPS);
    dense_forward(w.f1, w.ln2, P + l.w1, P + l.b1, BT, D, F);
    gelu_forward(w.g, w.f1, (size_t)BT * F);
    dense_forward(out, w.g, P + l.w2, P + l.b2, BT, F, D);
    if (drop)
        dropout_forward(out, w.drop2, out, (size_t)BT * D, s->dropout, s->rng);
    add_to(out, w.h, (size_t)BT * D);
    for (int b = 0; b < B; b++)
        memset(out + ((size_t)b * T + lens[b]) * D, 0, (size_t)(T - lens[b]) * D * sizeof *out);
}

void transformer_backward(const transformer_shape *s, float *dx, float *dparams, float *work,
                          const float *dout, const float *x, const int *lens,
                          const float *params, int B, int T)
{
    const int D = s->D, F = s->F, BT = B * T;
    const attn_shape a = attn_of(s);
    const block_layout l = layout_of(s);
    const block_work w = work_view(s, work, B, T);
    const float *P = params;
    float *G = dparams;
    float *mean1 = w.stats, *rstd1 = mean1 + BT, *mean2 = rstd1 + BT, *rstd2 = mean2 + BT;
    /* dh starts as dout with its padded rows, which the forward pass zeroed, ignored */
    for (int b = 0; b < B; b++) {
        const size_t row = (size_t)b * T * D, real = (size_t)lens[b] * D;
        memcpy(w.dh + row, dout + row, real * sizeof *w.dh);
        memset(w.dh + row + real, 0, ((size_t)T * D - real) * sizeof *w.dh);
    }
    const int drop = s->dropout > 0;
    const size_t n = (size_t)BT * D;
    if (drop) /* through the feed-forward output's mask; dh itself goes on to the residual */
        dropout_backward(w.dsub, w.dh, w.drop2, n);
    dense_backward(w.dg, 0, G + l.w2, G + l.b2, drop ? w.dsub : w.dh, w.g, P + l.w2, BT, F, D);
    gelu_backward(w.dg, w.dg, w.f1, (size_t)BT * F);
    dense_backward(w.dln, 0, G + l.w1, G + l.b1, w.dg, w.ln2, P + l.w1, BT, D, F);
    layernorm_backward(w.dln, G + l.ln2_g, G + l.ln2_b, w.dln, w.h, P + l.ln2_g, mean2, rstd2,
                       BT, D);
    add_to(w.dh, w.dln, n); /* the residual's gradient and layernorm2's */
    if (drop)
        dropout_backward(w.dsub, w.dh, w.drop1, n);
    attention_backward(&a, w.dln, G + l.attn, w.attn, drop ? w.dsub : w.dh, w.ln1, lens,
                       P + l.attn, B, T);
    layernorm_backward(w.dln, G + l.ln1_g, G + l.ln1_b, w.dln, x, P + l.ln1_g, mean1, rstd1,
                       BT, D);
    if (dx) {
        memcpy(dx, w.dh, (size_t)BT * D * sizeof *dx);
        add_to(dx, w.dln, (size_t)BT * D);
    }
}
