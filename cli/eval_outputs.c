#include "eval_outputs.h"

#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "terminal.h"

int eval_outputs_check(const eval_outputs *o, const char *data, const char *model)
{
    const char *inputs[] = {data, model}, *what[] = {"--data", "--model"};
    if (out_is_an_input("eval", o->predictions, inputs, what, 2) ||
        out_is_an_input("eval", o->confusion, inputs, what, 2))
        return -1;
    const char *paths[2] = {o->predictions, o->confusion};
    const char *names[2] = {"--predictions", "--confusion-matrix"};
    for (int i = 0; i < 2; i++) {
        shelf_error err = {0};
        if (paths[i] && shelf_outfile_check(paths[i], &err) != SHELF_OK) {
            fprintf(stderr, "shelf eval: %s %s\n", names[i], err.message);
            return -1;
        }
    }
    if (o->predictions && o->confusion && strcmp(o->predictions, o->confusion) == 0) {
        fprintf(stderr, "shelf eval: --predictions and --confusion-matrix name the same file\n");
        return -1;
    }
    return 0;
}

/* The columns of --predictions before the kept ones. */
static const char *const OWN_COLUMNS[] = {"id", "true", "predicted", "probability", "correct"};

int eval_outputs_kept_check(const shelf_catalog *c, const char *keep)
{
    const int n = shelf_catalog_nkept(c);
    if (keep && n == 0) {
        fprintf(stderr, "shelf eval: --keep '%s' names no column\n", keep);
        return -1;
    }
    for (int j = 0; j < n; j++)
        for (int k = 0; k < j; k++)
            if (strcmp(shelf_catalog_kept_name(c, j), shelf_catalog_kept_name(c, k)) == 0) {
                fprintf(stderr, "shelf eval: --keep names '%s' twice\n",
                        shelf_catalog_kept_name(c, j));
                return -1;
            }
    for (int j = 0; j < n; j++)
        for (size_t k = 0; k < sizeof OWN_COLUMNS / sizeof *OWN_COLUMNS; k++)
            if (strcmp(shelf_catalog_kept_name(c, j), OWN_COLUMNS[k]) == 0) {
                fprintf(stderr, "shelf eval: --keep %s: --predictions has a column '%s' of "
                        "its own (the product's %s)\n", OWN_COLUMNS[k], OWN_COLUMNS[k],
                        k == 0 ? "id, as --id names it" : "evaluation");
                return -1;
            }
    return 0;
}

static int grow(eval_outputs *o)
{
    size_t cap = o->cap ? 2 * o->cap : 1024, K = (size_t)o->K;
    void *p[7] = {realloc(o->ids, cap * sizeof *o->ids),
                  realloc(o->truths, cap * sizeof *o->truths),
                  realloc(o->pred, cap * sizeof *o->pred),
                  realloc(o->prob, cap * sizeof *o->prob),
                  realloc(o->rows, cap * sizeof *o->rows), NULL, NULL};
    /* each realloc that worked is kept, so that nothing leaks when another fails */
    if (p[0]) o->ids = p[0];
    if (p[1]) o->truths = p[1];
    if (p[2]) o->pred = p[2];
    if (p[3]) o->prob = p[3];
    if (p[4]) o->rows = p[4];
    int ok = p[0] && p[1] && p[2] && p[3] && p[4];
    if (ok && o->target_precision > 0) {
        p[5] = realloc(o->ranked, cap * K * sizeof *o->ranked);
        if (p[5])
            o->ranked = p[5];
        p[6] = realloc(o->probs, cap * K * sizeof *o->probs);
        if (p[6])
            o->probs = p[6];
        ok = p[5] && p[6];
    }
    if (!ok)
        return -1;
    o->cap = cap;
    return 0;
}

void eval_outputs_add(eval_outputs *o, size_t row, const int *labels, const float *probs,
                      int count)
{
    if (o->oom || (o->n == o->cap && grow(o))) {
        o->oom = 1;
        return;
    }
    size_t i = o->n++, K = (size_t)o->K;
    const shelf_product *p = shelf_catalog_get(o->c, row);
    o->ids[i] = p->id ? p->id : "";
    o->truths[i] = p->label ? p->label : "";
    o->rows[i] = row;
    o->pred[i] = count > 0 ? labels[0] : -1;
    o->prob[i] = count > 0 ? probs[0] : 0;
    if (o->target_precision > 0) {
        int c = count < o->K ? count : o->K;
        memcpy(o->ranked + i * K, labels, (size_t)c * sizeof *labels);
        memcpy(o->probs + i * K, probs, (size_t)c * sizeof *probs);
        for (size_t j = (size_t)c; j < K; j++) { /* fewer than K: the rest never given */
            o->ranked[i * K + j] = labels[0];
            o->probs[i * K + j] = 0;
        }
    }
}

/* A CSV field, quoted as RFC 4180 says when it needs it. */
static void csv_field(FILE *f, const char *s)
{
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int write_predictions(const eval_outputs *o)
{
    shelf_error err = {0};
    shelf_outfile *of = NULL;
    if (shelf_outfile_open(o->predictions, &of, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: --predictions %s\n", err.message);
        return -1;
    }
    FILE *f = shelf_outfile_stream(of);
    const int nkept = shelf_catalog_nkept(o->c);
    for (size_t k = 0; k < sizeof OWN_COLUMNS / sizeof *OWN_COLUMNS; k++)
        fprintf(f, "%s%s", k ? "," : "", OWN_COLUMNS[k]);
    for (int j = 0; j < nkept; j++) { /* --keep: the input's columns, under their names */
        fputc(',', f);
        csv_field(f, shelf_catalog_kept_name(o->c, j));
    }
    fputc('\n', f);
    for (size_t i = 0; i < o->n; i++) {
        const char *pred = o->pred[i] >= 0 ? shelf_model_label(o->m, o->pred[i]) : "";
        csv_field(f, o->ids[i]);
        fputc(',', f);
        csv_field(f, o->truths[i]);
        fputc(',', f);
        csv_field(f, pred);
        fprintf(f, ",%.6g,%d", (double)o->prob[i], strcmp(pred, o->truths[i]) == 0);
        const char *const *kept = shelf_catalog_kept(o->c, o->rows[i]);
        for (int j = 0; j < nkept; j++) {
            fputc(',', f);
            csv_field(f, kept[j]);
        }
        fputc('\n', f);
    }
    if (shelf_outfile_commit(of, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: --predictions %s\n", err.message);
        return -1;
    }
    return 0;
}

/* The full matrix over the model's labels and any other true label (appended, in order of
 * appearance): rows true, columns predicted. */
static int write_confusion(const eval_outputs *o)
{
    size_t K = (size_t)o->K, extra = 0;
    const char **others = malloc((o->n + 1) * sizeof *others);
    int *truth = malloc((o->n + 1) * sizeof *truth);
    long *cells = NULL;
    int rc = -1;
    if (!others || !truth)
        goto oom;
    for (size_t i = 0; i < o->n; i++) { /* a true label the model never saw gets a row */
        int t = shelf_model_find_label(o->m, o->truths[i]);
        size_t j = 0;
        while (t < 0 && j < extra && strcmp(others[j], o->truths[i]) != 0)
            j++;
        if (t < 0 && j == extra)
            others[extra++] = o->truths[i];
        truth[i] = t >= 0 ? t : (int)(K + j);
    }
    if (!(cells = calloc((K + extra) * K + 1, sizeof *cells)))
        goto oom;
    for (size_t i = 0; i < o->n; i++)
        if (o->pred[i] >= 0)
            cells[(size_t)truth[i] * K + (size_t)o->pred[i]]++;
    shelf_error err = {0};
    shelf_outfile *of = NULL;
    if (shelf_outfile_open(o->confusion, &of, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: --confusion-matrix %s\n", err.message);
        goto done;
    }
    FILE *f = shelf_outfile_stream(of);
    fputs("true \\ predicted", f);
    for (size_t c = 0; c < K; c++) {
        fputc(',', f);
        csv_field(f, shelf_model_label(o->m, (int)c));
    }
    fputc('\n', f);
    for (size_t r = 0; r < K + extra; r++) {
        csv_field(f, r < K ? shelf_model_label(o->m, (int)r) : others[r - K]);
        for (size_t c = 0; c < K; c++)
            fprintf(f, ",%ld", cells[r * K + c]);
        fputc('\n', f);
    }
    if (shelf_outfile_commit(of, &err) != SHELF_OK) {
        fprintf(stderr, "shelf eval: --confusion-matrix %s\n", err.message);
        goto done;
    }
    rc = 0;
    goto done;
oom:
    fprintf(stderr, "shelf eval: out of memory for the confusion matrix\n");
done:
    free(others);
    free(truth);
    free(cells);
    return rc;
}

/* Scanning down from 0.999 in steps of 0.001 while the precision holds: the last threshold
 * at which it did (the widest coverage before it first falls below the target). */
static void find_threshold(const eval_outputs *o, float *threshold, double *coverage,
                           double *precision)
{
    *threshold = -1;
    for (int step = 999; step >= 1; step--) {
        float t = (float)step / 1000;
        double c, p;
        shelf_backoff_measure(o->m, o->ranked, o->probs, o->K, NULL, o->truths, o->n, t, &c,
                              &p);
        if (p < (double)o->target_precision - 1e-6) /* a float's 0.99 is 0.99 */
            break;
        *threshold = t;
        *coverage = c;
        *precision = p;
    }
}

int eval_outputs_finish(eval_outputs *o, int json, char *summary, size_t size)
{
    summary[0] = '\0';
    if (o->oom) {
        fprintf(stderr, "shelf eval: out of memory keeping the predictions\n");
        return -1;
    }
    if ((o->predictions && write_predictions(o)) || (o->confusion && write_confusion(o)))
        return -1;
    if (o->target_precision <= 0)
        return 0;
    float t;
    double c = 0, p = 0;
    find_threshold(o, &t, &c, &p);
    double target = o->target_precision;
    if (json && t < 0)
        snprintf(summary, size, "\"target_precision\": {\"precision\": %.6g, "
                 "\"min_confidence\": null}", target);
    else if (json)
        snprintf(summary, size, "\"target_precision\": {\"precision\": %.6g, "
                 "\"min_confidence\": %.3f, \"coverage_at_it\": %.6g, "
                 "\"precision_at_it\": %.6g}", target, (double)t, c, p);
    else if (t < 0)
        snprintf(summary, size, "target precision %.4g: not reached at any --min-confidence "
                 "up to 0.999\n", target);
    else
        snprintf(summary, size, "target precision %.4g: --min-confidence %.3f gives precision "
                 "%.4f at coverage %.4f\n", target, (double)t, p, c);
    return 0;
}

void eval_outputs_free(eval_outputs *o)
{
    free(o->ids);
    free(o->truths);
    free(o->pred);
    free(o->prob);
    free(o->rows);
    free(o->ranked);
    free(o->probs);
}
