/* Private: a small team of worker threads for the packed recurrent products
 * (rec_gemm.h), which split their row panels across it. A team lives for one
 * layer of one rnnck_forward call: it is started after the layer's parameters
 * are loaded (loading may start a helper process to read HDF5, which is best done with
 * no other threads about) and stopped before the next layer loads.
 *
 * Between jobs a worker spins briefly, then sleeps on a condition variable;
 * the time loop hands out a job every step, so the spin usually catches it
 * without a wake-up. */
#ifndef RNNCK_REC_TEAM_H
#define RNNCK_REC_TEAM_H

#include "rnnck.h"

typedef struct rnnck__team rnnck__team;

/* fn(arg, part, nparts) runs once for each part in [0, nparts). */
typedef void (*rnnck__team_fn)(void *arg, int part, int nparts);

/* Starts nparts - 1 workers (nparts >= 2); the caller is part 0. */
rnnck_status rnnck__team_start(int nparts, rnnck__team **out);

/* Runs fn on every part and returns when all parts are done. */
void rnnck__team_run(rnnck__team *t, rnnck__team_fn fn, void *arg);

/* Tests only: make rnnck__team_start fail (non-zero) as if no thread could
 * be created, or work again (0). Not thread-safe. */
void rnnck__team_fail_for_tests(int fail);

/* Stops and joins the workers and frees the team; NULL is a no-op. */
void rnnck__team_stop(rnnck__team *t);

#endif
