#include "report.h"

#include <stdlib.h>
#include <string.h>

enum { TOPK = 5 };

int report_catalog(const shelf_model *m, const shelf_catalog *c, const char *path, int json,
                   int per_class, int confusions, int threads, int skip_bad, FILE *out)
{
    size_t n = shelf_catalog_size(c);
    shelf_product *products = malloc((n + 1) * sizeof *products);
    int *labels = malloc((n * TOPK + 1) * sizeof *labels), *counts = malloc((n + 1) * sizeof *counts);
    float *probs = malloc((n * TOPK + 1) * sizeof *probs);
    shelf_eval *e = NULL;
    shelf_error err = {0};
    const char *sep = shelf_model_read_options(m)->label_sep;
    int status = -1;
    shelf_predict_stats ps;
    if (!products || !labels || !counts || !probs) {
        fprintf(stderr, "shelf: out of memory evaluating %s\n", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        products[i] = *shelf_catalog_get(c, i);
    if (shelf_predict_products(m, shelf_catalog_path(c), products, n, TOPK, threads, labels,
                               probs, counts, &ps, &err) ||
        shelf_eval_new(sep ? sep : " > ", &e, &err)) {
        fprintf(stderr, "shelf: %s\n", err.message);
        goto done;
    }
    if (ps.bad_images && !skip_bad) {
        fprintf(stderr, "shelf: %s (--skip-bad skips such products)\n", ps.first_bad);
        goto done;
    }
    if (ps.bad_images)
        fprintf(stderr, "%s: skipped %ld products with a bad image; the first: %s\n", path,
                ps.bad_images, ps.first_bad);
    if (shelf_model_modality(m) == SHELF_MODALITY_IMAGE)
        fprintf(stderr, "%s: %zu images read in %.2f s, classified in %.2f s (%.0f images/s)\n",
                path, n, ps.load_seconds, ps.model_seconds,
                ps.model_seconds > 0 ? (double)n / ps.model_seconds : 0);
    for (size_t i = 0; i < n; i++) {
        if (counts[i] < 0)
            continue;
        const char *ranked[TOPK];
        for (int j = 0; j < counts[i]; j++)
            ranked[j] = shelf_model_label(m, labels[i * TOPK + (size_t)j]);
        if (shelf_eval_add(e, shelf_catalog_get(c, i)->label, ranked, counts[i]) != SHELF_OK) {
            fprintf(stderr, "shelf: out of memory evaluating %s\n", path);
            goto done;
        }
    }
    char *report = json ? shelf_eval_json(e, per_class, confusions)
                        : shelf_eval_text(e, per_class, confusions);
    if (!report) {
        fprintf(stderr, "shelf: out of memory writing the report\n");
        goto done;
    }
    fputs(report, out);
    if (report[0] && report[strlen(report) - 1] != '\n')
        fputc('\n', out);
    free(report);
    size_t dup = shelf_model_count_seen(m, c);
    if (dup)
        fprintf(stderr, "note: %zu of %zu products in %s have the same text as a training "
                "product\n", dup, n, path);
    status = 0;
done:
    shelf_eval_free(e);
    free(products);
    free(labels);
    free(counts);
    free(probs);
    return status;
}
