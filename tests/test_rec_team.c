/* The worker team of the packed recurrent products (lib/forward/rec_team.c). */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <criterion/criterion.h>
#include <time.h>

#include "forward/rec_team.h"

/* Every part of every job runs exactly once, and run() returns only after
 * all of them: the counts are read right after the last job. Three parts on
 * this 2-core machine also exercise the caller yielding to a worker. */
typedef struct team_probe {
    int hits[3];
    int wrong_nparts;
} team_probe;

static void probe_part(void *arg, int part, int nparts) {
    team_probe *p = arg;
    if (nparts != 3) __atomic_fetch_add(&p->wrong_nparts, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&p->hits[part], 1, __ATOMIC_RELAXED);
}

Test(rec_team, runs_every_part_of_every_job_once) {
    rnnck__team *t;
    cr_assert_eq(rnnck__team_start(3, &t), RNNCK_OK);
    team_probe p = {{0}, 0};
    for (int j = 0; j < 1000; j++) rnnck__team_run(t, probe_part, &p);
    rnnck__team_stop(t);
    for (int i = 0; i < 3; i++) cr_expect_eq(p.hits[i], 1000, "part %d ran %d times", i, p.hits[i]);
    cr_expect_eq(p.wrong_nparts, 0);
}

/* A worker that went to sleep (no job for longer than its spin) still wakes
 * for the next one. */
static void slow_part(void *arg, int part, int nparts) {
    (void)nparts;
    __atomic_fetch_add(&((int *)arg)[part], 1, __ATOMIC_RELAXED);
}

Test(rec_team, sleeping_workers_wake_for_the_next_job) {
    rnnck__team *t;
    cr_assert_eq(rnnck__team_start(2, &t), RNNCK_OK);
    int hits[2] = {0, 0};
    for (int j = 0; j < 3; j++) {
        rnnck__team_run(t, slow_part, hits);
        struct timespec pause = {0, 50 * 1000 * 1000}; /* 50 ms: far past the spin */
        nanosleep(&pause, NULL);
    }
    rnnck__team_stop(t);
    cr_expect_eq(hits[0], 3);
    cr_expect_eq(hits[1], 3);
}

Test(rec_team, refuses_fewer_than_two_parts) {
    rnnck__team *t = (rnnck__team *)1;
    cr_expect_eq(rnnck__team_start(1, &t), RNNCK_E_USAGE);
    cr_expect_null(t);
    rnnck__team_stop(NULL);
}
