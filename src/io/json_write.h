/* JSON strings as the library's writers put them (predictions, vectors). */
#ifndef SHELF_IO_JSON_WRITE_H
#define SHELF_IO_JSON_WRITE_H

#include <stdio.h>

/* Writes s (NULL: "") as a JSON string; invalid UTF-8 becomes U+FFFD, so the output stays
 * valid. */
void json_string(FILE *f, const char *s);

#endif
