/* Command-line options: a table per subcommand, parsed in one place so that every command
 * accepts --name value, --name=value and -name value (fastText's style) alike. */
#ifndef SHELF_CLI_OPTIONS_H
#define SHELF_CLI_OPTIONS_H

#include <stdint.h>

#include "shelf.h"

typedef enum { OPT_STR, OPT_INT, OPT_FLOAT, OPT_U64, OPT_FLAG } opt_type;

typedef struct opt {
    const char *name; /* without dashes */
    opt_type type;
    void *dst;        /* const char **, int *, float *, uint64_t *, int * */
    const char *help;
} opt;

/* Parses argv[1..argc) against opts (terminated by a {NULL}). Prints the error and returns
 * -1 on an unknown option or a bad value; returns 1 when --help was asked. */
int opt_parse(const char *cmd, int argc, char **argv, const opt *opts);
void opt_usage(const char *cmd, const char *synopsis, const opt *opts);

/* The catalog options shared by train, eval and predict. */
typedef struct read_flags {
    const char *format, *text, *label, *id, *label_sep, *image, *delimiter;
    int skip_bad, fix_utf8, max_depth, no_header;
} read_flags;
#define READ_FLAG_OPTS(rf)                                                                  \
    {"format", OPT_STR, &(rf).format, "csv|tsv|jsonl|json|fasttext (default: from the extension)"}, \
    {"text", OPT_STR, &(rf).text, "text columns, e.g. title,description (or 2,4)"},          \
    {"label", OPT_STR, &(rf).label, "label column (default: category)"},                      \
    {"id", OPT_STR, &(rf).id, "id column (default: id)"},                                     \
    {"no-header", OPT_FLAG, &(rf).no_header,                                                  \
     "CSV/TSV without a header: name columns by number from 1 (--text 2 --label 3)"},          \
    {"delimiter", OPT_STR, &(rf).delimiter,                                                   \
     "CSV/TSV field separator: one character, or tab (default: ',', or ';' when the first "   \
     "line has more of them; tab for TSV)"},                                                   \
    {"image-column", OPT_STR, &(rf).image, "image column (default: image, when present)"},     \
    {"label-sep", OPT_STR, &(rf).label_sep, "separator of label path levels (default ' > ')"}, \
    {"max-depth", OPT_INT, &(rf).max_depth, "keep the first N levels of each label path"},     \
    {"skip-bad", OPT_FLAG, &(rf).skip_bad, "skip and count bad rows instead of stopping"},    \
    {"fix-utf8", OPT_FLAG, &(rf).fix_utf8, "replace invalid UTF-8 instead of stopping"}

/* Fills o from the flags, starting from base (a model's settings) when not NULL. Prints an
 * error and returns -1 on a bad --format. */
/* train, eval and predict also take --image for the image column (predict's one photo file
 * is --photo). */
#define IMAGE_COLUMN_OPT(rf) {"image", OPT_STR, &(rf).image, "same as --image-column"}
/* 1 after printing an error when --image was given a photo file rather than a column
 * name (a path to an existing file, or a name ending in .jpg, .jpeg, .png or .webp). */
int read_flags_image_is_file(const read_flags *rf, const char *cmd);
int read_flags_apply(const read_flags *rf, const shelf_read_options *base, shelf_read_options *o);

/* Prints the reader's skip and repair counts of a catalog to stderr. */
/* 1, after printing why, when out is the same file as one of the n inputs (paths, "-" for
 * standard input; NULL ones are skipped), named by names[i] (the option that gave it): the
 * output would replace what is being read. 0 otherwise, or when out does not exist yet. */
int out_is_an_input(const char *cmd, const char *out, const char *const *inputs,
                    const char *const *names, int n);

void report_read_stats(const char *path, const shelf_read_stats *s);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_serve(int argc, char **argv);

#endif
