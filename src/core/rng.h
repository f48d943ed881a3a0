/* A small seeded random number generator (splitmix64 seeding xoshiro256**), so that a
 * --seed reproduces a run exactly. */
#ifndef SHELF_CORE_RNG_H
#define SHELF_CORE_RNG_H

#include <stdint.h>

typedef struct rng { uint64_t s[4]; } rng;

void rng_seed(rng *r, uint64_t seed);
uint64_t rng_next(rng *r);
/* Uniform in [0, n). */
uint64_t rng_below(rng *r, uint64_t n);
/* Uniform in [0, 1). */
float rng_float(rng *r);
void rng_shuffle_u32(rng *r, uint32_t *a, uint64_t n);

#endif
