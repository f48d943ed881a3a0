/* The server's guard against slow clients (Slowloris): libmicrohttpd's --timeout only closes
 * a connection that stays silent, so one header byte a second keeps it forever. The
 * watchdog gives each request a deadline to arrive whole (headers and body, counted from
 * the connection's start or the previous answer), and when the open connections pass the
 * reserve, closes those still sending their headers after a short grace, or a body at less
 * than 1 KiB a second (as Apache's mod_reqtimeout MinRate), oldest first, so that new
 * clients find room (as nginx frees idle keep-alive connections when it runs out).
 * A connection is closed by shutting its socket down; libmicrohttpd sees the end and closes
 * it. The table is under a mutex that watch_close takes too, and libmicrohttpd reports a
 * connection closed before it closes the socket, so no reused descriptor is ever shut. */
#ifndef SHELF_SERVE_WATCHDOG_H
#define SHELF_SERVE_WATCHDOG_H

#include <stdatomic.h>
#include <stddef.h>

typedef struct watchdog watchdog;
typedef struct conn_slot conn_slot;

/* A watchdog over at most capacity connections, checking several times a second: a request
 * gets deadline seconds; over reserve open connections, those sending headers for more than
 * grace seconds are closed. Each close adds one to *late (past the deadline) or *evicted
 * (for the reserve). NULL: out of memory or no thread. */
watchdog *watch_new(int capacity, double deadline, int reserve, double grace,
                    atomic_long *late, atomic_long *evicted);
/* Stops the thread and frees the table (after libmicrohttpd stopped: no slot is in use). */
void watch_free(watchdog *w);

/* A new connection on socket fd: its first request's reading begins. NULL when the table
 * is full (the connection is then not watched). */
conn_slot *watch_open(watchdog *w, int fd);
/* Its request's headers have come: the body is still under the deadline. */
void watch_headers(watchdog *w, conn_slot *c);
/* n more bytes of its body have come. */
void watch_body(watchdog *w, conn_slot *c, size_t n);
/* Its request has all come: no deadline while it is answered. */
void watch_busy(watchdog *w, conn_slot *c);
/* Its request is answered: the next one's reading begins now (keep-alive). */
void watch_idle(watchdog *w, conn_slot *c);
/* libmicrohttpd is closing it: the slot is free again. NULL does nothing. */
void watch_close(watchdog *w, conn_slot *c);

#endif
