#include "serve/similar.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

/* Whether product p names a product of the index by its id alone. */
static int by_id(const shelf_product *p)
{
    return p->id && p->id[0] && !(p->text && p->text[0]) && !(p->image && p->image[0]) &&
           !p->image_data;
}

/* The query vectors of q's products into v[n][dim] and, for those named by id, their row
 * (-1 for the others) into skip. 0, or -1 with e filled. */
static int queries(const served_model *sm, const classify_req *q, float *v, long *skip,
                   req_error *e)
{
    const shelf_index *x = sm->index;
    size_t dim = shelf_index_dim(x), embedded = 0;
    for (size_t i = 0; i < q->n; i++) {
        const shelf_product *p = &q->products[i];
        skip[i] = -1;
        if (!by_id(p)) {
            embedded++;
            continue;
        }
        skip[i] = shelf_index_find(x, p->id);
        if (skip[i] < 0 || !shelf_index_vector(x, (size_t)skip[i]))
            return req_fail(e, 404, "%sid '%.200s' is not a product of the index (send its "
                            "title or image to compare a new product)", q->batch ? "a product's "
                            : "", p->id);
        memcpy(v + i * dim, shelf_index_vector(x, (size_t)skip[i]), dim * sizeof *v);
    }
    if (!embedded)
        return 0;
    /* the others: embedded together, on this request's thread, as explanations are */
    shelf_predictor *pr = NULL;
    shelf_error err = {0};
    float *ev = mem_alloc(q->n * dim * sizeof *ev);
    unsigned char *ok = mem_alloc(q->n);
    int rc = 0;
    if (!ev || !ok || shelf_predictor_new(sm->model, 1, q->n, &pr, &err) != SHELF_OK ||
        shelf_predictor_embed(pr, "-", q->products, q->n, ev, ok, NULL, &err) != SHELF_OK)
        rc = req_fail(e, 500, "%s", err.message[0] ? err.message : "out of memory");
    for (size_t i = 0; i < q->n && !rc; i++) {
        if (skip[i] >= 0)
            continue;
        if (!ok[i]) {
            const char *why = shelf_predictor_image_error(pr, i);
            char where[48] = "the product";
            if (q->batch)
                snprintf(where, sizeof where, "products[%zu]", i);
            rc = req_fail(e, 422, "%s: nothing the model can read to compare (%s)", where,
                          why ? why : "no word the model knows");
        }
        memcpy(v + i * dim, ev + i * dim, dim * sizeof *v);
    }
    shelf_predictor_free(pr);
    mem_free(ev);
    mem_free(ok);
    return rc;
}

/* One product's answer; NULL out of memory. */
static cJSON *neighbours_json(const shelf_index *x, const char *id, const long *rows,
                              const float *scores, int k)
{
    cJSON *o = cJSON_CreateObject();
    int bad = !o || !cJSON_AddStringToObject(o, "id", id ? id : "");
    cJSON *list = bad ? NULL : cJSON_AddArrayToObject(o, "neighbours");
    bad = bad || !list;
    for (int r = 0; r < k && rows[r] >= 0 && !bad; r++) {
        cJSON *n = cJSON_CreateObject();
        bad = !n || !cJSON_AddStringToObject(n, "id", shelf_index_id(x, (size_t)rows[r])) ||
              !cJSON_AddNumberToObject(n, "score", round((double)scores[r] * 1e6) / 1e6) ||
              !cJSON_AddStringToObject(n, "label", shelf_index_label(x, (size_t)rows[r]));
        if (n)
            cJSON_AddItemToArray(list, n);
    }
    if (bad) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

int similar_answer(const served_model *sm, const classify_req *q, char **body, size_t *len,
                   req_error *e)
{
    const shelf_index *x = sm->index;
    if (!x)
        return req_fail(e, 404, "no index is served: start the server with --index "
                        "CATALOG.idx (made by shelf index with this model)");
    if (q->explain || q->min_conf > 0)
        return req_fail(e, 400, "explain and min_confidence are for /v1/classify");
    int k = q->k_given ? q->k : SIMILAR_DEFAULT_K;
    size_t n = shelf_index_size(x), most = n ? n - 1 : 0; /* a product is not its own */
    if ((size_t)k > most)
        return req_fail(e, 400, "k must be from 1 to %zu (the index holds %zu products), "
                        "not %d", most, n, k);
    size_t dim = shelf_index_dim(x);
    float *v = mem_alloc(q->n * dim * sizeof *v), *scores = mem_alloc(q->n * (size_t)k * 4);
    long *skip = mem_alloc(q->n * sizeof *skip), *rows = mem_alloc(q->n * (size_t)k * 8);
    int rc = !v || !scores || !skip || !rows ? req_fail(e, 500, "out of memory") : 0;
    shelf_error err = {0};
    if (!rc)
        rc = queries(sm, q, v, skip, e);
    if (!rc && shelf_index_search(x, v, q->n, k, skip, 0, 1, rows, scores, &err) != SHELF_OK)
        rc = req_fail(e, 500, "%s", err.message);
    cJSON *doc = NULL;
    if (!rc && q->batch) {
        doc = cJSON_CreateObject();
        cJSON *results = cJSON_AddArrayToObject(doc, "results");
        for (size_t i = 0; i < q->n && results; i++) {
            cJSON *one = neighbours_json(x, q->products[i].id, rows + i * (size_t)k,
                                         scores + i * (size_t)k, k);
            if (!one || !cJSON_AddItemToArray(results, one))
                results = NULL;
        }
        if (!results) {
            cJSON_Delete(doc);
            doc = NULL;
        }
    } else if (!rc) {
        doc = neighbours_json(x, q->products[0].id, rows, scores, k);
    }
    if (!rc && !(*body = doc ? cJSON_PrintUnformatted(doc) : NULL))
        rc = req_fail(e, 500, "out of memory");
    if (!rc)
        *len = strlen(*body);
    cJSON_Delete(doc);
    mem_free(v);
    mem_free(scores);
    mem_free(skip);
    mem_free(rows);
    return rc;
}
