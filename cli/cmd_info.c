/* shelf info: what a model was trained on, its labels, options and sizes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "options.h"

typedef struct info_args {
    const char *model;
    int labels;
} info_args;

static const shelf_option info_opts[] = {
    OPT_STRING(info_args, "model", model, NULL, "model file (required)"),
    OPT_INT(info_args, "labels", labels, 50, NULL, 0, INT_MAX, "how many labels to list"),
};

int cmd_info(int argc, char **argv)
{
    info_args a = {0};
    const opt_table t = OPT_TABLE(info_opts, &a);
    opt_defaults(&t, 1);
    int r = opt_parse("info", argc, argv, &t, 1, NULL);
    if (r) {
        if (r < 0)
            return 2;
        opt_usage("info", "--model MODEL");
        opt_section("options", t);
        return 0;
    }
    const char *model = a.model;
    const int max_labels = a.labels;
    if (!model) {
        fprintf(stderr, "shelf info: --model is required\n");
        return 2;
    }
    shelf_error err = {0};
    shelf_model *m = NULL;
    if (shelf_model_load(model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf info: %s\n", err.message);
        return 1;
    }
    char *d = shelf_model_describe(m, max_labels);
    printf("model             %s\n%s", model, d ? d : "(out of memory)\n");
    free(d);
    shelf_model_free(m);
    return 0;
}
