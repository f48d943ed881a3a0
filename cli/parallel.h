/* The processes of a distributed run: `mpirun -np N shelf COMMAND ...` starts N copies of
 * shelf, the ranks, which Open MPI joins. MPI lives here, in the command-line tool, never
 * in libshelf: programs that load the library are unaffected, and a shelf started without
 * mpirun never touches MPI (one process, rank 0 of 1). */
#ifndef SHELF_CLI_PARALLEL_H
#define SHELF_CLI_PARALLEL_H

#include <stddef.h>

#include "shelf.h"

/* Joins the other ranks when mpirun started this process (its environment says so). 0, or
 * -1 after printing why MPI could not start. */
int par_start(int *argc, char ***argv);
/* Leaves MPI after the command; nothing without mpirun. A rank that failed (status not 0)
 * leaves without waiting for the others: mpirun then ends the job, so that ranks waiting
 * for it in a collective step do not hang. */
void par_end(int status);

int par_rank(void);
int par_size(void);

/* 1 when ok is 1 on every rank, else 0: how ranks agree to go on or stop, each having
 * printed its own error, so that no rank waits for one that gave up. */
int par_all_ok(int ok);
/* The root's bytes into every rank's buf. */
void par_bcast(void *buf, size_t bytes, int root);
/* v[0..n) summed over the ranks, in place on every rank. */
void par_sum_longs(long *v, int n);
/* The smallest v over the ranks. */
int par_min_int(int v);
/* The library's view of the ranks (shelf_train_options.comm): rank, size, and a sum over
 * MPI. */
void par_comm(shelf_comm *c);

#endif
