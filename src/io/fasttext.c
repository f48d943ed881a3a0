/* fastText's training format: "__label__Apparel_>_Topwear __label__Other some text".
 * The first __label__ token is the product's label, with '_' standing for a space as
 * fastText users write it; further leading __label__ tokens are dropped (shelf predicts
 * one path per product); the rest of the line is the text. There is no header and no id
 * column: a product's id is its line number. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "io/reader_impl.h"

#define PREFIX "__label__"
enum { PREFIX_LEN = sizeof PREFIX - 1 };

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

static const char *skip_space(const char *p, const char *e)
{
    while (p < e && is_space(*p))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *e)
{
    while (p < e && !is_space(*p))
        p++;
    return p;
}

/* Only spaces, and perhaps the '\r' of a CRLF ending. */
static int blank(const char *s, size_t n)
{
    const char *p = skip_space(s, s + n);
    return p == s + n || (p + 1 == s + n && *p == '\r');
}

/* Splits s[0..n) into label (NULL when no __label__ token leads) and text. */
static void split(shelf_reader *r, const char *s, size_t n, row *out)
{
    const char *p = skip_space(s, s + n), *e = s + n;
    out->label = (span){NULL, 0};
    r->ftlabel.len = 0;
    while ((size_t)(e - p) >= PREFIX_LEN && memcmp(p, PREFIX, PREFIX_LEN) == 0) {
        const char *end = skip_token(p, e);
        if (!out->label.p && buf_reserve(&r->ftlabel, (size_t)(end - p)) == 0) {
            buf_append(&r->ftlabel, p + PREFIX_LEN, (size_t)(end - p) - PREFIX_LEN);
            for (char *c = r->ftlabel.data; *c; c++)
                *c = *c == '_' ? ' ' : *c;
            out->label = (span){r->ftlabel.data, r->ftlabel.len};
        }
        p = skip_space(end, e);
    }
    out->text[0] = (span){p, (size_t)(e - p)};
    out->id = out->image = (span){NULL, 0};
}

shelf_status fasttext_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err)
{
    if (o->image_column) /* a model that needs images would get none */
        return err_set(err, SHELF_EDATA, "%s: no image column '%s': the fastText format has "
                       "no images", r->name, o->image_column);
    if (o->keep_columns && o->keep_columns[strspn(o->keep_columns, " \t,")])
        return err_set(err, SHELF_EDATA, "%s: no columns to keep: the fastText format has no "
                       "columns", r->name);
    if (lines_at_eof(&r->in))
        return err_set(err, SHELF_EDATA, "%s: empty file", r->name);
    /* Fixed pseudo-columns, so that messages can name the field. */
    static const char *const names[] = {"text", "label"};
    shelf_read_options fixed = {.text_columns = "text", .label_column = "label"};
    return columns_resolve(&r->cols, names, 2, &fixed, r->name, err);
}

row_status fasttext_row(shelf_reader *r, row *out, char *why, size_t whysz, shelf_error *err)
{
    const char *s;
    size_t n;
    row_status rs = reader_next_line(r, blank, &s, &n, &out->line, why, whysz, err);
    if (rs != ROW_OK)
        return rs;
    if (memchr(s, '\0', n)) {
        snprintf(why, whysz, "binary data (NUL byte)");
        return ROW_BAD;
    }
    if (n > 0 && s[n - 1] == '\r')
        n--;
    split(r, s, n, out);
    if (r->ftlabel.oom) {
        err_set(err, SHELF_ENOMEM, "%s:%ld: out of memory", r->name, out->line);
        return ROW_FAIL;
    }
    return ROW_OK;
}

void fasttext_free(shelf_reader *r) { buf_free(&r->ftlabel); }
