/* Fuzz target: the isolated reader's own work, in-process. The bytes as an
 * .h5 file go through the helper's walk job (rnnck__h5_walk_describe: the
 * schema walk in libhdf5, then the model's description), the caller's
 * rebuild of the model from that description (rnnck__h5_rebuild), and its
 * reads: contiguous data by pread, compact and chunked data through a
 * session whose helper is a thread here running the helper's `serve` job
 * (rnnck__h5_serve). No process is started, so this runs at libFuzzer speed
 * where `rnnck_h5` starts the sanitized helper several times per input.
 *
 * Invariants: a walk that passes describes a model the rebuild accepts (the
 * two check the same limits); that model obeys the model invariants and runs
 * forward; when both load fully, it equals the trusted in-process read
 * (RNNCK_OPEN_TRUSTED) bit for bit.
 *
 * libhdf5 runs here on hostile bytes, so its known crashes fire in this
 * target (fuzz/known_libhdf5/, docs/FUZZING.md, "Telling libhdf5's crashes
 * from ours"). */
#include "fuzz_common.h"
#include "h5/h5_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char path[512];
static pthread_t server;
static bool serving;

static void *serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    rnnck__h5_serve(fd, fd, path);
    close(fd);
    return NULL;
}

static void end_serving(void) {
    if (serving) pthread_join(server, NULL);
    serving = false;
}

/* Sessions only: a session is closed before the next one starts (h5_source.c),
 * so at most one stand-in helper runs at a time. */
static int hook(const char *job) {
    if (strcmp(job, "serve") != 0) return -1;
    end_serving();
    int sv[2];
    FZ_REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
    FZ_REQUIRE(pthread_create(&server, NULL, serve, (void *)(intptr_t)sv[1]) == 0, "pthread_create");
    serving = true;
    return sv[0];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    signal(SIGPIPE, SIG_IGN); /* the stand-in writes to a session that may have closed */
    fz_clean_scratch();
    snprintf(path, sizeof path, "%s", fz_path("input.h5"));
    fz_write_file(path, data, size);
    rnnck_report *lines = calloc(1, sizeof *lines);
    FZ_REQUIRE(lines != NULL, "calloc");
    rnnck__h5_lock();
    rnnck_status st = rnnck__h5_walk_describe(path, NULL, lines);
    rnnck__h5_unlock();
    if (st) {
        fz_check_failure(st, NULL);
        rnnck_report_free(lines);
        return 0;
    }
    int fd = -1;
    struct stat sb;
    FZ_REQUIRE(rnnck__open_regular_input(path, &fd, &sb) == RNNCK_OK, "%s", rnnck_errmsg());
    rnnck__h5_spawn_hook = hook;
    rnnck_model *m = NULL;
    st = rnnck__h5_rebuild(path, NULL, fd, (int64_t)sb.st_size, lines, &m);
    rnnck_report_free(lines);
    FZ_REQUIRE(st == RNNCK_OK, "the rebuild refused the description of a walk that passed: %s", rnnck_errmsg());
    fz_check_model(m);
    fz_check_forward(m);
    rnnck_open_opts trusted = {.format = "rnnck", .flags = RNNCK_OPEN_TRUSTED};
    rnnck_model *here = NULL;
    if (rnnck_model_load_all(m) == RNNCK_OK && rnnck_open(path, &trusted, &here) == RNNCK_OK &&
        rnnck_model_load_all(here) == RNNCK_OK)
        fz_require_same_model(m, here, true, "the trusted in-process read");
    rnnck_model_free(here);
    rnnck_model_free(m);
    end_serving();
    rnnck__h5_spawn_hook = NULL;
    return 0;
}
