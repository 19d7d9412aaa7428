/* OpenBLAS's thread pool in the command line (see cli.h). */
#include "cli.h"

#include <cblas.h>

/* OpenBLAS's own pool shutdown: what it runs before a fork() (its
 * pthread_atfork prepare handler) in the pthread build. Not in cblas.h, so
 * declared weak: with a BLAS that lacks it the pool is left alone. After
 * it, OpenBLAS restarts the pool by itself if a call asks for more than one
 * thread (openblas_set_num_threads(n > 1) or a threaded product). */
extern int blas_thread_shutdown_(void) __attribute__((weak));

int cli_blas_default_threads;

int cli_blas_single(void) {
    int previous = openblas_get_num_threads();
    /* started at one thread before OpenBLAS loaded (tools/rnnck.c): its own choice */
    if (previous == 1 && cli_blas_default_threads > 0) previous = cli_blas_default_threads;
    if (previous != 1) openblas_set_num_threads(1);
    if (blas_thread_shutdown_) blas_thread_shutdown_();
    return previous;
}
