/* A similarity index (shelf.h's shelf_index): the embeddings of a catalog's products
 * (model/embed.h), their ids and labels, and the fingerprint of the model that made them,
 * searched exactly by matrix products (search.c) or approximately by an HNSW graph
 * (hnsw.h), kept in one checksummed file (index_file.c). */
#ifndef SHELF_INDEX_INDEX_H
#define SHELF_INDEX_INDEX_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strmap.h"
#include "shelf.h"

/* Limits the file and the builder share, so that a damaged file cannot ask for absurd
 * allocations and every index built can be loaded. */
enum { INDEX_MAX_DIM = 1 << 16, INDEX_MAX_K = 1000 };
#define INDEX_MAX_ROWS ((unsigned long long)INT_MAX) /* BLAS counts in int */

struct shelf_index {
    uint64_t fingerprint; /* the model's (shelf_model_fingerprint) */
    size_t n, dim, cap;
    float *vecs;          /* [n][dim], unit vectors */
    strmap ids;           /* each distinct id, in first-seen order */
    uint32_t *id_of;      /* per row: its id in ids */
    uint32_t *row_of_id;  /* per id: the first row that has it */
    size_t row_of_id_cap;
    strmap labels;
    uint32_t *label_of;   /* per row: its label in labels */
    int labels_predicted; /* the labels are the model's best guesses, not the catalog's */
    struct hnsw *ann;     /* NULL: exact search only */
    int ann_m, ann_ef;    /* the graph's links per node, and the search breadth */
};

/* Row r's id and label (interned; r < cap). 0, or -1 out of memory. */
int index_name_row(shelf_index *x, size_t r, const char *id, const char *label);

#endif
