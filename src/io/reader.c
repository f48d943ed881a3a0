/* The streaming catalog reader: opens the input, dispatches to the format, and turns each
 * raw row into a product (UTF-8 checked or repaired, fields trimmed, text columns joined),
 * counting or reporting bad rows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/reader_impl.h"

shelf_status reader_bad(shelf_reader *r, long line, const char *why, shelf_error *err)
{
    shelf_error e;
    err_set(&e, SHELF_EDATA, "%s:%ld: %s", r->name, line, why);
    if (!r->skip_bad) {
        if (err)
            *err = e;
        return SHELF_EDATA;
    }
    if (r->stats.skipped++ == 0)
        memcpy(r->stats.first_skip, e.message, sizeof e.message);
    return SHELF_OK;
}

row_status reader_next_line(shelf_reader *r, int (*blank)(const char *, size_t),
                            const char **s, size_t *n, long *line, char *why, size_t whysz,
                            shelf_error *err)
{
    line_status ls;
    while ((ls = lines_next(&r->in, s, n)) == LINE_OK && blank(*s, *n))
        ;
    *line = r->in.lineno;
    if (ls == LINE_EOF)
        return ROW_END;
    if (ls == LINE_TOOLONG) {
        snprintf(why, whysz, "line longer than 16 MiB");
        return ROW_BAD;
    }
    if (ls == LINE_RUNAWAY) {
        char what[96];
        snprintf(what, sizeof what, "line longer than %zu MiB without a line break",
                 (r->in.skip_long ? LINES_SKIP_MAX : LINES_MAX) >> 20);
        reader_runaway(r, *line, what, err);
        return ROW_FAIL;
    }
    if (ls != LINE_OK) {
        reader_read_error(r, ls, err);
        return ROW_FAIL;
    }
    return ROW_OK;
}

shelf_status reader_runaway(shelf_reader *r, long line, const char *why, shelf_error *err)
{
    return err_set(err, SHELF_EDATA, "%s:%ld: %s: stopped reading (is it a %s file?)", r->name,
                   line, why, io_format_name(r->format));
}

shelf_status reader_read_error(shelf_reader *r, line_status ls, shelf_error *err)
{
    if (ls == LINE_EIO)
        return err_set(err, SHELF_EIO, "%s:%ld: read error: %s", r->name, r->in.lineno + 1,
                       lines_error_text(&r->in));
    return err_set(err, SHELF_ENOMEM, "%s:%ld: out of memory", r->name, r->in.lineno + 1);
}

/* ---- products from rows ------------------------------------------------------------ */

/* Appends field s of column col to out as field_append does, repairing invalid UTF-8 under
 * fix_utf8. Returns 0, or 1 with why set. */
static int append_field(shelf_reader *r, buf *out, span s, const char *col, long *fixed,
                        char *why, size_t whysz)
{
    size_t bad = 0;
    if (field_append(out, s, r->fix_utf8 ? &r->fixed : NULL, fixed, &bad) == 0)
        return 0;
    snprintf(why, whysz, "invalid UTF-8 in column '%s' at byte %zu", col, bad);
    return 1;
}

/* Rewrites "A  >  B" as "A > B" for label_sep " > ": each part of a path is trimmed. */
static void normalize_path(shelf_reader *r)
{
    const char *sep = r->label_sep;
    size_t seplen = strlen(sep);
    if (seplen == 0 || !strstr(r->label.data, sep))
        return;
    r->tmp.len = 0;
    for (const char *p = r->label.data;;) {
        const char *q = strstr(p, sep);
        span part = field_trim((span){p, q ? (size_t)(q - p) : strlen(p)});
        buf_append(&r->tmp, part.p, part.n);
        if (!q)
            break;
        buf_append(&r->tmp, sep, seplen);
        p = q + seplen;
    }
    buf t = r->label;
    r->label = r->tmp;
    r->tmp = t;
}

/* Sets out to field s of column col, as append_field makes it; "" when s is absent. */
static int take_field(shelf_reader *r, buf *out, span s, const char *col, long *fixed,
                      char *why, size_t whysz)
{
    out->len = 0;
    if (s.p && append_field(r, out, s, col, fixed, why, whysz))
        return 1;
    if (buf_reserve(out, 0) == 0)
        out->data[out->len] = '\0';
    return 0;
}

/* Cuts the label path after its first max_depth levels: "A > B > C" at depth 2 is
 * "A > B". */
static void truncate_path(shelf_reader *r)
{
    size_t seplen = strlen(r->label_sep);
    if (r->max_depth <= 0 || seplen == 0)
        return;
    char *p = r->label.data;
    for (int level = 1; (p = strstr(p, r->label_sep)) != NULL; level++, p += seplen) {
        if (level == r->max_depth) {
            *p = '\0';
            r->label.len = (size_t)(p - r->label.data);
            return;
        }
    }
}

/* The label is empty when its field is; a label that cannot be read stops the row only
 * when labels are needed (predict reads none, so a broken one costs it no product). */
static int take_label(shelf_reader *r, const row *rw, long *fixed, char *why, size_t whysz)
{
    if (take_field(r, &r->label, rw->label, r->cols.label_name, fixed, why, whysz)) {
        if (r->require_label)
            return 1;
        r->label.len = 0;
        buf_append(&r->label, "", 0);
        return 0;
    }
    if (r->label.oom)
        return 0;
    if (r->label.len > 0) {
        normalize_path(r);
        if (!r->label.oom) /* finish_row tells; the path may be gone */
            truncate_path(r);
        return 0;
    }
    if (!r->require_label)
        return 0;
    if (r->format == SHELF_FORMAT_FASTTEXT && !rw->label.p)
        snprintf(why, whysz, "no __label__ token");
    else
        snprintf(why, whysz, "empty label in column '%s'", r->cols.label_name);
    return 2;
}

/* Joins the text columns (io/field.h). */
static int take_text(shelf_reader *r, const row *rw, long *fixed, char *why, size_t whysz)
{
    size_t bad = 0;
    int col = field_join_text(&r->text, rw->text, r->cols.ntext, r->fix_utf8 ? &r->fixed : NULL,
                              fixed, &bad);
    if (col == 0)
        return 0;
    snprintf(why, whysz, "invalid UTF-8 in column '%s' at byte %zu", r->cols.text_name[col - 1],
             bad);
    return 1;
}

/* The decimal digits of a line number, without printf: it runs for every row of a
 * catalog without an id column. */
static void append_line_number(buf *out, long line)
{
    char digits[24];
    size_t n = 0;
    unsigned long v = line < 0 ? 0 : (unsigned long)line;
    do
        digits[sizeof digits - ++n] = (char)('0' + v % 10);
    while ((v /= 10) > 0);
    buf_append(out, digits + sizeof digits - n, n);
}

static int take_id(shelf_reader *r, const row *rw, long *fixed, char *why, size_t whysz)
{
    if (rw->id.p)
        return take_field(r, &r->id, rw->id, r->cols.id_name, fixed, why, whysz);
    r->id.len = 0;
    append_line_number(&r->id, rw->line);
    return 0;
}

/* The kept columns' values, trimmed as every field, one after another in r->kept with their
 * NULs; r->kept_at points at each once they stop moving. Invalid UTF-8 is replaced, never a
 * bad row: a column kept for an output must not change which products are read. */
static void take_kept(shelf_reader *r, const row *rw)
{
    r->kept.len = 0;
    for (int i = 0; i < r->cols.nkeep; i++) {
        span s = rw->kept[i];
        r->kept_off[i] = r->kept.len;
        long repaired = 0;
        size_t bad = 0;
        if (s.p)
            field_append(&r->kept, s, &r->fixed, &repaired, &bad);
        buf_append(&r->kept, "", 1);
    }
    for (int i = 0; i < r->cols.nkeep && !r->kept.oom; i++)
        r->kept_at[i] = r->kept.data + r->kept_off[i];
}

/* Makes the product of a row. Returns 0, 1 for a bad row (why says why), 2 for a row
 * without the label it needs, -1 when out of memory. */
static int finish_row(shelf_reader *r, const row *rw, shelf_product *out, char *why,
                      size_t whysz)
{
    long fixed = 0;
    int label = take_label(r, rw, &fixed, why, whysz);
    if (label)
        return label;
    if (take_id(r, rw, &fixed, why, whysz) ||
        take_text(r, rw, &fixed, why, whysz) ||
        take_field(r, &r->image, rw->image, r->cols.image_name, &fixed, why, whysz))
        return 1;
    take_kept(r, rw);
    if (r->label.oom || r->id.oom || r->text.oom || r->image.oom || r->fixed.oom ||
        r->tmp.oom || r->kept.oom)
        return -1;
    *out = (shelf_product){r->id.data, r->text.data, r->label.data, r->image.data,
                           rw->line, NULL, 0};
    r->stats.rows++;
    r->stats.utf8_replaced += fixed;
    r->stats.empty_text += r->text.len == 0;
    return 0;
}

/* ---- the public API ---------------------------------------------------------------- */

/* Rows without a label are counted, not fatal one by one: a catalog with many of them
 * gets one message at the end that says how many and where. */
static void note_unlabelled(shelf_reader *r, long line)
{
    if (r->unlabelled < (long)(sizeof r->unlabelled_at / sizeof r->unlabelled_at[0]))
        r->unlabelled_at[r->unlabelled] = line;
    r->unlabelled++;
}

static shelf_status unlabelled_error(shelf_reader *r, shelf_error *err)
{
    const char *what = r->format == SHELF_FORMAT_FASTTEXT ? "no __label__ token" : NULL;
    char col[160];
    snprintf(col, sizeof col, "an empty label in column '%.100s'", r->cols.label_name);
    if (r->unlabelled == 1)
        return err_set(err, SHELF_EDATA, "%s:%ld: %s%s; pass --skip-bad to skip such rows",
                       r->name, r->unlabelled_at[0], what ? "" : "row with ", what ? what : col);
    char lines[96];
    size_t n = 0;
    int shown = r->unlabelled < 3 ? (int)r->unlabelled : 3;
    for (int i = 0; i < shown; i++)
        n += (size_t)snprintf(lines + n, sizeof lines - n, "%s%ld", i ? ", " : "",
                              r->unlabelled_at[i]);
    return err_set(err, SHELF_EDATA,
                   "%s:%ld: %ld rows have %s (at lines %s%s); pass --skip-bad to skip them",
                   r->name, r->unlabelled_at[0], r->unlabelled, what ? what : col, lines,
                   r->unlabelled > shown ? ", ..." : "");
}

static row_status next_row(shelf_reader *r, row *rw, char *why, size_t whysz,
                           shelf_error *err)
{
    switch (r->format) {
    case SHELF_FORMAT_JSONL:
        return jsonl_row(r, rw, why, whysz, err);
    case SHELF_FORMAT_FASTTEXT:
        return fasttext_row(r, rw, why, whysz, err);
    default:
        return dsv_row(r, rw, why, whysz, err);
    }
}

shelf_status shelf_reader_next(shelf_reader *r, shelf_product *out, shelf_error *err)
{
    shelf_error local;
    if (!err)
        err = &local;
    if (!r || !out)
        return err_set(err, SHELF_EINVAL, "shelf_reader_next: NULL argument");
    char why[768];
    for (;;) {
        row rw = {.text = r->parts, .kept = r->kept_parts};
        row_status st = r->done ? ROW_END : next_row(r, &rw, why, sizeof why, err);
        if (st == ROW_END) {
            r->done = 1;
            return r->unlabelled ? unlabelled_error(r, err) : SHELF_END;
        }
        if (st == ROW_FAIL)
            return err->code;
        int bad = st == ROW_OK ? finish_row(r, &rw, out, why, sizeof why) : 1;
        if (bad == 0)
            return SHELF_OK;
        if (bad < 0)
            return err_set(err, SHELF_ENOMEM, "%s:%ld: out of memory", r->name, rw.line);
        if (bad == 2 && !r->skip_bad) {
            note_unlabelled(r, rw.line);
            continue;
        }
        shelf_status s = reader_bad(r, rw.line, why, err);
        if (s != SHELF_OK)
            return s;
    }
}

static shelf_status open_file(shelf_reader *r, const char *path, shelf_error *err)
{
    if (strcmp(path, "-") == 0) {
        r->f = stdin;
        r->from_stdin = 1;
        return SHELF_OK;
    }
    r->f = fopen(path, "rb");
    if (!r->f)
        return err_set(err, SHELF_EIO, "%s: cannot open: %s", path, strerror(errno));
    r->own_f = 1;
    struct stat st;
    if (fstat(fileno(r->f), &st) == 0 && S_ISDIR(st.st_mode))
        return err_set(err, SHELF_EIO, "%s: cannot open: %s", path, strerror(EISDIR));
    return SHELF_OK;
}

/* Every input goes through zlib, which reads gzip (by its magic bytes, whatever the name)
 * and passes anything else through as it is. */
static shelf_status attach(shelf_reader *r, shelf_error *err)
{
    if (lines_attach(&r->in, fileno(r->f)))
        return err_set(err, SHELF_EIO, "%s: cannot open: %s", r->name, strerror(errno));
    return SHELF_OK;
}

static shelf_status open_format(shelf_reader *r, const shelf_read_options *o,
                                shelf_error *err)
{
    shelf_status st;
    if (r->format == SHELF_FORMAT_JSONL)
        st = jsonl_open(r, o, err);
    else if (r->format == SHELF_FORMAT_FASTTEXT)
        st = fasttext_open(r, o, err);
    else
        st = dsv_open(r, o, err);
    if (st != SHELF_OK || r->done)
        return st;
    r->parts = mem_calloc((size_t)r->cols.ntext, sizeof *r->parts);
    r->kept_parts = mem_calloc((size_t)r->cols.nkeep + 1, sizeof *r->kept_parts);
    r->kept_at = mem_calloc((size_t)r->cols.nkeep + 1, sizeof *r->kept_at);
    r->kept_off = mem_calloc((size_t)r->cols.nkeep + 1, sizeof *r->kept_off);
    return r->parts && r->kept_parts && r->kept_at && r->kept_off
               ? SHELF_OK
               : err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
}

static shelf_status reader_init(shelf_reader *r, const char *path,
                                const shelf_read_options *o, shelf_error *err)
{
    r->require_label = o->require_label;
    r->skip_bad = o->skip_bad;
    r->fix_utf8 = o->fix_utf8;
    r->max_depth = o->max_depth;
    r->cols.label = r->cols.id = r->cols.image = -1;
    r->name = mem_strdup(io_display_name(path));
    r->label_sep = mem_strdup(o->label_sep ? o->label_sep : SHELF_DEFAULT_LABEL_SEP);
    if (!r->name || !r->label_sep || lines_init(&r->in))
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", io_display_name(path));
    r->in.skip_long = o->skip_bad;
    return io_detect_format(path, o->format, &r->format, err);
}

shelf_status shelf_reader_open(const char *path, const shelf_read_options *opts,
                               shelf_reader **out, shelf_error *err)
{
    shelf_error local;
    if (!err)
        err = &local;
    if (!path || !out)
        return err_set(err, SHELF_EINVAL, "shelf_reader_open: NULL argument");
    *out = NULL;
    shelf_read_options o = {0};
    if (opts)
        o = *opts;
    shelf_reader *r = mem_calloc(1, sizeof *r);
    if (!r)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", io_display_name(path));
    shelf_status st = reader_init(r, path, &o, err);
    if (st == SHELF_OK)
        st = open_file(r, path, err);
    if (st == SHELF_OK)
        st = attach(r, err);
    if (st == SHELF_OK)
        st = open_format(r, &o, err);
    if (st != SHELF_OK) {
        shelf_reader_close(r);
        return st;
    }
    *out = r;
    return SHELF_OK;
}

void shelf_reader_stats(const shelf_reader *r, shelf_read_stats *out)
{
    if (!out)
        return;
    if (r)
        *out = r->stats;
    else
        memset(out, 0, sizeof *out);
}

void shelf_reader_progress(const shelf_reader *r, uint64_t *done, uint64_t *total)
{
    *done = *total = 0;
    struct stat st;
    if (!r || !r->f || fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode))
        return;
    *total = (uint64_t)st.st_size;
    *done = (uint64_t)lines_offset(&r->in);
}

int shelf_reader_nkept(const shelf_reader *r) { return r ? r->cols.nkeep : 0; }

const char *shelf_reader_kept_name(const shelf_reader *r, int j)
{
    return r && j >= 0 && j < r->cols.nkeep ? r->cols.keep_name[j] : NULL;
}

const char *const *shelf_reader_kept(const shelf_reader *r)
{
    return r && r->cols.nkeep && r->kept.len ? r->kept_at : NULL; /* len: a product read */
}

void shelf_reader_close(shelf_reader *r)
{
    if (!r)
        return;
    dsv_free(r);
    jsonl_free(r);
    fasttext_free(r);
    columns_free(&r->cols);
    if (r->own_f && r->f)
        fclose(r->f);
    lines_free(&r->in);
    mem_free(r->parts);
    mem_free(r->kept_parts);
    mem_free(r->kept_at);
    mem_free(r->kept_off);
    buf_free(&r->kept);
    mem_free(r->name);
    mem_free(r->label_sep);
    buf_free(&r->text);
    buf_free(&r->label);
    buf_free(&r->id);
    buf_free(&r->image);
    buf_free(&r->fixed);
    buf_free(&r->tmp);
    mem_free(r);
}
