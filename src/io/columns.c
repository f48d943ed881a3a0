#include "io/columns.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mem.h"

/* Used when text_columns is NULL: the usual names of a product's text, joined. */
static const char *const default_text[] = {"title", "name", "description"};
enum { NDEFAULT = sizeof default_text / sizeof default_text[0] };

/* Index of the column named name[0..len), or -1. */
static int find(const char *const *names, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strncmp(names[i], name, len) == 0 && names[i][len] == '\0')
            return i;
    return -1;
}

/* "a, b, c" into out, cut short with "..." when the header is too wide for a message. */
static void list_columns(const char *const *names, int n, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t need = strlen(names[i]) + 2;
        if (len + need + 4 >= size) {
            snprintf(out + len, size - len, "%s...", i ? ", " : "");
            return;
        }
        len += (size_t)snprintf(out + len, size - len, "%s%s", i ? ", " : "", names[i]);
    }
}

/* "where: what (columns: a, b)" and a hint, when not "". */
static shelf_status missing(const char *const *names, int n, const char *where,
                            const char *what, const char *hint, shelf_error *err)
{
    char list[512];
    list_columns(names, n, list, sizeof list);
    return err_set(err, SHELF_EDATA, "%s: %s (columns: %s)%s", where, what, list, hint);
}

/* A list of columns named by an option (the text columns, the kept ones): where each is,
 * its name, how many; kind names the option in messages. */
typedef struct column_list {
    int *n, *index;
    char **name;
    const char *kind, *option;
} column_list;

static int add_column(column_list *l, int index, const char *name, size_t len)
{
    char *copy = mem_strndup(name, len);
    if (!copy)
        return -1;
    l->index[*l->n] = index;
    l->name[(*l->n)++] = copy;
    return 0;
}

static int add_text(columns *c, int index, const char *name, size_t len)
{
    column_list text = {&c->ntext, c->text, c->text_name, "text", "--text"};
    return add_column(&text, index, name, len);
}

static int is_space(char ch) { return ch == ' ' || ch == '\t'; }

/* Resolves "title, description" into l. Every named column must exist. */
static shelf_status resolve_list(column_list *l, const char *const *names, int n,
                                 const char *list, const char *where, shelf_error *err)
{
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *e = end;
        while (p < e && is_space(*p))
            p++;
        while (e > p && is_space(e[-1]))
            e--;
        if (e > p) {
            int i = find(names, n, p, (size_t)(e - p));
            char what[160], hint[64];
            snprintf(what, sizeof what, "no %s column '%.*s'", l->kind, (int)(e - p), p);
            snprintf(hint, sizeof hint, "; choose the %s columns with %s", l->kind, l->option);
            if (i < 0)
                return missing(names, n, where, what, hint, err);
            if (add_column(l, i, p, (size_t)(e - p)))
                return err_set(err, SHELF_ENOMEM, "%s: out of memory", where);
        }
        p = *end ? end + 1 : end;
    }
    return SHELF_OK;
}

static shelf_status resolve_default(columns *c, const char *const *names, int n,
                                    const shelf_read_options *o, const char *where,
                                    shelf_error *err)
{
    for (int k = 0; k < NDEFAULT; k++) {
        int i = find(names, n, default_text[k], strlen(default_text[k]));
        if (i >= 0 && add_text(c, i, default_text[k], strlen(default_text[k])))
            return err_set(err, SHELF_ENOMEM, "%s: out of memory", where);
    }
    if (c->ntext > 0 || o->for_images) /* an image model may read photos alone */
        return SHELF_OK;
    return missing(names, n, where, "no text column: none of title, name, description",
                   "; choose the text columns with --text", err);
}

/* Entries of a comma-separated list (at least its commas plus one). */
static size_t list_size(const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    return n;
}

/* Room for the text columns: one per comma-separated entry, or the defaults. */
static int alloc_text(columns *c, const char *list)
{
    size_t cap = list ? list_size(list) : NDEFAULT;
    c->text = mem_calloc(cap, sizeof *c->text);
    c->text_name = mem_calloc(cap, sizeof *c->text_name);
    return c->text && c->text_name ? 0 : -1;
}

/* The kept columns (keep_columns), each of which must exist. */
static shelf_status resolve_keep(columns *c, const char *const *names, int n,
                                 const char *list, const char *where, shelf_error *err)
{
    size_t cap = list_size(list);
    c->keep = mem_calloc(cap, sizeof *c->keep);
    c->keep_name = mem_calloc(cap, sizeof *c->keep_name);
    if (!c->keep || !c->keep_name)
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", where);
    column_list keep = {&c->nkeep, c->keep, c->keep_name, "kept", "--keep"};
    return resolve_list(&keep, names, n, list, where, err);
}

static int blank(const char *s)
{
    while (*s && (is_space(*s) || *s == ','))
        s++;
    return *s == '\0';
}

/* "no KIND column 'col' (columns: ...); choose it with --KIND". */
static shelf_status missing_column(const char *const *names, int n, const char *where,
                                   const char *kind, const char *col, shelf_error *err)
{
    char what[160], hint[64];
    snprintf(what, sizeof what, "no %s column '%.100s'", kind, col);
    snprintf(hint, sizeof hint, "; choose the %s column with --%s", kind, kind);
    return missing(names, n, where, what, hint, err);
}

/* A column that may be absent: the one opts chose (kind says which, for messages), which
 * must exist, or else fallback when it exists. *name is NULL when there is none. */
static shelf_status resolve_optional(const char *const *names, int n, const char *chosen,
                                     const char *fallback, const char *kind, int *index,
                                     char **name, const char *where, shelf_error *err)
{
    const char *col = chosen ? chosen : fallback;
    *index = find(names, n, col, strlen(col));
    if (*index < 0 && chosen)
        return missing_column(names, n, where, kind, col, err);
    if (*index >= 0 && !(*name = mem_strdup(col)))
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", where);
    return SHELF_OK;
}

static shelf_status resolve_others(columns *c, const char *const *names, int n,
                                   const shelf_read_options *o, const char *where,
                                   shelf_error *err)
{
    const char *label = o->label_column ? o->label_column : "category";
    c->label = find(names, n, label, strlen(label));
    if (!(c->label_name = mem_strdup(label)))
        return err_set(err, SHELF_ENOMEM, "%s: out of memory", where);
    if (c->label < 0 && o->require_label)
        return missing_column(names, n, where, "label", label, err);
    shelf_status st = resolve_optional(names, n, o->id_column, "id", "id", &c->id,
                                       &c->id_name, where, err);
    if (st == SHELF_OK)
        st = resolve_optional(names, n, o->for_images && !o->image_column ? "image"
                                                                          : o->image_column,
                              "image", "image", &c->image, &c->image_name, where, err);
    return st;
}

shelf_status columns_resolve(columns *c, const char *const *names, int n,
                             const shelf_read_options *opts, const char *where,
                             shelf_error *err)
{
    memset(c, 0, sizeof *c);
    c->label = c->id = c->image = -1;
    const char *list = opts->text_columns && !blank(opts->text_columns) ? opts->text_columns
                                                                          : NULL;
    shelf_status st = alloc_text(c, list)
                          ? err_set(err, SHELF_ENOMEM, "%s: out of memory", where)
                          : SHELF_OK;
    column_list text = {&c->ntext, c->text, c->text_name, "text", "--text"};
    if (st == SHELF_OK)
        st = list ? resolve_list(&text, names, n, list, where, err)
                  : resolve_default(c, names, n, opts, where, err);
    if (st == SHELF_OK)
        st = resolve_others(c, names, n, opts, where, err);
    if (st == SHELF_OK && opts->keep_columns && !blank(opts->keep_columns))
        st = resolve_keep(c, names, n, opts->keep_columns, where, err);
    if (st != SHELF_OK)
        columns_free(c);
    return st;
}

void columns_free(columns *c)
{
    for (int i = 0; i < c->ntext; i++)
        mem_free(c->text_name[i]);
    mem_free(c->text);
    mem_free(c->text_name);
    for (int i = 0; i < c->nkeep; i++)
        mem_free(c->keep_name[i]);
    mem_free(c->keep);
    mem_free(c->keep_name);
    mem_free(c->label_name);
    mem_free(c->id_name);
    mem_free(c->image_name);
    memset(c, 0, sizeof *c);
    c->label = c->id = c->image = -1;
}

int columns_take_all_defaults(columns *c, const shelf_read_options *opts)
{
    if (!opts->text_columns || blank(opts->text_columns)) {
        for (int i = 0; i < c->ntext; i++)
            mem_free(c->text_name[i]);
        c->ntext = 0;
        for (int k = 0; k < NDEFAULT; k++)
            if (add_text(c, -1, default_text[k], strlen(default_text[k])))
                return -1;
    }
    if (!opts->id_column && !c->id_name && !(c->id_name = mem_strdup("id")))
        return -1;
    if (!opts->image_column && !c->image_name && !(c->image_name = mem_strdup("image")))
        return -1;
    return 0;
}
