/* The model end to end through the library: training on a small generated catalog, the
 * model file (round trip, truncation, corruption, newer versions), reproducibility with a
 * seed, the embedding variant, and many texts predicted at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/rng.h"
#include "shelf.h"
#include "scratch_dir.h"
#include "model/ensemble.h"
#include "model/model.h"
#include "model/model_io.h"
#include "model/seq_text_encoder.h"

static char csv[128], path[128];
static int hierarchy; /* for train() */

/* Labels of odd lengths, so that the file's strings end at every offset modulo 8. */
static const char *labels[] = {"A > B", "A > Cc", "Dee > Eeee > F", "短袖 > T恤", "G"};
static const char *words[][3] = {{"cotton", "tee", "crew"}, {"denim", "jeans", "slim"},
                                 {"steel", "knife", "chef"}, {"纯棉", "短袖", "夏季"},
                                 {"garden", "hose", "spray"}};

static int setup(void **state)
{
    (void)state;
    assert_int_equal(scratch_setup("model"), 0);
    snprintf(csv, sizeof csv, "%s", path_of("train.csv"));
    snprintf(path, sizeof path, "%s", path_of("m.shelf"));
    FILE *f = fopen(csv, "w");
    fprintf(f, "id,title,category\n");
    for (int i = 0; i < 300; i++) {
        int c = i % 5;
        fprintf(f, "%d,%s %s brand%d,%s\n", i, words[c][i % 3], words[c][(i / 3) % 3], i % 7,
                labels[c]);
    }
    fclose(f);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

/* The generated catalog, read as labelled training data. */
static shelf_catalog *load_catalog(shelf_read_options *ro)
{
    memset(ro, 0, sizeof *ro);
    ro->require_label = 1;
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(csv, ro, &c, NULL), SHELF_OK);
    return c;
}

static shelf_text_encoder text_encoder_kind; /* for train() */

static shelf_model *train(int dim, uint64_t seed)
{
    shelf_read_options ro;
    shelf_catalog *c = load_catalog(&ro);
    shelf_error err;
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.dim = dim;
    o.seed = seed;
    o.threads = 1;
    o.epochs = 5;
    o.read = ro;
    o.hierarchy = hierarchy;
    o.text_encoder = text_encoder_kind;
    if (text_encoder_kind != SHELF_TEXT_ENCODER_BAG)
        o.max_tokens = 8;
    shelf_model *m = NULL;
    assert_int_equal(shelf_train(c, NULL, &o, &m, &err), SHELF_OK);
    shelf_catalog_free(c);
    return m;
}

static void top(const shelf_model *m, const char *text, int *label, float *prob)
{
    shelf_scratch *s = NULL;
    assert_int_equal(shelf_scratch_new(m, &s, NULL), SHELF_OK);
    assert_int_equal(shelf_predict(m, s, text, 1, label, prob), 1);
    shelf_scratch_free(s);
}

static void learns_the_catalog(void **state)
{
    (void)state;
    shelf_model *m = train(0, 1);
    assert_int_equal(shelf_model_num_labels(m), 5);
    int label;
    float prob;
    top(m, "slim denim jeans", &label, &prob);
    assert_string_equal(shelf_model_label(m, label), "A > Cc");
    top(m, "夏季纯棉短袖", &label, &prob);
    assert_string_equal(shelf_model_label(m, label), "短袖 > T恤");
    assert_true(prob > 0.5f);
    shelf_model_free(m);
}

static void embedding_variant_learns_too(void **state)
{
    (void)state;
    shelf_model *m = train(16, 1);
    int label;
    float prob;
    top(m, "chef knife steel", &label, &prob);
    assert_string_equal(shelf_model_label(m, label), "Dee > Eeee > F");
    shelf_model_free(m);
}

static void file_round_trip_predicts_the_same(void **state)
{
    (void)state;
    for (int dim = 0; dim <= 8; dim += 8) {
        shelf_model *m = train(dim, 1), *back = NULL;
        shelf_error err;
        assert_int_equal(shelf_model_save(m, path, &err), SHELF_OK);
        assert_int_equal(shelf_model_load(path, &back, &err), SHELF_OK);
        int a, b;
        float pa, pb;
        top(m, "garden hose brand3", &a, &pa);
        top(back, "garden hose brand3", &b, &pb);
        assert_int_equal(a, b);
        assert_true(pa == pb);
        for (int i = 0; i < 5; i++)
            assert_string_equal(shelf_model_label(m, i), shelf_model_label(back, i));
        shelf_model_free(m);
        shelf_model_free(back);
    }
}

static void hierarchy_variant_learns_and_round_trips(void **state)
{
    (void)state;
    hierarchy = 1;
    file_round_trip_predicts_the_same(state);
    shelf_model *m = train(0, 1);
    hierarchy = 0;
    int label;
    float prob;
    top(m, "夏季纯棉短袖", &label, &prob);
    assert_string_equal(shelf_model_label(m, label), "短袖 > T恤");
    char *d = shelf_model_describe(m, 0);
    assert_non_null(strstr(d, "path nodes")); /* A, A > B, A > Cc, Dee, ... : 9 nodes */
    assert_non_null(strstr(d, "5 labels scored through 9 path nodes"));
    free(d);
    shelf_model_free(m);
}

static void same_seed_one_thread_same_model(void **state)
{
    (void)state;
    shelf_model *a = train(0, 9), *b = train(0, 9);
    int la, lb;
    float pa, pb;
    top(a, "cotton brand1", &la, &pa);
    top(b, "cotton brand1", &lb, &pb);
    assert_int_equal(la, lb);
    assert_true(pa == pb);
    shelf_model_free(a);
    shelf_model_free(b);
}

/* Saves a model, lets edit change the file, and expects loading to fail with want. */
static void expect_refused(void (*edit)(FILE *, long), shelf_status want, const char *words_)
{
    shelf_model *m = train(0, 1), *back = NULL;
    shelf_error err;
    assert_int_equal(shelf_model_save(m, path, &err), SHELF_OK);
    shelf_model_free(m);
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    edit(f, size);
    fclose(f);
    assert_int_equal(shelf_model_load(path, &back, &err), want);
    assert_null(back);
    assert_non_null(strstr(err.message, words_));
    assert_non_null(strstr(err.message, path));
}

static void cut_in_half(FILE *f, long size) { assert_int_equal(ftruncate(fileno(f), size / 2), 0); }
static void flip_middle(FILE *f, long size)
{
    fseek(f, size / 2, SEEK_SET);
    int c = fgetc(f);
    fseek(f, size / 2, SEEK_SET);
    fputc(c ^ 0x10, f);
}
/* The file's bytes, changed by edit, with the checksum made right again: what a newer
 * shelf would write, or an attacker. */
static void rewrite_checksummed(FILE *f, long size, void (*edit)(unsigned char *, long))
{
    unsigned char *b = malloc((size_t)size);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fread(b, 1, (size_t)size, f), (size_t)size);
    edit(b, size);
    uint64_t sum = model_checksum(b, (size_t)size - 8);
    memcpy(b + size - 8, &sum, 8);
    fseek(f, 0, SEEK_SET);
    assert_int_equal(fwrite(b, 1, (size_t)size, f), (size_t)size);
    free(b);
}
static void version_99(unsigned char *b, long size) { (void)size; b[8] = 99; }
static void bump_version(FILE *f, long size) { rewrite_checksummed(f, size, version_99); }
static void flip_version(FILE *f, long size)
{
    (void)size;
    fseek(f, 8, SEEK_SET);
    fputc(99, f); /* a damaged byte: the checksum no longer holds */
}
static void wrong_magic(FILE *f, long size)
{
    (void)size;
    fseek(f, 0, SEEK_SET);
    fputs("NOTSHELF", f);
}

static void truncated_file_is_refused(void **s) { (void)s; expect_refused(cut_in_half, SHELF_EMODEL, "truncated"); }
static void corrupted_file_is_refused(void **s) { (void)s; expect_refused(flip_middle, SHELF_EMODEL, "corrupted"); }
static void newer_version_is_refused(void **s) { (void)s; expect_refused(bump_version, SHELF_EVERSION, "newer"); }
static void damaged_version_is_corrupted(void **s) { (void)s; expect_refused(flip_version, SHELF_EMODEL, "corrupted (checksum mismatch)"); }
static void other_file_is_refused(void **s) { (void)s; expect_refused(wrong_magic, SHELF_EMODEL, "not a shelf model"); }

/* A FIFO would block the open forever waiting for a writer (a reload of the server too);
 * the alarm turns such a regression into a failure instead of a hung suite. */
static void fifo_is_refused_without_blocking(void **state)
{
    (void)state;
    const char *fifo = path_of("fifo.shelf");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10);
    shelf_model *m = NULL;
    shelf_error err;
    assert_int_equal(shelf_model_load(fifo, &m, &err), SHELF_EMODEL);
    assert_null(m);
    assert_non_null(strstr(err.message, "not a regular file"));
    unsigned version;
    assert_int_equal(shelf_model_file_version(fifo, &version, &err), SHELF_EMODEL);
    alarm(0);
    unlink(fifo);
}

/* A model file whose u32 run `pattern` (n values) gets value at index, the checksum made
 * right again: a crafted file, such as an attacker could write. */
static const uint32_t *patch_pattern;
static size_t patch_n, patch_at;
static uint32_t patch_value;
static void patch_u32(unsigned char *b, long size)
{
    size_t len = patch_n * 4, hits = 0;
    for (long i = 0; i + (long)len <= size; i++)
        if (memcmp(b + i, patch_pattern, len) == 0) {
            memcpy(b + i + patch_at * 4, &patch_value, 4);
            hits++;
            i += (long)len - 1;
        }
    assert_int_equal(hits, 1);
}

/* Saves m, patches it, and loads it back: the status, the model or NULL, err. */
static shelf_status load_patched(shelf_model *m, const uint32_t *pattern, size_t n, size_t at,
                                 uint32_t value, shelf_model **back, shelf_error *err)
{
    assert_int_equal(shelf_model_save(m, path, err), SHELF_OK);
    patch_pattern = pattern, patch_n = n, patch_at = at, patch_value = value;
    FILE *f = fopen(path, "r+b");
    fseek(f, 0, SEEK_END);
    rewrite_checksummed(f, ftell(f), patch_u32);
    fclose(f);
    *back = NULL;
    return shelf_model_load(path, back, err);
}

/* Every size a file claims is checked against the bytes it has before it is allocated: a
 * small file with a valid checksum once made each load allocate 1 GiB. */
static void crafted_sizes_allocate_nothing_big(void **state)
{
    (void)state;
    shelf_model *m = train(0, 1), *back;
    shelf_error err;
    /* the most buckets a model may hash into: the row table follows the rows it has */
    const bag_encoder *bag = model_bag(m);
    const uint32_t feat[] = {(uint32_t)bag->feat.ngrams, (uint32_t)bag->feat.minn,
                             (uint32_t)bag->feat.maxn, bag->feat.buckets};
    assert_int_equal(load_patched(m, feat, 4, 3, BAG_MAX_BUCKETS, &back, &err), SHELF_OK);
    assert_int_equal(model_bag(back)->feat.buckets, BAG_MAX_BUCKETS);
    assert_int_equal(model_bag(back)->rows.cap, model_bag(back)->nrows);
    shelf_model_free(back);
    const uint32_t rows[] = {bag->nrows, bag->rows.buckets[0], bag->rows.buckets[1]};
    assert_int_equal(load_patched(m, rows, 3, 0, 0x7fffffff, &back, &err), SHELF_EMODEL);
    assert_null(back);
    assert_non_null(strstr(err.message, "corrupted (the feature rows claims 8589934588 bytes "
                                        "but the file has"));
    shelf_model_free(m);

    text_encoder_kind = SHELF_TEXT_ENCODER_GRU; /* a sequence encoder claiming a huge vocabulary */
    m = train(0, 1);
    text_encoder_kind = SHELF_TEXT_ENCODER_BAG;
    const seq_encoder *e = as_const_seq(m->text);
    const uint32_t sizes[] = {(uint32_t)m->text->ops->kind, (uint32_t)e->D, (uint32_t)e->layers,
                              (uint32_t)e->heads, (uint32_t)e->F, (uint32_t)e->T, e->nwords,
                              e->nbuckets};
    assert_int_equal(load_patched(m, sizes, 8, 7, SEQ_MAX_WORDS, &back, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "corrupted (the sequence encoder claims"));
    assert_int_equal(load_patched(m, sizes, 8, 1, 4096, &back, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "the sequence encoder claims"));
    shelf_model_free(m);
}

/* An ensemble: the log of the weighted mean of its members' probabilities, through the one
 * prediction path; its file round trip; what its loader refuses. */
static void ensemble_mixes_its_members(void **state)
{
    (void)state;
    shelf_model *bag = train(0, 1);
    text_encoder_kind = SHELF_TEXT_ENCODER_GRU;
    shelf_model *gru = train(0, 2);
    text_encoder_kind = SHELF_TEXT_ENCODER_BAG;
    const char *texts[] = {"garden hose brand3", "slim denim", "纯棉 夏季", "unknown words"};
    enum { N = 4, K = 5 };
    float pb[N][K], pg[N][K], pe[N][K];
    shelf_scratch *s = NULL;
    assert_int_equal(shelf_scratch_new(bag, &s, NULL), SHELF_OK);
    assert_int_equal(model_texts_log_probs(bag, s, texts, N, &pb[0][0], NULL), 0);
    shelf_scratch_free(s);
    assert_int_equal(shelf_scratch_new(gru, &s, NULL), SHELF_OK);
    assert_int_equal(model_texts_log_probs(gru, s, texts, N, &pg[0][0], NULL), 0);
    shelf_scratch_free(s);

    shelf_model *members[] = {train(0, 5), NULL}, *e = NULL;
    const float w[] = {0.7f, 0.3f};
    shelf_error err;
    assert_int_equal(ensemble_new(members, w, 1, &e, &err), SHELF_EINVAL); /* frees it */
    members[0] = bag, members[1] = gru;
    assert_int_equal(ensemble_new(members, w, 2, &e, &err), SHELF_OK);
    assert_int_equal(shelf_scratch_new(e, &s, NULL), SHELF_OK);
    assert_int_equal(model_texts_log_probs(e, s, texts, N, &pe[0][0], NULL), 0);
    shelf_scratch_free(s);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < K; c++)
            assert_float_equal(expf(pe[i][c]), 0.7f * expf(pb[i][c]) + 0.3f * expf(pg[i][c]),
                               1e-5f);
    char *d = shelf_model_describe(e, 0);
    assert_non_null(strstr(d, "ensemble          the weighted mean of 2 models"));
    assert_non_null(strstr(d, "member 2          weight 0.30, gru"));
    free(d);

    shelf_model *back = NULL; /* the file: the same predictions */
    assert_int_equal(shelf_model_save(e, path, &err), SHELF_OK);
    assert_int_equal(shelf_model_load(path, &back, &err), SHELF_OK);
    for (int i = 0; i < N; i++) {
        int a, b;
        float qa, qb;
        top(e, texts[i], &a, &qa);
        top(back, texts[i], &b, &qb);
        assert_int_equal(a, b);
        assert_true(qa == qb);
    }
    shelf_model_free(back);

    union { float f; uint32_t u; } w0 = {0.7f}, w1 = {0.3f}, w9 = {0.9f};
    const uint32_t weights[] = {2, w0.u, w1.u};
    assert_int_equal(load_patched(e, weights, 3, 0, 1, &back, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "an ensemble out of place"));
    assert_int_equal(load_patched(e, weights, 3, 1, w9.u, &back, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "weights do not sum to 1"));

    /* an ensemble inside an ensemble (which ensemble_new refuses) is refused on loading */
    shelf_model *outer = NULL, *pair[] = {train(0, 3), train(0, 4)};
    assert_int_equal(ensemble_new(pair, w, 2, &outer, &err), SHELF_OK);
    shelf_model_free(outer->member[0]);
    outer->member[0] = e;
    assert_int_equal(shelf_model_save(outer, path, &err), SHELF_OK);
    assert_int_equal(shelf_model_load(path, &back, &err), SHELF_EMODEL);
    assert_null(back);
    assert_non_null(strstr(err.message, "an ensemble out of place"));
    shelf_model_free(outer);
}

/* ---- files written before format changes made without a version bump ---------------------- */

/* The bytes of a fixture model file (tests/fixtures/models; the tests run from the root). */
static unsigned char *read_fixture(const char *name, long *size)
{
    char p[128];
    snprintf(p, sizeof p, "tests/fixtures/models/%s.shelf", name);
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)*size);
    assert_int_equal(fread(b, 1, (size_t)*size, f), (size_t)*size);
    fclose(f);
    return b;
}

/* Loads bytes b (size) from a file in the scratch folder: the status, the model or NULL. */
static shelf_status load_bytes(const unsigned char *b, long size, shelf_model **m,
                               shelf_error *err)
{
    const char *p = write_bytes("legacy.shelf", b, (size_t)size);
    *m = NULL;
    return shelf_model_load(p, m, err);
}

static void set_checksum(unsigned char *b, long size)
{
    uint64_t sum = model_checksum(b, (size_t)size - 8);
    memcpy(b + size - 8, &sum, 8);
}

/* Before 7d13485 a write too short to finish the word begun by the previous one dropped
 * that word's bytes, its own with them. */
static void early_checksum_drops_a_short_write(void **state)
{
    (void)state;
    const unsigned char d[16] = "0123456789abcdef";
    sum64 early = {0}, today = {0};
    sum64_update_early(&early, d, 5);     /* tail of 5 */
    sum64_update_early(&early, d + 5, 2); /* 2 < 3: the 7 bytes are dropped */
    sum64_update_early(&early, d + 7, 9);
    sum64_update(&today, d + 7, 9);
    assert_true(sum64_final(&early) == sum64_final(&today));
    sum64 whole = {0}, calls = {0}; /* writes that finish the word sum as today */
    sum64_update(&whole, d, 16);
    sum64_update_early(&calls, d, 5);
    sum64_update_early(&calls, d + 5, 3);
    sum64_update_early(&calls, d + 8, 0); /* the old writer made no call for 0 bytes */
    sum64_update_early(&calls, d + 8, 8);
    assert_true(sum64_final(&whole) == sum64_final(&calls));
}

static void early_version_1_loads_by_its_old_checksum(void **state)
{
    (void)state;
    long size;
    unsigned char *b = read_fixture("v1early-bag", &size);
    uint64_t stored;
    memcpy(&stored, b + size - 8, 8);
    assert_true(model_checksum(b, (size_t)size - 8) != stored); /* today's sum fails */
    shelf_model *m;
    shelf_error err;
    assert_int_equal(load_bytes(b, size, &m, &err), SHELF_OK);
    assert_int_equal(shelf_model_num_labels(m), 6);
    assert_int_equal(m->hierarchical, 0);
    assert_int_equal(model_bag(m)->feat.buckets, 512); /* 5 settings, not 6 */
    assert_int_equal(model_bag(m)->char_norm_one, 1);
    shelf_model_free(m);

    /* the same bytes summed by today's rule: a file of 7d13485 to d99ec33 */
    set_checksum(b, size);
    assert_int_equal(load_bytes(b, size, &m, &err), SHELF_OK);
    assert_int_equal(model_bag(m)->feat.buckets, 512);
    assert_int_equal(model_bag(m)->char_norm_one, 1);
    shelf_model_free(m);
    free(b);

    b = read_fixture("v1-bag", &size); /* a later version-1 file reads as it did */
    assert_int_equal(load_bytes(b, size, &m, &err), SHELF_OK);
    assert_int_equal(model_bag(m)->char_norm_one, 0);
    shelf_model_free(m);
    free(b);
}

/* ebece93's writer (version 1 before 7d13485), call by call, of a small bag model whose
 * feature rows begin in the middle of a checksum word (after labels of 5 and 6 bytes), as
 * they were written, a call a row; or, not as any shelf wrote it, in one call. */
typedef struct old_writer {
    unsigned char b[512];
    long n;
    sum64 sum;
} old_writer;

static void old_put(old_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    memcpy(w->b + w->n, p, n);
    w->n += (long)n;
    sum64_update_early(&w->sum, p, n);
}
static void old_u32(old_writer *w, uint32_t v) { old_put(w, &v, 4); }
static void old_u64(old_writer *w, uint64_t v) { old_put(w, &v, 8); }
static void old_str(old_writer *w, const char *s)
{
    old_u32(w, s ? (uint32_t)strlen(s) + 1 : 0);
    if (s)
        old_put(w, s, strlen(s));
}

enum { OLD_ROWS = 3, OLD_LABELS = 2, OLD_PARAMS = OLD_ROWS * OLD_LABELS + OLD_LABELS };

static void write_early_v1(old_writer *w, int rows_in_one_call)
{
    const uint32_t feat[5] = {1, 0, 0, 16, 0}, rows[OLD_ROWS] = {1, 5, 9};
    const float idf[OLD_ROWS] = {1, 2, 3}, lr = 0.5f;
    const double seconds = 0, accuracy = 1;
    float params[OLD_PARAMS];
    for (int i = 0; i < OLD_PARAMS; i++)
        params[i] = (float)i / 8;
    const uint64_t size = 24 + 20 + 9 + 4 * 4 + 60 + 4 + 9 + 10 + 4 + OLD_ROWS * 8 + 8 +
                          OLD_PARAMS * 4 + 8 + 8 + 8;
    memset(w, 0, sizeof *w);
    old_put(w, "SHELFMDL", 8);
    old_u32(w, 1);
    old_u32(w, 0);
    old_u64(w, size);
    old_put(w, feat, sizeof feat);
    old_str(w, "t.csv");
    for (int i = 0; i < 4; i++)
        old_str(w, NULL);
    old_u32(w, 0);  /* format */
    old_u64(w, 10); /* training rows */
    old_u64(w, 0);
    old_u32(w, 1); /* epochs */
    old_u32(w, 1);
    old_u32(w, 1); /* threads */
    old_put(w, &lr, 4);
    old_u64(w, 1); /* seed */
    old_put(w, &seconds, 8);
    old_put(w, &accuracy, 8);
    old_u32(w, OLD_LABELS);
    old_str(w, "Shoes");
    old_str(w, "Jacket");
    old_u32(w, OLD_ROWS);
    if (rows_in_one_call)
        old_put(w, rows, sizeof rows);
    else
        for (int i = 0; i < OLD_ROWS; i++)
            old_u32(w, rows[i]);
    old_put(w, idf, sizeof idf);
    old_u64(w, OLD_PARAMS);
    old_put(w, params, sizeof params);
    old_u64(w, 1); /* one training text's hash */
    old_u64(w, 42);
    uint64_t sum = sum64_final(&w->sum);
    old_put(w, &sum, 8);
    assert_int_equal(w->n, (long)size);
}

static void early_version_1_sums_each_row_as_written(void **state)
{
    (void)state;
    old_writer w, one_call;
    write_early_v1(&w, 0);
    write_early_v1(&one_call, 1);
    assert_memory_not_equal(w.b + w.n - 8, one_call.b + w.n - 8, 8); /* the rows matter */
    shelf_model *m;
    shelf_error err;
    assert_int_equal(load_bytes(w.b, w.n, &m, &err), SHELF_OK);
    assert_int_equal(model_bag(m)->nrows, OLD_ROWS);
    assert_int_equal(shelf_model_num_labels(m), OLD_LABELS);
    for (int i = 0; i < OLD_PARAMS; i++)
        assert_true(m->text_head.params[i] == (float)i / 8);
    shelf_model_free(m);
    assert_int_equal(load_bytes(one_call.b, one_call.n, &m, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "corrupted (checksum mismatch)"));
}

static void version_1_unsummed(FILE *f, long size)
{
    (void)size;
    fseek(f, 8, SEEK_SET);
    fputc(1, f); /* today's file, its version damaged into 1: the old writer's walk too */
}

/* A damaged byte in the parameters, or in the label count that the old checksum's walk
 * goes by: neither checksum holds. */
static void damaged_early_version_1_is_refused(void **state)
{
    (void)state;
    long size;
    unsigned char *b = read_fixture("v1early-bag", &size);
    const long at[] = {size / 2, 0x85 /* the label count */, size - 9, 8 /* the version */};
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        b[at[i]] ^= 0x10;
        shelf_model *m;
        shelf_error err;
        assert_int_equal(load_bytes(b, size, &m, &err), SHELF_EMODEL);
        assert_null(m);
        assert_non_null(strstr(err.message, "corrupted (checksum mismatch)"));
        b[at[i]] ^= 0x10;
    }
    free(b);
    expect_refused(version_1_unsummed, SHELF_EMODEL, "corrupted (checksum mismatch)");
}

static void early_version_2_loads_without_a_temperature(void **state)
{
    (void)state;
    const char *names[] = {"v2early-bag", "v2early-image"};
    for (size_t i = 0; i < 2; i++) {
        long size;
        unsigned char *b = read_fixture(names[i], &size);
        shelf_model *m;
        shelf_error err;
        assert_int_equal(load_bytes(b, size, &m, &err), SHELF_OK);
        assert_true(m->temperature == 1);
        assert_int_equal(shelf_model_modality(m),
                         i ? SHELF_MODALITY_IMAGE : SHELF_MODALITY_TEXT);
        shelf_model_free(m);
        free(b);
    }
}

/* Damaged, or with a right checksum but contents that fit neither layout. */
static void damaged_early_version_2_is_refused(void **state)
{
    (void)state;
    long size;
    unsigned char *b = read_fixture("v2early-bag", &size);
    shelf_model *m;
    shelf_error err;
    b[size / 2] ^= 0x10;
    assert_int_equal(load_bytes(b, size, &m, &err), SHELF_EMODEL);
    assert_non_null(strstr(err.message, "corrupted (checksum mismatch)"));
    b[size / 2] ^= 0x10;
    const uint32_t bad_modality = 3;
    memcpy(b + 24, &bad_modality, 4);
    set_checksum(b, size);
    assert_int_equal(load_bytes(b, size, &m, &err), SHELF_EMODEL);
    assert_null(m);
    assert_non_null(strstr(err.message, "corrupted"));
    free(b);
}

static void save_replaces_atomically(void **state)
{
    (void)state;
    shelf_model *m = train(0, 1);
    shelf_error err;
    assert_int_equal(shelf_model_save(m, path, &err), SHELF_OK);
    assert_int_equal(shelf_model_save(m, path, &err), SHELF_OK); /* over an existing file */
    char bad[160];
    snprintf(bad, sizeof bad, "%s/no/such/dir/m.shelf", scratch_dir);
    assert_int_equal(shelf_model_save(m, bad, &err), SHELF_EIO);
    assert_non_null(strstr(err.message, bad));
    const char *link = path_of("link.shelf"); /* rename would replace the link itself */
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(shelf_model_save(m, link, &err), SHELF_EIO);
    assert_non_null(strstr(err.message, "symbolic link"));
    struct stat st;
    assert_int_equal(lstat(link, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(shelf_model_save(m, "/dev/null", &err), SHELF_EIO);
    assert_non_null(strstr(err.message, "a device"));
    shelf_model_free(m);
}

static void bad_options_are_errors(void **state)
{
    (void)state;
    shelf_read_options ro;
    shelf_catalog *c = load_catalog(&ro);
    shelf_error err;
    shelf_train_options o;
    shelf_train_options_default(&o);
    shelf_model *m = NULL;
    o.minn = 4, o.maxn = 2;
    assert_int_equal(shelf_train(c, NULL, &o, &m, &err), SHELF_EINVAL);
    shelf_train_options_default(&o);
    o.dim = -3;
    assert_int_equal(shelf_train(c, NULL, &o, &m, &err), SHELF_EINVAL);
    assert_null(m);
    shelf_catalog_free(c);
}

static int label_id(const shelf_model *m, const char *name)
{
    for (int i = 0; i < shelf_model_num_labels(m); i++)
        if (strcmp(shelf_model_label(m, i), name) == 0)
            return i;
    fail_msg("no label %s", name);
    return -1;
}

static void backoff_gives_the_deepest_sure_ancestor(void **state)
{
    (void)state;
    shelf_model *m = train(0, 1);
    int ab = label_id(m, "A > B"), acc = label_id(m, "A > Cc"), g = label_id(m, "G"),
        f = label_id(m, "Dee > Eeee > F");
    char out[64];
    float p;
    int sure[] = {ab, acc, g};
    float sure_p[] = {0.95f, 0.03f, 0.02f};
    assert_int_equal(shelf_backoff(m, sure, sure_p, 3, 0.9f, out, sizeof out, &p),
                     SHELF_BACKOFF_FULL);
    assert_string_equal(out, "A > B");
    float split_p[] = {0.5f, 0.45f, 0.05f}; /* A > B or A > Cc: surely A */
    assert_int_equal(shelf_backoff(m, sure, split_p, 3, 0.9f, out, sizeof out, &p),
                     SHELF_BACKOFF_PARTIAL);
    assert_string_equal(out, "A");
    assert_true(p > 0.949f && p < 0.951f);
    int unsure[] = {ab, g, acc};
    float unsure_p[] = {0.5f, 0.45f, 0.05f}; /* A 0.55 at best: review */
    assert_int_equal(shelf_backoff(m, unsure, unsure_p, 3, 0.9f, out, sizeof out, &p),
                     SHELF_BACKOFF_REVIEW);
    assert_string_equal(out, "");
    assert_true(p > 0.549f && p < 0.551f);
    int flat[] = {g, ab};
    float flat_p[] = {0.6f, 0.4f}; /* a top-level label has no ancestor to fall back on */
    assert_int_equal(shelf_backoff(m, flat, flat_p, 2, 0.9f, out, sizeof out, &p),
                     SHELF_BACKOFF_REVIEW);
    int deep[] = {f, ab};
    float deep_p[] = {0.85f, 0.15f}; /* Dee > Eeee holds only F: 0.85 all the way up */
    assert_int_equal(shelf_backoff(m, deep, deep_p, 2, 0.8f, out, sizeof out, &p),
                     SHELF_BACKOFF_FULL);
    assert_int_equal(shelf_backoff(m, deep, deep_p, 2, 0.9f, out, sizeof out, &p),
                     SHELF_BACKOFF_REVIEW);
    shelf_model_free(m);
}

/* The k best, best first, ties to the lower label: by insertion for few, by a heap for many
 * (back-off asks for every label); both against a plain reference. */
static void top_k_ranks_like_a_full_sort(void **state)
{
    (void)state;
    enum { K = 200 };
    float p[K], probs[K];
    int labels[K];
    rng r;
    rng_seed(&r, 3);
    for (int c = 0; c < K; c++)
        p[c] = (float)rng_below(&r, 40) / 40.0f; /* many ties */
    const int ks[] = {1, 5, 16, 17, 50, K};
    for (size_t t = 0; t < sizeof ks / sizeof *ks; t++) {
        int k = ks[t];
        assert_int_equal(model_top_k(p, K, k, labels, probs), k);
        for (int i = 0; i < k; i++) { /* label i of the reference: the best not yet taken */
            int best = -1;
            for (int c = 0; c < K; c++) {
                int taken = 0;
                for (int j = 0; j < i; j++)
                    taken |= labels[j] == c;
                if (!taken && (best < 0 || p[c] > p[best]))
                    best = c;
            }
            assert_int_equal(labels[i], best);
            assert_true(probs[i] == p[best]);
        }
    }
}

/* Rows of two labels, the first given probability q, right a share `right` of the time. */
/* Many texts at once (sequence encoders: in batches of similar length) predict what each
 * text alone does, flat and hierarchical, for k of 0, 3 and more than the labels; and
 * shelf_predict_batch gives the same bytes on 1 and 2 threads. */
static void many_texts_predict_as_one_at_a_time(void **state)
{
    (void)state;
    enum { N = 300, KMAX = 8 };
    const char *texts[N];
    char buf[N][64];
    for (int i = 0; i < N; i++) { /* every length from empty to 6 words */
        buf[i][0] = 0;
        for (int w = 0; w < i % 7; w++) {
            strcat(buf[i], words[(i * 7 + w) % 5][(i + w) % 3]);
            strcat(buf[i], " ");
        }
        texts[i] = buf[i];
    }
    static const struct { shelf_text_encoder enc; int hier, dim; } CASES[] = {
        {SHELF_TEXT_ENCODER_BAG, 0, 0}, {SHELF_TEXT_ENCODER_GRU, 0, 16},
        {SHELF_TEXT_ENCODER_GRU, 1, 16}, {SHELF_TEXT_ENCODER_TRANSFORMER, 0, 16}};
    static int labels[N * KMAX], counts[N], labels2[N * KMAX], counts2[N];
    static float probs[N * KMAX], probs2[N * KMAX];
    for (size_t c = 0; c < sizeof CASES / sizeof *CASES; c++) {
        text_encoder_kind = CASES[c].enc;
        hierarchy = CASES[c].hier;
        shelf_model *m = train(CASES[c].dim, 2);
        text_encoder_kind = SHELF_TEXT_ENCODER_BAG;
        hierarchy = 0;
        shelf_scratch *s = NULL;
        assert_int_equal(shelf_scratch_new(m, &s, NULL), SHELF_OK);
        static const int KS[] = {0, 3, KMAX};
        for (int ki = 0; ki < 3; ki++) {
            const int k = KS[ki];
            assert_int_equal(shelf_predict_texts(m, s, texts, N, k, labels, probs, counts), 0);
            for (int i = 0; i < N; i++) {
                int one[KMAX];
                float p[KMAX];
                int n = shelf_predict(m, s, texts[i], k, one, p);
                assert_int_equal(counts[i], n);
                assert_int_equal(n, k < 5 ? k : 5);
                for (int j = 0; j < n; j++) {
                    assert_int_equal(labels[i * k + j], one[j]);
                    assert_float_equal(probs[i * k + j], p[j], 1e-5f);
                }
            }
        }
        shelf_error err;
        assert_int_equal(shelf_predict_batch(m, texts, N, 3, 1, labels, probs, counts, &err),
                         SHELF_OK);
        assert_int_equal(shelf_predict_batch(m, texts, N, 3, 2, labels2, probs2, counts2, &err),
                         SHELF_OK);
        assert_memory_equal(counts, counts2, sizeof counts);
        assert_memory_equal(labels, labels2, sizeof(int) * N * 3);
        assert_memory_equal(probs, probs2, sizeof(float) * N * 3);
        shelf_scratch_free(s);
        shelf_model_free(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(learns_the_catalog),
        cmocka_unit_test(embedding_variant_learns_too),
        cmocka_unit_test(file_round_trip_predicts_the_same),
        cmocka_unit_test(hierarchy_variant_learns_and_round_trips),
        cmocka_unit_test(same_seed_one_thread_same_model),
        cmocka_unit_test(truncated_file_is_refused),
        cmocka_unit_test(corrupted_file_is_refused),
        cmocka_unit_test(newer_version_is_refused),
        cmocka_unit_test(damaged_version_is_corrupted),
        cmocka_unit_test(other_file_is_refused),
        cmocka_unit_test(fifo_is_refused_without_blocking),
        cmocka_unit_test(crafted_sizes_allocate_nothing_big),
        cmocka_unit_test(ensemble_mixes_its_members),
        cmocka_unit_test(early_checksum_drops_a_short_write),
        cmocka_unit_test(early_version_1_loads_by_its_old_checksum),
        cmocka_unit_test(early_version_1_sums_each_row_as_written),
        cmocka_unit_test(damaged_early_version_1_is_refused),
        cmocka_unit_test(early_version_2_loads_without_a_temperature),
        cmocka_unit_test(damaged_early_version_2_is_refused),
        cmocka_unit_test(save_replaces_atomically),
        cmocka_unit_test(bad_options_are_errors),
        cmocka_unit_test(backoff_gives_the_deepest_sure_ancestor),
        cmocka_unit_test(top_k_ranks_like_a_full_sort),
        cmocka_unit_test(many_texts_predict_as_one_at_a_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
