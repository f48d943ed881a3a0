/* The sequence text encoder model (model/seq_encoder.h): its gradient against finite
 * differences for the GRU and the Transformer, a padded batch against each text alone,
 * and token ids (known words their row, other words a bucket).
 *
 * B = sequences, T = steps, K = labels. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/seq_encoder.h"

enum { B = 3, T = 5, K = 4, V = 7 };

static const int32_t TOKENS[B * T] = {1, 2, 3, 4, 5, 6, 0, 2, 0, 0, 3, 3, 1, 6, 0};
static const int LENS[B] = {5, 3, 4};

/* A small encoder of the given kind: 3 known words, 4 buckets, random weights. */
static void make_encoder(seq_encoder *e, seq_kind kind)
{
    memset(e, 0, sizeof *e);
    *e = (seq_encoder){.kind = kind, .D = 4, .layers = 2, .heads = 2, .F = 8, .T = T, .K = K,
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
    seq_encoder_init_weights(e, 7);
    for (size_t i = 0; i < e->nparams; i++) /* layer norms and biases away from 1 and 0 too */
        e->params[i] += 0.05f * (float)((i * 7919) % 13) / 13.0f;
}

/* sum over the batch of logits . R, R fixed. */
static double loss_of(const seq_encoder *e, seq_work *w, const float *R)
{
    seq_forward(e, w, TOKENS, LENS, B, T);
    double s = 0;
    for (int i = 0; i < B * K; i++)
        s += (double)w->logits[i] * R[i];
    return s;
}

static void check_gradient(seq_kind kind)
{
    seq_encoder e;
    make_encoder(&e, kind);
    seq_work w;
    assert_int_equal(seq_work_init(&w, &e, B, 1), 0);
    float R[B * K];
    for (int i = 0; i < B * K; i++)
        R[i] = (float)((i * 37) % 11) / 11.0f - 0.4f;
    float *g = calloc(e.nparams, sizeof *g);
    assert_non_null(g);
    loss_of(&e, &w, R);
    seq_backward(&e, &w, g, R, TOKENS, LENS, B, T);
    /* central differences at h and h/2: where they disagree, a max-pooling choice flipped
     * in between (a kink, frequent at this tiny width) and the parameter is skipped */
    const float h = 4e-3f;
    int checked = 0;
    for (size_t i = 0; i < e.nparams; i += 1 + e.nparams / 197) {
        double fd[2];
        for (int s = 0; s < 2; s++) {
            const float keep = e.params[i], step = s ? h / 2 : h;
            e.params[i] = keep + step;
            double up = loss_of(&e, &w, R);
            e.params[i] = keep - step;
            double down = loss_of(&e, &w, R);
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
    check_gradient(SEQ_GRU);
}

static void transformer_encoder_gradient_matches_finite_differences(void **state)
{
    (void)state;
    check_gradient(SEQ_TRANSFORMER);
}

/* Padding takes no part: each text's logits in the batch are its logits alone. */
static void padded_batch_matches_each_text_alone(void **state)
{
    (void)state;
    for (int kind = SEQ_GRU; kind <= SEQ_TRANSFORMER; kind++) {
        seq_encoder e;
        make_encoder(&e, (seq_kind)kind);
        seq_work all, one;
        assert_int_equal(seq_work_init(&all, &e, B, 0), 0);
        assert_int_equal(seq_work_init(&one, &e, 1, 0), 0);
        seq_forward(&e, &all, TOKENS, LENS, B, T);
        for (int b = 0; b < B; b++) {
            seq_forward(&e, &one, TOKENS + b * T, &LENS[b], 1, LENS[b]);
            for (int k = 0; k < K; k++)
                assert_float_equal(one.logits[k], all.logits[b * K + k], 1e-5f);
        }
        seq_work_free(&all);
        seq_work_free(&one);
        seq_encoder_free(&e);
    }
}

static void known_words_have_rows_and_others_share_buckets(void **state)
{
    (void)state;
    seq_encoder e;
    make_encoder(&e, SEQ_GRU);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gru_encoder_gradient_matches_finite_differences),
        cmocka_unit_test(transformer_encoder_gradient_matches_finite_differences),
        cmocka_unit_test(padded_batch_matches_each_text_alone),
        cmocka_unit_test(known_words_have_rows_and_others_share_buckets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
