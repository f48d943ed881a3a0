/* POST /v1/classify as multipart/form-data: one product whose image comes as a file part
 * ("image"), beside its text fields, id, k and min_confidence as plain parts. libmicrohttpd
 * splits the parts; this collects them and turns them into a classify_req. */
#ifndef SHELF_SERVE_MULTIPART_H
#define SHELF_SERVE_MULTIPART_H

#include <microhttpd.h>

#include "serve/request.h"

typedef struct form form;

/* A form reading the connection's body; NULL with e filled when the body is not a
 * multipart form that libmicrohttpd can read (no boundary: 400) or out of memory (500). */
form *form_new(struct MHD_Connection *c, req_error *e);
/* A form fed part by part through form_take_part, with no connection nor body parser (a
 * fuzz harness drives it as libmicrohttpd's post processor would). NULL: out of memory. */
form *form_new_detached(void);
/* Takes size bytes of the part named key at offset off of its value, as libmicrohttpd's
 * post processor hands them over (key NULL for a part without name=, data NULL when size is
 * 0; a part's bytes come in order, off 0 starting a new part). 0, or -1 when the form is
 * refused: the error is kept and form_to_req reports it. */
int form_take_part(form *f, const char *key, const char *data, uint64_t off, size_t size);
/* Feeds body bytes. 0, or -1 when the body is not a well-formed form (e says why). */
int form_feed(form *f, const char *data, size_t n, req_error *e);
/* The product, k and min_confidence of the whole form into q. 0, or -1 with e set. */
int form_to_req(form *f, classify_req *q, const field_names *names, req_error *e);
void form_free(form *f);

#endif
