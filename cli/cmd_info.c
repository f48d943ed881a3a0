/* shelf info: what a model was trained on, its labels, options and sizes. */
#include <stdio.h>
#include <stdlib.h>

#include "options.h"

int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    int max_labels = 50;
    const opt opts[] = {{"model", OPT_STR, &model, "model file (required)"},
                        {"labels", OPT_INT, &max_labels, "how many labels to list (50)"},
                        {NULL, 0, NULL, NULL}};
    int r = opt_parse("info", argc, argv, opts);
    if (r)
        return r > 0 ? (opt_usage("info", "--model MODEL", opts), 0) : 2;
    if (!model || max_labels < 0) {
        fprintf(stderr, "shelf info: --model is required, and --labels must not be negative\n");
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
