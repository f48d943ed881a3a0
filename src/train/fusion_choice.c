#include "train/fusion_choice.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "eval/score.h"

/* The heads fitted per fold. */
static const fusion_kind fitted[] = {FUSION_BRANCH, FUSION_GATE};
enum { NFITTED = sizeof fitted / sizeof fitted[0] };

typedef struct choice_job {
    const fusion_head *shape; /* the labels' branches */
    const float *text, *image;
    const int *y;
    const int *fold; /* per product: its fold, -1 when left out */
    size_t n;
    const fusion_fit_options *o;
    int *pred;       /* [NFITTED][n]: the label out of fold */
    _Atomic int failed;
} choice_job;

static int argmax(const float *z, int K)
{
    int best = 0;
    for (int c = 1; c < K; c++)
        best = z[c] > z[best] ? c : best;
    return best;
}

static int fit_kind(fusion_head *h, fusion_kind k, const float *text, const float *image,
                    const int *y, size_t n, const fusion_fit_options *o)
{
    return (k == FUSION_GATE ? fusion_gate_fit(h, text, image, y, n, o)
                             : fusion_head_fit(h, text, image, y, n, o)) < 0
               ? -1
               : 0;
}

/* One (kind, fold): fitted on the other folds, predicting this one. */
static int run_task(choice_job *j, int task)
{
    const int K = j->shape->nlabels, kind = task % NFITTED, f = task / NFITTED;
    int *y = mem_alloc((j->n + 1) * sizeof *y);
    float *z = mem_alloc((size_t)K * sizeof *z);
    fusion_head h;
    int rc = -1;
    if (!y || !z || fusion_head_init(&h, K, j->shape->ngroups, j->shape->group)) {
        mem_free(y);
        mem_free(z);
        return -1;
    }
    for (size_t i = 0; i < j->n; i++)
        y[i] = j->fold[i] == f ? -1 : j->y[i];
    if (fit_kind(&h, fitted[kind], j->text, j->image, y, j->n, j->o) == 0) {
        for (size_t i = 0; i < j->n; i++) {
            if (j->fold[i] != f)
                continue;
            fusion_head_apply(&h, j->text + i * K, j->image + i * K, z, NULL);
            j->pred[kind * j->n + i] = argmax(z, K);
        }
        rc = 0;
    }
    fusion_head_free(&h);
    mem_free(y);
    mem_free(z);
    return rc;
}

static void run_tasks(void *arg, int tid, int nthreads)
{
    choice_job *j = arg;
    for (int task = tid; task < NFITTED * FUSION_FOLDS; task += nthreads)
        if (run_task(j, task))
            j->failed = 1;
}

/* Accuracy and macro-F1 of pred against y (eval/score.h). */
static fusion_score score(const int *pred, const int *y, size_t n, int K, long *counts)
{
    double accuracy, macro_f1;
    score_predictions(pred, y, n, K, counts, &accuracy, &macro_f1);
    return (fusion_score){(float)accuracy, (float)macro_f1};
}

int fusion_head_choose(fusion_head *h, const float *text, const float *image, const int *y,
                       size_t n, const fusion_fit_options *o, thread_pool *pool)
{
    const int K = h->nlabels;
    size_t used = 0;
    for (size_t i = 0; i < n; i++)
        used += y[i] >= 0;
    if (used < 2 * FUSION_FOLDS) /* too few to measure anything out of fold */
        return fit_kind(h, FUSION_BRANCH, text, image, y, n, o);
    int *fold = mem_alloc((n + 1) * sizeof *fold);
    int *pred = mem_alloc((NFITTED + 2) * (n + 1) * sizeof *pred);
    long *counts = mem_alloc(3 * (size_t)K * sizeof *counts);
    int rc = -1;
    if (!fold || !pred || !counts)
        goto done;
    size_t next = 0;
    for (size_t i = 0; i < n; i++)
        fold[i] = y[i] >= 0 ? (int)(next++ % FUSION_FOLDS) : -1;
    choice_job j = {h, text, image, y, fold, n, o, pred, 0};
    pool_run(pool, run_tasks, &j);
    if (j.failed)
        goto done;
    int *side[2] = {pred + NFITTED * n, pred + (NFITTED + 1) * n};
    for (size_t i = 0; i < n; i++) {
        side[0][i] = argmax(text + i * K, K);
        side[1][i] = argmax(image + i * K, K);
    }
    for (int k = 0; k < NFITTED; k++)
        h->tried[fitted[k]] = score(pred + k * n, y, n, K, counts);
    h->tried[FUSION_TEXT] = score(side[0], y, n, K, counts);
    h->tried[FUSION_IMAGE] = score(side[1], y, n, K, counts);
    /* the better side; a head must match it in both figures to be kept */
    fusion_kind best = h->tried[FUSION_TEXT].accuracy >= h->tried[FUSION_IMAGE].accuracy
                           ? FUSION_TEXT
                           : FUSION_IMAGE;
    fusion_score floor = h->tried[best];
    for (int k = 0; k < NFITTED; k++) {
        fusion_score s = h->tried[fitted[k]];
        if (s.accuracy >= floor.accuracy && s.macro_f1 >= floor.macro_f1 &&
            (best == FUSION_TEXT || best == FUSION_IMAGE || s.accuracy > h->tried[best].accuracy))
            best = fitted[k];
    }
    h->folds = FUSION_FOLDS;
    h->rows = (int)used;
    if (best == FUSION_TEXT || best == FUSION_IMAGE) {
        h->kind = best;
        rc = 0;
    } else {
        rc = fit_kind(h, best, text, image, y, n, o);
    }
done:
    mem_free(fold);
    mem_free(pred);
    mem_free(counts);
    return rc;
}
