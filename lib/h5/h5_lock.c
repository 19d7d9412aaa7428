/* One process-wide lock around rnnck's use of libhdf5.
 *
 * Why: the isolation in h5_isolate.c forks. A child inherits every lock in the
 * state it had at fork time, including libhdf5's own global lock; if another
 * rnnck thread was inside libhdf5 at that moment, the child blocks on that
 * lock forever and the parent waits for it. Holding this lock across every
 * HDF5-touching entry point (and so across each fork) means no other rnnck
 * thread is inside libhdf5 when we fork. It also serialises libhdf5 calls for
 * callers who use rnnck from several threads. Recursive: a save may read
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

void rnnck__h5_lock_reset_in_child(void) {
    /* The child is single-threaded and its thread id differs from the owner
     * recorded in the inherited (held) recursive mutex: start it afresh. */
    init_mutex();
}
