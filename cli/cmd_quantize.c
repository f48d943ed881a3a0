/* shelf quantize: a model with int8 weights (shelf_model_quantize), optionally pruned to the
 * features that weigh most, for shipping where memory and disk are small. */
#include <limits.h>
#include <stdio.h>

#include "options.h"

typedef struct quantize_args {
    const char *model, *out;
    int cutoff;
    float drop;
} quantize_args;

static const shelf_option quantize_opts[] = {
    OPT_STRING(quantize_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(quantize_args, "out", out, NULL,
               "model file to write (required); written whole or not at all"),
    OPT_INT(quantize_args, "cutoff", cutoff, 0, "all", 0, INT_MAX,
            "features kept: those whose weights weigh most (as fastText's -cutoff)"),
    OPT_FLOAT(quantize_args, "drop", drop, SHELF_QUANTIZE_DROP, NULL, 0, 0.999,
              "weights below this share of their feature's largest are left out"),
};

int cmd_quantize(int argc, char **argv)
{
    quantize_args a = {0};
    const opt_table t = OPT_TABLE(quantize_opts, &a);
    opt_defaults(&t, 1);
    int r = opt_parse("quantize", argc, argv, &t, 1, NULL);
    if (r) {
        if (r < 0)
            return 2;
        opt_usage("quantize", "--model MODEL --out MODEL8 [--cutoff N] [--drop F]");
        printf("Writes the model with int8 weights, a scale per feature, and the weights that\n"
               "barely count left out; with --cutoff, only the features that weigh most. It\n"
               "predicts, evaluates, explains, embeds and serves as the float model does.\n"
               "Models of the bag of n-grams (without --dim) so far.\n");
        opt_section("options", t);
        return 0;
    }
    if (!a.model || !a.out) {
        fprintf(stderr, "shelf quantize: --model and --out are required (see shelf quantize "
                        "--help)\n");
        return 2;
    }
    const char *inputs[] = {a.model};
    const char *flags[] = {"--model"};
    if (out_is_an_input("quantize", a.out, inputs, flags, 1))
        return 2;
    shelf_error err = {0};
    if (shelf_outfile_check(a.out, &err) != SHELF_OK) { /* now, not after the work */
        fprintf(stderr, "shelf quantize: --out %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    shelf_quantize_options o = shelf_quantize_options_default();
    o.cutoff = a.cutoff;
    o.drop = a.drop;
    shelf_quantize_report rep;
    if (shelf_model_load(a.model, &m, &err) != SHELF_OK ||
        shelf_model_quantize(m, &o, &rep, &err) != SHELF_OK ||
        shelf_model_save(m, a.out, &err) != SHELF_OK) {
        fprintf(stderr, "shelf quantize: %s\n", err.message);
        shelf_model_free(m);
        return 1;
    }
    fprintf(stderr,
            "quantized %s: %ld of %ld features kept, %zu of %zu weights (int8); parameters "
            "%.1f MB -> %.1f MB\nwrote %s\n",
            a.model, rep.rows_after, rep.rows_before, rep.weights_after, rep.weights_before,
            (double)rep.bytes_before / 1e6, (double)rep.bytes_after / 1e6, a.out);
    shelf_model_free(m);
    return 0;
}
