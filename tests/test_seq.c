/* The sequence layers: a GRU (one step, and bidirectional over a padded batch), multi-head
 * self-attention with a padding mask, layer norm, GELU, embeddings, pooling over time and
 * the pre-LayerNorm Transformer block, each checked by finite differences; the GRU and the
 * Transformer block against PyTorch on fixed weights (tests/fixtures/make_seq_golden.py
 * wrote the fixture with Debian's python3-torch); and batches split into slices, as threads
 * run them, against one call.
 *
 * B = sequences, T = steps, D = width, H = a GRU's hidden width; activations [B][T][D]. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "nn/attention.h"
#include "nn/embedding.h"
#include "nn/gelu.h"
#include "nn/gru.h"
#include "nn/layernorm.h"
#include "nn/seqpool.h"
#include "nn/transformer.h"

#include "golden.h"
#include "numeric.h"

static float *new_floats(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    assert_non_null(p);
    return p;
}

/* ---- finite differences ------------------------------------------------------------
 * A case is a forward pass whose loss is sum(out * R) over fixed random R, in double; its
 * backward pass from dout = R must give the loss's gradient. The numeric derivative is
 * Richardson's extrapolation of central differences at h and h/2, (4 D(h/2) - D(h)) / 3,
 * whose error is O(h^4): h can be large enough that float rounding in the forward pass
 * stays far below the tolerance. */

typedef double (*loss_fn)(void *ctx);

static double weighted_sum(const float *out, const float *R, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)out[i] * R[i];
    return s;
}

static double central_difference(loss_fn loss, void *ctx, float *v, float h)
{
    const float keep = *v;
    *v = keep + h;
    const float up_at = *v;
    const double up = loss(ctx);
    *v = keep - h;
    const float down_at = *v;
    const double down = loss(ctx);
    *v = keep;
    return (up - down) / ((double)up_at - (double)down_at);
}

/* Every v[i] against grad[i]: |numeric - analytic| <= tol max(|numeric|, least). */
static void check_gradient(loss_fn loss, void *ctx, float *v, const float *grad, size_t n,
                           float h, double tol, double least, const char *what)
{
    for (size_t i = 0; i < n; i++) {
        const double d1 = central_difference(loss, ctx, &v[i], h);
        const double d2 = central_difference(loss, ctx, &v[i], h / 2);
        const double numeric = (4 * d2 - d1) / 3;
        if (fabs(numeric - grad[i]) > tol * fmax(fabs(numeric), least))
            fail_msg("d%s[%zu]: analytic %.7g, numeric %.7g", what, i, grad[i], numeric);
    }
}

/* ---- the sequence layers: a GRU, attention, the Transformer block -------------------
 * One case type for the three: each reads x[B][T][D] with lens and writes out[B][T][width],
 * and its calls can run on the slice [b0, b0 + n) of the batch, as a thread would. */

typedef enum { CASE_GRU, CASE_ATTENTION, CASE_BLOCK } case_kind;

typedef struct seq_case {
    case_kind kind;
    gru_shape gru;
    attn_shape attn;
    transformer_shape block;
    int B, T, lens[4];
    size_t D, width, nx, nout, np;
    float *x, *out, *work, *params, *R, *dx, *dparams;
} seq_case;

/* Allocates the case's arrays, zeroed, for the kind and shape set in *c. */
static void case_init(seq_case *c, int B, int T, const int *lens)
{
    size_t nwork = 0;
    c->B = B;
    c->T = T;
    memcpy(c->lens, lens, (size_t)B * sizeof *lens);
    if (c->kind == CASE_GRU) {
        c->D = (size_t)c->gru.D;
        c->width = (size_t)c->gru.dirs * c->gru.H;
        c->np = gru_param_floats(&c->gru);
        nwork = gru_work_floats(&c->gru, B, T);
    } else if (c->kind == CASE_ATTENTION) {
        c->D = c->width = (size_t)c->attn.D;
        c->np = attention_param_floats(&c->attn);
        nwork = attention_work_floats(&c->attn, B, T);
    } else {
        c->D = c->width = (size_t)c->block.D;
        c->np = transformer_param_floats(&c->block);
        nwork = transformer_work_floats(&c->block, B, T);
    }
    c->nx = (size_t)B * T * c->D;
    c->nout = (size_t)B * T * c->width;
    /* one block, zeroed, carved in order: x, dx, out, R, params, dparams, work */
    float *p = new_floats(2 * c->nx + 2 * c->nout + 2 * c->np + nwork);
    c->x = p, p += c->nx;
    c->dx = p, p += c->nx;
    c->out = p, p += c->nout;
    c->R = p, p += c->nout;
    c->params = p, p += c->np;
    c->dparams = p, p += c->np;
    c->work = p;
}

/* Random x, R and parameters. */
static void case_fill(seq_case *c, uint64_t seed)
{
    fill(c->x, c->nx, seed);
    fill(c->R, c->nout, seed + 1);
    fill(c->params, c->np, seed + 2);
}

static void case_free(seq_case *c) { free(c->x); }

/* The forward pass of the sequences [b0, b0 + n). */
static void case_forward(seq_case *c, int b0, int n)
{
    const float *x = c->x + (size_t)b0 * c->T * c->D;
    float *out = c->out + (size_t)b0 * c->T * c->width;
    const int *lens = c->lens + b0;
    if (c->kind == CASE_GRU)
        gru_forward(&c->gru, out, c->work, x, lens, c->params, n, c->T);
    else if (c->kind == CASE_ATTENTION)
        attention_forward(&c->attn, out, c->work, x, lens, c->params, n, c->T);
    else
        transformer_forward(&c->block, out, c->work, x, lens, c->params, n, c->T);
}

/* Forward, then backward from dout = R, over the sequences [b0, b0 + n). */
static void case_backward(seq_case *c, int b0, int n)
{
    const size_t in = (size_t)b0 * c->T * c->D, o = (size_t)b0 * c->T * c->width;
    const int *lens = c->lens + b0;
    case_forward(c, b0, n);
    if (c->kind == CASE_GRU)
        gru_backward(&c->gru, c->dx + in, c->dparams, c->work, c->R + o, c->out + o, c->x + in,
                     lens, c->params, n, c->T);
    else if (c->kind == CASE_ATTENTION)
        attention_backward(&c->attn, c->dx + in, c->dparams, c->work, c->R + o, c->x + in,
                           lens, c->params, n, c->T);
    else
        transformer_backward(&c->block, c->dx + in, c->dparams, c->work, c->R + o, c->x + in,
                             lens, c->params, n, c->T);
}

static double case_loss(void *ctx)
{
    seq_case *c = ctx;
    case_forward(c, 0, c->B);
    return weighted_sum(c->out, c->R, c->nout);
}

/* A random case backward, then every parameter and input against finite differences. */
static void check_case_gradients(seq_case *c, uint64_t seed, float h)
{
    case_fill(c, seed);
    case_backward(c, 0, c->B);
    check_gradient(case_loss, c, c->params, c->dparams, c->np, h, 2e-3, 0.05, "params");
    check_gradient(case_loss, c, c->x, c->dx, c->nx, h, 2e-3, 0.05, "x");
}

/* One direction, every sequence full: the cell's equations, step after step. */
static void gru_cell_gradients_match_finite_differences(void **state)
{
    (void)state;
    seq_case c = {.kind = CASE_GRU, .gru = {.D = 3, .H = 4, .dirs = 1}};
    case_init(&c, 2, 3, (const int[]){3, 3});
    check_case_gradients(&c, 10, 0.02f);
    case_free(&c);
}

/* Both directions over a padded batch, with a sequence of one step and an empty one. */
static void bidirectional_gru_gradients_match_finite_differences_with_padding(void **state)
{
    (void)state;
    seq_case c = {.kind = CASE_GRU, .gru = {.D = 3, .H = 4, .dirs = 2}};
    case_init(&c, 4, 5, (const int[]){5, 2, 1, 0});
    check_case_gradients(&c, 20, 0.02f);
    for (int b = 0; b < c.B; b++) /* padding: outputs 0, no gradient */
        for (int t = c.lens[b]; t < c.T; t++) {
            for (size_t j = 0; j < c.width; j++)
                assert_true(c.out[((size_t)b * c.T + t) * c.width + j] == 0);
            for (size_t j = 0; j < c.D; j++)
                assert_true(c.dx[((size_t)b * c.T + t) * c.D + j] == 0);
        }
    case_free(&c);
}

static void attention_gradients_match_finite_differences_with_padding_mask(void **state)
{
    (void)state;
    seq_case c = {.kind = CASE_ATTENTION, .attn = {.D = 6, .heads = 2}};
    case_init(&c, 3, 4, (const int[]){4, 2, 3});
    check_case_gradients(&c, 30, 0.04f);
    /* the mask: what the padding of sequence 1 holds changes nothing */
    float *before = new_floats(c.nout);
    case_loss(&c);
    memcpy(before, c.out, c.nout * sizeof *before);
    for (size_t i = (size_t)(1 * c.T + 2) * c.D; i < (size_t)2 * c.T * c.D; i++)
        c.x[i] += 10;
    case_loss(&c);
    assert_memory_equal(before, c.out, c.nout * sizeof *before);
    free(before);
    case_free(&c);
}

static void transformer_block_gradients_match_finite_differences(void **state)
{
    (void)state;
    seq_case c = {.kind = CASE_BLOCK, .block = {.D = 4, .heads = 2, .F = 6}};
    case_init(&c, 3, 3, (const int[]){3, 1, 2});
    check_case_gradients(&c, 80, 0.04f);
    case_free(&c);
}

/* ---- layer norm, GELU ------------------------------------------------------------- */

enum { LN_N = 3, LN_C = 7 };

typedef struct ln_case {
    float x[LN_N * LN_C], gamma[LN_C], beta[LN_C], out[LN_N * LN_C], R[LN_N * LN_C];
    float mean[LN_N], rstd[LN_N];
} ln_case;

static double ln_loss(void *ctx)
{
    ln_case *c = ctx;
    layernorm_forward(c->out, c->mean, c->rstd, c->x, c->gamma, c->beta, LN_N, LN_C, 1e-5f);
    return weighted_sum(c->out, c->R, LN_N * LN_C);
}

static void layernorm_gradients_match_finite_differences(void **state)
{
    (void)state;
    ln_case c;
    float dx[LN_N * LN_C], dgamma[LN_C] = {0}, dbeta[LN_C] = {0};
    fill(c.x, LN_N * LN_C, 40);
    fill(c.R, LN_N * LN_C, 41);
    fill(c.gamma, LN_C, 42);
    fill(c.beta, LN_C, 43);
    ln_loss(&c);
    layernorm_backward(dx, dgamma, dbeta, c.R, c.x, c.gamma, c.mean, c.rstd, LN_N, LN_C);
    check_gradient(ln_loss, &c, c.x, dx, LN_N * LN_C, 0.02f, 2e-3, 0.05, "x");
    check_gradient(ln_loss, &c, c.gamma, dgamma, LN_C, 0.02f, 2e-3, 0.05, "gamma");
    check_gradient(ln_loss, &c, c.beta, dbeta, LN_C, 0.02f, 2e-3, 0.05, "beta");
}

static void layernorm_matches_its_definition_and_may_work_in_place(void **state)
{
    (void)state;
    ln_case c;
    fill(c.x, LN_N * LN_C, 44);
    fill(c.gamma, LN_C, 45);
    fill(c.beta, LN_C, 46);
    for (int j = 0; j < LN_C; j++) /* a row whose mean is large next to its spread */
        c.x[2 * LN_C + j] = 40 + c.x[2 * LN_C + j] / 4;
    layernorm_forward(c.out, c.mean, c.rstd, c.x, c.gamma, c.beta, LN_N, LN_C, 1e-5f);
    for (int i = 0; i < LN_N; i++) {
        const float *x = c.x + i * LN_C;
        double m = 0, v = 0;
        for (int j = 0; j < LN_C; j++)
            m += x[j] / (double)LN_C;
        for (int j = 0; j < LN_C; j++)
            v += (x[j] - m) * (x[j] - m) / LN_C;
        for (int j = 0; j < LN_C; j++) {
            double want = (x[j] - m) / sqrt(v + 1e-5) * c.gamma[j] + c.beta[j];
            if (fabs(c.out[i * LN_C + j] - want) > 2e-5)
                fail_msg("row %d: got %.8g, want %.8g", i, c.out[i * LN_C + j], want);
        }
    }
    float in_place[LN_N * LN_C], mean[LN_N], rstd[LN_N];
    memcpy(in_place, c.x, sizeof in_place);
    layernorm_forward(in_place, mean, rstd, in_place, c.gamma, c.beta, LN_N, LN_C, 1e-5f);
    assert_memory_equal(in_place, c.out, sizeof in_place);
}

enum { GELU_N = 96 };

typedef struct gelu_case {
    float x[GELU_N], out[GELU_N], R[GELU_N];
} gelu_case;

static double gelu_loss(void *ctx)
{
    gelu_case *c = ctx;
    gelu_forward(c->out, c->x, GELU_N);
    return weighted_sum(c->out, c->R, GELU_N);
}

/* gelu(x) = x Phi(x) with erf, not the tanh approximation (which differs by up to 5e-4),
 * from -9 to 9; and its derivative. */
static void gelu_matches_erf_and_its_gradient_finite_differences(void **state)
{
    (void)state;
    gelu_case c;
    float dx[GELU_N];
    for (int i = 0; i < GELU_N; i++)
        c.x[i] = -9.0f + 18.0f * (float)i / (GELU_N - 1) + 0.01f;
    fill(c.R, GELU_N, 50);
    gelu_forward(c.out, c.x, GELU_N);
    for (int i = 0; i < GELU_N; i++) {
        double x = c.x[i], want = 0.5 * x * erfc(-x / sqrt(2.0));
        if (fabs(c.out[i] - want) > 1e-6 * fmax(fabs(want), 1e-3))
            fail_msg("gelu(%g) = %.9g, want %.9g", x, c.out[i], want);
    }
    gelu_backward(dx, c.R, c.x, GELU_N);
    check_gradient(gelu_loss, &c, c.x, dx, GELU_N, 0.01f, 1e-3, 0.01, "x");
    gelu_backward(c.R, c.R, c.x, GELU_N); /* in place */
    assert_memory_equal(c.R, dx, sizeof dx);
}

/* ---- embedding, pooling ----------------------------------------------------------- */

enum { EB = 2, ET = 4, ED = 3, EV = 5, ES = 2 };

/* Two ids per step: a token and, where not -1, a second row averaged with it. */
typedef struct embed_case {
    int32_t tokens[EB * ET * ES];
    int lens[EB];
    float table[EV * ED], pos[ET * ED], out[EB * ET * ED], R[EB * ET * ED];
} embed_case;

static double embed_loss(void *ctx)
{
    embed_case *c = ctx;
    embedding_forward(c->out, c->tokens, ES, c->lens, c->table, c->pos, EB, ET, ED);
    return weighted_sum(c->out, c->R, EB * ET * ED);
}

static void embedding_gradients_are_sparse_and_match_finite_differences(void **state)
{
    (void)state;
    /* token 1 three times, token 2 only in padding, token 4 never */
    embed_case c = {.tokens = {3, -1, 1, 0, 0, -1, 1, -1, 1, -1, 3, -1, 2, 2, 2, -1},
                    .lens = {4, 2}};
    float dtable[EV * ED] = {0}, dpos[ET * ED] = {0};
    fill(c.table, EV * ED, 60);
    fill(c.pos, ET * ED, 61);
    fill(c.R, EB * ET * ED, 62);
    embed_loss(&c);
    for (int j = 0; j < ED; j++) {
        assert_true(c.out[(1 * ET + 1) * ED + j] == c.table[3 * ED + j] + c.pos[1 * ED + j]);
        assert_float_equal(c.out[(0 * ET + 1) * ED + j],
                           (c.table[1 * ED + j] + c.table[0 * ED + j]) / 2 + c.pos[1 * ED + j],
                           1e-6);
        assert_true(c.out[(1 * ET + 2) * ED + j] == 0); /* padding */
    }
    embedding_backward(dtable, dpos, c.R, c.tokens, ES, c.lens, EB, ET, ED);
    for (int j = 0; j < ED; j++) {
        assert_true(dtable[2 * ED + j] == 0);
        assert_true(dtable[4 * ED + j] == 0);
    }
    check_gradient(embed_loss, &c, c.table, dtable, EV * ED, 0.05f, 1e-4, 0.05, "table");
    check_gradient(embed_loss, &c, c.pos, dpos, ET * ED, 0.05f, 1e-4, 0.05, "pos");
    int32_t rows[EB * ET * ES];
    assert_int_equal(embedding_rows(rows, c.tokens, ES, c.lens, EB, ET), 3);
    assert_int_equal(rows[0], 0);
    assert_int_equal(rows[1], 1);
    assert_int_equal(rows[2], 3);
}

/* Many ids with repeats: each present id once, ascending, and none of the padding's. */
static void embedding_rows_lists_each_token_of_the_real_steps_once(void **state)
{
    (void)state;
    enum { B = 7, T = 40, V = 50 };
    int32_t tokens[B * T], rows[B * T];
    int lens[B], seen[V] = {0}, want = 0;
    rng r;
    rng_seed(&r, 64);
    for (int b = 0; b < B; b++) {
        lens[b] = (int)rng_below(&r, T + 1);
        for (int t = 0; t < T; t++) {
            tokens[b * T + t] = (int32_t)rng_below(&r, t < lens[b] ? V - 1 : V);
            if (t < lens[b] && !seen[tokens[b * T + t]]++)
                want++;
        }
    }
    const int n = embedding_rows(rows, tokens, 1, lens, B, T);
    assert_int_equal(n, want);
    for (int i = 0; i < n; i++) {
        assert_true(seen[rows[i]] > 0);
        assert_true(i == 0 || rows[i] > rows[i - 1]);
    }
}

enum { PB = 3, PT = 4, PD = 5 };

typedef struct pool_case {
    int lens[PB];
    float x[PB * PT * PD], out[PB * 2 * PD], R[PB * 2 * PD];
    int32_t argmax[PB * PD];
} pool_case;

/* mean and max side by side in one [B][2D] row, as an encoder pools */
static double pool_loss(void *ctx)
{
    pool_case *c = ctx;
    seqpool_mean_forward(c->out, 2 * PD, c->x, c->lens, PB, PT, PD);
    seqpool_max_forward(c->out + PD, 2 * PD, c->argmax, c->x, c->lens, PB, PT, PD);
    return weighted_sum(c->out, c->R, PB * 2 * PD);
}

static void pooling_over_time_skips_padding_and_matches_finite_differences(void **state)
{
    (void)state;
    pool_case c = {.lens = {4, 2, 0}};
    float dx[PB * PT * PD] = {0};
    /* distinct values 0.1 apart, so that a nudge of 0.01 never changes a maximum */
    for (int i = 0; i < PB * PT * PD; i++)
        c.x[i] = 0.1f * (float)((i * 37) % (PB * PT * PD)) - 3;
    c.x[(1 * PT + 3) * PD] = 100; /* a padded step that would win the max */
    fill(c.R, PB * 2 * PD, 70);
    pool_loss(&c);
    for (int j = 0; j < PD; j++) {
        float a = c.x[(1 * PT + 0) * PD + j], b = c.x[(1 * PT + 1) * PD + j];
        assert_true(fabsf(c.out[1 * 2 * PD + j] - (a + b) / 2) < 1e-6f);
        assert_true(c.out[1 * 2 * PD + PD + j] == fmaxf(a, b));
        assert_true(c.out[2 * 2 * PD + j] == 0 && c.out[2 * 2 * PD + PD + j] == 0);
        assert_int_equal(c.argmax[2 * PD + j], -1);
    }
    seqpool_mean_backward(dx, c.R, 2 * PD, c.lens, PB, PT, PD);
    seqpool_max_backward(dx, c.R + PD, 2 * PD, c.argmax, PB, PT, PD);
    check_gradient(pool_loss, &c, c.x, dx, PB * PT * PD, 0.01f, 1e-3, 0.05, "x");
}

/* ---- PyTorch's results -------------------------------------------------------------- */

static const char *FIXTURE = "tests/fixtures/seq_golden.txt";

static int fixture_setup(void **state) { return golden_setup(state, FIXTURE); }

/* The formulas of make_seq_golden.py: weights, inputs and the loss's R. */
static float wave(int tensor, size_t j)
{
    return (float)sin(0.37 * (double)j + 0.91 * tensor + 0.1);
}

static float input_at(size_t i)
{
    return (float)(sin(0.7 * (double)i) + 0.3 * cos(0.13 * (double)i));
}

static float upstream_at(size_t i) { return (float)cos(0.29 * (double)i + 0.4); }

/* x[i] = input_at(i); R[i] = upstream_at(i) on the real steps, 0 on padding. */
static void script_batch(seq_case *c)
{
    for (size_t i = 0; i < c->nx; i++)
        c->x[i] = input_at(i);
    for (int b = 0; b < c->B; b++)
        for (int t = 0; t < c->T; t++)
            for (size_t j = 0; j < c->width; j++) {
                const size_t i = ((size_t)b * c->T + t) * c->width + j;
                c->R[i] = t < c->lens[b] ? upstream_at(i) : 0;
            }
}

/* A tensor of a parameter block as the script draws it: element j of tensor number t is
 * shift + scale wave(t, j). */
typedef struct script_tensor {
    const char *name;
    size_t n;
    float scale, shift;
} script_tensor;

/* Draws the parameters, input and R of the script, runs the case forward and backward, and
 * checks out, each gradient and dx against the fixture's PREFIX_out, PREFIX_grad_NAME and
 * PREFIX_dx. */
static void check_against_pytorch(const golden *g, seq_case *c, const char *prefix,
                                  const script_tensor *tensors, int count)
{
    float *p = c->params;
    for (int t = 0; t < count; t++)
        for (size_t j = 0; j < tensors[t].n; j++)
            *p++ = tensors[t].shift + tensors[t].scale * wave(t, j);
    assert_int_equal(p - c->params, (long)c->np);
    script_batch(c);
    case_backward(c, 0, c->B);
    char name[64];
    snprintf(name, sizeof name, "%s_out", prefix);
    double worst = golden_expect(g, name, c->out, c->nout);
    p = c->dparams;
    for (int t = 0; t < count; t++) {
        snprintf(name, sizeof name, "%s_grad_%s", prefix, tensors[t].name);
        worst = fmax(worst, golden_expect(g, name, p, tensors[t].n));
        p += tensors[t].n;
    }
    snprintf(name, sizeof name, "%s_dx", prefix);
    worst = fmax(worst, golden_expect(g, name, c->dx, c->nx));
    print_message("%s against PyTorch: largest relative error %.2g\n", prefix, worst);
}

static void gru_matches_pytorch(void **state)
{
    enum { D = 5, H = 4 };
    seq_case c = {.kind = CASE_GRU, .gru = {.D = D, .H = H, .dirs = 2}};
    case_init(&c, 3, 6, (const int[]){4, 6, 1});
    /* per direction: W_ih and W_hh scaled 0.5, b_ih and b_hh 0.2 */
    static const script_tensor tensors[8] = {
        {"weight_ih_l0", 3 * H * D, 0.5f, 0},
        {"weight_hh_l0", 3 * H * H, 0.5f, 0},
        {"bias_ih_l0", 3 * H, 0.2f, 0},
        {"bias_hh_l0", 3 * H, 0.2f, 0},
        {"weight_ih_l0_reverse", 3 * H * D, 0.5f, 0},
        {"weight_hh_l0_reverse", 3 * H * H, 0.5f, 0},
        {"bias_ih_l0_reverse", 3 * H, 0.2f, 0},
        {"bias_hh_l0_reverse", 3 * H, 0.2f, 0},
    };
    check_against_pytorch(*state, &c, "gru", tensors, 8);
    case_free(&c);
}

static void transformer_block_matches_pytorch(void **state)
{
    enum { D = 8, F = 16 };
    seq_case c = {.kind = CASE_BLOCK, .block = {.D = D, .heads = 2, .F = F}};
    case_init(&c, 3, 5, (const int[]){5, 2, 4});
    /* layer-norm gains 1 + 0.2 wave, biases 0.1 wave, weights 1.5 wave / sqrt(fan_in) */
    const float wd = 1.5f / sqrtf(D), wf = 1.5f / sqrtf(F);
    const script_tensor tensors[12] = {
        {"ln1_g", D, 0.2f, 1}, {"ln1_b", D, 0.1f, 0}, {"w_qkv", 3 * D * D, wd, 0},
        {"b_qkv", 3 * D, 0.1f, 0}, {"w_o", D * D, wd, 0}, {"b_o", D, 0.1f, 0},
        {"ln2_g", D, 0.2f, 1}, {"ln2_b", D, 0.1f, 0}, {"w1", F * D, wd, 0},
        {"b1", F, 0.1f, 0}, {"w2", D * F, wf, 0}, {"b2", D, 0.1f, 0},
    };
    check_against_pytorch(*state, &c, "tf", tensors, 12);
    case_free(&c);
}

/* ---- slices of a batch, as threads take them ------------------------------------------ */

static void assert_all_close(const float *got, const float *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > tol * fmax(1.0, fabs(want[i])))
            fail_msg("[%zu]: got %.8g, want %.8g", i, got[i], want[i]);
}

/* Each layer on the sequences [0, cut) and [cut, B) in two calls, the parameter gradients
 * adding up, against one call over the batch. */
static void sequence_layers_on_slices_of_a_batch_match_one_call(void **state)
{
    (void)state;
    const seq_case shapes[3] = {
        {.kind = CASE_GRU, .gru = {.D = 4, .H = 3, .dirs = 2}},
        {.kind = CASE_ATTENTION, .attn = {.D = 6, .heads = 3}},
        {.kind = CASE_BLOCK, .block = {.D = 6, .heads = 3, .F = 10}},
    };
    for (int k = 0; k < 3; k++) {
        seq_case whole = shapes[k], part = shapes[k];
        const int lens[4] = {3, 5, 0, 4}, cut = 1 + k % 2;
        case_init(&whole, 4, 5, lens);
        case_init(&part, 4, 5, lens);
        case_fill(&whole, 90);
        case_fill(&part, 90);
        case_backward(&whole, 0, 4);
        case_backward(&part, 0, cut);
        case_backward(&part, cut, 4 - cut);
        assert_all_close(part.out, whole.out, whole.nout, 1e-6);
        assert_all_close(part.dx, whole.dx, whole.nx, 1e-6);
        assert_all_close(part.dparams, whole.dparams, whole.np, 1e-5);
        case_free(&whole);
        case_free(&part);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gru_cell_gradients_match_finite_differences),
        cmocka_unit_test(bidirectional_gru_gradients_match_finite_differences_with_padding),
        cmocka_unit_test(attention_gradients_match_finite_differences_with_padding_mask),
        cmocka_unit_test(layernorm_gradients_match_finite_differences),
        cmocka_unit_test(layernorm_matches_its_definition_and_may_work_in_place),
        cmocka_unit_test(gelu_matches_erf_and_its_gradient_finite_differences),
        cmocka_unit_test(embedding_gradients_are_sparse_and_match_finite_differences),
        cmocka_unit_test(embedding_rows_lists_each_token_of_the_real_steps_once),
        cmocka_unit_test(pooling_over_time_skips_padding_and_matches_finite_differences),
        cmocka_unit_test(transformer_block_gradients_match_finite_differences),
        cmocka_unit_test(sequence_layers_on_slices_of_a_batch_match_one_call),
    };
    const struct CMUnitTest golden_tests[] = {
        cmocka_unit_test(gru_matches_pytorch),
        cmocka_unit_test(transformer_block_matches_pytorch),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("pytorch", golden_tests, fixture_setup,
                                                golden_teardown);
}
