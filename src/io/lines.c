#include "io/lines.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Big enough that most lines are returned in place, without a copy. */
enum { LINES_CHUNK = 256 << 10 };

int lines_init(lines *l, FILE *f)
{
    memset(l, 0, sizeof *l);
    l->f = f;
    buf_init(&l->line);
    l->chunk = malloc(LINES_CHUNK);
    return l->chunk ? 0 : -1;
}

void lines_free(lines *l)
{
    free(l->chunk);
    buf_free(&l->line);
    memset(l, 0, sizeof *l);
}

/* Refills an empty chunk. Returns 1 when bytes are available, 0 at end of input or on a
 * read error (l->error says which). */
static int refill(lines *l)
{
    if (l->eof || l->error)
        return 0;
    errno = 0;
    size_t got = fread(l->chunk, 1, LINES_CHUNK, l->f);
    l->pos = 0;
    l->end = got;
    if (got > 0)
        return 1;
    if (ferror(l->f))
        l->error = errno ? errno : EIO;
    else
        l->eof = 1;
    return 0;
}

int lines_at_eof(lines *l)
{
    return l->pos == l->end && !refill(l) && !l->error;
}

/* A line of exactly LINES_MAX bytes plus a '\r' of a CRLF ending is still acceptable. */
static int too_long(const char *s, size_t n)
{
    return n > LINES_MAX && !(n == LINES_MAX + 1 && s[n - 1] == '\r');
}

static void strip_bom(const lines *l, const char **s, size_t *n)
{
    if (l->lineno == 1 && *n >= 3 && memcmp(*s, "\xEF\xBB\xBF", 3) == 0) {
        *s += 3;
        *n -= 3;
    }
}

static void see(lines *l, const char *s, size_t n)
{
    if (l->skipped && n > 0)
        l->skipped(l->skipped_ctx, s, n);
}

/* Returns the line in place when it lies whole in the chunk, else assembles it in l->line.
 * Past LINES_MAX + 1 bytes it stops storing and, under skip_long, only looks for the end
 * of the line, up to LINES_SKIP_MAX bytes. */
line_status lines_next(lines *l, const char **s, size_t *n)
{
    int any = 0, skipping = 0;
    size_t skipped = 0;
    l->line.len = 0;
    for (;;) {
        if (l->pos == l->end && !refill(l)) {
            if (l->error)
                return LINE_EIO;
            if (!any)
                return LINE_EOF;
            break;
        }
        any = 1;
        char *start = l->chunk + l->pos;
        char *nl = memchr(start, '\n', l->end - l->pos);
        size_t take = nl ? (size_t)(nl - start) : l->end - l->pos;
        l->pos += take + (nl != NULL);
        if (nl && l->line.len == 0 && !skipping && !too_long(start, take)) {
            l->lineno++;
            *s = start;
            *n = take;
            strip_bom(l, s, n);
            return LINE_OK;
        }
        if (!skipping && l->line.len + take > LINES_MAX + 1) {
            skipping = 1;
            skipped = l->line.len;
            see(l, l->line.data, l->line.len);
            buf_free(&l->line); /* don't keep a giant buffer alive for one bad line */
        }
        if (skipping) {
            skipped += take;
            see(l, start, take);
            if (!l->skip_long || skipped > LINES_SKIP_MAX) {
                l->lineno++;
                return LINE_RUNAWAY;
            }
        } else {
            buf_append(&l->line, start, take);
        }
        if (nl)
            break;
    }
    l->lineno++;
    if (skipping || too_long(l->line.data, l->line.len))
        return LINE_TOOLONG;
    if (buf_reserve(&l->line, 0)) {
        buf_free(&l->line); /* clears the out-of-memory mark for the next line */
        return LINE_ENOMEM;
    }
    *s = l->line.data;
    *n = l->line.len;
    strip_bom(l, s, n);
    return LINE_OK;
}
