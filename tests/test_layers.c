/* The CNN's small layers: global average pooling, ReLU and dropout against finite
 * differences and against PyTorch, and calls split over ranges equal to one call.
 *
 * The reference values come once from Debian's python3-torch (1.13):
 *
 *   import torch
 *   def out(name, t): print(name, ", ".join("%.9g" % v for v in t.flatten().tolist()))
 *   C, N, H, W = 2, 2, 5, 5   # the input is CNHW: x[i] = ((37 i) % 101) / 10 - 5
 *   x = torch.tensor([((37 * i) % 101) / 10 - 5 for i in range(C * N * H * W)])
 *   x = x.view(C, N, H, W).permute(1, 0, 2, 3)
 *   out("gap", x.mean((2, 3)))
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <string.h>

#include "core/rng.h"
#include "nn/activation.h"
#include "nn/pool.h"
#include "numeric.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

static void assert_all_close(const float *got, const double *want, size_t n, double tol)
{
    for (size_t i = 0; i < n; i++) {
        if (fabs(got[i] - want[i]) > tol * fmax(1.0, fabs(want[i])))
            fail_msg("[%zu]: got %.9g, want %.9g", i, got[i], want[i]);
    }
}

/* ---- finite differences: a layer is a function f(x) of n inputs to m outputs; the loss is
 * sum_j R_j f(x)_j with fixed random R, whose gradient backward(R) must give. */

typedef struct layer_case {
    int C, N;      /* pooling */
    float p;       /* dropout */
    uint64_t seed; /* dropout: the same mask at every call */
} layer_case;

typedef void (*forward_fn)(const layer_case *lc, float *out, const float *x, size_t n);

static double weighted_sum(const float *out, const float *R, size_t m)
{
    double s = 0;
    for (size_t j = 0; j < m; j++)
        s += (double)out[j] * (double)R[j];
    return s;
}

static void check_gradient(forward_fn f, const layer_case *lc, float *x, const float *dx,
                           size_t n, const float *R, float *out, size_t m, float eps,
                           double tol)
{
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + eps;
        f(lc, out, x, n);
        double up = weighted_sum(out, R, m);
        x[i] = keep - eps;
        f(lc, out, x, n);
        double down = weighted_sum(out, R, m);
        x[i] = keep;
        double numeric = (up - down) / ((double)(keep + eps) - (double)(keep - eps));
        if (fabs(numeric - dx[i]) > tol * fmax(1.0, fabs(numeric)))
            fail_msg("input %zu: analytic %.6f, numeric %.6f", i, dx[i], numeric);
    }
}

static void gap_fn(const layer_case *lc, float *out, const float *x, size_t n)
{
    gap_forward(out, x, lc->C, lc->N, (int)(n / ((size_t)lc->C * (size_t)lc->N)), 0, lc->N);
}

static void relu_fn(const layer_case *lc, float *out, const float *x, size_t n)
{
    (void)lc;
    relu_forward(out, x, n);
}

static void dropout_fn(const layer_case *lc, float *out, const float *x, size_t n)
{
    float mask[512];
    rng r;
    rng_seed(&r, lc->seed);
    dropout_forward(out, mask, x, n, lc->p, &r);
}

enum { GC = 2, GN = 2, GH = 5, GW = 6, GX = GC * GN * GH * GW };

static void gap_gradients_match_finite_differences(void **state)
{
    (void)state;
    float x[GX], dx[GX], out[GC * GN], R[GC * GN];
    fill(x, GX, 22);
    fill(R, GC * GN, 32);
    gap_backward(dx, R, GC, GN, GH * GW, 0, GN);
    layer_case lc = {.C = GC, .N = GN};
    check_gradient(gap_fn, &lc, x, dx, GX, R, out, GC * GN, 0.05f, 1e-3);
}

static void relu_gradients_match_finite_differences(void **state)
{
    (void)state;
    enum { n = 64 };
    float x[n], out[n], dx[n], R[n];
    fill(x, n, 23);
    for (int i = 0; i < n; i++) /* away from the kink */
        x[i] += x[i] < 0 ? -0.1f : 0.1f;
    fill(R, n, 33);
    relu_forward(out, x, n);
    relu_backward(dx, R, out, n);
    check_gradient(relu_fn, &(layer_case){0}, x, dx, n, R, out, n, 0.01f, 1e-3);
    relu_forward(out, x, n);
    relu_forward(x, x, n); /* in place */
    for (int i = 0; i < n; i++)
        assert_true(x[i] == out[i]);
}

static void dropout_gradients_match_finite_differences(void **state)
{
    (void)state;
    enum { n = 64 };
    float x[n], out[n], mask[n], dx[n], R[n];
    fill(x, n, 24);
    fill(R, n, 34);
    layer_case lc = {.p = 0.4f, .seed = 99};
    rng r;
    rng_seed(&r, lc.seed);
    dropout_forward(out, mask, x, n, lc.p, &r);
    dropout_backward(dx, R, mask, n);
    check_gradient(dropout_fn, &lc, x, dx, n, R, out, n, 0.05f, 1e-3);
}

static void dropout_keeps_share_one_minus_p_scaled(void **state)
{
    (void)state;
    enum { n = 100001 }; /* odd: the last value takes a draw of its own */
    static float x[n], out[n], mask[n];
    const float p = 0.3f, scale = 1.0f / (1.0f - p);
    fill(x, n, 25);
    rng r;
    rng_seed(&r, 7);
    dropout_forward(out, mask, x, n, p, &r);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (mask[i] != 0 && mask[i] != scale)
            fail_msg("mask[%zu] = %g", i, mask[i]);
        kept += mask[i] != 0;
        assert_true(out[i] == x[i] * mask[i]);
    }
    assert_close((double)kept / n, 1 - p, 0.01); /* 7 standard deviations */
    /* the same seed gives the same mask; in place gives the same output */
    float *again = out;
    rng_seed(&r, 7);
    dropout_forward(x, again, x, n, p, &r);
    assert_memory_equal(again, mask, sizeof mask);
    /* p = 0 copies */
    fill(x, n, 26);
    dropout_forward(out, mask, x, n, 0, &r);
    assert_memory_equal(out, x, sizeof x);
    for (size_t i = 0; i < n; i++)
        assert_true(mask[i] == 1);
}

/* ---- PyTorch reference values */

static float ref_input(int i) { return (float)((double)((37 * i) % 101) / 10 - 5); }

static void gap_matches_pytorch(void **state)
{
    (void)state;
    static const double gap[] = {-0.191999972, -0.223999977, 0.19599995, 0.163999975};
    float x[100], out[4];
    for (int i = 0; i < 100; i++)
        x[i] = ref_input(i);
    gap_forward(out, x, 2, 2, 25, 0, 2);
    assert_all_close(out, gap, LEN(gap), 1e-6);
}

/* ---- ranges: two calls on [0, k) and [k, N) equal one call on [0, N) */

enum { SC = 3, SN = 3, SH = 7, SW = 6, SX = SC * SN * SH * SW };

static void gap_split_over_images_equals_one_call(void **state)
{
    (void)state;
    static float x[SX], g[SX], one[SX], two[SX], d1[SX], d2[SX];
    fill(x, SX, 40);
    fill(g, SX, 41);
    for (int k = 0; k <= SN; k++) {
        for (size_t i = 0; i < SX; i++) /* backward must overwrite */
            d2[i] = NAN;
        gap_forward(one, x, SC, SN, SH * SW, 0, SN);
        gap_forward(two, x, SC, SN, SH * SW, 0, k);
        gap_forward(two, x, SC, SN, SH * SW, k, SN);
        assert_memory_equal(one, two, SC * SN * sizeof *one);
        gap_backward(d1, g, SC, SN, SH * SW, 0, SN);
        gap_backward(d2, g, SC, SN, SH * SW, 0, k);
        gap_backward(d2, g, SC, SN, SH * SW, k, SN);
        assert_memory_equal(d1, d2, sizeof d1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gap_matches_pytorch),
        cmocka_unit_test(gap_gradients_match_finite_differences),
        cmocka_unit_test(relu_gradients_match_finite_differences),
        cmocka_unit_test(dropout_gradients_match_finite_differences),
        cmocka_unit_test(dropout_keeps_share_one_minus_p_scaled),
        cmocka_unit_test(gap_split_over_images_equals_one_call),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
