/* The optimizers and the learning-rate schedules: SGD, AdamW, one-cycle and the warm-up
 * schedules against PyTorch step by step, and calls split over ranges equal to one call.
 *
 * The reference values come once from Debian's python3-torch (1.13):
 *
 *   import math, torch
 *   def out(name, t): print(name, ", ".join("%.9g" % v for v in t.flatten().tolist()))
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
#include "nn/optim.h"
#include "nn/schedule.h"
#include "numeric.h"

#define LEN(a) (sizeof(a) / sizeof *(a))

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
        cmocka_unit_test(adamw_matches_pytorch_steps),
        cmocka_unit_test(sgd_momentum_matches_pytorch_steps),
        cmocka_unit_test(sgd_without_momentum_is_plain_gradient_step),
        cmocka_unit_test(optimizers_split_over_ranges_equal_one_call),
        cmocka_unit_test(onecycle_matches_pytorch),
        cmocka_unit_test(warmup_schedules_match_pytorch_lambdalr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
