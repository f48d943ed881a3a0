/* shelf predict: one line per product with its top-k labels, streaming, so a catalog of
 * millions of rows is read in batches and never held whole. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/writer.h"
#include "options.h"

enum { BATCH = 8192 };

typedef struct batch {
    shelf_product p[BATCH]; /* owned copies of the strings */
    size_t n;
    long bad_images;        /* skipped under --skip-bad, over the whole run */
    long text_only;         /* fused models: classified without their image */
} batch;

static void batch_clear(batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free((char *)b->p[i].id);
        free((char *)b->p[i].text);
        free((char *)b->p[i].image);
    }
    b->n = 0;
}

/* Reads up to BATCH products. Returns 0 (more may follow), 1 at the end, -1 on error. */
static int batch_fill(batch *b, shelf_reader *r, const char *cmd)
{
    shelf_error err = {0};
    while (b->n < BATCH) {
        shelf_product p;
        shelf_status st = shelf_reader_next(r, &p, &err);
        if (st == SHELF_END)
            return 1;
        if (st != SHELF_OK) {
            fprintf(stderr, "shelf %s: %s\n", cmd, err.message);
            return -1;
        }
        shelf_product *q = &b->p[b->n];
        *q = (shelf_product){strdup(p.id), strdup(p.text), "", strdup(p.image ? p.image : ""),
                             p.line, NULL, 0};
        if (!q->id || !q->text || !q->image) {
            b->n++;
            fprintf(stderr, "shelf %s: out of memory\n", cmd);
            return -1;
        }
        b->n++;
    }
    return 0;
}

/* What every batch is predicted and written with. */
typedef struct job {
    const shelf_model *m;
    const char *data;  /* the catalog's path, for image references; "-" for --image */
    int k;             /* labels written per product */
    int kq;            /* labels asked of the model: all of them for back-off */
    float threshold;   /* leave out labels below it */
    float min_conf;    /* > 0: back off below it */
    int threads, skip_bad;
    pred_format fmt;
    int *labels, *counts; /* BATCH * kq, BATCH */
    float *probs;
    unsigned char *used;  /* BATCH: what each product was classified by */
    int show_used;        /* models that read images say so per product */
} job;

static void write_product(const job *j, const shelf_product *p, const int *labels,
                          const float *probs, int count, unsigned char used)
{
    const char *names[256];
    int n = 0;
    for (int i = 0; i < count && i < j->k; i++)
        if (probs[i] >= j->threshold)
            names[n++] = shelf_model_label(j->m, labels[i]);
    static const char *const used_names[4] = {"", "text", "image", "text+image"};
    char path[1024] = "";
    pred_extra x = {j->min_conf > 0, path, 0, BACKOFF_FULL,
                    j->show_used ? used_names[used & 3] : NULL};
    if (x.backoff)
        x.status = (pred_backoff_status)shelf_backoff(j->m, labels, probs, count, j->min_conf,
                                                      path, sizeof path, &x.prob);
    pred_write_row_extra(stdout, j->fmt, j->k, p->id, n, names, probs, &x);
}

static int write_batch(const job *j, batch *b)
{
    shelf_error err = {0};
    shelf_predict_stats ps;
    if (shelf_predict_products(j->m, j->data, b->p, b->n, j->kq, j->threads, j->labels,
                               j->probs, j->counts, j->used, &ps, &err)) {
        fprintf(stderr, "shelf predict: %s\n", err.message);
        return -1;
    }
    if (ps.bad_images && !j->skip_bad) {
        fprintf(stderr, "shelf predict: %s (--skip-bad skips such products)\n", ps.first_bad);
        return -1;
    }
    if (ps.text_only && !b->text_only)
        fprintf(stderr, "shelf predict: products without a usable image are classified by "
                "their text alone; the first: %s\n", ps.first_bad);
    b->text_only += ps.text_only;
    if (ps.bad_images && !b->bad_images)
        fprintf(stderr, "shelf predict: skipping products with a bad image; the first: %s\n",
                ps.first_bad);
    b->bad_images += ps.bad_images;
    for (size_t i = 0; i < b->n; i++)
        if (j->counts[i] >= 0)
            write_product(j, &b->p[i], j->labels + i * (size_t)j->kq,
                          j->probs + i * (size_t)j->kq, j->counts[i], j->used[i]);
    return ferror(stdout) ? -1 : 0;
}

int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *data = "-", *outfmt = "jsonl", *image = NULL;
    int k = 1, threads = 0;
    float threshold = 0, min_conf = 0;
    read_flags rf = {0};
    const opt opts[] = {
        {"model", OPT_STR, &model, "model file (required)"},
        {"data", OPT_STR, &data, "catalog to categorize, or - for standard input (default)"},
        {"image", OPT_STR, &image, "one image file to categorize (image models)"},
        {"k", OPT_INT, &k, "how many labels per product (1)"},
        {"threshold", OPT_FLOAT, &threshold, "leave out labels less probable than this (0)"},
        {"min-confidence", OPT_FLOAT, &min_conf,
         "below it, give the deepest ancestor path that reaches it, or mark for review"},
        {"output-format", OPT_STR, &outfmt, "jsonl (default), csv or tsv"},
        {"threads", OPT_INT, &threads, "threads (default: all cores)"},
        READ_FLAG_OPTS(rf),
        {NULL, 0, NULL, NULL}};
    int r = opt_parse("predict", argc, argv, opts);
    if (r)
        return r > 0 ? (opt_usage("predict", "--model MODEL [--data FILE | -] [options]", opts), 0)
                     : 2;
    pred_format fmt;
    if (!model || k < 1 || k > 256 || threads < 0 || pred_format_parse(outfmt, &fmt)) {
        fprintf(stderr, "shelf predict: needs --model, --k between 1 and 256, --threads of 0 "
                        "or more and --output-format jsonl, csv or tsv\n");
        return 2;
    }
    if (min_conf < 0 || min_conf > 1) {
        fprintf(stderr, "shelf predict: --min-confidence must be between 0 and 1\n");
        return 2;
    }
    shelf_error err = {0};
    shelf_model *m = NULL;
    if (shelf_model_load(model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf predict: %s\n", err.message);
        return 1;
    }
    int status = 1;
    shelf_reader *rd = NULL;
    shelf_read_options ro;
    batch *b = calloc(1, sizeof *b);
    /* back-off sums probabilities over every label below an ancestor: ask for all */
    int kq = min_conf > 0 ? shelf_model_num_labels(m) : k;
    if (kq < k)
        kq = k;
    job j = {m, data, k, kq, threshold, min_conf, threads, 0, fmt,
             malloc(sizeof(int) * BATCH * (size_t)kq), malloc(sizeof(int) * BATCH),
             malloc(sizeof(float) * BATCH * (size_t)kq), malloc(BATCH),
             shelf_model_modality(m) != SHELF_MODALITY_TEXT};
    if (!b || !j.labels || !j.counts || !j.probs || !j.used) {
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
        fprintf(stderr, "shelf predict: %s classifies text; --image needs an image model\n",
                model);
        goto done;
    }
    if (image) { /* one product: the file, its path taken as it is given */
        b->p[0] = (shelf_product){strdup(image), strdup(""), "", strdup(image), 0, NULL, 0};
        b->n = 1;
        pred_write_header_extra(stdout, fmt, k, min_conf > 0, j.show_used);
        j.data = "-";
        j.skip_bad = 0;
        if (!b->p[0].id || !b->p[0].text || !b->p[0].image || write_batch(&j, b))
            goto done;
        status = fflush(stdout) == 0 ? 0 : 1;
        goto done;
    }
    if (shelf_reader_open(data, &ro, &rd, &err) != SHELF_OK) {
        fprintf(stderr, "shelf predict: %s\n", err.message);
        goto done;
    }
    pred_write_header_extra(stdout, fmt, k, min_conf > 0, j.show_used);
    for (int end = 0; !end;) {
        end = batch_fill(b, rd, "predict");
        if (end < 0 || write_batch(&j, b))
            goto done;
        batch_clear(b);
    }
    shelf_read_stats st;
    shelf_reader_stats(rd, &st);
    report_read_stats(data, &st);
    if (b->bad_images)
        fprintf(stderr, "%s: skipped %ld products with a bad image\n", data, b->bad_images);
    if (b->text_only)
        fprintf(stderr, "%s: %ld products classified by their text alone (no usable image)\n",
                data, b->text_only);
    status = fflush(stdout) == 0 ? 0 : 1;
done:
    if (b)
        batch_clear(b);
    free(b);
    free(j.labels);
    free(j.counts);
    free(j.probs);
    free(j.used);
    shelf_reader_close(rd);
    shelf_model_free(m);
    return status;
}
