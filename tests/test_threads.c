/* rnnck used from several threads at once.
 *
 * Regression: rnnck_load used to fork a child to walk untrusted HDF5. While
 * another thread was inside libhdf5 (saving), the child inherited libhdf5's
 * global lock in the held state and blocked forever; the loading thread
 * waited for it forever. rnnck then held one process-wide lock across every
 * HDF5 entry point; the walk now runs in a posix_spawn()ed helper program,
 * which inherits no lock at all (tests/test_isolation.c). Before the first
 * fix this test hung on the first load (alarm() turns a hang into a
 * failure). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "helpers/testutil.h"
#include "rnnck.h"

/* Not built under AddressSanitizer: GCC 12's ASan allocator takes no locks
 * around fork(), so a child forked while the saver thread is inside malloc
 * blocks on ASan's allocator lock forever (seen in CI's sanitizer run, gdb:
 * __sanitizer::SizeClassAllocator64::GetFromAllocator). glibc's malloc, which
 * rnnck runs on outside the sanitizer build, is fork-safe, and this test runs
 * in the normal build on every CI run. */
#if defined(__SANITIZE_ADDRESS__)
#define FORKS_SAFELY_WITH_THREADS 0
#else
#define FORKS_SAFELY_WITH_THREADS 1
#endif

#if FORKS_SAFELY_WITH_THREADS
#define ROUNDS 150

typedef struct job {
    const char *path;
    int failures;
    char msg[256];
} job;

/* Many small tensors: the saver spends its time inside libhdf5 (the window
 * in which a fork used to inherit libhdf5's lock held). */
static rnnck_model *small_model(rnnck_cell cell, uint64_t seed) {
    rnnck_module_info info;
    rnnck_module_info_init(&info, cell);
    info.input_size = 6;
    info.hidden_size = 5;
    info.num_layers = 12;
    info.bidirectional = 1;
    rnnck_model *m = NULL;
    if (rnnck_model_new(&m) || rnnck_model_add_module(m, &info) ||
        rnnck_model_init_module(m, 0, RNNCK_INIT_DEFAULT, seed, 0, 0)) {
        rnnck_model_free(m);
        return NULL;
    }
    return m;
}

static void *saver(void *arg) {
    job *j = arg;
    rnnck_model *m = small_model(RNNCK_CELL_GRU, 1);
    for (int i = 0; i < ROUNDS && m; i++)
        if (rnnck_save(m, j->path) != RNNCK_OK) {
            j->failures++;
            snprintf(j->msg, sizeof j->msg, "%s", rnnck_errmsg());
        }
    if (!m) j->failures++;
    rnnck_model_free(m);
    return NULL;
}

static void *loader(void *arg) {
    job *j = arg;
    for (int i = 0; i < ROUNDS; i++) {
        rnnck_model *m = NULL;
        rnnck_status st = rnnck_load(j->path, NULL, &m);
        if (!st) st = rnnck_model_load_all(m);
        if (st) {
            j->failures++;
            snprintf(j->msg, sizeof j->msg, "%s", rnnck_errmsg());
        }
        rnnck_model_free(m);
    }
    return NULL;
}

Test(threads, loading_while_another_thread_saves_neither_hangs_nor_fails) {
    char *dir = tmpdir_new();
    char *a = path_join(dir, "saved.h5"), *b = path_join(dir, "loaded.h5");
    rnnck_model *m = small_model(RNNCK_CELL_LSTM, 2);
    cr_assert(m);
    cr_assert_eq(rnnck_save(m, b), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    alarm(120); /* a deadlock fails the test instead of hanging the suite */
    job js = {a, 0, ""}, jl = {b, 0, ""};
    pthread_t ts, tl;
    cr_assert_eq(pthread_create(&ts, NULL, saver, &js), 0);
    cr_assert_eq(pthread_create(&tl, NULL, loader, &jl), 0);
    pthread_join(ts, NULL);
    pthread_join(tl, NULL);
    alarm(0);
    cr_expect_eq(js.failures, 0, "saves failed: %s", js.msg);
    cr_expect_eq(jl.failures, 0, "loads failed: %s", jl.msg);
    free(a);
    free(b);
    tmpdir_remove(dir);
}
#endif

static void *ask_lists(void *arg) {
    const char **out = arg;
    out[0] = rnnck_formats_readable();
    out[1] = rnnck_formats_writable();
    return NULL;
}

Test(threads, format_lists_built_on_first_use_from_many_threads_agree) {
    /* Nothing in this process has asked yet (Criterion runs each test in its
     * own process): eight threads race to build the lists. */
    pthread_t t[8];
    const char *got[8][2];
    for (int i = 0; i < 8; i++) cr_assert_eq(pthread_create(&t[i], NULL, ask_lists, got[i]), 0);
    for (int i = 0; i < 8; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 8; i++) {
        cr_expect_str_eq(got[i][0], "rnnck,pytorch,npz,onnx,keras,tf");
        cr_expect_str_eq(got[i][1], "rnnck,pytorch,npz,onnx,keras");
    }
}
