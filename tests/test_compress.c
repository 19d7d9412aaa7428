/* Compressed rnnck files (convert --compress, rnnck_write_ex): chunked
 * shuffle+deflate datasets that read back bit for bit, chunk shapes as
 * docs/SCHEMA.md states them, the level's validation; progress and --quiet;
 * and compressed or chunked datasets that lie about their sizes. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <hdf5.h>
#include <poll.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "helpers/testutil.h"
#include "rnnck.h"

TestSuite(compress, .init = test_dir_setup, .fini = test_dir_teardown);

static long file_size(const char *path) {
    struct stat sb;
    cr_assert_eq(stat(path, &sb), 0, "%s missing", path);
    return (long)sb.st_size;
}

static void init_model(const char *path, const char *cell, const char *dtype, const char *extra) {
    const char *args[] = {"init", path, "--cell", cell, "--input-size", "24", "--hidden-size", "16", "--num-layers",
                          "2", "--bidirectional", "--seed", "5", "--dtype", dtype, extra, NULL};
    tool_result r = run_tool_argv(args);
    cr_assert_eq(r.exit_code, 0, "init: %s", r.err);
    tool_result_free(&r);
}

/* Every tensor of a equals b's byte for byte, same dtype and shape. */
/* Layout, chunk dims and filters of dataset `object` in path. */
typedef struct h5_layout {
    H5D_layout_t layout;
    int rank;
    hsize_t chunk[8];
    bool shuffle, deflate;
    unsigned level;
} h5_layout;

static h5_layout layout_of(const char *path, const char *object) {
    h5_layout l = {0};
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t ds = H5Dopen2(f, object, H5P_DEFAULT);
    cr_assert_geq(ds, 0, "%s: no dataset %s", path, object);
    hid_t dcpl = H5Dget_create_plist(ds);
    l.layout = H5Pget_layout(dcpl);
    if (l.layout == H5D_CHUNKED) l.rank = H5Pget_chunk(dcpl, 8, l.chunk);
    for (int i = 0; i < H5Pget_nfilters(dcpl); i++) {
        unsigned flags, cd[4] = {0}, config;
        size_t n = 4;
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n, cd, 0, NULL, &config);
        if (id == H5Z_FILTER_SHUFFLE) l.shuffle = true;
        if (id == H5Z_FILTER_DEFLATE) {
            l.deflate = true;
            l.level = cd[0];
        }
    }
    H5Pclose(dcpl);
    H5Dclose(ds);
    H5Fclose(f);
    return l;
}

Test(compress, every_float_dtype_round_trips_bit_exactly_through_a_compressed_file) {
    const char *dtypes[] = {"float32", "float64", "bfloat16", "float16"};
    const char *cells[] = {"lstm", "gru", "rnn_tanh", "lstm"};
    for (size_t i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "plain_%s.h5", dtypes[i]);
        char *plain = path_join(test_dir, name);
        snprintf(name, sizeof name, "packed_%s.h5", dtypes[i]);
        char *packed = path_join(test_dir, name);
        init_model(plain, cells[i], dtypes[i], NULL);
        tool_result r = run_tool("convert", plain, packed, "--compress", NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", dtypes[i], r.err);
        cr_expect(strstr(r.err, "saved"), "no bytes-saved line: %s", r.err);
        tool_result_free(&r);
        h5_layout l = layout_of(packed, "/weight_hh_l0");
        cr_assert_eq(l.layout, H5D_CHUNKED, "%s: not chunked", dtypes[i]);
        cr_assert(l.shuffle && l.deflate && l.level == 6, "%s: filters shuffle %d deflate %d level %u", dtypes[i],
                  l.shuffle, l.deflate, l.level);
        require_same_tensors(plain, packed);
        /* and back into PyTorch's format and the plain file again */
        snprintf(name, sizeof name, "back_%s.pt", dtypes[i]);
        char *pt = path_join(test_dir, name);
        r = run_tool("convert", packed, pt, NULL);
        cr_assert_eq(r.exit_code, 0, "%s: %s", dtypes[i], r.err);
        tool_result_free(&r);
        require_same_tensors(plain, pt);
        r = run_tool("check", packed, NULL);
        cr_expect_eq(r.exit_code, 0, "check of a compressed file: %s%s", r.out, r.err);
        tool_result_free(&r);
        free(plain);
        free(packed);
        free(pt);
    }
}

Test(compress, chunks_are_one_gate_block_for_weights_and_whole_vectors_for_biases) {
    char *plain = path_join(test_dir, "p.h5"), *packed = path_join(test_dir, "c.h5");
    /* LSTM(24, 16, num_layers=2, bidirectional=True, proj_size=8) */
    const char *args[] = {"init", plain, "--cell", "lstm", "--input-size", "24", "--hidden-size", "16",
                          "--num-layers", "2", "--bidirectional", "--proj-size", "8", "--seed", "2", NULL};
    tool_result r = run_tool_argv(args);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    r = run_tool("convert", plain, packed, "--compress=9", "--quiet", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect_str_empty(r.err, "--quiet printed: %s", r.err);
    tool_result_free(&r);
    struct {
        const char *object;
        int rank;
        hsize_t c0, c1;
    } want[] = {
        {"/weight_ih_l0", 2, 16, 24},          /* (4H, I): rows = H, one gate block */
        {"/weight_hh_l0", 2, 16, 8},           /* (4H, P) */
        {"/weight_ih_l1_reverse", 2, 16, 16},  /* (4H, D*P) */
        {"/weight_hr_l0", 2, 8, 16},           /* (P, H): one block, whole */
        {"/bias_ih_l0", 1, 64, 0},             /* (4H): whole vector */
        {"/bias_hh_l1_reverse", 1, 64, 0},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        h5_layout l = layout_of(packed, want[i].object);
        cr_assert_eq(l.layout, H5D_CHUNKED, "%s", want[i].object);
        cr_expect_eq(l.rank, want[i].rank, "%s", want[i].object);
        cr_expect_eq(l.chunk[0], want[i].c0, "%s: chunk rows %llu", want[i].object, (unsigned long long)l.chunk[0]);
        if (want[i].rank == 2)
            cr_expect_eq(l.chunk[1], want[i].c1, "%s: chunk cols %llu", want[i].object,
                         (unsigned long long)l.chunk[1]);
        cr_expect_eq(l.level, 9u, "%s", want[i].object);
    }
    require_same_tensors(plain, packed);
    free(plain);
    free(packed);
}

Test(compress, compressible_data_makes_a_smaller_file_and_the_saving_is_reported) {
    /* orthogonal init: biases are all zeros, weights random */
    char *plain = path_join(test_dir, "p.h5"), *packed = path_join(test_dir, "c.h5");
    const char *args[] = {"init", plain, "--cell", "gru", "--input-size", "256", "--hidden-size", "256",
                          "--init", "orthogonal", "--seed", "3", NULL};
    tool_result r = run_tool_argv(args);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    rnnck_model *m;
    cr_assert_eq(rnnck_open(plain, NULL, &m), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_write_opts o = {.compress = 6};
    rnnck_write_stats s = {0};
    cr_assert_eq(rnnck_write_ex(m, packed, &o, &s), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    cr_expect_eq(s.tensor_bytes, (uint64_t)(2 * 768 * 256 + 2 * 768) * 4);
    cr_expect_lt(s.stored_bytes, s.tensor_bytes);
    cr_expect_lt(file_size(packed), file_size(plain), "compressed %ld bytes, plain %ld", file_size(packed),
                 file_size(plain));
    /* a column of zeros compresses to almost nothing: biases shrink >50x */
    hid_t f = H5Fopen(packed, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ds = H5Dopen2(f, "/bias_ih_l0", H5P_DEFAULT);
    cr_expect_lt(H5Dget_storage_size(ds) * 50, (hsize_t)768 * 4);
    H5Dclose(ds);
    H5Fclose(f);
    /* the CLI reports the same numbers */
    char *again = path_join(test_dir, "c2.h5");
    r = run_tool("convert", plain, again, "--compress", NULL);
    char line[160];
    snprintf(line, sizeof line, "compressed %llu bytes of tensor data to %llu", (unsigned long long)s.tensor_bytes,
             (unsigned long long)s.stored_bytes);
    cr_expect(strstr(r.err, line), "want '%s' in: %s", line, r.err);
    tool_result_free(&r);
    require_same_tensors(plain, packed);
    free(plain);
    free(packed);
    free(again);
}

Test(compress, levels_outside_one_to_nine_and_non_hdf5_targets_are_usage_errors) {
    char *plain = path_join(test_dir, "p.h5"), *out = path_join(test_dir, "o.h5"), *pt = path_join(test_dir, "o.pt");
    init_model(plain, "gru", "float32", NULL);
    const char *bad[] = {"--compress=0", "--compress=10", "--compress=x", "--compress=", "--compress=-1",
                         "--compress=6.5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tool_result r = run_tool("convert", plain, out, bad[i], NULL);
        /* "--compress=" is the bare form's default only without '=' */
        cr_expect_eq(r.exit_code, 2, "%s: exit %d, %s", bad[i], r.exit_code, r.err);
        tool_result_free(&r);
    }
    tool_result r = run_tool("convert", plain, pt, "--compress", NULL);
    cr_expect_eq(r.exit_code, 2, "%s", r.err);
    cr_expect(strstr(r.err, "rnnck (HDF5) format only"), "%s", r.err);
    tool_result_free(&r);
    cr_expect(access(out, F_OK) != 0 && access(pt, F_OK) != 0, "an output was written");
    /* "--compress 9": a bare --compress takes no separate value; 9 is an extra argument */
    r = run_tool("convert", plain, out, "--compress", "9", NULL);
    cr_expect_eq(r.exit_code, 2, "%s", r.err);
    tool_result_free(&r);
    rnnck_model *m;
    cr_assert_eq(rnnck_open(plain, NULL, &m), RNNCK_OK);
    rnnck_write_opts o = {.compress = 10};
    cr_expect_eq(rnnck_write_ex(m, out, &o, NULL), RNNCK_E_USAGE);
    o.compress = 1;
    o.format = "npz";
    cr_expect_eq(rnnck_write_ex(m, pt, &o, NULL), RNNCK_E_USAGE);
    o.format = NULL;
    cr_expect_eq(rnnck_write_ex(m, out, &o, NULL), RNNCK_OK, "%s", rnnck_errmsg());
    rnnck_model_free(m);
    cr_expect_eq(layout_of(out, "/weight_ih_l0").level, 1u);
    free(plain);
    free(out);
    free(pt);
}

Test(compress, crosscheck_h5py_reads_compressed_files_when_present) {
    if (system("/usr/bin/python3 -c 'import h5py, numpy' >/dev/null 2>&1") != 0)
        cr_skip_test("python3-h5py not installed: the h5py reading of compressed files is not checked");
    char *plain = path_join(test_dir, "p.h5"), *packed = path_join(test_dir, "c.h5");
    init_model(plain, "lstm", "float32", NULL);
    tool_result r = run_tool("convert", plain, packed, "--compress=4", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import h5py, numpy as np, sys\n"
             "a = h5py.File('%s', 'r'); c = h5py.File('%s', 'r')\n"
             "for k in a:\n"
             "    assert c[k].compression == 'gzip' and c[k].shuffle, k\n"
             "    assert np.array_equal(a[k][()], c[k][()]), k\n"
             "\"",
             plain, packed);
    cr_expect_eq(system(cmd), 0, "h5py does not read the compressed file as the plain one");
    free(plain);
    free(packed);
}

/* ---- progress ---- */

/* Runs the tool with stderr (and stdout) on a pseudo-terminal; returns
 * everything it printed there. */
static char *run_on_pty(const char *const *args, int *exit_code) {
    const char *tool = getenv("RNNCK_TOOL");
    cr_assert(tool);
    int master;
    pid_t pid = forkpty(&master, NULL, NULL, NULL);
    cr_assert_neq(pid, -1, "forkpty");
    if (pid == 0) {
        const char *argv[16] = {tool};
        for (int i = 0; args[i] && i < 14; i++) argv[i + 1] = args[i];
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    cr_assert(buf);
    for (;;) {
        if (n + 1024 > cap) buf = realloc(buf, cap *= 2);
        ssize_t got = read(master, buf + n, cap - n - 1);
        if (got <= 0) break; /* EIO once the child has gone */
        n += (size_t)got;
    }
    buf[n] = '\0';
    int status;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    close(master);
    return buf;
}

Test(compress, a_long_conversion_shows_progress_on_a_terminal_only_and_quiet_silences_it, .timeout = 600) {
    char *big = path_join(test_dir, "big.h5"), *out = path_join(test_dir, "out.h5");
    /* LSTM(1024, 2048, num_layers=3): 369 MB; deflate at level 1 takes
     * several seconds, over the 2 s after which progress shows */
    const char *init[] = {"init", big, "--cell", "lstm", "--input-size", "1024", "--hidden-size", "2048",
                          "--num-layers", "3", "--seed", "1", NULL};
    tool_result r = run_tool_argv(init);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    tool_result_free(&r);
    const char *on_tty[] = {"convert", big, out, "--compress=1", NULL};
    int rc;
    char *shown = run_on_pty(on_tty, &rc);
    cr_assert_eq(rc, 0, "%s", shown);
    cr_expect(strstr(shown, "MiB/s") && strstr(shown, "ETA") && strstr(shown, " of "),
              "no progress on a terminal: %s", shown);
    cr_expect(strstr(shown, "saved"), "no bytes-saved line: %s", shown);
    free(shown);
    const char *quiet[] = {"convert", big, out, "--compress=1", "--quiet", NULL};
    shown = run_on_pty(quiet, &rc);
    cr_assert_eq(rc, 0, "%s", shown);
    cr_expect(!strstr(shown, "ETA") && !strstr(shown, "saved"), "--quiet still printed: %s", shown);
    cr_expect(strstr(shown, "wrote"), "the result line belongs to stdout and stays: %s", shown);
    free(shown);
    /* stderr not a terminal (captured in a pipe): no progress */
    r = run_tool("convert", big, out, "--compress=1", NULL);
    cr_assert_eq(r.exit_code, 0, "%s", r.err);
    cr_expect(!strstr(r.err, "ETA") && !strstr(r.err, "\r"), "progress on a pipe: %s", r.err);
    cr_expect(strstr(r.err, "saved"), "%s", r.err);
    tool_result_free(&r);
    free(big);
    free(out);
}

/* ---- datasets lying about their sizes ---- */

/* deflate of `n` zero bytes, in pieces (the zeros are never all in memory). */
static unsigned char *deflate_zeros(size_t n, size_t *len) {
    z_stream z = {0};
    cr_assert_eq(deflateInit(&z, 9), Z_OK);
    static unsigned char zeros[1 << 16];
    size_t cap = n / 500 + 4096, out = 0;
    unsigned char *buf = malloc(cap);
    cr_assert(buf);
    size_t left = n;
    int ret;
    do {
        size_t piece = left < sizeof zeros ? left : sizeof zeros;
        z.next_in = zeros;
        z.avail_in = (uInt)piece;
        left -= piece;
        do {
            if (cap - out < 4096) buf = realloc(buf, cap *= 2);
            z.next_out = buf + out;
            z.avail_out = (uInt)(cap - out);
            ret = deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
            out = cap - z.avail_out;
        } while (z.avail_out == 0 || (!left && ret != Z_STREAM_END));
    } while (left);
    deflateEnd(&z);
    *len = out;
    return buf;
}

/* An rnnck file with one float32 tensor "t" of shape dims (rank 2), chunked
 * as `chunk` (unlimited max dims, so chunks may exceed the dataset), with
 * shuffle + deflate, whose chunk at the origin is `payload` as stored. */
static void write_raw_chunk_file(const char *path, const hsize_t *dims, const hsize_t *chunk, const void *payload,
                                 size_t len) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(f, 0);
    hid_t root = H5Gopen2(f, "/", H5P_DEFAULT);
    hid_t st = H5Tcopy(H5T_C_S1);
    H5Tset_size(st, 3);
    hid_t as = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(root, "rnnck_schema", st, as, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, st, "1.0");
    H5Aclose(a);
    H5Sclose(as);
    H5Tclose(st);
    hsize_t maxd[2] = {H5S_UNLIMITED, H5S_UNLIMITED};
    hid_t space = H5Screate_simple(2, dims, maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 9);
    hid_t ds = H5Dcreate2(f, "/t", H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cr_assert_geq(ds, 0);
    hsize_t origin[2] = {0, 0};
    cr_assert_geq(H5Dwrite_chunk(ds, H5P_DEFAULT, 0, origin, len, payload), 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
    H5Gclose(root);
    H5Fclose(f);
}

Test(compress, a_compressed_chunk_that_inflates_beyond_its_declared_size_is_refused) {
    /* a 32 x 32 float32 dataset in one 4 KiB chunk, whose stored chunk
     * inflates to 4 MiB: libhdf5 alone inflates it all and drops the rest */
    char *path = path_join(test_dir, "bomb.h5"), *out = path_join(test_dir, "out.pt");
    size_t len;
    unsigned char *payload = deflate_zeros((size_t)4 << 20, &len);
    hsize_t dims[2] = {32, 32}, chunk[2] = {32, 32};
    write_raw_chunk_file(path, dims, chunk, payload, len);
    free(payload);
    tool_result r = run_tool("convert", path, out, NULL);
    cr_expect_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_expect(strstr(r.err, "/t") && strstr(r.err, "inflates beyond the declared chunk size of 4096 bytes"), "%s",
              r.err);
    cr_expect(access(out, F_OK) != 0, "an output was written");
    tool_result_free(&r);
    r = run_tool("inspect", path, NULL);
    cr_expect_eq(r.exit_code, 3, "inspect: exit %d: %s", r.exit_code, r.err);
    tool_result_free(&r);
    /* the same chunk holding exactly 4096 bytes reads */
    payload = deflate_zeros(4096, &len);
    write_raw_chunk_file(path, dims, chunk, payload, len);
    free(payload);
    r = run_tool("convert", path, out, NULL);
    cr_expect_eq(r.exit_code, 0, "exact chunk: %s", r.err);
    tool_result_free(&r);
    free(path);
    free(out);
}

Test(compress, a_chunk_declared_far_larger_than_its_dataset_is_refused_before_any_read) {
    /* a 4 x 4 dataset whose one chunk is declared 2048 x 32768 float32
     * (256 MiB): libhdf5 would allocate and inflate all of it to read 64
     * bytes */
    char *path = path_join(test_dir, "huge_chunk.h5"), *out = path_join(test_dir, "out.pt");
    size_t len;
    unsigned char *payload = deflate_zeros((size_t)256 << 20, &len);
    hsize_t dims[2] = {4, 4}, chunk[2] = {2048, 32768};
    write_raw_chunk_file(path, dims, chunk, payload, len);
    free(payload);
    tool_result r = run_tool("convert", path, out, NULL);
    cr_expect_eq(r.exit_code, 3, "exit %d: %s", r.exit_code, r.err);
    cr_expect(strstr(r.err, "/t") && strstr(r.err, "chunk dimensions (2048, 32768)") &&
                  strstr(r.err, "268435456 bytes"),
              "%s", r.err);
    tool_result_free(&r);
    r = run_tool("check", path, NULL);
    cr_expect_neq(r.exit_code, 0, "check accepts it: %s", r.out);
    cr_expect(strstr(r.out, "chunk dimensions") || strstr(r.err, "chunk dimensions"), "%s%s", r.out, r.err);
    tool_result_free(&r);
    free(path);
    free(out);
}
