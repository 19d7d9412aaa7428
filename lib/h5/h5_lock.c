/* One process-wide lock around rnnck's use of libhdf5.
 *
 * Why: it serialises rnnck's libhdf5 calls for callers who use rnnck from
 * several threads, whatever the libhdf5 build. (It used to also keep other
 * rnnck threads out of libhdf5 across the fork() of the isolation; the
 * isolation is now a separate program started with posix_spawn, which
 * inherits no locks.) Recursive: a save may read
 * lazily from another HDF5-backed model in the same thread. */
#include "h5/h5_internal.h"

#include <pthread.h>

static pthread_mutex_t h5_mutex;
static pthread_once_t h5_once = PTHREAD_ONCE_INIT;

static void init_mutex(void) {
    pthread_mutexattr_t attr;
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&h5_mutex, &attr);
    pthread_mutexattr_destroy(&attr);
}

void rnnck__h5_lock(void) {
    pthread_once(&h5_once, init_mutex);
    pthread_mutex_lock(&h5_mutex);
}

void rnnck__h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }
