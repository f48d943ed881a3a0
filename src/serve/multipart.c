#include "serve/multipart.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mem.h"

enum { FORM_MAX_FIELDS = 24 };

typedef struct form_field {
    char *name;
    buf value;
} form_field;

struct form {
    struct MHD_PostProcessor *pp;
    form_field field[FORM_MAX_FIELDS];
    int n;
    req_error error; /* set by the iterator when it stops the parse */
    int failed;
};

int form_take_part(form *f, const char *key, const char *data, uint64_t off, size_t size)
{
    if (f->failed)
        return -1;
    if (!key) { /* libmicrohttpd hands over a part without name= with a NULL key */
        req_fail(&f->error, 400, "a form part has no name (Content-Disposition: form-data; "
                 "name=\"...\")");
        goto fail;
    }
    form_field *x = f->n > 0 ? &f->field[f->n - 1] : NULL;
    if (off == 0 || !x || strcmp(x->name, key) != 0) { /* a new part */
        for (int i = 0; i < f->n; i++)
            if (strcmp(f->field[i].name, key) == 0) {
                req_fail(&f->error, 400, "the form gives %.64s twice", key);
                goto fail;
            }
        if (f->n == FORM_MAX_FIELDS) {
            req_fail(&f->error, 400, "the form has more than %d fields", FORM_MAX_FIELDS);
            goto fail;
        }
        x = &f->field[f->n++];
        if (!(x->name = mem_strdup(key))) {
            f->n--;
            goto oom;
        }
    }
    if (size && data) /* an empty part may come without data */
        buf_append(&x->value, data, size);
    if (!x->value.oom)
        return 0;
oom:
    req_fail(&f->error, 500, "out of memory reading the form");
fail:
    f->failed = 1;
    return -1;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *filename, const char *content_type,
                               const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size)
{
    (void)kind, (void)filename, (void)content_type, (void)transfer_encoding;
    return form_take_part(cls, key, data, off, size) ? MHD_NO : MHD_YES;
}

form *form_new_detached(void)
{
    return mem_calloc(1, sizeof(form));
}

form *form_new(struct MHD_Connection *c, req_error *e)
{
    form *f = form_new_detached();
    if (!f) {
        req_fail(e, 500, "out of memory reading the form");
        return NULL;
    }
    f->pp = MHD_create_post_processor(c, 16 * 1024, on_part, f);
    if (!f->pp) {
        mem_free(f);
        req_fail(e, 400, "multipart/form-data needs a boundary parameter");
        return NULL;
    }
    return f;
}

/* Why the form failed: the part handler's reason, or a malformed body. */
static int form_error(form *f, req_error *e)
{
    f->failed = 1;
    if (f->error.status)
        *e = f->error;
    else
        req_fail(e, 400, "the multipart/form-data body is malformed");
    return -1;
}

int form_feed(form *f, const char *data, size_t n, req_error *e)
{
    if (!f->failed && MHD_post_process(f->pp, data, n) == MHD_YES && !f->failed)
        return 0;
    return form_error(f, e);
}

void form_free(form *f)
{
    if (!f)
        return;
    if (f->pp)
        MHD_destroy_post_processor(f->pp);
    for (int i = 0; i < f->n; i++) {
        mem_free(f->field[i].name);
        buf_free(&f->field[i].value);
    }
    mem_free(f);
}

/* The product's fields from the form's parts, k and min_confidence into q. */
static int take_fields(form *f, classify_req *q, const field_names *names, product_fields *pf,
                       req_error *e)
{
    memset(pf, 0, sizeof *pf);
    for (int i = 0; i < f->n; i++) {
        const form_field *x = &f->field[i];
        const char *v = x->value.data ? x->value.data : "";
        size_t len = x->value.len;
        int t = -1;
        for (int j = 0; j < names->n && t < 0; j++)
            if (strcmp(names->name[j], x->name) == 0)
                t = j;
        if (t >= 0) {
            pf->text[t] = v;
            pf->text_len[t] = len;
        } else if (!strcmp(x->name, "id")) {
            pf->id = v;
            pf->id_len = len;
        } else if (!strcmp(x->name, "image") || !strcmp(x->name, "image_base64")) {
            if (pf->image)
                return req_fail(e, 400, "the form gives both image and image_base64");
            pf->image = v;
            pf->image_len = len;
            pf->image_raw = !strcmp(x->name, "image");
        } else if (!strcmp(x->name, "k")) {
            if (req_parse_k(q, v, len, e))
                return -1;
        } else if (!strcmp(x->name, "min_confidence")) {
            if (req_parse_min_conf(q, v, len, e))
                return -1;
        } else if (!strcmp(x->name, "explain")) {
            if (len == 4 && !memcmp(v, "true", 4))
                q->explain = 1;
            else if (!(len == 5 && !memcmp(v, "false", 5)))
                return req_fail(e, 400, "explain must be true or false");
        } else {
            return req_fail(e, 400, "unknown form field '%.64s' (fields: id, the text fields, "
                            "image (a file) or image_base64, k, min_confidence, explain)",
                            x->name);
        }
    }
    return 0;
}

int form_to_req(form *f, classify_req *q, const field_names *names, req_error *e)
{
    *q = (classify_req){.k = 1};
    struct MHD_PostProcessor *pp = f->pp;
    f->pp = NULL;
    if (f->failed)
        return form_error(f, e);
    if (pp && MHD_destroy_post_processor(pp) != MHD_YES) /* a detached form has no parser */
        return req_fail(e, 400, "the multipart/form-data body ends before its closing "
                        "boundary");
    product_fields pf;
    if (take_fields(f, q, names, &pf, e))
        return -1;
    return req_build(q, &pf, 1, names, e);
}
