/* CSV and TSV catalogs: a header row naming the columns, then one record per product. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/reader_impl.h"
#include "text/utf8.h"

static shelf_status csv_failure(shelf_reader *r, csv_status st, shelf_error *err)
{
    return reader_read_error(r, st == CSV_EIO ? LINE_EIO : LINE_ENOMEM, err);
}

/* Trims the header names in place: " title " names the column "title". */
static char *trim_name(char *s, size_t n)
{
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A bad header is a file-level error, even under skip_bad: without it nothing can be read. */
static shelf_status check_header(shelf_reader *r, shelf_error *err)
{
    for (int i = 0; i < r->header.n; i++) {
        size_t n;
        char *s = record_field(&r->header, i, &n);
        size_t ok = utf8_valid_prefix(s, n);
        if (ok < n)
            return err_set(err, SHELF_EDATA,
                           "%s:%ld: invalid UTF-8 in the header, field %d at byte %zu",
                           r->name, r->header.line, i + 1, ok);
        r->names[i] = trim_name(s, n);
    }
    return SHELF_OK;
}

static shelf_status read_header(shelf_reader *r, shelf_error *err)
{
    char why[512];
    csv_status st = csv_next(&r->csv, &r->in, &r->header, why, sizeof why);
    if (st == CSV_END)
        return err_set(err, SHELF_EDATA, "%s:1: empty file, expected a header", r->name);
    if (st == CSV_BAD || st == CSV_RUNAWAY)
        return err_set(err, SHELF_EDATA, "%s:%ld: bad header: %s", r->name,
                       r->header.line, why);
    if (st != CSV_OK)
        return csv_failure(r, st, err);
    r->names = calloc((size_t)r->header.n, sizeof *r->names);
    if (!r->names)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    return check_header(r, err);
}

shelf_status dsv_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err)
{
    r->csv.sep = r->format == SHELF_FORMAT_TSV ? '\t' : ',';
    r->csv.quoting = r->format != SHELF_FORMAT_TSV;
    shelf_status st = read_header(r, err);
    if (st != SHELF_OK)
        return st;
    char where[600];
    snprintf(where, sizeof where, "%.500s:%ld", r->name, r->header.line);
    st = columns_resolve(&r->cols, r->names, r->header.n, o, where, err);
    if (st != SHELF_OK)
        return st;
    r->csv.expected = r->header.n;
    r->csv.names = r->names;
    return SHELF_OK;
}

static span field(const record *rec, int i)
{
    span s = {NULL, 0};
    if (i >= 0)
        s.p = record_field(rec, i, &s.n);
    return s;
}

row_status dsv_row(shelf_reader *r, row *out, char *why, size_t whysz, shelf_error *err)
{
    csv_status st = csv_next(&r->csv, &r->in, &r->rec, why, whysz);
    out->line = r->rec.line;
    if (st == CSV_END)
        return ROW_END;
    if (st == CSV_BAD)
        return ROW_BAD;
    if (st == CSV_RUNAWAY) {
        reader_runaway(r, r->rec.line, why, err);
        return ROW_FAIL;
    }
    if (st != CSV_OK) {
        csv_failure(r, st, err);
        return ROW_FAIL;
    }
    out->id = field(&r->rec, r->cols.id);
    out->label = field(&r->rec, r->cols.label);
    out->image = field(&r->rec, r->cols.image);
    for (int i = 0; i < r->cols.ntext; i++)
        out->text[i] = field(&r->rec, r->cols.text[i]);
    return ROW_OK;
}

void dsv_free(shelf_reader *r)
{
    record_free(&r->header);
    record_free(&r->rec);
    free(r->names);
    r->names = NULL;
}
