/* Internals of the evaluation module, shared by its files:
 *
 *   labels.c   interns label paths and links each to its parent path (one level up)
 *   pairs.c    sparse counts of (true, predicted) confusions
 *   metrics.c  shelf_eval_new/add/free and the averages behind every summary
 *   report.c   JSON and text reports
 *
 * Every metric is derived from counts kept per label, so a summary never allocates: per
 * label, how often it was the truth, the top prediction, and both ("full" counts over whole
 * paths), and the same at the label's own depth ("level" counts, over the rows whose true
 * path is at least that deep). Off-diagonal (true, predicted) pairs are kept apart, only
 * for the list of confusions. Hierarchical scores and back-off are sums over rows, kept in
 * the eval itself. */
#ifndef SHELF_EVAL_EVAL_H
#define SHELF_EVAL_EVAL_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "shelf.h"

/* One class's tallies: support (truth), predicted, and true positives. */
typedef struct eval_counts {
    long truth, pred, tp;
} eval_counts;

typedef struct eval_label {
    const char *name; /* NUL-terminated, in the table's arena */
    size_t len;
    uint64_t hash;
    long parent;      /* id of the path of the first depth-1 parts, -1 at depth 1 */
    int depth;        /* number of parts */
    eval_counts full; /* as a whole path */
    eval_counts level; /* as the level-`depth` prefix of rows at least that deep */
    long given;        /* as the path given under back-off */
} eval_label;

/* Label paths interned to dense ids 0, 1, 2... Pointers into items move when it grows. */
typedef struct eval_labels {
    arena strings;
    eval_label *items;
    uint32_t *slots; /* hash slot -> id + 1, 0 empty */
    size_t n, cap, nslots;
    const char *sep; /* splits paths into parts; "" never splits */
    size_t seplen;
} eval_labels;

void labels_init(eval_labels *t, const char *sep);
/* The id of path s, adding it and every shorter prefix path (its ancestors) when new.
 * -1 when out of memory; the table stays consistent. */
long labels_intern_path(eval_labels *t, const char *s);
void labels_free(eval_labels *t);

/* Counts keyed by (true id, predicted id). Open addressing; a key is stored plus one so
 * that 0 marks an empty slot. */
typedef struct eval_pair {
    uint64_t key;
    long count;
} eval_pair;

typedef struct eval_pairs {
    eval_pair *slots;
    size_t n, nslots;
} eval_pairs;

void pairs_init(eval_pairs *m);
/* Adds one to the count of (truth, pred). 0, or -1 when out of memory (nothing counted). */
int pairs_add(eval_pairs *m, uint32_t truth, uint32_t pred);
static inline uint32_t pair_truth(const eval_pair *p) { return (uint32_t)((p->key - 1) >> 32); }
static inline uint32_t pair_pred(const eval_pair *p) { return (uint32_t)(p->key - 1); }
void pairs_free(eval_pairs *m);

/* The rows of shelf_eval_add_backoff. */
typedef struct eval_backoff {
    long rows, given, right; /* right: given paths that are a prefix of the true path */
    float threshold;
} eval_backoff;

struct shelf_eval {
    eval_labels labels;
    eval_pairs confusions; /* off-diagonal pairs of whole paths */
    long n;                /* rows added */
    long top5;             /* rows whose truth is among the first five predictions */
    long unpredicted;      /* rows with no prediction at all (k = 0) */
    int levels;            /* most parts of any true path */
    eval_counts hier;      /* in path parts: truth sum |T|, pred sum |P|, tp sum |P&T| */
    eval_backoff backoff;
};

typedef struct eval_scores {
    double precision, recall, f1;
} eval_scores;

/* Precision, recall and F1 of one class; 0/0 counts as 0, as scikit-learn's
 * zero_division=0. */
void eval_scores_of(const eval_counts *c, eval_scores *out);

/* The counts of label l in the view at `level`: its whole-path counts when level is 0,
 * its level counts when level is its depth, else NULL (it is no class of that view). A
 * label that was neither true nor predicted in the view is no class either. */
const eval_counts *eval_counts_at(const eval_label *l, int level);

/* Everything averaged over the classes of one view (level 0: whole paths). */
typedef struct eval_average {
    long n, correct;
    eval_scores macro, micro, weighted;
} eval_average;

#endif
