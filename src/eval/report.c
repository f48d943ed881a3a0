/* Evaluation reports: one JSON object for programs, aligned text for a terminal. Both list
 * classes by support (most frequent first) and confusions by count, ties broken by name so
 * that two runs over the same rows print the same report. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "eval/eval.h"

/* ---- ordering ---------------------------------------------------------------------- */

typedef struct confusion {
    long count;
    const char *truth, *pred;
} confusion;

static int by_count_then_names(const void *pa, const void *pb)
{
    const confusion *a = pa, *b = pb;
    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    int c = strcmp(a->truth, b->truth);
    return c ? c : strcmp(a->pred, b->pred);
}

static int by_support_then_label(const void *pa, const void *pb)
{
    const eval_label *a = *(const eval_label *const *)pa, *b = *(const eval_label *const *)pb;
    if (a->full.truth != b->full.truth)
        return a->full.truth > b->full.truth ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The off-diagonal pairs, most frequent first, at most max of them, in *out (caller
 * frees). Returns how many, or -1 when out of memory. */
static long sorted_confusions(const shelf_eval *e, int max, confusion **out)
{
    const eval_pairs *m = &e->confusions;
    *out = mem_alloc((m->n ? m->n : 1) * sizeof **out);
    if (!*out)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < m->nslots; i++) {
        const eval_pair *p = &m->slots[i];
        if (p->key)
            (*out)[n++] = (confusion){p->count, e->labels.items[pair_truth(p)].name,
                                      e->labels.items[pair_pred(p)].name};
    }
    qsort(*out, n, sizeof **out, by_count_then_names);
    return (long)(n < (size_t)max ? n : (size_t)max);
}

/* The classes of the whole-path view (true or predicted at least once), by support, in
 * *out (caller frees). Returns how many, or -1 when out of memory. */
static long sorted_classes(const shelf_eval *e, const eval_label ***out)
{
    *out = mem_alloc((e->labels.n ? e->labels.n : 1) * sizeof **out);
    if (!*out)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < e->labels.n; i++)
        if (eval_counts_at(&e->labels.items[i], 0))
            (*out)[n++] = &e->labels.items[i];
    qsort(*out, n, sizeof **out, by_support_then_label);
    return (long)n;
}

/* ---- JSON -------------------------------------------------------------------------- */

/* Each adder returns 0, or -1 when cJSON could not allocate. */
static int add_number(cJSON *o, const char *key, double v)
{
    return cJSON_AddNumberToObject(o, key, v) ? 0 : -1;
}

static int add_string(cJSON *o, const char *key, const char *v)
{
    return cJSON_AddStringToObject(o, key, v) ? 0 : -1;
}

/* A new empty object at the end of arr, or NULL when out of memory. */
static cJSON *append_object(cJSON *arr)
{
    cJSON *item = cJSON_CreateObject();
    if (item && !cJSON_AddItemToArray(arr, item)) {
        cJSON_Delete(item);
        item = NULL;
    }
    return item;
}

static int add_backoff(cJSON *o, const shelf_eval_summary *s)
{
    cJSON *b = cJSON_AddObjectToObject(o, "backoff");
    if (!b)
        return -1;
    return add_number(b, "threshold", s->backoff_threshold) |
           add_number(b, "coverage", s->backoff_coverage) |
           add_number(b, "precision", s->backoff_precision) |
           add_number(b, "partial", (double)s->backoff_partial) |
           add_number(b, "review", (double)s->backoff_review);
}

static int add_summary(cJSON *o, const shelf_eval_summary *s)
{
    int rc = add_number(o, "n", (double)s->n);
    rc |= add_number(o, "accuracy", s->accuracy);
    rc |= add_number(o, "top5_accuracy", s->top5_accuracy);
    rc |= add_number(o, "macro_precision", s->macro_precision);
    rc |= add_number(o, "macro_recall", s->macro_recall);
    rc |= add_number(o, "macro_f1", s->macro_f1);
    rc |= add_number(o, "micro_precision", s->micro_precision);
    rc |= add_number(o, "micro_recall", s->micro_recall);
    rc |= add_number(o, "micro_f1", s->micro_f1);
    rc |= add_number(o, "weighted_precision", s->weighted_precision);
    rc |= add_number(o, "weighted_recall", s->weighted_recall);
    rc |= add_number(o, "weighted_f1", s->weighted_f1);
    cJSON *h = cJSON_AddObjectToObject(o, "hierarchical_f1");
    rc |= h ? add_number(h, "precision", s->hier_precision) |
                  add_number(h, "recall", s->hier_recall) | add_number(h, "f1", s->hier_f1)
            : -1;
    if (s->has_backoff)
        rc |= add_backoff(o, s);
    return rc;
}

static int add_levels(cJSON *o, const shelf_eval *e, int levels)
{
    cJSON *arr = cJSON_AddArrayToObject(o, "levels");
    if (!arr)
        return -1;
    for (int level = 1; level <= levels; level++) {
        long n;
        double acc, f1;
        shelf_eval_level(e, level, &n, &acc, &f1);
        cJSON *item = append_object(arr);
        if (!item || (add_number(item, "level", level) | add_number(item, "n", (double)n) |
                      add_number(item, "accuracy", acc) | add_number(item, "macro_f1", f1)))
            return -1;
    }
    return 0;
}

static int add_confusions(cJSON *o, const shelf_eval *e, int max)
{
    confusion *c;
    long n = sorted_confusions(e, max, &c);
    cJSON *arr = n >= 0 ? cJSON_AddArrayToObject(o, "confusions") : NULL;
    int rc = arr ? 0 : -1;
    for (long i = 0; i < n && rc == 0; i++) {
        cJSON *item = append_object(arr);
        rc = !item || (add_string(item, "true", c[i].truth) |
                       add_string(item, "predicted", c[i].pred) |
                       add_number(item, "count", (double)c[i].count));
    }
    mem_free(c);
    return rc;
}

static int add_class(cJSON *arr, const eval_label *l)
{
    eval_scores s;
    eval_scores_of(&l->full, &s);
    cJSON *item = append_object(arr);
    if (!item)
        return -1;
    return add_string(item, "label", l->name) |
           add_number(item, "support", (double)l->full.truth) |
           add_number(item, "predicted", (double)l->full.pred) |
           add_number(item, "precision", s.precision) | add_number(item, "recall", s.recall) |
           add_number(item, "f1", s.f1);
}

static int add_classes(cJSON *o, const shelf_eval *e)
{
    const eval_label **c;
    long n = sorted_classes(e, &c);
    cJSON *arr = n >= 0 ? cJSON_AddArrayToObject(o, "classes") : NULL;
    int rc = arr ? 0 : -1;
    for (long i = 0; i < n && rc == 0; i++)
        rc = add_class(arr, c[i]);
    mem_free(c);
    return rc;
}

char *shelf_eval_json(const shelf_eval *e, int per_class, int confusions)
{
    if (!e)
        return NULL;
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    int rc = add_summary(o, &s);
    rc |= add_levels(o, e, s.levels);
    if (rc == 0 && confusions > 0)
        rc = add_confusions(o, e, confusions);
    if (rc == 0 && per_class)
        rc = add_classes(o, e);
    char *out = rc == 0 ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return out;
}

/* ---- text -------------------------------------------------------------------------- */

enum { KEY_WIDTH = 18 };

/* Writes key padded to the first column, keeping two spaces after a longer key. */
static void put_key(buf *b, const char *key)
{
    int len = (int)strlen(key);
    buf_printf(b, "%-*s", len + 2 > KEY_WIDTH ? len + 2 : KEY_WIDTH, key);
}

static void put_scores(buf *b, const char *key, double p, double r, double f1)
{
    put_key(b, key);
    buf_printf(b, "%-11.4f%-8.4f%.4f\n", p, r, f1);
}

static void text_backoff(buf *b, const shelf_eval_summary *s)
{
    /* Two decimals as --min-confidence is usually written (0.90), more when it has them. */
    char key[64];
    snprintf(key, sizeof key, "back-off at %.2f", s->backoff_threshold);
    if (strtod(key + strlen("back-off at "), NULL) != s->backoff_threshold)
        snprintf(key, sizeof key, "back-off at %g", s->backoff_threshold);
    put_key(b, key);
    buf_printf(b, "coverage %.4f  precision %.4f  (partial %ld, review %ld)\n",
               s->backoff_coverage, s->backoff_precision, s->backoff_partial,
               s->backoff_review);
}

static void text_summary(buf *b, const shelf_eval *e, const shelf_eval_summary *s)
{
    put_key(b, "products");
    buf_printf(b, "%ld\n", s->n);
    if (e->unpredicted > 0) {
        put_key(b, "no prediction");
        buf_printf(b, "%ld\n", e->unpredicted);
    }
    put_key(b, "accuracy");
    buf_printf(b, "%.4f   top-5 %.4f\n", s->accuracy, s->top5_accuracy);
    put_key(b, "");
    buf_puts(b, "precision  recall  f1\n");
    put_scores(b, "macro", s->macro_precision, s->macro_recall, s->macro_f1);
    put_scores(b, "micro", s->micro_precision, s->micro_recall, s->micro_f1);
    put_scores(b, "weighted", s->weighted_precision, s->weighted_recall, s->weighted_f1);
    put_scores(b, "hierarchical", s->hier_precision, s->hier_recall, s->hier_f1);
    for (int level = 1; level <= s->levels; level++) {
        long n;
        double acc, f1;
        shelf_eval_level(e, level, &n, &acc, &f1);
        char key[64];
        snprintf(key, sizeof key, "level %d (n=%ld)", level, n);
        put_key(b, key);
        buf_printf(b, "accuracy %.4f  macro-F1 %.4f\n", acc, f1);
    }
    if (s->has_backoff)
        text_backoff(b, s);
}

/* Counts first and right-aligned, labels last and whole, so long labels never push the
 * columns out of line. */
static int text_confusions(buf *b, const shelf_eval *e, int max)
{
    confusion *c;
    long n = sorted_confusions(e, max, &c);
    if (n < 0)
        return -1;
    buf_puts(b, "most frequent confusions:\n");
    if (n == 0)
        buf_puts(b, "  none\n");
    int w = n > 0 ? snprintf(NULL, 0, "%ld", c[0].count) : 0;
    for (long i = 0; i < n; i++) { /* labels come from files: escaped for the terminal */
        buf_printf(b, "  %*ld  ", w, c[i].count);
        buf_put_escaped(b, c[i].truth);
        buf_puts(b, "  ->  ");
        buf_put_escaped(b, c[i].pred);
        buf_puts(b, "\n");
    }
    mem_free(c);
    return 0;
}

static int text_classes(buf *b, const shelf_eval *e)
{
    const eval_label **c;
    long n = sorted_classes(e, &c);
    if (n < 0)
        return -1;
    long most = 0;
    for (long i = 0; i < n; i++)
        most = c[i]->full.pred > most ? c[i]->full.pred : most;
    most = n > 0 && c[0]->full.truth > most ? c[0]->full.truth : most;
    int w = snprintf(NULL, 0, "%ld", most);
    w = w > 9 ? w : 9; /* as wide as "predicted" */
    buf_printf(b, "per class:\n  %*s  %*s  precision  recall  f1      label\n", w, "support",
               w, "predicted");
    for (long i = 0; i < n; i++) {
        eval_scores s;
        eval_scores_of(&c[i]->full, &s);
        buf_printf(b, "  %*ld  %*ld  %-9.4f  %-6.4f  %-6.4f  ", w, c[i]->full.truth, w,
                   c[i]->full.pred, s.precision, s.recall, s.f1);
        buf_put_escaped(b, c[i]->name);
        buf_puts(b, "\n");
    }
    mem_free(c);
    return 0;
}

char *shelf_eval_text(const shelf_eval *e, int per_class, int confusions)
{
    if (!e)
        return NULL;
    shelf_eval_summary s;
    shelf_eval_summarize(e, &s);
    buf b;
    buf_init(&b);
    text_summary(&b, e, &s);
    int rc = 0;
    if (confusions > 0)
        rc = text_confusions(&b, e, confusions);
    if (rc == 0 && per_class)
        rc = text_classes(&b, e);
    if (rc) {
        buf_free(&b);
        return NULL;
    }
    return buf_detach(&b);
}
