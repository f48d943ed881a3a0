#include "io/lines.h"
#include "core/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Big enough that most lines are returned in place, without a copy. */
enum { LINES_CHUNK = 256 << 10 };

int lines_init(lines *l)
{
    memset(l, 0, sizeof *l);
    buf_init(&l->line);
    l->chunk = mem_alloc(LINES_CHUNK);
    return l->chunk ? 0 : -1;
}

int lines_attach(lines *l, int fd)
{
    int copy = dup(fd);
    if (copy < 0)
        return -1;
    l->gz = gzdopen(copy, "rb");
    if (!l->gz) {
        close(copy);
        errno = ENOMEM;
        return -1;
    }
    gzbuffer(l->gz, LINES_CHUNK / 4); /* reads of a chunk then skip its buffer */
    return 0;
}

void lines_free(lines *l)
{
    if (l->gz)
        gzclose_r(l->gz);
    mem_free(l->chunk);
    buf_free(&l->line);
    memset(l, 0, sizeof *l);
}

const char *lines_error_text(const lines *l)
{
    return l->zerror[0] ? l->zerror : strerror(l->error);
}

long long lines_offset(const lines *l)
{
    if (!l->gz)
        return 0;
    long long at = (long long)gzoffset(l->gz);
    if (gzdirect(l->gz)) /* read as it is: the chunk's unparsed bytes are not consumed */
        at -= (long long)(l->end - l->pos);
    return at < 0 ? 0 : at;
}

/* Refills an empty chunk. Returns 1 when bytes are available, 0 at end of input or on a
 * read error (l->error says which). A gzip stream cut short ends in an error, not an end. */
static int refill(lines *l)
{
    if (l->eof || l->error || !l->gz)
        return 0;
    unsigned want = LINES_CHUNK;
    if (l->limit && l->limit - l->at < want) /* a part ends there */
        want = (unsigned)(l->limit > l->at ? l->limit - l->at : 0);
    l->pos = l->end = 0;
    if (!want) {
        l->eof = 1;
        return 0;
    }
    errno = 0;
    int got = gzread(l->gz, l->chunk, want);
    l->end = got > 0 ? (size_t)got : 0;
    l->at += l->end;
    if (got > 0)
        return 1;
    int code = Z_OK;
    const char *msg = gzerror(l->gz, &code);
    if (got == 0 && code == Z_OK) {
        l->eof = 1;
        return 0;
    }
    l->error = code == Z_ERRNO && errno ? errno : EIO;
    const char *colon = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
    if (code != Z_ERRNO) /* zlib names the input "<fd:N>": the reader names it better */
        snprintf(l->zerror, sizeof l->zerror, "gzip data: %s", colon ? colon + 2 : msg);
    return 0;
}

int lines_part(lines *l, uint64_t from, long lineno, uint64_t to)
{
    if (!l->gz || !gzdirect(l->gz)) {
        l->error = ESPIPE;
        return -1;
    }
    if (from > lines_tell(l)) {
        if (gzseek(l->gz, (z_off_t)from, SEEK_SET) < 0) {
            l->error = errno ? errno : EIO;
            return -1;
        }
        l->pos = l->end = 0;
        l->at = from;
        l->lineno = lineno;
        l->eof = 0;
    }
    l->limit = to;
    if (to && l->at > to) { /* read ahead past the end: forget those bytes */
        uint64_t over = l->at - to;
        l->end = l->end - l->pos > over ? l->end - (size_t)over : l->pos;
        l->at = to;
    }
    return 0;
}

size_t lines_peek(lines *l, const char **s)
{
    if (l->pos == l->end)
        refill(l);
    *s = l->chunk + l->pos;
    return l->end - l->pos;
}

void lines_skip(lines *l, size_t n) { l->pos += n; }

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
        /* (a line whose start could not be stored is not its end alone: LINE_ENOMEM) */
        if (nl && l->line.len == 0 && !l->line.oom && !skipping && !too_long(start, take)) {
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
