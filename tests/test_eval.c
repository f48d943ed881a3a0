/* Tests of src/eval: metrics against scikit-learn, levels, reports.
 *
 * Reference numbers were computed once with scikit-learn 1.2.1 (/usr/bin/python3):
 *   labels = sorted(set(y_true) | set(y_pred) - {NONE})
 *   precision_recall_fscore_support(y_true, y_pred, labels=labels, average=...,
 *                                   zero_division=0)
 * where a row without a prediction has y_pred = NONE, a placeholder left out of labels, and
 * level L keeps the rows whose true path has at least L parts, mapping both paths to their
 * first L parts (NONE when the predicted path is shorter). Fractions like 0.625 are exact;
 * the others are printed with 17 digits and compared to 1e-12. Hierarchical scores and
 * back-off are small sums worked out by hand next to their tests. Catalog hygiene runs on
 * small CSV catalogs written to /tmp. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shelf.h"

#define assert_near(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-12)

/* One row: the true path and the top prediction, NULL for none (k = 0). */
typedef struct row {
    const char *truth, *pred;
} row;

static shelf_eval *eval_of(const char *sep, const row *rows, size_t n)
{
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(sep, &e, NULL), SHELF_OK);
    for (size_t i = 0; i < n; i++) {
        const char *ranked[1] = {rows[i].pred};
        assert_int_equal(shelf_eval_add(e, rows[i].truth, ranked, rows[i].pred ? 1 : 0),
                         SHELF_OK);
    }
    return e;
}

/* y_true = AAAABBCD, y_pred = AAABBCCE: D is true but never predicted, E predicted but
 * never true, so both are classes of the macro average with scores 0. */
static const row letters[] = {{"A", "A"}, {"A", "A"}, {"A", "A"}, {"A", "B"},
                              {"B", "B"}, {"B", "C"}, {"C", "C"}, {"D", "E"}};
#define NLETTERS (sizeof letters / sizeof letters[0])

/* Paths of depths 1 to 3; predictions deeper and shallower than the truth; a row with no
 * prediction. */
static const row paths[] = {
    {"A > B > C", "A > B > C"}, {"A > B > D", "A > B > C"}, {"A > E", "A > E > F"},
    {"G", "A > B"},             {"A > B > C", "A"},         {"G > H", "G"},
    {"A > B > D", NULL},
};
#define NPATHS (sizeof paths / sizeof paths[0])

static cJSON *find_class(const cJSON *classes, const char *label)
{
    const cJSON *c;
    cJSON_ArrayForEach(c, classes)
    {
        if (strcmp(cJSON_GetObjectItem(c, "label")->valuestring, label) == 0)
            return (cJSON *)c;
    }
    return NULL;
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(o, key);
    assert_non_null(v);
    assert_true(cJSON_IsNumber(v));
    return v->valuedouble;
}

static void macro_averages_over_union_of_true_and_predicted_labels(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(NULL, letters, NLETTERS);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.n, 8);
    assert_near(s.accuracy, 0.625);
    /* scikit-learn, labels A..E: per-class P = 1, .5, .5, 0, 0 */
    assert_near(s.macro_precision, 0.40000000000000002);
    assert_near(s.macro_recall, 0.45000000000000001);
    assert_near(s.macro_f1, 0.40476190476190477);
    assert_near(s.micro_precision, 0.625);
    assert_near(s.micro_recall, 0.625);
    assert_near(s.micro_f1, 0.625);
    assert_int_equal(s.levels, 1);
    shelf_eval_free(e);
}

static void undefined_precision_or_recall_counts_as_zero(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(NULL, letters, NLETTERS);
    char *json = shelf_eval_json(e, 1, 0);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    const cJSON *classes = cJSON_GetObjectItem(o, "classes");
    assert_int_equal(cJSON_GetArraySize(classes), 5);
    /* D: never predicted, precision 0/0; E: never true, recall 0/0 (scikit-learn: 0). */
    const cJSON *d = find_class(classes, "D"), *x = find_class(classes, "E");
    assert_non_null(d);
    assert_non_null(x);
    assert_near(num(d, "precision"), 0);
    assert_near(num(d, "recall"), 0);
    assert_near(num(d, "f1"), 0);
    assert_near(num(x, "support"), 0);
    assert_near(num(x, "predicted"), 1);
    assert_near(num(x, "recall"), 0);
    assert_near(num(x, "f1"), 0);
    /* C: P = 1/2, R = 1/1, F1 = 2/3 (scikit-learn 0.66666666666666663). */
    const cJSON *c = find_class(classes, "C");
    assert_near(num(c, "precision"), 0.5);
    assert_near(num(c, "recall"), 1);
    assert_near(num(c, "f1"), 0.66666666666666663);
    cJSON_Delete(o);
    free(json);
    shelf_eval_free(e);
}

static void weighted_average_weights_classes_by_support(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(NULL, letters, NLETTERS);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    /* scikit-learn average='weighted': (4*1 + 2*.5 + 1*.5 + 1*0) / 8 = 0.6875 */
    assert_near(s.weighted_precision, 0.6875);
    assert_near(s.weighted_recall, 0.625);
    assert_near(s.weighted_f1, 0.63690476190476197);
    shelf_eval_free(e);
}

static void top5_counts_truth_among_first_five_predictions(void **state)
{
    (void)state;
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(NULL, &e, NULL), SHELF_OK);
    const char *ranked[] = {"a", "b", "c", "d", "e", "f"};
    assert_int_equal(shelf_eval_add(e, "a", ranked, 6), SHELF_OK); /* first: top-1 and top-5 */
    assert_int_equal(shelf_eval_add(e, "e", ranked, 6), SHELF_OK); /* fifth: top-5 */
    assert_int_equal(shelf_eval_add(e, "f", ranked, 6), SHELF_OK); /* sixth: neither */
    assert_int_equal(shelf_eval_add(e, "d", ranked, 3), SHELF_OK); /* beyond k: neither */
    assert_int_equal(shelf_eval_add(e, "a", NULL, 0), SHELF_OK);   /* no prediction */
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.n, 5);
    assert_near(s.accuracy, 1.0 / 5);
    assert_near(s.top5_accuracy, 2.0 / 5);
    shelf_eval_free(e);
}

static void levels_compare_prefixes_of_rows_at_least_that_deep(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(" > ", paths, NPATHS);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.levels, 3);
    long n;
    double acc, f1;
    /* scikit-learn level 1: y_true AAAAGGA, y_pred A A A A A G NONE; labels A, G */
    shelf_eval_level(e, 1, &n, &acc, &f1);
    assert_int_equal(n, 7);
    assert_near(acc, 0.7142857142857143);
    assert_near(f1, 0.73333333333333339);
    /* level 2: "G" has no level 2; "A" predicted for "A > B > C" is NONE there */
    shelf_eval_level(e, 2, &n, &acc, &f1);
    assert_int_equal(n, 6);
    assert_near(acc, 0.5);
    assert_near(f1, 0.55555555555555547);
    shelf_eval_level(e, 3, &n, &acc, &f1);
    assert_int_equal(n, 4);
    assert_near(acc, 0.25);
    assert_near(f1, 0.25);
    /* Outside 1..levels there are no rows. */
    shelf_eval_level(e, 4, &n, &acc, &f1);
    assert_int_equal(n, 0);
    assert_near(acc + f1, 0);
    shelf_eval_level(e, 0, &n, &acc, &f1);
    assert_int_equal(n, 0);
    shelf_eval_free(e);
}

static void whole_paths_are_classes_distinct_from_their_prefixes(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(" > ", paths, NPATHS);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    /* scikit-learn over whole paths: 8 labels (A, A > B, A > E > F only predicted) */
    assert_near(s.accuracy, 0.14285714285714285);
    assert_near(s.macro_precision, 0.0625);
    assert_near(s.macro_recall, 0.0625);
    assert_near(s.macro_f1, 0.0625);
    assert_near(s.micro_precision, 0.16666666666666666);
    assert_near(s.micro_recall, 0.14285714285714285);
    assert_near(s.micro_f1, 0.15384615384615383);
    assert_near(s.weighted_f1, 0.14285714285714285);
    shelf_eval_free(e);
}

static void label_sep_splits_levels(void **state)
{
    (void)state;
    static const row slashes[] = {{"a/b", "a/c"}, {"a/b > c", "a/b > c"}};
    shelf_eval *e = eval_of("/", slashes, 2);
    long n;
    double acc, f1;
    shelf_eval_level(e, 1, &n, &acc, &f1);
    assert_int_equal(n, 2);
    assert_near(acc, 1);
    shelf_eval_level(e, 2, &n, &acc, &f1);
    assert_near(acc, 0.5); /* "a/b" vs "a/c"; "a/b > c" whole */
    shelf_eval_free(e);
    /* An empty separator never splits: one level. */
    e = eval_of("", slashes, 2);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.levels, 1);
    shelf_eval_free(e);
}

static void rows_without_prediction_are_errors_not_classes(void **state)
{
    (void)state;
    static const row rows[] = {{"x", "x"}, {"x", NULL}, {"y", "y"}, {"y", NULL}};
    shelf_eval *e = eval_of(NULL, rows, 4);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    /* scikit-learn with labels = [x, y]: no false positive anywhere */
    assert_int_equal(s.n, 4);
    assert_near(s.accuracy, 0.5);
    assert_near(s.macro_precision, 1);
    assert_near(s.macro_recall, 0.5);
    assert_near(s.macro_f1, 0.66666666666666663);
    assert_near(s.micro_precision, 1);
    assert_near(s.micro_recall, 0.5);
    assert_near(s.weighted_f1, 0.66666666666666663);
    char *json = shelf_eval_json(e, 1, 5);
    cJSON *o = cJSON_Parse(json);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "classes")), 2);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "confusions")), 0);
    cJSON_Delete(o);
    free(json);
    char *text = shelf_eval_text(e, 0, 0);
    assert_non_null(strstr(text, "no prediction     2\n"));
    free(text);
    shelf_eval_free(e);
}

static void json_parses_and_has_every_key(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(" > ", paths, NPATHS);
    char *json = shelf_eval_json(e, 1, 3);
    assert_non_null(json);
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    static const char *keys[] = {
        "n", "accuracy", "top5_accuracy", "macro_precision", "macro_recall", "macro_f1",
        "micro_precision", "micro_recall", "micro_f1", "weighted_precision",
        "weighted_recall", "weighted_f1"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        num(o, keys[i]);
    assert_near(num(o, "n"), 7);
    const cJSON *levels = cJSON_GetObjectItem(o, "levels");
    assert_int_equal(cJSON_GetArraySize(levels), 3);
    const cJSON *l2 = cJSON_GetArrayItem(levels, 1);
    assert_near(num(l2, "level"), 2);
    assert_near(num(l2, "n"), 6);
    assert_near(num(l2, "accuracy"), 0.5);
    assert_near(num(l2, "macro_f1"), 0.55555555555555547);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "confusions")), 3);
    const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "classes"), 0);
    assert_string_equal(cJSON_GetObjectItem(c0, "label")->valuestring, "A > B > C");
    assert_non_null(cJSON_GetObjectItem(c0, "support"));
    assert_non_null(cJSON_GetObjectItem(c0, "predicted"));
    cJSON_Delete(o);
    free(json);
    /* Without per_class or confusions those arrays are left out. */
    json = shelf_eval_json(e, 0, 0);
    o = cJSON_Parse(json);
    assert_null(cJSON_GetObjectItem(o, "classes"));
    assert_null(cJSON_GetObjectItem(o, "confusions"));
    cJSON_Delete(o);
    free(json);
    shelf_eval_free(e);
}

static void confusions_sorted_by_count_then_names(void **state)
{
    (void)state;
    static const row rows[] = {{"z", "y"}, {"x", "y"}, {"y", "x"}, {"z", "y"},
                               {"x", "y"}, {"x", "x"}, {"w", "x"}};
    shelf_eval *e = eval_of(NULL, rows, 7);
    char *json = shelf_eval_json(e, 0, 3);
    cJSON *o = cJSON_Parse(json);
    const cJSON *conf = cJSON_GetObjectItem(o, "confusions");
    assert_int_equal(cJSON_GetArraySize(conf), 3);
    static const char *expect[3][2] = {{"x", "y"}, {"z", "y"}, {"w", "x"}};
    static const double counts[3] = {2, 2, 1};
    for (int i = 0; i < 3; i++) {
        const cJSON *c = cJSON_GetArrayItem(conf, i);
        assert_string_equal(cJSON_GetObjectItem(c, "true")->valuestring, expect[i][0]);
        assert_string_equal(cJSON_GetObjectItem(c, "predicted")->valuestring, expect[i][1]);
        assert_near(num(c, "count"), counts[i]);
    }
    cJSON_Delete(o);
    free(json);
    shelf_eval_free(e);
}

static void classes_sorted_by_support_then_label(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(NULL, letters, NLETTERS);
    char *json = shelf_eval_json(e, 1, 0);
    cJSON *o = cJSON_Parse(json);
    const cJSON *classes = cJSON_GetObjectItem(o, "classes");
    static const char *order[] = {"A", "B", "C", "D", "E"}; /* supports 4 2 1 1 0 */
    for (int i = 0; i < 5; i++)
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetArrayItem(classes, i), "label")->valuestring,
            order[i]);
    cJSON_Delete(o);
    free(json);
    shelf_eval_free(e);
}

static void empty_eval_reports_zeros_not_nan(void **state)
{
    (void)state;
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(NULL, &e, NULL), SHELF_OK);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.n, 0);
    assert_int_equal(s.levels, 0);
    double all = s.accuracy + s.top5_accuracy + s.macro_precision + s.macro_recall +
                 s.macro_f1 + s.micro_precision + s.micro_recall + s.micro_f1 +
                 s.weighted_precision + s.weighted_recall + s.weighted_f1 +
                 s.hier_precision + s.hier_recall + s.hier_f1;
    assert_true(all == 0.0); /* NaN would fail this too */
    char *json = shelf_eval_json(e, 1, 10);
    assert_non_null(json);
    assert_null(strstr(json, "null"));
    assert_null(strstr(json, "nan"));
    cJSON *o = cJSON_Parse(json);
    assert_non_null(o);
    assert_near(num(o, "macro_f1"), 0);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "levels")), 0);
    assert_near(num(cJSON_GetObjectItem(o, "hierarchical_f1"), "f1"), 0);
    cJSON_Delete(o);
    free(json);
    char *text = shelf_eval_text(e, 1, 10);
    assert_non_null(text);
    assert_null(strstr(text, "nan"));
    free(text);
    shelf_eval_free(e);
}

static void text_report_aligns_columns_and_keeps_long_labels(void **state)
{
    (void)state;
    static const char *long_label =
        "Home & Kitchen > Kitchen & Dining > Cookware > Pots & Pans > Stockpots & Soup Pots";
    row rows[NLETTERS + 2];
    memcpy(rows, letters, sizeof letters);
    rows[NLETTERS] = (row){long_label, long_label};
    rows[NLETTERS + 1] = (row){long_label, "A"};
    shelf_eval *e = eval_of(" > ", rows, NLETTERS + 2);
    char *text = shelf_eval_text(e, 1, 2);
    assert_non_null(text);
    assert_non_null(strstr(text, "products          10\n"));
    assert_non_null(strstr(text, "accuracy          0.6000   top-5 0.6000\n"));
    assert_non_null(strstr(text, "                  precision  recall  f1\n"));
    assert_non_null(strstr(text, "level 1 (n=10)    accuracy "));
    assert_non_null(strstr(text, "most frequent confusions:\n  1  A  ->  B\n"));
    /* Per-class rows: numbers in fixed columns, the label last and whole. */
    assert_non_null(strstr(text, "    support  predicted  precision  recall  f1      label\n"));
    assert_non_null(strstr(text, "          4          4  0.7500     0.7500  0.7500  A\n"));
    char line[256];
    snprintf(line, sizeof line, "          2          1  1.0000     0.5000  0.6667  %s\n",
             long_label);
    assert_non_null(strstr(text, line));
    free(text);
    shelf_eval_free(e);
}

static void bad_arguments_are_refused(void **state)
{
    (void)state;
    shelf_eval *e = NULL;
    shelf_error err;
    assert_int_equal(shelf_eval_new(NULL, NULL, &err), SHELF_EINVAL);
    assert_int_equal(err.code, SHELF_EINVAL);
    assert_int_equal(shelf_eval_new(NULL, &e, NULL), SHELF_OK);
    const char *ranked[] = {"a"};
    assert_int_equal(shelf_eval_add(e, NULL, ranked, 1), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add(NULL, "a", ranked, 1), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add(e, "a", ranked, -1), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add(e, "a", NULL, 1), SHELF_EINVAL);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.n, 0); /* refused rows count nothing */
    shelf_eval_free(e);
    shelf_eval_free(NULL);
}

/* The rows of `paths`, in parts |T|, |P| and shared |P&T|:
 *   A>B>C A>B>C 3 3 3;  A>B>D A>B>C 3 3 2;  A>E A>E>F 2 3 2;  G A>B 1 2 0;
 *   A>B>C A 3 1 1;  G>H G 2 1 1;  A>B>D (none) 3 0 0
 * so hP = 9/13, hR = 9/17, hF = 2*9/(13+17) = 0.6. */
static void hierarchical_scores_count_shared_path_prefixes(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(" > ", paths, NPATHS);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_near(s.hier_precision, 9.0 / 13);
    assert_near(s.hier_recall, 9.0 / 17);
    assert_near(s.hier_f1, 0.6);
    char *json = shelf_eval_json(e, 0, 0);
    cJSON *o = cJSON_Parse(json);
    const cJSON *h = cJSON_GetObjectItem(o, "hierarchical_f1");
    assert_non_null(h);
    assert_near(num(h, "precision"), 9.0 / 13);
    assert_near(num(h, "recall"), 9.0 / 17);
    assert_near(num(h, "f1"), 0.6);
    cJSON_Delete(o);
    free(json);
    char *text = shelf_eval_text(e, 0, 0);
    assert_non_null(strstr(text, "hierarchical      0.6923     0.5294  0.6000\n"));
    free(text);
    shelf_eval_free(e);
}

static void hierarchical_parts_are_whole_not_string_prefixes(void **state)
{
    (void)state;
    /* "a > bc" shares one part with "a > b", not a string prefix of two; an empty
     * separator makes each path one part. */
    static const row rows[] = {{"a > bc", "a > b"}};
    shelf_eval *e = eval_of(" > ", rows, 1);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_near(s.hier_precision, 0.5);
    assert_near(s.hier_recall, 0.5);
    shelf_eval_free(e);
    e = eval_of("", rows, 1);
    shelf_eval_summarize(e, &s);
    assert_near(s.hier_f1, 0);
    shelf_eval_free(e);
}

/* One row under back-off: the truth, the top prediction, the path given at the threshold. */
typedef struct backoff_row {
    const char *truth, *pred, *given;
} backoff_row;

static const backoff_row backoff_rows[] = {
    /* full, right and wrong */
    {"Apparel > Topwear > Tshirts", "Apparel > Topwear > Tshirts", "Apparel > Topwear > Tshirts"},
    {"Apparel > Topwear > Tshirts", "Apparel > Topwear > Shirts", "Apparel > Topwear > Shirts"},
    /* partial: a right ancestor, then a string prefix that is no ancestor, then a top level */
    {"Apparel > Topwear > Tshirts", "Apparel > Topwear > Shirts", "Apparel > Topwear"},
    {"Apparel > Topwear > Tshirts", "Apparel > Top > Vests", "Apparel > Top"},
    {"Footwear > Shoes > Flats", "Footwear > Shoes > Heels", "Footwear"},
    /* review, both ways */
    {"Footwear > Shoes > Flats", "Apparel > Topwear > Shirts", NULL},
    {"Footwear > Shoes > Heels", "Footwear > Shoes > Flats", ""},
    /* full and deeper than the truth: the truth is a prefix of it, not it of the truth */
    {"Watches", "Watches > Analog", "Watches > Analog"},
};
#define NBACKOFF (sizeof backoff_rows / sizeof backoff_rows[0])

static shelf_eval *backoff_eval(void)
{
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(" > ", &e, NULL), SHELF_OK);
    for (size_t i = 0; i < NBACKOFF; i++) {
        const backoff_row *r = &backoff_rows[i];
        const char *ranked[1] = {r->pred};
        assert_int_equal(shelf_eval_add(e, r->truth, ranked, 1), SHELF_OK);
        assert_int_equal(shelf_eval_add_backoff(e, r->truth, r->given, 0.9f), SHELF_OK);
    }
    return e;
}

static void backoff_coverage_and_precision_count_whole_part_prefixes(void **state)
{
    (void)state;
    shelf_eval *e = backoff_eval();
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.n, NBACKOFF);
    assert_true(s.has_backoff);
    assert_true(s.backoff_threshold == 0.9); /* as written, not 0.9f widened */
    assert_near(s.backoff_coverage, 6.0 / 8); /* two sent to review */
    assert_near(s.backoff_precision, 3.0 / 6); /* right: Tshirts, Apparel > Topwear, Footwear */
    assert_int_equal(s.backoff_partial, 3);
    assert_int_equal(s.backoff_review, 2);
    shelf_eval_free(e);
}

static void backoff_appears_in_json_and_text(void **state)
{
    (void)state;
    shelf_eval *e = backoff_eval();
    char *json = shelf_eval_json(e, 0, 0);
    cJSON *o = cJSON_Parse(json);
    const cJSON *b = cJSON_GetObjectItem(o, "backoff");
    assert_non_null(b);
    assert_true(num(b, "threshold") == 0.9);
    assert_near(num(b, "coverage"), 0.75);
    assert_near(num(b, "precision"), 0.5);
    assert_near(num(b, "partial"), 3);
    assert_near(num(b, "review"), 2);
    cJSON_Delete(o);
    free(json);
    char *text = shelf_eval_text(e, 0, 0);
    assert_non_null(strstr(
        text, "back-off at 0.90  coverage 0.7500  precision 0.5000  (partial 3, review 2)\n"));
    free(text);
    shelf_eval_free(e);
}

static void no_backoff_report_without_backoff_rows(void **state)
{
    (void)state;
    shelf_eval *e = eval_of(" > ", paths, NPATHS);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_false(s.has_backoff);
    char *json = shelf_eval_json(e, 1, 3);
    cJSON *o = cJSON_Parse(json);
    assert_null(cJSON_GetObjectItem(o, "backoff"));
    cJSON_Delete(o);
    free(json);
    char *text = shelf_eval_text(e, 1, 3);
    assert_null(strstr(text, "back-off"));
    free(text);
    shelf_eval_free(e);
}

static void backoff_threshold_keeps_its_digits_in_text(void **state)
{
    (void)state;
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(NULL, &e, NULL), SHELF_OK);
    assert_int_equal(shelf_eval_add_backoff(e, "a", "a", 0.955f), SHELF_OK);
    char *text = shelf_eval_text(e, 0, 0);
    assert_non_null(strstr(text, "back-off at 0.955  coverage 1.0000  precision 1.0000"));
    free(text);
    shelf_eval_free(e);
}

static void backoff_bad_arguments_are_refused(void **state)
{
    (void)state;
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(NULL, &e, NULL), SHELF_OK);
    assert_int_equal(shelf_eval_add_backoff(NULL, "a", "a", 0.5f), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add_backoff(e, NULL, "a", 0.5f), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add_backoff(e, "a", "a", -0.1f), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add_backoff(e, "a", "a", 1.5f), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add_backoff(e, "a", "a", NAN), SHELF_EINVAL);
    assert_int_equal(shelf_eval_add_backoff(e, "a", "a", 0.5f), SHELF_OK);
    /* another threshold than the first row's */
    assert_int_equal(shelf_eval_add_backoff(e, "a", "a", 0.6f), SHELF_EINVAL);
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_near(s.backoff_coverage, 1); /* one row counted */
    assert_near(s.backoff_threshold, 0.5);
    assert_int_equal(s.n, 0); /* back-off rows are no rows of the other metrics */
    shelf_eval_free(e);
}

/* Enough labels and pairs to make both hash tables grow many times. */
static void many_labels_and_rows_are_counted_exactly(void **state)
{
    (void)state;
    enum { LABELS = 3000, ROWS = 60000 };
    shelf_eval *e = NULL;
    assert_int_equal(shelf_eval_new(NULL, &e, NULL), SHELF_OK);
    long correct = 0;
    for (int i = 0; i < ROWS; i++) {
        char truth[32], pred[32];
        snprintf(truth, sizeof truth, "group %d > item %d", i % LABELS % 10, i % LABELS);
        int wrong = i % 7 == 0;
        snprintf(pred, sizeof pred, "group %d > item %d", (i + wrong) % LABELS % 10,
                 (i + wrong) % LABELS);
        const char *ranked[] = {pred};
        assert_int_equal(shelf_eval_add(e, truth, ranked, 1), SHELF_OK);
        correct += !wrong;
    }
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    assert_int_equal(s.n, ROWS);
    assert_near(s.accuracy, (double)correct / ROWS);
    assert_near(s.micro_f1, s.accuracy);
    assert_int_equal(s.levels, 2);
    char *json = shelf_eval_json(e, 1, 5);
    cJSON *o = cJSON_Parse(json);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "classes")), LABELS);
    cJSON_Delete(o);
    free(json);
    shelf_eval_free(e);
}

/* ---- catalog hygiene ---------------------------------------------------------------- */

/* Loads a CSV catalog written from csv (with a label column). */
static shelf_catalog *catalog_of(const char *csv)
{
    char path[] = "/tmp/shelf_test_hygiene_XXXXXX.csv";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, csv, strlen(csv)), (ssize_t)strlen(csv));
    close(fd);
    shelf_read_options o = {0};
    o.require_label = 1;
    shelf_catalog *c = NULL;
    shelf_error err = {0};
    shelf_status st = shelf_catalog_load(path, &o, &c, &err);
    unlink(path);
    if (st != SHELF_OK)
        print_error("%s\n", err.message);
    assert_int_equal(st, SHELF_OK);
    return c;
}

static void assert_pair(shelf_hygiene_pair p, size_t product, size_t earlier)
{
    assert_int_equal(p.product, product);
    assert_int_equal(p.earlier, earlier);
}

static void hygiene_counts_duplicates_and_conflicts_with_earliest_examples(void **state)
{
    (void)state;
    shelf_catalog *c = catalog_of("id,title,category\n"
                                  "0,red shirt,A > B\n"
                                  "1,blue shirt,A > B\n"
                                  "2,red shirt,A > B\n"
                                  "3,red shirt,A > C\n"
                                  "4,blue shirt,A > B\n"
                                  "5,green hat,X\n");
    shelf_hygiene h;
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.duplicates, 3);
    assert_int_equal(h.conflicting, 1); /* red shirt: A > B and A > C */
    assert_int_equal(h.n_duplicate_examples, 3);
    assert_pair(h.duplicate_examples[0], 2, 0);
    assert_pair(h.duplicate_examples[1], 3, 0);
    assert_pair(h.duplicate_examples[2], 4, 1);
    assert_int_equal(h.n_conflicting_examples, 1);
    assert_pair(h.conflicting_examples[0], 3, 0);
    assert_int_equal(h.two_parents, 0);
    shelf_catalog_free(c);
}

static void hygiene_keeps_the_first_duplicates_in_catalog_order(void **state)
{
    (void)state;
    char csv[4096] = "id,title,category\n";
    for (int i = 0; i < 8; i++) /* rows 2i and 2i+1 repeat each other, last pairs first */
        for (int twice = 0; twice < 2; twice++)
            snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "%d,text %d,L%d\n",
                     2 * i + twice, 7 - i, twice);
    shelf_catalog *c = catalog_of(csv);
    shelf_hygiene h;
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.duplicates, 8);
    assert_int_equal(h.conflicting, 8);
    assert_int_equal(h.n_duplicate_examples, SHELF_HYGIENE_EXAMPLES);
    assert_int_equal(h.n_conflicting_examples, SHELF_HYGIENE_EXAMPLES);
    for (int i = 0; i < SHELF_HYGIENE_EXAMPLES; i++) {
        assert_pair(h.duplicate_examples[i], 2 * (size_t)i + 1, 2 * (size_t)i);
        assert_pair(h.conflicting_examples[i], 2 * (size_t)i + 1, 2 * (size_t)i);
    }
    shelf_catalog_free(c);
}

static void hygiene_duplicates_with_image_repeat_the_image_too(void **state)
{
    (void)state;
    shelf_catalog *c = catalog_of("id,title,image,category\n"
                                  "0,red shirt,a.jpg,A\n"
                                  "1,red shirt,b.jpg,A\n"
                                  "2,red shirt,a.jpg,A\n");
    shelf_hygiene h;
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.duplicates, 2);
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 1, &h, NULL), SHELF_OK);
    assert_int_equal(h.duplicates, 1);
    assert_pair(h.duplicate_examples[0], 2, 0);
    assert_int_equal(h.conflicting, 0);
    shelf_catalog_free(c);
}

static void hygiene_finds_leaves_under_two_parents(void **state)
{
    (void)state;
    shelf_catalog *c = catalog_of("id,title,category\n"
                                  "0,a,Men > Shoes\n"
                                  "1,b,Women > Shoes\n"
                                  "2,c,Kids > Toys > Shoes\n"
                                  "3,d,Shoes\n"
                                  "4,e,Men > Hats\n"
                                  "5,f,Men > Shoes\n");
    shelf_hygiene h;
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.two_parents, 1); /* a top-level "Shoes" has no parent */
    assert_int_equal(h.n_two_parent_examples, 1);
    assert_string_equal(h.two_parent_examples[0].leaf, "Shoes");
    assert_string_equal(h.two_parent_examples[0].label, "Kids > Toys > Shoes");
    assert_string_equal(h.two_parent_examples[0].other_label, "Men > Shoes");
    assert_int_equal(shelf_catalog_hygiene(c, "/", 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.two_parents, 0); /* one level each under another separator */
    assert_int_equal(shelf_catalog_hygiene(c, "", 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.two_parents, 0);
    shelf_catalog_free(c);
}

static void hygiene_gives_the_first_leaves_in_byte_order(void **state)
{
    (void)state;
    char csv[4096] = "id,title,category\n";
    for (int i = 7; i > 0; i--)
        snprintf(csv + strlen(csv), sizeof csv - strlen(csv), "a%d,x,A%d > Leaf%d\nb%d,y,B%d > "
                 "Leaf%d\n", i, i, i, i, i, i);
    shelf_catalog *c = catalog_of(csv);
    shelf_hygiene h;
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 0, &h, NULL), SHELF_OK);
    assert_int_equal(h.two_parents, 7);
    assert_int_equal(h.n_two_parent_examples, SHELF_HYGIENE_EXAMPLES);
    for (int i = 0; i < SHELF_HYGIENE_EXAMPLES; i++) {
        char leaf[16];
        snprintf(leaf, sizeof leaf, "Leaf%d", i + 1);
        assert_string_equal(h.two_parent_examples[i].leaf, leaf);
    }
    shelf_catalog_free(c);
}

static void hygiene_bad_arguments_are_refused(void **state)
{
    (void)state;
    shelf_hygiene h;
    shelf_error err = {0};
    assert_int_equal(shelf_catalog_hygiene(NULL, NULL, 0, &h, &err), SHELF_EINVAL);
    assert_int_equal(h.duplicates, 0);
    shelf_catalog *c = catalog_of("id,title,category\n0,a,A\n");
    assert_int_equal(shelf_catalog_hygiene(c, NULL, 0, NULL, &err), SHELF_EINVAL);
    shelf_catalog_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(macro_averages_over_union_of_true_and_predicted_labels),
        cmocka_unit_test(undefined_precision_or_recall_counts_as_zero),
        cmocka_unit_test(weighted_average_weights_classes_by_support),
        cmocka_unit_test(top5_counts_truth_among_first_five_predictions),
        cmocka_unit_test(levels_compare_prefixes_of_rows_at_least_that_deep),
        cmocka_unit_test(whole_paths_are_classes_distinct_from_their_prefixes),
        cmocka_unit_test(label_sep_splits_levels),
        cmocka_unit_test(rows_without_prediction_are_errors_not_classes),
        cmocka_unit_test(json_parses_and_has_every_key),
        cmocka_unit_test(confusions_sorted_by_count_then_names),
        cmocka_unit_test(classes_sorted_by_support_then_label),
        cmocka_unit_test(empty_eval_reports_zeros_not_nan),
        cmocka_unit_test(text_report_aligns_columns_and_keeps_long_labels),
        cmocka_unit_test(bad_arguments_are_refused),
        cmocka_unit_test(many_labels_and_rows_are_counted_exactly),
        cmocka_unit_test(hierarchical_scores_count_shared_path_prefixes),
        cmocka_unit_test(hierarchical_parts_are_whole_not_string_prefixes),
        cmocka_unit_test(backoff_coverage_and_precision_count_whole_part_prefixes),
        cmocka_unit_test(backoff_appears_in_json_and_text),
        cmocka_unit_test(no_backoff_report_without_backoff_rows),
        cmocka_unit_test(backoff_threshold_keeps_its_digits_in_text),
        cmocka_unit_test(backoff_bad_arguments_are_refused),
        cmocka_unit_test(hygiene_counts_duplicates_and_conflicts_with_earliest_examples),
        cmocka_unit_test(hygiene_keeps_the_first_duplicates_in_catalog_order),
        cmocka_unit_test(hygiene_duplicates_with_image_repeat_the_image_too),
        cmocka_unit_test(hygiene_finds_leaves_under_two_parents),
        cmocka_unit_test(hygiene_gives_the_first_leaves_in_byte_order),
        cmocka_unit_test(hygiene_bad_arguments_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
