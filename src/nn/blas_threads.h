/* shelf runs its own threads (a slice of a batch, or one product, each) and calls sgemm
 * from every one of them; OpenBLAS must not start threads of its own inside those calls: it
 * would oversubscribe the cores, and its threading is not meant to be entered from several
 * threads at once. Whatever sets up work for BLAS-backed layers calls this first. */
#ifndef SHELF_NN_BLAS_THREADS_H
#define SHELF_NN_BLAS_THREADS_H

/* Makes OpenBLAS single-threaded, once per process. */
void blas_threads_off(void);

#endif
