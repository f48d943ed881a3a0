/* libFuzzer target: a multipart/form-data classify request as libmicrohttpd's post
 * processor hands its parts over (form_take_part on a detached form), then form_to_req for
 * a model reading title and description.
 *
 * The input is a sequence of parts, each a control byte c and then:
 *   c & 3 == 0: a new part: a key length byte (up to 31), the key;
 *   c & 3 == 1: the next piece of the last part (its offset advances);
 *   c & 3 == 2: a part without name= (key NULL);
 *   c & 3 == 3: the last part's key again at offset 0 (a repeated name);
 * then a length byte (times 64 when c & 4) and that many data bytes (fewer at the end), in
 * a buffer of exactly that size; an empty piece comes as NULL when c & 8. */
#include <stdlib.h>
#include <string.h>

#include "serve/multipart.h"

typedef struct cursor {
    const uint8_t *p;
    size_t left;
} cursor;

static size_t take(cursor *c, size_t want, const uint8_t **out)
{
    size_t n = want < c->left ? want : c->left;
    *out = c->p;
    c->p += n;
    c->left -= n;
    return n;
}

static int byte(cursor *c)
{
    const uint8_t *b;
    return take(c, 1, &b) ? b[0] : -1;
}

/* Feeds every part; stops at the first one the form refuses, as the server does. */
static void feed(form *f, cursor *in)
{
    char key[32] = "";
    int have_key = 0;
    uint64_t off = 0, last = 0;
    int c;
    while ((c = byte(in)) >= 0) {
        int kind = c & 3;
        if (kind == 0) {
            const uint8_t *k;
            size_t kn = take(in, (size_t)(byte(in) & 31), &k);
            memcpy(key, k, kn);
            key[kn] = '\0';
            have_key = 1;
            off = 0;
        } else if (kind == 1) {
            off += last;
        } else if (kind == 3) {
            off = 0;
        }
        const uint8_t *d;
        int len = byte(in);
        size_t n = take(in, (size_t)(len < 0 ? 0 : len) * ((c & 4) ? 64 : 1), &d);
        char *data = malloc(n ? n : 1);
        if (!data)
            return;
        memcpy(data, d, n);
        const char *k = kind == 2 || !have_key ? NULL : key;
        int rc = form_take_part(f, k, n == 0 && (c & 8) ? NULL : data, off, n);
        free(data);
        last = n;
        if (rc)
            return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    form *f = form_new_detached();
    if (!f)
        return 0;
    cursor in = {data, size};
    feed(f, &in);
    field_names names = {.name = {"title", "description"}, .n = 2};
    classify_req q = {0};
    req_error e = {0};
    if (form_to_req(f, &q, &names, &e) == 0) {
        size_t sum = 0;
        for (size_t i = 0; i < q.n; i++) {
            const shelf_product *p = &q.products[i];
            sum += strlen(p->id) + strlen(p->text) + strlen(p->image);
            for (size_t j = 0; j < p->image_size; j++)
                sum += p->image_data[j];
        }
        (void)sum;
    }
    classify_req_free(&q);
    form_free(f);
    return 0;
}
