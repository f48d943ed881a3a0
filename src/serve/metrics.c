#include "serve/metrics.h"

#include <stdio.h>
#include <string.h>

#define STATUS_VALUE(code) code,
static const unsigned statuses[METRIC_NSTATUS - 1] = {METRIC_STATUSES(STATUS_VALUE)};
#undef STATUS_VALUE

/* Upper bounds of the latency buckets, in seconds (the last bucket is +Inf). */
static const double bounds[METRIC_NBUCKETS - 1] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                   0.005,  0.01,    0.025,  0.05,  0.1,
                                                   0.25,   1,       5};

static const char *const paths[EP_COUNT] = {"/v1/classify", "/healthz", "/v1/model",
                                            "/metrics", "/v1/admin/reload", "/v1/similar",
                                            "other"};

const char *endpoint_path(endpoint ep) { return paths[ep]; }

void metrics_init(metrics *m) { memset(m, 0, sizeof *m); }

void metrics_request(metrics *m, endpoint ep, unsigned status, double seconds)
{
    if (status == 0) {
        atomic_fetch_add_explicit(&m->aborted[ep], 1, memory_order_relaxed);
        return;
    }
    int s = 0;
    while (s < METRIC_NSTATUS - 1 && statuses[s] != status)
        s++;
    int b = 0;
    while (b < METRIC_NBUCKETS - 1 && seconds > bounds[b])
        b++;
    atomic_fetch_add_explicit(&m->requests[ep][s], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency[ep][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_us[ep], (long)(seconds * 1e6), memory_order_relaxed);
}

static long get(const atomic_long *v) { return atomic_load_explicit(v, memory_order_relaxed); }

static void write_requests(const metrics *m, buf *out)
{
    buf_puts(out, "# HELP shelf_http_requests_total HTTP requests answered, by endpoint and "
                  "status.\n# TYPE shelf_http_requests_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        for (int s = 0; s < METRIC_NSTATUS; s++)
            if (get(&m->requests[e][s]) || s == 0) { /* 200 always: a series from the start */
                char code[8] = "other";
                if (s < METRIC_NSTATUS - 1)
                    snprintf(code, sizeof code, "%u", statuses[s]);
                buf_printf(out, "shelf_http_requests_total{endpoint=\"%s\",status=\"%s\"} "
                           "%ld\n", paths[e], code, get(&m->requests[e][s]));
            }
    buf_puts(out, "# HELP shelf_http_requests_aborted_total Requests whose connection closed "
                  "before an answer.\n# TYPE shelf_http_requests_aborted_total counter\n");
    for (int e = 0; e < EP_COUNT; e++)
        buf_printf(out, "shelf_http_requests_aborted_total{endpoint=\"%s\"} %ld\n", paths[e],
                   get(&m->aborted[e]));
}

static void write_latency(const metrics *m, buf *out)
{
    buf_puts(out, "# HELP shelf_http_request_duration_seconds Time from a request's headers "
                  "to its answer sent.\n# TYPE shelf_http_request_duration_seconds histogram\n");
    for (int e = 0; e < EP_COUNT; e++) {
        long cum = 0;
        for (int b = 0; b < METRIC_NBUCKETS; b++) {
            cum += get(&m->latency[e][b]);
            if (b < METRIC_NBUCKETS - 1)
                buf_printf(out, "shelf_http_request_duration_seconds_bucket{endpoint=\"%s\","
                           "le=\"%g\"} %ld\n", paths[e], bounds[b], cum);
            else
                buf_printf(out, "shelf_http_request_duration_seconds_bucket{endpoint=\"%s\","
                           "le=\"+Inf\"} %ld\n", paths[e], cum);
        }
        buf_printf(out, "shelf_http_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n",
                   paths[e], (double)get(&m->latency_us[e]) / 1e6);
        buf_printf(out, "shelf_http_request_duration_seconds_count{endpoint=\"%s\"} %ld\n",
                   paths[e], cum);
    }
}

/* One metric without labels. */
static void write_one(buf *out, const char *name, const char *type, const char *help,
                      double value)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name,
               value);
}

void metrics_write(const metrics *m, buf *out, long generation, long queued, double started)
{
    write_requests(m, out);
    write_latency(m, out);
    write_one(out, "shelf_products_classified_total", "counter",
              "Products classified (a batch counts each of its products).",
              (double)get(&m->products));
    write_one(out, "shelf_products_classified_with_image_total", "counter",
              "Products classified with their image.", (double)get(&m->products_image));
    buf_puts(out, "# HELP shelf_model_reloads_total Model reloads, by result.\n"
                  "# TYPE shelf_model_reloads_total counter\n");
    buf_printf(out, "shelf_model_reloads_total{result=\"ok\"} %ld\n", get(&m->reloads_ok));
    buf_printf(out, "shelf_model_reloads_total{result=\"failed\"} %ld\n",
               get(&m->reloads_failed));
    write_one(out, "shelf_model_generation", "gauge",
              "The model serving: 1 for the first load, one more per successful reload.",
              (double)generation);
    write_one(out, "shelf_http_connections", "gauge", "Connections open.",
              (double)get(&m->connections));
    buf_puts(out, "# HELP shelf_http_connections_closed_total Connections closed on slow "
                  "clients: a request not whole within --request-deadline (deadline), or still "
                  "sending headers while the server was nearly full (reserve).\n"
                  "# TYPE shelf_http_connections_closed_total counter\n");
    buf_printf(out, "shelf_http_connections_closed_total{reason=\"deadline\"} %ld\n",
               get(&m->closed_late));
    buf_printf(out, "shelf_http_connections_closed_total{reason=\"reserve\"} %ld\n",
               get(&m->closed_evicted));
    write_one(out, "shelf_http_requests_in_flight", "gauge", "Requests begun, not yet answered.",
              (double)get(&m->in_flight));
    write_one(out, "shelf_image_queue_products", "gauge",
              "Products waiting for the image model.", (double)queued);
    write_one(out, "shelf_start_time_seconds", "gauge", "When the server started (Unix time).",
              started);
}
