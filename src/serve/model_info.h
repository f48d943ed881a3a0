/* The body of GET /v1/model: what the served model is (file, format version, generation),
 * what it reads (modalities, fields), how it was trained and its labels. */
#ifndef SHELF_SERVE_MODEL_INFO_H
#define SHELF_SERVE_MODEL_INFO_H

#include <stddef.h>

#include "shelf.h"

/* A JSON document the caller frees, its length in *len; NULL when out of memory. */
char *model_info_json(const shelf_model *m, const char *path, long generation,
                      double loaded_at, size_t *len);

/* The names of the text fields a request may give, in the order they are joined: the
 * model's text columns, or title, name and description. Returns how many (at most max);
 * the names point into names_buf (size bytes). */
int model_text_fields(const shelf_model *m, char *names_buf, size_t size, const char **names,
                      int max);

#endif
