/* A catalog file in parts, for several processes (mpirun -np N shelf predict): the byte
 * ranges of about equal size that start on a record's first byte, found in one pass over
 * the file that follows CSV's quotes as the parser does (csv.c: a quote opens a quoted
 * field only at a field's start; in one, a doubled quote is a quote; a record ends at a
 * line break outside one); and a reader of one such part, which reads the header (or the
 * JSONL object that names the columns) from the file's start as every reader does. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/reader_impl.h"

enum { S_START, S_PLAIN, S_QUOTED, S_QUOTE }; /* as csv.c's */
enum { SCAN_CHUNK = 1 << 20 };

typedef struct scan {
    char sep;
    int csv;       /* follow quotes */
    int state;
    uint64_t at;   /* offset of the byte being read */
    long newlines; /* before it */
} scan;

/* Whether the line break at s[i] ends a record, the state moved over s[i]. */
static int ends_record(scan *k, char c)
{
    if (!k->csv)
        return c == '\n';
    if (k->state == S_QUOTED) {
        if (c == '"')
            k->state = S_QUOTE;
        return 0;
    }
    if (c == '\n') {
        k->state = S_START;
        return 1;
    }
    if (k->state == S_QUOTE && c == '"')
        k->state = S_QUOTED;
    else if (c == k->sep)
        k->state = S_START;
    else if (k->state == S_START && c == '"')
        k->state = S_QUOTED;
    else
        k->state = S_PLAIN;
    return 0;
}

static shelf_status refuse(const shelf_reader *r, const char *why, shelf_error *err)
{
    return err_set(err, SHELF_EINVAL, "%s cannot be read in parts: %s", r->name, why);
}

/* Why r (just opened) cannot be read in parts, or NULL. */
static const char *not_partable(shelf_reader *r)
{
    if (r->from_stdin)
        return "standard input has no size (give a file)";
    if (!r->in.gz || !gzdirect(r->in.gz))
        return "it is compressed (gunzip it first, or use one process)";
    if (r->in_array)
        return "it is one JSON array (write it as JSONL, an object a line)";
    return NULL;
}

shelf_status shelf_catalog_split(const char *path, const shelf_read_options *opts, int nparts,
                                 shelf_catalog_part *parts, shelf_error *err)
{
    if (!path || !parts || nparts < 1)
        return err_set(err, SHELF_EINVAL, "shelf_catalog_split: bad arguments");
    shelf_reader *r = NULL;
    shelf_status st = shelf_reader_open(path, opts, &r, err); /* the format, the separator */
    if (st != SHELF_OK)
        return st;
    const char *why = not_partable(r);
    if (why) {
        st = refuse(r, why, err);
        shelf_reader_close(r);
        return st;
    }
    scan k = {.sep = r->csv.sep,
              .csv = (r->format == SHELF_FORMAT_CSV || r->format == SHELF_FORMAT_TSV) &&
                     r->csv.quoting,
              .state = S_START};
    struct stat sb;
    char *chunk = mem_alloc(SCAN_CHUNK);
    int fd = fstat(fileno(r->f), &sb) == 0 ? open(path, O_RDONLY) : -1;
    if (!chunk || fd < 0) {
        st = chunk ? err_set(err, SHELF_EIO, "%s: cannot open: %s", r->name, strerror(errno))
                   : err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
        goto done;
    }
    const uint64_t size = (uint64_t)sb.st_size;
    parts[0] = (shelf_catalog_part){0, size, 1};
    int next = 1; /* the part whose start is looked for */
    uint64_t target = size / (uint64_t)nparts;
    while (next < nparts) {
        ssize_t got = read(fd, chunk, SCAN_CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            st = err_set(err, SHELF_EIO, "%s: read error: %s", r->name, strerror(errno));
            goto done;
        }
        if (got == 0)
            break;
        ssize_t i0 = 0;
        if (k.at == 0 && got >= 3 && memcmp(chunk, "\xEF\xBB\xBF", 3) == 0)
            i0 = 3, k.at = 3; /* a byte order mark, which the reader skips too */
        for (ssize_t i = i0; i < got; i++, k.at++) {
            const char c = chunk[i];
            const int end = ends_record(&k, c);
            if (c != '\n')
                continue;
            k.newlines++;
            if (!end) /* inside a quoted field */
                continue;
            /* a record starts at k.at + 1, on line k.newlines + 1 */
            while (next < nparts && k.at + 1 >= target) {
                parts[next - 1].end = k.at + 1;
                parts[next] = (shelf_catalog_part){k.at + 1, size, k.newlines + 1};
                next++;
                target = size / (uint64_t)nparts * (uint64_t)next;
            }
        }
    }
    for (; next < nparts; next++) /* a file of fewer records than parts: empty ones */
        parts[next - 1].end = size, parts[next] = (shelf_catalog_part){size, size, k.newlines + 1};
done:
    if (fd >= 0)
        close(fd);
    mem_free(chunk);
    shelf_reader_close(r);
    return st;
}

shelf_status shelf_reader_open_part(const char *path, const shelf_read_options *opts,
                                    const shelf_catalog_part *part, shelf_reader **out,
                                    shelf_error *err)
{
    shelf_status st = shelf_reader_open(path, opts, out, err);
    if (st != SHELF_OK || !part)
        return st;
    shelf_reader *r = *out;
    const char *why = not_partable(r);
    if (why)
        st = refuse(r, why, err);
    else if (part->start > 0) { /* the first record, read to name the columns, and any bad
                                   lines before it are the first part's */
        r->pending = 0;
        memset(&r->stats, 0, sizeof r->stats);
    }
    if (st == SHELF_OK && lines_part(&r->in, part->start, part->line - 1, part->end))
        st = err_set(err, SHELF_EIO, "%s: cannot seek: %s", r->name, lines_error_text(&r->in));
    if (st != SHELF_OK) {
        shelf_reader_close(r);
        *out = NULL;
    }
    return st;
}
