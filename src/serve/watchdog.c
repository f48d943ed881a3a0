#include "serve/watchdog.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/mem.h"

enum {
    TICK_MS = 100,
    MIN_BODY_RATE = 1024, /* bytes a second: a body slower than this may be closed for room */
};

typedef enum { PHASE_HEADERS, PHASE_BODY, PHASE_BUSY } conn_phase;

struct conn_slot {
    int fd;            /* -1: a free slot */
    int shut;          /* shut down already: no longer counted as open */
    conn_phase phase;
    double since;      /* monotonic seconds: when the current request's reading began */
    double received;   /* bytes of its body so far */
};

struct watchdog {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int stopping;
    double deadline, grace;
    int reserve, capacity;
    atomic_long *late, *evicted;
    conn_slot *slot;      /* capacity */
    conn_slot **victims;  /* capacity: scratch for the reserve */
};

static void shut(conn_slot *c, atomic_long *count)
{
    atomic_fetch_add(count, 1); /* first: whoever sees the end sees it counted */
    shutdown(c->fd, SHUT_RDWR);
    c->shut = 1;
}

static int older(const void *a, const void *b)
{
    double x = (*(conn_slot *const *)a)->since, y = (*(conn_slot *const *)b)->since;
    return (x > y) - (x < y);
}

/* One look at every connection; called with the lock held. */
static void check(watchdog *w, double now)
{
    int open = 0, n = 0;
    for (int i = 0; i < w->capacity; i++) {
        conn_slot *c = &w->slot[i];
        if (c->fd < 0 || c->shut)
            continue;
        if (c->phase != PHASE_BUSY && now - c->since > w->deadline) {
            shut(c, w->late);
            continue;
        }
        open++;
        double age = now - c->since;
        if (age > w->grace && (c->phase == PHASE_HEADERS ||
                               (c->phase == PHASE_BODY && c->received < MIN_BODY_RATE * age)))
            w->victims[n++] = c;
    }
    if (open <= w->reserve || n == 0)
        return;
    qsort(w->victims, (size_t)n, sizeof *w->victims, older);
    for (int i = 0; i < n && open > w->reserve; i++, open--)
        shut(w->victims[i], w->evicted);
}

static void *run(void *arg)
{
    watchdog *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->wake, &w->lock, &ts);
        if (!w->stopping)
            check(w, now_sec());
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

watchdog *watch_new(int capacity, double deadline, int reserve, double grace,
                    atomic_long *late, atomic_long *evicted)
{
    watchdog *w = mem_calloc(1, sizeof *w);
    if (!w)
        return NULL;
    *w = (watchdog){.deadline = deadline, .grace = grace, .reserve = reserve,
                    .capacity = capacity, .late = late, .evicted = evicted};
    w->slot = mem_alloc((size_t)capacity * sizeof *w->slot);
    w->victims = mem_alloc((size_t)capacity * sizeof *w->victims);
    if (!w->slot || !w->victims)
        goto fail;
    for (int i = 0; i < capacity; i++)
        w->slot[i] = (conn_slot){.fd = -1};
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    if (pthread_create(&w->thread, NULL, run, w) == 0)
        return w;
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
fail:
    mem_free(w->slot);
    mem_free(w->victims);
    mem_free(w);
    return NULL;
}

void watch_free(watchdog *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->lock);
    mem_free(w->slot);
    mem_free(w->victims);
    mem_free(w);
}

conn_slot *watch_open(watchdog *w, int fd)
{
    conn_slot *c = NULL;
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->capacity && !c; i++)
        if (w->slot[i].fd < 0)
            c = &w->slot[i];
    if (c)
        *c = (conn_slot){.fd = fd, .phase = PHASE_HEADERS, .since = now_sec()};
    pthread_mutex_unlock(&w->lock);
    return c;
}

static void set_phase(watchdog *w, conn_slot *c, conn_phase p, int restart)
{
    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    c->phase = p;
    if (restart) {
        c->since = now_sec();
        c->received = 0;
    }
    pthread_mutex_unlock(&w->lock);
}

void watch_headers(watchdog *w, conn_slot *c) { set_phase(w, c, PHASE_BODY, 0); }
void watch_busy(watchdog *w, conn_slot *c) { set_phase(w, c, PHASE_BUSY, 0); }

void watch_body(watchdog *w, conn_slot *c, size_t n)
{
    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    c->received += (double)n;
    pthread_mutex_unlock(&w->lock);
}
void watch_idle(watchdog *w, conn_slot *c) { set_phase(w, c, PHASE_HEADERS, 1); }

void watch_close(watchdog *w, conn_slot *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&w->lock);
    c->fd = -1;
    pthread_mutex_unlock(&w->lock);
}
