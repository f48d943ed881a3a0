/* Checkpoints (shelf_train_options.checkpoint, .resume): a run stopped after some epochs and
 * resumed from its checkpoint ends with the model, byte for byte, that the run would have
 * written without stopping (one thread, a seed); a checkpoint of another catalog or other
 * options is refused, as is a model that is not a checkpoint. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "photo_catalog.h"
#include "scratch_dir.h"
#include "same_model.h"
#include "shelf.h"

static const char *labels[] = {"Apparel > Tops", "Apparel > Jeans", "Kitchen > Knives",
                               "Garden > Hoses"};
static const char *words[][4] = {{"cotton", "tee", "crew", "shirt"},
                                 {"denim", "jeans", "slim", "indigo"},
                                 {"steel", "knife", "chef", "blade"},
                                 {"garden", "hose", "spray", "nozzle"}};
static char train_csv[256], valid_csv[256], other_csv[256], ckpt[256], copy[256];

static void write_catalog(const char *path, int n, int shift)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,title,category\n");
    for (int i = 0; i < n; i++) {
        int c = (i + shift) % 4;
        fprintf(f, "%d,%s %s brand%d,%s\n", i, words[c][i % 4], words[c][(i / 4) % 4],
                (i + shift) % 9, labels[c]);
    }
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    if (scratch_setup("checkpoint"))
        return -1;
    snprintf(train_csv, sizeof train_csv, "%s", path_of("train.csv"));
    snprintf(valid_csv, sizeof valid_csv, "%s", path_of("valid.csv"));
    snprintf(other_csv, sizeof other_csv, "%s", path_of("other.csv"));
    snprintf(ckpt, sizeof ckpt, "%s", path_of("checkpoint.shelf"));
    snprintf(copy, sizeof copy, "%s", path_of("stopped.shelf"));
    write_catalog(train_csv, 300, 0);
    write_catalog(valid_csv, 60, 1);
    write_catalog(other_csv, 300, 2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    return scratch_teardown();
}

static shelf_catalog *load(const char *path)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL;
    assert_int_equal(shelf_catalog_load(path, &ro, &c, NULL), SHELF_OK);
    return c;
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, a)) > 0)
        assert_int_equal(fwrite(chunk, 1, n, b), n);
    fclose(a);
    assert_int_equal(fclose(b), 0);
}

/* The progress of epoch 4 (counted from 1) comes after epoch 3's checkpoint: keep that one,
 * as a run killed during epoch 4 would leave it. */
static void keep_third(const shelf_progress *p, void *user)
{
    int *kept = user;
    if (p->epoch == 4 && !*kept) {
        copy_file(ckpt, copy);
        *kept = 1;
    }
}

/* A fused run's first progress is its CNN's first epoch: the checkpoint then is the one its
 * text side left when it ended, which a run killed there leaves. */
static void keep_text_side(const shelf_progress *p, void *user)
{
    int *kept = user;
    if (p->epoch == 1 && !*kept) {
        copy_file(ckpt, copy);
        *kept = 1;
    }
}

static shelf_train_options options(void)
{
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.threads = 1;
    o.seed = 7;
    o.epochs = 7;
    return o;
}


/* The options of a run with this text encoder (a small GRU or Transformer). */
static shelf_train_options encoder_options(shelf_text_encoder enc)
{
    shelf_train_options o = options();
    o.text_encoder = enc;
    if (enc != SHELF_TEXT_ENCODER_BAG) {
        o.dim = 8;
        o.max_tokens = 8;
        o.layers = 1;
        o.heads = 2;
        o.batch = 16;
        o.epochs = 6;
    }
    return o;
}

static void resumed_run_ends_as_the_whole_run(int with_valid, shelf_text_encoder enc)
{
    shelf_catalog *train = load(train_csv), *valid = with_valid ? load(valid_csv) : NULL;
    shelf_train_options o = encoder_options(enc);
    int kept = 0;
    o.checkpoint = ckpt;
    o.progress = keep_third;
    o.progress_user = &kept;
    shelf_model *whole = NULL;
    shelf_error err;
    if (shelf_train(train, valid, &o, &whole, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_true(kept);
    shelf_model *stopped = NULL;
    assert_int_equal(shelf_model_load(copy, &stopped, NULL), SHELF_OK);
    char *d = shelf_model_describe(stopped, 0);
    assert_non_null(strstr(d, "after epoch 3"));
    free(d);
    o = encoder_options(enc);
    o.resume = stopped;
    shelf_model *resumed = NULL;
    if (shelf_train(train, valid, &o, &resumed, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_same_files(whole, resumed);
    shelf_model_free(whole);
    shelf_model_free(resumed);
    shelf_model_free(stopped);
    shelf_catalog_free(train);
    shelf_catalog_free(valid);
}

static void resumed_without_validation(void **s)
{
    (void)s;
    resumed_run_ends_as_the_whole_run(0, SHELF_TEXT_ENCODER_BAG);
}

static void resumed_with_validation(void **s)
{
    (void)s;
    resumed_run_ends_as_the_whole_run(1, SHELF_TEXT_ENCODER_BAG);
}

/* The sequence encoders: their parameters, AdamW's moments (the embedding rows' as their
 * lazy updates left them) and step come back. */
static void gru_resumed(void **s)
{
    (void)s;
    resumed_run_ends_as_the_whole_run(1, SHELF_TEXT_ENCODER_GRU);
}

static void transformer_resumed(void **s)
{
    (void)s;
    resumed_run_ends_as_the_whole_run(0, SHELF_TEXT_ENCODER_TRANSFORMER);
}

/* A GRU's checkpoint does not resume a Transformer, nor a bag's a GRU. */
static void another_encoders_checkpoint_is_refused(void **state)
{
    (void)state;
    shelf_catalog *train = load(train_csv);
    shelf_train_options o = encoder_options(SHELF_TEXT_ENCODER_GRU);
    o.epochs = 1;
    o.checkpoint = ckpt;
    shelf_model *m = NULL, *gru = NULL;
    shelf_error err;
    assert_int_equal(shelf_train(train, NULL, &o, &m, &err), SHELF_OK);
    shelf_model_free(m);
    m = NULL;
    assert_int_equal(shelf_model_load(ckpt, &gru, NULL), SHELF_OK);
    o = encoder_options(SHELF_TEXT_ENCODER_TRANSFORMER);
    o.resume = gru;
    assert_int_equal(shelf_train(train, NULL, &o, &m, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "not of a Transformer"));
    o = options();
    o.resume = gru;
    assert_int_equal(shelf_train(train, NULL, &o, &m, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "not of a sparse bag"));
    shelf_model_free(gru);
    shelf_catalog_free(train);
}

/* ---- the CNN ------------------------------------------------------------------------- */

static shelf_train_options image_options(void)
{
    shelf_train_options o = options();
    o.modality = SHELF_MODALITY_IMAGE;
    o.image_size = 8;
    o.width = 4;
    o.batch = 8;
    o.epochs = 6;
    return o;
}

/* The CNN stopped after epoch 3 and resumed: its network, head, batch-norm statistics and
 * optimizer moments come back, and the run ends as the whole one. */
static void cnn_resumed_as_the_whole_run(void **state)
{
    (void)state;
    shelf_read_options ro = {0};
    ro.require_label = 1;
    ro.for_images = 1;
    shelf_catalog *c = NULL;
    shelf_error err;
    if (shelf_catalog_load(photo_catalog("photos", 48), &ro, &c, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    shelf_train_options o = image_options();
    int kept = 0;
    o.read = ro;
    o.checkpoint = ckpt;
    o.progress = keep_third;
    o.progress_user = &kept;
    shelf_model *whole = NULL, *stopped = NULL, *resumed = NULL;
    if (shelf_train(c, NULL, &o, &whole, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_true(kept);
    assert_int_equal(shelf_model_load(copy, &stopped, NULL), SHELF_OK);
    o = image_options();
    o.read = ro;
    o.resume = stopped;
    if (shelf_train(c, NULL, &o, &resumed, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_same_files(whole, resumed);
    o = image_options(); /* a bag's checkpoint does not resume a CNN */
    o.read = ro;
    shelf_model *x = NULL;
    shelf_catalog *text = load(train_csv);
    shelf_train_options bo = options();
    bo.checkpoint = ckpt;
    assert_int_equal(shelf_train(text, NULL, &bo, &x, &err), SHELF_OK);
    shelf_model_free(x);
    x = NULL;
    shelf_model *bagck = NULL;
    assert_int_equal(shelf_model_load(ckpt, &bagck, NULL), SHELF_OK);
    o.resume = bagck;
    assert_int_equal(shelf_train(c, NULL, &o, &x, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "not of an image model"));
    shelf_model_free(bagck);
    shelf_catalog_free(text);
    shelf_model_free(whole);
    shelf_model_free(resumed);
    shelf_model_free(stopped);
    shelf_catalog_free(c);
}

/* A fused model stopped in its text side's training (the bag's checkpoint, which is all a
 * run killed then leaves) or in its CNN's (the whole model so far, which has no fusion
 * head yet and does not predict), resumed: the run ends as the whole one. */
/* in_text_side 2: the fused run's own text-side checkpoint, resumed as the whole run */
static void fused_resumed(int in_text_side)
{
    shelf_read_options ro = {0};
    ro.require_label = 1;
    shelf_catalog *c = NULL;
    shelf_error err;
    if (shelf_catalog_load(photo_catalog_titled("titled", 48, 1), &ro, &c, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    shelf_train_options o = image_options();
    o.modality = SHELF_MODALITY_BOTH;
    o.read = ro;
    o.checkpoint = ckpt;
    int kept = 0;
    /* the text side runs without progress: its first checkpoint is copied as it comes */
    o.progress = in_text_side == 1 ? NULL : in_text_side == 2 ? keep_text_side : keep_third;
    o.progress_user = &kept;
    shelf_model *whole = NULL, *stopped = NULL, *resumed = NULL;
    if (in_text_side == 1) { /* its text side alone, stopped after one epoch */
        shelf_train_options t = options();
        t.read = ro;
        t.epochs = 1;
        t.checkpoint = ckpt;
        shelf_model *x = NULL;
        assert_int_equal(shelf_train(c, NULL, &t, &x, &err), SHELF_OK);
        shelf_model_free(x);
        copy_file(ckpt, copy);
        kept = 1;
    }
    if (shelf_train(c, NULL, &o, &whole, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_true(kept);
    assert_int_equal(shelf_model_load(copy, &stopped, NULL), SHELF_OK);
    if (!in_text_side) { /* no fusion head yet: it cannot predict */
        shelf_predictor *p = NULL;
        assert_int_equal(shelf_predictor_new(stopped, 1, 0, &p, &err), SHELF_EINVAL);
        assert_non_null(strstr(err.message, "fusion head"));
    }
    o = image_options();
    o.modality = SHELF_MODALITY_BOTH;
    o.read = ro;
    o.resume = stopped;
    if (in_text_side == 2) { /* a text model's checkpoint, of the fused run's text side */
        shelf_model_summary sum;
        shelf_model_summarize(stopped, &sum);
        assert_int_equal(sum.modality, SHELF_MODALITY_TEXT);
    }
    if (shelf_train(c, NULL, &o, &resumed, &err) != SHELF_OK) {
        if (in_text_side != 1)
            fail_msg("%s", err.message);
        /* the text side's checkpoint of another run (one epoch, not the fused run's
         * defaults) is refused as such */
        assert_non_null(strstr(err.message, "other options"));
    } else {
        assert_same_files(whole, resumed);
    }
    shelf_model_free(whole);
    shelf_model_free(resumed);
    shelf_model_free(stopped);
    shelf_catalog_free(c);
}

static void fused_resumed_in_its_cnn(void **s)
{
    (void)s;
    fused_resumed(0);
}

static void fused_resumed_in_its_text_side(void **s)
{
    (void)s;
    fused_resumed(2);
}

static void fused_checkpoint_of_another_text_run_refused(void **s)
{
    (void)s;
    fused_resumed(1);
}

static void another_run_is_refused(void **state)
{
    (void)state;
    shelf_catalog *train = load(train_csv), *other = load(other_csv);
    shelf_train_options o = options();
    o.checkpoint = ckpt;
    shelf_model *m = NULL, *ck = NULL;
    shelf_error err;
    assert_int_equal(shelf_train(train, NULL, &o, &m, &err), SHELF_OK);
    assert_int_equal(shelf_model_load(ckpt, &ck, NULL), SHELF_OK);
    o = options();
    o.resume = ck;
    shelf_model *x = NULL;
    assert_int_equal(shelf_train(other, NULL, &o, &x, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "another training catalog"));
    o.epochs = 3;
    assert_int_equal(shelf_train(train, NULL, &o, &x, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "other options"));
    o = options();
    o.resume = m; /* a model, not a checkpoint */
    assert_int_equal(shelf_train(train, NULL, &o, &x, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "not a checkpoint"));
    o = options();
    o.checkpoint = ckpt;
    o.dim = 4; /* the bag with embeddings */
    assert_int_equal(shelf_train(train, NULL, &o, &x, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "checkpoints are written for the bag"));
    o = options(); /* a bag's checkpoint does not resume a fused model's CNN */
    o.modality = SHELF_MODALITY_BOTH;
    o.resume = ck;
    assert_int_equal(shelf_train(train, NULL, &o, &x, &err), SHELF_EINVAL);
    assert_null(x);
    shelf_model_free(m);
    shelf_model_free(ck);
    shelf_catalog_free(train);
    shelf_catalog_free(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resumed_without_validation),
        cmocka_unit_test(resumed_with_validation),
        cmocka_unit_test(gru_resumed),
        cmocka_unit_test(transformer_resumed),
        cmocka_unit_test(another_encoders_checkpoint_is_refused),
        cmocka_unit_test(another_run_is_refused),
        cmocka_unit_test(cnn_resumed_as_the_whole_run),
        cmocka_unit_test(fused_resumed_in_its_cnn),
        cmocka_unit_test(fused_resumed_in_its_text_side),
        cmocka_unit_test(fused_checkpoint_of_another_text_run_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
