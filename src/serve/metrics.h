/* The server's counters, in Prometheus's text format for GET /metrics: requests by endpoint
 * and status, a latency histogram per endpoint, products classified, model reloads. Lock
 * free: every request adds to them from its own thread. */
#ifndef SHELF_SERVE_METRICS_H
#define SHELF_SERVE_METRICS_H

#include <stdatomic.h>

#include "core/buf.h"

typedef enum {
    EP_CLASSIFY,
    EP_HEALTHZ,
    EP_MODEL,
    EP_METRICS,
    EP_RELOAD,
    EP_SIMILAR,
    EP_OTHER, /* unknown paths */
    EP_COUNT
} endpoint;

/* The statuses the server answers with; anything else counts as the last. */
#define METRIC_STATUSES(X) X(200) X(400) X(401) X(403) X(404) X(405) X(413) X(415) X(500) X(503)
enum { METRIC_NSTATUS = 11, METRIC_NBUCKETS = 14 };

typedef struct metrics {
    atomic_long requests[EP_COUNT][METRIC_NSTATUS];
    atomic_long aborted[EP_COUNT];       /* closed before an answer was sent */
    atomic_long latency[EP_COUNT][METRIC_NBUCKETS]; /* not cumulative; the last is +Inf */
    atomic_long latency_us[EP_COUNT];    /* sum, in microseconds */
    atomic_long products;                /* classified */
    atomic_long products_image;          /* of them, classified with their image */
    atomic_long reloads_ok, reloads_failed;
    atomic_long connections;             /* open now */
    atomic_long in_flight;               /* requests begun and not yet completed */
    atomic_long closed_late;             /* connections closed: a request past its deadline */
    atomic_long closed_evicted;          /* and: sending headers while the server was full */
} metrics;

void metrics_init(metrics *m);
/* One request done: its endpoint, the status sent (0: none, the connection was closed) and
 * how long it took. */
void metrics_request(metrics *m, endpoint ep, unsigned status, double seconds);
/* Appends every metric in Prometheus's text format (version 0.0.4); the gauges given are
 * the model's generation, the image products waiting, and the server's start time. */
void metrics_write(const metrics *m, buf *out, long generation, long queued, double started);

const char *endpoint_path(endpoint ep);

#endif
