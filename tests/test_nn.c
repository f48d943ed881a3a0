/* Layers and kernels: reference values, and finite-difference checks of every backward
 * pass, one layer at a time and through a whole bag model (embedding bag, linear head,
 * softmax cross-entropy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "nn/linear.h"
#include "nn/softmax.h"
#include "nn/sparse_linear.h"
#include "nn/vmath.h"
#include "numeric.h"

enum { R = 7, D = 4, K = 5, NNZ = 3 };
static const uint32_t rows[NNZ] = {1, 4, 6};
static const float vals[NNZ] = {0.5f, -1.25f, 0.8f};
static const int label = 2;

static void softmax_matches_reference_values(void **state)
{
    (void)state;
    float logits[3] = {1, 2, 3}, p[3];
    softmax_forward(p, logits, 3);
    /* numpy: exp(x) / exp(x).sum() */
    assert_close(p[0], 0.09003057, 1e-6);
    assert_close(p[1], 0.24472847, 1e-6);
    assert_close(p[2], 0.66524096, 1e-6);
    float lp[3];
    log_softmax_forward(lp, logits, 3); /* numpy: x - log(exp(x).sum()) */
    assert_close(lp[0], -2.40760596, 1e-6);
    assert_close(lp[2], -0.40760596, 1e-6);
    float big[2] = {1000, 0};
    log_softmax_forward(lp, big, 2); /* no underflow to -inf */
    assert_close(lp[1], -1000.0, 1e-6);
    softmax_forward(p, big, 2); /* no overflow */
    assert_close(p[0], 1.0, 1e-6);
    float g[3];
    softmax_forward(p, logits, 3);
    assert_close(softmax_xent_backward(g, p, 0, 3), 2.40760596, 1e-6); /* -log(0.09003057) */
    assert_close(g[0], 0.09003057 - 1, 1e-6);
}

/* The product has no separate backward pass for a sparse layer: training fuses it with the
 * SGD step. A step with lr = -1 from zero weights leaves the gradient itself (dW[rows[j]] +=
 * vals[j] dout, db += dout), so the finite differences check the step the trainer runs. */
static void gradient_of_sgd(float *dW, float *db, const float *dout, const uint32_t *rows,
                            const float *vals, size_t n, int K)
{
    sparse_linear_sgd(dW, db, dout, NULL, 0, rows, vals, n, K, -1.0f);
}

/* Loss of the full embedding model: xent(softmax(O^T (sum_j v_j E[r_j]) + b), label). */
static double model_loss(const float *E, const float *O, const float *b)
{
    float h[D], logits[K];
    sparse_linear_forward(h, rows, vals, NNZ, E, NULL, D);
    linear_forward(logits, h, O, b, D, K);
    softmax_forward(logits, logits, K);
    return -log(logits[label]);
}

static void check_param(float *p, const float *grad, size_t n, const float *E, const float *O,
                        const float *b)
{
    const float eps = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + eps;
        double up = model_loss(E, O, b);
        p[i] = keep - eps;
        double down = model_loss(E, O, b);
        p[i] = keep;
        double numeric = (up - down) / (2 * eps);
        if (fabs(numeric - grad[i]) > 2e-3 * fmax(1.0, fabs(numeric)))
            fail_msg("parameter %zu: analytic %.6f, numeric %.6f", i, grad[i], numeric);
    }
}

static void embedding_model_gradients_match_finite_differences(void **state)
{
    (void)state;
    float E[R * D], O[D * K], b[K], dE[R * D] = {0}, dO[D * K] = {0}, db[K] = {0};
    float h[D], dh[D], p[K];
    fill(E, R * D, 1);
    fill(O, D * K, 2);
    fill(b, K, 3);
    sparse_linear_forward(h, rows, vals, NNZ, E, NULL, D);
    linear_forward(p, h, O, b, D, K);
    softmax_forward(p, p, K);
    softmax_xent_backward(p, p, label, K);
    linear_backward(dh, dO, db, p, h, O, D, K);
    gradient_of_sgd(dE, NULL, dh, rows, vals, NNZ, D);
    check_param(E, dE, R * D, E, O, b);
    check_param(O, dO, D * K, E, O, b);
    check_param(b, db, K, E, O, b);
}

/* Loss of the linear model: xent(softmax(sum_j v_j W[r_j] + b), label). */
static double linear_loss(const float *W, const float *b)
{
    float logits[K];
    sparse_linear_forward(logits, rows, vals, NNZ, W, b, K);
    softmax_forward(logits, logits, K);
    return -log(logits[label]);
}

static void sparse_linear_gradients_match_finite_differences(void **state)
{
    (void)state;
    float W[R * K], b[K], dW[R * K] = {0}, db[K] = {0}, p[K];
    fill(W, R * K, 4);
    fill(b, K, 5);
    sparse_linear_forward(p, rows, vals, NNZ, W, b, K);
    softmax_forward(p, p, K);
    softmax_xent_backward(p, p, label, K);
    gradient_of_sgd(dW, db, p, rows, vals, NNZ, K);
    const float eps = 1e-2f;
    for (size_t i = 0; i < R * K + K; i++) {
        float *x = i < R * K ? &W[i] : &b[i - R * K], keep = *x;
        *x = keep + eps;
        double up = linear_loss(W, b);
        *x = keep - eps;
        double down = linear_loss(W, b);
        *x = keep;
        double grad = i < R * K ? dW[i] : db[i - R * K];
        assert_close(grad, (up - down) / (2 * eps), 2e-3);
    }
}

static void sparse_sgd_step_on_active_classes_moves_only_their_columns(void **state)
{
    (void)state;
    float W[R * K], b[K], full[R * K], fullb[K], some[R * K], someb[K], g[K];
    fill(W, R * K, 6);
    fill(b, K, 7);
    fill(g, K, 8);
    memcpy(full, W, sizeof W);
    memcpy(fullb, b, sizeof b);
    sparse_linear_sgd(full, fullb, g, NULL, 0, rows, vals, NNZ, K, 0.1f);
    const int active[2] = {0, 3};
    memcpy(some, W, sizeof W);
    memcpy(someb, b, sizeof b);
    sparse_linear_sgd(some, someb, g, active, 2, rows, vals, NNZ, K, 0.1f);
    for (size_t i = 0; i < R * K; i++) {
        int k = (int)(i % K), moves = k == 0 || k == 3;
        assert_true(some[i] == (moves ? full[i] : W[i]));
    }
    for (int k = 0; k < K; k++)
        assert_true(someb[k] == (k == 0 || k == 3 ? fullb[k] : b[k]));
}

static void fused_linear_sgd_equals_gradient_step(void **state)
{
    (void)state;
    float W[D * K], b[K], W2[D * K], b2[K], dW[D * K] = {0}, db[K] = {0}, g[K], h[D];
    float dh[D], dh2[D];
    fill(W, D * K, 9);
    fill(b, K, 10);
    fill(g, K, 11);
    fill(h, D, 12);
    memcpy(W2, W, sizeof W);
    memcpy(b2, b, sizeof b);
    linear_backward(dh, dW, db, g, h, W, D, K);
    linear_sgd(W2, b2, dh2, g, NULL, K, h, D, K, 0.1f);
    for (size_t i = 0; i < D * K; i++)
        assert_close(W2[i], W[i] - 0.1 * dW[i], 1e-6);
    for (size_t i = 0; i < K; i++)
        assert_close(b2[i], b[i] - 0.1 * db[i], 1e-6);
    for (size_t i = 0; i < D; i++)
        assert_close(dh2[i], dh[i], 1e-6); /* the gradient uses the weights before the step */
}

static void linear_forward_matches_reference_values(void **state)
{
    (void)state;
    /* W is input-major: out[k] = b[k] + sum_c inp[c] W[c][k] */
    const float W[2 * 3] = {1, 2, 3, 4, 5, 6}, b[3] = {0.5f, 0, -1}, inp[2] = {2, -1};
    float out[3];
    linear_forward(out, inp, W, b, 2, 3);
    assert_close(out[0], 0.5 + 2 - 4, 1e-6);
    assert_close(out[1], 4 - 5, 1e-6);
    assert_close(out[2], -1 + 6 - 6, 1e-6);
}

/* A model file may hold NaN weights (a crafted one passes its checksum; fuzz_model found
 * it): exp, sigmoid, tanh and the normal CDF take NaN without turning it into an int (UB,
 * which the sanitizer build stops on) and give NaN. */
static void vmath_functions_give_nan_for_nan(void **state)
{
    (void)state;
    volatile float nan = NAN; /* not folded away at compile time */
    float pdf = 0;
    assert_true(isnan(vexpf(nan)));
    assert_true(isnan(vsigmoid(nan)));
    assert_true(isnan(vtanh(nan)));
    assert_true(isnan(vnormcdf(nan, &pdf)));
    assert_true(isnan(pdf));
    assert_close(vexpf(1.0f), exp(1.0), 1e-6); /* and numbers as before */
    assert_close(vexpf(-100.0f), 0, 1e-37);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(softmax_matches_reference_values),
        cmocka_unit_test(linear_forward_matches_reference_values),
        cmocka_unit_test(sparse_linear_gradients_match_finite_differences),
        cmocka_unit_test(embedding_model_gradients_match_finite_differences),
        cmocka_unit_test(sparse_sgd_step_on_active_classes_moves_only_their_columns),
        cmocka_unit_test(fused_linear_sgd_equals_gradient_step),
        cmocka_unit_test(vmath_functions_give_nan_for_nan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
