/* Output files checked before any work and written atomically, as shelf.h's shelf_outfile
 * says; here by value, for the library's own writers (model files). */
#ifndef SHELF_IO_OUTFILE_H
#define SHELF_IO_OUTFILE_H

#include <stdio.h>

#include "shelf.h"


typedef struct outfile {
    FILE *f;    /* write here */
    char *path; /* the target */
    char *tmp;  /* the temporary file beside it */
} outfile;

/* Checks path (outfile_check) and opens a temporary file beside it, mode 0644. */
shelf_status outfile_open(outfile *o, const char *path, shelf_error *err);

/* With commit: flushes, fsyncs and renames the temporary file over the target, reporting
 * any write that failed ("PATH: cannot write: No space left on device"). Without commit, or
 * on failure: removes the temporary file. Frees o's strings either way. */
shelf_status outfile_close(outfile *o, int commit, shelf_error *err);


#endif
