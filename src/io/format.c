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

/* The extension of path's last component, with its dot; NULL when there is none. */
static const char *extension(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot != base ? dot : NULL;
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
    const char *ext = extension(path);
    if (ext && shelf_format_parse(ext + 1, out) == SHELF_OK &&
        *out != SHELF_FORMAT_FASTTEXT)
        return SHELF_OK;
    if (ext)
        return err_set(err, SHELF_EINVAL,
                       "%s: cannot tell the format from the extension '%s'; pass --format "
                       "csv|tsv|jsonl|fasttext",
                       path, ext);
    return err_set(err, SHELF_EINVAL,
                   "%s: cannot tell the format without a file extension; pass --format "
                   "csv|tsv|jsonl|fasttext",
                   path);
}
