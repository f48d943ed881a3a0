/* Evaluation of a model on a labelled catalog, shared by shelf eval and shelf train. */
#ifndef SHELF_CLI_REPORT_H
#define SHELF_CLI_REPORT_H

#include <stdio.h>

#include "eval_outputs.h"
#include "shelf.h"

/* Predicts every product, prints the report (JSON or text) to out and notes on duplicates
 * with the training data to stderr. A product whose image is unusable is an error, or is
 * left out and counted with skip_bad. Returns 0, or -1 after printing an error. */
typedef struct report_options {
    int json, per_class, confusions, threads, skip_bad;
    float min_confidence; /* > 0: also the back-off coverage and precision at it */
    eval_outputs outputs; /* shelf eval's files and target precision */
} report_options;

int report_catalog(const shelf_model *m, const shelf_catalog *c, const char *path,
                   report_options *o, FILE *out);

#endif
