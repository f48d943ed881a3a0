/* shelf serve: the HTTP JSON server. The server runs on its own threads; this thread waits
 * for signals: SIGHUP reloads the model, SIGTERM or SIGINT drains the requests in flight
 * and exits 0. */
#include <errno.h>
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

int cmd_serve(int argc, char **argv)
{
    shelf_server_options o;
    shelf_server_options_default(&o);
    const char *token_file = NULL;
    uint64_t max_body = 8 << 20, max_image_pixels = 0, max_request_pixels = 0;
    float drain = 30;
    const opt opts[] = {
        {"model", OPT_STR, &o.model_path, "model file (required)"},
        {"host", OPT_STR, &o.host, "address to listen on (127.0.0.1; 0.0.0.0 for all)"},
        {"port", OPT_INT, &o.port, "port (8080; 0: any free port, printed at start)"},
        {"threads", OPT_INT, &o.threads, "HTTP threads, and image prediction threads (cores)"},
        {"token-file", OPT_STR, &token_file,
         "file holding a token: requests must send 'Authorization: Bearer TOKEN'"},
        {"max-body", OPT_U64, &max_body, "largest request body in bytes (8 MiB)"},
        {"max-batch", OPT_INT, &o.max_batch, "most products in one request (256)"},
        {"max-connections", OPT_INT, &o.max_connections,
         "requests served at once, more get 503 (512); past 3/4 of it open, connections "
         "slow to send headers are closed"},
        {"max-image-pixels", OPT_U64, &max_image_pixels,
         "largest image to decode, width x height by its header; larger get 413 (40000000)"},
        {"max-request-pixels", OPT_U64, &max_request_pixels,
         "pixels of one request's images together; more get 413 (400000000)"},
        {"max-queue", OPT_INT, &o.max_queue,
         "image products waiting for the model; more get 503 (1024)"},
        {"timeout", OPT_INT, &o.timeout, "seconds a connection may stay silent (10)"},
        {"request-deadline", OPT_INT, &o.request_deadline,
         "seconds a request's headers and body may take to come (30)"},
        {"drain", OPT_FLOAT, &drain, "seconds SIGTERM waits for requests in flight (30)"},
        {NULL, 0, NULL, NULL}};
    int r = opt_parse("serve", argc, argv, opts);
    if (r)
        return r > 0 ? (opt_usage("serve", "--model MODEL [options]", opts), 0) : 2;
    if (!o.model_path || o.port < 0 || o.port > 65535 || o.threads < 0 || o.max_batch < 0 ||
        o.max_connections < 0 || o.max_queue < 0 || o.timeout < 0 ||
        o.request_deadline < 0 || max_body == 0 || !(drain >= 0)) {
        fprintf(stderr, "shelf serve: needs --model; --port from 0 to 65535; --threads, "
                        "--max-batch, --max-connections, --max-queue, --timeout, "
                        "--request-deadline and --drain not negative; --max-body above 0\n");
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
