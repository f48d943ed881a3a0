/* Helpers of the numeric tests: inputs drawn from [-1, 1) by a seed, and a comparison whose
 * tolerance is relative to the wanted value's size (absolute below 1). Include after
 * cmocka.h. */
#ifndef SHELF_TESTS_NUMERIC_H
#define SHELF_TESTS_NUMERIC_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

static inline void fill(float *p, size_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++)
        p[i] = rng_float(&r) * 2 - 1;
}

static inline void assert_close(double got, double want, double tol)
{
    if (fabs(got - want) > tol * fmax(1.0, fabs(want)))
        fail_msg("got %.9g, want %.9g", got, want);
}

#endif
