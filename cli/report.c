#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "terminal.h"

/* Ranked labels kept per product for the metrics (top-5 accuracy), and products predicted at
 * a time, so that asking for every label's probability (back-off) stays bounded. */
enum { TOPK = 5, CHUNK = 4096 };

/* Adds one product's ranked labels, and its back-off path when asked, to e. */
static shelf_status add_product(shelf_eval *e, const shelf_model *m, const char *truth,
                                const int *labels, const float *probs, int count,
                                float min_conf)
{
    const char *ranked[TOPK];
    int n = count < TOPK ? count : TOPK;
    for (int j = 0; j < n; j++)
        ranked[j] = shelf_model_label(m, labels[j]);
    shelf_status st = shelf_eval_add(e, truth, ranked, n);
    if (st != SHELF_OK || min_conf <= 0)
        return st;
    char path[1024];
    float prob;
    shelf_backoff(m, labels, probs, count, min_conf, path, sizeof path, &prob);
    return shelf_eval_add_backoff(e, truth, path, min_conf);
}

/* Test labels the model never saw: they can only be errors, and a catalog whose labels are
 * written differently from the training data's (another separator, an array read as one
 * string) scores 0 without saying why. */
typedef struct unknown_labels {
    long total;        /* rows with such a label */
    const char **rows; /* their labels, in catalog order (the catalog owns them); out of
                          memory, the first n only */
    size_t n, cap;
} unknown_labels;

static void unknown_add(unknown_labels *u, const shelf_model *m, const char *label)
{
    if (shelf_model_find_label(m, label) >= 0)
        return;
    u->total++;
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 64;
        const char **grown = realloc(u->rows, cap * sizeof *grown);
        if (!grown)
            return;
        u->rows = grown;
        u->cap = cap;
    }
    u->rows[u->n++] = label ? label : "";
}

static int by_string(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* How many distinct labels u->rows holds; sorts them. */
static long count_distinct(unknown_labels *u)
{
    qsort(u->rows, u->n, sizeof *u->rows, by_string);
    long distinct = 0;
    for (size_t i = 0; i < u->n; i++)
        distinct += i == 0 || strcmp(u->rows[i], u->rows[i - 1]) != 0;
    return distinct;
}

/* n with a comma between thousands: "1,000". */
static const char *thousands(char out[32], long n)
{
    char digits[24];
    int len = snprintf(digits, sizeof digits, "%ld", n), o = 0;
    for (int i = 0; i < len; i++) {
        if (i && digits[i - 1] != '-' && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = digits[i];
    }
    out[o] = '\0';
    return out;
}

/* "412 of 1,000 test rows (23 labels) have labels the model never saw, e.g. 'X', 'Y'; they
 * count as errors", the first distinct labels in catalog order, escaped: they come from the
 * catalog. */
static void unknown_warn(unknown_labels *u, const char *path, long rows)
{
    if (!u->total)
        return;
    const char *shown[3];
    size_t nshown = 0;
    for (size_t i = 0; i < u->n && nshown < 3; i++) {
        size_t j = 0;
        while (j < nshown && strcmp(shown[j], u->rows[i]) != 0)
            j++;
        if (j == nshown)
            shown[nshown++] = u->rows[i];
    }
    long distinct = count_distinct(u);
    char a[32], b[32], c[32];
    fprintf(stderr, "warning: %s: %s of %s test rows (%s label%s) have labels the model never "
            "saw, e.g. ", path, thousands(a, u->total), thousands(b, rows),
            thousands(c, distinct), distinct == 1 ? "" : "s");
    for (size_t i = 0; i < nshown; i++) {
        fputs(i ? ", '" : "'", stderr);
        fput_escaped(stderr, shown[i]);
        fputs("'", stderr);
    }
    fputs("; they count as errors\n", stderr);
}

/* Prints the report with the outputs' summary: a member of the JSON object, or a line. */
static void print_report(FILE *out, const char *report, const char *summary, int json)
{
    const char *end = json && summary[0] ? strrchr(report, '}') : NULL;
    if (end) {
        fwrite(report, 1, (size_t)(end - report), out);
        fprintf(out, ", %s}\n", summary);
        return;
    }
    fputs(report, out);
    if (report[0] && report[strlen(report) - 1] != '\n')
        fputc('\n', out);
    fputs(summary, out);
}

int report_catalog(const shelf_model *m, const shelf_catalog *c, const char *path,
                   report_options *o, FILE *out)
{
    size_t n = shelf_catalog_size(c), chunk = n < CHUNK ? n : CHUNK;
    int K = shelf_model_num_labels(m);
    /* back-off, and the search for a target precision's threshold, sum every label */
    int kq = (o->min_confidence > 0 || o->outputs.target_precision > 0) && K > TOPK ? K : TOPK;
    o->outputs.m = m;
    o->outputs.c = c;
    o->outputs.K = K;
    shelf_product *products = malloc((chunk + 1) * sizeof *products);
    int *labels = malloc((chunk * (size_t)kq + 1) * sizeof *labels);
    int *counts = malloc((chunk + 1) * sizeof *counts);
    float *probs = malloc((chunk * (size_t)kq + 1) * sizeof *probs);
    shelf_eval *e = NULL;
    shelf_predictor *pred = NULL;
    shelf_error err = {0};
    const char *sep = shelf_model_read_options(m)->label_sep;
    int status = -1;
    long bad = 0, text_only = 0, image_only = 0, evaluated = 0;
    unknown_labels unknown = {0};
    double load_s = 0, model_s = 0;
    char first_bad[SHELF_ERROR_MAX] = "";
    if (!products || !labels || !counts || !probs) {
        fprintf(stderr, "shelf: out of memory evaluating %s\n", path);
        goto done;
    }
    if (shelf_eval_new(sep, &e, &err) || /* NULL: the default separator */
        shelf_predictor_new(m, o->threads, 0, &pred, &err)) {
        fprintf(stderr, "shelf: %s\n", err.message);
        goto done;
    }
    for (size_t from = 0; from < n; from += chunk) {
        size_t cn = n - from < chunk ? n - from : chunk;
        for (size_t i = 0; i < cn; i++)
            products[i] = *shelf_catalog_get(c, from + i);
        shelf_predict_stats ps;
        if (shelf_predictor_run(pred, shelf_catalog_path(c), products, cn, kq, labels, probs,
                                counts, NULL, &ps, &err)) {
            fprintf(stderr, "shelf: %s\n", err.message);
            goto done;
        }
        if (ps.bad_images && !bad)
            memcpy(first_bad, ps.first_bad, sizeof first_bad);
        bad += ps.bad_images;
        if (ps.text_only && !text_only && !bad)
            memcpy(first_bad, ps.first_bad, sizeof first_bad);
        text_only += ps.text_only;
        image_only += ps.image_only;
        load_s += ps.load_seconds;
        model_s += ps.model_seconds;
        if (bad && !o->skip_bad) {
            fprintf(stderr, "shelf: %s (--skip-bad skips such products)\n", first_bad);
            goto done;
        }
        for (size_t i = 0; i < cn; i++) {
            if (counts[i] < 0)
                continue;
            evaluated++;
            unknown_add(&unknown, m, products[i].label);
            if (eval_outputs_wanted(&o->outputs))
                eval_outputs_add(&o->outputs, from + i, labels + i * (size_t)kq,
                                 probs + i * (size_t)kq, counts[i]);
            if (add_product(e, m, products[i].label, labels + i * (size_t)kq,
                            probs + i * (size_t)kq, counts[i], o->min_confidence)) {
                fprintf(stderr, "shelf: out of memory evaluating %s\n", path);
                goto done;
            }
        }
    }
    unknown_warn(&unknown, path, evaluated);
    if (bad)
        fprintf(stderr, "%s: skipped %ld products with a bad image; the first: %s\n", path, bad,
                first_bad);
    if (text_only)
        fprintf(stderr, "%s: %ld products classified by their text alone (no usable image); "
                "the first: %s\n", path, text_only, first_bad);
    if (image_only)
        fprintf(stderr, "%s: %ld products classified by their image alone (no word of their "
                "text known to the model)\n", path, image_only);
    if (shelf_model_modality(m) != SHELF_MODALITY_TEXT)
        fprintf(stderr, "%s: %zu images read in %.2f s, classified in %.2f s (%.0f images/s)\n",
                path, n, load_s, model_s, model_s > 0 ? (double)n / model_s : 0);
    char *report = o->json ? shelf_eval_json(e, o->per_class, o->confusions)
                           : shelf_eval_text(e, o->per_class, o->confusions);
    if (!report) {
        fprintf(stderr, "shelf: out of memory writing the report\n");
        goto done;
    }
    char summary[512];
    if (eval_outputs_finish(&o->outputs, o->json, summary, sizeof summary)) {
        free(report);
        goto done;
    }
    print_report(out, report, summary, o->json);
    free(report);
    size_t dup = shelf_model_count_seen(m, c);
    if (dup)
        fprintf(stderr, "note: %zu of %zu products in %s have the same text as a training "
                "product\n", dup, n, path);
    status = 0;
done:
    eval_outputs_free(&o->outputs);
    free(unknown.rows);
    shelf_predictor_free(pred);
    shelf_eval_free(e);
    free(products);
    free(labels);
    free(counts);
    free(probs);
    return status;
}
