/* shelf eval: metrics of a model on a labelled catalog. */
#include <stdio.h>

#include "options.h"
#include "report.h"

int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data = NULL;
    report_options ro_report = {.confusions = 10};
    read_flags rf = {0};
    const opt opts[] = {
        {"model", OPT_STR, &model, "model file (required)"},
        {"data", OPT_STR, &data, "labelled catalog, or - for standard input (required)"},
        {"json", OPT_FLAG, &ro_report.json, "print one JSON object instead of a report"},
        {"per-class", OPT_FLAG, &ro_report.per_class,
         "add precision, recall and F1 of every label"},
        {"confusions", OPT_INT, &ro_report.confusions, "how many frequent confusions to list (10)"},
        {"threads", OPT_INT, &ro_report.threads, "threads (default: all cores)"},
        {"min-confidence", OPT_FLOAT, &ro_report.min_confidence,
         "also report back-off coverage and precision at this confidence"},
        READ_FLAG_OPTS(rf),
        IMAGE_COLUMN_OPT(rf),
        {NULL, 0, NULL, NULL}};
    int r = opt_parse("eval", argc, argv, opts);
    if (r)
        return r > 0 ? (opt_usage("eval", "--model MODEL --data FILE [options]", opts), 0) : 2;
    if (ro_report.threads < 0 || ro_report.confusions < 0) {
        fprintf(stderr, "shelf eval: --threads and --confusions must not be negative\n");
        return 2;
    }
    if (ro_report.min_confidence < 0 || ro_report.min_confidence > 1) {
        fprintf(stderr, "shelf eval: --min-confidence must be between 0 and 1\n");
        return 2;
    }
    if (!model || !data) {
        fprintf(stderr, "shelf eval: --model and --data are required (see shelf eval --help)\n");
        return 2;
    }
    shelf_error err = {0};
    shelf_model *m = NULL;
    if (shelf_model_load(model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: %s\n", err.message);
        return 1;
    }
    shelf_read_options ro;
    shelf_catalog *c = NULL;
    int status = 1;
    if (read_flags_apply(&rf, shelf_model_read_options(m), &ro)) {
        status = 2;
        goto done;
    }
    ro.require_label = 1;
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
