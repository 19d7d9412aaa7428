/* Streaming conversion: a checkpoint of a few hundred MB, made at test time,
 * converted .h5 -> .pt -> .h5 and .pt -> .npz -> .h5 by the rnnck tool under
 * an address-space limit (setrlimit RLIMIT_AS, what `prlimit --as` sets) of
 * the tool's own baseline + its largest tensor + 64 MB: far less than the
 * file, so reading or writing the whole model at once would fail. The last
 * file must equal the first bit for bit. Not timed. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers/testutil.h"
#include "rnnck.h"

#define MB (1024L * 1024L)

/* Exit code of `rnnck args...` run with RLIMIT_AS = limit (0: none), one
 * BLAS thread (OpenBLAS reserves per-thread buffers), output discarded. */
static int run_limited(long limit, const char *const *args) {
    const char *tool = getenv("RNNCK_TOOL");
    cr_assert(tool, "RNNCK_TOOL is not set");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        const char *argv[16] = {tool};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
        if (limit && setrlimit(RLIMIT_AS, &rl) != 0) _exit(125);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Smallest address-space limit (to 4 MB) under which the tool converts a
 * tiny checkpoint: what the process needs before any tensor. */
static long baseline_limit(const char *dir) {
    char *tiny = path_join(dir, "tiny.h5"), *out = path_join(dir, "tiny.pt");
    const char *init[] = {"init", tiny, "--cell", "gru", "--input-size", "4", "--hidden-size", "4", "--seed", "1",
                          NULL};
    cr_assert_eq(run_limited(0, init), 0);
    const char *conv[] = {"convert", tiny, out, NULL};
    long lo = 4 * MB, hi = 4096 * MB;
    cr_assert_eq(run_limited(hi, conv), 0, "tiny conversion fails even with 4 GB of address space");
    while (hi - lo > 4 * MB) {
        long mid = lo + (hi - lo) / 2;
        if (run_limited(mid, conv) == 0)
            hi = mid;
        else
            lo = mid;
    }
    free(tiny);
    free(out);
    return hi;
}

static void require_same_tensors(const char *a_path, const char *b_path) {
    rnnck_model *a, *b;
    cr_assert_eq(rnnck_open(a_path, NULL, &a), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_open(b_path, NULL, &b), RNNCK_OK, "%s", rnnck_errmsg());
    cr_assert_eq(rnnck_model_tensor_count(a), rnnck_model_tensor_count(b));
    for (size_t i = 0; i < rnnck_model_tensor_count(a); i++) {
        rnnck_tensor *ta = rnnck_model_tensor(a, i), *tb;
        const char *name = rnnck_tensor_name(ta);
        cr_assert_eq(rnnck_model_find(b, name, &tb), RNNCK_OK, "%s lacks %s", b_path, name);
        size_t n = rnnck_tensor_nbytes(ta);
        cr_assert_eq(rnnck_tensor_nbytes(tb), n, "%s: sizes differ", name);
        unsigned char *x = malloc(n ? n : 1), *y = malloc(n ? n : 1);
        cr_assert(x && y);
        cr_assert_eq(rnnck_model_read(a, name, rnnck_tensor_dtype(ta), x, n), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert_eq(rnnck_model_read(b, name, rnnck_tensor_dtype(tb), y, n), RNNCK_OK, "%s", rnnck_errmsg());
        cr_assert(memcmp(x, y, n) == 0, "%s: bytes differ between %s and %s", name, a_path, b_path);
        free(x);
        free(y);
    }
    rnnck_model_free(a);
    rnnck_model_free(b);
}

static long file_size(const char *path) {
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s missing", path);
    return (long)sb.st_size;
}

Test(stream, converts_a_checkpoint_far_larger_than_its_memory_bound_one_tensor_at_a_time) {
    test_deadline(600);
#if defined(__SANITIZE_ADDRESS__)
    /* ASan reserves terabytes of shadow address space: RLIMIT_AS cannot
     * apply; the ordinary build runs this test. */
    cr_skip_test("address-space limit is meaningless under AddressSanitizer");
#endif
    char *dir = tmpdir_new();
    long base = baseline_limit(dir);
    /* LSTM(1024, 2048, num_layers=3): 369 MB in 12 tensors, the largest
     * (weight_hh, 8192 x 2048 float32) 64 MB. */
    const long largest = 64 * MB;
    char *h5 = path_join(dir, "big.h5"), *pt = path_join(dir, "big.pt"), *h5b = path_join(dir, "back.h5"),
         *npz = path_join(dir, "big.npz"), *h5c = path_join(dir, "from_npz.h5");
    const char *init[] = {"init", h5, "--cell", "lstm", "--input-size", "1024", "--hidden-size", "2048",
                          "--num-layers", "3", "--seed", "7", NULL};
    cr_assert_eq(run_limited(0, init), 0);
    long limit = base + largest + 64 * MB;
    cr_assert_gt(base + file_size(h5), limit, "the checkpoint is too small to prove anything");
    const char *steps[][4] = {{"convert", h5, pt, NULL},
                              {"convert", pt, h5b, NULL},
                              {"convert", pt, npz, NULL},
                              {"convert", npz, h5c, NULL}};
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++)
        cr_assert_eq(run_limited(limit, steps[i]), 0, "%s -> %s failed under an address-space limit of %ld MB",
                     steps[i][1], steps[i][2], limit / MB);
    /* and the limit bites: with less than one largest tensor above the baseline the job is refused */
    const char *whole[] = {"convert", h5, pt, NULL};
    cr_assert_neq(run_limited(base + largest / 2, whole), 0, "the limit does not constrain the tool");
    require_same_tensors(h5, h5b);
    require_same_tensors(h5, h5c);
    require_same_tensors(h5, pt);
    free(h5);
    free(pt);
    free(h5b);
    free(npz);
    free(h5c);
    tmpdir_remove(dir);
}
