/* The fusion head of text+image models: its scores, the gradients of its losses against
 * finite differences, and what fitting learns: to believe the photo in the branch where the
 * photo is right and the title is not, and the title elsewhere (branch); per product, the
 * side that is sure (gate); and, when choosing, never less than the better side alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "model/fusion_head.h"
#include "core/threadpool.h"
#include "train/fusion_choice.h"
#include "train/fusion_fit.h"

enum { K = 6, G = 2, N = 600 };
/* labels 0-2 in branch 0, 3-5 in branch 1 */
static const int32_t branch[K] = {0, 0, 0, 1, 1, 1};

static void log_softmax(float *v, int n)
{
    float top = v[0];
    for (int i = 1; i < n; i++)
        top = v[i] > top ? v[i] : top;
    double s = 0;
    for (int i = 0; i < n; i++)
        s += exp(v[i] - top);
    for (int i = 0; i < n; i++)
        v[i] -= top + (float)log(s);
}

/* Products whose true label the text favours strongly in branch 0 but only guesses within
 * branch 1 (it knows the branch, not the leaf), where the image favours the true label. */
static void make_evidence(float *text, float *image, int *y)
{
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < N; i++) {
        int c = (int)(rng_next(&r) % K), b = branch[c];
        y[i] = c;
        float *t = text + i * K, *im = image + i * K;
        for (int k = 0; k < K; k++) {
            int same = branch[k] == b;
            t[k] = same ? 2 * rng_float(&r) : -4; /* right branch, any leaf */
            im[k] = 1.5f * rng_float(&r);
        }
        if (b == 0)
            t[c] += 3; /* the title names the leaf */
        else
            im[c] += 2; /* the photo shows it */
        if (rng_float(&r) < 0.25f) /* and the photo is often wrong anyway */
            im[(c + 1) % K] += 3;
        log_softmax(t, K);
        log_softmax(im, K);
    }
}

static int argmax(const float *z)
{
    int b = 0;
    for (int k = 1; k < K; k++)
        b = z[k] > z[b] ? k : b;
    return b;
}

static void new_head_adds_the_log_probabilities(void **state)
{
    (void)state;
    fusion_head h;
    assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
    float t[K] = {-1, -2, -3, -4, -5, -6}, im[K] = {-6, -1, -1, -2, -9, 0}, z[K];
    fusion_head_apply(&h, t, im, z, NULL);
    for (int k = 0; k < K; k++)
        assert_float_equal(z[k], t[k] + im[k], 0);
    fusion_head_apply(&h, t, im, im, NULL); /* in place */
    assert_memory_equal(im, z, sizeof z);
    fusion_head_free(&h);
}

static void loss_gradient_matches_finite_differences(void **state)
{
    (void)state;
    float *text = malloc(N * K * sizeof *text), *image = malloc(N * K * sizeof *image);
    int *y = malloc(N * sizeof *y);
    make_evidence(text, image, y);
    y[3] = -1; /* a row left out */
    fusion_head h;
    assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
    h.w_text[0] = 0.7f;
    h.w_text[1] = 1.3f;
    h.w_image[0] = 0.4f;
    h.w_image[1] = 0.9f;
    fusion_fit_options o;
    fusion_fit_options_default(&o);
    o.l2_branch = 0.3f;
    float grad[2 * G], z[K];
    fusion_head_loss(&h, text, image, y, N, &o, grad, z);
    float *param[2 * G];
    for (int g = 0; g < G; g++) {
        param[g] = &h.w_text[g];
        param[G + g] = &h.w_image[g];
    }
    for (int j = 0; j < 2 * G; j++) {
        float keep = *param[j], eps = 1e-3f;
        *param[j] = keep + eps;
        double up = fusion_head_loss(&h, text, image, y, N, &o, NULL, z);
        *param[j] = keep - eps;
        double down = fusion_head_loss(&h, text, image, y, N, &o, NULL, z);
        *param[j] = keep;
        double numeric = (up - down) / (2 * eps);
        assert_true(fabs(numeric - grad[j]) < 2e-3 * fmax(1, fabs(numeric)));
    }
    fusion_head_free(&h);
    free(text);
    free(image);
    free(y);
}

static void fitting_learns_which_modality_to_believe_per_branch(void **state)
{
    (void)state;
    float *text = malloc(N * K * sizeof *text), *image = malloc(N * K * sizeof *image);
    int *y = malloc(N * sizeof *y);
    make_evidence(text, image, y);
    fusion_head h;
    assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
    int plain = 0, fused = 0;
    float z[K];
    for (int i = 0; i < N; i++) {
        fusion_head_apply(&h, text + i * K, image + i * K, z, NULL);
        plain += argmax(z) == y[i];
    }
    fusion_fit_options o;
    fusion_fit_options_default(&o);
    double loss = fusion_head_fit(&h, text, image, y, N, &o);
    assert_true(loss >= 0);
    for (int i = 0; i < N; i++) {
        fusion_head_apply(&h, text + i * K, image + i * K, z, NULL);
        fused += argmax(z) == y[i];
    }
    /* the photo counts for more, relative to the title, in branch 1 than in branch 0 */
    assert_true(h.w_image[1] / h.w_text[1] > 2 * h.w_image[0] / h.w_text[0]);
    assert_true(fused > plain);
    /* the same head every run */
    fusion_head again;
    assert_int_equal(fusion_head_init(&again, K, G, branch), 0);
    fusion_head_fit(&again, text, image, y, N, &o);
    assert_memory_equal(again.w_image, h.w_image, G * sizeof(float));
    assert_memory_equal(again.w_text, h.w_text, G * sizeof(float));
    fusion_head_free(&again);
    fusion_head_free(&h);
    free(text);
    free(image);
    free(y);
}

/* Log-probabilities that favour label c by `by` (0: say nothing), with a little noise. */
static void side(float *lp, int c, float by, rng *r)
{
    for (int k = 0; k < K; k++)
        lp[k] = 0.3f * rng_float(r);
    lp[c] += by;
    log_softmax(lp, K);
}

/* Products of three sorts: a strong title and a misleading photo (i % 3 == 0), a title
 * that misleads, less surely, beside a telling photo (1), and both right (2). No weights
 * shared by all products separate the first two sorts (the text's 4 must beat the image's
 * 3, the text's 3 lose to the image's 2); how sure the text is does. */
static void make_mixed(float *text, float *image, int *y, int n)
{
    rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < n; i++) {
        int c = (int)(rng_next(&r) % K), wrong = (c + 1 + (int)(rng_next(&r) % (K - 1))) % K;
        y[i] = c;
        switch (i % 3) {
        case 0:
            side(text + i * K, c, 4, &r);
            side(image + i * K, wrong, 3, &r);
            break;
        case 1:
            side(text + i * K, wrong, 3, &r);
            side(image + i * K, c, 2, &r);
            break;
        default:
            side(text + i * K, c, 3, &r);
            side(image + i * K, c, 3, &r);
        }
    }
}

static void gate_loss_gradient_matches_finite_differences(void **state)
{
    (void)state;
    float *text = malloc(N * K * sizeof *text), *image = malloc(N * K * sizeof *image);
    float *sig = malloc(N * FUSION_SIGNALS * sizeof *sig);
    int *y = malloc(N * sizeof *y);
    make_mixed(text, image, y, N);
    y[5] = -1;
    fusion_head h;
    assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
    h.kind = FUSION_GATE;
    rng r;
    rng_seed(&r, 3);
    for (int j = 0; j < FUSION_SIGNALS; j++) {
        h.mean[j] = 0.2f * rng_float(&r);
        h.scale[j] = 0.5f + rng_float(&r);
    }
    for (int s = 0; s < 2; s++)
        for (int j = 0; j <= FUSION_SIGNALS; j++)
            h.gate[s][j] = rng_float(&r) - 0.5f;
    for (int c = 0; c < K; c++)
        h.bias[c] = rng_float(&r) - 0.5f;
    for (int i = 0; i < N; i++)
        fusion_signals(text + i * K, image + i * K, K, sig + i * FUSION_SIGNALS);
    fusion_fit_options o;
    fusion_fit_options_default(&o);
    o.l2_gate = 0.05f;
    o.l2_bias = 0.02f;
    enum { P = 2 * (FUSION_SIGNALS + 1) + K };
    float grad[P], z[K], *param[P];
    fusion_gate_loss(&h, text, image, sig, y, N, &o, grad, z);
    for (int j = 0; j < 2 * (FUSION_SIGNALS + 1); j++)
        param[j] = &h.gate[j / (FUSION_SIGNALS + 1)][j % (FUSION_SIGNALS + 1)];
    for (int c = 0; c < K; c++)
        param[2 * (FUSION_SIGNALS + 1) + c] = &h.bias[c];
    for (int j = 0; j < P; j++) {
        float keep = *param[j], eps = 1e-3f;
        *param[j] = keep + eps;
        double up = fusion_gate_loss(&h, text, image, sig, y, N, &o, NULL, z);
        *param[j] = keep - eps;
        double down = fusion_gate_loss(&h, text, image, sig, y, N, &o, NULL, z);
        *param[j] = keep;
        double numeric = (up - down) / (2 * eps);
        assert_true(fabs(numeric - grad[j]) < 2e-3 * fmax(1, fabs(numeric)));
    }
    fusion_head_free(&h);
    free(text);
    free(image);
    free(sig);
    free(y);
}

/* The gate learns per product: a strong title with a misleading photo goes by the title, a
 * misleading title with a telling photo by the photo, and the choice keeps the gate, which
 * is right where neither side alone, nor any weights for all products, is. */
static void gate_believes_the_side_that_is_sure(void **state)
{
    (void)state;
    float *text = malloc(N * K * sizeof *text), *image = malloc(N * K * sizeof *image);
    int *y = malloc(N * sizeof *y);
    make_mixed(text, image, y, N);
    fusion_head h;
    assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
    fusion_fit_options o;
    fusion_fit_options_default(&o);
    thread_pool *pool = pool_new(2);
    assert_non_null(pool);
    assert_int_equal(fusion_head_choose(&h, text, image, y, N, &o, pool), 0);
    assert_int_equal(h.kind, FUSION_GATE);
    assert_int_equal(h.folds, FUSION_FOLDS);
    assert_true(h.tried[FUSION_GATE].accuracy > 0.95f);
    assert_true(h.tried[FUSION_BRANCH].accuracy < 0.8f);
    assert_true(h.tried[FUSION_TEXT].accuracy < 0.7f);
    assert_true(h.tried[FUSION_IMAGE].accuracy < 0.7f);
    rng r;
    rng_seed(&r, 99);
    float t[K], im[K], z[K], w[2];
    /* a strong title, a misleading photo */
    side(t, 2, 4, &r);
    side(im, 4, 3, &r);
    fusion_head_apply(&h, t, im, z, w);
    assert_int_equal(argmax(z), 2);
    assert_true(w[0] > w[1]);
    /* the reverse */
    side(t, 1, 3, &r);
    side(im, 5, 2, &r);
    fusion_head_apply(&h, t, im, z, w);
    assert_int_equal(argmax(z), 5);
    assert_true(w[1] > w[0]);
    /* the same head with one thread */
    fusion_head again;
    assert_int_equal(fusion_head_init(&again, K, G, branch), 0);
    thread_pool *one = pool_new(1);
    assert_int_equal(fusion_head_choose(&again, text, image, y, N, &o, one), 0);
    assert_memory_equal(again.gate, h.gate, sizeof h.gate);
    assert_memory_equal(again.bias, h.bias, K * sizeof *h.bias);
    pool_free(one);
    fusion_head_free(&again);
    pool_free(pool);
    fusion_head_free(&h);
    free(text);
    free(image);
    free(y);
}

/* A photo that says nothing: no head may do worse than the title alone out of fold, and
 * one that does not match it is not kept. The reverse for a title that says nothing. */
static void choice_never_loses_to_the_better_side(void **state)
{
    (void)state;
    float *text = malloc(N * K * sizeof *text), *image = malloc(N * K * sizeof *image);
    int *y = malloc(N * sizeof *y);
    rng r;
    rng_seed(&r, 5);
    thread_pool *pool = pool_new(2);
    for (int useless = 0; useless < 2; useless++) { /* 0: the photo, 1: the title */
        for (int i = 0; i < N; i++) {
            y[i] = (int)(rng_next(&r) % K);
            int told = rng_float(&r) < 0.8f ? y[i] : (y[i] + 1) % K; /* right 80% of times */
            side(text + i * K, useless ? (int)(rng_next(&r) % K) : told, useless ? 1 : 4, &r);
            side(image + i * K, useless ? told : (int)(rng_next(&r) % K), useless ? 4 : 1, &r);
        }
        fusion_head h;
        assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
        fusion_fit_options o;
        fusion_fit_options_default(&o);
        assert_int_equal(fusion_head_choose(&h, text, image, y, N, &o, pool), 0);
        fusion_kind better = useless ? FUSION_IMAGE : FUSION_TEXT;
        assert_true(h.tried[better].accuracy > 0.7f);
        assert_true(h.tried[h.kind].accuracy >= h.tried[better].accuracy);
        assert_true(h.tried[h.kind].macro_f1 >= h.tried[better].macro_f1);
        /* a strong side and a useless one: the useful side's label */
        float t[K], im[K], z[K], w[2];
        side(t, 3, useless ? 0 : 4, &r);
        side(im, 3, useless ? 4 : 0, &r);
        fusion_head_apply(&h, t, im, z, w);
        assert_int_equal(argmax(z), 3);
        fusion_head_free(&h);
    }
    pool_free(pool);
    free(text);
    free(image);
    free(y);
}

/* Too few products to measure out of fold: the branch head, fitted on all. */
static void choice_with_few_products_fits_the_branch_head(void **state)
{
    (void)state;
    float text[8 * K], image[8 * K];
    int y[8];
    make_mixed(text, image, y, 8);
    fusion_head h;
    assert_int_equal(fusion_head_init(&h, K, G, branch), 0);
    fusion_fit_options o;
    fusion_fit_options_default(&o);
    thread_pool *pool = pool_new(1);
    assert_int_equal(fusion_head_choose(&h, text, image, y, 8, &o, pool), 0);
    assert_int_equal(h.kind, FUSION_BRANCH);
    assert_int_equal(h.folds, 0);
    pool_free(pool);
    fusion_head_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_head_adds_the_log_probabilities),
        cmocka_unit_test(loss_gradient_matches_finite_differences),
        cmocka_unit_test(fitting_learns_which_modality_to_believe_per_branch),
        cmocka_unit_test(gate_loss_gradient_matches_finite_differences),
        cmocka_unit_test(gate_believes_the_side_that_is_sure),
        cmocka_unit_test(choice_never_loses_to_the_better_side),
        cmocka_unit_test(choice_with_few_products_fits_the_branch_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
