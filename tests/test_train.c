/* Training's parts: the one training loop (train/loop.c) with a scripted trainee (every
 * product of every epoch stepped once, keep-best and its restore, patience, the divergence
 * check, out of memory in a step, Hogwild shards covering the epoch, progress), class
 * balance, and the temperature fitted by calibration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "train/balance.h"
#include "train/calibrate.h"
#include "train/loop.h"

#include "scratch_dir.h"

enum { N = 10, EPOCHS = 8 };

/* One parameter, set by each epoch to its number; validation follows a script. */
typedef struct script {
    float param;
    const double *accuracy; /* per epoch */
    int epoch, seen[EPOCHS][N];
    int diverge_at, fail_at; /* epoch (from 1) whose first step diverges or runs out of memory */
    int validations;
} script;

static int scripted_step(void *ctx, int tid, const uint32_t *rows, size_t n, int epoch,
                         size_t first, loop_meter *meter)
{
    (void)tid, (void)first;
    script *s = ctx;
    s->epoch = epoch;
    s->param = (float)(epoch + 1);
    if (epoch + 1 == s->fail_at)
        return -1;
    for (size_t i = 0; i < n; i++)
        __atomic_add_fetch(&s->seen[epoch][rows[i]], 1, __ATOMIC_RELAXED);
    double loss = epoch + 1 == s->diverge_at ? NAN : 1.0 / (epoch + 1);
    atomic_store(&meter->loss, atomic_load(&meter->loss) + loss * (double)n);
    atomic_fetch_add(&meter->count, (long)n);
    return 0;
}

/* The script's accuracy, as products right of the trainee's 1000 (the loop's share). */
static int scripted_validation(void *ctx, size_t from, size_t to, size_t *correct)
{
    script *s = ctx;
    s->validations++;
    assert_int_equal(from, 0);
    assert_int_equal(to, 1000);
    *correct = (size_t)lround(s->accuracy[s->epoch] * 1000);
    return 0;
}

static int progress_calls;
static void count_progress(const shelf_progress *p, void *user)
{
    (void)p, (void)user;
    progress_calls++;
}

/* A one-product catalog: the loop only asks whether there is a validation set. */
static shelf_catalog *valid_catalog(void)
{
    const char *path = write_bytes("valid.csv", "id,title,category\n1,tee,A\n", 26);
    shelf_read_options ro = {.require_label = 1};
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(path, &ro, &c, NULL), SHELF_OK);
    return c;
}

/* Runs the loop over N products with labels 0, threads and patience as given. */
static shelf_status run(script *s, int hogwild, int threads, int patience, int with_valid,
                        loop_result *res, shelf_error *err)
{
    static const uint32_t y[N] = {0};
    balance bal;
    assert_int_equal(balance_init(&bal, SHELF_BALANCE_NONE, 0.5f, y, N, 1), 0);
    shelf_catalog *valid = with_valid ? valid_catalog() : NULL;
    trainee t = {.ctx = s, .hogwild = hogwild, .batch = 3, .step = scripted_step,
                 .validate = scripted_validation, .nvalid = 1000, .blocks = {&s->param}, .sizes = {1},
                 .nblocks = 1};
    loop_options o = {NULL, valid, y, N, &bal, EPOCHS, threads, patience, 7, count_progress,
                      NULL, NULL, .comm = NULL};
    progress_calls = 0;
    shelf_status st = train_loop(&t, &o, res, err);
    shelf_catalog_free(valid);
    balance_free(&bal);
    return st;
}

static void every_product_once_an_epoch_and_the_best_epoch_kept(void **state)
{
    (void)state;
    static const double acc[EPOCHS] = {0.1, 0.5, 0.7, 0.6, 0.7, 0.4, 0.3, 0.2};
    for (int hogwild = 0; hogwild <= 1; hogwild++) {
        script s = {.accuracy = acc};
        loop_result res;
        shelf_error err;
        assert_int_equal(run(&s, hogwild, 2, 0, 1, &res, &err), SHELF_OK);
        assert_int_equal(res.ran, EPOCHS);
        for (int e = 0; e < EPOCHS; e++)
            for (int i = 0; i < N; i++)
                assert_int_equal(s.seen[e][i], 1);
        assert_int_equal(res.epochs, 5); /* a tie keeps the later epoch */
        assert_float_equal(res.valid_accuracy, 0.7, 1e-12);
        assert_float_equal(s.param, 5.0f, 0); /* restored to that epoch's */
        assert_true(progress_calls >= EPOCHS);
    }
}

static void patience_stops_after_epochs_without_a_better_accuracy(void **state)
{
    (void)state;
    static const double acc[EPOCHS] = {0.5, 0.6, 0.6, 0.4, 0.4, 0.4, 0.9, 0.9};
    script s = {.accuracy = acc};
    loop_result res;
    shelf_error err;
    assert_int_equal(run(&s, 0, 1, 3, 1, &res, &err), SHELF_OK);
    assert_int_equal(res.ran, 6); /* epochs 4, 5 and 6 fall short of 0.6 */
    assert_int_equal(res.epochs, 3);
    assert_float_equal(s.param, 3.0f, 0);
    assert_int_equal(s.validations, 6);
}

static void without_validation_every_epoch_runs_and_nothing_is_restored(void **state)
{
    (void)state;
    static const double acc[EPOCHS] = {0};
    script s = {.accuracy = acc};
    loop_result res;
    shelf_error err;
    assert_int_equal(run(&s, 1, 3, 2, 0, &res, &err), SHELF_OK);
    assert_int_equal(res.ran, EPOCHS);
    assert_int_equal(res.epochs, EPOCHS);
    assert_float_equal(res.valid_accuracy, -1, 0);
    assert_float_equal(s.param, (float)EPOCHS, 0);
    assert_int_equal(s.validations, 0);
}

static void a_loss_that_is_not_finite_is_a_divergence(void **state)
{
    (void)state;
    static const double acc[EPOCHS] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
    for (int hogwild = 0; hogwild <= 1; hogwild++) {
        script s = {.accuracy = acc, .diverge_at = 3};
        loop_result res;
        shelf_error err = {0};
        assert_int_equal(run(&s, hogwild, 2, 0, 1, &res, &err), SHELF_EDATA);
        assert_non_null(strstr(err.message, "training diverged in epoch 3"));
        assert_non_null(strstr(err.message, "use a lower --lr"));
        assert_int_equal(res.ran, 2);
    }
}

static void a_step_out_of_memory_ends_the_run(void **state)
{
    (void)state;
    static const double acc[EPOCHS] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8};
    for (int hogwild = 0; hogwild <= 1; hogwild++) {
        script s = {.accuracy = acc, .fail_at = 2};
        loop_result res;
        shelf_error err = {0};
        assert_int_equal(run(&s, hogwild, 2, 0, 1, &res, &err), SHELF_ENOMEM);
        assert_non_null(strstr(err.message, "out of memory"));
        assert_int_equal(res.ran, 1);
    }
}

static void balance_weights_and_draws(void **state)
{
    (void)state;
    const uint32_t y[8] = {0, 0, 0, 0, 0, 0, 1, 1}; /* class 0 three times as common */
    balance b;
    assert_int_equal(balance_init(&b, SHELF_BALANCE_WEIGHT, 0.5f, y, 8, 2), 0);
    double mean = (6 * b.weight[0] + 2 * b.weight[1]) / 8;
    assert_true(fabs(mean - 1) < 1e-6);                                /* mean 1 */
    assert_true(fabs(b.weight[1] / b.weight[0] - sqrt(3.0)) < 1e-5); /* (6/2)^0.5 */
    balance_free(&b);
    assert_int_equal(balance_init(&b, SHELF_BALANCE_NONE, 0.5f, y, 8, 2), 0);
    assert_true(b.weight[0] == 1 && b.weight[1] == 1);
    balance_free(&b);

    enum { N = 4000 };
    uint32_t *yy = malloc(N * sizeof *yy), *order = malloc(N * sizeof *order);
    for (int i = 0; i < N; i++)
        yy[i] = i % 4 == 0; /* class 1: a quarter */
    rng r;
    rng_seed(&r, 7);
    assert_int_equal(balance_init(&b, SHELF_BALANCE_OVERSAMPLE, 1.0f, yy, N, 2), 0);
    size_t m = balance_epoch(&b, yy, &r, order), ones = 0;
    assert_int_equal(m, N);
    for (size_t i = 0; i < m; i++)
        ones += yy[order[i]];
    assert_true(ones > N * 45 / 100 && ones < N * 55 / 100); /* power 1: classes even */
    balance_free(&b);
    assert_int_equal(balance_init(&b, SHELF_BALANCE_UNDERSAMPLE, 1.0f, yy, N, 2), 0);
    m = balance_epoch(&b, yy, &r, order);
    ones = 0;
    for (size_t i = 0; i < m; i++)
        ones += yy[order[i]];
    assert_int_equal(ones, N / 4);             /* the rare class is kept whole */
    assert_true(m < N * 85 / 100 && m > N * 65 / 100); /* the common one thinned */
    assert_true(balance_epoch_size(&b, yy) > N * 65 / 100);
    balance_free(&b);
    free(yy);
    free(order);
}

static float fitted_temperature(float q, int right_of_10)
{
    enum { N = 1000 };
    static float rows[N * 2];
    static int truth[N];
    for (int i = 0; i < N; i++) {
        rows[2 * i] = q;
        rows[2 * i + 1] = 1 - q;
        truth[i] = i % 10 < right_of_10 ? 0 : 1;
    }
    return calibrate_temperature(rows, truth, N, 2);
}

static void temperature_makes_probabilities_honest(void **state)
{
    (void)state;
    /* sure at 0.99, right 7 times in 10: T flattens 0.99 to 0.7, log(99)/T = log(7/3) */
    float T = fitted_temperature(0.99f, 7);
    assert_true(fabsf(T - (float)(log(99.0) / log(7.0 / 3.0))) < 0.01f);
    /* already honest: 0.8 and right 8 times in 10 */
    assert_true(fabsf(fitted_temperature(0.8f, 8) - 1) < 0.01f);
    /* underconfident: 0.6 but right 9 times in 10 sharpens (T < 1) */
    assert_true(fitted_temperature(0.6f, 9) < 0.5f);
    int none[1] = {-1};
    float row[2] = {0.5f, 0.5f};
    assert_true(calibrate_temperature(row, none, 1, 2) == 1.0f); /* nothing to fit */
}

static int setup(void **state)
{
    (void)state;
    return scratch_setup("train");
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

/* --balance adjust: rows of a model that leans to the common label (the rare one's products
 * get 0.4 of it); the strength fitted moves them back and lifts both accuracy and
 * macro-F1, never past what helps; with nothing to gain, 0. */
static void logit_adjustment_lifts_a_rare_label_only_when_it_helps(void **state)
{
    (void)state;
    enum { ROWS = 100, K = 2 };
    float probs[ROWS * K];
    int labels[ROWS * K], truth[ROWS];
    const float log_prior[K] = {logf(0.9f), logf(0.1f)};
    for (int i = 0; i < ROWS; i++) {
        int rare = i % 10 == 0; /* 10 rare products, each ranked second */
        float p = rare ? 0.6f : 0.8f;
        probs[i * K] = p;
        probs[i * K + 1] = 1 - p;
        labels[i * K] = 0;
        labels[i * K + 1] = 1;
        truth[i] = rare ? 1 : 0;
    }
    float tau = -1;
    assert_int_equal(calibrate_adjustment(probs, labels, truth, ROWS, K, log_prior, &tau), 0);
    /* log 0.4 - log 0.6 + tau (log 0.9 - log 0.1) > 0 flips the rare ones: tau > 0.185; the
       common ones flip past tau 0.631 */
    assert_true(tau > 0.18f && tau < 0.64f);
    for (int i = 0; i < ROWS; i++) /* a balanced prior: nothing to gain */
        truth[i] = 0;
    const float even[K] = {logf(0.5f), logf(0.5f)};
    assert_int_equal(calibrate_adjustment(probs, labels, truth, ROWS, K, even, &tau), 0);
    assert_true(tau == 0.0f);
    int none[ROWS];
    for (int i = 0; i < ROWS; i++)
        none[i] = -1;
    assert_int_equal(calibrate_adjustment(probs, labels, none, ROWS, K, log_prior, &tau), 0);
    assert_true(tau == 0.0f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_product_once_an_epoch_and_the_best_epoch_kept),
        cmocka_unit_test(patience_stops_after_epochs_without_a_better_accuracy),
        cmocka_unit_test(without_validation_every_epoch_runs_and_nothing_is_restored),
        cmocka_unit_test(a_loss_that_is_not_finite_is_a_divergence),
        cmocka_unit_test(a_step_out_of_memory_ends_the_run),
        cmocka_unit_test(balance_weights_and_draws),
        cmocka_unit_test(temperature_makes_probabilities_honest),
        cmocka_unit_test(logit_adjustment_lifts_a_rare_label_only_when_it_helps),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
