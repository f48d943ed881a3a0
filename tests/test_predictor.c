/* The predictor: made once and run many times, it gives what shelf_predict_products and
 * shelf_predict_batch give (text, image and fused models, runs longer than its batch), says
 * per product why an image was not used, and explains its predictions. Small models are
 * trained here on a generated catalog of flat-coloured WebP photos. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <webp/encode.h>

#include "core/threadpool.h"
#include "image/image_set.h"
#include "model/cnn_encoder.h"
#include "model/embed.h"
#include "model/image_model.h"
#include "model/model.h"
#include "scratch_dir.h"
#include "shelf.h"

enum { N = 24, SIDE = 12 };
static const char *colours[] = {"red", "blue", "green"};
static const unsigned char rgb_of[3][3] = {{220, 30, 30}, {30, 30, 220}, {30, 200, 30}};
static char csv[256];
static shelf_model *text_model, *image_model, *fused_model, *gru_model, *dim_model;
static unsigned char *photo; /* a valid WebP, in memory */
static size_t photo_size;

/* A flat SIDE x SIDE WebP of colour c with a little noise; the caller frees with WebPFree. */
static size_t webp_of(int c, int seed, unsigned char **out)
{
    unsigned char px[SIDE * SIDE * 3];
    for (int i = 0; i < SIDE * SIDE * 3; i++)
        px[i] = (unsigned char)(rgb_of[c][i % 3] + (i * 7 + seed * 13) % 20);
    size_t n = WebPEncodeLosslessRGB(px, SIDE, SIDE, SIDE * 3, out);
    assert_true(n > 0);
    return n;
}

static shelf_model *train_dim(shelf_modality modality, shelf_text_encoder enc, int dim)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    ro.for_images = modality == SHELF_MODALITY_IMAGE;
    char keep[8] = "id"; /* columns kept for outputs: read, and not the model's business */
    ro.keep_columns = enc == SHELF_TEXT_ENCODER_GRU ? keep : NULL;
    shelf_catalog *c = NULL;
    shelf_error err;
    assert_int_equal(shelf_catalog_load(csv, &ro, &c, &err), SHELF_OK);
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.modality = modality;
    o.read = ro;
    o.threads = 2;
    o.seed = 1;
    o.epochs = modality == SHELF_MODALITY_TEXT ? 5 : 2;
    o.image_size = 8;
    o.width = 2;
    o.batch = 8;
    o.augment = 0;
    o.text_encoder = enc;
    if (enc == SHELF_TEXT_ENCODER_GRU) {
        o.dim = 8;
        o.epochs = 10;
    }
    if (dim)
        o.dim = dim;
    shelf_model *m = NULL;
    if (shelf_train(c, NULL, &o, &m, &err) != SHELF_OK)
        fail_msg("training: %s", err.message);
    shelf_catalog_free(c);
    memset(keep, 'x', sizeof keep - 1); /* the model must not point into the caller's */
    assert_null(shelf_model_read_options(m)->keep_columns);
    return m;
}

static shelf_model *train_with(shelf_modality modality, shelf_text_encoder enc)
{
    return train_dim(modality, enc, 0);
}

static shelf_model *train(shelf_modality modality)
{
    return train_with(modality, SHELF_TEXT_ENCODER_BAG);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(scratch_setup("predictor"), 0);
    snprintf(csv, sizeof csv, "%s", path_of("train.csv"));
    FILE *f = fopen(csv, "w");
    fprintf(f, "id,title,image,category\n");
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "%d.webp", i);
        unsigned char *data = NULL;
        size_t n = webp_of(i % 3, i, &data);
        write_bytes(name, data, n);
        WebPFree(data);
        fprintf(f, "%d,%s thing %d,%s,%s\n", i, colours[i % 3], i % 5, name, colours[i % 3]);
    }
    fclose(f);
    photo_size = webp_of(1, 99, &photo);
    text_model = train(SHELF_MODALITY_TEXT);
    image_model = train(SHELF_MODALITY_IMAGE);
    fused_model = train(SHELF_MODALITY_BOTH);
    gru_model = train_with(SHELF_MODALITY_TEXT, SHELF_TEXT_ENCODER_GRU);
    dim_model = train_dim(SHELF_MODALITY_TEXT, SHELF_TEXT_ENCODER_BAG, 8); /* dense head */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    shelf_model_free(text_model);
    shelf_model_free(image_model);
    shelf_model_free(fused_model);
    shelf_model_free(gru_model);
    shelf_model_free(dim_model);
    WebPFree(photo);
    return scratch_teardown();
}

/* The training catalog, read for prediction with the model's columns. */
static shelf_catalog *catalog(const shelf_model *m)
{
    shelf_read_options ro = *shelf_model_read_options(m);
    ro.require_label = 0;
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(csv, &ro, &c, NULL), SHELF_OK);
    return c;
}

typedef struct answers {
    int labels[N * 3], counts[N];
    float probs[N * 3];
    unsigned char used[N];
} answers;

static void expect_same(const answers *a, const answers *b, size_t n, int k)
{
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(a->counts[i], b->counts[i]);
        assert_int_equal(a->used[i], b->used[i]);
        for (int j = 0; j < a->counts[i]; j++) {
            assert_int_equal(a->labels[i * k + j], b->labels[i * k + j]);
            /* batches of other sizes may round the CNN's sums differently */
            assert_true(fabsf(a->probs[i * k + j] - b->probs[i * k + j]) < 1e-5f);
        }
    }
}

/* Every product of the catalog, three runs of a predictor holding 5 at a time, against one
 * shelf_predict_products call. */
static void a_predictor_gives_what_predict_products_gives(void **state)
{
    const shelf_model *m = **(shelf_model ***)state; /* the model the test was given */
    shelf_catalog *c = catalog(m);
    shelf_product p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = *shelf_catalog_get(c, i);
    shelf_predict_stats st;
    answers want, got;
    assert_int_equal(shelf_predict_products(m, csv, p, N, 3, 2, want.labels, want.probs,
                                            want.counts, want.used, &st, NULL), SHELF_OK);
    shelf_predictor *pr = NULL;
    assert_int_equal(shelf_predictor_new(m, 2, 5, &pr, NULL), SHELF_OK);
    for (int run = 0; run < 3; run++) {
        memset(&got, 0, sizeof got);
        assert_int_equal(shelf_predictor_run(pr, csv, p, N, 3, got.labels, got.probs,
                                             got.counts, got.used, &st, NULL), SHELF_OK);
        expect_same(&want, &got, N, 3);
        assert_int_equal(st.bad_images + st.text_only, 0);
        for (size_t i = 0; i < N; i++)
            assert_null(shelf_predictor_image_error(pr, i));
    }
    shelf_predictor_free(pr);
    shelf_catalog_free(c);
}

/* A predictor of m (threads, max_batch batch) that has run p[0..n) into got. */
static shelf_predictor *ran(const shelf_model *m, int threads, size_t batch,
                            const shelf_product *p, size_t n, int k, answers *got,
                            shelf_predict_stats *st)
{
    shelf_predictor *pr = NULL;
    assert_int_equal(shelf_predictor_new(m, threads, batch, &pr, NULL), SHELF_OK);
    assert_int_equal(shelf_predictor_run(pr, "-", p, n, k, got->labels, got->probs,
                                         got->counts, got->used, st, NULL), SHELF_OK);
    return pr;
}

static void a_text_predictor_gives_what_predict_batch_gives(void **state)
{
    (void)state;
    const char *texts[] = {"red thing", "blue thing 3", "", "green", "red blue thing"};
    answers want, got;
    assert_int_equal(shelf_predict_batch(text_model, texts, 5, 2, 1, want.labels, want.probs,
                                         want.counts, NULL), SHELF_OK);
    shelf_product p[5];
    for (int i = 0; i < 5; i++)
        p[i] = (shelf_product){"x", texts[i], "", "", i + 2, NULL, 0};
    shelf_predict_stats st;
    shelf_predictor *pr = ran(text_model, 2, 0, p, 5, 2, &got, &st);
    memset(want.used, SHELF_USED_TEXT, 5);
    expect_same(&want, &got, 5, 2);
    shelf_predictor_free(pr);
}

/* Images in memory, as the server has them: a good one, bytes that are no image, none. */
static void a_fused_predictor_says_why_an_image_was_not_used(void **state)
{
    (void)state;
    static const unsigned char junk[] = "GIF89a, not really";
    shelf_product p[3] = {
        {"good", "blue thing", "", "products[0].image_base64", 0, photo, photo_size},
        {"junk", "blue thing", "", "products[1].image_base64", 0, junk, sizeof junk},
        {"none", "blue thing", "", "", 0, NULL, 0}};
    answers got;
    shelf_predict_stats st;
    shelf_predictor *pr = ran(fused_model, 2, 2, p, 3, 1, &got, &st);
    assert_int_equal(got.used[0], SHELF_USED_TEXT | SHELF_USED_IMAGE);
    assert_int_equal(got.used[1], SHELF_USED_TEXT);
    assert_int_equal(got.used[2], SHELF_USED_TEXT);
    assert_int_equal(st.text_only, 2);
    assert_null(shelf_predictor_image_error(pr, 0));
    const char *why = shelf_predictor_image_error(pr, 1);
    assert_non_null(why);
    assert_true(strncmp(why, "products[1].image_base64: ", 26) == 0);
    assert_non_null(strstr(shelf_predictor_image_error(pr, 2), "no image"));
    assert_null(shelf_predictor_image_error(pr, 3));
    /* the next run forgets them */
    assert_int_equal(shelf_predictor_run(pr, "-", p, 1, 1, got.labels, got.probs, got.counts,
                                         got.used, &st, NULL), SHELF_OK);
    assert_null(shelf_predictor_image_error(pr, 1));
    shelf_predictor_free(pr);
}

/* A fused model's product whose text is empty or of words the model never saw is
 * classified by its image side alone, exactly as that side gives it; with no usable image
 * either, it is an error row that says both. */
static void a_fused_product_without_a_known_word_is_its_image_sides(void **state)
{
    (void)state;
    const shelf_model *m = fused_model;
    shelf_product p[4] = {
        {"empty", "", "", "products[0].image_base64", 0, photo, photo_size},
        {"unknown", "zqxj vwkq", "", "products[1].image_base64", 0, photo, photo_size},
        {"neither", "", "", "", 0, NULL, 0},
        {"both", "blue thing", "", "products[3].image_base64", 0, photo, photo_size}};
    answers got;
    shelf_predict_stats st;
    shelf_predictor *pr = ran(m, 2, 4, p, 4, 3, &got, &st);
    assert_int_equal(got.used[0], SHELF_USED_IMAGE);
    assert_int_equal(got.used[1], SHELF_USED_IMAGE);
    assert_int_equal(got.counts[2], -1);
    assert_int_equal(got.used[3], SHELF_USED_TEXT | SHELF_USED_IMAGE);
    assert_int_equal(st.image_only, 2);
    assert_int_equal(st.text_only, 0);
    assert_int_equal(st.bad_images, 1);
    const char *why = shelf_predictor_image_error(pr, 2);
    assert_non_null(why);
    assert_non_null(strstr(why, "no image"));
    assert_non_null(strstr(why, "no word the model knows"));
    assert_non_null(strstr(st.first_bad, "no word the model knows"));
    /* the image side alone: the CNN and its head, a softmax, no fused temperature */
    image_set set;
    const char *ref = p[0].image;
    long line = 0;
    thread_pool *pool = pool_new(1);
    assert_int_equal(image_set_load(&set, "-", &ref, &line, p, 1, image_encoder_size(m->image),
                                    pool, NULL), SHELF_OK);
    encoder_work *w = cnn_encoder_work_new(m->image, 1, 0, pool);
    assert_non_null(w);
    int K = shelf_model_num_labels(m);
    float *side = calloc((size_t)K, sizeof *side);
    assert_non_null(side);
    assert_int_equal(image_model_probs(m->image, &m->image_head, w, 1, set.pix, 1, 0, side,
                                       NULL, 0), 0);
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < got.counts[i]; j++) {
            int label = got.labels[i * 3 + j];
            assert_true(fabsf(got.probs[i * 3 + j] - side[label]) < 1e-6f);
            for (int other = 0; other < K; other++) /* and the best ones, in order */
                assert_true(j > 0 || side[other] <= side[label]);
        }
    free(side);
    m->image->ops->work_free(w);
    image_set_free(&set);
    pool_free(pool);
    shelf_predictor_free(pr);
}

static void an_image_model_leaves_out_a_product_whose_image_is_bad(void **state)
{
    (void)state;
    shelf_product p[2] = {{"a", "", "", "image", 0, (const unsigned char *)"xx", 2},
                          {"b", "", "", "image", 0, photo, photo_size}};
    answers got;
    shelf_predict_stats st;
    shelf_predictor *pr = ran(image_model, 1, 0, p, 2, 1, &got, &st);
    assert_int_equal(got.counts[0], -1);
    assert_int_equal(got.used[0], 0);
    assert_int_equal(got.counts[1], 1);
    assert_int_equal(got.used[1], SHELF_USED_IMAGE);
    assert_int_equal(st.bad_images, 1);
    assert_true(strncmp(shelf_predictor_image_error(pr, 0), "image: ", 7) == 0);
    assert_int_equal(shelf_predictor_run(pr, "-", p, 2, 0, got.labels, got.probs, got.counts,
                                         got.used, &st, NULL), SHELF_EINVAL);
    shelf_predictor_free(pr);
}

static void image_check_tells_images_from_other_bytes(void **state)
{
    (void)state;
    shelf_error err;
    assert_int_equal(shelf_image_check(photo, photo_size, &err), SHELF_OK);
    assert_int_equal(shelf_image_check(photo, photo_size / 2, &err), SHELF_EDATA);
    assert_int_equal(shelf_image_check((const unsigned char *)"hello", 5, &err), SHELF_EDATA);
    assert_true(err.message[0] != '\0');
}

/* Product i's explanation of its best label after a run of m on p (threads threads). */
static cJSON *explained(const shelf_model *m, int threads, const shelf_product *p, size_t n,
                        size_t i, char **text)
{
    answers got;
    shelf_predict_stats st;
    shelf_predictor *pr = ran(m, threads, 0, p, n, 1, &got, &st);
    char *json = NULL;
    shelf_error err = {0};
    if (shelf_predictor_explain(pr, "-", p, i, got.labels[i], &json, &err) != SHELF_OK)
        fail_msg("explain: %s", err.message);
    shelf_predictor_free(pr);
    cJSON *doc = cJSON_Parse(json);
    assert_non_null(doc);
    assert_string_equal(cJSON_GetObjectItem(doc, "label")->valuestring,
                        shelf_model_label(m, got.labels[i]));
    if (text)
        *text = json;
    else
        free(json);
    return doc;
}

static double number(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(o, name);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* The bag's token weights and its bias sum to the margin they explain, which is the
 * label's log-probability over the runner-up's (times the temperature); the same
 * explanation on 1 and 2 threads. */
static void bag_explanations_sum_to_their_margin(void)
{
    const char *texts[] = {"red thing 3", "blue blue thing", "green thing 4 red"};
    shelf_product p[3];
    for (int i = 0; i < 3; i++)
        p[i] = (shelf_product){"x", texts[i], "", "", i + 2, NULL, 0};
    const int K = shelf_model_num_labels(text_model);
    for (size_t i = 0; i < 3; i++) {
        char *one = NULL, *two = NULL;
        cJSON *doc = explained(text_model, 1, p, 3, i, &one);
        cJSON_Delete(explained(text_model, 2, p, 3, i, &two));
        assert_string_equal(one, two);
        const cJSON *t = cJSON_GetObjectItem(doc, "text");
        assert_string_equal(cJSON_GetObjectItem(t, "method")->valuestring, "exact");
        double sum = number(t, "bias"), margin = number(t, "margin");
        const cJSON *tok;
        int n = 0;
        cJSON_ArrayForEach(tok, cJSON_GetObjectItem(t, "tokens"))
        {
            sum += number(tok, "weight");
            n++;
        }
        assert_true(n >= 2);
        assert_true(fabs(sum - margin) < 1e-4 * fmax(1, fabs(margin)));
        /* the margin against the probabilities */
        answers all;
        assert_int_equal(shelf_predict_batch(text_model, texts + i, 1, K, 1, all.labels,
                                             all.probs, all.counts, NULL), SHELF_OK);
        int versus = shelf_model_find_label(
            text_model, cJSON_GetObjectItem(t, "versus")->valuestring);
        float pv = 0;
        for (int j = 0; j < all.counts[0]; j++)
            pv = all.labels[j] == versus ? all.probs[j] : pv;
        double want = (log(all.probs[0]) - log(pv)) * text_model->temperature;
        assert_true(fabs(margin - want) < 1e-3 * fmax(1, fabs(want)));
        free(one);
        free(two);
        cJSON_Delete(doc);
    }
}

/* The same with --balance adjust's logit adjustment, which moves the margin (and the
 * runner-up) by a constant the bias carries. */
static void a_bag_explanation_sums_to_its_margin(void **state)
{
    (void)state;
    bag_explanations_sum_to_their_margin();
    const int K = shelf_model_num_labels(text_model);
    float *prior = malloc((size_t)K * sizeof *prior);
    assert_non_null(prior);
    for (int c = 0; c < K; c++) /* the first label common, the others rare */
        prior[c] = logf(c == 0 ? 0.8f : 0.2f / (float)(K - 1));
    text_model->log_prior = prior;
    text_model->adjust_tau = 0.7f;
    bag_explanations_sum_to_their_margin();
    text_model->log_prior = NULL;
    text_model->adjust_tau = 0;
    free(prior);
}

/* Texts longer than the tokens explained: the bag splits all of them, occlusion the first
 * EXPLAIN_MAX_TOKENS (256) reading the rest unchanged; a product outside the last run is
 * refused. */
static void long_texts_are_explained_whole_or_up_to_the_cap(void **state)
{
    (void)state;
    char *text = malloc(300 * 8 + 1);
    assert_non_null(text);
    size_t at = 0;
    for (int i = 0; i < 300; i++)
        at += (size_t)sprintf(text + at, "%s ", i % 2 ? "blue" : "thing");
    shelf_product p = {"long", text, "", "", 2, NULL, 0};
    const shelf_model *models[2] = {text_model, gru_model};
    const int want[2] = {300, 256};
    for (int k = 0; k < 2; k++) {
        cJSON *doc = explained(models[k], 1, &p, 1, 0, NULL);
        const cJSON *t = cJSON_GetObjectItem(doc, "text");
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(t, "tokens")), want[k]);
        cJSON_Delete(doc);
    }
    answers got;
    shelf_predict_stats st;
    shelf_predictor *pr = ran(text_model, 1, 0, &p, 1, 1, &got, &st);
    char *json = NULL;
    shelf_error err = {0};
    assert_int_equal(shelf_predictor_explain(pr, "-", &p, 1, got.labels[0], &json, &err),
                     SHELF_EINVAL);
    assert_null(json);
    shelf_predictor_free(pr);
    free(text);
}

/* A sequence encoder by occlusion: a weight per token, the best first. */
static void a_gru_explanation_occludes_each_token(void **state)
{
    (void)state;
    shelf_product p = {"x", "blue thing 2 blue", "", "", 2, NULL, 0};
    cJSON *doc = explained(gru_model, 2, &p, 1, 0, NULL);
    const cJSON *t = cJSON_GetObjectItem(doc, "text");
    assert_string_equal(cJSON_GetObjectItem(t, "method")->valuestring, "occlusion");
    assert_null(cJSON_GetObjectItem(t, "bias"));
    const cJSON *tok;
    int n = 0;
    double last = INFINITY;
    cJSON_ArrayForEach(tok, cJSON_GetObjectItem(t, "tokens"))
    {
        double w = number(tok, "weight");
        assert_true(w <= last);
        last = w;
        n++;
    }
    assert_int_equal(n, 4);
    cJSON_Delete(doc);
}

/* An image model's 4 x 4 grid; a fused model's product explains the sides it has, and its
 * fusion weights. */
static void explanations_cover_the_sides_a_product_has(void **state)
{
    (void)state;
    shelf_product p[3] = {
        {"both", "blue thing", "", "products[0].image_base64", 0, photo, photo_size},
        {"no image", "blue thing", "", "", 0, NULL, 0},
        {"no text", "", "", "products[2].image_base64", 0, photo, photo_size}};
    cJSON *doc = explained(image_model, 2, p, 1, 0, NULL);
    const cJSON *grid = cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "image"), "grid");
    assert_int_equal(cJSON_GetArraySize(grid), 4);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetArrayItem(grid, 3)), 4);
    assert_null(cJSON_GetObjectItem(doc, "text"));
    cJSON_Delete(doc);
    static const char *const has[3][2] = {{"text", "image"}, {"text", NULL}, {NULL, "image"}};
    for (size_t i = 0; i < 3; i++) {
        doc = explained(fused_model, 2, p, 3, i, NULL);
        for (int side = 0; side < 2; side++) {
            const char *name = side ? "image" : "text";
            if (has[i][side])
                assert_non_null(cJSON_GetObjectItem(doc, name));
            else
                assert_null(cJSON_GetObjectItem(doc, name));
        }
        const cJSON *f = cJSON_GetObjectItem(doc, "fusion");
        assert_non_null(f);
        assert_true(number(f, "text") == (i == 2 ? 0 : number(f, "text")));
        assert_true(number(f, "image") == (i == 1 ? 0 : number(f, "image")));
        cJSON_Delete(doc);
    }
}

/* Explanations of a whole run at once (shelf_predictor_explain_many), after a run that
 * explained as it predicted (shelf_predictor_explain_best) or not: the same labels and
 * probabilities as a plain run, the same objects as one shelf_predictor_explain each, on 1 and
 * 2 threads; a label other than the best is explained afresh; -1 explains nothing. */
static void a_run_explains_what_one_product_at_a_time_explains(void **state)
{
    (void)state;
    shelf_product p[6] = {
        {"a", "red thing 3", "", "", 2, NULL, 0},
        {"b", "blue blue thing", "", "products[1].image_base64", 3, photo, photo_size},
        {"c", "", "", "", 4, NULL, 0},
        {"d", "green thing 4 red", "", "products[3].image_base64", 5, photo, photo_size},
        {"e", "zzz unknown", "", "", 6, NULL, 0},
        {"f", "thing \"quoted\" \\ back", "", "", 7, NULL, 0}};
    const shelf_model *models[4] = {text_model, dim_model, gru_model, fused_model};
    for (int mi = 0; mi < 4; mi++) {
        const shelf_model *m = models[mi];
        size_t n = m == fused_model ? 4 : 6; /* a fused product needs a side */
        for (int threads = 1; threads <= 2; threads++) {
            for (int best = 0; best < 2; best++) {
                answers plain, got;
                shelf_predict_stats st;
                shelf_predictor_free(ran(m, threads, 0, p, n, 2, &plain, &st));
                shelf_predictor *pr = NULL;
                assert_int_equal(shelf_predictor_new(m, threads, 0, &pr, NULL), SHELF_OK);
                shelf_predictor_explain_best(pr, best);
                assert_int_equal(shelf_predictor_run(pr, "-", p, n, 2, got.labels, got.probs,
                                                     got.counts, got.used, &st, NULL),
                                 SHELF_OK);
                expect_same(&plain, &got, n, 2);
                int labels[6];
                const char *json[7];
                for (size_t i = 0; i < n; i++) /* the best; the second for one; none for one */
                    labels[i] = got.counts[i] <= 0 ? -1 : i == 1 ? -1
                                : got.labels[i * 2 + (i == 3 && got.counts[i] > 1)];
                shelf_error err = {0};
                assert_int_equal(shelf_predictor_explain_many(pr, "-", p, n, labels, json, &err),
                                 SHELF_OK);
                for (size_t i = 0; i < n; i++) {
                    if (labels[i] < 0) {
                        assert_null(json[i]);
                        continue;
                    }
                    char *one = NULL;
                    assert_int_equal(shelf_predictor_explain(pr, "-", p, i, labels[i], &one,
                                                             &err), SHELF_OK);
                    if (strcmp(json[i], one))
                        fail_msg("model %d, %d threads, best %d, product %zu:\n%s\n%s", mi,
                                 threads, best, i, json[i], one);
                    cJSON *doc = cJSON_Parse(json[i]);
                    assert_non_null(doc);
                    cJSON_Delete(doc);
                    free(one);
                }
                /* again, every product for its runner-up: explained afresh, the buffers
                   reused */
                for (size_t i = 0; i < n; i++)
                    labels[i] = got.counts[i] > 1 ? got.labels[i * 2 + 1] : -1;
                assert_int_equal(shelf_predictor_explain_many(pr, "-", p, n, labels, json, &err),
                                 SHELF_OK);
                for (size_t i = 0; i < n; i++) {
                    char *one = NULL;
                    if (labels[i] < 0) {
                        assert_null(json[i]);
                        continue;
                    }
                    assert_int_equal(shelf_predictor_explain(pr, "-", p, i, labels[i], &one,
                                                             &err), SHELF_OK);
                    assert_string_equal(json[i], one);
                    free(one);
                }
                labels[0] = m == fused_model ? 99 : shelf_model_num_labels(m);
                assert_int_equal(shelf_predictor_explain_many(pr, "-", p, n, labels, json, &err),
                                 SHELF_EINVAL);
                assert_int_equal(shelf_predictor_explain_many(pr, "-", p, n + 1, labels, json,
                                                              &err), SHELF_EINVAL);
                shelf_predictor_free(pr);
            }
        }
    }
}

/* ---- embeddings ---------------------------------------------------------------------- */

static float dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t d = 0; d < n; d++)
        s += (double)a[d] * b[d];
    return (float)s;
}

/* Every product of the catalog: unit vectors of the model's length, the same from a
 * predictor holding 5 at a time on one thread as from shelf_embed on two, and products of
 * one colour nearer each other than products of two (where the model tells them apart). */
static void embeddings_are_unit_vectors_that_group_a_label(void **state)
{
    const shelf_model *m = **(shelf_model ***)state;
    shelf_catalog *c = catalog(m);
    shelf_product p[N];
    for (size_t i = 0; i < N; i++)
        p[i] = *shelf_catalog_get(c, i);
    size_t dim = shelf_embedding_dim(m);
    size_t K = (size_t)shelf_model_num_labels(m);
    assert_true(dim > K);
    float *want = calloc(N * dim, sizeof *want), *got = calloc(N * dim, sizeof *got);
    unsigned char ok[N], ok2[N];
    shelf_predict_stats st;
    assert_int_equal(shelf_embed(m, csv, p, N, 2, want, ok, &st, NULL), SHELF_OK);
    shelf_predictor *pr = NULL;
    assert_int_equal(shelf_predictor_new(m, 1, 5, &pr, NULL), SHELF_OK);
    assert_int_equal(shelf_predictor_embed(pr, csv, p, N, got, ok2, NULL, NULL), SHELF_OK);
    double same = 0, other = 0;
    int nsame = 0, nother = 0;
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(ok[i], 1);
        assert_int_equal(ok2[i], 1);
        assert_true(fabsf(dot(want + i * dim, want + i * dim, dim) - 1) < 1e-5f);
        for (size_t d = 0; d < dim; d++) /* batches of other sizes may round the CNN's sums */
            assert_true(fabsf(want[i * dim + d] - got[i * dim + d]) < 1e-5f);
        for (size_t j = 0; j < i; j++) {
            float cos = dot(want + i * dim, want + j * dim, dim);
            if (i % 3 == j % 3)
                same += cos, nsame++;
            else
                other += cos, nother++;
        }
    }
    /* the CNN trained here (2 epochs, 2 channels) hardly tells the colours apart; the GRU's
       pooled features are all alike in sign, so its cosines are all near 1 */
    float margin = m == image_model ? -1 : m == gru_model ? 0 : 0.1f;
    assert_true(same / nsame > other / nother + margin);
    /* the predictor still predicts after embedding */
    answers a;
    assert_int_equal(shelf_predictor_run(pr, csv, p, N, 1, a.labels, a.probs, a.counts, a.used,
                                         &st, NULL), SHELF_OK);
    assert_int_equal(a.counts[0], 1);
    assert_int_equal(shelf_predictor_embed(pr, csv, p, N, NULL, ok, NULL, NULL), SHELF_EINVAL);
    assert_int_equal(shelf_embedding_dim(NULL), 0);
    shelf_predictor_free(pr);
    free(want);
    free(got);
    shelf_catalog_free(c);
}

/* What a product lacks is zeros: a text model's text of no known word has no vector; a fused
 * model's product without a photo has its text's, without a known word its photo's, with
 * neither none (a bad image, as a prediction counts it). */
static void embeddings_leave_out_what_a_product_lacks(void **state)
{
    (void)state;
    float v[4 * 1024];
    unsigned char ok[4];
    size_t dim = shelf_embedding_dim(text_model);
    assert_true(dim < 1024);
    shelf_product t[2] = {{"a", "zqxj vwkq", "", "", 1, NULL, 0},
                          {"b", "red thing", "", "", 2, NULL, 0}};
    assert_int_equal(shelf_embed(text_model, "-", t, 2, 1, v, ok, NULL, NULL), SHELF_OK);
    assert_int_equal(ok[0], 0);
    assert_int_equal(ok[1], 1);
    assert_true(dot(v, v, dim) == 0);

    const shelf_model *m = fused_model;
    dim = shelf_embedding_dim(m);
    assert_true(dim < 1024);
    shelf_product p[4] = {
        {"text", "blue thing", "", "", 0, NULL, 0},
        {"photo", "zqxj", "", "products[1].image_base64", 0, photo, photo_size},
        {"neither", "", "", "", 0, NULL, 0},
        {"both", "blue thing", "", "products[3].image_base64", 0, photo, photo_size}};
    shelf_predict_stats st;
    assert_int_equal(shelf_embed(m, "-", p, 4, 2, v, ok, &st, NULL), SHELF_OK);
    assert_int_equal(ok[0], 1);
    assert_int_equal(ok[1], 1);
    assert_int_equal(ok[2], 0);
    assert_int_equal(ok[3], 1);
    assert_int_equal(st.bad_images, 1);
    /* text alone: its part is the whole vector; photo alone: the same for the photo */
    double text_part = 0, photo_part = 0;
    for (size_t d = 0; d < dim; d++) {
        text_part += (double)v[0 * dim + d] * v[0 * dim + d];
        photo_part += (double)v[1 * dim + d] * v[1 * dim + d];
        assert_true(v[0 * dim + d] == 0 || v[1 * dim + d] == 0); /* apart */
        assert_true(v[2 * dim + d] == 0);
    }
    assert_true(fabs(text_part - 1) < 1e-5 && fabs(photo_part - 1) < 1e-5);
    /* both: the same text and the same photo, each side at half the weight */
    assert_true(fabsf(dot(v, v + 3 * dim, dim) - sqrtf(0.5f)) < 1e-3f);
    assert_true(fabsf(dot(v + dim, v + 3 * dim, dim) - sqrtf(0.5f)) < 1e-3f);
}

/* The sparse bag's projection keeps TF-IDF cosines; dense features keep their width. */
static void a_sparse_bag_projection_keeps_cosines(void **state)
{
    (void)state;
    enum { NNZ = 40 };
    uint32_t rows_a[NNZ], rows_b[NNZ];
    float vals_a[NNZ], vals_b[NNZ];
    for (int i = 0; i < NNZ; i++) { /* half the rows shared: a cosine of 0.5 */
        rows_a[i] = (uint32_t)i;
        rows_b[i] = (uint32_t)(i < NNZ / 2 ? i : 1000 + i);
        vals_a[i] = vals_b[i] = 1;
    }
    sparse_vec xs[2] = {{rows_a, vals_a, NNZ, NNZ}, {rows_b, vals_b, NNZ, NNZ}};
    encoder_features f = {.n = 2, .width = 5000, .sparse = xs};
    float a[EMBED_PROJECTION], b[EMBED_PROJECTION];
    embed_features(&f, 0, a);
    embed_features(&f, 1, b);
    assert_true(fabsf(dot(a, a, EMBED_PROJECTION) - 1) < 1e-5f);
    float cos = dot(a, b, EMBED_PROJECTION);
    assert_true(cos > 0.3f && cos < 0.7f); /* 0.5, give or take the projection's 1/16 */
    sparse_vec none = {NULL, NULL, 0, 0};
    encoder_features g = {.n = 1, .width = 5000, .sparse = &none};
    embed_features(&g, 0, a);
    assert_true(dot(a, a, EMBED_PROJECTION) == 0);
    /* the dense models: width of the features, plus the labels' probabilities */
    size_t K = (size_t)shelf_model_num_labels(dim_model);
    assert_int_equal(shelf_embedding_dim(dim_model), 8 + K);
    assert_int_equal(shelf_embedding_dim(text_model), EMBED_PROJECTION + K);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* text, image and fused models, trained by setup: given by address */
        cmocka_unit_test_prestate(a_predictor_gives_what_predict_products_gives, &text_model),
        cmocka_unit_test_prestate(a_predictor_gives_what_predict_products_gives, &image_model),
        cmocka_unit_test_prestate(a_predictor_gives_what_predict_products_gives, &fused_model),
        cmocka_unit_test(a_text_predictor_gives_what_predict_batch_gives),
        cmocka_unit_test(a_fused_predictor_says_why_an_image_was_not_used),
        cmocka_unit_test(an_image_model_leaves_out_a_product_whose_image_is_bad),
        cmocka_unit_test(a_fused_product_without_a_known_word_is_its_image_sides),
        cmocka_unit_test(image_check_tells_images_from_other_bytes),
        cmocka_unit_test(a_bag_explanation_sums_to_its_margin),
        cmocka_unit_test(a_gru_explanation_occludes_each_token),
        cmocka_unit_test(long_texts_are_explained_whole_or_up_to_the_cap),
        cmocka_unit_test(explanations_cover_the_sides_a_product_has),
        cmocka_unit_test(a_run_explains_what_one_product_at_a_time_explains),
        cmocka_unit_test_prestate(embeddings_are_unit_vectors_that_group_a_label, &text_model),
        cmocka_unit_test_prestate(embeddings_are_unit_vectors_that_group_a_label, &image_model),
        cmocka_unit_test_prestate(embeddings_are_unit_vectors_that_group_a_label, &fused_model),
        cmocka_unit_test_prestate(embeddings_are_unit_vectors_that_group_a_label, &gru_model),
        cmocka_unit_test_prestate(embeddings_are_unit_vectors_that_group_a_label, &dim_model),
        cmocka_unit_test(embeddings_leave_out_what_a_product_lacks),
        cmocka_unit_test(a_sparse_bag_projection_keeps_cosines),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
