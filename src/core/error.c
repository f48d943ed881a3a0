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

/* Control characters of msg (bytes below 0x20, and 0x7f) become \xNN: messages name labels,
 * columns and paths from files, and an escape sequence in a catalog or a model must not
 * reach the user's terminal. Cut to SHELF_ERROR_MAX, as the message itself. */
static void escape_controls(char *msg)
{
    char out[SHELF_ERROR_MAX];
    size_t o = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 1 < sizeof out; p++) {
        if (*p >= 0x20 && *p != 0x7f)
            out[o++] = (char)*p;
        else if (o + 5 < sizeof out)
            o += (size_t)snprintf(out + o, 5, "\\x%02x", *p);
        else
            break;
    }
    out[o] = '\0';
    memcpy(msg, out, o + 1);
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
    escape_controls(err->message);
    return code;
}
