/* Which columns of a CSV/TSV header (or of the keys of the first JSONL object) hold a
 * product's text, label, id and image, as chosen by shelf_read_options. */
#ifndef SHELF_IO_COLUMNS_H
#define SHELF_IO_COLUMNS_H

#include "shelf.h"

typedef struct columns {
    int ntext;
    int *text;        /* indexes of the text columns, in the order they are joined */
    char **text_name; /* their names */
    int label, id, image; /* indexes; -1: not in the header */
    char *label_name;     /* the label column's name, even when it is absent */
    char *id_name;        /* NULL when there is no id column */
    char *image_name;     /* NULL when there is no image column */
    int nkeep;            /* keep_columns: indexes and names, in their order */
    int *keep;
    char **keep_name;
} columns;

/* Resolves opts against the n column names. Messages start with where ("train.csv:1") and
 * name the missing column and the columns that exist. On failure c needs no freeing. */
shelf_status columns_resolve(columns *c, const char *const *names, int n,
                             const shelf_read_options *opts, const char *where,
                             shelf_error *err);
void columns_free(columns *c);

/* For JSONL, whose objects may each leave out keys: when opts chose no text, id or image
 * column, takes all of title, name, description as text columns, "id" as the id column and
 * "image" as the image column, so that each object uses whichever of them it has. Returns
 * -1 when out of memory. */
int columns_take_all_defaults(columns *c, const shelf_read_options *opts);

#endif
