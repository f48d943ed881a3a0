/* JSONL catalogs: one JSON object per line, its keys the column names; or a JSON document
 * holding an array of such objects (io/json_array.h), told by its first byte, '['. The first object's
 * keys stand for the header: the columns are resolved against them, except that the
 * default text and id columns are looked up in every object, since JSON writers often
 * leave out keys whose value is null. Values that are not
 * strings become text: numbers as written in the file (so a 19-digit id keeps its digits),
 * true/false, arrays and objects as compact JSON; null counts as absent. A label given as
 * an array of strings is the path's levels: ["A", "B"] reads as "A > B". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"
#include "io/json_type.h"
#include "io/reader_impl.h"

static const char *skip_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* p is at a '"'; returns the position after the closing one, or NULL. */
static const char *skip_string(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Skips one value of JSON that cJSON has already accepted. */
static const char *skip_value(const char *p, const char *e)
{
    if (p < e && *p == '"')
        return skip_string(p, e);
    int depth = 0;
    while (p < e) {
        if (*p == '"') {
            p = skip_string(p, e);
            if (!p)
                return NULL;
            continue;
        }
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        if (depth < 0 || (depth == 0 && (*p == ',' || *p == ' ' || *p == '\t' ||
                                          *p == '\r' || *p == '\n')))
            return p;
        p++;
        if (depth == 0 && (p[-1] == '}' || p[-1] == ']'))
            return p;
    }
    return depth == 0 ? p : NULL;
}

/* The text of top-level member key as written in line s[0..n), for numbers, whose digits
 * cJSON keeps only as a double. Keys written with escapes are not matched. */
static int raw_member(const char *s, size_t n, const char *key, span *out)
{
    const char *p = skip_ws(s, s + n), *e = s + n;
    size_t klen = strlen(key);
    if (p == e || *p++ != '{')
        return -1;
    for (;;) {
        p = skip_ws(p, e);
        if (p == e || *p != '"')
            return -1;
        const char *k = p + 1;
        p = skip_string(p, e);
        if (!p)
            return -1;
        int match = (size_t)(p - 1 - k) == klen && memcmp(k, key, klen) == 0;
        p = skip_ws(p, e);
        if (p == e || *p != ':')
            return -1;
        const char *v = skip_ws(p + 1, e);
        p = skip_value(v, e);
        if (!p)
            return -1;
        if (match) {
            *out = (span){v, (size_t)(p - v)};
            return 0;
        }
        p = skip_ws(p, e);
        if (p == e || *p++ != ',')
            return -1;
    }
}

static void free_owned(shelf_reader *r)
{
    for (int i = 0; i < r->nowned; i++)
        mem_free(r->owned[i]);
    r->nowned = 0;
}

/* Keeps a copy of a value's text until the next row. */
static int own(shelf_reader *r, char *s, span *out)
{
    if (!s)
        return -1;
    r->owned[r->nowned++] = s;
    *out = (span){s, strlen(s)};
    return 0;
}

/* The text of member key of obj; absent when missing or null. */
static int value_text(shelf_reader *r, const cJSON *obj, const char *key, const char *s,
                      size_t n, span *out)
{
    const cJSON *v = key ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    span raw;
    *out = (span){NULL, 0};
    if (!v || cJSON_IsNull(v))
        return 0;
    if (cJSON_IsString(v)) {
        *out = (span){v->valuestring, strlen(v->valuestring)};
        return 0;
    }
    if (cJSON_IsBool(v)) {
        *out = cJSON_IsTrue(v) ? (span){"true", 4} : (span){"false", 5};
        return 0;
    }
    if (cJSON_IsNumber(v) && raw_member(s, n, key, &raw) == 0)
        return own(r, mem_strndup(raw.p, raw.n), out);
    return own(r, cJSON_PrintUnformatted(v), out);
}

/* A label given as the path's levels, ["A", "B", "C"]: joined by the label separator, as
 * "A > B > C" would be written. Returns 0, 1 when it is not a list of non-empty strings
 * (why says which level), -1 when out of memory. */
static int label_levels(shelf_reader *r, const cJSON *v, const char *key, span *out,
                        char *why, size_t whysz)
{
    buf b;
    buf_init(&b);
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, v)
    {
        const char *level = cJSON_IsString(it) ? it->valuestring : NULL;
        if (!level || field_trim((span){level, strlen(level)}).n == 0) {
            snprintf(why, whysz, "label '%s': level %d of the array is %s, not a label", key,
                     i + 1, level ? "empty" : json_type_name(it));
            buf_free(&b);
            return 1;
        }
        if (i++ > 0)
            buf_puts(&b, r->label_sep);
        buf_puts(&b, level);
    }
    if (i == 0) {
        snprintf(why, whysz, "label '%s' is an empty array", key);
        return 1;
    }
    return own(r, buf_detach(&b), out);
}

/* Fills out from obj, parsed from line s[0..n). Returns 0, 1 for a bad row (why says
 * why), -1 when out of memory. */
static int extract(shelf_reader *r, const cJSON *obj, const char *s, size_t n, row *out,
                   char *why, size_t whysz)
{
    free_owned(r);
    const columns *c = &r->cols;
    const cJSON *label = cJSON_GetObjectItemCaseSensitive(obj, c->label_name);
    int bad = value_text(r, obj, c->id_name, s, n, &out->id) ||
              value_text(r, obj, c->image_name, s, n, &out->image);
    for (int i = 0; i < c->ntext && !bad; i++)
        bad = value_text(r, obj, c->text_name[i], s, n, &out->text[i]);
    for (int i = 0; i < c->nkeep && !bad; i++)
        bad = value_text(r, obj, c->keep_name[i], s, n, &out->kept[i]);
    if (bad)
        return -1;
    if (cJSON_IsArray(label) && !r->require_label) { /* predict reads no label */
        out->label = (span){NULL, 0};
        return 0;
    }
    if (cJSON_IsArray(label))
        return label_levels(r, label, c->label_name, &out->label, why, whysz);
    return value_text(r, obj, c->label_name, s, n, &out->label);
}

/* 1 when s[0..n) ends inside a string or an open bracket: a line cut short, which cJSON
 * reports no differently from a wrong byte near the end. */
static int unfinished(const char *s, size_t n)
{
    int depth = 0, in_string = 0;
    for (size_t i = 0; i < n; i++) {
        if (in_string) {
            if (s[i] == '\\')
                i++;
            else if (s[i] == '"')
                in_string = 0;
        } else if (s[i] == '"') {
            in_string = 1;
        } else if (s[i] == '{' || s[i] == '[') {
            depth++;
        } else if (s[i] == '}' || s[i] == ']') {
            depth--;
        }
    }
    return in_string || depth > 0;
}

/* Parses line s[0..n) into an object; NULL with why set when it is not one. */
static cJSON *parse_object(const char *s, size_t n, char *why, size_t whysz)
{
    if (memchr(s, '\0', n)) {
        snprintf(why, whysz, "binary data (NUL byte)");
        return NULL;
    }
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    size_t at = end ? (size_t)(end - s) : n;
    if (!v) {
        if (unfinished(s, n))
            snprintf(why, whysz,
                     "invalid JSON: the line ends before the object does (truncated?)");
        else
            snprintf(why, whysz, "invalid JSON at byte %zu", at);
        return NULL;
    }
    if (skip_ws(s + at, s + n) != s + n) {
        snprintf(why, whysz, "invalid JSON: unexpected text after the object at byte %zu",
                 at);
    } else if (!cJSON_IsObject(v)) {
        snprintf(why, whysz, "expected a JSON object, found %s", json_type_name(v));
    } else {
        return v;
    }
    cJSON_Delete(v);
    return NULL;
}

static int blank(const char *s, size_t n) { return skip_ws(s, s + n) == s + n; }

/* The next element of a JSON array document, as reader_next_line gives a line. What is
 * wrong with the array itself (a missing ',', no closing ']') ends the reading. */
static row_status next_element(shelf_reader *r, const char **s, size_t *n, long *line,
                               char *why, size_t whysz, shelf_error *err)
{
    json_array_status st = json_array_next(&r->array, &r->in, s, n, line, why, whysz);
    if (st == JA_OK)
        return ROW_OK;
    if (st == JA_END)
        return ROW_END;
    if (why[0])
        err_set(err, SHELF_EDATA, "%s:%ld: %s", r->name, r->in.lineno + 1, why);
    else
        reader_read_error(r, r->in.error ? LINE_EIO : LINE_ENOMEM, err);
    return ROW_FAIL;
}

/* In a JSON array, a bad element's message starts with where it is: "$[3]: ...". */
static void name_element(const shelf_reader *r, char *why, size_t whysz)
{
    if (!r->in_array)
        return;
    char prefix[32];
    size_t k = (size_t)snprintf(prefix, sizeof prefix, "$[%ld]: ", r->array.index - 1);
    size_t len = strlen(why);
    if (k + 1 >= whysz)
        return;
    if (len + k + 1 > whysz)
        len = whysz - k - 1;
    memmove(why + k, why, len);
    memcpy(why, prefix, k);
    why[k + len] = '\0';
}

/* Reads up to the next object into r->json. ROW_BAD and ROW_FAIL as for a row. */
static row_status next_object(shelf_reader *r, const char **s, size_t *n, long *line,
                              char *why, size_t whysz, shelf_error *err)
{
    cJSON_Delete(r->json);
    r->json = NULL;
    row_status rs = r->in_array ? next_element(r, s, n, line, why, whysz, err)
                                : reader_next_line(r, blank, s, n, line, why, whysz, err);
    if (rs != ROW_OK)
        return rs;
    r->json = parse_object(*s, *n, why, whysz);
    if (!r->json)
        name_element(r, why, whysz);
    return r->json ? ROW_OK : ROW_BAD;
}

/* Object keys as column names. names must have room for all of them. */
static int object_keys(const cJSON *obj, const char **names)
{
    int n = 0;
    for (const cJSON *it = obj->child; it; it = it->next)
        names[n++] = it->string;
    return n;
}

static shelf_status resolve(shelf_reader *r, const shelf_read_options *o, long line,
                            shelf_error *err)
{
    const char **names = mem_calloc((size_t)cJSON_GetArraySize(r->json) + 1, sizeof *names);
    if (!names)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    char where[600];
    snprintf(where, sizeof where, "%.500s:%ld", r->name, line);
    int n = object_keys(r->json, names);
    shelf_status st = columns_resolve(&r->cols, names, n, o, where, err);
    mem_free(names);
    if (st == SHELF_OK && columns_take_all_defaults(&r->cols, o))
        st = err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    if (st == SHELF_OK) {
        /* the texts, kept values, id, label and image of a row may each need a copy */
        const size_t nkeep = (size_t)r->cols.nkeep;
        r->owned = mem_calloc((size_t)r->cols.ntext + nkeep + 3, sizeof *r->owned);
        r->first.text = mem_calloc((size_t)r->cols.ntext, sizeof *r->first.text);
        r->first.kept = mem_calloc(nkeep + 1, sizeof *r->first.kept);
        if (!r->owned || !r->first.text || !r->first.kept)
            st = err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    }
    return st;
}

/* Reads up to the first object, whose keys decide the columns, and keeps it as the first
 * row. Bad lines before it are bad rows like any other. */
shelf_status jsonl_open(shelf_reader *r, const shelf_read_options *o, shelf_error *err)
{
    if (lines_at_eof(&r->in))
        return err_set(err, SHELF_EDATA, "%s: empty file", r->name);
    r->in_array = json_array_starts(&r->in);
    const char *s;
    size_t n;
    char why[512];
    row_status st;
    while ((st = next_object(r, &s, &n, &r->first.line, why, sizeof why, err)) == ROW_BAD) {
        shelf_status bad = reader_bad(r, r->first.line, why, err);
        if (bad != SHELF_OK)
            return bad;
    }
    if (st == ROW_FAIL)
        return err ? err->code : SHELF_EIO;
    if (st == ROW_END) {
        r->done = 1; /* blank lines only, or every line bad: no products */
        return SHELF_OK;
    }
    shelf_status rs = resolve(r, o, r->first.line, err);
    if (rs != SHELF_OK)
        return rs;
    r->first_bad = extract(r, r->json, s, n, &r->first, r->first_why, sizeof r->first_why);
    if (r->first_bad > 0)
        name_element(r, r->first_why, sizeof r->first_why);
    if (r->first_bad < 0)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
    r->pending = 1;
    return SHELF_OK;
}

row_status jsonl_row(shelf_reader *r, row *out, char *why, size_t whysz, shelf_error *err)
{
    if (r->pending) {
        r->pending = 0;
        out->line = r->first.line;
        if (r->first_bad) {
            snprintf(why, whysz, "%s", r->first_why);
            return ROW_BAD;
        }
        out->id = r->first.id;
        out->label = r->first.label;
        out->image = r->first.image;
        memcpy(out->text, r->first.text, (size_t)r->cols.ntext * sizeof *out->text);
        memcpy(out->kept, r->first.kept, (size_t)r->cols.nkeep * sizeof *out->kept);
        return ROW_OK;
    }
    const char *s;
    size_t n;
    row_status st = next_object(r, &s, &n, &out->line, why, whysz, err);
    if (st != ROW_OK)
        return st;
    int bad = extract(r, r->json, s, n, out, why, whysz);
    if (bad < 0) {
        err_set(err, SHELF_ENOMEM, "%s: out of memory", r->name);
        return ROW_FAIL;
    }
    if (bad)
        name_element(r, why, whysz);
    return bad ? ROW_BAD : ROW_OK;
}

void jsonl_free(shelf_reader *r)
{
    json_array_free(&r->array);
    cJSON_Delete(r->json);
    r->json = NULL;
    if (r->owned)
        free_owned(r);
    mem_free(r->owned);
    mem_free(r->first.text);
    mem_free(r->first.kept);
    r->owned = NULL;
    r->first.text = NULL;
    r->first.kept = NULL;
}
