/* A catalog in parts for the ranks of mpirun (parts.c): shelf predict's and shelf train's. */
#ifndef SHELF_CLI_PARTS_H
#define SHELF_CLI_PARTS_H

#include <stddef.h>

#include "shelf.h"

/* Rank 0 splits data into one part per rank and every rank receives its own into *mine.
 * Collective. 0, or -1 on every rank (rank 0 printed why, as shelf CMD). */
int parts_split(const char *cmd, const char *data, const shelf_read_options *ro,
                shelf_catalog_part *mine);
/* Where a rank writes its part of --out's file. */
void parts_path(const char *out, int rank, char *path, size_t size);
/* Rank 0: the ranks' part files, in order, into out (written whole or not at all). 0, or
 * -1 after printing why. */
int parts_join(const char *out);
/* The reading figures, and extra[0..nextra) (at most 8) of the caller's, summed over the
 * ranks; first_skip is the first rank's that skipped a row. Collective. */
void parts_sum_stats(shelf_read_stats *st, long *extra, int nextra);

#endif
