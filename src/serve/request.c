#include "serve/request.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"
#include "image/decode.h"
#include "io/field.h"
#include "serve/base64.h"
#include "serve/model_info.h"
#include "io/json_type.h"
#include "text/utf8.h"

int req_fail(req_error *e, unsigned status, const char *fmt, ...)
{
    e->status = status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->why, sizeof e->why, fmt, ap);
    va_end(ap);
    return -1;
}

void field_names_of(const shelf_model *m, field_names *f)
{
    f->n = model_text_fields(m, f->buf, sizeof f->buf, f->name, REQ_MAX_TEXT_FIELDS);
    f->id_alone = 0;
}

void classify_req_free(classify_req *q)
{
    mem_free(q->products);
    mem_free(q->store);
    q->products = NULL;
    q->store = NULL;
}

/* ---- JSON --------------------------------------------------------------------------- */

/* Values in a JSON text, counted by the separators outside strings: a body of millions of
 * tiny values is refused before cJSON spends some 64 bytes on each. */
static size_t json_values(const char *s, size_t n)
{
    size_t count = 1;
    int in_string = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == ',' || c == ':' || c == '[' || c == '{') {
            count++;
        }
    }
    return count;
}

/* Where a message points: nothing for a single product; in a batch "products[3]." before
 * a field (s), "products[3]: " before a sentence (at). */
typedef struct where {
    char s[48], at[48];
} where;

static where where_of(int batch, size_t i)
{
    where w = {"", ""};
    if (batch) {
        snprintf(w.s, sizeof w.s, "products[%zu].", i);
        snprintf(w.at, sizeof w.at, "products[%zu]: ", i);
    }
    return w;
}

static int field_index(const field_names *f, const char *key)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->name[i], key) == 0)
            return i;
    return -1;
}

static int unknown_field(req_error *e, const where *w, const char *key, const field_names *f)
{
    char list[300] = "";
    size_t len = 0;
    for (int i = 0; i < f->n && len < sizeof list - 40; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s, ", f->name[i]);
    char shown[64];
    size_t klen = utf8_valid_prefix(key, strnlen(key, 40)); /* quoted safely */
    snprintf(shown, sizeof shown, "%.*s%s", (int)klen, key, key[klen] ? "..." : "");
    if (strcmp(key, "image") == 0)
        return req_fail(e, 400, "%simage: the server never reads a file path; send the image's "
                        "bytes as image_base64 (or as a multipart/form-data file)", w->s);
    return req_fail(e, 400, "%sunknown field '%s' (a product has id, %simage_base64; a request "
                    "also products, k, min_confidence, explain)", w->at, shown, list);
}

static int parse_k(classify_req *q, const cJSON *v, req_error *e)
{
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || d != floor(d) || d < 1 || d > REQ_MAX_K)
        return req_fail(e, 400, "k must be an integer from 1 to %d, not %s", REQ_MAX_K,
                        cJSON_IsNumber(v) ? "that" : json_type_name(v));
    q->k = (int)d;
    q->k_given = 1;
    return 0;
}

static int parse_min_conf(classify_req *q, const cJSON *v, req_error *e)
{
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !(d >= 0 && d <= 1))
        return req_fail(e, 400, "min_confidence must be a number from 0 to 1, not %s",
                        cJSON_IsNumber(v) ? "that" : json_type_name(v));
    q->min_conf = (float)d;
    return 0;
}

enum {
    SEEN_ID = REQ_MAX_TEXT_FIELDS,
    SEEN_IMAGE,
    SEEN_K,
    SEEN_MIN_CONF,
    SEEN_EXPLAIN,
    SEEN_PRODUCTS
};

static int parse_explain(classify_req *q, const cJSON *v, req_error *e)
{
    if (!cJSON_IsBool(v))
        return req_fail(e, 400, "explain must be true or false, not %s", json_type_name(v));
    q->explain = cJSON_IsTrue(v);
    return 0;
}

/* 1 when key was seen already in this object; marks it. */
static int seen_before(unsigned *seen, int bit)
{
    int was = (*seen >> bit) & 1;
    *seen |= 1u << bit;
    return was;
}

/* One product's fields from obj; top: obj is the request itself, whose k and
 * min_confidence the caller takes. */
static int parse_product(const cJSON *obj, const where *w, const field_names *f, int top,
                         product_fields *pf, req_error *e)
{
    memset(pf, 0, sizeof *pf);
    if (!cJSON_IsObject(obj))
        return req_fail(e, 400, "%.*s must be an object, not %s", (int)strlen(w->s) - 1, w->s,
                        json_type_name(obj));
    unsigned seen = 0;
    for (const cJSON *v = obj->child; v; v = v->next) {
        const char *key = v->string;
        int t = field_index(f, key);
        int bit = t >= 0                          ? t
                  : !strcmp(key, "id")            ? SEEN_ID
                  : !strcmp(key, "image_base64")  ? SEEN_IMAGE
                                                  : -1;
        if (top && (!strcmp(key, "k") || !strcmp(key, "min_confidence") ||
                    !strcmp(key, "explain")))
            continue;
        if (bit < 0)
            return unknown_field(e, w, key, f);
        if (seen_before(&seen, bit))
            return req_fail(e, 400, "%s%s is given twice", w->s, key);
        if (cJSON_IsNull(v))
            continue;
        if (bit == SEEN_ID && cJSON_IsNumber(v)) /* number_ids took the integers */
            return req_fail(e, 400, "%sid must be a string or an integer", w->s);
        if (!cJSON_IsString(v))
            return req_fail(e, 400, "%s%s must be a string, not %s", w->s, key, json_type_name(v));
        size_t len = strlen(v->valuestring);
        if (t >= 0) {
            pf->text[t] = v->valuestring;
            pf->text_len[t] = len;
        } else if (bit == SEEN_ID) {
            pf->id = v->valuestring;
            pf->id_len = len;
        } else {
            pf->image = v->valuestring;
            pf->image_len = len;
        }
    }
    return 0;
}

/* An integer id becomes its decimal text, a string node in its place. */
static int number_ids(cJSON *obj)
{
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, "id");
    if (!v || !cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > 9e15)
        return 0;
    char text[32];
    snprintf(text, sizeof text, "%.0f", v->valuedouble);
    cJSON *s = cJSON_CreateString(text);
    if (!s)
        return -1;
    /* the key moves over as it is: cJSON_ReplaceItemInObject copies it, and when that copy
     * fails it still puts the node in, without a key */
    s->string = v->string;
    s->type |= v->type & cJSON_StringIsConst;
    v->string = NULL;
    return cJSON_ReplaceItemViaPointer(obj, v, s) ? 0 : -1;
}

static int parse_products(classify_req *q, cJSON *list, const field_names *f, int max_batch,
                          req_error *e)
{
    if (!cJSON_IsArray(list))
        return req_fail(e, 400, "products must be an array, not %s", json_type_name(list));
    size_t n = (size_t)cJSON_GetArraySize(list);
    if (n == 0)
        return req_fail(e, 400, "products is empty");
    if (n > (size_t)max_batch)
        return req_fail(e, 413, "products has %zu products, more than the %d a request may have "
                        "(--max-batch)", n, max_batch);
    product_fields *pf = mem_alloc(n * sizeof *pf);
    if (!pf)
        return req_fail(e, 500, "out of memory");
    size_t i = 0;
    int rc = 0;
    for (cJSON *p = list->child; p && rc == 0; p = p->next, i++) {
        where w = where_of(1, i);
        if (cJSON_IsObject(p) && number_ids(p))
            rc = req_fail(e, 500, "out of memory");
        else
            rc = parse_product(p, &w, f, 0, &pf[i], e);
    }
    if (rc == 0)
        rc = req_build(q, pf, n, f, e);
    mem_free(pf);
    return rc;
}

static int parse_top(classify_req *q, cJSON *doc, const field_names *f, int max_batch,
                     req_error *e)
{
    cJSON *products = NULL;
    int single = 0;
    unsigned seen = 0;
    for (cJSON *v = doc->child; v; v = v->next) {
        const char *key = v->string;
        int bit = !strcmp(key, "products") ? SEEN_PRODUCTS : !strcmp(key, "k") ? SEEN_K
                  : !strcmp(key, "min_confidence") ? SEEN_MIN_CONF
                  : !strcmp(key, "explain")        ? SEEN_EXPLAIN
                                                   : -1;
        if (bit < 0) { /* a product's field, checked by parse_product, or a mistake */
            if (field_index(f, key) < 0 && strcmp(key, "id") && strcmp(key, "image_base64")) {
                where w = where_of(0, 0);
                return unknown_field(e, &w, key, f);
            }
            single = 1;
            continue;
        }
        if (seen_before(&seen, bit))
            return req_fail(e, 400, "%s is given twice", key);
        if ((bit == SEEN_K && parse_k(q, v, e)) ||
            (bit == SEEN_MIN_CONF && parse_min_conf(q, v, e)) ||
            (bit == SEEN_EXPLAIN && parse_explain(q, v, e)))
            return -1;
        if (bit == SEEN_PRODUCTS)
            products = v;
    }
    if (products && single)
        return req_fail(e, 400, "give either products or one product's fields, not both");
    if (products) {
        q->batch = 1;
        return parse_products(q, products, f, max_batch, e);
    }
    if (!single)
        return req_fail(e, 400, "no product: give its fields (id, text, image_base64) or "
                        "products, a list of them");
    where w = where_of(0, 0);
    product_fields pf;
    if (number_ids(doc))
        return req_fail(e, 500, "out of memory");
    if (parse_product(doc, &w, f, 1, &pf, e))
        return -1;
    return req_build(q, &pf, 1, f, e);
}

int req_parse_json(classify_req *q, const char *body, size_t len, const field_names *f,
                   int max_batch, req_error *e)
{
    *q = (classify_req){.k = 1};
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", body[start]) && body[start])
        start++;
    if (start == len)
        return req_fail(e, 400, "the body is empty: it must be a JSON object");
    size_t limit = (size_t)max_batch * 2 * (REQ_MAX_TEXT_FIELDS + 4) + 64;
    if (json_values(body, len) > limit)
        return req_fail(e, 413, "the body holds more JSON values than %d products can "
                        "(--max-batch)", max_batch);
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!doc) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        return req_fail(e, 400, "invalid JSON at byte %zu%s", at,
                        at >= len ? " (the body ends too soon)" : "");
    }
    size_t at = end ? (size_t)(end - body) : len;
    while (at < len && strchr(" \t\r\n", body[at]) && body[at])
        at++;
    int rc = 0;
    if (at < len)
        rc = req_fail(e, 400, "invalid JSON: unexpected data after the object, at byte %zu", at);
    else if (!cJSON_IsObject(doc))
        rc = req_fail(e, 400, "the body must be a JSON object, not %s", json_type_name(doc));
    else
        rc = parse_top(q, doc, f, max_batch, e);
    cJSON_Delete(doc); /* req_build copied what the products need */
    return rc;
}

/* ---- building products ------------------------------------------------------------ */

/* Sets text to the product's text fields joined as the catalog readers join a row's text
 * columns (io/field.h), so that a product gets the same prediction from the server as from
 * shelf predict. */
static int join_text(const product_fields *pf, const field_names *f, const where *w, buf *text,
                     req_error *e)
{
    span fields[REQ_MAX_TEXT_FIELDS];
    for (int t = 0; t < f->n; t++)
        fields[t] = (span){pf->text[t], pf->text_len[t]};
    size_t bad = 0;
    int col = field_join_text(text, fields, f->n, NULL, NULL, &bad);
    if (col)
        return req_fail(e, 400, "%s%s: invalid UTF-8 at byte %zu", w->s, f->name[col - 1], bad);
    if (text->oom)
        return req_fail(e, 500, "out of memory");
    return 0;
}

static int build_image(shelf_product *p, const product_fields *pf, const where *w,
                       unsigned char *out, size_t *len, req_error *e)
{
    size_t bad = 0;
    long got = pf->image_raw ? (long)pf->image_len : base64_decode(pf->image, pf->image_len,
                                                                      out, &bad);
    if (got < 0 && bad >= pf->image_len)
        return req_fail(e, 400, "%simage_base64: invalid base64: it stops inside a group of four "
                        "characters", w->s);
    if (got < 0)
        return req_fail(e, 400, "%simage_base64: invalid base64 at character %zu", w->s, bad);
    if (pf->image_raw)
        memcpy(out, pf->image, pf->image_len);
    p->image_data = out;
    p->image_size = (size_t)got;
    *len = (size_t)got;
    return 0;
}

/* The store bytes product pf needs. */
static size_t product_bytes(const product_fields *pf, int nfields)
{
    size_t n = pf->id_len + 1 + 64 + (size_t)nfields + 1;
    for (int t = 0; t < nfields; t++)
        n += pf->text_len[t];
    if (pf->image)
        n += pf->image_raw ? pf->image_len : base64_max_decoded(pf->image_len);
    return n;
}

/* Product i of q from x, its strings and image bytes copied to *at (advanced past them);
 * text is scratch. 0 or -1. */
static int build_product(classify_req *q, size_t i, const product_fields *x,
                         const field_names *f, char **at, buf *text, req_error *e)
{
    shelf_product *p = &q->products[i];
    where w = where_of(q->batch, i);
    int any_text = 0;
    for (int t = 0; t < f->n; t++)
        any_text |= x->text[t] != NULL;
    if (!any_text && !x->image && !(f->id_alone && x->id))
        return req_fail(e, 400, "%snothing to classify: no text field (%s...) and no image",
                        w.at, f->n ? f->name[0] : "");
    if (x->id && utf8_valid_prefix(x->id, x->id_len) < x->id_len)
        return req_fail(e, 400, "%sid: invalid UTF-8", w.s);
    if (join_text(x, f, &w, text, e))
        return -1;
    char *s = *at;
    p->id = s;
    memcpy(s, x->id ? x->id : "", x->id_len);
    s[x->id_len] = '\0';
    s += x->id_len + 1;
    p->text = s;
    memcpy(s, text->data, text->len + 1);
    s += text->len + 1;
    p->label = "";
    p->image = s; /* the image's name in messages; "" when there is none */
    s += snprintf(s, 64, "%s%s", x->image ? w.s : "",
                  x->image ? (x->image_raw ? "image" : "image_base64") : "") + 1;
    size_t len = 0;
    if (x->image && build_image(p, x, &w, (unsigned char *)s, &len, e))
        return -1;
    *at = s + len;
    return 0;
}

int req_build(classify_req *q, const product_fields *pf, size_t n, const field_names *f,
              req_error *e)
{
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += product_bytes(&pf[i], f->n);
    q->store = mem_alloc(need);
    q->products = mem_calloc(n, sizeof *q->products);
    if (!q->store || !q->products)
        return req_fail(e, 500, "out of memory for %zu products", n);
    q->n = n;
    char *at = (char *)q->store;
    buf text;
    buf_init(&text);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = build_product(q, i, &pf[i], f, &at, &text, e);
    buf_free(&text);
    return rc;
}

/* ---- what the model says ----------------------------------------------------------- */

int req_check_images(const classify_req *q, const shelf_model *m, long max_image_pixels,
                     long max_request_pixels, req_error *e)
{
    shelf_modality modality = shelf_model_modality(m);
    long total = 0;
    for (size_t i = 0; i < q->n; i++) {
        const shelf_product *p = &q->products[i];
        if (!p->image_data) {
            if (modality != SHELF_MODALITY_IMAGE)
                continue;
            where w = where_of(q->batch, i);
            return req_fail(e, 400, "%simage_base64: the model classifies images and this "
                            "product has none", w.s);
        }
        /* the header alone: a text model ignores the image (a bad header is still the
         * caller's mistake); the others decode it in the image queue, which says if its
         * pixels are bad, once this has said the decoding costs no more than allowed */
        shelf_error err = {0};
        long w, h;
        shelf_status st = image_probe_size(p->image_data, p->image_size, &w, &h, &err);
        if (st == SHELF_ENOMEM)
            return req_fail(e, 500, "out of memory reading %s", p->image);
        if (st != SHELF_OK)
            return req_fail(e, 400, "%s: %s", p->image, err.message);
        if (modality == SHELF_MODALITY_TEXT)
            continue;
        if (w > max_image_pixels / h)
            return req_fail(e, 413, "%s: image of %ldx%ld pixels is over the limit of %ld "
                            "pixels (--max-image-pixels)", p->image, w, h, max_image_pixels);
        if (w * h > max_request_pixels - total)
            return req_fail(e, 413, "%s: the request's images come to more than %ld pixels "
                            "(--max-request-pixels); send fewer in one request", p->image,
                            max_request_pixels);
        total += w * h;
    }
    return 0;
}

/* ---- multipart form values -------------------------------------------------------- */

/* s[0..n) as a NUL-terminated copy in out (size bytes); 0, or -1 when it does not fit. */
static int terminated(const char *s, size_t n, char *out, size_t size)
{
    if (n >= size)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

int req_parse_k(classify_req *q, const char *s, size_t n, req_error *e)
{
    char text[16], *end = text;
    long v = terminated(s, n, text, sizeof text) ? 0 : strtol(text, &end, 10);
    if (v < 1 || v > REQ_MAX_K || *end)
        return req_fail(e, 400, "k must be an integer from 1 to %d", REQ_MAX_K);
    q->k = (int)v;
    return 0;
}

int req_parse_min_conf(classify_req *q, const char *s, size_t n, req_error *e)
{
    char text[32], *end = NULL;
    double v = terminated(s, n, text, sizeof text) ? -1 : strtod(text, &end);
    if (!(v >= 0 && v <= 1) || !end || *end || end == text)
        return req_fail(e, 400, "min_confidence must be a number from 0 to 1");
    q->min_conf = (float)v;
    return 0;
}
