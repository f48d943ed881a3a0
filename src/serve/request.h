/* A classify request, from a JSON body or a multipart form, checked field by field into
 * products ready for prediction: their text joined the way the catalog readers join
 * columns, their image decoded from base64. Every problem is a message naming the field
 * ("products[3].image_base64: invalid base64 at character 17") and an HTTP status. */
#ifndef SHELF_SERVE_REQUEST_H
#define SHELF_SERVE_REQUEST_H

#include <stddef.h>

#include "shelf.h"

/* REQ_MAX_EXPLAINED: products of one "explain": true request; an explanation costs a model
 * pass per token or image cell, on the request's HTTP thread. */
enum { REQ_MAX_K = 256, REQ_MAX_TEXT_FIELDS = 16, REQ_WHY = 512, REQ_MAX_EXPLAINED = 16 };

typedef struct classify_req {
    int k;                 /* labels per product, 1 by default */
    int k_given;           /* whether the request said k */
    float min_conf;        /* 0: no back-off */
    int batch;             /* given as {"products": [...]}: answered as {"predictions": [...]} */
    int explain;           /* "explain": true: each answer carries its explanation */
    size_t n;
    shelf_product *products; /* n; strings and image bytes live in store */
    unsigned char *store;
} classify_req;

/* A problem with a request: the status to answer and why. */
typedef struct req_error {
    unsigned status;
    char why[REQ_WHY];
} req_error;

/* One product's fields as received, before checking (pointers into the request). */
typedef struct product_fields {
    const char *text[REQ_MAX_TEXT_FIELDS]; /* per text field of the model; NULL: absent */
    size_t text_len[REQ_MAX_TEXT_FIELDS];
    const char *id;        /* NULL: absent */
    size_t id_len;
    const char *image;     /* the image: base64 text, or raw bytes (multipart) */
    size_t image_len;
    int image_raw;         /* 1: image holds the bytes themselves */
} product_fields;

/* The text fields a model reads, in the order they are joined. */
typedef struct field_names {
    const char *name[REQ_MAX_TEXT_FIELDS];
    int n;
    int id_alone; /* a product may be an id alone (/v1/similar: a product of the index) */
    char buf[512];
} field_names;
void field_names_of(const shelf_model *m, field_names *f);

/* Parses a JSON body[0..len) into q for a model reading the given fields. Returns 0, or -1
 * with e filled. q needs classify_req_free either way. */
int req_parse_json(classify_req *q, const char *body, size_t len, const field_names *f,
                   int max_batch, req_error *e);

/* Fills q with the n products of pf (n >= 1), copying what they point to. 0 or -1. */
int req_build(classify_req *q, const product_fields *pf, size_t n, const field_names *f,
              req_error *e);

/* Checks the images before any is decoded: every image given must have a JPEG, PNG or
 * WebP header (400). A text model ignores them after that, never decoding them. For models
 * that read images, every product needs one, of at most max_image_pixels pixels, and all of
 * them together at most max_request_pixels (413), so that no request costs more decoding
 * than that; they decode them when predicting, once, and bad pixels are reported from there
 * (serve/batcher.h). 0 or -1. */
int req_check_images(const classify_req *q, const shelf_model *m, long max_image_pixels,
                     long max_request_pixels, req_error *e);

/* Parses k and min_confidence given as text (multipart fields). 0 or -1. */
int req_parse_k(classify_req *q, const char *s, size_t n, req_error *e);
int req_parse_min_conf(classify_req *q, const char *s, size_t n, req_error *e);

void classify_req_free(classify_req *q);

/* Sets e and returns -1. */
int req_fail(req_error *e, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
