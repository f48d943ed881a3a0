/* Taxonomy queries on label paths, in one place: the reader, back-off, evaluation, the
 * hygiene checks and the CLI all split paths the same way. */
#include <string.h>

#include "shelf.h"

int shelf_label_parent(const char *label, const char *sep, size_t *len)
{
    if (!sep)
        sep = SHELF_DEFAULT_LABEL_SEP;
    size_t seplen = strlen(sep);
    const char *last = NULL;
    for (const char *p = seplen ? strstr(label, sep) : NULL; p; p = strstr(p + seplen, sep))
        last = p;
    if (len)
        *len = last ? (size_t)(last - label) : 0;
    return last != NULL;
}

int shelf_label_is_under(const char *label, const char *path, size_t path_len,
                         const char *sep)
{
    if (!sep)
        sep = SHELF_DEFAULT_LABEL_SEP;
    size_t seplen = strlen(sep);
    if (strnlen(label, path_len) < path_len || memcmp(label, path, path_len) != 0)
        return 0;
    return label[path_len] == '\0' || (seplen && strncmp(label + path_len, sep, seplen) == 0);
}
