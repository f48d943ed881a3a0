/* OpenBLAS kept single-threaded (see blas_threads.h). */
#include "nn/blas_threads.h"

#include <cblas.h>
#include <pthread.h>

static void turn_off(void) { openblas_set_num_threads(1); }

void blas_threads_off(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, turn_off);
}
