#include "report.h"

#include <stdlib.h>
#include <string.h>

enum { TOPK = 5 };

int report_catalog(const shelf_model *m, const shelf_catalog *c, const char *path, int json,
                   int per_class, int confusions, int threads, FILE *out)
{
    size_t n = shelf_catalog_size(c);
    const char **texts = malloc((n + 1) * sizeof *texts);
    int *labels = malloc((n * TOPK + 1) * sizeof *labels), *counts = malloc((n + 1) * sizeof *counts);
    float *probs = malloc((n * TOPK + 1) * sizeof *probs);
    shelf_eval *e = NULL;
    shelf_error err = {0};
    const char *sep = shelf_model_read_options(m)->label_sep;
    int status = -1;
    if (!texts || !labels || !counts || !probs) {
        fprintf(stderr, "shelf: out of memory evaluating %s\n", path);
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        texts[i] = shelf_catalog_get(c, i)->text;
    if (shelf_predict_batch(m, texts, n, TOPK, threads, labels, probs, counts, &err) ||
        shelf_eval_new(sep ? sep : " > ", &e, &err)) {
        fprintf(stderr, "shelf: %s\n", err.message);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
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
    free(texts);
    free(labels);
    free(counts);
    free(probs);
    return status;
}
