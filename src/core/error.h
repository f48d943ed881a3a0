/* Internal error helpers: fill a shelf_error with a formatted message. */
#ifndef SHELF_CORE_ERROR_H
#define SHELF_CORE_ERROR_H

#include "shelf.h"

/* Sets err (when not NULL) and returns code, so a caller can `return err_set(...)`. */
shelf_status err_set(shelf_error *err, shelf_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
