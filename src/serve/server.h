/* The server's insides, shared by its files: server.c (libmicrohttpd, the request's life,
 * limits, authentication, start and stop), endpoints.c (what each endpoint answers) and
 * http.c (writing answers). */
#ifndef SHELF_SERVE_SERVER_H
#define SHELF_SERVE_SERVER_H

#include <microhttpd.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "serve/batcher.h"
#include "serve/classify.h"
#include "serve/metrics.h"
#include "serve/model_holder.h"
#include "serve/multipart.h"
#include "serve/request.h"
#include "serve/watchdog.h"
#include "shelf.h"

struct shelf_server {
    shelf_server_options o;     /* with defaults filled in */
    char *token;                /* NULL: no authentication */
    model_holder holder;
    metrics met;
    batcher *images;            /* image and fused models */
    struct MHD_Daemon *daemon;
    watchdog *watch;            /* request deadlines, room for new clients */
    int listen_fd;
    int port;
    double started;             /* Unix time */
    atomic_int draining;
    atomic_int reloads_running; /* threads reloading for POST /v1/admin/reload */
    atomic_long log_window, log_lines, log_dropped; /* libmicrohttpd's messages, rationed */
};

/* One HTTP request, from its headers to its completion (libmicrohttpd's con_cls). */
typedef struct http_req {
    shelf_server *srv;
    struct MHD_Connection *conn;
    conn_slot *slot;            /* its connection's watch; NULL: not watched */
    endpoint ep;
    double t0;                  /* monotonic, when the headers came */
    unsigned status;            /* answered with; 0 until then */
    buf body;                   /* JSON bodies */
    size_t received;            /* body bytes, whatever became of them */
    int too_big;                /* over --max-body: the rest is read and dropped */
    form *form;                 /* multipart bodies */
    req_error form_error;
    int form_failed;
    /* waiting on another thread (the batcher, a reload) with the connection suspended;
     * once it resumes the connection, the request is answered from what it left here */
    int waiting;
    served_model *sm;           /* held from the parse to the answer */
    classify_req q;
    predictions pred;
    image_job job;
    char *reload_path;
    shelf_status reload_status;
    shelf_error reload_err;
} http_req;

/* Answers r with body[0..len) (mode as for MHD_create_response_from_buffer) and, when
 * header is not NULL, one more header "header: value". */
enum MHD_Result http_respond(http_req *r, unsigned status, const char *type, char *body,
                             size_t len, enum MHD_ResponseMemoryMode mode, const char *header,
                             const char *value);
/* Answers {"error": "...", "status": N}. */
enum MHD_Result http_error(http_req *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with one more header (Allow, WWW-Authenticate, Retry-After, Connection). */
enum MHD_Result http_error_h(http_req *r, unsigned status, const char *header,
                             const char *value, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Answers a request whose body has all come (or whose wait is over). */
enum MHD_Result endpoint_run(http_req *r);

void server_log(shelf_server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
