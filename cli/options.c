#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

static const opt *find(const opt *opts, const char *name, size_t n)
{
    for (const opt *o = opts; o->name; o++)
        if (strlen(o->name) == n && strncmp(o->name, name, n) == 0)
            return o;
    return NULL;
}

static int set_value(const char *cmd, const opt *o, const char *v)
{
    char *end;
    errno = 0;
    switch (o->type) {
    case OPT_STR:
        *(const char **)o->dst = v;
        return 0;
    case OPT_INT: {
        long x = strtol(v, &end, 10);
        if (*v && !*end && !errno && x >= -2147483647L && x <= 2147483647L) {
            *(int *)o->dst = (int)x;
            return 0;
        }
        break;
    }
    case OPT_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (*v && !*end && !errno && v[0] != '-') {
            *(uint64_t *)o->dst = x;
            return 0;
        }
        break;
    }
    case OPT_FLOAT: {
        float x = strtof(v, &end);
        if (*v && !*end && !errno && isfinite(x)) {
            *(float *)o->dst = x;
            return 0;
        }
        break;
    }
    case OPT_FLAG:
        break;
    }
    fprintf(stderr, "shelf %s: --%s: '%s' is not a valid value\n", cmd, o->name, v);
    return -1;
}

int opt_parse(const char *cmd, int argc, char **argv, const opt *opts)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || a[1] == '\0') {
            fprintf(stderr, "shelf %s: unexpected argument '%s' (see shelf %s --help)\n", cmd, a,
                    cmd);
            return -1;
        }
        a += a[1] == '-' ? 2 : 1;
        if (strcmp(a, "help") == 0 || strcmp(a, "h") == 0)
            return 1;
        const char *eq = strchr(a, '=');
        const opt *o = find(opts, a, eq ? (size_t)(eq - a) : strlen(a));
        if (!o) {
            fprintf(stderr, "shelf %s: unknown option '%s' (see shelf %s --help)\n", cmd, argv[i],
                    cmd);
            return -1;
        }
        if (o->type == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "shelf %s: --%s takes no value\n", cmd, o->name);
                return -1;
            }
            *(int *)o->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!v) {
            fprintf(stderr, "shelf %s: --%s needs a value\n", cmd, o->name);
            return -1;
        }
        if (set_value(cmd, o, v))
            return -1;
    }
    return 0;
}

void opt_usage(const char *cmd, const char *synopsis, const opt *opts)
{
    printf("usage: shelf %s %s\n\noptions:\n", cmd, synopsis);
    for (const opt *o = opts; o->name; o++) {
        const char *arg = o->type == OPT_FLAG ? "" : o->type == OPT_STR ? " S" : " N";
        printf("  --%s%s%*s%s\n", o->name, arg, (int)(24 - strlen(o->name) - strlen(arg)), "",
               o->help);
    }
}

/* "tab", "\t" (as typed) or a tab itself, or one other byte that is not a quote or a line
 * break. Prints an error and returns -1 otherwise. */
static int parse_delimiter(const char *s, char *out)
{
    if (strcmp(s, "tab") == 0 || strcmp(s, "\\t") == 0 || strcmp(s, "\t") == 0) {
        *out = '\t';
        return 0;
    }
    if (strlen(s) == 1 && s[0] != '"' && s[0] != '\n' && s[0] != '\r') {
        *out = s[0];
        return 0;
    }
    fprintf(stderr, "shelf: --delimiter must be one character (not a quote or a line break) or "
                    "tab, not '%s'\n", s);
    return -1;
}

int read_flags_apply(const read_flags *rf, const shelf_read_options *base, shelf_read_options *o)
{
    if (base)
        *o = *base;
    else
        memset(o, 0, sizeof *o);
    if (rf->format && shelf_format_parse(rf->format, &o->format) != SHELF_OK) {
        fprintf(stderr, "shelf: --format must be csv, tsv, jsonl, json or fasttext, not '%s'\n",
                rf->format);
        return -1;
    }
    if (rf->delimiter && parse_delimiter(rf->delimiter, &o->delimiter))
        return -1;
    if (rf->no_header)
        o->no_header = 1;
    if (rf->max_depth < 0) {
        fprintf(stderr, "shelf: --max-depth must be 1 or more, not %d\n", rf->max_depth);
        return -1;
    }
    if (rf->max_depth > 0)
        o->max_depth = rf->max_depth;
    if (!rf->format && base)
        o->format = SHELF_FORMAT_AUTO; /* a new file's extension says more than the model's */
    if (rf->text)
        o->text_columns = rf->text;
    if (rf->label)
        o->label_column = rf->label;
    if (rf->id)
        o->id_column = rf->id;
    if (rf->label_sep)
        o->label_sep = rf->label_sep;
    if (rf->image)
        o->image_column = rf->image;
    o->skip_bad = rf->skip_bad;
    o->fix_utf8 = rf->fix_utf8;
    return 0;
}

int read_flags_image_is_file(const read_flags *rf, const char *cmd)
{
    static const char *const exts[] = {".jpg", ".jpeg", ".png", ".webp"};
    if (!rf->image)
        return 0;
    /* A folder named like the column (often "image") is not a photo: only a regular file or
     * a name with an image's extension is taken for one. */
    const char *dot = strrchr(rf->image, '.');
    struct stat st;
    int file = stat(rf->image, &st) == 0 && S_ISREG(st.st_mode);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0] && dot && !file; i++)
        file = strcasecmp(dot, exts[i]) == 0;
    if (file)
        fprintf(stderr, "shelf %s: --image (or --image-column) names an image column; for one "
                        "photo file use --photo %s\n", cmd, rf->image);
    return file;
}

int out_is_an_input(const char *cmd, const char *out, const char *const *inputs,
                    const char *const *names, int n)
{
    struct stat o, in;
    if (!out || stat(out, &o) != 0) /* a new file is no input */
        return 0;
    for (int i = 0; i < n; i++) {
        if (!inputs[i])
            continue;
        int std_in = strcmp(inputs[i], "-") == 0;
        if ((std_in ? fstat(0, &in) : stat(inputs[i], &in)) != 0)
            continue;
        if (in.st_dev == o.st_dev && in.st_ino == o.st_ino) {
            fprintf(stderr, "shelf %s: --out %s is the %s it reads (%s); write elsewhere\n",
                    cmd, out, std_in ? "standard input" : inputs[i], names[i]);
            return 1;
        }
    }
    return 0;
}

void report_read_stats(const char *path, const shelf_read_stats *s)
{
    if (strcmp(path, "-") == 0)
        path = "standard input";
    if (s->skipped)
        fprintf(stderr, "%s: skipped %ld bad rows (first: %s)\n", path, s->skipped,
                s->first_skip);
    if (s->utf8_replaced)
        fprintf(stderr, "%s: replaced invalid UTF-8 in %ld fields\n", path, s->utf8_replaced);
    if (s->empty_text)
        fprintf(stderr, "%s: %ld products have no text\n", path, s->empty_text);
}
