/* Catalogs inside the library: views over some of another catalog's products, for training
 * on folds of a catalog. */
#ifndef SHELF_IO_CATALOG_H
#define SHELF_IO_CATALOG_H

#include <stddef.h>

#include "shelf.h"

/* A catalog of the products rows[0..n) of c, in that order, sharing c's strings: c must
 * outlive it. Free it with shelf_catalog_free. NULL when out of memory. */
shelf_catalog *catalog_view(const shelf_catalog *c, const size_t *rows, size_t n);

#endif
