/* The reference CNN against PyTorch: forward and backward on fixed weights and inputs
 * (tests/fixtures/make_cnn_golden.py wrote the fixture with Debian's python3-torch), matched
 * within |a - b| <= 1e-4 max(1, |b|); and the same step on one and two threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/threadpool.h"
#include "model/cnn.h"

enum { SIZE = 20, WIDTH = 2, N = 3, K = 5 };
static const char *FIXTURE = "tests/fixtures/cnn_golden.txt";

/* One named array of the fixture; NULL when absent. */
static double *fixture_get(const char *name, size_t *count)
{
    FILE *f = fopen(FIXTURE, "r");
    if (!f)
        fail_msg("cannot open %s (run the tests from the repository root)", FIXTURE);
    char line[256], key[64];
    size_t n;
    double *v = NULL;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || sscanf(line, "%63s %zu", key, &n) != 2 || strcmp(key, name))
            continue;
        v = malloc(n * sizeof *v);
        assert_non_null(v);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(fscanf(f, "%lf", &v[i]), 1);
        *count = n;
        break;
    }
    fclose(f);
    if (!v)
        fail_msg("%s: no array %s", FIXTURE, name);
    return v;
}

static void expect_array(const char *name, const float *got, size_t n)
{
    size_t count;
    double *want = fixture_get(name, &count);
    assert_int_equal(count, n);
    for (size_t i = 0; i < n; i++)
        if (fabs(got[i] - want[i]) > 1e-4 * fmax(1.0, fabs(want[i])))
            fail_msg("%s[%zu]: got %.8g, want %.8g", name, i, got[i], want[i]);
    free(want);
}

static void formula(float *p, size_t n, int t, float scale, float shift)
{
    for (size_t j = 0; j < n; j++)
        p[j] = shift + scale * (float)sin(0.37 * (double)j + 0.91 * t + 0.1);
}

/* The weights and input of make_cnn_golden.py. */
static void setup_reference(cnn *c, cnn_work *w, int threads, int *labels)
{
    assert_int_equal(cnn_init(c, SIZE, WIDTH, K), 0);
    cnn_reset(c, 1); /* running statistics 0 and 1; the weights come next */
    int t = 0;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t fan_in = (size_t)s->cin * s->k * s->k;
        formula(c->params + c->w_off[l], fan_in * s->cout, t++, 1.5f / sqrtf((float)fan_in), 0);
        formula(c->params + c->gamma_off[l], (size_t)s->cout, t++, 0.2f, 1);
        formula(c->params + c->beta_off[l], (size_t)s->cout, t++, 0.1f, 0);
    }
    formula(c->params + c->fc_w_off, (size_t)c->feat * K, t++, 2 / sqrtf((float)c->feat), 0);
    formula(c->params + c->fc_b_off, K, t++, 0.1f, 0);
    assert_int_equal(cnn_work_init(w, c, N, threads, 1), 0);
    for (int n = 0; n < N; n++) {
        labels[n] = (2 * n + 1) % K;
        for (int ch = 0; ch < 3; ch++)
            for (int p = 0; p < SIZE * SIZE; p++) {
                double i = (double)((n * 3 + ch) * SIZE * SIZE + p); /* PyTorch's NCHW index */
                w->x[((size_t)ch * N + n) * SIZE * SIZE + p] =
                    (float)(sin(0.7 * i) + 0.3 * cos(0.13 * i));
            }
    }
}

static void matches_pytorch(int threads)
{
    cnn c;
    cnn_work w;
    int labels[N];
    setup_reference(&c, &w, threads, labels);
    thread_pool *pool = pool_new(threads);
    assert_non_null(pool);

    double loss = cnn_forward_train(&c, &w, pool, N, labels);
    expect_array("train_probs", w.logits, N * K);
    float lossf = (float)loss;
    expect_array("loss", &lossf, 1);
    cnn_backward(&c, &w, pool, N, labels, NULL);
    char name[64];
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c.conv[l];
        snprintf(name, sizeof name, "grad_conv%d", l);
        expect_array(name, w.grads + c.w_off[l], (size_t)s->cout * s->cin * s->k * s->k);
        snprintf(name, sizeof name, "grad_gamma%d", l);
        expect_array(name, w.grads + c.gamma_off[l], (size_t)s->cout);
        snprintf(name, sizeof name, "grad_beta%d", l);
        expect_array(name, w.grads + c.beta_off[l], (size_t)s->cout);
        snprintf(name, sizeof name, "running_mean%d", l);
        expect_array(name, c.stats + c.mean_off[l], (size_t)s->cout);
        snprintf(name, sizeof name, "running_var%d", l);
        expect_array(name, c.stats + c.var_off[l], (size_t)s->cout);
    }
    expect_array("grad_fc_w", w.grads + c.fc_w_off, (size_t)c.feat * K);
    expect_array("grad_fc_b", w.grads + c.fc_b_off, K);

    /* inference, from the training work area and from one of its own */
    cnn_forward_infer(&c, &w, pool, N);
    expect_array("infer_probs", w.logits, N * K);
    cnn_work wi;
    assert_int_equal(cnn_work_init(&wi, &c, N, threads, 0), 0);
    memcpy(wi.x, w.x, 3 * N * SIZE * SIZE * sizeof(float));
    cnn_forward_infer(&c, &wi, pool, N);
    expect_array("infer_probs", wi.logits, N * K);

    cnn_work_free(&wi);
    cnn_work_free(&w);
    pool_free(pool);
    cnn_free(&c);
}

static void reference_cnn_matches_pytorch_one_thread(void **state)
{
    (void)state;
    matches_pytorch(1);
}

static void reference_cnn_matches_pytorch_two_threads(void **state)
{
    (void)state;
    matches_pytorch(2);
}

/* With log_probs, inference leaves the log of the probabilities it would give (what a
 * fusion head adds to the text's); training is not affected. */
static void log_probs_are_the_log_of_the_probabilities(void **state)
{
    (void)state;
    cnn c;
    cnn_work w;
    int labels[N];
    setup_reference(&c, &w, 1, labels);
    thread_pool *pool = pool_new(1);
    cnn_forward_infer(&c, &w, pool, N);
    float plain[N * K];
    memcpy(plain, w.logits, sizeof plain);
    w.log_probs = 1;
    cnn_forward_infer(&c, &w, pool, N);
    for (int i = 0; i < N * K; i++)
        assert_true(fabs(exp(w.logits[i]) - plain[i]) < 1e-6);
    cnn_work_free(&w);
    pool_free(pool);
    cnn_free(&c);
}

static void shapes_follow_the_reference(void **state)
{
    (void)state;
    cnn c;
    assert_int_equal(cnn_init(&c, 64, 32, 10), 0);
    assert_int_equal(c.feat, 256);
    assert_int_equal(c.conv[6].ho, 8);
    /* 7 convolutions and the linear layer: 1.16 M weights at width 32 */
    assert_int_equal(c.nparams, 1162080 + 2 * (32 + 64 * 2 + 128 * 2 + 256 * 2) + 256 * 10 + 10);
    cnn_free(&c);
    assert_int_equal(cnn_init(&c, 4, 32, 10), -1);  /* too small for three stages */
    assert_int_equal(cnn_init(&c, 64, 0, 10), -1);
    assert_int_equal(cnn_init(&c, 64, 32, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shapes_follow_the_reference),
        cmocka_unit_test(reference_cnn_matches_pytorch_one_thread),
        cmocka_unit_test(reference_cnn_matches_pytorch_two_threads),
        cmocka_unit_test(log_probs_are_the_log_of_the_probabilities),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
