/* The CNN's small layers and the optimizers: global average pooling, ReLU and dropout
 * differences and against PyTorch; SGD, AdamW and the learning-rate schedules against
 * PyTorch step by step; and calls split over ranges equal to one call.
 *
 * The reference values come once from Debian's python3-torch (1.13):
 *
 *   import math, torch
 *   import torch.nn.functional as F
 *   def out(name, t): print(name, ", ".join("%.9g" % v for v in t.flatten().tolist()))
 *   C, N, H, W = 2, 2, 5, 5   # the input is CNHW: x[i] = ((37 i) % 101) / 10 - 5
 *   x = torch.tensor([((37 * i) % 101) / 10 - 5 for i in range(C * N * H * W)])
 *   x = x.view(C, N, H, W).permute(1, 0, 2, 3)
 *   out("gap", x.mean((2, 3)))
 *   G = [[0.1, -0.2, 0.3, 0.05], [0.2, -0.1, -0.3, 0.0], [-0.05, 0.4, 0.1, -0.2],
 *        [0.3, 0.3, -0.1, 0.1], [-0.2, 0.05, 0.2, -0.4]]
 *   for name, mk in [("adamw", lambda p: torch.optim.AdamW([p], lr=0.01, betas=(0.9, 0.999),
 *                                                          eps=1e-8, weight_decay=0.1)),
 *                    ("sgd", lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9,
 *                                                      weight_decay=0.01))]:
 *       p = torch.tensor([0.5, -1.0, 2.0, -0.25], requires_grad=True)
 *       opt = mk(p)
 *       for g in G:
 *           p.grad = torch.tensor(g); opt.step(); out(name, p.detach())
 *   p = torch.zeros(1, requires_grad=True)
 *   opt = torch.optim.AdamW([p], lr=0.002)
 *   s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.002, total_steps=20)
 *   lr, b1 = [], []
 *   for t in range(20):
 *       lr.append(opt.param_groups[0]["lr"]); b1.append(opt.param_groups[0]["betas"][0])
 *       p.grad = torch.zeros(1); opt.step(); s.step()
 *   out("onecycle_lr", torch.tensor(lr, dtype=torch.float64))
 *   out("onecycle_b1", torch.tensor(b1, dtype=torch.float64))
 *   T, Wu = 20, 3   # the schedules with warm-up of schedule.h, as LambdaLR factors
 *   def cosf(t):
 *       if t < Wu: return t / Wu
 *       pr = (t - Wu) / max(1, T - Wu)
 *       return 0.0 if pr >= 1 else 0.5 * (1 + math.cos(math.pi * pr))
 *   for name, f in [("cosine", cosf), ("constant", lambda t: t / Wu if t < Wu else 1.0)]:
 *       opt = torch.optim.SGD([p], lr=0.002)
 *       s = torch.optim.lr_scheduler.LambdaLR(opt, f)
 *       lr = []
 *       for t in range(T):
 *           lr.append(opt.param_groups[0]["lr"]); opt.step(); s.step()
 *       out(name, torch.tensor(lr, dtype=torch.float64))
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
#include "nn/optim.h"
#include "nn/pool.h"
#include "nn/schedule.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

static void fill(float *p, size_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = rng_float(&r) * 2 - 1;
}

static void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol * fmax(1.0, fabs(want)))
        fail_msg("got %.9g, want %.9g", got, want);
}

/* For values far below 1, such as learning rates. */
static void assert_rel(double got, double want, double tol)
{
    if (fabs(got - want) > tol * fabs(want) + 1e-15)
        fail_msg("got %.9g, want %.9g", got, want);
}

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

/* ---- optimizers */

enum { P = 4, STEPS = 5 };
static const float w0[P] = {0.5f, -1.0f, 2.0f, -0.25f};
static const float G[STEPS][P] = {{0.1f, -0.2f, 0.3f, 0.05f}, {0.2f, -0.1f, -0.3f, 0.0f},
    {-0.05f, 0.4f, 0.1f, -0.2f}, {0.3f, 0.3f, -0.1f, 0.1f}, {-0.2f, 0.05f, 0.2f, -0.4f}};

static void adamw_matches_pytorch_steps(void **state)
{
    (void)state;
    static const double want[STEPS][P] = {
        {0.489500016, -0.989000022, 1.98800004, -0.259750009},
        {0.479358703, -0.978689253, 1.98653841, -0.266190827},
        {0.472993284, -0.979774177, 1.98348129, -0.260981917},
        {0.464975566, -0.983392894, 1.98194408, -0.259615898},
        {0.461432278, -0.98677659, 1.97807634, -0.254157931}};
    float w[P], m[P] = {0}, v[P] = {0};
    memcpy(w, w0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        adamw_step(w, G[t], m, v, 0, P, 0.01f, 0.9f, 0.999f, 1e-8f, 0.1f, t + 1);
        assert_all_close(w, want[t], P, 2e-6);
    }
}

static void sgd_momentum_matches_pytorch_steps(void **state)
{
    (void)state;
    static const double want[STEPS][P] = {
        {0.489499986, -0.978999972, 1.96800005, -0.254750013},
        {0.459560484, -0.949120998, 1.96723211, -0.258770257},
        {0.437155366, -0.961280763, 1.95457363, -0.242129713},
        {0.386553615, -1.00126326, 1.95122647, -0.236911088},
        {0.360625476, -1.04124629, 1.92626286, -0.191977412}};
    float w[P], vel[P];
    memset(vel, 0xff, sizeof vel); /* NaN: the first step must not read it */
    memcpy(w, w0, sizeof w);
    for (int t = 0; t < STEPS; t++) {
        sgd_step(w, G[t], vel, 0, P, 0.1f, 0.9f, 0.01f, t + 1);
        assert_all_close(w, want[t], P, 2e-6);
    }
}

static void sgd_without_momentum_is_plain_gradient_step(void **state)
{
    (void)state;
    float w[P];
    memcpy(w, w0, sizeof w);
    sgd_step(w, G[0], NULL, 0, P, 0.1f, 0, 0.01f, 3);
    for (int i = 0; i < P; i++)
        assert_close(w[i], w0[i] - 0.1 * (G[0][i] + 0.01 * w0[i]), 1e-7);
}

static void optimizers_split_over_ranges_equal_one_call(void **state)
{
    (void)state;
    enum { n = 37, cut = 13 };
    float w1[n], w2[n], g[n], m1[n] = {0}, m2[n] = {0}, v1[n] = {0}, v2[n] = {0};
    fill(w1, n, 50);
    memcpy(w2, w1, sizeof w1);
    for (long t = 1; t <= 3; t++) {
        fill(g, n, 50 + (uint64_t)t);
        adamw_step(w1, g, m1, v1, 0, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, t);
        adamw_step(w2, g, m2, v2, 0, cut, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, t);
        adamw_step(w2, g, m2, v2, cut, n, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.05f, t);
        assert_memory_equal(w1, w2, sizeof w1);
        assert_memory_equal(m1, m2, sizeof m1);
        assert_memory_equal(v1, v2, sizeof v1);
        sgd_step(w1, g, m1, 0, n, 0.05f, 0.9f, 1e-4f, t);
        sgd_step(w2, g, m2, 0, cut, 0.05f, 0.9f, 1e-4f, t);
        sgd_step(w2, g, m2, cut, n, 0.05f, 0.9f, 1e-4f, t);
        assert_memory_equal(w1, w2, sizeof w1);
        assert_memory_equal(m1, m2, sizeof m1);
    }
}

/* ---- schedules */

enum { TOTAL = 20 };

static void onecycle_matches_pytorch(void **state)
{
    (void)state;
    static const double lr[TOTAL] = {8e-05, 0.000263343685, 0.000743343685, 0.00133665631,
        0.00181665631, 0.002, 0.00197492801, 0.00190096926, 0.00178183236, 0.00162349131,
        0.001433886, 0.00122252404, 0.001000004, 0.000777483956, 0.000566121996,
        0.000376516692, 0.000218175645, 9.9038736e-05, 2.50799875e-05, 8e-09};
    static const double b1[TOTAL] = {0.95, 0.94045085, 0.91545085, 0.88454915, 0.85954915,
        0.85, 0.851253604, 0.854951557, 0.860908426, 0.86882551, 0.878305813, 0.888873953, 0.9,
        0.911126047, 0.921694187, 0.93117449, 0.939091574, 0.945048443, 0.948746396, 0.95};
    schedule s = {.kind = SCHEDULE_ONECYCLE, .lr = 0.002f, .momentum = 0.5f,
                  .total_steps = TOTAL, .warmup_steps = 7};
    for (long t = 0; t < TOTAL; t++) {
        float l, mom;
        schedule_at(&s, t, &l, &mom);
        assert_rel(l, lr[t], 1e-6);
        assert_rel(mom, b1[t], 1e-6);
    }
    float l, mom; /* past the end: the last step's values */
    schedule_at(&s, TOTAL + 5, &l, &mom);
    assert_rel(l, lr[TOTAL - 1], 1e-6);
    assert_rel(mom, b1[TOTAL - 1], 1e-6);
}

static void warmup_schedules_match_pytorch_lambdalr(void **state)
{
    (void)state;
    static const double cosine[TOTAL] = {0, 0.000666666667, 0.00133333333, 0.002,
        0.0019829731, 0.00193247223, 0.00185021714, 0.00173900892, 0.00160263464,
        0.00144573836, 0.00127366299, 0.00109226836, 0.000907731641, 0.00072633701,
        0.000554261644, 0.000397365364, 0.000260991083, 0.000149782864, 6.75277706e-05,
        1.70269003e-05};
    schedule s = {.kind = SCHEDULE_COSINE, .lr = 0.002f, .momentum = 0.9f,
                  .total_steps = TOTAL, .warmup_steps = 3};
    float l, mom;
    for (long t = 0; t < TOTAL; t++) {
        schedule_at(&s, t, &l, &mom);
        assert_rel(l, cosine[t], 1e-6);
        assert_true(mom == 0.9f);
    }
    schedule_at(&s, TOTAL, &l, &mom);
    assert_true(l == 0);
    schedule_at(&s, TOTAL + 7, &l, &mom); /* stays at 0 rather than rising again */
    assert_true(l == 0);

    s.kind = SCHEDULE_CONSTANT; /* PyTorch: 0, 0.000666666667, 0.00133333333, then 0.002 */
    static const double constant[4] = {0, 0.000666666667, 0.00133333333, 0.002};
    for (long t = 0; t < TOTAL + 3; t++) {
        schedule_at(&s, t, &l, &mom);
        assert_rel(l, constant[t < 3 ? t : 3], 1e-6);
    }
    s.warmup_steps = 0;
    schedule_at(&s, 0, &l, &mom);
    assert_true(l == 0.002f);
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
        cmocka_unit_test(adamw_matches_pytorch_steps),
        cmocka_unit_test(sgd_momentum_matches_pytorch_steps),
        cmocka_unit_test(sgd_without_momentum_is_plain_gradient_step),
        cmocka_unit_test(optimizers_split_over_ranges_equal_one_call),
        cmocka_unit_test(onecycle_matches_pytorch),
        cmocka_unit_test(warmup_schedules_match_pytorch_lambdalr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
