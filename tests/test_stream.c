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

/* Exit code of `rnnck args...` run with RLIMIT_AS = limit (0: none), output
 * discarded, killed after 60 s (-1); with OPENBLAS_NUM_THREADS=1 when
 * one_blas_thread, else with none of OpenBLAS's thread variables set. */
static int run_limited_blas(long limit, const char *const *args, bool one_blas_thread) {
    const char *tool = getenv("RNNCK_TOOL");
    cr_assert(tool, "RNNCK_TOOL is not set");
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        const char *argv[16] = {tool};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr)) _exit(126);
        unsetenv("OPENBLAS_NUM_THREADS");
        unsetenv("GOTO_NUM_THREADS");
        unsetenv("OMP_NUM_THREADS");
        if (one_blas_thread) setenv("OPENBLAS_NUM_THREADS", "1", 1);
        alarm(60); /* a hang ends as a signal */
        struct rlimit rl = {(rlim_t)limit, (rlim_t)limit};
        if (limit && setrlimit(RLIMIT_AS, &rl) != 0) _exit(125);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The conversions below measure the tool's own memory: one BLAS thread, as
 * OpenBLAS reserves 128 MiB of address space per worker thread. */
static int run_limited(long limit, const char *const *args) { return run_limited_blas(limit, args, true); }

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
    /* and the limit bites: compressing holds one largest tensor in memory,
     * so with less than that above the baseline the job is refused */
    char *packed = path_join(dir, "packed.h5");
    const char *whole[] = {"convert", h5, packed, "--compress=1", NULL};
    cr_assert_neq(run_limited(base + largest / 2, whole), 0, "the limit does not constrain the tool");
    free(packed);
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

/* ---- a .pt whose member sizes disagree with the zip directory ---- */

static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/* Offset of the local header of member `name` in a zip image. */
static size_t local_header(const unsigned char *zip, size_t len, const char *name) {
    size_t n = strlen(name);
    for (size_t p = 0; p + 30 + n <= len; p++)
        if (le32(zip + p) == 0x04034b50 && zip[p + 26] == n && memcmp(zip + p + 30, name, n) == 0) return p;
    cr_assert_fail("no local header for %s", name);
    return 0;
}

/* torch.save's records carry their sizes in a data descriptor after the data
 * (flag bit 3), which libzip's consistency check does not compare. */
Test(stream, a_pt_whose_data_descriptor_sizes_disagree_with_the_central_directory_is_refused) {
    char *src = fixture_path("pytorch/gru_bare.pt"), *dir = tmpdir_new();
    size_t len;
    unsigned char *zip = read_file(src, &len);
    cr_assert(zip);
    size_t lh = local_header(zip, len, "gru_bare/data/0");
    cr_assert(zip[lh + 6] & 8, "the fixture's records no longer use data descriptors");
    size_t data = lh + 30 + zip[lh + 26] + (zip[lh + 28] | zip[lh + 29] << 8);
    /* the record holds 144 bytes (weight_ih of GRU(3, 4)... as the directory says) */
    size_t desc = data + 144;
    cr_assert_eq(le32(zip + desc), 0x08074b50u, "no descriptor where the directory's size puts it");
    struct {
        size_t at;
        uint32_t value;
        const char *want;
    } cases[] = {
        {desc + 8, 200, "the data descriptor says compressed size 200 but the central directory says 144"},
        {desc + 12, 4096, "the data descriptor says uncompressed size 4096 but the central directory says 144"},
        {lh + 18, 100, "the local header says compressed size 100 but the central directory says 144"},
        {lh + 22, 0xFFFF0000u, "the local header says uncompressed size 4294901760"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        unsigned char *bad = malloc(len);
        cr_assert(bad);
        memcpy(bad, zip, len);
        put32(bad + cases[i].at, cases[i].value);
        char *in = path_join(dir, "bad.pt"), *out = path_join(dir, "out.h5");
        cr_assert_eq(write_file(in, bad, len), 0);
        const char *args[] = {"convert", in, out, NULL};
        tool_result r = run_tool_argv(args);
        cr_expect_eq(r.exit_code, 3, "case %zu: exit %d: %s", i, r.exit_code, r.err);
        cr_expect(strstr(r.err, "member gru_bare/data/0") && strstr(r.err, cases[i].want), "case %zu: %s", i, r.err);
        cr_expect(access(out, F_OK) != 0, "case %zu: an output was written", i);
        tool_result_free(&r);
        free(bad);
        free(in);
        free(out);
    }
    /* the unpatched file converts */
    char *out = path_join(dir, "ok.h5");
    const char *args[] = {"convert", src, out, NULL};
    tool_result r = run_tool_argv(args);
    cr_expect_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    free(out);
    free(zip);
    free(src);
    tmpdir_remove(dir);
}

/* A stored .pt record needs no fix-up, so .pt -> .h5 copies it file to file
 * (from a few mapped MiB into the dataset's early-allocated space, its
 * CRC-32 checked on the way), and .pt -> .pt or .npz into the new archive; a
 * contiguous .h5
 * dataset goes to .pt the same way: no buffer the size of a tensor, so far
 * less memory than one tensor suffices. --compress must hold each tensor,
 * which proves the limit bites. */
Test(stream, stored_records_and_contiguous_datasets_are_copied_without_a_tensor_sized_buffer) {
    test_deadline(600);
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("address-space limit is meaningless under AddressSanitizer");
#endif
    char *dir = tmpdir_new();
    long base = baseline_limit(dir);
    /* LSTM(1024, 2048): 100 MB, weight_hh_l0 (8192 x 2048 float32) 64 MB. */
    char *h5 = path_join(dir, "one.h5"), *pt = path_join(dir, "one.pt"), *back = path_join(dir, "back.h5"),
         *pt2 = path_join(dir, "again.pt");
    const char *init[] = {"init", h5, "--cell", "lstm", "--input-size", "1024", "--hidden-size", "2048", "--seed",
                          "3", NULL};
    cr_assert_eq(run_limited(0, init), 0);
    const char *to_pt[] = {"convert", h5, pt, NULL};
    cr_assert_eq(run_limited(0, to_pt), 0);
    long limit = base + 16 * MB;
    const char *to_h5[] = {"convert", pt, back, NULL};
    cr_assert_eq(run_limited(limit, to_h5), 0, ".pt -> .h5 needs more than %ld MB of address space", limit / MB);
    require_same_tensors(h5, back);
    require_same_tensors(pt, back);
    /* .pt -> .pt and .pt -> .npz copy the records the same way */
    char *pt3 = path_join(dir, "copy.pt"), *npz = path_join(dir, "copy.npz");
    const char *to_pt3[] = {"convert", pt, pt3, NULL}, *to_npz[] = {"convert", pt, npz, NULL};
    cr_assert_eq(run_limited(limit, to_pt3), 0, ".pt -> .pt needs more than %ld MB of address space", limit / MB);
    cr_assert_eq(run_limited(limit, to_npz), 0, ".pt -> .npz needs more than %ld MB of address space", limit / MB);
    require_same_tensors(pt, pt3);
    require_same_tensors(pt, npz);
    free(pt3);
    free(npz);
    /* contiguous .h5 datasets (host byte order) go back the same way */
    const char *again[] = {"convert", back, pt2, NULL};
    cr_assert_eq(run_limited(limit, again), 0, ".h5 -> .pt needs more than %ld MB of address space", limit / MB);
    require_same_tensors(pt, pt2);
    /* compressing needs each tensor in memory: the limit bites */
    char *packed = path_join(dir, "packed.h5");
    const char *compress[] = {"convert", pt, packed, "--compress=1", NULL};
    cr_assert_neq(run_limited(limit, compress), 0, "the limit does not constrain the tool");
    free(packed);
    free(h5);
    free(pt);
    free(back);
    free(pt2);
    tmpdir_remove(dir);
}

/* OpenBLAS starts a worker per core when it loads, each mapping a 128 MiB
 * buffer at once, and a thread calling OpenBLAS maps one too; when such a
 * mapping fails under an address-space limit OpenBLAS retries forever.
 * `prlimit --as=100000000 rnnck --version` hung so, on 2 cores. Now the
 * rnnck program starts OpenBLAS at one thread (tools/rnnck.c), and the
 * forward pass checks the room first (rnnck__blas_room): under 100 MB with
 * no OPENBLAS_NUM_THREADS, init and convert finish and forward refuses,
 * naming the limit; under 300 MiB a two-thread forward runs on the threads
 * that fit and writes the same bytes as without a limit. */
Test(stream, the_tool_finishes_or_refuses_under_a_small_address_space_limit) {
#if defined(__SANITIZE_ADDRESS__)
    cr_skip_test("address-space limit is meaningless under AddressSanitizer");
#elif !RNNCK_PROGRAM_STATIC_BLAS
    cr_skip_test("the rnnck program links a shared OpenBLAS, which starts its pool before rnnck can ask");
#endif
    char *dir = tmpdir_new(), *h5 = path_join(dir, "m.h5"), *pt = path_join(dir, "m.pt"), *x = path_join(dir, "x.npy"),
         *y = path_join(dir, "y.npy"), *y_free = path_join(dir, "y_free.npy");
    const char *init[] = {"init", h5, "--cell", "lstm", "--input-size", "256", "--hidden-size", "512", "--seed", "1", NULL};
    cr_assert_eq(run_limited_blas(100 * 1000 * 1000L, init, false), 0, "init hung or failed under 100 MB");
    const char *conv[] = {"convert", h5, pt, NULL};
    cr_assert_eq(run_limited_blas(100 * 1000 * 1000L, conv, false), 0, "convert hung or failed under 100 MB");
    /* an input of T 50, B 16, 256 features */
    int64_t shape[3] = {50, 16, 256};
    rnnck_tensor *in = NULL;
    cr_assert_eq(rnnck_tensor_new(RNNCK_F32, 3, shape, &in), RNNCK_OK);
    float *d = rnnck_tensor_data(in);
    for (int64_t i = 0; i < 50 * 16 * 256; i++) d[i] = (float)((i * 7919) % 2001) / 1000.0f - 1.0f;
    cr_assert_eq(rnnck_npy_save(in, x), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_tensor_free(in);
    const char *fwd[] = {"forward", pt, "--input", x, "--output", y, "--threads", "2", NULL};
    int code = run_limited_blas(100 * 1000 * 1000L, fwd, false);
    cr_assert(code > 0, "forward under 100 MB: exit %d (-1: hung and killed; 0: ran)", code);
    const char *fwd_free[] = {"forward", pt, "--input", x, "--output", y_free, NULL};
    cr_assert_eq(run_limited_blas(0, fwd_free, false), 0);
    cr_assert_eq(run_limited_blas(300L * MB, fwd, false), 0, "forward hung or failed under 300 MiB");
    size_t na = 0, nb = 0;
    unsigned char *a = read_file(y, &na), *b = read_file(y_free, &nb);
    cr_assert(a && b && na == nb && memcmp(a, b, na) == 0, "the output under a limit differs");
    free(a);
    free(b);
    free(h5);
    free(pt);
    free(x);
    free(y);
    free(y_free);
    tmpdir_remove(dir);
}
