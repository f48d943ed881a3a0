/* Writing predictions (shelf.h's shelf_write_prediction): one vocabulary for the JSONL keys
 * and the CSV and TSV columns, so shelf predict and the server answer alike. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "io/json_write.h"
#include "shelf.h"
#include "text/utf8.h"

shelf_status shelf_output_format_parse(const char *name, shelf_output_format *out,
                                       shelf_error *err)
{
    if (!name || !out)
        return err_set(err, SHELF_EINVAL, "shelf_output_format_parse: no name or no out");
    if (strcasecmp(name, "jsonl") == 0 || strcasecmp(name, "ndjson") == 0)
        *out = SHELF_OUTPUT_JSONL;
    else if (strcasecmp(name, "csv") == 0)
        *out = SHELF_OUTPUT_CSV;
    else if (strcasecmp(name, "tsv") == 0)
        *out = SHELF_OUTPUT_TSV;
    else
        return err_set(err, SHELF_EINVAL, "unknown output format '%s' (jsonl, csv or tsv)",
                       name);
    return SHELF_OK;
}

static shelf_status check_columns(FILE *f, const shelf_output_columns *c, const char *fn,
                                  shelf_error *err)
{
    if (!f || !c)
        return err_set(err, SHELF_EINVAL, "%s: no stream or no columns", fn);
    if (c->format < SHELF_OUTPUT_JSONL || c->format > SHELF_OUTPUT_TSV || c->k < 0)
        return err_set(err, SHELF_EINVAL, "%s: unknown format or k < 0", fn);
    return SHELF_OK;
}

shelf_status shelf_write_prediction_header(FILE *f, const shelf_output_columns *c,
                                           shelf_error *err)
{
    shelf_status s = check_columns(f, c, "shelf_write_prediction_header", err);
    if (s != SHELF_OK || c->format == SHELF_OUTPUT_JSONL)
        return s;
    char sep = c->format == SHELF_OUTPUT_CSV ? ',' : '\t';
    fputs("id", f);
    for (int i = 1; i <= c->k; i++)
        fprintf(f, "%clabel%d%cprob%d", sep, i, sep, i);
    if (c->backoff)
        fprintf(f, "%cpath%cconfidence%cstatus", sep, sep, sep);
    if (c->modalities)
        fprintf(f, "%cmodalities", sep);
    if (c->fusion)
        fprintf(f, "%cfusion_text%cfusion_image", sep, sep);
    if (c->explain)
        fprintf(f, "%cexplanation", sep);
    fputc('\n', f);
    return SHELF_OK;
}

static const char *const backoff_names[] = {"full", "partial", "review"};
/* SHELF_USED_* flags as the CSV column writes them; JSONL splits them on '+' */
static const char *const used_names[4] = {"", "text", "image", "text+image"};

/* Probabilities with 6 significant digits: enough to tell 0.99995 from 1. A value that is
 * not finite (which a model should never give) is written as 0 to keep the output valid. */
static void write_prob(FILE *f, float p)
{
    fprintf(f, "%.6g", isfinite(p) ? (double)p : 0.0);
}

/* Writes valid UTF-8 s[0..n) as the inside of a JSON string. */
static void json_valid(FILE *f, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        fwrite(s + start, 1, i - start, f);
        start = i + 1;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else
            fprintf(f, "\\u%04x", c);
    }
    fwrite(s + start, 1, n - start, f);
}

void json_string(FILE *f, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    fputc('"', f);
    while (n > 0) {
        size_t ok = utf8_valid_prefix(s, n);
        json_valid(f, s, ok);
        s += ok;
        n -= ok;
        if (n == 0)
            break;
        size_t bad = utf8_invalid_len(s, n);
        fputs("\\ufffd", f);
        s += bad;
        n -= bad;
    }
    fputc('"', f);
}

static void write_jsonl(FILE *f, const shelf_output_columns *c, const shelf_prediction *p)
{
    fputs("{\"id\":", f);
    json_string(f, p->id);
    fputs(",\"labels\":[", f);
    for (int i = 0; i < p->n; i++) {
        if (i)
            fputc(',', f);
        json_string(f, p->labels[i]);
    }
    fputs("],\"probs\":[", f);
    for (int i = 0; i < p->n; i++) {
        if (i)
            fputc(',', f);
        write_prob(f, p->probs[i]);
    }
    fputc(']', f);
    if (c->backoff) { /* the CSV columns' names and values: one vocabulary */
        fputs(",\"path\":", f);
        if (p->status == SHELF_BACKOFF_REVIEW)
            fputs("null", f); /* no path at all, not an empty one */
        else
            json_string(f, p->path);
        fputs(",\"confidence\":", f);
        write_prob(f, p->confidence);
        fprintf(f, ",\"status\":\"%s\"", backoff_names[p->status]);
    }
    if (c->modalities) { /* "text+image" as a list */
        const char *names = used_names[p->used & 3];
        fputs(",\"modalities\":[", f);
        for (const char *q = names; *q;) {
            size_t len = strcspn(q, "+");
            fprintf(f, "%s\"%.*s\"", q == names ? "" : ",", (int)len, q);
            q += len + (q[len] == '+');
        }
        fputc(']', f);
    }
    if (c->fusion) {
        fputs(",\"fusion\":{\"text\":", f);
        write_prob(f, p->fusion[0]);
        fputs(",\"image\":", f);
        write_prob(f, p->fusion[1]);
        fputc('}', f);
    }
    if (c->explain) { /* a JSON object already: written as it is */
        fputs(",\"explanation\":", f);
        fputs(p->explanation ? p->explanation : "null", f);
    }
    fputs("}\n", f);
}

/* RFC 4180: a field holding a comma, quote or line break is quoted, quotes doubled. */
static void csv_field(FILE *f, const char *s)
{
    if (!s)
        return;
    if (!s[strcspn(s, ",\"\r\n")]) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const char *q; (q = strchr(s, '"')); s = q + 1) {
        fwrite(s, 1, (size_t)(q - s) + 1, f);
        fputc('"', f);
    }
    fputs(s, f);
    fputc('"', f);
}

/* TSV has no quoting: a tab or line break inside a field becomes a space. */
static void tsv_field(FILE *f, const char *s)
{
    while (s && *s) {
        size_t run = strcspn(s, "\t\r\n");
        fwrite(s, 1, run, f);
        s += run;
        if (*s) {
            fputc(' ', f);
            s++;
        }
    }
}

static void write_row(FILE *f, const shelf_output_columns *c, const shelf_prediction *p)
{
    void (*field)(FILE *, const char *) = c->format == SHELF_OUTPUT_CSV ? csv_field : tsv_field;
    char sep = c->format == SHELF_OUTPUT_CSV ? ',' : '\t';
    field(f, p->id);
    for (int i = 0; i < c->k || i < p->n; i++) {
        fputc(sep, f);
        if (i < p->n)
            field(f, p->labels[i]);
        fputc(sep, f);
        if (i < p->n)
            write_prob(f, p->probs[i]);
    }
    if (c->backoff) {
        fputc(sep, f);
        field(f, p->status == SHELF_BACKOFF_REVIEW ? "" : p->path);
        fputc(sep, f);
        write_prob(f, p->confidence);
        fputc(sep, f);
        field(f, backoff_names[p->status]);
    }
    if (c->modalities) {
        fputc(sep, f);
        field(f, used_names[p->used & 3]);
    }
    if (c->fusion) {
        fputc(sep, f);
        write_prob(f, p->fusion[0]);
        fputc(sep, f);
        write_prob(f, p->fusion[1]);
    }
    if (c->explain) {
        fputc(sep, f);
        field(f, p->explanation ? p->explanation : "");
    }
    fputc('\n', f);
}

shelf_status shelf_write_prediction(FILE *f, const shelf_output_columns *c,
                                    const shelf_prediction *p, shelf_error *err)
{
    shelf_status s = check_columns(f, c, "shelf_write_prediction", err);
    if (s != SHELF_OK)
        return s;
    if (!p || p->n < 0 || (p->n > 0 && (!p->labels || !p->probs)))
        return err_set(err, SHELF_EINVAL, "shelf_write_prediction: no prediction, or n labels "
                       "without labels or probabilities");
    if (c->backoff && (p->status < SHELF_BACKOFF_FULL || p->status > SHELF_BACKOFF_REVIEW))
        return err_set(err, SHELF_EINVAL, "shelf_write_prediction: unknown back-off status %d",
                       (int)p->status);
    if (c->format == SHELF_OUTPUT_JSONL)
        write_jsonl(f, c, p);
    else
        write_row(f, c, p);
    return SHELF_OK;
}
