/* shelf report's page: one self-contained HTML file (inline CSS, SVG, thumbnails as data
 * URLs and a few lines of script to sort a table; nothing from the network). */
#ifndef SHELF_CLI_REPORT_HTML_H
#define SHELF_CLI_REPORT_HTML_H

#include <stdio.h>

#include "shelf.h"

/* What the page is drawn from: every product's truth and ranked labels (kq per product),
 * the metrics, and a few products explained. */
typedef struct report_page {
    const shelf_model *m;
    const shelf_catalog *c;
    const char *model_path, *data_path;
    size_t n;          /* products predicted (rows of the arrays below) */
    size_t *row;       /* each one's index in the catalog */
    int *truth;        /* its label's id, -1 for a label the model never saw */
    int kq;            /* labels kept per product, best first */
    int *ranked;
    float *probs;
    char *metrics;     /* shelf_eval_json with every class and 20 confusions */
    /* the most confident mistakes: their rows (into the arrays above), explanations (JSON,
       NULL when none could be made) and thumbnails (PNG data, NULL without one) */
    size_t nmistakes;
    size_t *mistake;
    char **why;
    unsigned char **thumb;
    size_t *thumb_size;
    shelf_hygiene hygiene;
    int have_hygiene;
    long skipped;      /* products left out for a bad image */
} report_page;

/* Writes the page to f. 0, or -1 when out of memory (f may hold part of it). */
int report_html(FILE *f, const report_page *p);

#endif
