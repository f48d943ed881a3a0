/* Command-line options as data: each command has a table of shelf_option entries (shelf.h),
 * offsets into its own struct of arguments; shelf train also takes the library's table of
 * training options. One parser reads them all, accepting --name value, --name=value and
 * -name value (fastText's style) alike, and one printer writes --help from them. */
#ifndef SHELF_CLI_OPTIONS_H
#define SHELF_CLI_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "shelf.h"

/* Entries of a command's table: T is its struct of arguments, f a field of it. SHOWN is the
 * default in words, for --help, when the field's starting value does not say it. */
#define OPT_STRING(T, name, f, shown, help) \
    {name, SHELF_OPTION_STRING, offsetof(T, f), 0, 0, shown, 0, 0, NULL, 0, help}
#define OPT_FLAG(T, name, f, help) \
    {name, SHELF_OPTION_FLAG, offsetof(T, f), 0, 0, NULL, 0, 1, NULL, 0, help}
#define OPT_INT(T, name, f, def, shown, lo, hi, help) \
    {name, SHELF_OPTION_INT, offsetof(T, f), 0, def, shown, lo, hi, NULL, 0, help}
#define OPT_FLOAT(T, name, f, def, shown, lo, hi, help) \
    {name, SHELF_OPTION_FLOAT, offsetof(T, f), 0, def, shown, lo, hi, NULL, 0, help}
#define OPT_U64(T, name, f, def, shown, lo, hi, help) \
    {name, SHELF_OPTION_U64, offsetof(T, f), 0, def, shown, lo, hi, NULL, 0, help}

/* A command's options: its table and the struct it fills. */
typedef struct opt_table {
    const shelf_option *opts;
    size_t n;
    void *args;
} opt_table;
#define OPT_TABLE(opts, args) ((opt_table){opts, sizeof(opts) / sizeof *(opts), args})

/* Sets every number and flag of the tables' structs to its entry's default. */
void opt_defaults(const opt_table *tables, int ntables);

/* Parses argv[1..argc) against the tables, and for shelf train (train not NULL) the
 * training options' table through shelf_train_options_set, which records what was given. A
 * value of a command's table is checked against its range at once; a training option's
 * range, and whether it applies to the model, are the library's to check. Prints the error
 * and returns -1 on an unknown option or a bad value; returns 1 when --help was asked. */
int opt_parse(const char *cmd, int argc, char **argv, const opt_table *tables, int ntables,
              shelf_train_options *train);

/* --help: the synopsis, then each section's title and entries ("--k N  how many labels per
 * product, 1 to 256 (1)"), defaults in parentheses. */
void opt_usage(const char *cmd, const char *synopsis);
void opt_section(const char *title, opt_table t);
/* The training options' table, in its groups: every model, text models, the bag, the
 * sequence encoders, the CNN. */
void opt_train_sections(void);

/* The catalog options of train, eval and predict. */
typedef struct read_flags {
    const char *format, *text, *label, *id, *label_sep, *image, *delimiter;
    int skip_bad, fix_utf8, max_depth, no_header;
} read_flags;

/* How the file itself is written: every command that reads a catalog takes these. */
#define READ_FILE_OPTS(T)                                                                    \
    OPT_STRING(T, "format", rf.format, "from the extension",                                 \
               "csv, tsv, jsonl, json or fasttext"),                                         \
    OPT_FLAG(T, "no-header", rf.no_header,                                                   \
             "CSV/TSV without a header: columns are named by number from 1 (--text 2)"),     \
    OPT_STRING(T, "delimiter", rf.delimiter,                                                 \
               "',', or ';' when the first line has more of them; tab for TSV",              \
               "CSV/TSV field separator: one character, or tab"),                            \
    OPT_FLAG(T, "skip-bad", rf.skip_bad, "skip and count bad rows instead of stopping"),     \
    OPT_FLAG(T, "fix-utf8", rf.fix_utf8, "replace invalid UTF-8 instead of stopping")
/* Which columns hold the text, id and image: train records them in the model (DEFAULTS:
 * its defaults); eval and predict read the model's unless told otherwise. */
#define COLUMN_OPTS(T, text_default, id_default, image_default)                              \
    OPT_STRING(T, "text", rf.text, text_default,                                             \
               "text columns, e.g. title,description (or 2,4)"),                             \
    OPT_STRING(T, "id", rf.id, id_default, "id column"),                                     \
    OPT_STRING(T, "image-column", rf.image, image_default, "image column"),                  \
    OPT_STRING(T, "image", rf.image, image_default, "same as --image-column")

/* Fills o from the flags, starting from base (a model's settings) when not NULL. Prints an
 * error and returns -1 on a bad --format or --delimiter. */
int read_flags_apply(const read_flags *rf, const shelf_read_options *base, shelf_read_options *o);
/* 1 after printing an error when --image was given a photo file rather than a column
 * name (a path to an existing file, or a name ending in .jpg, .jpeg, .png or .webp). */
int read_flags_image_is_file(const read_flags *rf, const char *cmd);

/* 1, after printing why, when out is the same file as one of the n inputs (paths, "-" for
 * standard input; NULL ones are skipped), named by names[i] (the option that gave it): the
 * output would replace what is being read. 0 otherwise, or when out does not exist yet. */
int out_is_an_input(const char *cmd, const char *out, const char *const *inputs,
                    const char *const *names, int n);

/* Prints the reader's skip and repair counts of a catalog to stderr. */
void report_read_stats(const char *path, const shelf_read_stats *s);

/* --min-confidence's value: a number from 0 to 1, or "auto" (the threshold the model keeps
 * from training; shelf_model_auto_confidence). NULL gives 0 (no back-off). 0 with *out set,
 * or the exit status after printing why not: 2 for a bad value, 1 for auto of a model that
 * keeps no threshold. */
int min_confidence_arg(const char *cmd, const char *arg, const shelf_model *m, float *out);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_embed(int argc, char **argv);
int cmd_index(int argc, char **argv);
int cmd_similar(int argc, char **argv);
int cmd_duplicates(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_labels(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

#endif
