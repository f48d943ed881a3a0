/* A monotonic clock in seconds, for progress lines and timings. */
#ifndef SHELF_CORE_CLOCK_H
#define SHELF_CORE_CLOCK_H

#include <time.h>

static inline double now_sec(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
