/* shelf eval: metrics of a model on a labelled catalog. */
#include <limits.h>
#include <stdio.h>

#include "options.h"
#include "report.h"

typedef struct eval_args {
    const char *model, *data, *min_conf, *keep;
    report_options ro;
    read_flags rf;
} eval_args;

static const shelf_option eval_opts[] = {
    OPT_STRING(eval_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(eval_args, "data", data, NULL,
               "labelled catalog, or - for standard input (required)"),
    OPT_FLAG(eval_args, "json", ro.json, "print one JSON object instead of a report"),
    OPT_FLAG(eval_args, "per-class", ro.per_class, "add precision, recall and F1 of every label"),
    OPT_INT(eval_args, "confusions", ro.confusions, 10, NULL, 0, INT_MAX,
            "how many frequent confusions to list"),
    OPT_INT(eval_args, "threads", ro.threads, 0, "all cores", 0, 64, "threads"),
    OPT_STRING(eval_args, "min-confidence", min_conf, "none",
               "also report back-off coverage and precision at this confidence (auto: the "
               "threshold that kept precision 0.99 on the validation set)"),
    OPT_STRING(eval_args, "predictions", ro.outputs.predictions, NULL,
               "write each product's id, true and predicted label, probability and whether "
               "it is right (CSV)"),
    OPT_STRING(eval_args, "keep", keep, NULL,
               "with --predictions, also copy these input columns into it, after its own "
               "(\"brand,price\"; each must exist)"),
    OPT_STRING(eval_args, "confusion-matrix", ro.outputs.confusion, NULL,
               "write the whole confusion matrix (CSV: rows true, columns predicted)"),
    OPT_FLOAT(eval_args, "target-precision", ro.outputs.target_precision, 0, "none", 0, 1,
              "also report the lowest --min-confidence whose back-off keeps this precision, "
              "scanning down from 0.999, and its coverage"),
};

/* The model decides the columns, the label separator and the depth (the read options given
 * at training); these say how this file is written, or name its columns otherwise. */
static const shelf_option file_opts[] = {READ_FILE_OPTS(eval_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(eval_args, "the model's", "the model's", "the model's"),
    OPT_STRING(eval_args, "label", rf.label, "the model's", "label column"),
    OPT_INT(eval_args, "max-depth", rf.max_depth, 0, "the model's", 0, INT_MAX,
            "cut the test labels after N levels; at another depth than the model's, the "
            "paths compared differ (a warning says so)"),
};

static void usage(void)
{
    opt_usage("eval", "--model MODEL --data FILE [options]");
    opt_section("options", OPT_TABLE(eval_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns, label separator and depth: the model's (as given at "
                "training), unless these name others", OPT_TABLE(column_opts, NULL));
}

int cmd_eval(int argc, char **argv)
{
    eval_args a = {0};
    const opt_table t[] = {OPT_TABLE(eval_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("eval", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    const char *model = a.model, *data = a.data;
    report_options ro_report = a.ro;
    read_flags rf = a.rf;
    if (!model || !data) {
        fprintf(stderr, "shelf eval: --model and --data are required (see shelf eval --help)\n");
        return 2;
    }
    if (a.keep && !ro_report.outputs.predictions) {
        fprintf(stderr, "shelf eval: --keep copies columns into --predictions, which is not "
                        "given\n");
        return 2;
    }
    if (eval_outputs_check(&ro_report.outputs, data, model))
        return 1;
    shelf_error err = {0};
    shelf_model *m = NULL;
    if (shelf_model_load(model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: %s\n", err.message);
        return 1;
    }
    int bad_conf = min_confidence_arg("eval", a.min_conf, m, &ro_report.min_confidence);
    if (bad_conf) {
        shelf_model_free(m);
        return bad_conf;
    }
    shelf_read_options ro;
    shelf_catalog *c = NULL;
    int status = 1;
    if (read_flags_apply(&rf, shelf_model_read_options(m), &ro)) {
        status = 2;
        goto done;
    }
    ro.require_label = 1;
    ro.keep_columns = a.keep;
    ro.for_images = shelf_model_modality(m) != SHELF_MODALITY_TEXT;
    int trained_depth = shelf_model_read_options(m)->max_depth;
    if (ro.max_depth != trained_depth) /* only --max-depth can make them differ */
        fprintf(stderr, "warning: --max-depth %d cuts the test labels at level %d, but the model "
                        "predicts %s%.0d: the paths compared differ in depth\n",
                ro.max_depth, ro.max_depth,
                trained_depth ? "paths cut at level " : "whole paths", trained_depth);
    if (shelf_catalog_load(data, &ro, &c, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: %s\n", err.message);
        goto done;
    }
    if (eval_outputs_kept_check(c, a.keep))
        goto done;
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    report_read_stats(data, &st);
    ro_report.skip_bad = rf.skip_bad;
    status = report_catalog(m, c, data, &ro_report, stdout) ? 1 : 0;
done:
    shelf_catalog_free(c);
    shelf_model_free(m);
    return status;
}
