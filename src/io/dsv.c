/* CSV and TSV catalogs: a header row naming the columns (or, with no_header, columns
 * named by their number from 1), then one record per product. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
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
    const char *what = r->no_header ? "first row" : "header";
    csv_status st = csv_next(&r->csv, &r->in, &r->header, why, sizeof why);
    if (st == CSV_END)
        return err_set(err, SHELF_EDATA, "%s:1: empty file, expected a %s", r->name, what);
    if (st == CSV_BAD || st == CSV_RUNAWAY)
        return err_set(err, SHELF_EDATA, "%s:%ld: bad %s: %s", r->name, r->header.line, what,
                       why);
    if (st != CSV_OK)
        return csv_failure(r, st, err);
    r->names = mem_calloc((size_t)r->header.n, sizeof *r->names);
    if (!r->names)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    if (!r->no_header)
        return check_header(r, err);
    /* the columns are "1", "2", ...; the record is the first product */
    r->numbers = mem_calloc((size_t)r->header.n, sizeof *r->numbers);
    if (!r->numbers)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    for (int i = 0; i < r->header.n; i++) {
        snprintf(r->numbers[i], sizeof r->numbers[i], "%d", i + 1);
        r->names[i] = r->numbers[i];
    }
    r->pending = 1;
    return SHELF_OK;
}

/* The first line's separator for a CSV file: ';' when it holds more of them than of ','
 * outside quotes (European spreadsheets write ';'), else ','. */
static char guess_separator(shelf_reader *r)
{
    const char *s;
    size_t n = lines_peek(&r->in, &s);
    int in_quotes = 0;
    long commas = 0, semicolons = 0;
    for (size_t i = 0; i < n && (in_quotes || s[i] != '\n'); i++) {
        in_quotes ^= s[i] == '"';
        commas += !in_quotes && s[i] == ',';
        semicolons += !in_quotes && s[i] == ';';
    }
    return semicolons > commas ? ';' : ',';
}

/* Standard input is read as CSV unless told otherwise: what it starts with may say it is
 * not, and which --format it needs. */
static shelf_status check_stdin_is_csv(shelf_reader *r, shelf_error *err)
{
    const char *s;
    size_t n = lines_peek(&r->in, &s), i = 0;
    if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
        i = 3;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    const char *hint = NULL;
    if (i < n && s[i] == '{')
        hint = "jsonl";
    else if (i < n && s[i] == '[')
        hint = "json";
    else if (n - i >= 9 && memcmp(s + i, "__label__", 9) == 0)
        hint = "fasttext";
    if (!hint)
        return SHELF_OK;
    return err_set(err, SHELF_EDATA, "%s:1: standard input does not look like CSV (it starts "
                   "with '%.*s'): pass --format %s", r->name, hint[0] == 'f' ? 9 : 1, s + i,
                   hint);
}

shelf_status dsv_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err)
{
    if (o->delimiter == '"' || o->delimiter == '\n' || o->delimiter == '\r')
        return err_set(err, SHELF_EINVAL, "%s: a quote or a line break cannot separate fields",
                       r->name);
    r->no_header = o->no_header;
    r->csv.quoting = r->format != SHELF_FORMAT_TSV;
    r->csv.sep = o->delimiter ? o->delimiter : r->format == SHELF_FORMAT_TSV ? '\t' : ',';
    if (r->from_stdin && o->format == SHELF_FORMAT_AUTO) {
        shelf_status st = check_stdin_is_csv(r, err);
        if (st != SHELF_OK)
            return st;
    }
    if (!o->delimiter && r->format == SHELF_FORMAT_CSV)
        r->csv.sep = guess_separator(r);
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
    const record *rec = r->pending ? &r->header : &r->rec; /* no_header: the first row */
    csv_status st = r->pending ? CSV_OK : csv_next(&r->csv, &r->in, &r->rec, why, whysz);
    r->pending = 0;
    out->line = rec->line;
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
    out->id = field(rec, r->cols.id);
    out->label = field(rec, r->cols.label);
    out->image = field(rec, r->cols.image);
    for (int i = 0; i < r->cols.ntext; i++)
        out->text[i] = field(rec, r->cols.text[i]);
    for (int i = 0; i < r->cols.nkeep; i++)
        out->kept[i] = field(rec, r->cols.keep[i]);
    return ROW_OK;
}

void dsv_free(shelf_reader *r)
{
    record_free(&r->header);
    record_free(&r->rec);
    mem_free(r->names);
    mem_free(r->numbers);
    r->names = NULL;
    r->numbers = NULL;
}
