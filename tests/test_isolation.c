#define _GNU_SOURCE /* unshare (the test without /proc) */
/* The isolated HDF5 reader (lib/h5/h5_isolate.c): a helper program started
 * with posix_spawn, safe inside any host program.
 *
 * The host test: 8 threads allocate and run libhdf5-free code in a loop
 * while another thread opens valid and hostile HDF5 files; nothing may hang
 * and every verdict must be the one a single-threaded run gives. With the
 * former fork()ed child this could hang: a child forked while another
 * thread held an allocator lock (ASan's, or any non-fork-safe malloc) waited
 * for it forever. 1,000 opens in the normal build; 200 under the sanitizers
 * (each open starts an instrumented helper). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>

#include "h5/h5_internal.h" /* the read session */
#include "h5/h5_tree.h"
#include "helpers/testutil.h"
#include "rnnck.h"

#include <fcntl.h>
#include <sys/stat.h>

#if defined(__SANITIZE_ADDRESS__)
#define OPENS 200
#else
#define OPENS 1000
#endif
#define HOST_THREADS 8
#define MAX_FILES 32

typedef struct verdict {
    rnnck_status open, load;
    char msg[512];
} verdict;

static verdict judge(const char *path) {
    verdict v = {RNNCK_OK, RNNCK_OK, ""};
    rnnck_model *m = NULL;
    v.open = rnnck_load(path, NULL, &m);
    if (!v.open) v.load = rnnck_model_load_all(m);
    if (v.open || v.load) snprintf(v.msg, sizeof v.msg, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    return v;
}

static bool same_verdict(const verdict *a, const verdict *b) {
    return a->open == b->open && a->load == b->load && strcmp(a->msg, b->msg) == 0;
}

/* Valid files, the hostile fixtures, and damaged copies of valid files. */
static size_t collect_files(const char *dir, char **files) {
    const char *rel[] = {"schema/example_lstm.h5", "schema/h5py_gru.h5", "schema/bad_chunk_crashes_libhdf5.h5",
                         "schema/bad_crashes_libhdf5.h5"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) files[n++] = fixture_path(rel[i]);
    const char *src = getenv("RNNCK_SOURCE_DIR");
    const char *more[] = {"fuzz/corpus/rnnck_h5/gru_bi_2layer.h5", "fuzz/corpus/rnnck_h5/lstm_proj.h5",
                          "fuzz/corpus/rnnck_h5/rnn_relu_nobias.h5",
                          "fuzz/known_libhdf5/rnnck_h5/heap_overflow_H5O_msg_iterate_in_H5Aexists.h5",
                          "fuzz/known_libhdf5/rnnck_h5/huge_malloc_H5C_protect_metadata_entry.h5"};
    for (size_t i = 0; i < sizeof more / sizeof *more; i++) {
        char *p = path_join(src ? src : ".", more[i]);
        if (access(p, R_OK) == 0)
            files[n++] = p;
        else
            free(p);
    }
    size_t len;
    unsigned char *good = read_file(files[0], &len);
    cr_assert(good && len > 4096);
    /* Truncations and flipped bytes in the metadata. */
    size_t cuts[] = {len / 2, len - 100, 3000, 1200};
    for (size_t i = 0; i < 4; i++) {
        char name[32];
        snprintf(name, sizeof name, "cut%zu.h5", i);
        files[n] = path_join(dir, name);
        cr_assert_eq(write_file(files[n++], good, cuts[i]), 0);
    }
    for (size_t i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "flip%zu.h5", i);
        unsigned char *bad = malloc(len);
        memcpy(bad, good, len);
        for (size_t k = 0; k < 16; k++) bad[(96 + i * 331 + k * 97) % 4096] ^= (unsigned char)(0x5a + i + k);
        files[n] = path_join(dir, name);
        cr_assert_eq(write_file(files[n++], bad, len), 0);
        free(bad);
    }
    free(good);
    return n;
}

static atomic_int stop;
static atomic_long host_rounds;

/* Allocates, touches and frees memory, and runs rnnck code that does not
 * touch libhdf5, until told to stop. */
static void *host_worker(void *arg) {
    uintptr_t seed = (uintptr_t)arg;
    while (!atomic_load(&stop)) {
        void *blocks[16];
        for (int i = 0; i < 16; i++) {
            seed = seed * 6364136223846793005u + 1442695040888963407u;
            size_t n = 16 + (seed >> 40) % 65536;
            blocks[i] = malloc(n);
            if (blocks[i]) memset(blocks[i], (int)i, n);
        }
        for (int i = 0; i < 16; i++) free(blocks[i]);
        int64_t shape[2] = {32, 48};
        rnnck_tensor *t = NULL;
        rnnck_rng *rng = NULL;
        if (!rnnck_rng_new(seed, &rng) && !rnnck_tensor_new(RNNCK_F32, 2, shape, &t)) {
            rnnck_init_uniform(t, -1, 1, rng);
            double mean;
            rnnck_tensor_stats(t, NULL, NULL, &mean, NULL, NULL);
        }
        rnnck_tensor_free(t);
        rnnck_rng_free(rng);
        atomic_fetch_add(&host_rounds, 1);
        /* A short pause: busy, but leaving the CI machine's cores to the
         * opener (helper start-up dominates the test's time). */
        struct timespec pause = {0, 500 * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

typedef struct opener_job {
    char **files;
    size_t nfiles;
    const verdict *expected;
    int mismatches;
    char first[1200];
} opener_job;

static void *opener(void *arg) {
    opener_job *j = arg;
    for (int i = 0; i < OPENS; i++) {
        size_t f = (size_t)i % j->nfiles;
        verdict v = judge(j->files[f]);
        if (!same_verdict(&v, &j->expected[f]) && j->mismatches++ == 0)
            snprintf(j->first, sizeof j->first, "%s: %d/%d '%s' alone, %d/%d '%s' with the host busy", j->files[f],
                     j->expected[f].open, j->expected[f].load, j->expected[f].msg, v.open, v.load, v.msg);
    }
    return NULL;
}

Test(isolation, opens_among_busy_host_threads_never_hang_and_match_the_lone_run) {
    test_deadline(900);
    char *dir = tmpdir_new();
    char *files[MAX_FILES];
    size_t n = collect_files(dir, files);
    verdict expected[MAX_FILES];
    int hostile = 0;
    for (size_t i = 0; i < n; i++) {
        expected[i] = judge(files[i]);
        hostile += expected[i].open != RNNCK_OK || expected[i].load != RNNCK_OK;
    }
    cr_assert_geq(hostile, 8, "only %d of %zu files are refused: the set is not hostile enough", hostile, n);
    cr_assert_geq((int)n - hostile, 3, "fewer than 3 valid files");
    pthread_t host[HOST_THREADS], op;
    for (uintptr_t i = 0; i < HOST_THREADS; i++) cr_assert_eq(pthread_create(&host[i], NULL, host_worker, (void *)(i + 1)), 0);
    opener_job j = {files, n, expected, 0, ""};
    cr_assert_eq(pthread_create(&op, NULL, opener, &j), 0);
    pthread_join(op, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < HOST_THREADS; i++) pthread_join(host[i], NULL);
    cr_expect_eq(j.mismatches, 0, "%d of %d verdicts differ; first: %s", j.mismatches, OPENS, j.first);
    cr_expect_gt(atomic_load(&host_rounds), HOST_THREADS, "the host threads did not run");
    for (size_t i = 0; i < n; i++) free(files[i]);
    tmpdir_remove(dir);
}

Test(isolation, a_host_ignoring_sigchld_still_gets_the_verdicts) {
    /* SIGCHLD ignored: children are reaped by the kernel, the library cannot
     * have the exit status; the reply on the pipe is still the verdict. */
    signal(SIGCHLD, SIG_IGN);
    char *good = fixture_path("schema/example_lstm.h5"), *bad = fixture_path("schema/bad_crashes_libhdf5.h5");
    rnnck_model *m = NULL;
    cr_expect_eq(rnnck_load(good, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_model_load_all(m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    m = NULL;
    cr_expect_eq(rnnck_load(bad, NULL, &m), RNNCK_E_FORMAT);
    rnnck_model_free(m);
    free(good);
    free(bad);
}

Test(isolation, trusted_files_are_read_in_process_with_the_same_result) {
    char *good = fixture_path("schema/example_lstm.h5");
    rnnck_open_opts o = {0};
    o.flags = RNNCK_OPEN_TRUSTED;
    rnnck_model *a = NULL, *b = NULL;
    cr_assert_eq(rnnck_open(good, &o, &a), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_load(good, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(a), RNNCK_OK);
    cr_assert_eq(rnnck_model_load_all(b), RNNCK_OK);
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b));
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        const rnnck_tensor *x = rnnck_model_tensor(a, i), *y = rnnck_model_tensor(b, i);
        cr_expect_eq(rnnck_tensor_nbytes(x), rnnck_tensor_nbytes(y));
        cr_expect(memcmp(rnnck_tensor_cdata(x), rnnck_tensor_cdata(y), rnnck_tensor_nbytes(x)) == 0);
    }
    rnnck_report *r = NULL;
    cr_expect_eq(rnnck_check_file(good, RNNCK_CHECK_TRUSTED, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_report_count(r), 0);
    rnnck_report_free(r);
    rnnck_model_free(a);
    rnnck_model_free(b);
    free(good);
}

Test(isolation, the_helper_is_found_beside_the_library_not_on_path) {
    /* An empty PATH changes nothing: the helper is found from this program's
     * own location (a build tree keeps it beside the tests). */
    setenv("PATH", "/nonexistent", 1);
    char *good = fixture_path("schema/example_lstm.h5");
    rnnck_model *m = NULL;
    cr_expect_eq(rnnck_load(good, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    free(good);
}

/* The one child of this process (the session's helper), from /proc; 0 if
 * there is not exactly one. */
static pid_t only_child(void) {
    DIR *d = opendir("/proc");
    cr_assert(d);
    pid_t found = 0;
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        const char *rp = strrchr(buf, ')');
        int ppid = 0;
        char state;
        if (rp && sscanf(rp + 1, " %c %d", &state, &ppid) == 2 && ppid == (int)getpid()) {
            found = (pid_t)atoi(e->d_name);
            count++;
        }
    }
    closedir(d);
    return count == 1 ? found : 0;
}

Test(isolation, a_read_session_serves_many_reads_and_fails_cleanly_once_its_helper_dies) {
    char *path = fixture_path("keras/tfk2_lstm_dense.h5");
    const char *bias = "/model_weights/dense/dense/bias:0", *kernel = "/model_weights/dense/dense/kernel:0";
    /* the same data read in-process (trusted) */
    rnnck__h5_tree *t = NULL;
    cr_assert_eq(rnnck__h5_tree_load(path, NULL, true, &t), RNNCK_OK, "%s", rnnck_errmsg());
    float want_b[2], want_k[8], b[2], k[8];
    cr_assert_eq(rnnck__h5_tree_read(t, rnnck__h5t_find(rnnck__h5_tree_root(t), bias), want_b, sizeof want_b),
                 RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck__h5_tree_read(t, rnnck__h5t_find(rnnck__h5_tree_root(t), kernel), want_k, sizeof want_k),
                 RNNCK_OK, "%s", rnnck_errmsg());
    rnnck__h5_tree_free(t);

    unsigned long long starts = rnnck__h5_helper_starts();
    rnnck__h5_session *s = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    cr_assert(fd >= 0 && fstat(fd, &sb) == 0);
    cr_assert_eq(rnnck__h5_session_open(path, fd, &sb, 64, 1024, &s), RNNCK_OK, "%s", rnnck_errmsg());
    close(fd); /* the helper has its own copy */
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(rnnck__h5_session_read(s, bias, RNNCK_F32, 2, b, sizeof b), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck__h5_session_read(s, kernel, RNNCK_F32, 8, k, sizeof k), RNNCK_OK, "%s", rnnck_errmsg());
        cr_expect_eq(memcmp(b, want_b, sizeof b), 0);
        cr_expect_eq(memcmp(k, want_k, sizeof k), 0);
    }
    /* a refused read (wrong element count) is answered; the session goes on */
    cr_expect_eq(rnnck__h5_session_read(s, kernel, RNNCK_F32, 7, k, 28), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "kernel:0"), "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_session_read(s, bias, RNNCK_F32, 2, b, sizeof b), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_helper_starts() - starts, 1, "one helper for every read");
    /* the helper dies: the next read fails (no SIGPIPE here), and so does
     * every later one, without a new helper */
    pid_t helper = only_child();
    cr_assert_gt(helper, 0, "the session's helper is this process's only child");
    cr_assert_eq(kill(helper, SIGKILL), 0);
    cr_expect_eq(rnnck__h5_session_read(s, bias, RNNCK_F32, 2, b, sizeof b), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "tfk2_lstm_dense.h5: /model_weights/dense/dense/bias:0"), "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_session_read(s, kernel, RNNCK_F32, 8, k, sizeof k), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "failed on an earlier dataset"), "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_helper_starts() - starts, 1);
    rnnck__h5_session_close(s);
    free(path);
}

/* libhdf5 1.10.8 loops for minutes on some corrupt 15 KB files (found by
 * fuzz_keras: over 26 s of CPU in a Release build before the helper's old
 * 30 s limit). A metadata job gets 5 s of CPU plus time for the file's size:
 * the helper is stopped and the file refused, naming the cause. */
Test(isolation, a_file_libhdf5_loops_on_is_refused_when_the_helper_runs_out_of_cpu) {
    test_deadline(300);
    const char *src = getenv("RNNCK_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/fuzz/known_libhdf5/keras/cpu_loop_in_libhdf5_15KB.h5", src ? src : ".");
    rnnck_open_opts opts = {.format = "keras"};
    rnnck_model *m = NULL;
    rnnck_status st = rnnck_open(path, &opts, &m);
    cr_expect_eq(st, RNNCK_E_FORMAT, "status %d: %s", st, rnnck_errmsg());
    cr_expect(strstr(rnnck_errmsg(), "CPU time"), "%s", rnnck_errmsg());
    cr_expect_null(m);
    rnnck_model_free(m);
}

/* Helper processes this process saw end (SIGCHLD; each helper is waited for
 * before the next starts, so none is merged with another). */
static volatile sig_atomic_t children_ended;
static void count_child(int sig) {
    (void)sig;
    children_ended++;
}

static int helpers_for(rnnck_status (*op)(const char *, rnnck_model **), const char *path, rnnck_status *st) {
    struct sigaction sa = {0}, old;
    sa.sa_handler = count_child;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, &old);
    children_ended = 0;
    rnnck_model *m = NULL;
    *st = op(path, &m);
    rnnck_model_free(m);
    sigaction(SIGCHLD, &old, NULL);
    return (int)children_ended;
}

static rnnck_status open_detected(const char *path, rnnck_model **m) { return rnnck_open(path, NULL, m); }
static rnnck_status open_small_limits(const char *path, rnnck_model **m) {
    rnnck_limits l;
    rnnck_limits_init(&l);
    l.max_tensors = 1000;
    rnnck_open_opts o = {0};
    o.limits = &l;
    return rnnck_open(path, &o, m);
}
static rnnck_status detect_then_load(const char *path, rnnck_model **m) {
    const char *fmt;
    rnnck_status st = rnnck_detect_format(path, &fmt);
    return st ? st : rnnck_load(path, NULL, m);
}

Test(isolation, an_open_that_detects_an_rnnck_file_walks_it_in_the_probe_helper_only) {
    char *good = fixture_path("schema/example_lstm.h5");
    rnnck_status st;
    cr_expect_eq(helpers_for(open_detected, good, &st), 1, "detection's probe helper and a second walk helper");
    cr_expect_eq(st, RNNCK_OK, "%s", rnnck_errmsg());
    /* Other limits than the probe's: the load walks again, in its own helper. */
    cr_expect_eq(helpers_for(open_small_limits, good, &st), 2);
    cr_expect_eq(st, RNNCK_OK, "%s", rnnck_errmsg());
    /* rnnck_detect_format keeps no note for a later, separate load. */
    cr_expect_eq(helpers_for(detect_then_load, good, &st), 2);
    cr_expect_eq(st, RNNCK_OK, "%s", rnnck_errmsg());
    /* A file refused by the walk is still refused, with the walk's message. */
    char *bad = fixture_path("schema/bad_crashes_libhdf5.h5");
    rnnck_model *m = NULL;
    cr_expect_eq(rnnck_open(bad, NULL, &m), RNNCK_E_FORMAT);
    rnnck_model_free(m);
    free(bad);
    free(good);
}

static rnnck_report *description(void) {
    rnnck_report *r = calloc(1, sizeof *r);
    cr_assert(r && rnnck__report_add(r, "T 74 2f74 1 0 0 0 0") == RNNCK_OK);
    return r;
}

/* Whether a load of the file with identity sb and these limits gets the note. */
static bool took(const struct stat *sb, const rnnck_limits *l) {
    rnnck_report *r = rnnck__h5_walked(sb, l);
    bool got = r != NULL;
    rnnck_report_free(r);
    return got;
}

Test(isolation, a_walk_noted_at_detection_counts_only_for_the_unchanged_file_once) {
    char *dir = tmpdir_new();
    char *src = fixture_path("schema/example_lstm.h5"), path[512];
    snprintf(path, sizeof path, "%s/m.h5", dir);
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(src, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_save(m, path), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    struct stat before, now;
    cr_assert_eq(stat(path, &before), 0);
    now = before;
    rnnck__h5_walked_note(path, &before, description());
    cr_expect(took(&now, NULL));
    cr_expect(!took(&now, NULL), "a note serves one load only");
    rnnck__h5_walked_note(path, &before, description());
    rnnck_limits l;
    rnnck_limits_init(&l);
    l.max_dim = 1000;
    cr_expect(!took(&now, &l), "noted under the default limits, loaded under others");
    rnnck__h5_walked_note(path, &before, description());
    rnnck__h5_walked_forget();
    cr_expect(!took(&now, NULL));
    /* The file changes after the walk: its mtime and ctime move. */
    rnnck__h5_walked_note(path, &before, description());
    struct timespec later[2] = {{before.st_atim.tv_sec + 10, 0}, {before.st_mtim.tv_sec + 10, 0}};
    cr_assert_eq(utimensat(AT_FDCWD, path, later, 0), 0);
    cr_assert_eq(stat(path, &now), 0);
    cr_expect(!took(&now, NULL), "a file changed since its walk counts as walked");
    /* ... or changed while the helper walked it: nothing is noted. */
    rnnck__h5_walked_note(path, &before, description());
    cr_expect(!took(&before, NULL));
    free(src);
    tmpdir_remove(dir);
}

/* ---- untrusted rnnck files never reach libhdf5 in this process ---- */

#include "helpers/h5craft.h"

/* Every tensor of a and b (both fully loaded) equal byte for byte. */
static void expect_same_models(rnnck_model *a, rnnck_model *b) {
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b));
    cr_assert_eq(rnnck_model_module_count(a), rnnck_model_module_count(b));
    for (size_t i = 0; i < rnnck_model_module_count(a); i++) {
        const rnnck_module_info *x = rnnck_model_module(a, i), *y = rnnck_model_module(b, i);
        cr_expect_str_eq(x->name, y->name);
        const char *diff = module_info_difference(x, y);
        cr_expect_null(diff, "module '%s' differs in %s", x->name, diff);
    }
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        const rnnck_tensor *x = rnnck_model_tensor(a, i), *y = rnnck_model_tensor(b, i);
        cr_expect_str_eq(rnnck_tensor_name(x), rnnck_tensor_name(y));
        cr_expect_eq(rnnck_tensor_dtype(x), rnnck_tensor_dtype(y));
        cr_assert_eq(rnnck_tensor_nbytes(x), rnnck_tensor_nbytes(y));
        cr_expect(memcmp(rnnck_tensor_cdata(x), rnnck_tensor_cdata(y), rnnck_tensor_nbytes(x)) == 0, "%s differs",
                  rnnck_tensor_name(x));
    }
}

/* rnnck_open (detected, and --from rnnck) and rnnck_load, each with a full
 * load: no libhdf5 open of the file here, and the same model as a trusted
 * (in-process) read. */
static void expect_untouched_by_libhdf5(const char *path) {
    rnnck_open_opts trusted = {.flags = RNNCK_OPEN_TRUSTED}, named = {.format = "rnnck"};
    rnnck_model *want = NULL;
    unsigned long long opens = rnnck__h5_inproc_opens();
    cr_assert_eq(rnnck_open(path, &trusted, &want), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_load_all(want), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_gt(rnnck__h5_inproc_opens(), opens, "a trusted open is counted");
    for (int how = 0; how < 3; how++) {
        rnnck_model *m = NULL;
        opens = rnnck__h5_inproc_opens();
        rnnck_status st = how == 0 ? rnnck_open(path, NULL, &m) : how == 1 ? rnnck_open(path, &named, &m)
                                                                           : rnnck_load(path, NULL, &m);
        cr_assert_eq(st, RNNCK_OK, "%s: %s", path, rnnck_errmsg());
        cr_assert_eq(rnnck_model_load_all(m), RNNCK_OK, "%s: %s", path, rnnck_errmsg());
        cr_expect_eq(rnnck__h5_inproc_opens(), opens, "%s (way %d): libhdf5 opened the untrusted file here", path,
                     how);
        expect_same_models(m, want);
        rnnck_model_free(m);
    }
    rnnck_model_free(want);
}

Test(isolation, an_untrusted_rnnck_open_and_full_load_never_open_the_file_with_libhdf5_here) {
    char *dir = tmpdir_new();
    char *example = fixture_path("schema/example_lstm.h5"), *gru = fixture_path("schema/h5py_gru.h5");
    expect_untouched_by_libhdf5(example);
    expect_untouched_by_libhdf5(gru);
    /* chunked (compressed) datasets */
    char *packed = path_join(dir, "packed.h5");
    rnnck_model *m = craft_example(RNNCK_F32);
    rnnck_write_opts wo = {.format = "rnnck", .compress = 4};
    cr_assert_eq(rnnck_write_ex(m, packed, &wo, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    expect_untouched_by_libhdf5(packed);
    /* check stays in the helper too */
    unsigned long long opens = rnnck__h5_inproc_opens();
    rnnck_report *r = NULL;
    cr_expect_eq(rnnck_check_file(packed, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_report_count(r), 0);
    rnnck_report_free(r);
    cr_expect_eq(rnnck__h5_inproc_opens(), opens);
    free(packed);
    free(example);
    free(gru);
    tmpdir_remove(dir);
}

/* Big-endian and compact datasets: read from the descriptor (swapped) and
 * through the session, as libhdf5 reads them in-process. */
Test(isolation, big_endian_and_compact_datasets_read_without_libhdf5_match_the_trusted_read) {
    char *dir = tmpdir_new();
    char *path = craft_example_copy(dir, "orders.h5");
    float f[12];
    int64_t q[5];
    double c[6];
    for (int i = 0; i < 12; i++) f[i] = 0.5f * (float)i - 2.25f;
    for (int i = 0; i < 5; i++) q[i] = ((int64_t)1 << 40) * i - 7;
    for (int i = 0; i < 6; i++) c[i] = 1.0 / (i + 1);
    hsize_t d12[2] = {3, 4}, d5[1] = {5}, d6[1] = {6};
    cr_assert_eq(h5c_put_dataset(path, "/be_f32", H5T_IEEE_F32BE, 2, d12, H5P_DEFAULT, NULL), 0);
    cr_assert_eq(h5c_put_dataset(path, "/be_i64", H5T_STD_I64BE, 1, d5, H5P_DEFAULT, NULL), 0);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_COMPACT);
    cr_assert_eq(h5c_put_dataset(path, "/compact_f64", H5T_IEEE_F64LE, 1, d6, dcpl, NULL), 0);
    H5Pclose(dcpl);
    /* the data, converted to the file's order by libhdf5 */
    hid_t fid = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(fid, 0);
    const char *names[] = {"/be_f32", "/be_i64", "/compact_f64"};
    hid_t mems[] = {H5T_NATIVE_FLOAT, H5T_NATIVE_INT64, H5T_NATIVE_DOUBLE};
    const void *data[] = {f, q, c};
    for (int i = 0; i < 3; i++) {
        hid_t ds = H5Dopen2(fid, names[i], H5P_DEFAULT);
        cr_assert_geq(ds, 0);
        cr_assert_geq(H5Dwrite(ds, mems[i], H5S_ALL, H5S_ALL, H5P_DEFAULT, data[i]), 0);
        H5Dclose(ds);
    }
    H5Fclose(fid);
    expect_untouched_by_libhdf5(path);
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    float gf[12];
    int64_t gq[5];
    double gc[6];
    cr_assert_eq(rnnck_model_read(m, "be_f32", RNNCK_F32, gf, sizeof gf), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_read(m, "be_i64", RNNCK_I64, gq, sizeof gq), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_read(m, "compact_f64", RNNCK_F64, gc, sizeof gc), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect(memcmp(gf, f, sizeof f) == 0 && memcmp(gq, q, sizeof q) == 0 && memcmp(gc, c, sizeof c) == 0);
    rnnck_model_free(m);
    free(path);
    tmpdir_remove(dir);
}

/* A file of 200 chunked datasets (fill value i*1000+k). */
static char *many_chunked(const char *dir) {
    char *path = path_join(dir, "many.h5");
    rnnck_model *m;
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    for (int i = 0; i < 200; i++) {
        int64_t shape[2] = {4, 8};
        rnnck_tensor *t;
        char name[32];
        snprintf(name, sizeof name, "t%03d", i);
        cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, shape, &t), RNNCK_OK);
        float *d = rnnck_tensor_data(t);
        for (int k = 0; k < 32; k++) d[k] = (float)(i * 1000 + k);
        cr_assert_eq(rnnck_model_add_tensor(m, name, t), RNNCK_OK);
        rnnck_tensor_free(t);
    }
    rnnck_write_opts wo = {.format = "rnnck", .compress = 1};
    cr_assert_eq(rnnck_write_ex(m, path, &wo, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    return path;
}

static void expect_tensor_values(rnnck_model *m, int i) {
    char name[32];
    float got[32];
    snprintf(name, sizeof name, "t%03d", i);
    cr_assert_eq(rnnck_model_read(m, name, RNNCK_F32, got, sizeof got), RNNCK_OK, "%s", rnnck_errmsg());
    for (int k = 0; k < 32; k++) cr_expect_eq(got[k], (float)(i * 1000 + k), "%s[%d]", name, k);
}

Test(isolation, a_file_of_200_chunked_datasets_is_read_by_one_helper_session_not_one_helper_each) {
    test_deadline(300);
    char *dir = tmpdir_new();
    char *path = many_chunked(dir);
    unsigned long long starts = rnnck__h5_helper_starts();
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_helper_starts() - starts, 1, "the walk");
    cr_assert_eq(rnnck_model_load_all(m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck__h5_helper_starts() - starts, 2, "the walk and one session for all 200 datasets");
    cr_expect_eq(rnnck__h5_source_sessions(m), 1);
    /* lazy reads again and again: the session's budget (the datasets' bytes)
     * runs out after one pass, and a new session serves the next */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < 200; i += 7) expect_tensor_values(m, i);
    unsigned sessions = rnnck__h5_source_sessions(m);
    cr_expect(sessions >= 1 && sessions <= 2, "%u sessions for under two passes of reads", sessions);
    rnnck_model_free(m);
    cr_expect_eq(only_child(), 0, "the session ends with the model");
    free(path);
    tmpdir_remove(dir);
}

Test(isolation, a_model_whose_session_helper_died_starts_a_new_one_at_the_next_read) {
    char *dir = tmpdir_new();
    char *path = many_chunked(dir);
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    expect_tensor_values(m, 3);
    pid_t helper = only_child();
    cr_assert_gt(helper, 0, "the session's helper is this process's only child");
    cr_assert_eq(kill(helper, SIGKILL), 0);
    float got[32];
    cr_expect_eq(rnnck_model_read(m, "t004", RNNCK_F32, got, sizeof got), RNNCK_E_FORMAT);
    cr_expect(strstr(rnnck_errmsg(), "many.h5: /t004"), "%s", rnnck_errmsg());
    expect_tensor_values(m, 4); /* the dataset is fine: a new helper reads it */
    expect_tensor_values(m, 199);
    cr_expect_eq(rnnck__h5_source_sessions(m), 2);
    rnnck_model_free(m);
    free(path);
    tmpdir_remove(dir);
}

/* The description the helper sends is checked like file data. */
static rnnck_status rebuild_lines(const char *path, const char *const *lines, size_t n) {
    rnnck_report r = {0};
    for (size_t i = 0; i < n; i++) cr_assert_eq(rnnck__report_add(&r, lines[i]), RNNCK_OK);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert_geq(fd, 0);
    struct stat sb;
    cr_assert_eq(fstat(fd, &sb), 0);
    rnnck_model *m = NULL;
    rnnck_status st = rnnck__h5_rebuild(path, NULL, fd, (int64_t)sb.st_size, &r, &m);
    rnnck_model_free(m);
    for (size_t i = 0; i < r.count; i++) free(r.items[i]);
    free(r.items);
    return st;
}

Test(isolation, an_inconsistent_description_from_the_helper_is_refused) {
    char *path = fixture_path("schema/example_lstm.h5");
    /* tensor "t" at "/t": float32, contiguous, [4] at offset 64 (within the file) */
    char ok_line[128], far[128], huge[128], badhex[] = "T 7 2f74 0 0 0 0 0";
    snprintf(ok_line, sizeof ok_line, "T 74 2f74 %d 0 64 0 1 4", (int)RNNCK_F32);
    snprintf(far, sizeof far, "T 74 2f74 %d 0 %lld 0 1 4", (int)RNNCK_F32, (long long)1 << 40);
    snprintf(huge, sizeof huge, "T 74 2f74 %d 2 0 0 2 %lld %lld", (int)RNNCK_F32, (long long)1 << 30,
             (long long)1 << 30);
    const char *good[] = {ok_line};
    cr_expect_eq(rebuild_lines(path, good, 1), RNNCK_OK, "%s", rnnck_errmsg());
    const char *cases[][2] = {{far, NULL}, {huge, NULL}, {badhex, NULL}, {ok_line, ok_line}, {"X 1", NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n = cases[i][1] ? 2 : 1;
        cr_expect_eq(rebuild_lines(path, cases[i], n), RNNCK_E_FORMAT, "case %zu", i);
        cr_expect(strstr(rnnck_errmsg(), "description of the file is inconsistent"), "%s", rnnck_errmsg());
    }
    /* module "r" (LSTM, input 3, hidden 4) with its four parameters; without
     * one of them, or with one of another shape, it is refused */
    char mod[512], p[4][128], bad_shape[128];
    snprintf(mod, sizeof mod,
             "M 72 %d 3 4 1 0 1 0 0 %d 1 0x0p+0 0 0x0p+0 0 0 0 0 0x0p+0 0x0p+0 0 0x0p+0 0x0p+0 1 0x0p+0 0x0p+0 1 "
             "0x0p+0 0x0p+0 "
             "0 0x0p+0 0x0p+0 1 0x0p+0 0x0p+0 1 0x0p+0 0x0p+0",
             (int)RNNCK_CELL_LSTM, (int)RNNCK_F32);
    const char *pname[] = {"r.weight_ih_l0", "r.weight_hh_l0", "r.bias_ih_l0", "r.bias_hh_l0"};
    const char *pdims[] = {"2 16 3", "2 16 4", "1 16", "1 16"};
    for (int i = 0; i < 4; i++) {
        char hexname[64] = "";
        for (size_t k = 0; pname[i][k]; k++) snprintf(hexname + 2 * k, 3, "%02x", (unsigned char)pname[i][k]);
        snprintf(p[i], sizeof p[i], "T %s 2f%x %d 0 0 0 %s", hexname, 0x70 + i, (int)RNNCK_F32, pdims[i]);
        if (i == 0) snprintf(bad_shape, sizeof bad_shape, "T %s 2f70 %d 0 0 0 2 16 2", hexname, (int)RNNCK_F32);
    }
    const char *whole[] = {mod, p[0], p[1], p[2], p[3]};
    cr_expect_eq(rebuild_lines(path, whole, 5), RNNCK_OK, "%s", rnnck_errmsg());
    const char *partial[] = {mod, p[0], p[1], p[2]};
    cr_expect_eq(rebuild_lines(path, partial, 4), RNNCK_E_FORMAT);
    const char *misshapen[] = {mod, bad_shape, p[1], p[2], p[3]};
    cr_expect_eq(rebuild_lines(path, misshapen, 5), RNNCK_E_FORMAT);
    /* the module's cell_clip (schema 1.2) travels too, and is judged: 0.75 is
     * taken, a negative one refused */
    char clipped[512], *at = strstr(mod, " 0 0 0 0 0x0p+0 0x0p+0 ");
    cr_assert(at);
    for (int k = 0; k < 2; k++) {
        snprintf(clipped, sizeof clipped, "%.*s 0 0 0 0 %s 0x0p+0 %s", (int)(at - mod), mod,
                 k ? "-0x1p+0" : "0x1.8p-1", at + strlen(" 0 0 0 0 0x0p+0 0x0p+0 "));
        const char *lines[] = {clipped, p[0], p[1], p[2], p[3]};
        cr_expect_eq(rebuild_lines(path, lines, 5), k ? RNNCK_E_FORMAT : RNNCK_OK, "cell_clip %s: %s",
                     k ? "-1" : "0.75", rnnck_errmsg());
    }
    free(path);
}

/* Bytes this process has read through read()/pread() so far. */
static long long bytes_read(void) {
    FILE *f = fopen("/proc/self/io", "r");
    long long v = -1, val;
    char key[64];
    while (f && fscanf(f, "%63[^:]: %lld\n", key, &val) == 2)
        if (strcmp(key, "rchar") == 0) v = val;
    if (f) fclose(f);
    return v;
}

Test(isolation, a_contiguous_tensor_of_an_untrusted_file_is_read_as_its_own_bytes_only) {
    char *path = fixture_path("schema/example_lstm.h5");
    rnnck_model *m = NULL;
    cr_assert_eq(rnnck_load(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor *big = NULL;
    for (size_t i = 0; i < rnnck_model_tensor_count(m); i++) {
        rnnck_tensor *t = rnnck_model_tensor(m, i);
        if (!big || rnnck_tensor_nbytes(t) > rnnck_tensor_nbytes(big)) big = t;
    }
    cr_assert(big && rnnck_tensor_nbytes(big) > 0);
    /* reading /proc/self/io is counted too: measure what one look costs */
    long long probe = bytes_read();
    if (probe < 0) cr_skip_test("no /proc/self/io here: bytes read cannot be counted");
    long long look = bytes_read() - probe;
    unsigned long long starts = rnnck__h5_helper_starts(), opens = rnnck__h5_inproc_opens();
    long long before = bytes_read();
    cr_assert_eq(rnnck_model_load_tensor(m, big), RNNCK_OK, "%s", rnnck_errmsg());
    long long extra = bytes_read() - before - look - (long long)rnnck_tensor_nbytes(big);
    /* a look's own size may differ by a digit or two of the counters */
    cr_expect(extra >= -4 && extra <= 4, "reading %s (%zu bytes) read %lld bytes more than it holds",
              rnnck_tensor_name(big), rnnck_tensor_nbytes(big), extra);
    cr_expect_eq(rnnck__h5_helper_starts(), starts, "no helper for contiguous data");
    cr_expect_eq(rnnck__h5_inproc_opens(), opens);
    rnnck_model_free(m);
    free(path);
}

/* ---- one open: a file renamed over the path is never read ---- */

/* A schema file whose tensors hold base + k: "plain" (contiguous, read by
 * this process), "chunked" (deflated chunks) and "compact" (both read by a
 * helper session). */
static char *swap_file(const char *dir, const char *name, float base) {
    char *path = path_join(dir, name);
    float v[12];
    for (int k = 0; k < 12; k++) v[k] = base + (float)k;
    rnnck_model *m = NULL;
    rnnck_tensor *t = NULL;
    int64_t shape[2] = {3, 4};
    cr_assert_eq(rnnck_model_new(&m), RNNCK_OK);
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 2, shape, &t), RNNCK_OK);
    memcpy(rnnck_tensor_data(t), v, sizeof v);
    cr_assert_eq(rnnck_model_add_tensor(m, "plain", t), RNNCK_OK);
    rnnck_tensor_free(t);
    cr_assert_eq(rnnck_save(m, path), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    hsize_t dims[2] = {3, 4}, chunk[2] = {2, 2};
    cr_assert_eq(h5c_put_chunked(path, "/chunked", H5T_NATIVE_FLOAT, 2, dims, chunk, 4, v), 0);
    cr_assert_eq(h5c_put_compact(path, "/compact", H5T_NATIVE_FLOAT, 2, dims, v), 0);
    return path;
}

static void expect_base(rnnck_model *m, const char *name, float base) {
    float got[12];
    cr_assert_eq(rnnck_model_read(m, name, RNNCK_F32, got, sizeof got), RNNCK_OK, "%s: %s", name, rnnck_errmsg());
    for (int k = 0; k < 12; k++)
        cr_expect_eq(got[k], base + (float)k, "%s[%d] is %g: read from %s", name, k, got[k],
                     got[k] >= 100 ? "the file renamed over the path" : "?");
}

Test(isolation, data_read_after_another_file_was_renamed_over_the_path_is_the_opened_files) {
    char *dir = tmpdir_new();
    char *path = swap_file(dir, "model.h5", 1.0f), *other = swap_file(dir, "other.h5", 100.0f);
    rnnck_model *m = NULL, *n = NULL;
    cr_assert_eq(rnnck_load(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_load(path, NULL, &n), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rename(other, path), 0);
    /* lazily, one at a time (each data kind's first read after the swap) */
    const char *names[] = {"plain", "chunked", "compact"};
    for (int i = 0; i < 3; i++) expect_base(m, names[i], 1.0f);
    /* and all at once */
    cr_assert_eq(rnnck_model_load_all(n), RNNCK_OK, "%s", rnnck_errmsg());
    for (int i = 0; i < 3; i++) expect_base(n, names[i], 1.0f);
    rnnck_model_free(m);
    rnnck_model_free(n);
    /* a new open reads the new file */
    cr_assert_eq(rnnck_load(path, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    for (int i = 0; i < 3; i++) expect_base(m, names[i], 100.0f);
    rnnck_model_free(m);
    free(path);
    free(other);
    tmpdir_remove(dir);
}

Test(isolation, a_keras_file_renamed_over_the_path_after_the_walk_is_never_read) {
    char *dir = tmpdir_new(), *src = fixture_path("keras/tfk2_lstm_dense.h5");
    char *path = path_join(dir, "k.h5"), *other = path_join(dir, "other.h5");
    const char *kernel = "/model_weights/dense/dense/kernel:0";
    size_t len;
    unsigned char *bytes = read_file(src, &len);
    cr_assert(bytes && write_file(path, bytes, len) == 0 && write_file(other, bytes, len) == 0);
    free(bytes);
    float want[8], changed[8], got[8];
    rnnck__h5_tree *t = NULL;
    cr_assert_eq(rnnck__h5_tree_load(path, NULL, true, &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck__h5_tree_read(t, rnnck__h5t_find(rnnck__h5_tree_root(t), kernel), want, sizeof want), RNNCK_OK,
                 "%s", rnnck_errmsg());
    rnnck__h5_tree_free(t);
    for (int k = 0; k < 8; k++) changed[k] = 1000.0f + (float)k;
    hid_t fid = H5Fopen(other, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(fid, 0);
    hid_t ds = H5Dopen2(fid, kernel, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    cr_assert_geq(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, changed), 0);
    H5Dclose(ds);
    H5Fclose(fid);
    cr_assert_eq(rnnck__h5_tree_load(path, NULL, false, &t), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rename(other, path), 0);
    cr_assert_eq(rnnck__h5_tree_read(t, rnnck__h5t_find(rnnck__h5_tree_root(t), kernel), got, sizeof got), RNNCK_OK,
                 "%s", rnnck_errmsg());
    cr_expect(memcmp(got, want, sizeof got) == 0, "the kernel was read from the file renamed over the path (%g)",
              got[0]);
    rnnck__h5_tree_free(t);
    free(src);
    free(path);
    free(other);
    tmpdir_remove(dir);
}

/* The descriptor a job is handed must still be the file the caller checked. */
Test(isolation, a_job_on_a_descriptor_whose_file_changed_size_is_refused) {
    char *dir = tmpdir_new();
    char *path = swap_file(dir, "model.h5", 1.0f);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat sb;
    cr_assert(fd >= 0 && fstat(fd, &sb) == 0);
    cr_assert_eq(ftruncate(fd, sb.st_size + 512), 0);
    rnnck_report r = {0};
    cr_expect_eq(rnnck__h5_isolated(path, fd, &sb, NULL, 0, RNNCK__H5_JOB_WALK, &r), RNNCK_E_IO);
    cr_expect(strstr(rnnck_errmsg(), "changed"), "%s", rnnck_errmsg());
    for (size_t i = 0; i < r.count; i++) free(r.items[i]);
    free(r.items);
    close(fd);
    free(path);
    tmpdir_remove(dir);
}

/* ---- the reply a helper sends is untrusted too ---- */

static char canned[256];
static size_t canned_len;

static int canned_reply(const char *job) {
    (void)job;
    int p[2];
    if (pipe(p) != 0) return -1;
    if (write(p[1], canned, canned_len) != (ssize_t)canned_len) canned_len = 0;
    close(p[1]);
    return p[0];
}

static void can(const char *line) {
    int32_t ok = 0;
    uint64_t n = strlen(line), none = 0;
    memcpy(canned, RNNCK__H5_HELPER_MAGIC, 8);
    canned[8] = 'L';
    memcpy(canned + 9, &ok, 4);
    memcpy(canned + 13, &n, 8);
    memcpy(canned + 21, line, n);
    size_t at = 21 + n;
    canned[at] = 'S';
    memcpy(canned + at + 1, &ok, 4);
    memcpy(canned + at + 5, &none, 8);
    canned_len = at + 13;
}

/* Found by fuzz_rnnck_h5_reply: rnnck_check_file passed the helper's report
 * lines on as they came, so a helper that lost control to a hostile file
 * could break the one-line promise of every report item. */
Test(isolation, a_report_line_from_the_helper_must_be_one_non_empty_line) {
    char *path = fixture_path("schema/example_lstm.h5");
    rnnck__h5_spawn_hook = canned_reply;
    rnnck_report *r = NULL;
    can("a problem, on one line");
    cr_assert_eq(rnnck_check_file(path, 0, &r), RNNCK_OK, "%s", rnnck_errmsg());
    cr_expect_eq(rnnck_report_count(r), 1);
    cr_expect_str_eq(rnnck_report_item(r, 0), "a problem, on one line");
    rnnck_report_free(r);
    const char *bad[] = {"forged\nsecond line", "carriage\rreturn", "escape \x1b[2J", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        can(bad[i]);
        r = NULL;
        cr_expect_eq(rnnck_check_file(path, 0, &r), RNNCK_E_FORMAT, "line %zu accepted", i);
        cr_expect_null(r);
        cr_expect(!strchr(rnnck_errmsg(), '\n'), "%s", rnnck_errmsg());
    }
    rnnck__h5_spawn_hook = NULL;
    /* lines made in any process are one line */
    rnnck_report mine = {0};
    cr_assert_eq(rnnck__report_add(&mine, "link:a\nb\x7f"), RNNCK_OK);
    cr_expect_str_eq(mine.items[0], "link:a?b?");
    free(mine.items[0]);
    free(mine.items);
    free(path);
}

/* Found by fuzz_rnnck_h5_reply: a failure status with an empty message
 * became a failure without a message. */
Test(isolation, a_failure_the_helper_sends_without_a_message_still_has_one) {
    char *path = fixture_path("schema/example_lstm.h5");
    int32_t st = RNNCK_E_IO;
    uint64_t none = 0;
    memcpy(canned, RNNCK__H5_HELPER_MAGIC, 8);
    canned[8] = 'S';
    memcpy(canned + 9, &st, 4);
    memcpy(canned + 13, &none, 8);
    canned_len = 21;
    rnnck__h5_spawn_hook = canned_reply;
    rnnck_model *m = NULL;
    cr_expect_eq(rnnck_load(path, NULL, &m), RNNCK_E_IO);
    cr_expect_null(m);
    cr_expect(strstr(rnnck_errmsg(), "example_lstm.h5: the isolated reader failed (status -5) without saying why"),
              "%s", rnnck_errmsg());
    rnnck__h5_spawn_hook = NULL;
    free(path);
}

/* Without /proc the helper cannot reopen the caller's descriptor: the file
 * is refused with a message saying so (never read by path instead). A child
 * process gets a mount namespace of its own with an empty /proc (needs root
 * or CAP_SYS_ADMIN; skipped otherwise). */
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>

Test(isolation, without_proc_an_untrusted_file_is_refused_not_read_by_path) {
    char *path = fixture_path("schema/example_lstm.h5");
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        close(p[0]);
        char msg[600] = "";
        int code = 2; /* 2: no namespace (skip); 0: refused as wanted; 1: not */
        /* the helper is found through /proc/self/exe: before /proc goes */
        if (!rnnck__h5_helper_path()) _exit(1);
        if (unshare(CLONE_NEWNS) == 0 && mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
            mount("none", "/proc", "tmpfs", 0, NULL) == 0) {
            rnnck_model *m = NULL;
            rnnck_status st = rnnck_load(path, NULL, &m);
            snprintf(msg, sizeof msg, "%s", st ? rnnck_errmsg() : "loaded");
            code = st == RNNCK_E_IO && strstr(msg, "/proc") ? 0 : 1;
            rnnck_model_free(m);
        }
        if (write(p[1], msg, strlen(msg)) < 0) code = 1;
        _exit(code);
    }
    close(p[1]);
    char msg[600] = "";
    ssize_t n = read(p[0], msg, sizeof msg - 1);
    msg[n > 0 ? n : 0] = '\0';
    close(p[0]);
    int ws;
    cr_assert_eq(waitpid(child, &ws, 0), child);
    free(path);
    cr_assert(WIFEXITED(ws));
    if (WEXITSTATUS(ws) == 2) cr_skip_test("no mount namespace here (needs CAP_SYS_ADMIN)");
    cr_expect_eq(WEXITSTATUS(ws), 0, "without /proc: %s", msg);
}
