/* The fusion head of text+image models: its scores, the gradient of its loss against
 * finite differences, and what fitting learns: to believe the photo in the branch where the
 * photo is right and the title is not, and the title elsewhere. */
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
    fusion_head_apply(&h, t, im, z);
    for (int k = 0; k < K; k++)
        assert_float_equal(z[k], t[k] + im[k], 0);
    fusion_head_apply(&h, t, im, im); /* in place */
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
        fusion_head_apply(&h, text + i * K, image + i * K, z);
        plain += argmax(z) == y[i];
    }
    fusion_fit_options o;
    fusion_fit_options_default(&o);
    double loss = fusion_head_fit(&h, text, image, y, N, &o);
    assert_true(loss >= 0);
    for (int i = 0; i < N; i++) {
        fusion_head_apply(&h, text + i * K, image + i * K, z);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_head_adds_the_log_probabilities),
        cmocka_unit_test(loss_gradient_matches_finite_differences),
        cmocka_unit_test(fitting_learns_which_modality_to_believe_per_branch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
