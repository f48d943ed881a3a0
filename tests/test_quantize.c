/* int8 models (shelf quantize): the int8 rows against the float weights they come from,
 * their forward pass against the float layer's, and a quantized bag model that predicts,
 * explains, embeds and round-trips through its file as the float one does; pruning keeps
 * the features asked for; refusals leave the model as it was. */
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
#include "nn/embedding.h"
#include "nn/int8_rows.h"
#include "nn/sparse_linear.h"
#include "numeric.h"
#include "scratch_dir.h"
#include "shelf.h"

/* ---- the int8 rows ------------------------------------------------------------------- */

static void codes_round_each_row_to_its_largest(void **state)
{
    (void)state;
    /* row 0: one weight (sparse); row 1: all of them (dense); row 2: zeros */
    const float W[3][4] = {{0, 0, 2.0f, 0}, {1.0f, -0.5f, 0.25f, 0.127f}, {0, 0, 0, 0}};
    int8_rows q;
    assert_int_equal(int8_rows_quantize(&q, &W[0][0], 4, NULL, 3, 0), 0);
    assert_true(int8_rows_valid(&q));
    assert_int_equal(q.start[1] - q.start[0], 1); /* sparse: its one weight */
    assert_int_equal(q.cstart[1] - q.cstart[0], 1);
    assert_int_equal(q.col[0], 2);
    assert_int_equal(q.start[2] - q.start[1], 4); /* dense: no columns */
    assert_int_equal(q.cstart[2] - q.cstart[1], 0);
    assert_int_equal(q.start[3] - q.start[2], 0);
    assert_close(q.scale[1], 1.0 / 127, 1e-7);
    /* 1 -> 127, -0.5 -> -64 (63.5 rounds to even: -64), 0.25 -> 32 (31.75), 0.127 -> 16 */
    assert_int_equal(q.code[q.start[1]], 127);
    assert_int_equal(q.code[q.start[1] + 1], -64);
    assert_int_equal(q.code[q.start[1] + 2], 32);
    assert_int_equal(q.code[q.start[1] + 3], 16);
    assert_close(int8_rows_get(&q, 0, 2), 2.0, 1e-6);
    assert_close(int8_rows_get(&q, 0, 1), 0.0, 0);
    assert_close(int8_rows_get(&q, 1, 1), -64.0 / 127, 1e-6);
    assert_close(int8_rows_get(&q, 2, 3), 0.0, 0);
    int8_rows_free(&q);
}

static void drop_leaves_out_the_small_weights(void **state)
{
    (void)state;
    const float W[2][6] = {{1, 0.01f, -0.03f, 0.2f, 0, 0}, {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f}};
    const uint32_t keep[1] = {0};
    int8_rows q;
    assert_int_equal(int8_rows_quantize(&q, &W[0][0], 6, keep, 1, 0.05f), 0);
    assert_int_equal(q.nrows, 1);
    assert_int_equal(int8_rows_ncodes(&q), 2); /* 1 and 0.2; 0.01 and -0.03 below 0.05 */
    assert_close(int8_rows_get(&q, 0, 3), 0.2, 1.0 / 254);
    assert_close(int8_rows_get(&q, 0, 2), 0.0, 0);
    int8_rows_free(&q);
    const uint32_t second[1] = {1}; /* keep picks the rows */
    assert_int_equal(int8_rows_quantize(&q, &W[0][0], 6, second, 1, 0), 0);
    assert_int_equal(int8_rows_ncodes(&q), 6);
    assert_close(int8_rows_get(&q, 0, 5), 0.5, 1e-6);
    int8_rows_free(&q);
}

/* The int8 forward pass is the float layer's over the rounded weights, to within the
 * rounding: half a step of each row's scale, per unit of input. */
static void forward_matches_the_float_layer(void **state)
{
    (void)state;
    enum { R = 40, C = 300, NNZ = 9 };
    static float W[R * C], b[C], out_f[C], out_q[C];
    rng r;
    rng_seed(&r, 7);
    for (int i = 0; i < R * C; i++) /* rows of every density: row i keeps about i/R */
        W[i] = rng_float(&r) < (double)(i / C) / R ? (float)(rng_float(&r) * 2 - 1) : 0;
    for (int k = 0; k < C; k++)
        b[k] = (float)k / C;
    const uint32_t rows[NNZ] = {0, 3, 7, 12, 19, 25, 31, 38, 39};
    float vals[NNZ], bound = 0;
    for (int j = 0; j < NNZ; j++)
        vals[j] = (float)(rng_float(&r) - 0.5);
    int8_rows q;
    assert_int_equal(int8_rows_quantize(&q, W, C, NULL, R, 0), 0);
    assert_true(int8_rows_valid(&q));
    int dense = 0, sparse = 0;
    for (int i = 0; i < R; i++) {
        dense += q.start[i + 1] - q.start[i] == C;
        sparse += q.start[i + 1] - q.start[i] < C && q.start[i + 1] > q.start[i];
    }
    assert_true(dense > 0 && sparse > 0);
    for (int j = 0; j < NNZ; j++)
        bound += fabsf(vals[j]) * q.scale[rows[j]] * 0.5f;
    sparse_linear_forward(out_f, rows, vals, NNZ, W, b, C);
    int8_sparse_forward(out_q, rows, vals, NNZ, &q, b);
    for (int k = 0; k < C; k++)
        assert_close(out_q[k], out_f[k], bound * 1.001 + 1e-6);
    int8_rows_free(&q);
}

static void damaged_rows_are_refused(void **state)
{
    (void)state;
    const float W[2][4] = {{0, 0, 1, 0}, {0, 1, 0, 0.5f}};
    int8_rows q;
    assert_int_equal(int8_rows_quantize(&q, &W[0][0], 4, NULL, 2, 0), 0);
    assert_true(int8_rows_valid(&q));
    q.col[0] = 9; /* out of range */
    assert_false(int8_rows_valid(&q));
    q.col[0] = 2;
    q.scale[1] = NAN;
    assert_false(int8_rows_valid(&q));
    q.scale[1] = 1;
    q.cstart[1] = 0; /* a sparse row without its columns */
    assert_false(int8_rows_valid(&q));
    int8_rows_free(&q);
}

/* ---- a quantized model --------------------------------------------------------------- */

static const char *labels[] = {"Apparel > Tops", "Apparel > Jeans", "Kitchen > Knives",
                               "Garden > Hoses"};
static const char *words[][4] = {{"cotton", "tee", "crew", "shirt"},
                                 {"denim", "jeans", "slim", "indigo"},
                                 {"steel", "knife", "chef", "blade"},
                                 {"garden", "hose", "spray", "nozzle"}};
enum { ROWS = 320 };
static char train_csv[256];

static void title(int i, char *t, size_t n)
{
    int c = i % 4;
    snprintf(t, n, "%s %s brand%d", words[c][i % 4], words[c][(i / 4) % 4], i % 7);
}

static int setup(void **state)
{
    (void)state;
    if (scratch_setup("quantize"))
        return -1;
    snprintf(train_csv, sizeof train_csv, "%s", path_of("train.csv"));
    FILE *f = fopen(train_csv, "w");
    if (!f)
        return -1;
    fprintf(f, "id,title,category\n");
    for (int i = 0; i < ROWS; i++) {
        char t[96];
        title(i, t, sizeof t);
        fprintf(f, "%d,%s,%s\n", i, t, labels[i % 4]);
    }
    return fclose(f);
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

static shelf_model *train(int hierarchy, shelf_text_encoder enc)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL;
    shelf_error err;
    if (shelf_catalog_load(train_csv, &ro, &c, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.threads = 1;
    o.seed = 1;
    o.epochs = 6;
    o.hierarchy = hierarchy;
    o.text_encoder = enc;
    if (enc != SHELF_TEXT_ENCODER_BAG)
        o.dim = 8, o.max_tokens = 6, o.heads = 2, o.layers = 1;
    shelf_model *m = NULL;
    if (shelf_train(c, NULL, &o, &m, &err) != SHELF_OK)
        fail_msg("training: %s", err.message);
    shelf_catalog_free(c);
    return m;
}

/* Every training title's best label and its probability. */
static void predict_all(const shelf_model *m, int *label, float *prob)
{
    const char *texts[ROWS];
    char buf[ROWS][96];
    for (int i = 0; i < ROWS; i++) {
        title(i, buf[i], sizeof buf[i]);
        texts[i] = buf[i];
    }
    int counts[ROWS];
    assert_int_equal(shelf_predict_batch(m, texts, ROWS, 1, 1, label, prob, counts, NULL),
                     SHELF_OK);
}

/* The quantized m says it is int8 (its description naming what: marker) and predicts as
 * the float model did (lf, pf): the same best labels, probabilities within tol; its own
 * predictions into lq, pq. */
static void predicts_as_float(const shelf_model *m, const char *marker, const int *lf,
                              const float *pf, double tol, int *lq, float *pq)
{
    shelf_model_summary sum;
    shelf_model_summarize(m, &sum);
    assert_int_equal(sum.quantized, 8);
    char *d = shelf_model_describe(m, 0);
    assert_non_null(strstr(d, marker));
    free(d);
    predict_all(m, lq, pq);
    for (int i = 0; i < ROWS; i++) {
        assert_int_equal(lq[i], lf[i]);
        assert_close(pq[i], pf[i], tol);
    }
}

/* m written to path and read back: the same predictions (lq, pq), to the bit, and
 * quantizing it once more refused, saying so. Returns the model read (the caller frees). */
static shelf_model *read_back(const shelf_model *m, const char *path, const int *lq,
                              const float *pq)
{
    static int lb[ROWS];
    static float pb[ROWS];
    shelf_error err;
    assert_int_equal(shelf_model_save(m, path, NULL), SHELF_OK);
    shelf_model *back = NULL;
    if (shelf_model_load(path, &back, &err) != SHELF_OK)
        fail_msg("load: %s", err.message);
    predict_all(back, lb, pb);
    assert_memory_equal(lb, lq, sizeof lb);
    assert_memory_equal(pb, pq, sizeof pb);
    assert_int_equal(shelf_model_quantize(back, NULL, NULL, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "already quantized"));
    return back;
}

static void predicts_as_the_float_model(int hierarchy)
{
    shelf_model *m = train(hierarchy, SHELF_TEXT_ENCODER_BAG);
    static int lf[ROWS], lq[ROWS];
    static float pf[ROWS], pq[ROWS];
    predict_all(m, lf, pf);
    shelf_quantize_report rep;
    shelf_error err;
    if (shelf_model_quantize(m, NULL, &rep, &err) != SHELF_OK)
        fail_msg("quantize: %s", err.message);
    assert_int_equal(rep.rows_after, rep.rows_before);
    assert_true(rep.weights_after <= rep.weights_before);
    predicts_as_float(m, "int8", lf, pf, 0.02, lq, pq);
    /* the file keeps it: the same predictions, to the bit */
    char path[256];
    snprintf(path, sizeof path, "%s", path_of("int8.shelf"));
    shelf_model_free(read_back(m, path, lq, pq));
    shelf_model_free(m);
}

static void flat_model_predicts_as_float(void **s) { (void)s; predicts_as_the_float_model(0); }
static void hierarchy_predicts_as_float(void **s) { (void)s; predicts_as_the_float_model(1); }

/* The explanation of the int8 model: its token weights and bias still sum to the margin. */
static void explains_exactly(void **state)
{
    (void)state;
    shelf_model *m = train(0, SHELF_TEXT_ENCODER_BAG);
    assert_int_equal(shelf_model_quantize(m, NULL, NULL, NULL), SHELF_OK);
    shelf_predictor *p = NULL;
    assert_int_equal(shelf_predictor_new(m, 1, 0, &p, NULL), SHELF_OK);
    shelf_product prod = {.id = "x", .text = "denim slim brand3", .line = 2};
    int label[1], count[1];
    float prob[1];
    shelf_predict_stats st;
    assert_int_equal(shelf_predictor_run(p, "x.csv", &prod, 1, 1, label, prob, count, NULL,
                                         &st, NULL), SHELF_OK);
    assert_string_equal(shelf_model_label(m, label[0]), "Apparel > Jeans");
    char *json = NULL;
    shelf_error err;
    if (shelf_predictor_explain(p, "x.csv", &prod, 0, label[0], &json, &err) != SHELF_OK)
        fail_msg("explain: %s", err.message);
    assert_non_null(strstr(json, "\"exact\""));
    assert_non_null(strstr(json, "denim"));
    free(json);
    float v[4096];
    unsigned char ok[1];
    size_t dim = shelf_embedding_dim(m);
    assert_true(dim <= 4096);
    assert_int_equal(shelf_predictor_embed(p, "x.csv", &prod, 1, v, ok, NULL, NULL), SHELF_OK);
    assert_int_equal(ok[0], 1);
    shelf_predictor_free(p);
    shelf_model_free(m);
}

/* --cutoff keeps that many features, those that weigh most: still right on the titles. */
static void cutoff_keeps_the_features_that_weigh_most(void **state)
{
    (void)state;
    shelf_model *m = train(0, SHELF_TEXT_ENCODER_BAG);
    shelf_quantize_options o = shelf_quantize_options_default();
    o.cutoff = 40;
    shelf_quantize_report rep;
    assert_int_equal(shelf_model_quantize(m, &o, &rep, NULL), SHELF_OK);
    assert_int_equal(rep.rows_after, 40);
    assert_true(rep.rows_before > 40);
    static int l[ROWS];
    static float p[ROWS];
    predict_all(m, l, p);
    int right = 0;
    for (int i = 0; i < ROWS; i++)
        right += !strcmp(shelf_model_label(m, l[i]), labels[i % 4]);
    assert_true(right >= ROWS * 95 / 100);
    shelf_model_free(m);
}

/* What cannot be quantized is refused with a reason, the model left as it was. */
/* The GRU and the Transformer: their embedding table as int8 rows, the rest float. They
 * predict as the float model (the same best labels, probabilities within 0.03), to the bit
 * after a round trip through the file, which is smaller; once more is refused, and so are
 * new labels and --resume. */
static void sequence_encoder_predicts_as_float(shelf_text_encoder enc)
{
    shelf_model *m = train(0, enc);
    static int lf[ROWS], lq[ROWS];
    static float pf[ROWS], pq[ROWS];
    predict_all(m, lf, pf);
    char fpath[256], qpath[256];
    snprintf(fpath, sizeof fpath, "%s", path_of("seq-float.shelf"));
    snprintf(qpath, sizeof qpath, "%s", path_of("seq-int8.shelf"));
    assert_int_equal(shelf_model_save(m, fpath, NULL), SHELF_OK);
    shelf_quantize_report rep;
    shelf_error err;
    if (shelf_model_quantize(m, NULL, &rep, &err) != SHELF_OK)
        fail_msg("quantize: %s", err.message);
    assert_true(rep.embedding_rows > 16384);
    assert_true(rep.bytes_after * 2 < rep.bytes_before); /* 12 bytes a row of 8, not 32 */
    predicts_as_float(m, "int8 embedding table", lf, pf, 0.03, lq, pq);
    shelf_model *back = read_back(m, qpath, lq, pq);
    FILE *a = fopen(fpath, "rb"), *b = fopen(qpath, "rb");
    fseek(a, 0, SEEK_END);
    fseek(b, 0, SEEK_END);
    assert_true(ftell(b) * 2 < ftell(a));
    fclose(a);
    fclose(b);
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(train_csv, &ro, &c, NULL), SHELF_OK);
    shelf_imprint_report ir;
    assert_int_equal(shelf_labels_add(back, c, &ir, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "quantized"));
    shelf_catalog_free(c);
    shelf_model_free(back);
    shelf_model_free(m);
}

static void gru_predicts_as_float(void **s)
{
    (void)s;
    sequence_encoder_predicts_as_float(SHELF_TEXT_ENCODER_GRU);
}

static void transformer_predicts_as_float(void **s)
{
    (void)s;
    sequence_encoder_predicts_as_float(SHELF_TEXT_ENCODER_TRANSFORMER);
}

/* The int8 table's rows are what the float table of their values gives, to the bit. */
static void int8_embedding_matches_its_float_table(void **state)
{
    (void)state;
    enum { V = 5, D = 4, B = 2, T = 3, S = 2 };
    int8_t codes[V * D];
    float scales[V], table[V * D], pos[T * D], a[B * T * D], b[B * T * D];
    for (int r = 0; r < V; r++) {
        scales[r] = 0.01f * (float)(r + 1);
        for (int j = 0; j < D; j++) {
            codes[r * D + j] = (int8_t)((r * 37 + j * 11) % 255 - 127);
            table[r * D + j] = scales[r] * (float)codes[r * D + j];
        }
    }
    for (int i = 0; i < T * D; i++)
        pos[i] = 0.1f * (float)i;
    const int32_t tokens[B * T * S] = {0, 3, 1, -1, 4, 2, 2, -1, 0, 1, 3, -1};
    const int lens[B] = {3, 2};
    embedding_forward(a, tokens, S, lens, table, pos, B, T, D);
    embedding_forward_int8(b, tokens, S, lens, codes, scales, pos, B, T, D);
    assert_memory_equal(a, b, sizeof a);
}

static void refusals_leave_the_model_alone(void **state)
{
    (void)state;
    shelf_error err;
    shelf_model_summary sum;
    shelf_model *m = train(0, SHELF_TEXT_ENCODER_BAG);
    shelf_quantize_options o = shelf_quantize_options_default();
    o.drop = 1.5f;
    assert_int_equal(shelf_model_quantize(m, &o, NULL, &err), SHELF_EINVAL);
    o = shelf_quantize_options_default();
    o.cutoff = -1;
    assert_int_equal(shelf_model_quantize(m, &o, NULL, &err), SHELF_EINVAL);
    shelf_model_summarize(m, &sum);
    assert_int_equal(sum.quantized, 0);
    /* a quantized model takes no new labels and no --init: its float model does */
    assert_int_equal(shelf_model_quantize(m, NULL, NULL, &err), SHELF_OK);
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(train_csv, &ro, &c, NULL), SHELF_OK);
    shelf_imprint_report ir;
    assert_int_equal(shelf_labels_add(m, c, &ir, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "quantized"));
    shelf_train_options to;
    shelf_train_options_default(&to);
    to.init = m;
    to.threads = 1;
    shelf_model *cont = NULL;
    assert_int_equal(shelf_train(c, NULL, &to, &cont, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "quantized"));
    shelf_catalog_free(c);
    shelf_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(codes_round_each_row_to_its_largest),
        cmocka_unit_test(drop_leaves_out_the_small_weights),
        cmocka_unit_test(forward_matches_the_float_layer),
        cmocka_unit_test(damaged_rows_are_refused),
        cmocka_unit_test(flat_model_predicts_as_float),
        cmocka_unit_test(hierarchy_predicts_as_float),
        cmocka_unit_test(explains_exactly),
        cmocka_unit_test(cutoff_keeps_the_features_that_weigh_most),
        cmocka_unit_test(refusals_leave_the_model_alone),
        cmocka_unit_test(gru_predicts_as_float),
        cmocka_unit_test(transformer_predicts_as_float),
        cmocka_unit_test(int8_embedding_matches_its_float_table),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
