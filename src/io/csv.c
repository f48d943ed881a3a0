#include "io/csv.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the scanner stands within a field. S_QUOTE: a '"' was seen inside a quoted field;
 * the next byte says whether it was a doubled quote or the closing one. */
enum { S_START, S_PLAIN, S_QUOTED, S_QUOTE };

char *record_field(const record *rec, int i, size_t *len)
{
    size_t end = i + 1 < rec->n ? rec->start[i + 1] : rec->data.len;
    if (len)
        *len = end - rec->start[i] - 1;
    return rec->data.data + rec->start[i];
}

void record_free(record *rec)
{
    buf_free(&rec->data);
    mem_free(rec->start);
    memset(rec, 0, sizeof *rec);
}

/* Starts a new field at the end of data. Returns -1 when out of memory. */
static int field_begin(record *rec)
{
    if (rec->n == rec->cap) {
        int cap = rec->cap ? rec->cap * 2 : 16;
        size_t *p = mem_realloc(rec->start, (size_t)cap * sizeof *p);
        if (!p) {
            rec->data.oom = 1; /* so that csv_next reports it */
            return -1;
        }
        rec->start = p;
        rec->cap = cap;
    }
    rec->start[rec->n++] = rec->data.len;
    return 0;
}

/* Ends the current field and starts the next. */
static int field_next(record *rec)
{
    buf_append(&rec->data, "", 1);
    return field_begin(rec);
}

/* The current field's column name, for messages. */
static void name_field(const csv_parser *p, const record *rec, char *out, size_t size)
{
    int i = rec->n - 1;
    if (p->names && i < p->expected)
        snprintf(out, size, "column '%s'", p->names[i]);
    else
        snprintf(out, size, "field %d", i + 1);
}

static int after_quote_bad(const csv_parser *p, const record *rec, char c, char *why,
                           size_t whysz)
{
    char field[128];
    name_field(p, rec, field, sizeof field);
    if (c > ' ' && c < 0x7f)
        snprintf(why, whysz, "unexpected '%c' after the closing quote in %s", c, field);
    else
        snprintf(why, whysz, "unexpected byte 0x%02x after the closing quote in %s",
                 (unsigned char)c, field);
    return -1;
}

/* Scans an unquoted run up to the next separator; a '\r' ending the line is the CRLF's. */
static size_t scan_plain(const csv_parser *p, record *rec, int *state, const char *s,
                         size_t i, size_t n)
{
    const char *sep = memchr(s + i, p->sep, n - i);
    size_t j = sep ? (size_t)(sep - s) : n, m = j - i;
    if (!sep && m > 0 && s[n - 1] == '\r')
        m--;
    buf_append(&rec->data, s + i, m);
    if (!sep)
        return n;
    *state = S_START;
    return field_next(rec) ? n : j + 1;
}

static size_t scan_quoted(record *rec, int *state, const char *s, size_t i, size_t n)
{
    const char *q = memchr(s + i, '"', n - i);
    size_t j = q ? (size_t)(q - s) : n;
    buf_append(&rec->data, s + i, j - i);
    if (!q)
        return n;
    *state = S_QUOTE;
    return j + 1;
}

/* Scans one line of a record. Returns 1 when the record ends with it, 0 when it goes on
 * inside a quoted field, -1 when it is bad (why says why). */
static int scan_line(const csv_parser *p, record *rec, int *state, const char *s, size_t n,
                     char *why, size_t whysz)
{
    if (memchr(s, '\0', n)) {
        snprintf(why, whysz, "binary data (NUL byte)");
        return -1;
    }
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        switch (*state) {
        case S_START:
            *state = p->quoting && c == '"' ? S_QUOTED : S_PLAIN;
            i += *state == S_QUOTED;
            break;
        case S_PLAIN:
            i = scan_plain(p, rec, state, s, i, n);
            break;
        case S_QUOTED:
            i = scan_quoted(rec, state, s, i, n);
            break;
        default: /* S_QUOTE */
            if (c == '"') {
                buf_append(&rec->data, "\"", 1);
                *state = S_QUOTED;
            } else if (c == p->sep) {
                *state = S_START;
                field_next(rec);
            } else if (!(c == '\r' && i + 1 == n)) {
                return after_quote_bad(p, rec, c, why, whysz);
            }
            i++;
        }
    }
    if (*state != S_QUOTED)
        return 1;
    buf_append(&rec->data, "\n", 1); /* the line break belongs to the quoted field */
    return 0;
}

static int blank(const char *s, size_t n) { return n == 0 || (n == 1 && s[0] == '\r'); }

static csv_status unterminated(const csv_parser *p, const record *rec, char *why,
                               size_t whysz)
{
    char field[128];
    name_field(p, rec, field, sizeof field);
    snprintf(why, whysz, "unterminated quote in %s: the quoted field runs to the end of the file",
             field);
    return CSV_BAD;
}

static csv_status check_count(const csv_parser *p, const record *rec, char *why,
                              size_t whysz)
{
    if (p->expected == 0 || rec->n == p->expected)
        return CSV_OK;
    snprintf(why, whysz, "expected %d fields, found %d", p->expected, rec->n);
    return CSV_BAD;
}

/* Follows the quoting of s[0..n) from *state without keeping anything: how the rest of a
 * bad record is passed over. A byte that scan_line would refuse after a closing quote
 * counts as unquoted text. */
static void follow(const csv_parser *p, int *state, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (*state == S_QUOTED) {
            const char *q = memchr(s + i, '"', n - i);
            if (!q)
                return;
            i = (size_t)(q - s);
            *state = S_QUOTE;
        } else if (*state == S_QUOTE && s[i] == '"') {
            *state = S_QUOTED;
        } else if (s[i] == p->sep) {
            *state = S_START;
        } else if (*state == S_START && s[i] == '"' && p->quoting) {
            *state = S_QUOTED;
        } else {
            *state = S_PLAIN;
        }
    }
}

/* What lines_next hands over of a line too long to keep. */
typedef struct follower {
    const csv_parser *p;
    int state;
} follower;

static void follow_skipped(void *ctx, const char *s, size_t n)
{
    follower *f = ctx;
    follow(f->p, &f->state, s, n);
}

/* Reads on to the end of a bad record whose quoting is at fw->state after a line break:
 * CSV_BAD there, CSV_RUNAWAY when the record goes on past LINES_SKIP_MAX bytes (total so
 * far) or a line runs away. */
static csv_status skip_record(lines *in, follower *fw, size_t total, char *why, size_t whysz)
{
    while (fw->state == S_QUOTED) {
        const char *s = NULL;
        size_t n = LINES_MAX;
        line_status ls = lines_next(in, &s, &n); /* a skipped line: fw follows it */
        if (ls == LINE_EOF)
            break;
        if (ls == LINE_EIO)
            return CSV_EIO;
        if (ls == LINE_ENOMEM)
            return CSV_ENOMEM;
        total += n + 1;
        if (ls == LINE_RUNAWAY || total > LINES_SKIP_MAX) {
            snprintf(why, whysz, "record longer than %zu MiB (a quoted field that does not end?)",
                     (ls == LINE_RUNAWAY && !in->skip_long ? LINES_MAX : LINES_SKIP_MAX) >> 20);
            return CSV_RUNAWAY;
        }
        if (ls == LINE_OK)
            follow(fw->p, &fw->state, s, n);
    }
    return CSV_BAD;
}

/* Accepts the next line into the record. Returns CSV_OK to scan it, CSV_END for a blank
 * line before the record starts (skip it), else the status to return. */
static csv_status take_line(lines *in, record *rec, line_status ls, const char *s, size_t n,
                            size_t *total, char *why, size_t whysz)
{
    if (ls == LINE_EIO)
        return CSV_EIO;
    if (ls == LINE_ENOMEM)
        return CSV_ENOMEM;
    int first = rec->n == 0;
    if (first && ls == LINE_OK && blank(s, n))
        return CSV_END;
    if (first)
        rec->line = in->lineno;
    *total += (ls == LINE_OK ? n : LINES_MAX) + !first; /* a line break inside a quoted field
                                                          counts as a byte */
    if (ls == LINE_RUNAWAY) {
        snprintf(why, whysz, "line longer than %zu MiB without a line break",
                 (in->skip_long ? LINES_SKIP_MAX : LINES_MAX) >> 20);
        return CSV_RUNAWAY;
    }
    if (ls == LINE_TOOLONG || *total > LINES_MAX + 1) {
        snprintf(why, whysz, "%s longer than 16 MiB", first ? "line" : "record");
        return CSV_BAD;
    }
    return first && field_begin(rec) ? CSV_ENOMEM : CSV_OK;
}

static csv_status next_record(const csv_parser *p, lines *in, record *rec, follower *fw,
                              char *why, size_t whysz)
{
    size_t total = 0;
    rec->n = 0;
    rec->data.len = 0;
    for (;;) {
        const char *s = NULL;
        size_t n = 0;
        line_status ls = lines_next(in, &s, &n);
        if (ls == LINE_EOF)
            return rec->n ? unterminated(p, rec, why, whysz) : CSV_END;
        csv_status t = take_line(in, rec, ls, s, n, &total, why, whysz);
        if (t == CSV_END)
            continue;
        if (t == CSV_BAD) { /* lines_next followed a skipped line as it passed it over */
            if (ls == LINE_OK)
                follow(p, &fw->state, s, n);
            return skip_record(in, fw, total, why, whysz);
        }
        if (t != CSV_OK)
            return t;
        int at = fw->state;
        int r = scan_line(p, rec, &fw->state, s, n, why, whysz);
        if (r < 0) {
            fw->state = at;
            follow(p, &fw->state, s, n);
            return skip_record(in, fw, total, why, whysz);
        }
        if (r > 0)
            break;
    }
    buf_append(&rec->data, "", 1);
    if (rec->data.oom)
        return CSV_ENOMEM;
    return check_count(p, rec, why, whysz);
}

csv_status csv_next(const csv_parser *p, lines *in, record *rec, char *why, size_t whysz)
{
    follower fw = {p, S_START};
    if (p->quoting) {
        in->skipped = follow_skipped;
        in->skipped_ctx = &fw;
    }
    csv_status st = next_record(p, in, rec, &fw, why, whysz);
    in->skipped = NULL;
    in->skipped_ctx = NULL;
    return st;
}
