/* shelf report: a model on a labelled catalog as one self-contained HTML page
 * (cli/report_html.c draws it). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "report_html.h"

/* Labels kept per product: back-off's sums over them are exact up to the probability of the
 * rest, which past 256 labels is negligible. Products predicted at a time. Thumbnails' side. */
enum { MAX_KEPT = 256, CHUNK = 4096, THUMB = 96 };

typedef struct report_args {
    const char *model, *data, *out;
    int threads, mistakes;
    read_flags rf;
} report_args;

static const shelf_option report_opts[] = {
    OPT_STRING(report_args, "model", model, NULL, "model file (required)"),
    OPT_STRING(report_args, "data", data, NULL, "labelled catalog (required)"),
    OPT_STRING(report_args, "out", out, NULL, "the HTML file to write (required)"),
    OPT_INT(report_args, "mistakes", mistakes, 20, NULL, 0, 1000,
            "how many of the most confident mistakes to show, explained"),
    OPT_INT(report_args, "threads", threads, 0, "all cores", 0, 64, "threads"),
};
static const shelf_option file_opts[] = {READ_FILE_OPTS(report_args)};
static const shelf_option column_opts[] = {
    COLUMN_OPTS(report_args, "the model's", "the model's", "the model's"),
    OPT_STRING(report_args, "label", rf.label, "the model's", "label column"),
};

static void usage(void)
{
    opt_usage("report", "--model MODEL --data FILE --out report.html [options]");
    opt_section("options", OPT_TABLE(report_opts, NULL));
    opt_section("how the file is written", OPT_TABLE(file_opts, NULL));
    opt_section("its columns: the model's (as given at training), unless these name others",
                OPT_TABLE(column_opts, NULL));
}

typedef struct gathered {
    report_page page;
    int *labels, *counts;
    float *probs;
    shelf_product *chunk;
    shelf_eval *e;
} gathered;

static void gathered_free(gathered *g)
{
    report_page *p = &g->page;
    free(p->row);
    free(p->truth);
    free(p->ranked);
    free(p->probs);
    free(p->metrics);
    for (size_t k = 0; k < p->nmistakes; k++) {
        free(p->why[k]);
        free(p->thumb[k]);
    }
    free(p->mistake);
    free(p->why);
    free(p->thumb);
    free(p->thumb_size);
    free(g->labels);
    free(g->counts);
    free(g->probs);
    free(g->chunk);
    shelf_eval_free(g->e);
}

/* Predicts every product into g: its truth, ranked labels, and the metrics. 0, or -1 after
 * printing why. */
static int predict_all(gathered *g, shelf_predictor *pred, int skip_bad)
{
    report_page *p = &g->page;
    const shelf_catalog *c = p->c;
    size_t n = shelf_catalog_size(c), kq = (size_t)p->kq;
    p->row = malloc((n + 1) * sizeof *p->row);
    p->truth = malloc((n + 1) * sizeof *p->truth);
    p->ranked = malloc((n * kq + 1) * sizeof *p->ranked);
    p->probs = malloc((n * kq + 1) * sizeof *p->probs);
    g->labels = malloc((CHUNK * kq + 1) * sizeof *g->labels);
    g->probs = malloc((CHUNK * kq + 1) * sizeof *g->probs);
    g->counts = malloc(CHUNK * sizeof *g->counts);
    g->chunk = malloc(CHUNK * sizeof *g->chunk);
    shelf_error err = {0};
    if (!p->row || !p->truth || !p->ranked || !p->probs || !g->labels || !g->probs ||
        !g->counts || !g->chunk) {
        fprintf(stderr, "shelf report: out of memory for %zu products\n", n);
        return -1;
    }
    if (shelf_eval_new(shelf_model_read_options(p->m)->label_sep, &g->e, &err) != SHELF_OK) {
        fprintf(stderr, "shelf report: %s\n", err.message);
        return -1;
    }
    for (size_t from = 0; from < n; from += CHUNK) {
        size_t cn = n - from < CHUNK ? n - from : CHUNK;
        for (size_t i = 0; i < cn; i++)
            g->chunk[i] = *shelf_catalog_get(c, from + i);
        shelf_predict_stats st;
        if (shelf_predictor_run(pred, shelf_catalog_path(c), g->chunk, cn, (int)kq, g->labels,
                                g->probs, g->counts, NULL, &st, &err) != SHELF_OK) {
            fprintf(stderr, "shelf report: %s\n", err.message);
            return -1;
        }
        if (st.bad_images && !skip_bad) {
            fprintf(stderr, "shelf report: %s (--skip-bad skips such products)\n", st.first_bad);
            return -1;
        }
        p->skipped += st.bad_images;
        for (size_t i = 0; i < cn; i++) {
            if (g->counts[i] < 0)
                continue;
            size_t at = p->n++;
            const int *l = g->labels + i * kq;
            const float *q = g->probs + i * kq;
            p->row[at] = from + i;
            p->truth[at] = shelf_model_find_label(p->m, g->chunk[i].label);
            memcpy(p->ranked + at * kq, l, kq * sizeof *l);
            memcpy(p->probs + at * kq, q, kq * sizeof *q);
            for (int j = g->counts[i]; j < (int)kq; j++) { /* fewer labels: the rest at 0 */
                p->ranked[at * kq + (size_t)j] = l[0];
                p->probs[at * kq + (size_t)j] = 0;
            }
            const char *ranked[5];
            int nr = g->counts[i] < 5 ? g->counts[i] : 5;
            for (int j = 0; j < nr; j++)
                ranked[j] = shelf_model_label(p->m, l[j]);
            if (shelf_eval_add(g->e, g->chunk[i].label, ranked, nr) != SHELF_OK) {
                fprintf(stderr, "shelf report: out of memory\n");
                return -1;
            }
        }
    }
    if (!(p->metrics = shelf_eval_json(g->e, 1, 20))) {
        fprintf(stderr, "shelf report: out of memory\n");
        return -1;
    }
    return 0;
}

static const report_page *by_conf_page;

static int by_confidence(const void *a, const void *b)
{
    const report_page *p = by_conf_page;
    float x = p->probs[*(const size_t *)a * (size_t)p->kq];
    float y = p->probs[*(const size_t *)b * (size_t)p->kq];
    return x != y ? (x < y ? 1 : -1) : (*(const size_t *)a > *(const size_t *)b) -
                                           (*(const size_t *)a < *(const size_t *)b);
}

/* The most confident mistakes, explained (through a run of their own, so that a fused
 * model's weights are theirs), with thumbnails for models that read images. */
static int explain_mistakes(gathered *g, int most, int threads)
{
    report_page *p = &g->page;
    size_t wrong = 0, kq = (size_t)p->kq;
    size_t *all = malloc((p->n + 1) * sizeof *all);
    if (!all)
        return -1;
    for (size_t i = 0; i < p->n; i++)
        if (p->ranked[i * kq] != p->truth[i])
            all[wrong++] = i;
    by_conf_page = p;
    qsort(all, wrong, sizeof *all, by_confidence);
    size_t k = wrong < (size_t)most ? wrong : (size_t)most;
    p->mistake = all;
    p->why = calloc(k + 1, sizeof *p->why);
    p->thumb = calloc(k + 1, sizeof *p->thumb);
    p->thumb_size = calloc(k + 1, sizeof *p->thumb_size);
    if (!p->why || !p->thumb || !p->thumb_size)
        return -1;
    p->nmistakes = k;
    if (!k)
        return 0;
    shelf_predictor *pred = NULL;
    shelf_error err = {0};
    if (shelf_predictor_new(p->m, threads, k, &pred, &err) != SHELF_OK)
        return -1;
    for (size_t j = 0; j < k; j++)
        g->chunk[j] = *shelf_catalog_get(p->c, p->row[all[j]]);
    shelf_predict_stats st;
    const char *path = shelf_catalog_path(p->c);
    int rc = shelf_predictor_run(pred, path, g->chunk, k, 1, g->labels, g->probs, g->counts,
                                 NULL, &st, &err) == SHELF_OK ? 0 : -1;
    int images = shelf_model_modality(p->m) != SHELF_MODALITY_TEXT;
    for (size_t j = 0; rc == 0 && j < k; j++) {
        if (shelf_predictor_explain(pred, path, g->chunk, j, p->ranked[all[j] * kq],
                                    &p->why[j], &err) != SHELF_OK)
            p->why[j] = NULL; /* the row is shown without its words shaded */
        if (images && g->chunk[j].image && *g->chunk[j].image &&
            shelf_image_thumbnail(path, g->chunk[j].image, THUMB, &p->thumb[j],
                                  &p->thumb_size[j], &err) != SHELF_OK)
            fprintf(stderr, "note: no thumbnail for line %ld: %s\n", g->chunk[j].line,
                    err.message);
    }
    shelf_predictor_free(pred);
    return rc;
}

int cmd_report(int argc, char **argv)
{
    report_args a = {0};
    const opt_table t[] = {OPT_TABLE(report_opts, &a), OPT_TABLE(file_opts, &a),
                           OPT_TABLE(column_opts, &a)};
    opt_defaults(t, 3);
    int r = opt_parse("report", argc, argv, t, 3, NULL);
    if (r)
        return r > 0 ? (usage(), 0) : 2;
    if (!a.model || !a.data || !a.out) {
        fprintf(stderr, "shelf report: --model, --data and --out are required (see shelf report "
                        "--help)\n");
        return 2;
    }
    const char *inputs[] = {a.data, a.model}, *names[] = {"--data", "--model"};
    if (out_is_an_input("report", a.out, inputs, names, 2))
        return 2;
    shelf_error err = {0};
    if (shelf_outfile_check(a.out, &err) != SHELF_OK) { /* before any work */
        fprintf(stderr, "shelf report: --out %s\n", err.message);
        return 1;
    }
    shelf_model *m = NULL;
    if (shelf_model_load(a.model, &m, &err) != SHELF_OK) {
        fprintf(stderr, "shelf report: %s\n", err.message);
        return 1;
    }
    gathered g = {0};
    shelf_catalog *c = NULL;
    shelf_predictor *pred = NULL;
    shelf_outfile *of = NULL;
    shelf_read_options ro;
    int status = 1;
    if (read_flags_apply(&a.rf, shelf_model_read_options(m), &ro)) {
        status = 2;
        goto done;
    }
    ro.require_label = 1; /* a report measures against the labels */
    ro.for_images = shelf_model_modality(m) != SHELF_MODALITY_TEXT;
    if (shelf_catalog_load(a.data, &ro, &c, &err) != SHELF_OK) {
        fprintf(stderr, "shelf report: %s (a report needs each product's label)\n",
                err.message);
        goto done;
    }
    shelf_read_stats rs;
    shelf_catalog_stats(c, &rs);
    report_read_stats(a.data, &rs);
    int K = shelf_model_num_labels(m);
    g.page = (report_page){.m = m, .c = c, .model_path = a.model, .data_path = a.data,
                           .kq = K < MAX_KEPT ? K : MAX_KEPT};
    if (shelf_predictor_new(m, a.threads, 0, &pred, &err) != SHELF_OK) {
        fprintf(stderr, "shelf report: %s\n", err.message);
        goto done;
    }
    if (predict_all(&g, pred, ro.skip_bad))
        goto done;
    if (explain_mistakes(&g, a.mistakes, a.threads)) {
        fprintf(stderr, "shelf report: out of memory explaining the mistakes\n");
        goto done;
    }
    g.page.have_hygiene =
        shelf_catalog_hygiene(c, ro.label_sep, ro.for_images, &g.page.hygiene, &err) ==
        SHELF_OK;
    if (shelf_outfile_open(a.out, &of, &err) != SHELF_OK) {
        fprintf(stderr, "shelf report: %s\n", err.message);
        goto done;
    }
    if (report_html(shelf_outfile_stream(of), &g.page)) {
        fprintf(stderr, "shelf report: out of memory writing the page\n");
        goto done;
    }
    shelf_outfile *done_of = of;
    of = NULL;
    if (shelf_outfile_commit(done_of, &err) != SHELF_OK) {
        fprintf(stderr, "shelf report: %s\n", err.message);
        goto done;
    }
    fprintf(stderr, "%s: %zu products, written to %s\n", a.data, g.page.n, a.out);
    status = 0;
done:
    shelf_outfile_discard(of);
    shelf_predictor_free(pred);
    gathered_free(&g);
    shelf_catalog_free(c);
    shelf_model_free(m);
    return status;
}
