/* Writing predictions: per product its id and the k best labels with probabilities, as
 * JSONL, CSV or TSV. Write errors are left in the FILE's error flag, for the caller to
 * check with ferror() once at the end. */
#ifndef SHELF_IO_WRITER_H
#define SHELF_IO_WRITER_H

#include <stdio.h>

typedef enum { PRED_JSONL, PRED_CSV, PRED_TSV } pred_format;

/* Parses "jsonl" (or "ndjson"), "csv" or "tsv". Returns 0, or -1 for an unknown name. */
int pred_format_parse(const char *name, pred_format *out);

/* CSV and TSV: the header "id,label1,prob1,...,labelk,probk". JSONL: nothing. */
void pred_write_header(FILE *f, pred_format fmt, int k);

/* One product: its id and n labels, best first, with their probabilities.
 * JSONL: {"id":"..","labels":["a","b"],"probs":[0.91,0.05]}, strings JSON-escaped (invalid
 * UTF-8 becomes U+FFFD so the line stays valid JSON). CSV: fields quoted as RFC 4180 says
 * when they need it. TSV: tabs and line breaks in fields become spaces. In CSV and TSV the
 * row always has the k label/probability pairs of the header: those past n are empty.
 * A NULL id or label is written as "". */
void pred_write_row(FILE *f, pred_format fmt, int k, const char *id, int n,
                    const char *const *labels, const float *probs);

/* More about a prediction. With --min-confidence (backoff): the path given after back-off,
 * its probability, and whether it is the full label, an ancestor, or nothing (the product
 * needs review). For models that read images: what the product was classified by. */
typedef enum { BACKOFF_FULL, BACKOFF_PARTIAL, BACKOFF_REVIEW } pred_backoff_status;
typedef struct pred_extra {
    int backoff;
    const char *path;
    float prob;
    pred_backoff_status status;
    const char *modalities; /* "text", "image" or "text+image"; NULL: not written */
} pred_extra;

/* As pred_write_header and pred_write_row, plus the extras, under the same names in every
 * format: JSONL adds "path" (null for a product sent to review), "confidence" and "status"
 * ("full", "partial" or "review"), and "modalities" (a list); CSV and TSV add the columns
 * path (empty for review), confidence and status, and modalities, after the labels. x may
 * be NULL (the plain row). The server answers with these JSON objects. */
void pred_write_header_extra(FILE *f, pred_format fmt, int k, int backoff, int modalities);
void pred_write_row_extra(FILE *f, pred_format fmt, int k, const char *id, int n,
                          const char *const *labels, const float *probs, const pred_extra *x);

#endif
