/* Evaluation tallies and the metrics derived from them, computed as scikit-learn's
 * accuracy_score and precision_recall_fscore_support(zero_division=0) would over
 * labels = unique(y_true + y_pred). A row without a prediction (k = 0), or without one at
 * a level, is an error for its true label and no predicted class, as if the labels passed
 * to scikit-learn left out a "no prediction" placeholder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "eval/eval.h"

shelf_status shelf_eval_new(const char *label_sep, shelf_eval **out, shelf_error *err)
{
    if (!out)
        return err_set(err, SHELF_EINVAL, "shelf_eval_new: out is NULL");
    *out = NULL;
    const char *sep = label_sep ? label_sep : SHELF_DEFAULT_LABEL_SEP;
    size_t n = strlen(sep);
    shelf_eval *e = mem_calloc(1, sizeof *e + n + 1);
    if (!e)
        return err_set(err, SHELF_ENOMEM, "evaluation: out of memory");
    /* The separator lives right after the struct, so the caller's string may go away. */
    char *copy = (char *)(e + 1);
    memcpy(copy, sep, n + 1);
    labels_init(&e->labels, copy);
    pairs_init(&e->confusions);
    *out = e;
    return SHELF_OK;
}

void shelf_eval_free(shelf_eval *e)
{
    if (!e)
        return;
    labels_free(&e->labels);
    pairs_free(&e->confusions);
    mem_free(e);
}

/* Whether truth is among the first five of the k ranked paths. */
static int in_top5(const char *truth, const char *const *ranked, int k)
{
    for (int i = 0; i < k && i < 5; i++)
        if (ranked[i] && strcmp(ranked[i], truth) == 0)
            return 1;
    return 0;
}

/* Counts the row at every level of its true path t: at depth d the classes are the
 * d-part prefixes, and the prediction p counts only when it is at least d parts deep. */
static void count_levels(eval_label *L, long t, long p)
{
    while (p >= 0 && L[p].depth > L[t].depth)
        p = L[p].parent;
    for (; t >= 0; t = L[t].parent) {
        L[t].level.truth++;
        if (p >= 0 && L[p].depth == L[t].depth) {
            L[p].level.pred++;
            L[t].level.tp += p == t;
            p = L[p].parent;
        }
    }
}

/* How many leading parts paths a and b share (0 when either is -1): prefixes are interned
 * once, so two paths share d parts exactly when their depth-d ancestors are one id. */
static int shared_parts(const eval_label *L, long a, long b)
{
    if (a < 0 || b < 0)
        return 0;
    while (L[a].depth > L[b].depth)
        a = L[a].parent;
    while (L[b].depth > L[a].depth)
        b = L[b].parent;
    while (a != b) {
        a = L[a].parent;
        b = L[b].parent;
    }
    return a >= 0 ? L[a].depth : 0;
}

shelf_status shelf_eval_add(shelf_eval *e, const char *truth, const char *const *ranked,
                            int k)
{
    if (!e || !truth || k < 0 || (k > 0 && !ranked))
        return SHELF_EINVAL;
    const char *pred = k > 0 ? ranked[0] : NULL;
    /* Every allocation comes before the first count, so a failure counts nothing. */
    long t = labels_intern_path(&e->labels, truth);
    long p = pred ? labels_intern_path(&e->labels, pred) : -1;
    if (t < 0 || (pred && p < 0))
        return SHELF_ENOMEM;
    if (p >= 0 && p != t && pairs_add(&e->confusions, (uint32_t)t, (uint32_t)p))
        return SHELF_ENOMEM;

    eval_label *L = e->labels.items;
    L[t].full.truth++;
    if (p >= 0) {
        L[p].full.pred++;
        L[t].full.tp += p == t;
    } else {
        e->unpredicted++;
    }
    count_levels(L, t, p);
    e->hier.truth += L[t].depth;
    e->hier.pred += p >= 0 ? L[p].depth : 0;
    e->hier.tp += shared_parts(L, t, p);
    if (L[t].depth > e->levels)
        e->levels = L[t].depth;
    e->top5 += in_top5(truth, ranked, k);
    e->n++;
    return SHELF_OK;
}

shelf_status shelf_eval_add_backoff(shelf_eval *e, const char *truth, const char *given,
                                    float threshold)
{
    /* One threshold per evaluation: rows at different ones would make one meaningless sum. */
    if (!e || !truth || !(threshold >= 0 && threshold <= 1) ||
        (e->backoff.rows > 0 && threshold != e->backoff.threshold))
        return SHELF_EINVAL;
    int review = !given || !*given;
    long t = labels_intern_path(&e->labels, truth);
    long g = review ? -1 : labels_intern_path(&e->labels, given);
    if (t < 0 || (!review && g < 0))
        return SHELF_ENOMEM;
    eval_label *L = e->labels.items;
    if (g >= 0) {
        L[g].given++;
        e->backoff.given++;
        e->backoff.right += shared_parts(L, t, g) == L[g].depth;
    }
    e->backoff.threshold = threshold;
    e->backoff.rows++;
    return SHELF_OK;
}

static double ratio(long num, long den) { return den > 0 ? (double)num / (double)den : 0.0; }

void eval_scores_of(const eval_counts *c, eval_scores *out)
{
    out->precision = ratio(c->tp, c->pred);
    out->recall = ratio(c->tp, c->truth);
    /* 2PR/(P+R) with P = tp/pred and R = tp/truth, without the 0/0 cases. */
    out->f1 = ratio(2 * c->tp, c->pred + c->truth);
}

const eval_counts *eval_counts_at(const eval_label *l, int level)
{
    const eval_counts *c = level == 0 ? &l->full : l->depth == level ? &l->level : NULL;
    return c && (c->truth > 0 || c->pred > 0) ? c : NULL;
}

static void eval_average_of(const shelf_eval *e, int level, eval_average *out)
{
    memset(out, 0, sizeof *out);
    eval_counts sum = {0, 0, 0};
    eval_scores macro = {0, 0, 0}, weighted = {0, 0, 0};
    long classes = 0;
    for (size_t i = 0; i < e->labels.n; i++) {
        const eval_counts *c = eval_counts_at(&e->labels.items[i], level);
        if (!c)
            continue;
        eval_scores s;
        eval_scores_of(c, &s);
        macro.precision += s.precision;
        macro.recall += s.recall;
        macro.f1 += s.f1;
        weighted.precision += s.precision * (double)c->truth;
        weighted.recall += s.recall * (double)c->truth;
        weighted.f1 += s.f1 * (double)c->truth;
        sum.truth += c->truth;
        sum.pred += c->pred;
        sum.tp += c->tp;
        classes++;
    }
    double nc = classes ? (double)classes : 1.0, ns = sum.truth ? (double)sum.truth : 1.0;
    out->macro = (eval_scores){macro.precision / nc, macro.recall / nc, macro.f1 / nc};
    out->weighted = (eval_scores){weighted.precision / ns, weighted.recall / ns,
                                  weighted.f1 / ns};
    eval_scores_of(&sum, &out->micro);
    out->n = sum.truth;
    out->correct = sum.tp;
}

/* The double of the shortest decimal that reads back as f, so that a threshold of 0.9f is
 * reported as 0.9 and not 0.8999999761581421. */
static double as_written(float f)
{
    char s[32];
    for (int digits = 1; digits < 9; digits++) {
        snprintf(s, sizeof s, "%.*g", digits, (double)f);
        if (strtof(s, NULL) == f)
            return strtod(s, NULL);
    }
    return f;
}

/* The back-off figures. Back-off gives the top prediction or an ancestor of it; the eval
 * does not know the model's labels, so a given path counts as backed off when it is no
 * class of the whole-path view (no row's truth or top prediction). */
static void summarize_backoff(const shelf_eval *e, shelf_eval_summary *out)
{
    const eval_backoff *b = &e->backoff;
    out->has_backoff = b->rows > 0;
    out->backoff_threshold = b->rows > 0 ? as_written(b->threshold) : 0;
    out->backoff_coverage = ratio(b->given, b->rows);
    out->backoff_precision = ratio(b->right, b->given);
    out->backoff_review = b->rows - b->given;
    for (size_t i = 0; i < e->labels.n; i++) {
        const eval_label *l = &e->labels.items[i];
        if (l->given > 0 && !eval_counts_at(l, 0))
            out->backoff_partial += l->given;
    }
}

void shelf_eval_summarize(const shelf_eval *e, shelf_eval_summary *out)
{
    memset(out, 0, sizeof *out);
    if (!e)
        return;
    eval_average a;
    eval_average_of(e, 0, &a);
    out->n = e->n;
    out->accuracy = ratio(a.correct, e->n);
    out->top5_accuracy = ratio(e->top5, e->n);
    out->macro_precision = a.macro.precision;
    out->macro_recall = a.macro.recall;
    out->macro_f1 = a.macro.f1;
    out->micro_precision = a.micro.precision;
    out->micro_recall = a.micro.recall;
    out->micro_f1 = a.micro.f1;
    out->weighted_precision = a.weighted.precision;
    out->weighted_recall = a.weighted.recall;
    out->weighted_f1 = a.weighted.f1;
    out->levels = e->levels;
    /* tp/pred, tp/truth and 2PR/(P+R) are hP, hR and hF over path parts. */
    eval_scores h;
    eval_scores_of(&e->hier, &h);
    out->hier_precision = h.precision;
    out->hier_recall = h.recall;
    out->hier_f1 = h.f1;
    summarize_backoff(e, out);
}

void shelf_eval_level(const shelf_eval *e, int level, long *n, double *accuracy,
                      double *macro_f1)
{
    eval_average a;
    memset(&a, 0, sizeof a);
    /* Level 0 would be the whole-path view; outside 1..levels there are no rows. */
    if (e && level >= 1 && level <= e->levels)
        eval_average_of(e, level, &a);
    if (n)
        *n = a.n;
    if (accuracy)
        *accuracy = ratio(a.correct, a.n);
    if (macro_f1)
        *macro_f1 = a.macro.f1;
}
