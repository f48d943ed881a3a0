#include "io/field.h"

#include "text/utf8.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

span field_trim(span s)
{
    while (s.n > 0 && is_space(s.p[0]))
        s.p++, s.n--;
    while (s.n > 0 && is_space(s.p[s.n - 1]))
        s.n--;
    return s;
}

int field_append(buf *out, span s, buf *fix, long *fixed, size_t *bad_at)
{
    size_t ok = utf8_valid_prefix(s.p, s.n);
    if (ok < s.n) {
        if (!fix) {
            *bad_at = ok;
            return 1;
        }
        if (buf_reserve(fix, UTF8_FIX_MAX(s.n)))
            return 0; /* fix->oom tells */
        fix->len = utf8_fix(fix->data, s.p, s.n, NULL);
        s = (span){fix->data, fix->len};
        (*fixed)++;
    }
    s = field_trim(s);
    buf_append(out, s.p, s.n);
    return 0;
}

int field_join_text(buf *out, const span *f, int n, buf *fix, long *fixed, size_t *bad_at)
{
    out->len = 0;
    for (int i = 0; i < n; i++) {
        size_t mark = out->len;
        if (!f[i].p)
            continue;
        if (mark > 0)
            buf_append(out, " ", 1);
        if (field_append(out, f[i], fix, fixed, bad_at))
            return i + 1;
        if (out->len == mark + (mark > 0))
            out->len = mark; /* an empty field: take back the space */
    }
    if (buf_reserve(out, 0) == 0)
        out->data[out->len] = '\0';
    return 0;
}
