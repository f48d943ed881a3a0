#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *shelf_strerror(shelf_status status)
{
    switch (status) {
#define SHELF_STATUS_TEXT(name, text) case SHELF_##name: return text;
        SHELF_STATUS_MAP(SHELF_STATUS_TEXT)
#undef SHELF_STATUS_TEXT
    }
    return "unknown status";
}

shelf_status err_set(shelf_error *err, shelf_status code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

shelf_status err_prefix(shelf_error *err, const char *prefix)
{
    if (!err)
        return SHELF_EINVAL;
    char tmp[SHELF_ERROR_MAX];
    memcpy(tmp, err->message, sizeof tmp);
    size_t n = strlen(prefix);
    if (n > sizeof tmp - 3)
        n = sizeof tmp - 3;
    memcpy(err->message, prefix, n);
    memcpy(err->message + n, ": ", 2);
    size_t rest = sizeof tmp - n - 3, m = strnlen(tmp, rest);
    memcpy(err->message + n + 2, tmp, m);
    err->message[n + 2 + m] = '\0';
    return err->code;
}
