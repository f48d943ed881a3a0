/* shelf quantize: a model with int8 weights (shelf_model_quantize), optionally pruned to the
 * features that weigh most, for shipping where memory and disk are small. */
#include <limits.h>
#include <stdio.h>

#include "options.h"

typedef struct quantize_args {
    const char *model, *out, *calibrate;
    int cutoff, images, threads, clip_mse;
    float drop;
    read_flags rf;
} quantize_args;

static const shelf_option quantize_opts[] = {
    OPT_STRING(quantize_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(quantize_args, "out", out, NULL,
               "model file to write (required); written whole or not at all"),
    OPT_INT(quantize_args, "cutoff", cutoff, 0, "all", 0, INT_MAX,
            "features kept: those whose weights weigh most (as fastText's -cutoff)"),
    OPT_FLOAT(quantize_args, "drop", drop, SHELF_QUANTIZE_DROP, NULL, 0, 0.999,
              "weights below this share of their feature's largest are left out"),
    OPT_STRING(quantize_args, "calibrate", calibrate, NULL,
               "image models (required for them): a catalog whose images set the int8 "
               "activations' scales, e.g. the training catalog"),
    OPT_INT(quantize_args, "images", images, SHELF_QUANTIZE_IMAGES, NULL, 1, INT_MAX,
            "calibration images, spread over --calibrate's products"),
    OPT_FLAG(quantize_args, "clip-mse", clip_mse,
             "calibration: each activation's scale from the clip that least distorts its "
             "values, rather than the largest value seen"),
    OPT_INT(quantize_args, "threads", threads, 0, "all cores", 0, 64,
            "threads for calibration"),
};
static const shelf_option file_opts[] = {READ_FILE_OPTS(quantize_args)};
static const shelf_option column_opts[] = {COLUMN_OPTS(quantize_args, "the model's",
                                                       "the model's", "the model's")};

int cmd_quantize(int argc, char **argv)
{
    quantize_args a = {0};
    const opt_table t[] = {OPT_TABLE(quantize_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("quantize", argc, argv, t, 3, NULL);
    if (r) {
        if (r < 0)
            return 2;
        opt_usage("quantize", "--model MODEL --out MODEL8 [--cutoff N] [--drop F] "
                              "[--calibrate FILE]");
        printf("Writes the model with int8 weights. The bag of n-grams (without --dim): a\n"
               "scale per feature, the weights that barely count left out, and with --cutoff\n"
               "only the features that weigh most. The GRU and the Transformer: the embedding\n"
               "table, a scale per row. The CNN: batch norm folded in, a scale per channel,\n"
               "and u8 activations calibrated on --calibrate's images; oneDNN's int8 kernels\n"
               "run it where the CPU has AVX-512 VNNI. The model predicts, evaluates,\n"
               "explains, embeds and serves as the float model does.\n");
        opt_section("options", t[0]);
        opt_section("how --calibrate is written", t[1]);
        opt_section("its columns: the model's, unless these name others", t[2]);
        return 0;
    }
    if (!a.model || !a.out) {
        fprintf(stderr, "shelf quantize: --model and --out are required (see shelf quantize "
                        "--help)\n");
        return 2;
    }
    const char *inputs[] = {a.model, a.calibrate};
    const char *flags[] = {"--model", "--calibrate"};
    if (out_is_an_input("quantize", a.out, inputs, flags, 2) ||
        read_flags_image_is_file(&a.rf, "quantize"))
        return 2;
    shelf_error err = {0};
    if (shelf_outfile_check(a.out, &err) != SHELF_OK) { /* now, not after the work */
        fprintf(stderr, "shelf quantize: --out %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    shelf_catalog *cal = NULL;
    shelf_quantize_options o = shelf_quantize_options_default();
    o.cutoff = a.cutoff;
    o.drop = a.drop;
    o.images = a.images;
    o.threads = a.threads;
    o.clip_mse = a.clip_mse;
    shelf_quantize_report rep;
    shelf_read_options ro;
    int status = 1;
    if (shelf_model_load(a.model, &m, &err) != SHELF_OK)
        goto failed;
    if (a.calibrate) {
        if (read_flags_apply(&a.rf, shelf_model_read_options(m), &ro)) {
            status = 2;
            goto done;
        }
        ro.require_label = 0;
        ro.for_images = shelf_model_modality(m) != SHELF_MODALITY_TEXT;
        if (shelf_catalog_load(a.calibrate, &ro, &cal, &err) != SHELF_OK)
            goto failed;
        o.calibration = cal;
    }
    if (shelf_model_quantize(m, &o, &rep, &err) != SHELF_OK ||
        shelf_model_save(m, a.out, &err) != SHELF_OK)
        goto failed;
    fprintf(stderr, "quantized %s (int8)", a.model);
    if (rep.rows_before)
        fprintf(stderr, "; the bag: %ld of %ld features kept, %zu of %zu weights",
                rep.rows_after, rep.rows_before, rep.weights_after, rep.weights_before);
    if (rep.embedding_rows)
        fprintf(stderr, "; the embedding table: %ld rows as int8", rep.embedding_rows);
    if (rep.images)
        fprintf(stderr, "; the CNN: calibrated on %ld images of %s (%ld without a usable "
                "image passed over)", rep.images, a.calibrate, rep.bad_images);
    fprintf(stderr, "; parameters %.1f MB -> %.1f MB\nwrote %s\n",
            (double)rep.bytes_before / 1e6, (double)rep.bytes_after / 1e6, a.out);
    status = 0;
    goto done;
failed:
    fprintf(stderr, "shelf quantize: %s\n", err.message);
done:
    shelf_catalog_free(cal);
    shelf_model_free(m);
    return status;
}
