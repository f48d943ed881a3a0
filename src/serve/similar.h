/* POST /v1/similar: the nearest products of the served index to each product of the
 * request (a classify request's products, embedded by the served model), or to a product
 * of the index named by an id alone ({"id": "p1", "k": 5}: a product with neither text nor
 * image). */
#ifndef SHELF_SERVE_SIMILAR_H
#define SHELF_SERVE_SIMILAR_H

#include "serve/model_holder.h"
#include "serve/request.h"

enum { SIMILAR_DEFAULT_K = 10 };

/* The answer's body (JSON, the caller frees it with free, as cJSON allocates) for q against sm's index:
 * {"id":"q","neighbours":[{"id":"p7","score":0.93,"label":"A > B"},...]}, or for
 * {"products": [...]} {"results": [...]}. 0, or -1 with e filled. */
int similar_answer(const served_model *sm, const classify_req *q, char **body, size_t *len,
                   req_error *e);

#endif
