#include "image/path.h"

#include <string.h>

int image_resolve_path(const char *data_path, const char *ref, char *out, size_t n)
{
    size_t dirlen = 0, reflen = strlen(ref);
    if (ref[0] != '/' && strcmp(data_path, "-") != 0) {
        const char *slash = strrchr(data_path, '/');
        dirlen = slash ? (size_t)(slash - data_path) + 1 : 0; /* "dir/", with its slash */
    }
    if (n > 0)
        out[0] = '\0';
    if (reflen == 0 || dirlen + reflen >= n)
        return -1;
    memcpy(out, data_path, dirlen);
    memcpy(out + dirlen, ref, reflen + 1);
    return 0;
}
