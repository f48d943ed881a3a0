/* shelf predict: one line per product with its top-k labels, streaming (stream.h), so a
 * catalog of millions of rows is read in batches and never held whole. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "options.h"
#include "parallel.h"
#include "parts.h"
#include "stream.h"

enum { OVERLAY_SIDE = 256 }; /* the side of --explain-dir's pictures */

/* --output-format from --out's name (preds.csv, preds.tsv), else jsonl: a file named .csv
 * should hold CSV. */
static const char *out_format_of(const char *out)
{
    const char *dot = out ? strrchr(out, '.') : NULL;
    return dot && (!strcasecmp(dot, ".csv") || !strcasecmp(dot, ".tsv")) ? dot + 1 : "jsonl";
}

/* What every batch is predicted and written with. */
typedef struct job {
    const shelf_model *m;
    shelf_predictor *pred;
    const char *data;  /* the catalog's path, for image references; "-" for --photo */
    int k;             /* labels written per product */
    int kq;            /* labels asked of the model: all of them for back-off */
    float threshold;   /* leave out labels below it */
    float min_conf;    /* > 0: back off below it */
    int skip_bad;
    int one_photo;     /* --photo: nothing to skip, so no --skip-bad advice */
    shelf_output_columns cols; /* back-off columns with min_conf; modalities for models that
                                  read images; fusion weights for fused models */
    int *labels, *counts; /* BATCH * kq, BATCH */
    float *probs;
    unsigned char *used;  /* BATCH: what each product was classified by */
    int *best;            /* --explain, BATCH: the label explained, -1 for a skipped product */
    const char **why;     /* --explain, BATCH: the explanations (the predictor's) */
    const char *explain_dir; /* --explain-dir, or NULL */
    long bad_images;      /* skipped under --skip-bad, over the whole run */
    long text_only;       /* fused models: classified without their image */
    long image_only;      /* fused models: classified without their text */
    progress *pg;         /* messages go after its line */
    FILE *out;            /* standard output, or the --out file's temporary file */
    const char *out_name; /* the --out path, or "standard output" */
} job;

static void write_product(const job *j, const shelf_product *p, const int *labels,
                          const float *probs, int count, unsigned char used, size_t i,
                          const char *explanation)
{
    const char *names[256];
    int n = 0;
    for (int i = 0; i < count && i < j->k; i++)
        if (probs[i] >= j->threshold)
            names[n++] = shelf_model_label(j->m, labels[i]);
    char path[1024] = "";
    shelf_prediction pr = {.id = p->id, .n = n, .labels = names, .probs = probs, .path = path,
                           .used = used};
    if (j->cols.fusion)
        shelf_predictor_fusion(j->pred, i, pr.fusion);
    pr.explanation = explanation;
    if (j->cols.backoff)
        pr.status = shelf_backoff(j->m, labels, probs, count, j->min_conf, path, sizeof path,
                                  &pr.confidence);
    shelf_write_prediction(j->out, &j->cols, &pr, NULL); /* valid by construction */
}

/* --explain-dir: the product's photo with its explanation's grid over it, as
 * DIR/LINE-ID.png: the line keeps two products apart whatever their ids, and the id's
 * characters other than letters, digits, '.', '-' and '_' become '_' (at most 200 of them).
 * 0 (also for a product without a photo explained), or -1 after a note. */
static int write_overlay(const job *j, const shelf_product *p, const char *why)
{
    cJSON *doc = cJSON_Parse(why);
    const cJSON *grid = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "image"), "grid");
    float cells[64];
    int g = cJSON_GetArraySize(grid), n = 0;
    const cJSON *row, *cell;
    cJSON_ArrayForEach(row, grid) cJSON_ArrayForEach(cell, row) if (n < 64) cells[n++] =
        (float)cell->valuedouble;
    cJSON_Delete(doc);
    if (g <= 0 || n != g * g)
        return 0;
    char name[256];
    int len = snprintf(name, 201, "%s", p->id ? p->id : "");
    for (int i = 0; i < len && i < 200; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr(".-_", name[i]))
            name[i] = '_';
    char path[4096]; /* the line first: never ".", "..", nor a hidden file */
    snprintf(path, sizeof path, "%s/%ld-%s.png", j->explain_dir, p->line, name);
    unsigned char *png = NULL;
    size_t size = 0;
    shelf_error err = {0};
    shelf_outfile *o = NULL;
    int rc = -1;
    if (shelf_image_overlay(j->data, p->image, cells, g, OVERLAY_SIDE, &png, &size, &err) ==
            SHELF_OK &&
        shelf_outfile_open(path, &o, &err) == SHELF_OK) {
        fwrite(png, 1, size, shelf_outfile_stream(o));
        rc = shelf_outfile_commit(o, &err) == SHELF_OK ? 0 : -1;
    }
    if (rc)
        note(j->pg, "--explain-dir: %s", err.message);
    free(png);
    return rc;
}

static int write_batch(void *arg, const batch *b)
{
    job *j = arg;
    shelf_error err = {0};
    shelf_predict_stats ps;
    if (shelf_predictor_run(j->pred, j->data, b->p, b->n, j->kq, j->labels, j->probs,
                            j->counts, j->used, &ps, &err)) {
        note(j->pg, "%s", err.message);
        return -1;
    }
    if (ps.bad_images && !j->skip_bad) {
        note(j->pg, "%s%s", ps.first_bad,
             j->one_photo ? "" : " (--skip-bad skips such products)");
        return -1;
    }
    if (ps.text_only && !j->text_only)
        note(j->pg, "products without a usable image are classified by their text alone; the "
             "first: %s", ps.first_bad);
    j->text_only += ps.text_only;
    j->image_only += ps.image_only;
    if (ps.bad_images && !j->bad_images)
        note(j->pg, "skipping products with a bad image; the first: %s", ps.first_bad);
    j->bad_images += ps.bad_images;
    for (size_t i = 0; j->cols.explain && i < b->n; i++) /* each product's best label */
        j->best[i] = j->counts[i] <= 0 ? -1 : j->labels[i * (size_t)j->kq];
    if (j->cols.explain && shelf_predictor_explain_many(j->pred, j->data, b->p, b->n, j->best,
                                                        j->why, &err) != SHELF_OK) {
        note(j->pg, "%s", err.message);
        return -1;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (j->counts[i] < 0)
            continue;
        const char *why = j->cols.explain ? j->why[i] : NULL; /* of the best label */
        write_product(j, &b->p[i], j->labels + i * (size_t)j->kq, j->probs + i * (size_t)j->kq,
                      j->counts[i], j->used[i], i, why);
        if (why && j->explain_dir && write_overlay(j, &b->p[i], why))
            return -1;
    }
    /* a full disk stops the run */
    if (shelf_outfile_flush(j->out, j->out_name, &err) != SHELF_OK) {
        note(j->pg, "%s", err.message);
        return -1;
    }
    return 0;
}

/* The batches' and job's arrays; 0, or -1 when out of memory. */
static int job_alloc(job *j)
{
    j->labels = malloc(sizeof(int) * BATCH * (size_t)j->kq);
    j->counts = malloc(sizeof(int) * BATCH);
    j->probs = malloc(sizeof(float) * BATCH * (size_t)j->kq);
    j->used = malloc(BATCH);
    if (j->cols.explain) {
        j->best = malloc(sizeof(int) * BATCH);
        j->why = malloc(sizeof(char *) * BATCH);
        if (!j->best || !j->why)
            return -1;
    }
    return j->labels && j->counts && j->probs && j->used ? 0 : -1;
}

/* --photo FILE: one product, the file, its path taken as it is given. */
static int predict_one_image(job *j, batch *b, const char *image)
{
    b->n = 1;
    b->at[0][0] = batch_keep(b, image);
    b->at[0][1] = batch_keep(b, "");
    if (b->oom)
        return -1;
    b->p[0] = (shelf_product){b->strings, b->strings + b->at[0][1], "", b->strings, 0, NULL, 0};
    j->data = "-";
    j->skip_bad = 0;
    j->one_photo = 1;
    return write_batch(j, b);
}

/* The predictions are all written: --out's file takes its place, or standard output is
 * flushed. 0, or 1 after printing why not. */
static int finish(shelf_outfile **of)
{
    shelf_error err = {0};
    shelf_outfile *o = *of;
    *of = NULL; /* committed or not, it is gone */
    shelf_status s = o ? shelf_outfile_commit(o, &err)
                       : shelf_outfile_flush(stdout, "standard output", &err);
    if (s == SHELF_OK)
        return 0;
    fprintf(stderr, "shelf predict: %s\n", err.message);
    return 1;
}

/* What reading skipped or replaced, and the products classified by one side alone. */
static void tell_stats(const char *data, const shelf_read_stats *st, const job *j)
{
    report_read_stats(data, st);
    if (j->bad_images)
        fprintf(stderr, "%s: skipped %ld products with a bad image\n", data, j->bad_images);
    if (j->text_only)
        fprintf(stderr, "%s: %ld products classified by their text alone (no usable image)\n",
                data, j->text_only);
    if (j->image_only)
        fprintf(stderr, "%s: %ld products classified by their image alone (no word of their "
                "text known to the model)\n", data, j->image_only);
}

/* Under mpirun, after every rank has written its part (or failed): whether all did; then
 * rank 0 tells the run's figures and joins the parts into out. The exit status. */
static int finish_parts(int status, const char *data, const char *out, const char *part,
                        shelf_read_stats *st, job *j)
{
    if (!par_all_ok(status == 0)) {
        if (status == 0)
            remove(part);
        return status ? status : 1;
    }
    long extra[3] = {j->bad_images, j->text_only, j->image_only};
    parts_sum_stats(st, extra, 3);
    if (par_rank() != 0)
        return 0;
    j->bad_images = extra[0], j->text_only = extra[1], j->image_only = extra[2];
    tell_stats(data, st, j);
    status = parts_join(out) ? 1 : 0;
    char path[4096];
    for (int r = 0; r < par_size(); r++) {
        parts_path(out, r, path, sizeof path);
        remove(path);
    }
    return status;
}

typedef struct predict_args {
    const char *model, *data, *photo, *outfmt, *out, *explain_dir, *min_conf;
    int k, threads, explain;
    float threshold;
    read_flags rf;
} predict_args;

static const shelf_option predict_opts[] = {
    OPT_STRING(predict_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(predict_args, "data", data, "standard input",
               "catalog to categorize, or - for standard input"),
    OPT_STRING(predict_args, "photo", photo, NULL, "one image file to categorize (image models)"),
    OPT_INT(predict_args, "k", k, 1, NULL, 1, 256, "how many labels per product"),
    OPT_FLOAT(predict_args, "threshold", threshold, 0, NULL, 0, 1,
              "leave out labels less probable than this"),
    OPT_STRING(predict_args, "min-confidence", min_conf, "none",
               "below it, give the deepest ancestor path that reaches it, or mark for review; "
               "auto: the threshold that kept precision 0.99 on the validation set"),
    OPT_STRING(predict_args, "output-format", outfmt, "from --out's extension, else jsonl",
               "jsonl, csv or tsv"),
    OPT_STRING(predict_args, "out", out, "standard output",
               "file to write; written whole or not at all"),
    OPT_INT(predict_args, "threads", threads, 0, "all cores", 0, 64, "threads"),
    OPT_FLAG(predict_args, "explain", explain,
             "add why: each token's weight, the image's occlusion grid, the fusion weights"),
    OPT_STRING(predict_args, "explain-dir", explain_dir, NULL,
               "with --explain (which it implies), write each photo with its occlusion grid "
               "laid over it to this folder, as LINE-ID.png"),
};

/* The model decides the columns (the read options given at training); the label column,
 * separator and depth play no part in predicting. */
static const shelf_option file_opts[] = {READ_FILE_OPTS(predict_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(predict_args, "the model's", "the model's", "the model's")};

static void usage(void)
{
    opt_usage("predict", "--model MODEL [--data FILE | - | --photo FILE] [options]");
    opt_section("options", OPT_TABLE(predict_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns: the model's (as given at training), unless these name others",
                OPT_TABLE(column_opts, NULL));
}

int cmd_predict(int argc, char **argv)
{
    predict_args a = {0};
    const opt_table t[] = {OPT_TABLE(predict_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("predict", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    const char *model = a.model, *data = a.data, *outfmt = a.outfmt, *out = a.out;
    const char *image = a.photo;
    const int k = a.k, threads = a.threads;
    const float threshold = a.threshold;
    float min_conf = 0;
    const read_flags rf = a.rf;
    if (!outfmt)
        outfmt = out_format_of(out);
    shelf_output_format fmt;
    if (!model || shelf_output_format_parse(outfmt, &fmt, NULL) != SHELF_OK) {
        fprintf(stderr, "shelf predict: needs --model, and --output-format jsonl, csv or tsv\n");
        return 2;
    }
    if (read_flags_image_is_file(&rf, "predict"))
        return 2;
    if (image && data) {
        fprintf(stderr, "shelf predict: give --data (a catalog) or --photo (one image), not "
                        "both\n");
        return 2;
    }
    if (!data)
        data = "-";
    const int ranks = par_size();
    if (ranks > 1 && (image || !out || !strcmp(data, "-"))) {
        if (par_rank() == 0)
            fprintf(stderr, "shelf predict: under mpirun each rank reads its part of --data "
                            "FILE and the ranks write one --out FILE (not standard input or "
                            "output, nor --photo)\n");
        return 2;
    }
    const char *inputs[] = {data, model, image}, *names[] = {"--data", "--model", "--photo"};
    if (out_is_an_input("predict", out, inputs, names, 3))
        return 2;
    shelf_error err = {0};
    shelf_outfile *of = NULL;
    if (out && shelf_outfile_check(out, &err) != SHELF_OK) { /* before any work */
        fprintf(stderr, "shelf predict: --out %s\n", err.message);
        return 1;
    }
    char probe[4096]; /* a picture's name in --explain-dir, so that the folder is checked */
    snprintf(probe, sizeof probe, "%s/product.png", a.explain_dir ? a.explain_dir : ".");
    if (a.explain_dir && shelf_outfile_check(probe, &err) != SHELF_OK) {
        fprintf(stderr, "shelf predict: --explain-dir %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    int loaded = shelf_model_load(model, &m, &err) == SHELF_OK;
    if (!loaded)
        fprintf(stderr, "shelf predict: %s\n", err.message);
    if (!par_all_ok(loaded)) { /* under mpirun: every rank stops if one could not load it */
        shelf_model_free(m);
        return 1;
    }
    int bad_conf = min_confidence_arg("predict", a.min_conf, m, &min_conf);
    if (bad_conf) {
        shelf_model_free(m);
        return bad_conf;
    }
    int status = 1;
    int stage = ranks > 1; /* under mpirun: 1 setting up, 2 split, 3 predicting a part */
    shelf_catalog_part part = {0};
    char part_file[4096] = "";
    if (ranks > 1)
        parts_path(out, par_rank(), part_file, sizeof part_file);
    shelf_read_stats st = {0};
    shelf_reader *rd = NULL;
    shelf_read_options ro;
    batch *b = calloc(2, sizeof *b);
    /* back-off sums probabilities over every label below an ancestor: ask for all */
    int kq = min_conf > 0 ? shelf_model_num_labels(m) : k;
    job j = {.m = m, .data = data, .k = k, .kq = kq < k ? k : kq, .threshold = threshold,
             .min_conf = min_conf,
             .cols = {.format = fmt,
                      .k = k,
                      .backoff = min_conf > 0,
                      .modalities = shelf_model_modality(m) != SHELF_MODALITY_TEXT,
                      .fusion = shelf_model_modality(m) == SHELF_MODALITY_BOTH,
                      .explain = a.explain || a.explain_dir},
             .explain_dir = a.explain_dir};
    progress pg;
    progress_start(&pg, "predict", isatty(2) && !image);
    j.pg = &pg;
    if (!b || job_alloc(&j)) {
        fprintf(stderr, "shelf predict: out of memory\n");
        goto done;
    }
    if (read_flags_apply(&rf, shelf_model_read_options(m), &ro)) {
        status = 2;
        goto done;
    }
    ro.require_label = 0;
    ro.for_images = shelf_model_modality(m) != SHELF_MODALITY_TEXT;
    j.skip_bad = ro.skip_bad;
    if (image && shelf_model_modality(m) == SHELF_MODALITY_TEXT) {
        fprintf(stderr, "shelf predict: %s classifies text; --photo needs an image model\n",
                model);
        goto done;
    }
    if (shelf_predictor_new(m, threads, 0, &j.pred, &err) != SHELF_OK ||
        (out && shelf_outfile_open(ranks > 1 ? part_file : out, &of, &err) != SHELF_OK)) {
        fprintf(stderr, "shelf predict: %s\n", err.message);
        goto done;
    }
    shelf_predictor_explain_best(j.pred, j.cols.explain);
    j.out = out ? shelf_outfile_stream(of) : stdout;
    /* whole batches go out at once (each is flushed): a megabyte at a time, not stdio's
       4 KB, which made an explained run's output tens of thousands of system calls; a
       terminal keeps its line buffering */
    if (!isatty(fileno(j.out)))
        setvbuf(j.out, NULL, _IOFBF, 1 << 20);
    j.out_name = out ? out : "standard output";
    if (image) {
        shelf_write_prediction_header(j.out, &j.cols, NULL);
        status = predict_one_image(&j, b, image) == 0 ? finish(&of) : 1;
        goto done;
    }
    if (ranks > 1) { /* every rank set up: rank 0 splits the catalog */
        stage = 2;
        if (!par_all_ok(1) || parts_split("predict", data, &ro, &part))
            goto done;
        stage = 3;
    }
    if ((ranks > 1 ? shelf_reader_open_part(data, &ro, &part, &rd, &err)
                   : shelf_reader_open(data, &ro, &rd, &err)) != SHELF_OK) {
        fprintf(stderr, "shelf predict: %s\n", err.message);
        goto done;
    }
    if (par_rank() == 0) /* the parts join under one header */
        shelf_write_prediction_header(j.out, &j.cols, NULL);
    if (stream_batches(rd, b, &pg, write_batch, &j))
        goto done;
    progress_show(&pg, rd, 1);
    shelf_reader_stats(rd, &st);
    if (ranks == 1)
        tell_stats(data, &st, &j);
    status = finish(&of);
done:
    if (stage == 1) /* this rank failed to set up: the others learn it and stop */
        par_all_ok(0);
    if (stage == 3)
        status = finish_parts(status, data, out, part_file, &st, &j);
    shelf_outfile_discard(of); /* a failed run leaves an old --out file as it was */
    for (int i = 0; b && i < 2; i++)
        free(b[i].strings);
    free(b);
    free(j.labels);
    free(j.counts);
    free(j.probs);
    free(j.used);
    free(j.best);
    free((void *)j.why);
    shelf_predictor_free(j.pred);
    shelf_reader_close(rd);
    shelf_model_free(m);
    return status;
}
