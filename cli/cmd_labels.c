/* shelf labels add: new labels in a model from a few examples each, without retraining
 * (shelf_labels_add: weight imprinting). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

typedef struct labels_args {
    const char *model, *data, *out, *names;
    read_flags rf;
} labels_args;

static const shelf_option add_opts[] = {
    OPT_STRING(labels_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(labels_args, "data", data, NULL,
               "labelled examples, or - for standard input (required): a few products of "
               "each new label, and about as many of the model's labels (from its training "
               "catalog), against which the new ones are placed"),
    OPT_STRING(labels_args, "out", out, NULL,
               "model file to write (required); written whole or not at all"),
    OPT_STRING(labels_args, "names", names, NULL,
               "a file of labels to add by their names alone, one full path a line: the "
               "name's words stand for its products"),
};
static const shelf_option file_opts[] = {READ_FILE_OPTS(labels_args)};
static const shelf_option column_opts[] = {
    OPT_STRING(labels_args, "text", rf.text, "the model's",
               "text columns, e.g. title,description (or 2,4)"),
    OPT_STRING(labels_args, "id", rf.id, "the model's", "id column"),
    OPT_STRING(labels_args, "label", rf.label, "the model's", "label column"),
};

static void usage(void)
{
    opt_usage("labels add", "--model MODEL --data FILE --out MODEL2 [options]");
    printf("Adds the labels of FILE that the model does not have, each from its examples'\n"
           "features (weight imprinting), in seconds and without the training data. The\n"
           "model's other labels, settings and calibration stay as they were. Text models\n"
           "only; retrain for many new labels or a changed taxonomy.\n");
    opt_section("options", OPT_TABLE(add_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns: the model's (as given at training), unless these name others",
                OPT_TABLE(column_opts, NULL));
}

/* The lines of path, trimmed, the empty ones left out, into *out (n of them; free with
 * free_lines). 0, or 1 after printing why. */
static int read_lines(const char *path, char ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "shelf labels add: --names %s: cannot open: %s\n", path,
                strerror(errno));
        return 1;
    }
    char line[4096];
    size_t cap = 0;
    int status = 0;
    while (!status && fgets(line, sizeof line, f)) {
        size_t len = strlen(line);
        while (len && isspace((unsigned char)line[len - 1]))
            line[--len] = '\0';
        char *start = line;
        while (isspace((unsigned char)*start))
            start++;
        if (!*start)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            char **grown = realloc(*out, cap * sizeof *grown);
            if (!grown) {
                status = 1;
                break;
            }
            *out = grown;
        }
        if (!((*out)[*n] = strdup(start)))
            status = 1;
        else
            (*n)++;
    }
    if (status)
        fprintf(stderr, "shelf labels add: out of memory reading --names %s\n", path);
    else if (ferror(f))
        status = 1, fprintf(stderr, "shelf labels add: --names %s: cannot read\n", path);
    fclose(f);
    return status;
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static int labels_add(int argc, char **argv)
{
    labels_args a = {0};
    const opt_table t[] = {OPT_TABLE(add_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("labels add", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    if (!a.model || !a.data || !a.out) {
        fprintf(stderr, "shelf labels add: --model, --data and --out are required (see shelf "
                        "labels add --help)\n");
        return 2;
    }
    const char *inputs[] = {a.model, a.data, a.names};
    const char *flags[] = {"--model", "--data", "--names"};
    if (out_is_an_input("labels add", a.out, inputs, flags, 3))
        return 2;
    shelf_error err = {0};
    if (shelf_outfile_check(a.out, &err) != SHELF_OK) { /* now, not after the work */
        fprintf(stderr, "shelf labels add: --out %s\n", err.message);
        return 1;
    }
    char **names = NULL;
    size_t nnames = 0;
    if (a.names && read_lines(a.names, &names, &nnames))
        return 1;
    shelf_model *m = NULL;
    shelf_catalog *c = NULL;
    shelf_read_options ro;
    shelf_imprint_report rep;
    int status = 1;
    if (shelf_model_load(a.model, &m, &err) != SHELF_OK)
        goto failed;
    if (read_flags_apply(&a.rf, shelf_model_read_options(m), &ro)) {
        status = 2;
        goto done;
    }
    ro.require_label = 1;
    if (shelf_catalog_load(a.data, &ro, &c, &err) != SHELF_OK)
        goto failed;
    shelf_read_stats st;
    shelf_catalog_stats(c, &st);
    report_read_stats(a.data, &st);
    if (shelf_labels_add_names(m, c, (const char *const *)names, nnames, &rep, &err) !=
            SHELF_OK ||
        shelf_model_save(m, a.out, &err) != SHELF_OK)
        goto failed;
    fprintf(stderr,
            "added %d label%s from %ld product%s (%ld of the model's labels beside them",
            rep.added, rep.added == 1 ? "" : "s", rep.examples, rep.examples == 1 ? "" : "s",
            rep.contrast);
    if (rep.named)
        fprintf(stderr, "; %ld by name alone", rep.named);
    if (rep.skipped_empty)
        fprintf(stderr, "; %ld without text, not used", rep.skipped_empty);
    fprintf(stderr, "); %ld new feature rows; scale %g, threshold %.2f", rep.new_rows,
            (double)rep.scale, (double)rep.threshold);
    if (rep.loo_accuracy >= 0)
        fprintf(stderr, "; each example left out of its label's mean: %.1f%% right",
                100.0 * rep.loo_accuracy);
    fprintf(stderr, "; %.3f s\nwrote %s (%d labels)\n", rep.seconds, a.out,
            shelf_model_num_labels(m));
    status = 0;
    goto done;
failed:
    fprintf(stderr, "shelf labels add: %s\n", err.message);
done:
    shelf_catalog_free(c);
    shelf_model_free(m);
    free_lines(names, nnames);
    return status;
}

int cmd_labels(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "add"))
        return labels_add(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        printf("usage: shelf labels add --model MODEL --data FILE --out MODEL2 [options]\n"
               "  add         new labels from a few examples each, without retraining\n");
        return 0;
    }
    fprintf(stderr, "shelf labels: %s (the one action is add; see shelf labels add "
                    "--help)\n", argc < 2 ? "an action is required" : "unknown action");
    return 2;
}
