#include "io/json_array.h"

#include <stdio.h>
#include <string.h>

enum { BEFORE, ITEM, VALUE, AFTER, DONE };

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

int json_array_starts(lines *in)
{
    const char *s;
    size_t n = lines_peek(in, &s), i = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n && is_ws(s[i]))
        i++;
    return i < n && s[i] == '[';
}

/* Follows one byte of an element. Returns 1 when the element ends with it (kept) and 2
 * when it ends before it (a number or literal ends at ',', ']' or white space). */
static int follow(json_array *a, char c)
{
    if (a->in_string) {
        if (a->escape)
            a->escape = 0;
        else if (c == '\\')
            a->escape = 1;
        else if (c == '"')
            a->in_string = 0;
        return !a->in_string && a->depth == 0;
    }
    if (a->depth == 0 && (c == ',' || c == ']' || is_ws(c)))
        return 2;
    if (c == '"')
        a->in_string = 1;
    else if (c == '{' || c == '[')
        a->depth++;
    else if (c == '}' || c == ']')
        return --a->depth <= 0;
    return 0;
}

/* Moves by one byte c outside an element; 0, or -1 with why set when c does not belong. */
static int between(json_array *a, char c, char *why, size_t whysz)
{
    char shown = c > ' ' && c < 0x7f ? c : '?';
    if (is_ws(c) || (a->state == BEFORE && (unsigned char)c >= 0x80)) /* a byte order mark */
        return 0;
    if (a->state == BEFORE && c == '[') {
        a->state = ITEM;
    } else if (a->state == ITEM && c == ']' && a->index == 0) {
        a->state = DONE;
    } else if (a->state == ITEM && c != ']' && c != ',') {
        a->state = VALUE;
        a->depth = a->in_string = a->escape = 0;
        a->elem.len = 0;
    } else if (a->state == AFTER && (c == ',' || c == ']')) {
        a->state = c == ',' ? ITEM : DONE;
    } else if (a->state == ITEM) {
        snprintf(why, whysz, "$[%ld]: expected a value, found '%c'", a->index, shown);
        return -1;
    } else if (a->state == AFTER) {
        snprintf(why, whysz, "$[%ld]: expected ',' or ']' after it, found '%c'", a->index - 1,
                 shown);
        return -1;
    } else {
        snprintf(why, whysz, "unexpected '%c' after the array's closing ']'", shown);
        return -1;
    }
    return 0;
}

/* Scans p[0..avail) from where a stands, keeping the current element's bytes. Returns the
 * bytes consumed; *ended is 1 when an element ended, -1 on an error (why set). */
static size_t scan(json_array *a, lines *in, const char *p, size_t avail, long *line,
                   int *ended, char *why, size_t whysz)
{
    size_t i = 0, from = 0;
    *ended = 0;
    for (; i < avail; i++) {
        char c = p[i];
        if (a->state != VALUE) {
            if (between(a, c, why, whysz)) {
                *ended = -1;
                break;
            }
            from = i;
            if (a->state == VALUE)
                *line = in->lineno + 1;
        }
        if (a->state == VALUE) {
            int f = follow(a, c);
            if (f) { /* a closing bracket or quote is the element's; what ends a number is not */
                i += f == 1;
                *ended = 1;
                break;
            }
        }
        in->lineno += c == '\n';
    }
    if (*ended >= 0 && a->state == VALUE)
        buf_append(&a->elem, p + from, i - from);
    return i;
}

json_array_status json_array_next(json_array *a, lines *in, const char **s, size_t *n,
                                  long *line, char *why, size_t whysz)
{
    why[0] = '\0';
    for (;;) {
        const char *p;
        size_t avail = lines_peek(in, &p);
        if (avail == 0) {
            if (in->error)
                return JA_FAIL;
            if (a->state == DONE)
                return JA_END;
            snprintf(why, whysz, "the array ends before its closing ']' (truncated?)");
            return JA_FAIL;
        }
        int ended;
        lines_skip(in, scan(a, in, p, avail, line, &ended, why, whysz));
        if (ended < 0 || a->elem.oom)
            return JA_FAIL;
        if (a->state == VALUE && a->elem.len > LINES_MAX) {
            snprintf(why, whysz, "$[%ld] is longer than 16 MiB", a->index);
            return JA_FAIL;
        }
        if (ended) {
            a->state = AFTER;
            a->index++;
            *s = a->elem.data;
            *n = a->elem.len;
            return JA_OK;
        }
    }
}

void json_array_free(json_array *a) { buf_free(&a->elem); }
