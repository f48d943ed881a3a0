/* The training options' table (train/options.c): its entries are consistent, setting an
 * option by name parses and marks it, the checks take defaults and ranges from the table,
 * and an option given for an encoder the model does not have is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "shelf.h"
#include "train/options.h"

static int count_choices(const shelf_option *e)
{
    int n = 0;
    while (e->choices[n])
        n++;
    return n;
}

static int is_number(const shelf_option *e)
{
    return e->type == SHELF_OPTION_INT || e->type == SHELF_OPTION_FLOAT ||
           e->type == SHELF_OPTION_U64;
}

static void every_default_is_in_its_range(void **state)
{
    (void)state;
    size_t n;
    const shelf_option *t = shelf_train_option_table(&n);
    assert_true(n > 0 && n <= 64);
    for (size_t i = 0; i < n; i++) {
        const shelf_option *e = &t[i];
        assert_non_null(e->help);
        assert_true(e->applies != 0 && (e->applies & ~SHELF_FOR_ALL) == 0);
        if (e->type == SHELF_OPTION_CHOICE)
            assert_true(e->def >= 0 && e->def < count_choices(e));
        else if (e->type == SHELF_OPTION_SET)
            assert_true(e->def >= 0 && e->def < (1 << count_choices(e)));
        else if (is_number(e) && !e->def_text) {
            assert_true(e->min <= e->max);
            if (!(e->def >= e->min && (e->flags & SHELF_OPTION_BELOW_MAX ? e->def < e->max
                                                                        : e->def <= e->max)))
                fail_msg("--%s: default %g outside %g..%g", e->name, e->def, e->min, e->max);
        }
    }
}

/* The entries of one name are one option: one type, one field. */
static void entries_of_a_name_share_type_and_field(void **state)
{
    (void)state;
    size_t n;
    const shelf_option *t = shelf_train_option_table(&n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(t[i].name, t[j].name) == 0) {
                assert_int_equal(t[i].type, t[j].type);
                assert_int_equal(t[i].offset, t[j].offset);
                assert_int_equal(t[i].applies & t[j].applies, 0);
            }
}

/* Setting each option to its default's text gives the default back, and marks it given. */
static void set_parses_each_option_back(void **state)
{
    (void)state;
    size_t n;
    const shelf_option *t = shelf_train_option_table(&n);
    for (size_t i = 0; i < n; i++) {
        const shelf_option *e = &t[i];
        shelf_train_options o;
        shelf_train_options_default(&o);
        shelf_error err = {0};
        char text[64];
        const char *value = text;
        if (e->type == SHELF_OPTION_FLAG)
            value = NULL;
        else if (e->type == SHELF_OPTION_CHOICE)
            value = e->choices[count_choices(e) - 1];
        else if (e->type == SHELF_OPTION_SET)
            value = "all";
        else
            snprintf(text, sizeof text, e->type == SHELF_OPTION_FLOAT ? "%g" : "%.0f",
                     e->def_text ? e->min : e->def);
        if (shelf_train_options_set(&o, e->name, value, &err) != SHELF_OK)
            fail_msg("--%s %s: %s", e->name, value ? value : "", err.message);
        assert_true(o.given != 0);
        const void *f = (const char *)&o + e->offset;
        double want = e->type == SHELF_OPTION_FLAG     ? 1
                      : e->type == SHELF_OPTION_CHOICE ? count_choices(e) - 1
                      : e->type == SHELF_OPTION_SET    ? (1 << count_choices(e)) - 1
                      : e->def_text                    ? e->min
                                                       : e->def;
        double got = e->type == SHELF_OPTION_FLOAT ? *(const float *)f
                     : e->type == SHELF_OPTION_U64 ? (double)*(const uint64_t *)f
                                                   : *(const int *)f;
        assert_true(got == (e->type == SHELF_OPTION_FLOAT ? (double)(float)want : want));
    }
}

static void set_refuses_bad_names_and_values(void **state)
{
    (void)state;
    shelf_train_options o;
    shelf_train_options_default(&o);
    shelf_error err = {0};
    assert_int_equal(shelf_train_options_set(&o, "colour", "red", &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--colour"));
    assert_int_equal(shelf_train_options_set(&o, "epochs", "abc", &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--epochs"));
    assert_int_equal(shelf_train_options_set(&o, "lr", "nan", &err), SHELF_EINVAL);
    assert_int_equal(shelf_train_options_set(&o, "seed", "-1", &err), SHELF_EINVAL);
    assert_int_equal(shelf_train_options_set(&o, "balance", "always", &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "undersample"));
    assert_int_equal(shelf_train_options_set(&o, "augment", "flip,spin", &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "spin"));
    assert_int_equal(shelf_train_options_set(&o, "hierarchy", "1", &err), SHELF_EINVAL);
    assert_int_equal(shelf_train_options_set(&o, "dim", NULL, &err), SHELF_EINVAL);
    assert_int_equal(o.given, 0);
    assert_int_equal(shelf_train_options_set(&o, "augment", " crop , jitter", &err), SHELF_OK);
    assert_int_equal(o.augment, 2 | 8);
    assert_int_equal(shelf_train_options_set(&o, "augment", "none", &err), SHELF_OK);
    assert_int_equal(o.augment, 0);
}

/* Checks name=value set by name after the modality and (for text) the text encoder: an
 * image model has none, and --text-encoder given for it is refused too. */
static shelf_status check(const char *modality, const char *encoder, const char *name,
                          const char *value, shelf_error *err)
{
    shelf_train_options o;
    shelf_train_options_default(&o);
    assert_int_equal(shelf_train_options_set(&o, "modality", modality, err), SHELF_OK);
    if (strcmp(modality, "image") != 0)
        assert_int_equal(shelf_train_options_set(&o, "text-encoder", encoder, err), SHELF_OK);
    assert_int_equal(shelf_train_options_set(&o, name, value, err), SHELF_OK);
    return shelf_train_options_check(&o, err);
}

static void an_option_that_does_not_apply_is_refused(void **state)
{
    (void)state;
    static const struct {
        const char *modality, *encoder, *name, *value, *says;
    } refused[] = {
        {"image", "bag", "dim", "50", "--dim does not apply to an image model"},
        {"text", "bag", "width", "8", "--width does not apply to a text model (--text-encoder bag)"},
        {"text", "gru", "heads", "4", "--heads does not apply to a text model (--text-encoder gru)"},
        {"text", "transformer", "ngrams", "3", "(--text-encoder transformer): it is for bag"},
        {"both", "bag", "max-tokens", "8", "fused model (--modality both, --text-encoder bag)"},
        {"text", "bag", "augment", "flip", "--augment does not apply"},
        {"image", "bag", "hierarchy", NULL, "--hierarchy does not apply to an image model"},
        {"image", "bag", "text-encoder", "bag", "--text-encoder does not apply to an image"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        shelf_error err = {0};
        assert_int_equal(check(refused[i].modality, refused[i].encoder, refused[i].name,
                               refused[i].value, &err), SHELF_EINVAL);
        if (!strstr(err.message, refused[i].says))
            fail_msg("--%s: '%s' does not say '%s'", refused[i].name, err.message,
                     refused[i].says);
    }
}

/* In a fused model --epochs, --lr and --batch are the CNN's; the rest apply by encoder. */
static void fused_models_take_both_encoders_options(void **state)
{
    (void)state;
    static const char *const ok[][4] = {
        {"both", "bag", "epochs", "3"}, {"both", "bag", "batch", "16"},
        {"both", "bag", "lr", "0.01"},  {"both", "bag", "ngrams", "3"},
        {"both", "bag", "width", "8"},  {"both", "gru", "max-tokens", "8"},
        {"both", "transformer", "heads", "2"}, {"text", "gru", "batch", "8"},
        {"image", "bag", "threads", "2"}, {"text", "bag", "balance", "weight"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        shelf_error err = {0};
        if (check(ok[i][0], ok[i][1], ok[i][2], ok[i][3], &err) != SHELF_OK)
            fail_msg("--%s with %s/%s: %s", ok[i][2], ok[i][0], ok[i][1], err.message);
    }
}

/* Filled directly, nothing is marked given: an option that does not apply is left alone. */
static void fields_filled_directly_are_not_refused_for_not_applying(void **state)
{
    (void)state;
    shelf_train_options o;
    shelf_train_options_default(&o);
    o.text_encoder = SHELF_TEXT_ENCODER_GRU;
    o.heads = 4;
    o.width = 8;
    shelf_error err = {0};
    assert_int_equal(shelf_train_options_check(&o, &err), SHELF_OK);
}

static void ranges_and_defaults_come_from_the_table(void **state)
{
    (void)state;
    shelf_train_options o;
    shelf_train_options_default(&o);
    shelf_error err = {0};
    assert_int_equal(train_check_options(&o, 1000, &err), SHELF_OK);
    assert_int_equal(o.ngrams, 2);
    assert_int_equal(o.minn, 2);
    assert_int_equal(o.maxn, 5);
    assert_int_equal(o.buckets, 2000000);
    assert_true(o.lr == 1.0f && o.epochs >= 3 && o.epochs <= 15);
    assert_true(o.threads >= 1 && o.threads <= 64);

    shelf_train_options_default(&o);
    o.text_encoder = SHELF_TEXT_ENCODER_TRANSFORMER;
    assert_int_equal(train_check_options(&o, 1000, &err), SHELF_OK);
    assert_int_equal(o.dim, 128);
    assert_int_equal(o.batch, 32);
    assert_int_equal(o.layers, 2);
    assert_int_equal(o.heads, 4);
    assert_int_equal(o.max_tokens, 64);
    assert_true(o.dropout == 0.1f && o.lr == 0.002f && o.buckets == 0);

    shelf_train_options_default(&o);
    o.modality = SHELF_MODALITY_IMAGE;
    o.optimizer = SHELF_OPTIMIZER_SGD;
    assert_int_equal(options_check_image(&o, 28314, &err), SHELF_OK);
    assert_true(o.image_size == 64 && o.width == 32 && o.batch == 64 && o.epochs == 8);
    assert_true(o.lr == 0.05f && o.augment == 15);
    /* a small photo catalog gets enough epochs for 800 steps, up to 30 */
    const size_t sizes[] = {8000, 2600, 1000, 10};
    const int epochs[] = {8, 20, 30, 30};
    for (int i = 0; i < 4; i++) {
        shelf_train_options_default(&o);
        o.modality = SHELF_MODALITY_IMAGE;
        assert_int_equal(options_check_image(&o, sizes[i], &err), SHELF_OK);
        assert_int_equal(o.epochs, epochs[i]);
    }
    shelf_train_options_default(&o);
    o.modality = SHELF_MODALITY_IMAGE;
    o.epochs = 3; /* given: kept */
    assert_int_equal(options_check_image(&o, 2600, &err), SHELF_OK);
    assert_int_equal(o.epochs, 3);

    shelf_train_options_default(&o);
    o.dim = 5000;
    assert_int_equal(shelf_train_options_check(&o, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--dim must be at most 4096, not 5000"));
    shelf_train_options_default(&o);
    o.text_encoder = SHELF_TEXT_ENCODER_GRU;
    o.dim = 5000; /* a sequence encoder's --dim has its own range */
    assert_int_equal(shelf_train_options_check(&o, &err), SHELF_EINVAL);
    assert_non_null(strstr(err.message, "--dim must be at most 1024, not 5000"));
}

static void threads_above_the_limit_are_refused_naming_it(void **state)
{
    (void)state;
    shelf_train_options o;
    shelf_train_options_default(&o);
    shelf_error err = {0};
    assert_int_equal(shelf_train_options_set(&o, "threads", "500", &err), SHELF_OK);
    assert_int_equal(shelf_train_options_check(&o, &err), SHELF_EINVAL);
    assert_string_equal(err.message, "--threads must be at most 64, not 500");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_default_is_in_its_range),
        cmocka_unit_test(entries_of_a_name_share_type_and_field),
        cmocka_unit_test(set_parses_each_option_back),
        cmocka_unit_test(set_refuses_bad_names_and_values),
        cmocka_unit_test(an_option_that_does_not_apply_is_refused),
        cmocka_unit_test(fused_models_take_both_encoders_options),
        cmocka_unit_test(fields_filled_directly_are_not_refused_for_not_applying),
        cmocka_unit_test(ranges_and_defaults_come_from_the_table),
        cmocka_unit_test(threads_above_the_limit_are_refused_naming_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
