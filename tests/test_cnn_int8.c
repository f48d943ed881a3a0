/* The CNN's int8 form (model/cnn_int8.h): calibration's clip against reference values, the
 * folded and coded network against the float one, oneDNN's int8 kernels (where the CPU has
 * VNNI) against the float path on the codes' values, its file section, and shelf quantize
 * on an image model (calibration, refusals, predictions after a round trip). */
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
#include "model/cnn.h"
#include "model/cnn_dnnl.h"
#include "model/cnn_encoder.h"
#include "model/cnn_int8.h"
#include "model/model.h"
#include "photo_catalog.h"
#include "scratch_dir.h"
#include "shelf.h"

enum { SIZE = 16, WIDTH = 16, CAP = 6 };

static int setup(void **state)
{
    (void)state;
    return scratch_setup("cnn_int8");
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

/* ---- calibration ----------------------------------------------------------------------- */

/* Values spread evenly up to the top are best kept whole (a clip below cuts more than its
 * finer steps save); a few far outliers are cut, the clip staying above the bulk; clip 0
 * takes the largest value; a layer that never fired keeps a scale of one. */
static void clips_follow_the_distribution(void **state)
{
    (void)state;
    cnn_calib k = {.pass = 1, .clip = 1};
    k.hist = calloc((size_t)CNN_CONVS * CNN_CALIB_BINS, sizeof *k.hist);
    assert_non_null(k.hist);
    for (int l = 0; l < CNN_CONVS - 1; l++)
        k.top[l] = 8;
    for (int b = 0; b < CNN_CALIB_BINS; b++) /* layer 0: uniform on [0, 8] */
        k.hist[b] = 100;
    double *h1 = k.hist + CNN_CALIB_BINS; /* layer 1: the bulk below 1, one outlier at 8 */
    for (int b = 0; b < CNN_CALIB_BINS / 8; b++)
        h1[b] = 100000;
    h1[CNN_CALIB_BINS - 1] = 1;
    k.top[2] = 0; /* layer 2: only zeros */
    float act[CNN_CONVS] = {3};
    cnn_calib_clips(&k, act);
    assert_float_equal(act[0], 3, 0); /* the caller's */
    assert_true(act[1] > 7.9f && act[1] <= 8);
    assert_true(act[2] > 0.99f && act[2] < 2);
    assert_float_equal(act[3], 1, 0);
    k.clip = 0;
    cnn_calib_clips(&k, act);
    assert_float_equal(act[1], 8, 0);
    assert_float_equal(act[2], 8, 0);
    /* what pass 0 and 1 record of an output */
    cnn_calib s = {.clip = 1};
    s.hist = k.hist;
    memset(s.hist, 0, (size_t)CNN_CONVS * CNN_CALIB_BINS * sizeof *s.hist);
    const float out[] = {0, 0, 1, 2, 4};
    cnn_calib_see(&s, 0, out, 5);
    assert_float_equal(s.top[0], 4, 0);
    s.pass = 1;
    cnn_calib_see(&s, 0, out, 5);
    assert_float_equal(s.zeros[0], 2, 0);
    assert_float_equal(s.hist[CNN_CALIB_BINS / 4], 1, 0);
    assert_float_equal(s.hist[CNN_CALIB_BINS / 2], 1, 0);
    assert_float_equal(s.hist[CNN_CALIB_BINS - 1], 1, 0);
    cnn_calib_see(&s, CNN_CONVS - 1, out, 5); /* the last layer is pooled in float */
    assert_float_equal(s.top[CNN_CONVS - 1], 0, 0);
    /* a broken network's NaN and infinities: noticed in pass 0, counted in no bin after */
    const float bad[] = {1, NAN, INFINITY, -INFINITY, 3};
    s.pass = 0;
    cnn_calib_see(&s, 1, bad, 5);
    assert_true(s.nonfinite);
    assert_float_equal(s.top[1], 3, 0);
    s.pass = 1;
    s.top[1] = 1e-38f; /* a scale whose inverse is infinite */
    cnn_calib_see(&s, 1, bad, 5);
    free(k.hist);
}

/* ---- the network ----------------------------------------------------------------------- */

/* A network with random weights and batch-norm statistics other than 0 and 1. */
static void random_network(cnn *c)
{
    assert_int_equal(cnn_init(c, SIZE, WIDTH), 0);
    rng r;
    rng_seed(&r, 11);
    cnn_reset(c, &r);
    for (int l = 0; l < CNN_CONVS; l++)
        for (int ch = 0; ch < c->conv[l].cout; ch++) {
            c->params[c->gamma_off[l] + ch] = 0.5f + rng_float(&r);
            c->params[c->beta_off[l] + ch] = 0.4f * rng_float(&r) - 0.1f;
            c->stats[c->mean_off[l] + ch] = 0.2f * rng_float(&r) - 0.1f;
            c->stats[c->var_off[l] + ch] = 0.05f + 0.2f * rng_float(&r);
        }
}

static void fill_input(cnn_work *w, int n, double phase)
{
    for (size_t i = 0; i < 3 * (size_t)SIZE * SIZE * (size_t)n; i++)
        w->x[i] = (float)(1.5 * sin(0.37 * (double)i + phase));
}

/* The features of n images (fill_input) on a path into out. */
static void features(const cnn *c, cnn_path path, int n, float *out, int want_dnnl)
{
    thread_pool *pool = pool_new(2);
    cnn_work w;
    assert_int_equal(cnn_work_init(&w, c, CAP, 2, 0, path), 0);
    if (want_dnnl >= 0)
        assert_int_equal(w.dnnl != NULL, want_dnnl);
    fill_input(&w, CAP, 0);
    size_t plane = (size_t)SIZE * SIZE;
    for (size_t ch = 0; ch < 3; ch++) /* the first n images: their channels packed */
        memmove(w.x + ch * plane * n, w.x + ch * plane * CAP, plane * n * sizeof *w.x);
    assert_int_equal(cnn_forward_infer(c, &w, pool, n), 0);
    memcpy(out, w.feat, (size_t)n * c->feat * sizeof *out);
    cnn_work_free(&w);
    pool_free(pool);
}

/* The largest feature difference over the largest feature. */
static double rel_error(const float *got, const float *want, size_t n)
{
    double most = 0, diff = 0;
    for (size_t i = 0; i < n; i++) {
        most = fmax(most, fabs(want[i]));
        diff = fmax(diff, fabs(got[i] - want[i]));
    }
    return diff / fmax(most, 1e-12);
}

/* Calibration on inputs like fill_input's (the largest values seen), then the codes. */
static void quantize(cnn *c, int clip)
{
    thread_pool *pool = pool_new(1);
    cnn_work w;
    assert_int_equal(cnn_work_init(&w, c, CAP, 1, 0, CNN_PATH_GEMM), 0);
    cnn_calib k = {.clip = clip};
    k.hist = calloc((size_t)CNN_CONVS * CNN_CALIB_BINS, sizeof *k.hist);
    for (k.pass = 0; k.pass < 2; k.pass++) {
        fill_input(&w, CAP, 0);
        assert_int_equal(cnn_forward_infer_seen(c, &w, pool, CAP, cnn_calib_see, &k), 0);
    }
    float act[CNN_CONVS] = {1.5f};
    cnn_calib_clips(&k, act);
    assert_int_equal(cnn_quantize(c, act), 0);
    assert_int_equal(cnn_quantize(c, act), -1); /* once */
    free(k.hist);
    cnn_work_free(&w);
    pool_free(pool);
}

/* Folding batch norm and coding the weights in 8 bits keeps the float path's features
 * within a few percent; the codes span [-127, 127], each channel's largest at the edge. */
static void coded_network_is_close_to_the_float_one(void **state)
{
    (void)state;
    cnn c;
    random_network(&c);
    size_t F = (size_t)c.feat * CAP;
    float *want = malloc(F * 4), *got = malloc(F * 4);
    features(&c, CNN_PATH_GEMM, CAP, want, 0);
    const float wild[CNN_CONVS] = {1, 1, INFINITY, 1, 1, 1, 1}, none[CNN_CONVS] = {1, 0};
    assert_int_equal(cnn_quantize(&c, wild), -2); /* bounds out of range: refused */
    assert_int_equal(cnn_quantize(&c, none), -2);
    assert_null(c.q);
    quantize(&c, 0);
    const cnn_int8 *q = c.q;
    for (int l = 0; l < CNN_CONVS; l++) {
        const conv_shape *s = &c.conv[l];
        size_t per = (size_t)s->cin * s->k * s->k;
        for (int ch = 0; ch < s->cout; ch++) {
            int most = 0;
            for (size_t i = 0; i < per; i++)
                most = abs(q->codes[q->code_off[l] + ch * per + i]) > most
                           ? abs(q->codes[q->code_off[l] + ch * per + i])
                           : most;
            assert_int_equal(most, 127);
        }
        assert_true(q->act[l] > 0);
    }
    features(&c, CNN_PATH_GEMM, CAP, got, 0);
    double e = rel_error(got, want, F);
    assert_true(e < 0.03);
    free(want);
    free(got);
    cnn_free(&c);
}

/* Where the CPU has VNNI, the AUTO path of an int8 network runs oneDNN's int8 kernels, on a
 * batch and on one image, within the activations' rounding of the float path on the same
 * codes; elsewhere AUTO runs that float path. */
static void int8_kernels_agree_with_the_float_path(void **state)
{
    (void)state;
    cnn c;
    random_network(&c);
    quantize(&c, 1);
    size_t F = (size_t)c.feat;
    float *want = malloc(F * CAP * 4), *got = malloc(F * CAP * 4), *one = malloc(F * 4);
    features(&c, CNN_PATH_GEMM, CAP, want, 0);
    int fast = cnn_dnnl_int8_fast() && cnn_dnnl_fast();
    features(&c, CNN_PATH_AUTO, CAP, got, fast);
    double e = rel_error(got, want, F * CAP);
    assert_true(e < 0.05);
    features(&c, CNN_PATH_AUTO, 1, one, fast);
    assert_true(rel_error(one, want, F) < 0.05);
    if (fast) /* one image alone is as in its batch: integer sums, in any order */
        assert_memory_equal(one, got, F * 4);
    else /* the float path cuts a batch's matrix products differently */
        assert_true(rel_error(one, got, F) < 1e-5);
    if (!fast)
        print_message("no AVX-512 VNNI here: the float path on the codes was checked\n");
    free(want);
    free(got);
    free(one);
    cnn_free(&c);
}

/* The int8 section reads back the same codes, scales, biases and activation scales, and
 * the float path's parameters made from them; a scale that is not positive is refused. */
static void int8_section_round_trips(void **state)
{
    (void)state;
    cnn_encoder *e = cnn_encoder_new(SIZE, WIDTH);
    assert_non_null(e);
    cnn_free(&e->net);
    random_network(&e->net);
    e->img = (image_settings){{0.5f, 0.4f, 0.3f}, {0.2f, 0.25f, 0.3f}, 0, 64, 0, 0, 0};
    quantize(&e->net, 1);
    for (int bad = 0; bad < 2; bad++) {
        FILE *f = tmpfile();
        assert_non_null(f);
        model_writer mw = {.f = f};
        float keep = e->net.q->scale[5];
        if (bad)
            e->net.q->scale[5] = 0;
        cnn_encoder_save_int8(&e->base, &mw);
        e->net.q->scale[5] = keep;
        assert_false(mw.failed);
        assert_true(mw.size < e->net.nparams * 4 / 3); /* about a quarter of float's */
        rewind(f);
        model_reader r = {.f = f, .left = mw.size};
        encoder *back = NULL;
        int rc = cnn_encoder_load_int8(&r, &back);
        if (bad) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(r.why, "scale"));
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(r.left, 0);
            const cnn *a = &e->net, *b = &as_const_cnn(back)->net;
            assert_non_null(b->q);
            assert_memory_equal(b->q->codes, a->q->codes, a->q->ncodes);
            assert_memory_equal(b->q->scale, a->q->scale, a->nchans * 4);
            assert_memory_equal(b->q->bias, a->q->bias, a->nchans * 4);
            assert_memory_equal(b->q->act, a->q->act, sizeof a->q->act);
            assert_memory_equal(b->params, a->params, a->nparams * 4);
        }
        encoder_free(back);
        fclose(f);
    }
    encoder_free(&e->base);
}

/* ---- shelf quantize on an image model --------------------------------------------------- */

static shelf_catalog *load_photos(const char *path)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    ro.for_images = 1;
    shelf_catalog *c = NULL;
    shelf_error err;
    if (shelf_catalog_load(path, &ro, &c, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    return c;
}

/* Top labels of the catalog's products. */
static void top_labels(const shelf_model *m, const shelf_catalog *c, int *labels)
{
    size_t n = shelf_catalog_size(c);
    shelf_product *p = calloc(n, sizeof *p);
    float *probs = calloc(n, sizeof *probs);
    int *counts = calloc(n, sizeof *counts);
    for (size_t i = 0; i < n; i++)
        p[i] = *shelf_catalog_get(c, i);
    shelf_error err;
    shelf_predict_stats st;
    if (shelf_predict_products(m, shelf_catalog_path(c), p, n, 1, 1, labels, probs, counts,
                               NULL, &st, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    free(p);
    free(probs);
    free(counts);
}

/* Calibrated on the training photos, the int8 model predicts as the float one; it says it is
 * quantized, is written smaller and read back to the same predictions; quantizing it again,
 * quantizing without calibration images, or with none readable, is refused with a reason. */
static void quantized_image_model_predicts_as_float(void **state)
{
    (void)state;
    shelf_catalog *c = load_photos(photo_catalog("photos", 48));
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.modality = SHELF_MODALITY_IMAGE;
    o.image_size = 8;
    o.width = 16;
    o.batch = 8;
    o.epochs = 6;
    o.threads = 1;
    o.seed = 3;
    o.read.require_label = 1;
    o.read.for_images = 1;
    shelf_model *m = NULL;
    shelf_error err;
    if (shelf_train(c, NULL, &o, &m, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    const char *float_path = path_of("float.shelf");
    assert_int_equal(shelf_model_save(m, float_path, &err), SHELF_OK);
    int want[48], got[48];
    top_labels(m, c, want);
    shelf_quantize_options qo = shelf_quantize_options_default();
    assert_int_equal(shelf_model_quantize(m, &qo, NULL, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--calibrate"));
    assert_false(model_quantized(m));
    /* a catalog whose photos are all missing */
    const char *gone = path_of("gone.csv");
    FILE *f = fopen(gone, "w");
    assert_non_null(f);
    fprintf(f, "id,image,category\n1,nowhere.png,Colour 0\n2,nothere.png,Colour 1\n");
    assert_int_equal(fclose(f), 0);
    shelf_catalog *none = load_photos(gone);
    qo.calibration = none;
    assert_int_equal(shelf_model_quantize(m, &qo, NULL, &err), SHELF_EDATA);
    assert_non_null(strstr(err.message, "nowhere.png"));
    assert_false(model_quantized(m));
    qo.calibration = c;
    qo.images = 20;
    shelf_quantize_report rep;
    if (shelf_model_quantize(m, &qo, &rep, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_int_equal(rep.images, 20);
    assert_int_equal(rep.bad_images, 0);
    assert_true(rep.bytes_after * 3 < rep.bytes_before);
    shelf_model_summary s;
    shelf_model_summarize(m, &s);
    assert_int_equal(s.quantized, 8);
    top_labels(m, c, got);
    int same = 0;
    for (int i = 0; i < 48; i++)
        same += got[i] == want[i];
    assert_true(same >= 46);
    assert_int_equal(shelf_model_quantize(m, &qo, NULL, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "already"));
    const char *int8_path = path_of("int8.shelf");
    assert_int_equal(shelf_model_save(m, int8_path, &err), SHELF_OK);
    shelf_model *back = NULL;
    assert_int_equal(shelf_model_load(int8_path, &back, &err), SHELF_OK);
    assert_true(model_image_int8(back));
    int again[48];
    top_labels(back, c, again);
    assert_memory_equal(again, got, sizeof got);
    FILE *a = fopen(float_path, "rb"), *b = fopen(int8_path, "rb");
    fseek(a, 0, SEEK_END);
    fseek(b, 0, SEEK_END);
    assert_true(ftell(b) * 2 < ftell(a));
    fclose(a);
    fclose(b);
    shelf_model_free(back);
    shelf_model_free(m);
    shelf_catalog_free(none);
    shelf_catalog_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(clips_follow_the_distribution),
        cmocka_unit_test(coded_network_is_close_to_the_float_one),
        cmocka_unit_test(int8_kernels_agree_with_the_float_path),
        cmocka_unit_test(int8_section_round_trips),
        cmocka_unit_test(quantized_image_model_predicts_as_float),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
