/* shelf_labels_add: new labels from a few examples each (weight imprinting), on every kind
 * of text model: the new labels are predicted for products like their examples, the old
 * ones keep theirs, the model file round-trips, and bad input leaves the model as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scratch_dir.h"
#include "shelf.h"

static char train_csv[256], examples_csv[256];

static const char *labels[] = {"Apparel > Tops", "Apparel > Jeans", "Kitchen > Knives",
                               "Garden > Hoses"};
static const char *words[][4] = {{"cotton", "tee", "crew", "shirt"},
                                 {"denim", "jeans", "slim", "indigo"},
                                 {"steel", "knife", "chef", "blade"},
                                 {"garden", "hose", "spray", "nozzle"}};
/* the new labels: one under a branch the model has, one in a branch of its own; words the
 * model never saw */
static const char *new_labels[] = {"Apparel > Scarves", "Toys > Kites"};
static const char *new_words[][4] = {{"woollen", "scarf", "muffler", "stole"},
                                     {"kite", "string", "flying", "tail"}};

static void write_catalog(const char *path, int n, int with_new, int with_old)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,title,category\n");
    for (int i = 0; with_old && i < n; i++) {
        int c = i % 4;
        fprintf(f, "o%d,%s %s brand%d,%s\n", i, words[c][i % 4], words[c][(i / 4) % 4], i % 7,
                labels[c]);
    }
    for (int i = 0; with_new && i < 2 * with_new; i++) {
        int c = i % 2;
        fprintf(f, "n%d,%s %s brand%d,%s\n", i, new_words[c][i % 4],
                new_words[c][(i / 2 + 1) % 4], i % 7, new_labels[c]);
    }
    assert_int_equal(fclose(f), 0);
}

static int setup(void **state)
{
    (void)state;
    assert_int_equal(scratch_setup("imprint"), 0);
    snprintf(train_csv, sizeof train_csv, "%s", path_of("train.csv"));
    snprintf(examples_csv, sizeof examples_csv, "%s", path_of("examples.csv"));
    write_catalog(train_csv, 320, 0, 1);
    write_catalog(examples_csv, 40, 6, 1);
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
    shelf_error err;
    if (shelf_catalog_load(path, &ro, &c, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    return c;
}

/* A catalog written as write_catalog says, under name in the scratch folder, read. */
static shelf_catalog *catalog_at(const char *name, int n, int with_new, int with_old)
{
    char path[256];
    snprintf(path, sizeof path, "%s", path_of(name));
    write_catalog(path, n, with_new, with_old);
    return load(path);
}

typedef enum kind { BAG, BAG_DIM, HIERARCHY, GRU, TRANSFORMER } kind;

static shelf_model *train(kind k)
{
    shelf_catalog *c = load(train_csv);
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.threads = 1;
    o.seed = 1;
    o.epochs = k == GRU || k == TRANSFORMER ? 12 : 6;
    o.hierarchy = k == HIERARCHY;
    o.dim = k == BAG_DIM ? 16 : k == GRU || k == TRANSFORMER ? 16 : 0;
    if (k == GRU || k == TRANSFORMER) {
        o.text_encoder = k == GRU ? SHELF_TEXT_ENCODER_GRU : SHELF_TEXT_ENCODER_TRANSFORMER;
        o.max_tokens = 6;
        o.layers = 1;
        o.heads = 2;
    }
    shelf_model *m = NULL;
    shelf_error err;
    if (shelf_train(c, NULL, &o, &m, &err) != SHELF_OK)
        fail_msg("training: %s", err.message);
    shelf_catalog_free(c);
    return m;
}

static const char *top(const shelf_model *m, const char *text)
{
    shelf_scratch *s = NULL;
    assert_int_equal(shelf_scratch_new(m, &s, NULL), SHELF_OK);
    int label = -1;
    float prob;
    int n = shelf_predict(m, s, text, 1, &label, &prob);
    shelf_scratch_free(s);
    return n == 1 ? shelf_model_label(m, label) : "";
}

/* The share of the training products whose top label is theirs. */
static double old_accuracy(const shelf_model *m)
{
    int right = 0;
    for (int i = 0; i < 320; i++) {
        int c = i % 4;
        char t[96];
        snprintf(t, sizeof t, "%s %s brand%d", words[c][i % 4], words[c][(i / 4) % 4], i % 7);
        right += !strcmp(top(m, t), labels[c]);
    }
    return right / 320.0;
}

static void adds_and_keeps(kind k)
{
    shelf_model *m = train(k);
    double before = old_accuracy(m);
    shelf_catalog *c = load(examples_csv);
    shelf_imprint_report rep;
    shelf_error err;
    if (shelf_labels_add(m, c, &rep, &err) != SHELF_OK)
        fail_msg("labels add: %s", err.message);
    shelf_catalog_free(c);
    assert_int_equal(rep.added, 2);
    assert_int_equal(rep.examples, 12);
    assert_int_equal(rep.contrast, 40);
    assert_int_equal(shelf_model_num_labels(m), 6);
    assert_string_equal(shelf_model_label(m, 4), "Apparel > Scarves");
    if (k == BAG || k == HIERARCHY) /* the sparse bag learns the new words */
        assert_true(rep.new_rows > 0);
    else
        assert_int_equal(rep.new_rows, 0);
    /* products like the examples, in words the examples used in other pairs: the sparse
     * bag only, since the dense encoders have no features for words they never saw */
    if (k == BAG || k == HIERARCHY) {
        assert_string_equal(top(m, "muffler scarf brand3"), "Apparel > Scarves");
        assert_string_equal(top(m, "tail kite brand2"), "Toys > Kites");
        int right = 0;
        for (int i = 0; i < 12; i++) {
            char t[96];
            snprintf(t, sizeof t, "%s %s brand%d", new_words[i % 2][i % 4],
                     new_words[i % 2][(i / 2 + 1) % 4], i % 7);
            right += !strcmp(top(m, t), new_labels[i % 2]);
        }
        assert_true(right >= 11);
    }
    if (old_accuracy(m) < before - 0.02)
        fail_msg("old accuracy %.3f, before %.3f; scale %g threshold %g loo %g", old_accuracy(m), before, (double)rep.scale, (double)rep.threshold, (double)rep.loo_accuracy);
    /* the file keeps them */
    char path[256];
    snprintf(path, sizeof path, "%s", path_of("added.shelf"));
    assert_int_equal(shelf_model_save(m, path, NULL), SHELF_OK);
    shelf_model *back = NULL;
    assert_int_equal(shelf_model_load(path, &back, NULL), SHELF_OK);
    assert_int_equal(shelf_model_num_labels(back), 6);
    assert_string_equal(top(back, "tail kite brand2"), top(m, "tail kite brand2"));
    assert_string_equal(top(back, "denim slim brand1"), top(m, "denim slim brand1"));
    shelf_model_free(back);
    shelf_model_free(m);
}

static void bag(void **s) { (void)s; adds_and_keeps(BAG); }
static void bag_with_embeddings(void **s) { (void)s; adds_and_keeps(BAG_DIM); }
static void hierarchy(void **s) { (void)s; adds_and_keeps(HIERARCHY); }
static void gru(void **s) { (void)s; adds_and_keeps(GRU); }
static void transformer(void **s) { (void)s; adds_and_keeps(TRANSFORMER); }

/* A refused call names the file and leaves the model as it was. */
static void expect_refused(shelf_model *m, const char *path, const char *words_)
{
    double before = old_accuracy(m);
    shelf_catalog *c = load(path);
    shelf_imprint_report rep;
    shelf_error err;
    assert_int_equal(shelf_labels_add(m, c, &rep, &err), SHELF_EINVAL);
    shelf_catalog_free(c);
    if (!strstr(err.message, words_) || !strstr(err.message, path))
        fail_msg("message '%s' lacks '%s' or the file's name", err.message, words_);
    assert_int_equal(shelf_model_num_labels(m), 4);
    assert_true(old_accuracy(m) == before);
}

static void bad_examples_are_refused(void **state)
{
    (void)state;
    shelf_model *m = train(BAG);
    char path[256];
    snprintf(path, sizeof path, "%s", path_of("old-only.csv"));
    write_catalog(path, 20, 0, 1);
    expect_refused(m, path, "nothing to add");
    snprintf(path, sizeof path, "%s", path_of("new-only.csv"));
    write_catalog(path, 0, 5, 0);
    expect_refused(m, path, "model's own labels");
    shelf_model_free(m);

    m = train(HIERARCHY); /* a branch the taxonomy has is no new leaf */
    snprintf(path, sizeof path, "%s", path_of("branch.csv"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,title,category\n1,cotton tee,Apparel > Tops\n2,wool thing,Apparel\n");
    assert_int_equal(fclose(f), 0);
    shelf_catalog *c = load(path);
    shelf_error err;
    assert_int_equal(shelf_labels_add(m, c, NULL, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "branch.csv:3: label 'Apparel' is a branch of the "
                                        "model's taxonomy"));
    assert_int_equal(shelf_model_num_labels(m), 4);
    shelf_catalog_free(c);
    /* nor of another new label's */
    f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "id,title,category\n1,cotton tee,Apparel > Tops\n2,kite,Toys\n"
               "3,kite tail,Toys > Kites\n");
    assert_int_equal(fclose(f), 0);
    c = load(path);
    assert_int_equal(shelf_labels_add(m, c, NULL, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "label 'Toys' is a branch of the new labels'"));
    assert_int_equal(shelf_model_num_labels(m), 4);
    shelf_catalog_free(c);
    shelf_model_free(m);
}

/* One example per new label: nothing to choose the scale by, so the defaults; the
 * examples' own words still find their labels. */
static void one_example_each(void **state)
{
    (void)state;
    shelf_model *m = train(BAG);
    shelf_catalog *c = catalog_at("one.csv", 40, 1, 1);
    shelf_imprint_report rep;
    shelf_error err;
    if (shelf_labels_add(m, c, &rep, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    shelf_catalog_free(c);
    assert_int_equal(rep.added, 2);
    assert_true(rep.loo_accuracy == -1);
    assert_true(rep.scale > 0);
    assert_string_equal(top(m, "woollen muffler brand0"), "Apparel > Scarves");
    shelf_model_free(m);
}

/* Labels by their names alone: the name's words are its one example. */
static void by_name_alone(void **state)
{
    (void)state;
    shelf_model *m = train(BAG);
    shelf_catalog *c = catalog_at("contrast.csv", 40, 0, 1);
    const char *names[] = {"Garden > Kites", "Apparel > Scarves"};
    shelf_imprint_report rep;
    shelf_error err;
    if (shelf_labels_add_names(m, c, names, 2, &rep, &err) != SHELF_OK)
        fail_msg("%s", err.message);
    assert_int_equal(rep.named, 2);
    assert_int_equal(rep.added, 2);
    assert_string_equal(top(m, "kites brand3"), "Garden > Kites");
    const char *old[] = {"Apparel > Tops"};
    assert_int_equal(shelf_labels_add_names(m, c, old, 1, &rep, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "given by name, is one the model has"));
    assert_int_equal(shelf_model_num_labels(m), 6);
    shelf_catalog_free(c);
    shelf_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bag),
        cmocka_unit_test(bag_with_embeddings),
        cmocka_unit_test(hierarchy),
        cmocka_unit_test(gru),
        cmocka_unit_test(transformer),
        cmocka_unit_test(bad_examples_are_refused),
        cmocka_unit_test(one_example_each),
        cmocka_unit_test(by_name_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
