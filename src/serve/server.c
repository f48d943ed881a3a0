/* The HTTP server: libmicrohttpd with a pool of threads, each running its own connections
 * (poll). A request's life: its headers come (routing, draining, connection limit, token,
 * method, declared size, content type: answered at once when wrong, before any body is
 * read), then its body in pieces (kept up to --max-body, else read and dropped for a 413),
 * then the endpoint answers (endpoints.c); the completion callback counts it and frees it.
 * Meanwhile the watchdog (watchdog.h) closes connections whose request does not come whole
 * within --request-deadline, and slow ones when the server is nearly full. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/error.h"
#include "core/mem.h"
#include "core/threadpool.h"
#include "image/decode.h"
#include "serve/server.h"

enum {
    DEFAULT_MAX_BODY = 8 << 20,
    DEFAULT_MAX_BATCH = 256,
    DEFAULT_MAX_CONNECTIONS = 512,
    DEFAULT_MAX_QUEUE = 1024,
    DEFAULT_TIMEOUT = 10,
    IMAGES_PER_CALL = 64,   /* one batch of the CNN's prediction */
    DEFAULT_REQUEST_DEADLINE = 30, /* an 8 MiB body at 2.2 Mbit/s */
    DEFAULT_MAX_IMAGE_PIXELS = 40000000,
    DEFAULT_MAX_REQUEST_PIXELS = 400000000, /* some 5 s of decoding */
    CONNECTION_SLACK = 64,  /* connections open past --max-connections requests: idle or
                               sending headers, or to be told 503 */
};
/* Past 3/4 of --max-connections open, connections still sending their headers (or a body,
 * slowly) after this many seconds are closed to make room (a client sends its headers at
 * once). */
static const double HEADER_GRACE = 1.0;

void shelf_server_options_default(shelf_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
}

void server_log(shelf_server *s, const char *fmt, ...)
{
    if (!s->o.log)
        return;
    char line[SHELF_ERROR_MAX + 256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->o.log(line, s->o.log_user);
}

/* libmicrohttpd logs what clients do (a connection closed mid-request, a bad header), so a
 * client could flood the log: LOG_BURST lines pass in a window of LOG_WINDOW seconds, and the
 * next window's first line is preceded by how many were left out. */
enum { LOG_BURST = 20, LOG_WINDOW = 10 };

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    shelf_server *s = cls;
    long window = (long)(now_sec() / LOG_WINDOW);
    if (atomic_exchange(&s->log_window, window) != window) {
        atomic_store(&s->log_lines, 0);
        long dropped = atomic_exchange(&s->log_dropped, 0);
        if (dropped)
            server_log(s, "http: %ld more messages of libmicrohttpd left out", dropped);
    }
    if (atomic_fetch_add(&s->log_lines, 1) >= LOG_BURST) {
        atomic_fetch_add(&s->log_dropped, 1);
        return;
    }
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    server_log(s, "http: %s", line);
}

/* ---- a request's life ------------------------------------------------------------------ */

static endpoint route(const char *url)
{
    for (int e = 0; e < EP_OTHER; e++)
        if (strcmp(url, endpoint_path((endpoint)e)) == 0)
            return (endpoint)e;
    return EP_OTHER;
}

/* 1 when the request carries "Authorization: Bearer TOKEN"; compared in constant time. */
static int authorized(const shelf_server *s, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return 0;
    h += 7;
    size_t n = strlen(s->token), m = strlen(h);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char)(s->token[i] ^ (i < m ? h[i] : 0));
    return diff == 0;
}

static int is_post(endpoint ep)
{
    return ep == EP_CLASSIFY || ep == EP_RELOAD || ep == EP_SIMILAR;
}

/* The checks a request's headers allow; answers and returns 1 when one fails (nothing of
 * the body has been read: libmicrohttpd closes the connection after the answer). */
static int refuse_early(http_req *r, const char *url, const char *method)
{
    shelf_server *s = r->srv;
    struct MHD_Connection *c = r->conn;
    if (s->draining)
        return http_error_h(r, 503, "Retry-After", "1", "the server is shutting down"), 1;
    if (r->ep == EP_OTHER)
        return http_error(r, 404, "no such endpoint '%.200s' (POST /v1/classify, POST "
                          "/v1/similar, GET /healthz, GET /v1/model, GET /metrics, POST "
                          "/v1/admin/reload)", url), 1;
    /* requests, not connections: those still sending headers make room (watchdog.h) */
    if (atomic_load(&s->met.in_flight) > s->o.max_connections)
        return http_error_h(r, 503, "Retry-After", "1", "too many requests at once (more "
                            "than %d, --max-connections); retry later", s->o.max_connections), 1;
    if (s->token && r->ep != EP_HEALTHZ && !authorized(s, c))
        return http_error_h(r, 401, "WWW-Authenticate", "Bearer", "this server wants "
                            "'Authorization: Bearer TOKEN' with its token"), 1;
    int post = strcmp(method, "POST") == 0;
    int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (is_post(r->ep) ? !post : !get)
        return http_error_h(r, 405, "Allow", is_post(r->ep) ? "POST" : "GET, HEAD",
                            "%s %s: this endpoint takes %s", method, url,
                            is_post(r->ep) ? "POST" : "GET"), 1;
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->o.max_body)
        return http_error(r, 413, "the body is %.24s bytes, more than the %zu allowed "
                          "(--max-body)", cl, s->o.max_body), 1;
    if (r->ep != EP_CLASSIFY && r->ep != EP_SIMILAR)
        return 0;
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (type && r->ep == EP_CLASSIFY && strncasecmp(type, "multipart/form-data", 19) == 0) {
        req_error e = {0};
        if (!(r->form = form_new(c, &e)))
            return http_error(r, e.status, "%s", e.why), 1;
    } else if (type && strncasecmp(type, "application/json", 16) != 0) {
        return http_error(r, 415, "Content-Type %.100s: send application/json%s", type,
                          r->ep == EP_CLASSIFY ? " or multipart/form-data" : ""), 1;
    }
    return 0;
}

/* Takes a piece of the body. Returns MHD_NO to close the connection: a body that goes on
 * far past the limit, or one that takes too long to come. */
static enum MHD_Result take_body(http_req *r, const char *data, size_t n)
{
    shelf_server *s = r->srv;
    r->received += n;
    watch_body(s->watch, r->slot, n);
    if (r->received > s->o.max_body) { /* a body without a declared size, too large */
        r->too_big = 1;
        buf_free(&r->body);
        return r->received > 2 * s->o.max_body ? MHD_NO : MHD_YES;
    }
    if (r->form) {
        if (!r->form_failed && form_feed(r->form, data, n, &r->form_error))
            r->form_failed = 1;
        return MHD_YES;
    }
    buf_append(&r->body, data, n); /* out of memory: the rest is dropped, and answered 500 */
    return MHD_YES;
}

/* The context of a request whose record could not be allocated: it is answered 500 at
 * once, and its body (if any) is dropped. */
static char unrecorded;

static enum MHD_Result answer_unrecorded(struct MHD_Connection *c, void **con_cls)
{
    static const char body[] = "{\"error\":\"out of memory\",\"status\":500}";
    *con_cls = &unrecorded;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    enum MHD_Result ok = MHD_queue_response(c, 500, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    (void)version;
    shelf_server *s = cls;
    if (*con_cls == &unrecorded) {
        *upload_size = 0;
        return MHD_YES;
    }
    http_req *r = *con_cls;
    if (!r) { /* the headers */
        if (!(r = mem_calloc(1, sizeof *r)))
            return answer_unrecorded(c, con_cls);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        *r = (http_req){.srv = s, .conn = c, .slot = ci ? ci->socket_context : NULL,
                        .ep = route(url), .t0 = now_sec()};
        *con_cls = r;
        atomic_fetch_add(&s->met.in_flight, 1);
        watch_headers(s->watch, r->slot);
        if (refuse_early(r, url, method))
            watch_busy(s->watch, r->slot);
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        return take_body(r, upload_data, n);
    }
    watch_busy(s->watch, r->slot);
    if (r->status) /* answered already */
        return MHD_YES;
    if (r->too_big)
        return http_error(r, 413, "the body is more than the %zu bytes allowed (--max-body)",
                          s->o.max_body);
    if (r->body.oom)
        return http_error(r, 500, "out of memory reading the body");
    return endpoint_run(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)c;
    shelf_server *s = cls;
    http_req *r = *con_cls;
    *con_cls = NULL;
    if (!r || (void *)r == &unrecorded)
        return;
    watch_idle(s->watch, r->slot);
    metrics_request(&s->met, r->ep, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? r->status : 0,
                    now_sec() - r->t0);
    if (r->sm)
        holder_release(&s->holder, r->sm);
    classify_req_free(&r->q);
    predictions_free(&r->pred);
    form_free(r->form);
    buf_free(&r->body);
    mem_free(r->reload_path);
    mem_free(r);
    atomic_fetch_sub(&s->met.in_flight, 1);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    shelf_server *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        atomic_fetch_add(&s->met.connections, 1);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = ci ? watch_open(s->watch, ci->connect_fd) : NULL;
    } else { /* libmicrohttpd closes the socket after this returns */
        atomic_fetch_sub(&s->met.connections, 1);
        watch_close(s->watch, *socket_context);
        *socket_context = NULL;
    }
}

/* ---- start and stop -------------------------------------------------------------------- */

/* A listening socket on host:port (numeric IPv4 or IPv6). */
static shelf_status listen_on(const char *host, int port, int *fd_out, shelf_error *err)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    socklen_t len;
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        len = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        len = sizeof *v6;
    } else {
        return err_set(err, SHELF_EINVAL, "--host %s: not a numeric IPv4 or IPv6 address", host);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0)
        return err_set(err, SHELF_EIO, "cannot open a socket: %s", strerror(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 1024) != 0) {
        int e = errno;
        close(fd);
        return err_set(err, SHELF_EIO, "cannot listen on %s port %d: %s", host, port,
                       strerror(e));
    }
    *fd_out = fd;
    return SHELF_OK;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                          : ((struct sockaddr_in *)&ss)->sin_port);
}

static shelf_status check_options(shelf_server_options *o, shelf_error *err)
{
    if (!o->model_path)
        return err_set(err, SHELF_EINVAL, "no model file given");
    if (!o->host)
        o->host = "127.0.0.1";
    if (o->port < 0 || o->port > 65535 || o->threads < 0 || o->max_batch < 0 ||
        o->max_connections < 0 || o->max_queue < 0 || o->timeout < 0 ||
        o->request_deadline < 0 || o->max_image_pixels < 0 || o->max_request_pixels < 0)
        return err_set(err, SHELF_EINVAL, "port, threads and limits must not be negative "
                       "(and port at most 65535)");
    if (o->max_image_pixels > IMAGE_DEFAULT_MAX_PIXELS)
        return err_set(err, SHELF_EINVAL, "--max-image-pixels %ld: at most %ld, the image "
                       "decoders' own limit", o->max_image_pixels,
                       (long)IMAGE_DEFAULT_MAX_PIXELS);
    o->threads = o->threads ? o->threads : pool_cores();
    o->max_body = o->max_body ? o->max_body : DEFAULT_MAX_BODY;
    o->max_batch = o->max_batch ? o->max_batch : DEFAULT_MAX_BATCH;
    o->max_connections = o->max_connections ? o->max_connections : DEFAULT_MAX_CONNECTIONS;
    o->max_queue = o->max_queue ? o->max_queue : DEFAULT_MAX_QUEUE;
    o->timeout = o->timeout ? o->timeout : DEFAULT_TIMEOUT;
    o->request_deadline = o->request_deadline ? o->request_deadline : DEFAULT_REQUEST_DEADLINE;
    if (!o->max_image_pixels)
        o->max_image_pixels = DEFAULT_MAX_IMAGE_PIXELS;
    if (!o->max_request_pixels)
        o->max_request_pixels = DEFAULT_MAX_REQUEST_PIXELS;
    return SHELF_OK;
}

static void server_free(shelf_server *s)
{
    watch_free(s->watch);
    batcher_free(s->images);
    holder_free(&s->holder);
    if (s->listen_fd >= 0)
        close(s->listen_fd);
    mem_free(s->token);
    mem_free(s);
}

static int connection_limit(const shelf_server_options *o)
{
    return o->max_connections + CONNECTION_SLACK;
}

static shelf_status start_daemon(shelf_server *s, shelf_error *err)
{
    /* poll, not epoll: MHD_quiesce_daemon (the drain on SIGTERM) races with an epoll worker
     * taking the listening socket out of its set and aborts the process (libmicrohttpd
     * 0.9.75, an open defect); with poll, quiescing is a flag and a wake-up */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_ALLOW_SUSPEND_RESUME |
                     MHD_USE_ERROR_LOG;
    /* one thread is the polling thread itself: a pool of 1 (or 0) makes libmicrohttpd warn */
    struct MHD_OptionItem pool[] = {
        {s->o.threads > 1 ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, s->o.threads, NULL},
        {MHD_OPTION_END, 0, NULL}};
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s, /* first, or some go to stderr */
        MHD_OPTION_LISTEN_SOCKET, s->listen_fd,
        MHD_OPTION_ARRAY, pool,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->o.timeout,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)connection_limit(&s->o),
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_END);
    if (!s->daemon)
        return err_set(err, SHELF_EIO, "libmicrohttpd could not start on %s port %d",
                       s->o.host, s->port);
    return SHELF_OK;
}

shelf_status shelf_server_start(const shelf_server_options *opts, shelf_server **out,
                                shelf_error *err)
{
    *out = NULL;
    shelf_server *s = mem_calloc(1, sizeof *s);
    if (!s)
        return err_set(err, SHELF_ENOMEM, "out of memory");
    s->o = *opts;
    s->listen_fd = -1;
    metrics_init(&s->met);
    shelf_status st = check_options(&s->o, err);
    if (st == SHELF_OK && s->o.token && !(s->token = mem_strdup(s->o.token)))
        st = err_set(err, SHELF_ENOMEM, "out of memory");
    s->o.token = NULL; /* the caller's copy may go */
    if (st == SHELF_OK)
        st = holder_init(&s->holder, s->o.model_path, s->o.index_path, s->o.threads,
                         IMAGES_PER_CALL, err);
    /* always: a reload may bring a model that reads images */
    if (st == SHELF_OK && !(s->images = batcher_new(s->o.max_queue, IMAGES_PER_CALL)))
        st = err_set(err, SHELF_ENOMEM, "cannot start the image prediction thread");
    if (st == SHELF_OK &&
        !(s->watch = watch_new(connection_limit(&s->o), s->o.request_deadline,
                               s->o.max_connections * 3 / 4, HEADER_GRACE,
                               &s->met.closed_late, &s->met.closed_evicted)))
        st = err_set(err, SHELF_ENOMEM, "cannot start the connection watchdog thread");
    if (st == SHELF_OK)
        st = listen_on(s->o.host, s->o.port, &s->listen_fd, err);
    if (st == SHELF_OK) {
        s->port = bound_port(s->listen_fd);
        st = start_daemon(s, err);
    }
    if (st != SHELF_OK) {
        server_free(s);
        return st;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->started = (double)ts.tv_sec;
    *out = s;
    return SHELF_OK;
}

int shelf_server_port(const shelf_server *s) { return s->port; }

shelf_status shelf_server_reload(shelf_server *s, const char *path, shelf_error *err)
{
    shelf_error e = {0};
    shelf_status st = holder_reload(&s->holder, path, &e);
    long generation = holder_generation(&s->holder);
    if (st == SHELF_OK) {
        atomic_fetch_add(&s->met.reloads_ok, 1);
        server_log(s, "reloaded %s: serving generation %ld", path ? path : "the model",
                   generation);
    } else {
        atomic_fetch_add(&s->met.reloads_failed, 1);
        server_log(s, "reload failed, still serving generation %ld: %s", generation, e.message);
    }
    if (err)
        *err = e;
    return st;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

void shelf_server_stop(shelf_server *s, double drain_seconds)
{
    if (!s)
        return;
    atomic_store(&s->draining, 1);
    MHD_socket fd = MHD_quiesce_daemon(s->daemon);
    if (fd != MHD_INVALID_SOCKET) /* refuse new connections, not only leave them unaccepted */
        shutdown(fd, SHUT_RDWR);
    double deadline = now_sec() + drain_seconds;
    while (atomic_load(&s->met.in_flight) > 0 && now_sec() < deadline)
        sleep_ms(5);
    /* whatever still waits on the CNN or a reload is finished and resumed: libmicrohttpd
     * must not be stopped with a connection suspended */
    batcher_free(s->images);
    s->images = NULL;
    while (atomic_load(&s->reloads_running) > 0)
        sleep_ms(5);
    MHD_stop_daemon(s->daemon);
    /* quiesced, the listening socket is ours to close; else libmicrohttpd closed it */
    s->listen_fd = fd != MHD_INVALID_SOCKET ? fd : -1;
    server_log(s, "stopped");
    server_free(s);
}
