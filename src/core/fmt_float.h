/* A float as printf's "%.6g" writes it, without printf: an explanation lists hundreds of
 * weights per product, and printf's general path cost half of explaining a bag model. */
#ifndef SHELF_CORE_FMT_FLOAT_H
#define SHELF_CORE_FMT_FLOAT_H

#include <stddef.h>

/* Longest text fmt_g6 writes, with its NUL ("-1.17549e-38"). */
#define FMT_G6_MAX 16

/* Writes v as "%.6g" does into out, NUL-terminated, and returns its length. Values from
 * 1e-4 to below 1e6 (and 0) are formatted here, exactly as printf rounds them (a float
 * times a power of ten up to 10^9 is exact in a double, so ties are seen as ties); the rest
 * go to snprintf. */
size_t fmt_g6(char out[FMT_G6_MAX], float v);

/* Writes n in decimal into out and returns its length. */
size_t fmt_uint(char out[24], unsigned long long n);

#endif
