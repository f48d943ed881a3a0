/* The sequence text encoder model (model/seq_encoder.h): its gradient against finite
 * differences for the GRU and the Transformer, a padded batch and prediction's batches
 * against each text alone,
 * token ids (known words their row, other words a bucket), and both whole encoders, forward
 * and backward, against PyTorch on fixed weights (tests/fixtures/make_seq_encoder_golden.py
 * wrote the fixture with Debian's python3-torch).
 *
 * B = sequences, T = steps, K = labels. */
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
#include "model/label_head.h"
#include "model/seq_encoder.h"
#include "nn/dense.h"

#include "golden.h"

enum { B = 3, T = 5, K = 4, V = 7 };

static const int32_t TOKENS[B * T] = {1, 2, 3, 4, 5, 6, 0, 2, 0, 0, 3, 3, 1, 6, 0};
static const int LENS[B] = {5, 3, 4};

/* The label head above an encoder (K outputs), kept after the encoder's parameters in one
 * block, as the encoder kept it before the head moved out: one index runs over every
 * parameter. Returns the block's size. */
static size_t attach_head(seq_encoder *e, label_head *h, int k)
{
    const size_t in = (size_t)seq_width(e), total = e->nparams + in * (size_t)k + (size_t)k;
    float *p = realloc(e->params, total * sizeof *p);
    assert_non_null(p);
    memset(p + e->nparams, 0, (total - e->nparams) * sizeof *p);
    e->params = p;
    *h = (label_head){.in = in, .out = k, .by_output = 1, .params = p + e->nparams,
                      .nparams = total - e->nparams};
    h->w = h->params;
    h->b = h->w + in * (size_t)k;
    return total;
}

/* The logits [b][K] of a batch: the encoder's features through the head. */
static void forward_logits(const seq_encoder *e, const label_head *h, seq_work *w,
                           const int32_t *tok, const int *lens, int b, int t, float *logits)
{
    seq_forward(e, w, tok, lens, b, t);
    encoder_features f = {(size_t)b, h->in, w->pooled, NULL, NULL, NULL, 0, NULL};
    label_head_forward(h, &f, logits);
}

/* Given dlogits, grads (the block of attach_head) += every parameter's gradient. */
static void backward_logits(const seq_encoder *e, const label_head *h, seq_work *w,
                            float *grads, const float *dlogits, const int32_t *tok,
                            const int *lens, int b, int t)
{
    float *gh = grads + e->nparams;
    dense_backward(w->dpooled, 0, gh, gh + h->in * (size_t)h->out, dlogits, w->pooled, h->w, b,
                   (int)h->in, h->out);
    seq_backward(e, w, grads, tok, lens, b, t);
}

/* The logits of n texts, a window at a time, as a model predicts them. */
static int texts_logits(const seq_encoder *e, const label_head *h, seq_scratch *s,
                        const char *const *texts, size_t n, float *logits)
{
    const size_t k = (size_t)h->out;
    float *feats = malloc((size_t)s->window * h->in * sizeof *feats);
    float *z = malloc((size_t)s->window * k * sizeof *z);
    assert_true(feats && z);
    for (size_t i0 = 0; i0 < n; i0 += (size_t)s->window) {
        const size_t c = n - i0 < (size_t)s->window ? n - i0 : (size_t)s->window;
        if (seq_window_features(e, s, texts + i0, c, feats))
            return -1;
        encoder_features f = {c, h->in, feats, NULL, NULL, s->order, (size_t)s->B, NULL};
        label_head_forward(h, &f, z);
        for (size_t j = 0; j < c; j++)
            memcpy(logits + (i0 + (size_t)s->order[j]) * k, z + j * k, k * sizeof *z);
    }
    free(feats);
    free(z);
    return 0;
}

/* A small encoder of the given kind and its head: 3 known words, 4 buckets, random weights.
 * Returns the parameters of both. */

/* The encoder's random start, then its head's, from one seeded stream (as training draws
 * them). */
static void init_weights(seq_encoder *e, label_head *h, int K, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    seq_encoder_init_weights(e, &r);
    seq_encoder_init_head(e, h->w, h->in * (size_t)K, &r);
}
static size_t make_encoder(seq_encoder *e, label_head *h, seq_kind kind)
{
    memset(e, 0, sizeof *e);
    *e = (seq_encoder){.kind = kind, .D = 4, .layers = 2, .heads = 2, .F = 8, .T = T,
                       .nwords = 3, .nbuckets = V - 3};
    e->words = malloc(3 * sizeof *e->words);
    assert_non_null(e->words);
    e->words[0] = seq_token_hash("a", 1);
    e->words[1] = seq_token_hash("b", 1);
    e->words[2] = seq_token_hash("c", 1);
    for (int i = 0; i < 3; i++) /* ascending, as training stores them */
        for (int j = i + 1; j < 3; j++)
            if (e->words[j] < e->words[i]) {
                uint64_t t = e->words[i];
                e->words[i] = e->words[j];
                e->words[j] = t;
            }
    assert_int_equal(seq_encoder_alloc(e), 0);
    const size_t total = attach_head(e, h, K);
    init_weights(e, h, K, 7);
    for (size_t i = 0; i < total; i++) /* layer norms and biases away from 1 and 0 too */
        e->params[i] += 0.05f * (float)((i * 7919) % 13) / 13.0f;
    return total;
}

/* sum over the batch of logits . R, R fixed; the same dropout masks every call. */
static double loss_of(const seq_encoder *e, const label_head *h, seq_work *w, const float *R)
{
    rng_seed(&w->drop_rng, 11);
    float logits[B * K];
    forward_logits(e, h, w, TOKENS, LENS, B, T, logits);
    double s = 0;
    for (int i = 0; i < B * K; i++)
        s += (double)logits[i] * R[i];
    return s;
}

static void check_gradient(seq_kind kind, float dropout)
{
    seq_encoder e;
    label_head head;
    const size_t total = make_encoder(&e, &head, kind);
    seq_work w;
    assert_int_equal(seq_work_init(&w, &e, B, 1), 0);
    w.dropout = dropout;
    float R[B * K];
    for (int i = 0; i < B * K; i++)
        R[i] = (float)((i * 37) % 11) / 11.0f - 0.4f;
    float *g = calloc(total, sizeof *g);
    assert_non_null(g);
    loss_of(&e, &head, &w, R);
    backward_logits(&e, &head, &w, g, R, TOKENS, LENS, B, T);
    /* central differences at h and h/2: where they disagree, a max-pooling choice flipped
     * in between (a kink, frequent at this tiny width) and the parameter is skipped */
    const float h = 4e-3f;
    int checked = 0;
    for (size_t i = 0; i < total; i += 1 + total / 197) {
        double fd[2];
        for (int s = 0; s < 2; s++) {
            const float keep = e.params[i], step = s ? h / 2 : h;
            e.params[i] = keep + step;
            double up = loss_of(&e, &head, &w, R);
            e.params[i] = keep - step;
            double down = loss_of(&e, &head, &w, R);
            e.params[i] = keep;
            fd[s] = (up - down) / (2 * (double)step);
        }
        if (fabs(fd[0] - fd[1]) > 1e-2 * (1 + fabs(fd[1])))
            continue;
        checked++;
        if (fabs(fd[1] - g[i]) > 2e-2 * (1 + fabs(fd[1])))
            fail_msg("%s parameter %zu: finite difference %g, backward %g",
                     seq_kind_name(kind), i, fd[1], (double)g[i]);
    }
    assert_true(checked > 50);
    free(g);
    seq_work_free(&w);
    seq_encoder_free(&e);
}

static void gru_encoder_gradient_matches_finite_differences(void **state)
{
    (void)state;
    check_gradient(SEQ_GRU, 0);
}

static void transformer_encoder_gradient_matches_finite_differences(void **state)
{
    (void)state;
    check_gradient(SEQ_TRANSFORMER, 0);
}

/* With dropout on the token vectors, the pooled features and (Transformer) the blocks'
 * attention and feed-forward outputs, masks held fixed. */
static void encoders_with_dropout_match_finite_differences(void **state)
{
    (void)state;
    check_gradient(SEQ_GRU, 0.3f);
    check_gradient(SEQ_TRANSFORMER, 0.3f);
}

/* Padding takes no part: each text's logits in the batch are its logits alone. */
static void padded_batch_matches_each_text_alone(void **state)
{
    (void)state;
    for (int kind = SEQ_GRU; kind <= SEQ_TRANSFORMER; kind++) {
        seq_encoder e;
        label_head h;
        make_encoder(&e, &h, (seq_kind)kind);
        seq_work all, one;
        assert_int_equal(seq_work_init(&all, &e, B, 0), 0);
        assert_int_equal(seq_work_init(&one, &e, 1, 0), 0);
        float all_logits[B * K], one_logits[K];
        forward_logits(&e, &h, &all, TOKENS, LENS, B, T, all_logits);
        for (int b = 0; b < B; b++) {
            forward_logits(&e, &h, &one, TOKENS + b * T, &LENS[b], 1, LENS[b], one_logits);
            for (int k = 0; k < K; k++)
                assert_float_equal(one_logits[k], all_logits[b * K + k], 1e-5f);
        }
        seq_work_free(&all);
        seq_work_free(&one);
        seq_encoder_free(&e);
    }
}

/* Prediction runs texts in batches of similar length, windows of them at a time: each
 * text's logits are those of the text alone, for texts empty, short and cut at T, with and
 * without subwords, over more texts than a window. */
static void predicted_batches_match_each_text_alone(void **state)
{
    (void)state;
    static const char *const WORDS[] = {"a", "b", "c", "zebra", "鞋子", "sneakers", "x"};
    enum { N = 300, NW = sizeof WORDS / sizeof *WORDS };
    char *texts[N];
    rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < N; i++) {
        char buf[256] = "";
        for (int n = (int)(rng_next(&r) % 9), j = 0; j < n; j++) { /* 0 to 8 words */
            strcat(buf, WORDS[rng_next(&r) % NW]);
            strcat(buf, " ");
        }
        texts[i] = strdup(buf);
        assert_non_null(texts[i]);
    }
    for (int sub = 0; sub < 2; sub++)
        for (int kind = SEQ_GRU; kind <= SEQ_TRANSFORMER; kind++) {
            seq_encoder e;
            label_head h;
            make_encoder(&e, &h, (seq_kind)kind);
            if (sub) {
                e.nsub = 1 << 8;
                assert_int_equal(seq_encoder_alloc(&e), 0);
                attach_head(&e, &h, K);
                init_weights(&e, &h, K, 9);
            }
            seq_scratch *many = seq_scratch_new(&e), *one = seq_scratch_new(&e);
            assert_non_null(many);
            assert_non_null(one);
            assert_true(many->window < N);
            float alone[K];
            float *all = malloc(sizeof(float) * N * K);
            assert_non_null(all);
            assert_int_equal(texts_logits(&e, &h, many, (const char *const *)texts, N, all), 0);
            for (int i = 0; i < N; i++) {
                const char *const text = texts[i];
                assert_int_equal(texts_logits(&e, &h, one, &text, 1, alone), 0);
                for (int k = 0; k < K; k++)
                    assert_float_equal(alone[k], all[i * K + k], 1e-5f);
            }
            free(all);
            seq_scratch_free(many);
            seq_scratch_free(one);
            seq_encoder_free(&e);
        }
    for (int i = 0; i < N; i++)
        free(texts[i]);
}

static void known_words_have_rows_and_others_share_buckets(void **state)
{
    (void)state;
    seq_encoder e;
    label_head h;
    make_encoder(&e, &h, SEQ_GRU);
    int32_t a = seq_row_of_hash(&e, seq_token_hash("a", 1));
    int32_t z = seq_row_of_hash(&e, seq_token_hash("zebra", 5));
    assert_true(a >= 0 && a < 3);
    assert_int_equal(e.words[a], seq_token_hash("a", 1));
    assert_true(z >= 3 && z < V);
    tok_scratch ts = {0};
    int32_t ids[T];
    assert_int_equal(seq_text_ids(&e, &ts, "A b, zebra c d e f g", ids), T); /* truncated */
    assert_int_equal(ids[0], a);                                             /* case folded */
    assert_int_equal(ids[2], z);
    tok_scratch_free(&ts);
    seq_encoder_free(&e);
}

/* With subwords, each step carries its bigram and character 3-grams: a word never seen
 * shares 3-grams with a known one, a Chinese character has its bigram and no 3-grams, and
 * the last token has no bigram. */
static void subwords_give_bigrams_and_character_trigrams(void **state)
{
    (void)state;
    seq_encoder e;
    label_head h;
    make_encoder(&e, &h, SEQ_GRU);
    e.nsub = 1 << 12;
    assert_int_equal(seq_encoder_alloc(&e), 0);
    const int S = seq_slots(&e), base = 3 + V - 3;
    assert_int_equal(S, SEQ_SLOTS);
    tok_scratch ts = {0};
    int32_t ids[T * SEQ_SLOTS], again[T * SEQ_SLOTS];
    assert_int_equal(seq_text_ids(&e, &ts, "sneakers sneaker 鞋子", ids), 4);
    for (int t = 0; t < 4; t++)
        for (int s = 1; s < S; s++)
            assert_true(ids[t * S + s] == -1 ||
                        (ids[t * S + s] >= base && ids[t * S + s] < base + (1 << 12)));
    /* "<sneakers>" and "<sneaker>": 8 and 7 3-grams, 4 of each kept, first ones alike */
    for (int s = 2; s < S; s++) {
        assert_true(ids[0 * S + s] >= 0);
        assert_true(ids[1 * S + s] >= 0);
    }
    assert_int_equal(ids[0 * S + 2], ids[1 * S + 2]); /* "<sn" */
    assert_true(ids[0 * S + 1] >= 0 && ids[0 * S + 1] != ids[1 * S + 1]); /* two bigrams */
    for (int s = 2; s < S; s++) /* 鞋 and 子: no 3-grams */
        assert_int_equal(ids[2 * S + s], -1), assert_int_equal(ids[3 * S + s], -1);
    assert_true(ids[2 * S + 1] >= 0);  /* 鞋子 */
    assert_int_equal(ids[3 * S + 1], -1); /* the last token */
    /* the same text, the same ids; and a text cut at T keeps the bigram into the cut */
    assert_int_equal(seq_text_ids(&e, &ts, "sneakers sneaker 鞋子", again), 4);
    assert_memory_equal(ids, again, sizeof(int32_t) * 4 * (size_t)S);
    assert_int_equal(seq_text_ids(&e, &ts, "a b c d e f", ids), T);
    assert_true(ids[(T - 1) * S + 1] >= 0);
    tok_scratch_free(&ts);
    seq_encoder_free(&e);
}

/* ---- PyTorch's results -------------------------------------------------------------- */

static const char *FIXTURE = "tests/fixtures/seq_encoder_golden.txt";

static int fixture_setup(void **state) { return golden_setup(state, FIXTURE); }

enum { MAX_TENSORS = 64, MAX_SEQS = 8, MAX_IDS = 256 };

/* A tensor of the parameter block: its name in the fixture (after PREFIX_param_ and
 * PREFIX_grad_), where it starts in the block and its size. */
typedef struct golden_tensor {
    const char *name;
    size_t at, n;
} golden_tensor;

/* A fixture's encoder: the model, its batch and its tensors in the order of its block. */
typedef struct golden_encoder {
    seq_encoder e;
    label_head h;
    size_t total; /* the encoder's parameters and its head's, one block */
    int B, T, lens[MAX_SEQS];
    int32_t tokens[MAX_IDS];
    int ntensors;
    golden_tensor t[MAX_TENSORS];
} golden_encoder;

static const golden_array *array_of(const golden *g, const char *prefix, const char *what)
{
    char name[64];
    snprintf(name, sizeof name, "%s_%s", prefix, what);
    return golden_find(g, name);
}

/* Where seq_layout_of puts the script's tensor `name`, for those it names: the embedding,
 * the positions, the encoder's first tensor (the GRU's weight_ih_l0, block b's ln1_g) and
 * the head's; SIZE_MAX for the tensors in between, which just follow. */
static size_t layout_start(const seq_encoder *e, int k, const char *name)
{
    const seq_layout l = seq_layout_of(e);
    if (!strcmp(name, "emb"))
        return l.emb;
    if (!strcmp(name, "pos"))
        return l.pos;
    if (!strcmp(name, "weight_ih_l0"))
        return l.enc;
    if (!strcmp(name, "head_w"))
        return l.total;
    if (!strcmp(name, "head_b"))
        return l.total + (size_t)seq_width(e) * (size_t)k;
    for (int b = 0; b < e->layers; b++) {
        char first[32];
        snprintf(first, sizeof first, "block%d_ln1_g", b);
        if (!strcmp(name, first))
            return l.enc + (size_t)b * l.block;
    }
    return SIZE_MAX;
}

/* Copies the arrays PREFIX_param_*, in the fixture's order, one after another into the
 * parameter block, which they must fill, each where seq_layout_of says. */
static void load_params(golden_encoder *ge, const golden *g, const char *prefix)
{
    char lead[64];
    const size_t nlead = (size_t)snprintf(lead, sizeof lead, "%s_param_", prefix);
    size_t at = 0;
    for (int i = 0; i < g->count; i++) {
        const golden_array *a = &g->a[i];
        if (strncmp(a->name, lead, nlead))
            continue;
        assert_true(ge->ntensors < MAX_TENSORS && at + a->n <= ge->total);
        const size_t want = layout_start(&ge->e, ge->h.out, a->name + nlead);
        if (want != SIZE_MAX && want != at)
            fail_msg("%s at %zu of the block, seq_layout_of says %zu", a->name, at, want);
        ge->t[ge->ntensors++] = (golden_tensor){a->name + nlead, at, a->n};
        for (size_t j = 0; j < a->n; j++)
            ge->e.params[at++] = (float)a->v[j];
    }
    assert_int_equal(at, ge->total);
}

/* The fixture's encoder PREFIX: its sizes, its batch of [B][T][S] ids, its parameters. */
static void golden_encoder_load(golden_encoder *ge, const golden *g, const char *prefix,
                                seq_kind kind)
{
    memset(ge, 0, sizeof *ge);
    const golden_array *s = array_of(g, prefix, "sizes");
    assert_int_equal(s->n, 10);
    ge->e = (seq_encoder){.kind = kind, .D = (int)s->v[0], .layers = (int)s->v[1],
                          .heads = (int)s->v[2], .F = (int)s->v[3], .T = (int)s->v[4],
                          .nwords = (uint32_t)s->v[6],
                          .nbuckets = (uint32_t)s->v[7], .nsub = (uint32_t)s->v[8]};
    assert_int_equal(seq_encoder_alloc(&ge->e), 0);
    ge->total = attach_head(&ge->e, &ge->h, (int)s->v[5]);
    const int S = seq_slots(&ge->e);
    if (S != (int)s->v[9])
        fail_msg("%s: %s has %d ids per step, shelf %d: rerun make_seq_encoder_golden.py",
                 prefix, g->path, (int)s->v[9], S);
    const golden_array *tokens = array_of(g, prefix, "tokens");
    const golden_array *lens = array_of(g, prefix, "lens");
    assert_true(lens->n > 0 && lens->n <= MAX_SEQS && tokens->n <= MAX_IDS);
    assert_true(tokens->n % (lens->n * S) == 0);
    ge->B = (int)lens->n;
    ge->T = (int)(tokens->n / (lens->n * S));
    assert_true(ge->T <= ge->e.T);
    for (size_t i = 0; i < tokens->n; i++)
        ge->tokens[i] = (int32_t)tokens->v[i];
    for (int b = 0; b < ge->B; b++)
        ge->lens[b] = (int)lens->v[b];
    load_params(ge, g, prefix);
}

/* Each tensor of grads against the fixture's PREFIX_grad_NAME. Returns the largest error
 * (golden_expect's) and names its array in worst_at. */
static double expect_gradients(const golden *g, const golden_encoder *ge, const char *prefix,
                               const float *grads, double worst, char *worst_at, size_t n)
{
    for (int i = 0; i < ge->ntensors; i++) {
        const golden_tensor *t = &ge->t[i];
        char name[96];
        snprintf(name, sizeof name, "%s_grad_%s", prefix, t->name);
        const double err = golden_expect(g, name, grads + t->at, t->n);
        if (err > worst) {
            worst = err;
            snprintf(worst_at, n, "%s", name);
        }
        /* embedding rows only in padding, positions past the batch's steps: no gradient at
         * all, in PyTorch and here (elsewhere a gradient that is 0 in exact arithmetic, as
         * the key bias's, is rounding in both) */
        if (strcmp(t->name, "emb") && strcmp(t->name, "pos"))
            continue;
        const double *want = golden_find(g, name)->v;
        for (size_t j = 0; j < t->n; j++)
            if (want[j] == 0 && grads[t->at + j] != 0)
                fail_msg("%s[%zu]: got %.8g, want 0", name, j, grads[t->at + j]);
    }
    return worst;
}

/* The logits of the fixture's batch, from prediction's work and from training's (dropout
 * off: the same function, to the bit); from the fixture's dlogits, the gradient of every
 * tensor. Prints the largest error. */
static void check_against_pytorch(const golden *g, const char *prefix, seq_kind kind)
{
    golden_encoder ge;
    golden_encoder_load(&ge, g, prefix, kind);
    const seq_encoder *e = &ge.e;
    const size_t BK = (size_t)ge.B * (size_t)ge.h.out;
    seq_work w, predict;
    assert_int_equal(seq_work_init(&w, e, ge.B, 1), 0);
    assert_int_equal(seq_work_init(&predict, e, ge.B, 0), 0);
    float *logits = calloc(BK, sizeof *logits), *predicted = calloc(BK, sizeof *predicted);
    assert_true(logits && predicted);
    forward_logits(e, &ge.h, &predict, ge.tokens, ge.lens, ge.B, ge.T, predicted);
    char worst_at[96];
    snprintf(worst_at, sizeof worst_at, "%s_logits", prefix);
    double worst = golden_expect(g, worst_at, predicted, BK);
    forward_logits(e, &ge.h, &w, ge.tokens, ge.lens, ge.B, ge.T, logits);
    assert_memory_equal(logits, predicted, BK * sizeof *logits);

    const golden_array *dl = array_of(g, prefix, "dlogits");
    assert_int_equal(dl->n, BK);
    float *dlogits = calloc(BK, sizeof *dlogits), *grads = calloc(ge.total, sizeof *grads);
    assert_true(dlogits && grads);
    for (size_t i = 0; i < BK; i++)
        dlogits[i] = (float)dl->v[i];
    backward_logits(e, &ge.h, &w, grads, dlogits, ge.tokens, ge.lens, ge.B, ge.T);
    worst = expect_gradients(g, &ge, prefix, grads, worst, worst_at, sizeof worst_at);
    print_message("%s encoder against PyTorch: largest relative error %.2g (%s)\n", prefix,
                  worst, worst_at);
    free(dlogits);
    free(grads);
    free(logits);
    free(predicted);
    seq_work_free(&w);
    seq_work_free(&predict);
    seq_encoder_free(&ge.e);
}

static void gru_encoder_matches_pytorch(void **state)
{
    check_against_pytorch(*state, "gru", SEQ_GRU);
}

static void transformer_encoder_matches_pytorch(void **state)
{
    check_against_pytorch(*state, "tf", SEQ_TRANSFORMER);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gru_encoder_gradient_matches_finite_differences),
        cmocka_unit_test(transformer_encoder_gradient_matches_finite_differences),
        cmocka_unit_test(encoders_with_dropout_match_finite_differences),
        cmocka_unit_test(padded_batch_matches_each_text_alone),
        cmocka_unit_test(predicted_batches_match_each_text_alone),
        cmocka_unit_test(known_words_have_rows_and_others_share_buckets),
        cmocka_unit_test(subwords_give_bigrams_and_character_trigrams),
    };
    const struct CMUnitTest golden_tests[] = {
        cmocka_unit_test(gru_encoder_matches_pytorch),
        cmocka_unit_test(transformer_encoder_matches_pytorch),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    return failed + cmocka_run_group_tests_name("pytorch", golden_tests, fixture_setup,
                                                golden_teardown);
}
