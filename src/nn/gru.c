/* A GRU layer over padded batches (see gru.h).
 *
 * B = sequences, T = steps, D = input width, H = hidden width, BT = B*T rows. Per direction
 * the work area keeps gates[BT][3H] (first x W_ih^T + b_ih, then r, z, n for each real step)
 * and hn[BT][H] (W_hn h + b_hn, which the gradient of r needs); backward overwrites both
 * with the gradients of the same quantities, row by row as it consumes them. Then come the
 * state h[B][H] (dh in backward), a[B][3H] (the step's W_hh h, then its gradient) and
 * hprev[BT][H] (each step's incoming state, so that dW_hh is one sgemm over all steps). */
#include "nn/gru.h"

#include <cblas.h>
#include <string.h>

#include "nn/dense.h"
#include "nn/vmath.h"

typedef struct gru_dir {
    const float *w_ih, *w_hh, *b_ih, *b_hh;
} gru_dir;

typedef struct gru_grad {
    float *w_ih, *w_hh, *b_ih, *b_hh;
} gru_grad;

typedef struct gru_work {
    float *gates[2], *hn[2], *h, *a, *hprev;
} gru_work;

static size_t dir_floats(const gru_shape *g)
{
    const size_t H3 = 3 * (size_t)g->H;
    return H3 * (size_t)g->D + H3 * (size_t)g->H + 2 * H3;
}

size_t gru_param_floats(const gru_shape *g) { return (size_t)g->dirs * dir_floats(g); }

size_t gru_work_floats(const gru_shape *g, int B, int T)
{
    const size_t BT = (size_t)B * (size_t)T, H = (size_t)g->H;
    return (size_t)g->dirs * 4 * H * BT + H * BT + 4 * H * (size_t)B;
}

/* Where direction d's W_ih, W_hh, b_ih and b_hh start in a parameter (or gradient) block. */
static void dir_offsets(const gru_shape *g, int d, size_t off[4])
{
    const size_t H3 = 3 * (size_t)g->H;
    off[0] = (size_t)d * dir_floats(g);
    off[1] = off[0] + H3 * (size_t)g->D;
    off[2] = off[1] + H3 * (size_t)g->H;
    off[3] = off[2] + H3;
}

static gru_dir dir_view(const gru_shape *g, const float *params, int d)
{
    size_t o[4];
    dir_offsets(g, d, o);
    return (gru_dir){params + o[0], params + o[1], params + o[2], params + o[3]};
}

static gru_grad grad_view(const gru_shape *g, float *dparams, int d)
{
    size_t o[4];
    dir_offsets(g, d, o);
    return (gru_grad){dparams + o[0], dparams + o[1], dparams + o[2], dparams + o[3]};
}

static gru_work work_view(const gru_shape *g, float *work, int B, int T)
{
    const size_t BT = (size_t)B * (size_t)T, H = (size_t)g->H;
    gru_work w = {0};
    for (int d = 0; d < g->dirs; d++) {
        w.gates[d] = work;
        w.hn[d] = work + 3 * H * BT;
        work += 4 * H * BT;
    }
    w.h = work;
    w.a = w.h + H * (size_t)B;
    w.hprev = w.a + 3 * H * (size_t)B;
    return w;
}

static int max_len(const int *lens, int B)
{
    int m = 0;
    for (int b = 0; b < B; b++)
        m = lens[b] > m ? lens[b] : m;
    return m;
}

/* 1 + the last sequence still running at step s: the rows a step's sgemm covers. */
static int live_rows(const int *lens, int B, int s)
{
    int rows = B;
    while (rows > 0 && lens[rows - 1] <= s)
        rows--;
    return rows;
}

/* The time index of sequence b's step s: from the start forward, from its last real step
 * backward. */
static int step_time(int s, int len, int reverse) { return reverse ? len - 1 - s : s; }

/* One step of one sequence: gate holds x W_ih^T + b_ih and a holds W_hh h; h becomes h'.
 * Keeps r, z, n in gate and W_hn h + b_hn in hn. */
static void gates_forward(float *restrict gate, float *restrict hn, float *restrict h,
                          const float *restrict a, const float *restrict b_hh, int H)
{
    for (int j = 0; j < H; j++) {
        float r = vsigmoid(gate[j] + a[j] + b_hh[j]);
        float z = vsigmoid(gate[H + j] + a[H + j] + b_hh[H + j]);
        float hnj = a[2 * H + j] + b_hh[2 * H + j];
        float n = vtanh(gate[2 * H + j] + r * hnj);
        gate[j] = r;
        gate[H + j] = z;
        gate[2 * H + j] = n;
        hn[j] = hnj;
        h[j] = n + z * (h[j] - n);
    }
}

static void direction_forward(const gru_shape *g, int d, float *out, const gru_work *w,
                              const float *x, const int *lens, const gru_dir *p, int B, int T)
{
    const int H = g->H, H3 = 3 * H, ldo = g->dirs * H;
    float *gates = w->gates[d];
    dense_forward(gates, x, p->w_ih, p->b_ih, B * T, g->D, H3);
    memset(w->h, 0, (size_t)B * H * sizeof *w->h);
    const int steps = max_len(lens, B);
    for (int s = 0; s < steps; s++) {
        const int rows = live_rows(lens, B, s);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, H3, H, 1.0f, w->h, H,
                    p->w_hh, H, 0.0f, w->a, H3);
        for (int b = 0; b < rows; b++) {
            if (lens[b] <= s)
                continue;
            const size_t row = (size_t)b * T + (size_t)step_time(s, lens[b], d);
            float *h = w->h + (size_t)b * H;
            gates_forward(gates + row * H3, w->hn[d] + row * H, h, w->a + (size_t)b * H3,
                          p->b_hh, H);
            memcpy(out + row * ldo + (size_t)d * H, h, (size_t)H * sizeof *h);
        }
    }
}

void gru_forward(const gru_shape *g, float *out, float *work, const float *x, const int *lens,
                 const float *params, int B, int T)
{
    const size_t width = (size_t)g->dirs * (size_t)g->H;
    for (int b = 0; b < B; b++)
        memset(out + ((size_t)b * T + (size_t)lens[b]) * width, 0,
               (size_t)(T - lens[b]) * width * sizeof *out);
    gru_work w = work_view(g, work, B, T);
    for (int d = 0; d < g->dirs; d++) {
        gru_dir p = dir_view(g, params, d);
        direction_forward(g, d, out, &w, x, lens, &p, B, T);
    }
}

/* One step of one sequence backward: dh holds the gradient of the step's output state from
 * the later steps, dout the output's own. Writes the gradients of the gate pre-activations
 * over gate (input side: r, z, n) and hn, and into da (hidden side: r, z, W_hn h + b_hn);
 * leaves in dh the part of the incoming state's gradient that bypasses W_hh. */
static void gates_backward(float *restrict gate, float *restrict hn, float *restrict dh,
                           float *restrict da, const float *restrict hprev,
                           const float *restrict dout, int H)
{
    for (int j = 0; j < H; j++) {
        float dht = dh[j] + dout[j];
        float r = gate[j], z = gate[H + j], n = gate[2 * H + j];
        float dn = dht * (1 - z) * (1 - n * n);
        float dz = dht * (hprev[j] - n) * z * (1 - z);
        float dhn = dn * r;
        float dr = dn * hn[j] * r * (1 - r);
        gate[j] = da[j] = dr;
        gate[H + j] = da[H + j] = dz;
        gate[2 * H + j] = dn;
        hn[j] = da[2 * H + j] = dhn;
        dh[j] = dht * z;
    }
}

/* hprev[b][t] = the state that entered step t of direction d (0 at its first step and on
 * padding); the gates and hn of padding become zero gradients. */
static void prepare_backward(const gru_shape *g, int d, const gru_work *w, const float *out,
                             const int *lens, int B, int T)
{
    const int H = g->H, ldo = g->dirs * H;
    const size_t hbytes = (size_t)H * sizeof(float);
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const size_t row = (size_t)b * T + (size_t)t;
            const int from = d ? t + 1 : t - 1;
            if (t < lens[b] && from >= 0 && from < lens[b])
                memcpy(w->hprev + row * H, out + ((size_t)b * T + from) * ldo + (size_t)d * H,
                       hbytes);
            else
                memset(w->hprev + row * H, 0, hbytes);
            if (t >= lens[b]) {
                memset(w->gates[d] + row * 3 * H, 0, 3 * hbytes);
                memset(w->hn[d] + row * H, 0, hbytes);
            }
        }
}

static void direction_backward(const gru_shape *g, int d, float *dx, const gru_grad *dp,
                               const gru_work *w, const float *dout, const float *out,
                               const float *x, const int *lens, const gru_dir *p, int B, int T)
{
    const int H = g->H, H3 = 3 * H, ldo = g->dirs * H, BT = B * T;
    float *gates = w->gates[d], *hn = w->hn[d];
    prepare_backward(g, d, w, out, lens, B, T);
    memset(w->h, 0, (size_t)B * H * sizeof *w->h);
    for (int s = max_len(lens, B) - 1; s >= 0; s--) {
        const int rows = live_rows(lens, B, s);
        for (int b = 0; b < rows; b++) {
            float *da = w->a + (size_t)b * H3;
            if (lens[b] <= s) { /* not started yet: no gradient, and its dh stays 0 */
                memset(da, 0, (size_t)H3 * sizeof *da);
                continue;
            }
            const size_t row = (size_t)b * T + (size_t)step_time(s, lens[b], d);
            gates_backward(gates + row * H3, hn + row * H, w->h + (size_t)b * H, da,
                           w->hprev + row * H, dout + row * ldo + (size_t)d * H, H);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, H, H3, 1.0f, w->a, H3,
                    p->w_hh, H, 1.0f, w->h, H);
    }
    /* dW_hh: rows r and z from the input-side gradients (the same), row n from hn's */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, 2 * H, H, BT, 1.0f, gates, H3,
                w->hprev, H, 1.0f, dp->w_hh, H);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, H, H, BT, 1.0f, hn, H, w->hprev, H,
                1.0f, dp->w_hh + (size_t)2 * H * H, H);
    add_column_sums(dp->b_hh, gates, BT, 2 * H, H3);
    add_column_sums(dp->b_hh + 2 * H, hn, BT, H, H);
    dense_backward(dx, d > 0, dp->w_ih, dp->b_ih, gates, x, p->w_ih, BT, g->D, H3);
}

void gru_backward(const gru_shape *g, float *dx, float *dparams, float *work, const float *dout,
                  const float *out, const float *x, const int *lens, const float *params,
                  int B, int T)
{
    if (B < 1 || T < 1) /* sgemm refuses empty products */
        return;
    gru_work w = work_view(g, work, B, T);
    for (int d = 0; d < g->dirs; d++) {
        gru_dir p = dir_view(g, params, d);
        gru_grad dp = grad_view(g, dparams, d);
        direction_backward(g, d, dx, &dp, &w, dout, out, x, lens, &p, B, T);
    }
}
