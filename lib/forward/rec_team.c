/* Worker team for the packed recurrent products (see rec_team.h).
 *
 * A job is published by bumping `gen` (release) after storing fn/arg; a worker
 * that sees the new generation (acquire) runs its part and decrements
 * `pending`. Sleeping workers wait on `cv` under `mu`, and the caller bumps
 * `gen` under `mu` too, so a worker checking `gen` just before it sleeps
 * cannot miss a job. */
#include "forward/rec_team.h"

#include "core/internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

/* Spins before a worker sleeps: about 100 microseconds of pause instructions
 * on the project machine, longer than the gate maths between two products of
 * a step, so a running time loop rarely pays for a wake-up. */
#define SPIN_BEFORE_SLEEP 20000
/* Spins of the caller waiting for the workers before it starts yielding the
 * CPU (matters only when there are more threads than free cores). */
#define SPIN_BEFORE_YIELD 20000

struct rnnck__team {
    int nparts;
    pthread_t *threads;
    int started; /* workers actually created */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    _Atomic unsigned gen;
    _Atomic int pending;
    _Atomic int stop;
    rnnck__team_fn fn;
    void *arg;
};

typedef struct worker_arg {
    rnnck__team *t;
    int part;
} worker_arg;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static unsigned wait_for_job(rnnck__team *t, unsigned seen) {
    unsigned g;
    for (int spins = 0; spins < SPIN_BEFORE_SLEEP; spins++) {
        if ((g = atomic_load_explicit(&t->gen, memory_order_acquire)) != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&t->mu);
    while ((g = atomic_load_explicit(&t->gen, memory_order_acquire)) == seen) pthread_cond_wait(&t->cv, &t->mu);
    pthread_mutex_unlock(&t->mu);
    return g;
}

static void *worker_main(void *p) {
    worker_arg *wa = p;
    rnnck__team *t = wa->t;
    const int part = wa->part;
    free(wa);
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_job(t, seen);
        if (atomic_load_explicit(&t->stop, memory_order_acquire)) return NULL;
        t->fn(t->arg, part, t->nparts);
        atomic_fetch_sub_explicit(&t->pending, 1, memory_order_release);
    }
}

/* Publishes a new generation: a job, or the stop request. */
static void bump(rnnck__team *t) {
    pthread_mutex_lock(&t->mu);
    atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

void rnnck__team_stop(rnnck__team *t) {
    if (!t) return;
    atomic_store_explicit(&t->stop, 1, memory_order_release);
    bump(t);
    for (int i = 0; i < t->started; i++) pthread_join(t->threads[i], NULL);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
    free(t->threads);
    free(t);
}

static int fail_for_tests;

void rnnck__team_fail_for_tests(int fail) { fail_for_tests = fail; }

rnnck_status rnnck__team_start(int nparts, rnnck__team **out) {
    *out = NULL;
    if (nparts < 2) return rnnck__err(RNNCK_E_USAGE, "internal: a team needs at least 2 parts, got %d", nparts);
    if (fail_for_tests) return rnnck__err(RNNCK_E_NOMEM, "forward: could not start %d worker threads", nparts - 1);
    rnnck__team *t = calloc(1, sizeof *t);
    if (!t) return rnnck__oom();
    t->threads = calloc((size_t)(nparts - 1), sizeof *t->threads);
    if (!t->threads || pthread_mutex_init(&t->mu, NULL)) {
        free(t->threads);
        free(t);
        return rnnck__oom();
    }
    if (pthread_cond_init(&t->cv, NULL)) {
        pthread_mutex_destroy(&t->mu);
        free(t->threads);
        free(t);
        return rnnck__oom();
    }
    t->nparts = nparts;
    for (int i = 1; i < nparts; i++) {
        worker_arg *wa = malloc(sizeof *wa);
        if (!wa) break;
        *wa = (worker_arg){t, i};
        if (pthread_create(&t->threads[t->started], NULL, worker_main, wa)) {
            free(wa);
            break;
        }
        t->started++;
    }
    if (t->started != nparts - 1) {
        rnnck__team_stop(t);
        return rnnck__err(RNNCK_E_NOMEM, "forward: could not start %d worker threads", nparts - 1);
    }
    *out = t;
    return RNNCK_OK;
}

void rnnck__team_run(rnnck__team *t, rnnck__team_fn fn, void *arg) {
    t->fn = fn;
    t->arg = arg;
    atomic_store_explicit(&t->pending, t->nparts - 1, memory_order_relaxed);
    bump(t);
    fn(arg, 0, t->nparts);
    for (int spins = 0; atomic_load_explicit(&t->pending, memory_order_acquire) > 0; spins++) {
        if (spins < SPIN_BEFORE_YIELD)
            cpu_relax();
        else
            sched_yield();
    }
}
