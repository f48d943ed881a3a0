#include "options.h"

#include <float.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>
#include <unistd.h>

/* The entry named [name, name + n) of the n entries at opts, or NULL. */
static const shelf_option *find(const shelf_option *opts, size_t count, const char *name,
                                size_t n)
{
    for (size_t i = 0; i < count; i++)
        if (strlen(opts[i].name) == n && strncmp(opts[i].name, name, n) == 0)
            return &opts[i];
    return NULL;
}

void opt_defaults(const opt_table *tables, int ntables)
{
    for (int k = 0; k < ntables; k++)
        for (size_t i = 0; i < tables[k].n; i++) {
            const shelf_option *e = &tables[k].opts[i];
            void *f = (char *)tables[k].args + e->offset;
            if (e->type == SHELF_OPTION_FLOAT)
                *(float *)f = (float)e->def;
            else if (e->type == SHELF_OPTION_U64)
                *(uint64_t *)f = (uint64_t)e->def;
            else if (e->type != SHELF_OPTION_STRING)
                *(int *)f = (int)e->def;
        }
}

int opt_parse(const char *cmd, int argc, char **argv, const opt_table *tables, int ntables,
              shelf_train_options *train)
{
    size_t ntrain = 0;
    const shelf_option *trained = train ? shelf_train_option_table(&ntrain) : NULL;
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
        size_t n = eq ? (size_t)(eq - a) : strlen(a);
        const shelf_option *o = NULL;
        void *args = NULL;
        for (int k = 0; k < ntables && !o; k++)
            if ((o = find(tables[k].opts, tables[k].n, a, n)))
                args = tables[k].args;
        const shelf_option *to = o ? NULL : find(trained, ntrain, a, n);
        if (!o && !to) {
            fprintf(stderr, "shelf %s: unknown option '%s' (see shelf %s --help)\n", cmd, argv[i],
                    cmd);
            return -1;
        }
        const shelf_option *e = o ? o : to;
        const char *v = NULL;
        if (e->type == SHELF_OPTION_FLAG && eq) {
            fprintf(stderr, "shelf %s: --%s takes no value\n", cmd, e->name);
            return -1;
        }
        if (e->type != SHELF_OPTION_FLAG && !(v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL)) {
            fprintf(stderr, "shelf %s: --%s needs a value\n", cmd, e->name);
            return -1;
        }
        shelf_error err = {0};
        shelf_status st = o ? shelf_option_parse(o, args, v, &err)
                            : shelf_train_options_set(train, to->name, v, &err);
        if (st == SHELF_OK && o)
            st = shelf_option_check(o, args, &err);
        if (st != SHELF_OK) {
            fprintf(stderr, "shelf %s: %s\n", cmd, err.message);
            return -1;
        }
    }
    return 0;
}

/* A number of e's type as --help shows it: whole numbers in full, not 2e+06. */
static void number_text(const shelf_option *e, double v, char *out, size_t n)
{
    if (e->type == SHELF_OPTION_FLOAT)
        snprintf(out, n, "%g", v);
    else
        snprintf(out, n, "%.0f", v);
}

/* An entry's range in words ("; 1 to 8", "; 0 to below 1", "; 1 or more"); "" for none. */
static void range_text(const shelf_option *e, char *out, size_t n)
{
    const double top = e->type == SHELF_OPTION_INT     ? INT_MAX
                       : e->type == SHELF_OPTION_FLOAT ? FLT_MAX
                                                       : (double)UINT64_MAX;
    char lo[32], hi[32];
    out[0] = '\0';
    if (e->type != SHELF_OPTION_INT && e->type != SHELF_OPTION_FLOAT &&
        e->type != SHELF_OPTION_U64)
        return;
    number_text(e, e->min, lo, sizeof lo);
    number_text(e, e->max, hi, sizeof hi);
    if (e->max < top)
        snprintf(out, n, "; %s to %s%s", lo, e->flags & SHELF_OPTION_BELOW_MAX ? "below " : "",
                 hi);
    else if (e->min != 0 || e->type != SHELF_OPTION_U64)
        snprintf(out, n, "; %s or more", lo);
}

/* The names of a choice or set entry, and its default in parentheses. */
static void choices_text(const shelf_option *e, char *out, size_t n, char *def, size_t dn)
{
    snprintf(out, n, "; %s", e->type == SHELF_OPTION_SET ? "a comma list of " : "one of ");
    int all = 0;
    for (; e->choices[all]; all++)
        snprintf(out + strlen(out), n - strlen(out), "%s%s", all ? ", " : "", e->choices[all]);
    if (e->type == SHELF_OPTION_CHOICE) {
        snprintf(def, dn, "%s", e->choices[(int)e->def]);
        return;
    }
    snprintf(out + strlen(out), n - strlen(out), ", or all or none");
    snprintf(def, dn, "%s", (int)e->def == (1 << all) - 1 ? "all" : e->def == 0 ? "none" : "");
}

static void print_entry(const shelf_option *e)
{
    static const char *const args[] = {" N", " X", " N", " NAME", " LIST", "", " S"};
    char about[512] = "", def[128] = "";
    if (e->type == SHELF_OPTION_CHOICE || e->type == SHELF_OPTION_SET)
        choices_text(e, about, sizeof about, def, sizeof def);
    else
        range_text(e, about, sizeof about);
    if (e->def_text)
        snprintf(def, sizeof def, "%s", e->def_text);
    else if (e->type == SHELF_OPTION_INT || e->type == SHELF_OPTION_FLOAT ||
             e->type == SHELF_OPTION_U64)
        number_text(e, e->def, def, sizeof def);
    const char *arg = args[e->type];
    int pad = 22 - (int)(strlen(e->name) + strlen(arg));
    printf("  --%s%s%*s %s%s%s%s%s\n", e->name, arg, pad > 0 ? pad : 0, "", e->help, about,
           def[0] ? " (" : "", def, def[0] ? ")" : "");
}

void opt_usage(const char *cmd, const char *synopsis)
{
    printf("usage: shelf %s %s\n(defaults in parentheses)\n", cmd, synopsis);
}

void opt_section(const char *title, opt_table t)
{
    printf("\n%s:\n", title);
    for (size_t i = 0; i < t.n; i++)
        print_entry(&t.opts[i]);
}

/* The group an entry of the training options' table is printed under. */
static const char *train_group(unsigned applies)
{
    if (applies == SHELF_FOR_ALL)
        return "training, every model";
    if (applies == SHELF_FOR_TEXT)
        return "text models (--modality text or both)";
    if (applies == SHELF_FOR_BAG)
        return "text: the bag of n-grams (--text-encoder bag, the default)";
    if (!(applies & ~SHELF_FOR_SEQUENCE))
        return "text: sequence encoders (--text-encoder gru or transformer)";
    return "image: the CNN (--modality image or both); in a fused model (--modality both)\n"
           "--epochs, --lr and --batch are the CNN's, and the text encoder keeps its defaults";
}

void opt_train_sections(void)
{
    size_t n;
    const shelf_option *t = shelf_train_option_table(&n);
    const char *group = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *g = train_group(t[i].applies);
        if (g != group)
            printf("\n%s:\n", g);
        group = g;
        print_entry(&t[i]);
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

int min_confidence_arg(const char *cmd, const char *arg, const shelf_model *m, float *out)
{
    *out = 0;
    if (!arg || !strcmp(arg, "none"))
        return 0;
    if (!strcmp(arg, "auto")) {
        float precision, coverage, t = shelf_model_auto_confidence(m, &precision, &coverage);
        if (t <= 0) {
            fprintf(stderr, "shelf %s: --min-confidence auto: the model keeps no threshold (it "
                            "was trained without --valid, before shelf kept one, or no "
                            "threshold reached precision 0.99 on its validation set); give a "
                            "number\n", cmd);
            return 1;
        }
        fprintf(stderr, "--min-confidence auto: %.3f (precision %.4f at coverage %.4f on the "
                        "validation set)\n", (double)t, (double)precision, (double)coverage);
        *out = t;
        return 0;
    }
    char *end;
    float v = strtof(arg, &end);
    if (end == arg || *end || !(v >= 0 && v <= 1)) {
        fprintf(stderr, "shelf %s: --min-confidence must be a number from 0 to 1 or auto, not "
                        "'%s'\n", cmd, arg);
        return 2;
    }
    *out = v;
    return 0;
}
