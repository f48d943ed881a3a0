#include "parallel.h"

#include <mpi.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>

static int joined, rank, size = 1;

/* Whether a launcher started this process as a rank: Open MPI's mpirun sets
 * OMPI_COMM_WORLD_SIZE, PMIx-based launchers PMIX_RANK. */
static int under_mpirun(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK");
}

int par_start(int *argc, char ***argv)
{
    if (!under_mpirun())
        return 0;
    int provided = 0;
    /* each rank runs the library's thread pool, but only the main thread calls MPI */
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "shelf: MPI could not start under mpirun\n");
        return -1;
    }
    joined = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    return 0;
}

void par_end(int status)
{
    if (joined && status == 0)
        MPI_Finalize();
    joined = 0;
}

int par_rank(void) { return rank; }
int par_size(void) { return size; }

int par_all_ok(int ok)
{
    int all = ok;
    if (joined)
        MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

void par_bcast(void *buf, size_t bytes, int root)
{
    if (joined)
        MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD);
}

void par_sum_longs(long *v, int n)
{
    if (joined)
        MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_LONG, MPI_SUM, MPI_COMM_WORLD);
}

int par_min_int(int v)
{
    int m = v;
    if (joined)
        MPI_Allreduce(&v, &m, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return m;
}

/* MPI counts are ints: a large buffer goes in pieces. */
static int sum(void *user, void *buf, size_t n, shelf_comm_type type)
{
    (void)user;
    static const struct {
        MPI_Datatype t;
        size_t size;
    } types[] = {[SHELF_COMM_U8] = {MPI_UNSIGNED_CHAR, 1}, [SHELF_COMM_U32] = {MPI_UINT32_T, 4},
                 [SHELF_COMM_U64] = {MPI_UINT64_T, 8}, [SHELF_COMM_FLOAT] = {MPI_FLOAT, 4},
                 [SHELF_COMM_DOUBLE] = {MPI_DOUBLE, 8}};
    if (!joined)
        return 0;
    char *p = buf;
    for (size_t done = 0; done < n;) {
        size_t part = n - done < (size_t)INT_MAX / 8 ? n - done : (size_t)INT_MAX / 8;
        if (MPI_Allreduce(MPI_IN_PLACE, p + done * types[type].size, (int)part, types[type].t,
                          MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return -1;
        done += part;
    }
    return 0;
}

void par_comm(shelf_comm *c)
{
    *c = (shelf_comm){.rank = rank, .size = size, .user = NULL, .sum = sum};
}
