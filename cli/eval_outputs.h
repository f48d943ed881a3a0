/* What shelf eval writes for analysis beside its report: each product's prediction
 * (--predictions), the whole confusion matrix (--confusion-matrix), and the lowest
 * --min-confidence that keeps a precision (--target-precision), scanning down from 0.999 in
 * steps of 0.001 until the precision first falls short. */
#ifndef SHELF_CLI_EVAL_OUTPUTS_H
#define SHELF_CLI_EVAL_OUTPUTS_H

#include <stdio.h>

#include "shelf.h"

typedef struct eval_outputs {
    const char *predictions;  /* CSV path, or NULL */
    const char *confusion;    /* CSV path, or NULL */
    float target_precision;   /* 0: not asked */
    /* what eval_outputs_add collected */
    const shelf_model *m;
    const shelf_catalog *c; /* the products' kept columns (--keep) */
    size_t n, cap;
    const char **ids, **truths;
    size_t *rows;  /* each product's row in c */
    int *pred;     /* best label per product */
    float *prob;   /* its probability */
    int *ranked;   /* target precision: every label per product, best first */
    float *probs;
    int K;
    int oom;
} eval_outputs;

/* Whether any output is asked for; all labels per product are needed for the target. */
static inline int eval_outputs_wanted(const eval_outputs *o)
{
    return o->predictions || o->confusion || o->target_precision > 0;
}

/* Checks the files can be written before any work, and are neither the catalog nor the
 * model. 0, or -1 after printing why not. */
int eval_outputs_check(const eval_outputs *o, const char *data, const char *model);
/* --keep (keep: the option as given) must name columns, each once, none with the name of
 * one --predictions writes. 0, or -1 after printing why. */
int eval_outputs_kept_check(const shelf_catalog *c, const char *keep);
/* Product i of the catalog o->c (kept by the caller until eval_outputs_finish): its labels
 * and probabilities ranked (count of them). */
void eval_outputs_add(eval_outputs *o, size_t i, const int *labels, const float *probs,
                      int count);
/* Writes the files and, with a target precision, puts its threshold and coverage in summary
 * (a JSON member "target_precision" when json, else a line; "" when not asked). 0, or -1
 * after printing an error. */
int eval_outputs_finish(eval_outputs *o, int json, char *summary, size_t size);
void eval_outputs_free(eval_outputs *o);

#endif
