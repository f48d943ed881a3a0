/* The reference CNN with its classifier (a label head) against PyTorch: forward and backward
 * on fixed weights and inputs (tests/fixtures/make_cnn_golden.py wrote the fixture with
 * Debian's python3-torch), matched within |a - b| <= 1e-4 max(1, |b|); the same step on one
 * and two threads; and the CNN behind the encoder interface. */
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
#include "core/threadpool.h"
#include "image/augment.h"
#include "model/cnn.h"
#include "model/cnn_dnnl.h"
#include "model/cnn_encoder.h"
#include "model/image_model.h"
#include "model/label_head.h"
#include "nn/linear.h"
#include "nn/softmax.h"

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

/* The weights of make_cnn_golden.py into a network and the classifier above it. */
static void reference_weights(cnn *c, label_head *h)
{
    rng r;
    rng_seed(&r, 1);
    cnn_reset(c, &r); /* running statistics 0 and 1; the weights come next */
    assert_int_equal(label_head_alloc(h, (size_t)c->feat, K), 0);
    int t = 0;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c->conv[l];
        size_t fan_in = (size_t)s->cin * s->k * s->k;
        formula(c->params + c->w_off[l], fan_in * s->cout, t++, 1.5f / sqrtf((float)fan_in), 0);
        formula(c->params + c->gamma_off[l], (size_t)s->cout, t++, 0.2f, 1);
        formula(c->params + c->beta_off[l], (size_t)s->cout, t++, 0.1f, 0);
    }
    formula(h->w, (size_t)c->feat * K, t++, 2 / sqrtf((float)c->feat), 0);
    formula(h->b, K, t++, 0.1f, 0);
}

/* The weights and input of make_cnn_golden.py. */
static void setup_reference(cnn *c, label_head *h, cnn_work *w, int threads, cnn_path path,
                            int *labels)
{
    assert_int_equal(cnn_init(c, SIZE, WIDTH), 0);
    reference_weights(c, h);
    assert_int_equal(cnn_work_init(w, c, N, threads, 1, path), 0);
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

/* The classifier and softmax over the network's features: the reference's last layers. */
static void head_probs(const label_head *h, const cnn *c, const cnn_work *w, float *probs)
{
    encoder_features f = {.n = N, .width = (size_t)c->feat, .dense = w->feat};
    for (int i = 0; i < N; i++) {
        label_head_forward_row(h, &f, (size_t)i, probs + i * K);
        softmax_forward(probs + i * K, probs + i * K, K);
    }
}

static void matches_pytorch(int threads, cnn_path path)
{
    cnn c;
    label_head h = {0};
    cnn_work w;
    int labels[N];
    setup_reference(&c, &h, &w, threads, path, labels);
    assert_true((w.dnnl != NULL) == (path != CNN_PATH_GEMM));
    thread_pool *pool = pool_new(threads);
    assert_non_null(pool);

    assert_int_equal(cnn_forward_train(&c, &w, pool, N), 0);
    float probs[N * K];
    head_probs(&h, &c, &w, probs);
    double loss = 0;
    for (int i = 0; i < N; i++)
        loss -= log(probs[i * K + labels[i]]);
    loss /= N;
    expect_array("train_probs", probs, N * K);
    float lossf = (float)loss;
    expect_array("loss", &lossf, 1);
    /* the mean cross-entropy back through the softmax and the classifier, then the network */
    float *hgrad = calloc(h.nparams, sizeof *hgrad);
    assert_non_null(hgrad);
    for (int i = 0; i < N; i++) {
        float *z = probs + i * K;
        softmax_xent_backward(z, z, labels[i], K);
        for (int k = 0; k < K; k++)
            z[k] *= 1.0f / N;
        linear_backward(w.dfeat + (size_t)i * c.feat, hgrad,
                        hgrad + (size_t)c.feat * K, z, w.feat + (size_t)i * c.feat, h.w,
                        c.feat, K);
    }
    float *grads = calloc(c.nparams, sizeof *grads);
    assert_non_null(grads);
    assert_int_equal(cnn_backward(&c, &w, pool, N, grads), 0);
    char name[64];
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c.conv[l];
        snprintf(name, sizeof name, "grad_conv%d", l);
        expect_array(name, grads + c.w_off[l], (size_t)s->cout * s->cin * s->k * s->k);
        snprintf(name, sizeof name, "grad_gamma%d", l);
        expect_array(name, grads + c.gamma_off[l], (size_t)s->cout);
        snprintf(name, sizeof name, "grad_beta%d", l);
        expect_array(name, grads + c.beta_off[l], (size_t)s->cout);
        snprintf(name, sizeof name, "running_mean%d", l);
        expect_array(name, c.stats + c.mean_off[l], (size_t)s->cout);
        snprintf(name, sizeof name, "running_var%d", l);
        expect_array(name, c.stats + c.var_off[l], (size_t)s->cout);
    }
    expect_array("grad_fc_w", hgrad, (size_t)c.feat * K);
    expect_array("grad_fc_b", hgrad + (size_t)c.feat * K, K);

    /* inference, from the training work area and from one of its own */
    assert_int_equal(cnn_forward_infer(&c, &w, pool, N), 0);
    head_probs(&h, &c, &w, probs);
    expect_array("infer_probs", probs, N * K);
    cnn_work wi;
    assert_int_equal(cnn_work_init(&wi, &c, N, threads, 0, path), 0);
    memcpy(wi.x, w.x, 3 * N * SIZE * SIZE * sizeof(float));
    assert_int_equal(cnn_forward_infer(&c, &wi, pool, N), 0);
    head_probs(&h, &c, &wi, probs);
    expect_array("infer_probs", probs, N * K);

    free(hgrad);
    free(grads);
    cnn_work_free(&wi);
    cnn_work_free(&w);
    pool_free(pool);
    cnn_free(&c);
    label_head_free(&h);
}

static void reference_cnn_matches_pytorch_one_thread(void **state)
{
    (void)state;
    matches_pytorch(1, CNN_PATH_GEMM);
}

static void reference_cnn_matches_pytorch_two_threads(void **state)
{
    (void)state;
    matches_pytorch(2, CNN_PATH_GEMM);
}

/* The oneDNN path, on whatever instruction set oneDNN finds (AVX-512 here; AVX2 under
 * valgrind, which has no AVX-512, or with ONEDNN_MAX_CPU_ISA=AVX2). */
static void reference_cnn_matches_pytorch_on_onednn_one_thread(void **state)
{
    (void)state;
    matches_pytorch(1, CNN_PATH_DNNL);
}

static void reference_cnn_matches_pytorch_on_onednn_two_threads(void **state)
{
    (void)state;
    matches_pytorch(2, CNN_PATH_DNNL);
}

static void reference_cnn_matches_pytorch_on_onednn_direct(void **state)
{
    (void)state;
    matches_pytorch(1, CNN_PATH_DNNL_DIRECT);
}

/* What one training step and inference give on a path, for wide_network_paths_agree. */
typedef struct step_result {
    float *feat, *grads, *stats, *infer, *one;
} step_result;

enum { WIDE_SIZE = 32, WIDE_WIDTH = 16, WIDE_CAP = 4 };

static step_result wide_step(cnn_path path)
{
    cnn c;
    assert_int_equal(cnn_init(&c, WIDE_SIZE, WIDE_WIDTH), 0);
    rng r;
    rng_seed(&r, 7);
    cnn_reset(&c, &r);
    thread_pool *pool = pool_new(2);
    cnn_work w, wi;
    assert_int_equal(cnn_work_init(&w, &c, WIDE_CAP, 2, 1, path), 0);
    assert_int_equal(cnn_work_init(&wi, &c, WIDE_CAP, 2, 0, path), 0);
    if (path != CNN_PATH_GEMM && cnn_dnnl_fast()) /* its AVX-512 kernels, not reference code */
        assert_false(cnn_dnnl_slow(w.dnnl) || cnn_dnnl_slow(wi.dnnl));
    size_t plane = WIDE_SIZE * WIDE_SIZE, F = (size_t)c.feat;
    step_result s = {calloc(F * WIDE_CAP, 4), calloc(c.nparams, 4), calloc(c.nstats, 4),
                     calloc(F * WIDE_CAP, 4), calloc(F, 4)};
    /* a short batch (3 of 4: primitives made on demand), as at the end of an epoch */
    int n = WIDE_CAP - 1;
    for (size_t i = 0; i < 3 * plane * (size_t)n; i++)
        w.x[i] = (float)sin(0.37 * (double)i) + 0.2f;
    assert_int_equal(cnn_forward_train(&c, &w, pool, n), 0);
    memcpy(s.feat, w.feat, F * (size_t)n * 4);
    for (size_t i = 0; i < F * (size_t)n; i++)
        w.dfeat[i] = (float)cos(0.11 * (double)i) / (float)n;
    assert_int_equal(cnn_backward(&c, &w, pool, n, s.grads), 0);
    memcpy(s.stats, c.stats, c.nstats * 4);
    /* inference on a full batch, then on one image (a server's request) */
    for (size_t i = 0; i < 3 * plane * WIDE_CAP; i++)
        wi.x[i] = (float)cos(0.21 * (double)i);
    assert_int_equal(cnn_forward_infer(&c, &wi, pool, WIDE_CAP), 0);
    memcpy(s.infer, wi.feat, F * WIDE_CAP * 4);
    for (size_t ch = 0; ch < 3; ch++) /* the first image alone: its channels packed */
        memmove(wi.x + ch * plane, wi.x + ch * plane * WIDE_CAP, plane * 4);
    assert_int_equal(cnn_forward_infer(&c, &wi, pool, 1), 0);
    memcpy(s.one, wi.feat, F * 4);
    if (path != CNN_PATH_GEMM && cnn_dnnl_fast())
        assert_false(cnn_dnnl_slow(w.dnnl) || cnn_dnnl_slow(wi.dnnl));
    cnn_work_free(&w);
    cnn_work_free(&wi);
    pool_free(pool);
    cnn_free(&c);
    return s;
}

static void expect_close(const char *what, const float *got, const float *want, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(got[i] - want[i]) <= 1e-4f * fmaxf(1, fabsf(want[i]))))
            fail_msg("%s[%zu]: %.8g, im2col %.8g", what, i, got[i], want[i]);
}

static void free_result(step_result *s)
{
    free(s->feat);
    free(s->grads);
    free(s->stats);
    free(s->infer);
    free(s->one);
}

/* The loss sum(feat * coef) of a training pass (batch statistics) on the first n images. */
static double probe_loss(cnn *c, cnn_work *w, thread_pool *pool, int n, const float *coef)
{
    assert_int_equal(cnn_forward_train(c, w, pool, n), 0);
    double loss = 0;
    for (size_t i = 0; i < (size_t)n * c->feat; i++)
        loss += (double)w->feat[i] * coef[i];
    return loss;
}

/* Finite differences against the backward pass of the whole network on a path, at a few
 * parameters of each tensor (convolution weights, gamma, beta): every path's backward is
 * checked the way each layer's is (tests/test_conv.c, test_layers.c). */
static void gradient_matches_finite_differences(cnn_path path)
{
    cnn c;
    assert_int_equal(cnn_init(&c, 16, WIDE_WIDTH), 0);
    rng r;
    rng_seed(&r, 11);
    cnn_reset(&c, &r);
    /* beta well above 0: few ReLUs sit near their kink, which a difference quotient
     * straddles (with beta near 0 the quotients of layer 0 wander by 10% as eps shrinks,
     * reaching the backward pass's value only near 1e-4); the float forward pass's rounding
     * then limits the agreement to the tolerance below */
    for (int l = 0; l < CNN_CONVS; l++)
        for (int i = 0; i < c.conv[l].cout; i++) {
            c.params[c.gamma_off[l] + i] = 0.5f + rng_float(&r);
            c.params[c.beta_off[l] + i] = 5 + rng_float(&r);
        }
    thread_pool *pool = pool_new(1);
    cnn_work w;
    assert_int_equal(cnn_work_init(&w, &c, WIDE_CAP, 1, 1, path), 0);
    size_t F = (size_t)c.feat * WIDE_CAP;
    float *coef = malloc(F * sizeof *coef), *grads = calloc(c.nparams, sizeof *grads);
    assert_non_null(coef);
    assert_non_null(grads);
    for (size_t i = 0; i < 3 * 16 * 16 * (size_t)WIDE_CAP; i++)
        w.x[i] = 2 * rng_float(&r) - 1;
    for (size_t i = 0; i < F; i++)
        coef[i] = 2 * rng_float(&r) - 1;
    probe_loss(&c, &w, pool, WIDE_CAP, coef);
    memcpy(w.dfeat, coef, F * sizeof *coef);
    assert_int_equal(cnn_backward(&c, &w, pool, WIDE_CAP, grads), 0);
    const float eps = 1e-2f;
    for (int l = 0; l < CNN_CONVS; l++) {
        size_t offs[3] = {c.w_off[l], c.gamma_off[l], c.beta_off[l]};
        size_t sizes[3] = {c.gamma_off[l] - c.w_off[l], (size_t)c.conv[l].cout,
                           (size_t)c.conv[l].cout};
        for (int t = 0; t < 3; t++)
            for (int k = 0; k < 3; k++) {
                size_t at = offs[t] + (size_t)(k * 7919) % sizes[t];
                float keep = c.params[at];
                c.params[at] = keep + eps;
                double up = probe_loss(&c, &w, pool, WIDE_CAP, coef);
                c.params[at] = keep - eps;
                double down = probe_loss(&c, &w, pool, WIDE_CAP, coef);
                c.params[at] = keep;
                double fd = (up - down) / (2 * eps);
                if (fabs(fd - grads[at]) > 5e-3 + 5e-2 * fabs(fd))
                    fail_msg("path %d, layer %d, tensor %d, parameter %zu: backward %.6g, "
                             "finite differences %.6g",
                             (int)path, l, t, at - offs[t], grads[at], fd);
            }
    }
    free(coef);
    free(grads);
    cnn_work_free(&w);
    pool_free(pool);
    cnn_free(&c);
}

static void gradient_matches_finite_differences_on_every_path(void **state)
{
    (void)state;
    gradient_matches_finite_differences(CNN_PATH_GEMM);
    gradient_matches_finite_differences(CNN_PATH_DNNL);
    gradient_matches_finite_differences(CNN_PATH_DNNL_DIRECT);
}

/* On a network wide enough for oneDNN's Winograd and blocked kernels (16 to 128 channels),
 * both oneDNN paths agree with im2col, which the golden test ties to PyTorch, within the
 * golden test's tolerance: a short training batch, the gradient, the running statistics,
 * inference on a batch and on one image. */
static void wide_network_paths_agree(void **state)
{
    (void)state;
    cnn c;
    assert_int_equal(cnn_init(&c, WIDE_SIZE, WIDE_WIDTH), 0);
    size_t F = (size_t)c.feat, P = c.nparams, S = c.nstats;
    cnn_free(&c);
    step_result want = wide_step(CNN_PATH_GEMM);
    cnn_path paths[] = {CNN_PATH_DNNL, CNN_PATH_DNNL_DIRECT};
    for (int k = 0; k < 2; k++) {
        step_result got = wide_step(paths[k]);
        expect_close("features", got.feat, want.feat, F * (WIDE_CAP - 1));
        expect_close("gradient", got.grads, want.grads, P);
        expect_close("running statistics", got.stats, want.stats, S);
        expect_close("inference", got.infer, want.infer, F * WIDE_CAP);
        expect_close("one image", got.one, want.one, F);
        expect_close("one image against the batch", got.one, got.infer, F);
        free_result(&got);
    }
    free_result(&want);
}

/* ---- the CNN behind the encoder interface ------------------------------------------- */

/* An encoder with the reference's weights and a normalization, its classifier in h, and N
 * images of pseudo-random pixels. */
static encoder *reference_encoder(label_head *h, unsigned char *pix)
{
    cnn_encoder *c = cnn_encoder_new(SIZE, WIDTH);
    assert_non_null(c);
    reference_weights(&c->net, h);
    for (int l = 0; l < CNN_CONVS; l++) /* statistics other than 0 and 1 */
        formula(c->net.stats + c->net.mean_off[l], (size_t)c->net.conv[l].cout, 40 + l, 0.3f, 0);
    c->img = (image_settings){{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}, 0, 64, 0, 0, 0};
    for (size_t i = 0; i < (size_t)N * SIZE * SIZE * 3; i++)
        pix[i] = (unsigned char)((i * 2654435761u) >> 13);
    return &c->base;
}

/* Its features are the network's inference pass over the images normalized as in training
 * (without augmentation), from an inference or a training work area, on its own thread or
 * a pool's (two threads cut the convolutions' matrix products differently, so only nearly
 * the same); missing follows usable. */
static void encoder_features_are_the_normalized_inference_pass(void **state)
{
    (void)state;
    label_head h = {0};
    unsigned char pix[N * SIZE * SIZE * 3], usable[N] = {1, 0, 1};
    encoder *e = reference_encoder(&h, pix);
    const cnn_encoder *c = as_const_cnn(e);
    assert_int_equal(encoder_width(e), (size_t)c->net.feat);
    cnn_work w;
    assert_int_equal(cnn_work_init(&w, &c->net, N, 1, 0, CNN_PATH_AUTO), 0);
    size_t plane = SIZE * SIZE;
    for (int i = 0; i < N; i++)
        augment_to_tensor(pix + i * plane * 3, SIZE, 0, NULL, c->img.mean, c->img.std,
                          w.x + i * plane, (long)(plane * N));
    thread_pool *one = pool_new(1), *two = pool_new(2);
    assert_int_equal(cnn_forward_infer(&c->net, &w, one, N), 0);
    encoder_batch b = {.n = N, .pixels = pix, .usable = usable};
    encoder_work *ew[3] = {e->ops->work_new(e, N, 0), cnn_encoder_work_new(e, N, 1, one),
                           cnn_encoder_work_new(e, N, 1, two)};
    for (int k = 0; k < 3; k++) {
        assert_non_null(ew[k]);
        encoder_features f;
        assert_int_equal(e->ops->forward(e, ew[k], &b, &f), 0);
        assert_int_equal(f.n, N);
        assert_null(f.sparse);
        for (size_t j = 0; j < (size_t)N * c->net.feat; j++) {
            double tol = k < 2 ? 0 : 1e-5 * fmax(1, fabs(w.feat[j]));
            assert_float_equal(f.dense[j], w.feat[j], tol);
        }
        for (int i = 0; i < N; i++)
            assert_int_equal(f.missing[i], !usable[i]);
        e->ops->work_free(ew[k]);
    }
    cnn_work_free(&w);
    pool_free(one);
    pool_free(two);
    encoder_free(e);
    label_head_free(&h);
}

/* With log_probs, the image model leaves the log of the probabilities it would give (what a
 * fusion head adds to the text's), in batches of any size. */
static void log_probs_are_the_log_of_the_probabilities(void **state)
{
    (void)state;
    label_head h = {0};
    unsigned char pix[N * SIZE * SIZE * 3];
    encoder *e = reference_encoder(&h, pix);
    encoder_work *w = e->ops->work_new(e, 2, 0);
    assert_non_null(w);
    float plain[N * K], logs[N * K];
    assert_int_equal(image_model_probs(e, &h, w, 2, pix, N, 0, plain, NULL, 0), 0);
    assert_int_equal(image_model_probs(e, &h, w, 2, pix, N, 1, logs, NULL, 0), 0);
    for (int i = 0; i < N * K; i++)
        assert_true(fabs(exp(logs[i]) - plain[i]) < 1e-6);
    e->ops->work_free(w);
    encoder_free(e);
    label_head_free(&h);
}

/* What save writes, load reads back: the same settings, parameters and statistics. */
static void encoder_section_round_trips(void **state)
{
    (void)state;
    label_head h = {0};
    unsigned char pix[N * SIZE * SIZE * 3];
    encoder *e = reference_encoder(&h, pix);
    FILE *f = tmpfile();
    assert_non_null(f);
    model_writer mw = {.f = f};
    e->ops->save(e, &mw);
    assert_false(mw.failed);
    rewind(f);
    model_reader r = {.f = f, .left = mw.size};
    encoder *back = NULL;
    assert_int_equal(cnn_encoder_load(&r, &back), 0);
    assert_int_equal(r.left, 0);
    const cnn_encoder *a = as_const_cnn(e), *b = as_const_cnn(back);
    assert_int_equal(back->ops->kind, ENCODER_CNN);
    assert_int_equal(b->net.size, SIZE);
    assert_int_equal(b->net.width, WIDTH);
    assert_memory_equal(&b->img, &a->img, sizeof a->img);
    assert_memory_equal(b->net.params, a->net.params, a->net.nparams * sizeof(float));
    assert_memory_equal(b->net.stats, a->net.stats, a->net.nstats * sizeof(float));
    fclose(f);
    encoder_free(back);
    encoder_free(e);
    label_head_free(&h);
}

/* Writes the CNN's fields as files before the encoder interface did (the classifier after
 * the network in one parameter block) into a temporary file; its size into *size. */
static FILE *old_layout(const cnn_encoder *c, const label_head *h, uint64_t count, float var0,
                        float std0, uint64_t *size)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    model_writer w = {.f = f};
    const image_settings *is = &c->img;
    const uint32_t u[6] = {(uint32_t)c->net.size, (uint32_t)c->net.width, (uint32_t)is->augment,
                           (uint32_t)is->batch, (uint32_t)is->optimizer, (uint32_t)is->schedule};
    mw_put(&w, u, sizeof u);
    mw_f32(&w, is->weight_decay);
    mw_put(&w, is->mean, 12);
    mw_f32(&w, std0);
    mw_put(&w, is->std + 1, 8);
    mw_u64(&w, count);
    mw_put(&w, c->net.params, c->net.nparams * 4);
    mw_put(&w, h->params, h->nparams * 4);
    float *stats = malloc(c->net.nstats * sizeof *stats);
    assert_non_null(stats);
    memcpy(stats, c->net.stats, c->net.nstats * sizeof *stats);
    stats[c->net.var_off[0]] = var0;
    mw_floats(&w, stats, c->net.nstats);
    free(stats);
    assert_false(w.failed);
    rewind(f);
    *size = w.size;
    return f;
}

/* The old single parameter block is split: the network's part to the encoder, the rest to
 * the label head; what a training could not have written is refused. */
static void old_layout_splits_into_encoder_and_head(void **state)
{
    (void)state;
    label_head h = {0};
    unsigned char pix[N * SIZE * SIZE * 3];
    encoder *e = reference_encoder(&h, pix);
    const cnn_encoder *c = as_const_cnn(e);
    uint64_t whole = c->net.nparams + h.nparams, size;
    float var0 = c->net.stats[c->net.var_off[0]], std0 = c->img.std[0];
    struct {
        uint64_t count;
        float var0, std0;
        uint64_t cut; /* bytes left out at the end */
        int nlabels;
        int ok;
    } cases[] = {
        {whole, var0, std0, 0, K, 1},
        {whole - 1, var0, std0, 0, K, 0},  /* a block of another size */
        {whole, -1, std0, 0, K, 0},        /* a negative variance */
        {whole, NAN, std0, 0, K, 0},
        {whole, var0, 0, 0, K, 0},         /* no deviation to divide by */
        {whole, var0, std0, 4, K, 0},      /* truncated */
        {whole, var0, std0, 0, K + 1, 0},  /* not the labels' classifier */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        FILE *f = old_layout(c, &h, cases[i].count, cases[i].var0, cases[i].std0, &size);
        model_reader r = {.f = f, .left = size - cases[i].cut};
        encoder *back = NULL;
        label_head hb = {0};
        int rc = cnn_encoder_load_with_classifier(&r, &back, &hb, cases[i].nlabels);
        if (!cases[i].ok) {
            assert_int_equal(rc, -1);
            assert_true(r.failed);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(r.left, 0);
            const cnn_encoder *b = as_const_cnn(back);
            assert_memory_equal(b->net.params, c->net.params, c->net.nparams * 4);
            assert_memory_equal(b->net.stats, c->net.stats, c->net.nstats * 4);
            assert_memory_equal(&b->img, &c->img, sizeof c->img);
            assert_int_equal(hb.in, (size_t)c->net.feat);
            assert_int_equal(hb.out, K);
            assert_memory_equal(hb.params, h.params, h.nparams * 4);
        }
        fclose(f);
        encoder_free(back);
        label_head_free(&hb);
    }
    encoder_free(e);
    label_head_free(&h);
}

static void shapes_follow_the_reference(void **state)
{
    (void)state;
    cnn c;
    assert_int_equal(cnn_init(&c, 64, 32), 0);
    assert_int_equal(c.feat, 256);
    assert_int_equal(c.conv[6].ho, 8);
    /* 7 convolutions, and the classifier above: 1.16 M weights at width 32 */
    assert_int_equal(c.nparams, 1162080 + 2 * (32 + 64 * 2 + 128 * 2 + 256 * 2));
    label_head h = {0};
    assert_int_equal(label_head_alloc(&h, (size_t)c.feat, 10), 0);
    assert_int_equal(c.nparams + h.nparams,
                     1162080 + 2 * (32 + 64 * 2 + 128 * 2 + 256 * 2) + 256 * 10 + 10);
    label_head_free(&h);
    cnn_free(&c);
    assert_int_equal(cnn_init(&c, 4, 32), -1);  /* too small for three stages */
    assert_int_equal(cnn_init(&c, 64, 0), -1);
    assert_null(cnn_encoder_new(64, CNN_MAX_WIDTH + 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shapes_follow_the_reference),
        cmocka_unit_test(reference_cnn_matches_pytorch_one_thread),
        cmocka_unit_test(reference_cnn_matches_pytorch_two_threads),
        cmocka_unit_test(reference_cnn_matches_pytorch_on_onednn_one_thread),
        cmocka_unit_test(reference_cnn_matches_pytorch_on_onednn_two_threads),
        cmocka_unit_test(reference_cnn_matches_pytorch_on_onednn_direct),
        cmocka_unit_test(wide_network_paths_agree),
        cmocka_unit_test(gradient_matches_finite_differences_on_every_path),
        cmocka_unit_test(encoder_features_are_the_normalized_inference_pass),
        cmocka_unit_test(log_probs_are_the_log_of_the_probabilities),
        cmocka_unit_test(encoder_section_round_trips),
        cmocka_unit_test(old_layout_splits_into_encoder_and_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
