/* shelf serve: the HTTP JSON server. The server runs on its own threads; this thread waits
 * for signals: SIGHUP reloads the model, SIGTERM or SIGINT drains the requests in flight
 * and exits 0. */
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "options.h"

static void log_line(const char *line, void *user)
{
    (void)user;
    fprintf(stderr, "shelf serve: %s\n", line);
}

/* The token: the file's first line, without surrounding white space. 0, or -1. */
static int read_token(const char *path, char *out, size_t size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "shelf serve: cannot open --token-file %s\n", path);
        return -1;
    }
    char *line = fgets(out, (int)size, f);
    fclose(f);
    size_t n = line ? strcspn(out, "\r\n") : 0;
    out[n] = '\0';
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\t'))
        out[--n] = '\0';
    size_t lead = strspn(out, " \t");
    memmove(out, out + lead, n - lead + 1);
    if (!*out) {
        fprintf(stderr, "shelf serve: --token-file %s holds no token\n", path);
        return -1;
    }
    return 0;
}

/* Signals arrive through a pipe: a handler, not sigwait, because threads that libraries
 * start before main (OpenBLAS's) do not block them, and one of those could take a signal
 * blocked everywhere else and die of it. */
static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(signal_pipe[1], &b, 1) < 0) { /* the pipe is full: a signal is waiting already */
    }
    errno = saved;
}

static int catch_signals(void)
{
    if (pipe(signal_pipe) != 0)
        return -1;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

/* Waits for a signal to stop; reloads on each SIGHUP meanwhile. Returns the signal. */
static int wait_for_stop(shelf_server *s)
{
    for (;;) {
        unsigned char b;
        ssize_t n = read(signal_pipe[0], &b, 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n != 1)
            return SIGTERM;
        if (b != SIGHUP)
            return b;
        shelf_error err = {0};
        shelf_server_reload(s, NULL, &err); /* the server logs how it went */
    }
}

typedef struct serve_args {
    shelf_server_options o;
    const char *token_file;
    uint64_t max_body, max_image_pixels, max_request_pixels;
    float drain;
} serve_args;

/* A limit left at 0 is the library's default, which the help gives in words. */
static const shelf_option serve_opts[] = {
    OPT_STRING(serve_args, "model", o.model_path, NULL, "model file (required)"),
    OPT_STRING(serve_args, "index", o.index_path, NULL,
               "index file (shelf index, with this model) for POST /v1/similar; reloaded "
               "with the model"),
    OPT_STRING(serve_args, "host", o.host, "127.0.0.1",
               "address to listen on; 0.0.0.0 for all"),
    OPT_INT(serve_args, "port", o.port, 8080, NULL, 0, 65535,
            "port; 0: any free port, printed at start"),
    OPT_INT(serve_args, "threads", o.threads, 0, "all cores", 0, INT_MAX,
            "HTTP threads, and image prediction threads (at most 64 of those)"),
    OPT_STRING(serve_args, "token-file", token_file, NULL,
               "file holding a token: requests must send 'Authorization: Bearer TOKEN'"),
    OPT_U64(serve_args, "max-body", max_body, 8 << 20, "8 MiB", 1, (double)UINT64_MAX,
            "largest request body in bytes"),
    OPT_INT(serve_args, "max-batch", o.max_batch, 0, "256", 0, INT_MAX,
            "most products in one request"),
    OPT_INT(serve_args, "max-connections", o.max_connections, 0, "512", 0, INT_MAX,
            "requests served at once, more get 503; past 3/4 of it open, connections slow to "
            "send headers are closed"),
    OPT_U64(serve_args, "max-image-pixels", max_image_pixels, 0, "40000000", 0,
            (double)UINT64_MAX,
            "largest image to decode, width x height by its header; larger get 413"),
    OPT_U64(serve_args, "max-request-pixels", max_request_pixels, 0, "400000000", 0,
            (double)UINT64_MAX, "pixels of one request's images together; more get 413"),
    OPT_INT(serve_args, "max-queue", o.max_queue, 0, "1024", 0, INT_MAX,
            "image products waiting for the model; more get 503"),
    OPT_INT(serve_args, "timeout", o.timeout, 0, "10", 0, INT_MAX,
            "seconds a connection may stay silent"),
    OPT_INT(serve_args, "request-deadline", o.request_deadline, 0, "30", 0, INT_MAX,
            "seconds a request's headers and body may take to come"),
    OPT_FLOAT(serve_args, "drain", drain, 30, NULL, 0, FLT_MAX,
              "seconds SIGTERM waits for requests in flight"),
};

int cmd_serve(int argc, char **argv)
{
    serve_args a;
    memset(&a, 0, sizeof a);
    shelf_server_options_default(&a.o);
    const opt_table t = OPT_TABLE(serve_opts, &a);
    opt_defaults(&t, 1);
    int r = opt_parse("serve", argc, argv, &t, 1, NULL);
    if (r) {
        if (r < 0)
            return 2;
        opt_usage("serve", "--model MODEL [options]");
        opt_section("options", t);
        return 0;
    }
    shelf_server_options o = a.o;
    const char *token_file = a.token_file;
    const uint64_t max_body = a.max_body, max_image_pixels = a.max_image_pixels,
                   max_request_pixels = a.max_request_pixels;
    const float drain = a.drain;
    if (!o.model_path) {
        fprintf(stderr, "shelf serve: --model is required (see shelf serve --help)\n");
        return 2;
    }
    o.max_body = (size_t)max_body;
    o.max_image_pixels = (long)(max_image_pixels < INT64_MAX ? max_image_pixels : INT64_MAX);
    o.max_request_pixels =
        (long)(max_request_pixels < INT64_MAX ? max_request_pixels : INT64_MAX);
    char token[4096];
    if (token_file && read_token(token_file, token, sizeof token))
        return 2;
    o.token = token_file ? token : NULL;
    o.log = log_line;
    if (catch_signals()) {
        fprintf(stderr, "shelf serve: cannot make a pipe for signals\n");
        return 1;
    }
    shelf_error err = {0};
    shelf_server *s = NULL;
    if (shelf_server_start(&o, &s, &err) != SHELF_OK) {
        fprintf(stderr, "shelf serve: %s\n", err.message);
        return 1;
    }
    int v6 = strchr(o.host, ':') != NULL; /* an IPv6 address goes in brackets in a URL */
    fprintf(stderr, "shelf serve: listening on http://%s%s%s:%d/ with %s%s\n", v6 ? "[" : "",
            o.host, v6 ? "]" : "", shelf_server_port(s), o.model_path,
            token_file ? " (token required)" : "");
    int sig = wait_for_stop(s);
    fprintf(stderr, "shelf serve: %s: finishing the requests in flight\n", strsignal(sig));
    shelf_server_stop(s, drain);
    return 0;
}
