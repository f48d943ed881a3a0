/* Catalog format names and detection from a file's extension. */
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "io/reader_impl.h"

shelf_status shelf_format_parse(const char *name, shelf_format *out)
{
    static const struct {
        const char *name;
        shelf_format format;
    } names[] = {{"csv", SHELF_FORMAT_CSV},     {"tsv", SHELF_FORMAT_TSV},
                 {"jsonl", SHELF_FORMAT_JSONL}, {"ndjson", SHELF_FORMAT_JSONL},
                 {"json", SHELF_FORMAT_JSONL}, /* an array of objects: the JSONL reader knows */
                 {"fasttext", SHELF_FORMAT_FASTTEXT}};
    if (!name || !out)
        return SHELF_EINVAL;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i].name) == 0) {
            *out = names[i].format;
            return SHELF_OK;
        }
    }
    return SHELF_EINVAL;
}

const char *io_format_name(shelf_format f)
{
    static const char *const names[] = {"catalog", "CSV", "TSV", "JSONL", "fastText"};
    return f >= SHELF_FORMAT_AUTO && f <= SHELF_FORMAT_FASTTEXT ? names[f] : "catalog";
}

const char *io_display_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

/* The extension of path's last component, without its dot and without a final ".gz"
 * (a compressed catalog is named for what it holds: train.csv.gz), into out; "" when there
 * is none. */
static void extension(const char *path, char *out, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 3 && strcasecmp(base + n - 3, ".gz") == 0)
        n -= 3;
    const char *dot = NULL;
    for (size_t i = 1; i < n; i++)
        if (base[i] == '.')
            dot = base + i;
    size_t len = dot ? (size_t)(base + n - dot - 1) : 0;
    snprintf(out, size, "%.*s", (int)(len < size ? len : size - 1), dot ? dot + 1 : "");
}

shelf_status io_detect_format(const char *path, shelf_format fmt, shelf_format *out,
                              shelf_error *err)
{
    if (fmt < SHELF_FORMAT_AUTO || fmt > SHELF_FORMAT_FASTTEXT)
        return err_set(err, SHELF_EINVAL, "%s: unknown catalog format %d",
                       io_display_name(path), (int)fmt);
    *out = fmt;
    if (fmt != SHELF_FORMAT_AUTO)
        return SHELF_OK;
    if (strcmp(path, "-") == 0) {
        *out = SHELF_FORMAT_CSV;
        return SHELF_OK;
    }
    char ext[32];
    extension(path, ext, sizeof ext);
    if (ext[0] && shelf_format_parse(ext, out) == SHELF_OK && *out != SHELF_FORMAT_FASTTEXT)
        return SHELF_OK;
    if (ext[0])
        return err_set(err, SHELF_EINVAL,
                       "%s: cannot tell the format from the extension '.%s'; pass --format "
                       "csv|tsv|jsonl|json|fasttext",
                       path, ext);
    return err_set(err, SHELF_EINVAL,
                   "%s: cannot tell the format without a file extension; pass --format "
                   "csv|tsv|jsonl|json|fasttext",
                   path);
}
