/* Where a catalog's image reference points. */
#ifndef SHELF_IMAGE_PATH_H
#define SHELF_IMAGE_PATH_H

#include <stddef.h>

/* Writes to out (n bytes) the path of image reference ref, found in the data file
 * data_path: an absolute ref as it is, a relative one from the folder of data_path (from
 * the current directory when data_path is "-", standard input). Returns 0, or -1 (out
 * then "") when ref is empty or the path does not fit. */
int image_resolve_path(const char *data_path, const char *ref, char *out, size_t n);

#endif
