#include "io/writer.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "text/utf8.h"

int pred_format_parse(const char *name, pred_format *out)
{
    if (!name || !out)
        return -1;
    if (strcasecmp(name, "jsonl") == 0 || strcasecmp(name, "ndjson") == 0)
        *out = PRED_JSONL;
    else if (strcasecmp(name, "csv") == 0)
        *out = PRED_CSV;
    else if (strcasecmp(name, "tsv") == 0)
        *out = PRED_TSV;
    else
        return -1;
    return 0;
}

void pred_write_header_extra(FILE *f, pred_format fmt, int k, int backoff, int modalities)
{
    if (fmt == PRED_JSONL)
        return;
    char sep = fmt == PRED_CSV ? ',' : '\t';
    fputs("id", f);
    for (int i = 1; i <= k; i++)
        fprintf(f, "%clabel%d%cprob%d", sep, i, sep, i);
    if (backoff)
        fprintf(f, "%cpath%cconfidence%cstatus", sep, sep, sep);
    if (modalities)
        fprintf(f, "%cmodalities", sep);
    fputc('\n', f);
}

void pred_write_header(FILE *f, pred_format fmt, int k)
{
    pred_write_header_extra(f, fmt, k, 0, 0);
}

static const char *const backoff_names[] = {"full", "partial", "review"};

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

/* Writes s as a JSON string; invalid UTF-8 becomes U+FFFD, so the output stays valid. */
static void json_string(FILE *f, const char *s)
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

static void write_jsonl(FILE *f, const char *id, int n, const char *const *labels,
                        const float *probs, const pred_extra *b)
{
    fputs("{\"id\":", f);
    json_string(f, id);
    fputs(",\"labels\":[", f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        json_string(f, labels[i]);
    }
    fputs("],\"probs\":[", f);
    for (int i = 0; i < n; i++) {
        if (i)
            fputc(',', f);
        write_prob(f, probs[i]);
    }
    fputc(']', f);
    if (b && b->backoff) { /* the CSV columns' names and values: one vocabulary */
        fputs(",\"path\":", f);
        if (b->status == BACKOFF_REVIEW)
            fputs("null", f); /* no path at all, not an empty one */
        else
            json_string(f, b->path);
        fputs(",\"confidence\":", f);
        write_prob(f, b->prob);
        fprintf(f, ",\"status\":\"%s\"", backoff_names[b->status]);
    }
    if (b && b->modalities) { /* "text+image" as a list */
        fputs(",\"modalities\":[", f);
        for (const char *p = b->modalities; *p;) {
            size_t len = strcspn(p, "+");
            fprintf(f, "%s\"%.*s\"", p == b->modalities ? "" : ",", (int)len, p);
            p += len + (p[len] == '+');
        }
        fputc(']', f);
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

void pred_write_row(FILE *f, pred_format fmt, int k, const char *id, int n,
                    const char *const *labels, const float *probs)
{
    pred_write_row_extra(f, fmt, k, id, n, labels, probs, NULL);
}

void pred_write_row_extra(FILE *f, pred_format fmt, int k, const char *id, int n,
                          const char *const *labels, const float *probs, const pred_extra *b)
{
    if (n < 0)
        n = 0;
    if (fmt == PRED_JSONL) {
        write_jsonl(f, id, n, labels, probs, b);
        return;
    }
    void (*field)(FILE *, const char *) = fmt == PRED_CSV ? csv_field : tsv_field;
    char sep = fmt == PRED_CSV ? ',' : '\t';
    field(f, id);
    for (int i = 0; i < k || i < n; i++) {
        fputc(sep, f);
        if (i < n)
            field(f, labels[i]);
        fputc(sep, f);
        if (i < n)
            write_prob(f, probs[i]);
    }
    if (b && b->backoff) {
        fputc(sep, f);
        field(f, b->status == BACKOFF_REVIEW ? "" : b->path);
        fputc(sep, f);
        write_prob(f, b->prob);
        fputc(sep, f);
        field(f, backoff_names[b->status]);
    }
    if (b && b->modalities) {
        fputc(sep, f);
        field(f, b->modalities);
    }
    fputc('\n', f);
}
